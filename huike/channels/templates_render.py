"""Rendering message templates: `{{customer.name}}`-style variables from a fixed list, never
Django template code (a template is written by staff and sent to customers: it must not reach
anything but the values offered here). An unknown variable stays as written, so a typo shows
in the preview instead of vanishing."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

_VARIABLE = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z0-9_]+){1,2})\s*\}\}")

VARIABLES: dict[str, Promise] = {
    "customer.name": _("The customer's name"),
    "customer.first_name": _("The customer's given name (the part after the family name)"),
    "agent.name": _("The name of the member who sends it"),
    "workspace.name": _("Your workspace's name"),
    "channel.name": _("The channel's name"),
}
# customer.fields.<key>: a custom field's value.
CUSTOM_FIELD_PREFIX = "customer.fields."


@dataclass(frozen=True)
class TemplateValues:
    values: Mapping[str, str]
    custom_fields: Mapping[str, object]


def given_name(name: str) -> str:
    """ "王小明" → "小明"; "Ada Lovelace" → "Ada": the friendly form a greeting uses."""
    name = name.strip()
    if not name:
        return ""
    if " " in name:
        return name.split()[0]
    if len(name) >= 2 and all("\u4e00" <= character <= "\u9fff" for character in name):
        return name[1:]
    return name


def template_render(text: str, values: TemplateValues) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values.values:
            return values.values[name]
        if name.startswith(CUSTOM_FIELD_PREFIX):
            value = values.custom_fields.get(name.removeprefix(CUSTOM_FIELD_PREFIX))
            return "" if value is None else str(value)
        return match.group(0)

    return _VARIABLE.sub(substitute, text)


def template_variables(text: str) -> list[str]:
    return sorted({match.group(1) for match in _VARIABLE.finditer(text)})
