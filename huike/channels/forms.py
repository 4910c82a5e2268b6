"""Forms of the channel settings pages: the connect/edit form built from a provider's
config_fields, linking platform staff accounts to members, and message templates.

The forms only shape input; huike.channels.services validates it for good (required settings,
the provider's own checks) and its errors are put back on the field they name.
"""

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.accounts.models import Membership, Team, Workspace
from huike.channels.base import ConfigField, Provider
from huike.channels.config import API_BASE_URL
from huike.channels.models import ChannelKind, MessageTemplate
from huike.core.errors import HuikeError
from huike.customers.forms import MemberChoiceField, active_members, teams_of

CONFIG_PREFIX = "config_"

_WIDGETS: dict[str, type[forms.Widget]] = {
    "text": forms.TextInput,
    "url": forms.URLInput,
    "email": forms.EmailInput,
    "number": forms.NumberInput,
    "textarea": forms.Textarea,
}


class TeamChoiceField(forms.ModelChoiceField[Team]):
    def label_from_instance(self, obj: Team) -> str:
        return obj.name


def _config_form_field(config: ConfigField, *, secret_stored: bool) -> forms.Field:
    """One provider setting as a form field. A stored secret is never sent back to the
    browser: its input starts empty and an empty submission keeps it."""
    help_text = str(config.help_text)
    if config.widget == "bool":
        return forms.BooleanField(label=str(config.label), help_text=help_text, required=False)
    if config.secret or config.widget == "password":
        if secret_stored:
            kept = _("Stored — leave empty to keep.")
            help_text = f"{help_text} {kept}".strip()
        return forms.CharField(
            label=str(config.label),
            help_text=help_text,
            required=config.required and not secret_stored and not config.default,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            strip=True,
        )
    widget = _WIDGETS.get(config.widget, forms.TextInput)
    return forms.CharField(
        label=str(config.label),
        help_text=help_text,
        required=config.required and not config.default,
        widget=widget(),
        strip=True,
    )


class ChannelForm(forms.Form):
    """Name, team and the provider's settings (`config_<name>` fields); the API base URL sits
    in an "advanced" section because only private deployments and proxies change it."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    team = TeamChoiceField(
        label=gettext_lazy("Team"),
        queryset=Team.objects.none(),
        required=False,
        empty_label=gettext_lazy("(no team)"),
        help_text=gettext_lazy("New conversations of this channel go to this team's queue."),
    )

    def __init__(
        self,
        *args: Any,
        provider: Provider,
        workspace: Workspace,
        stored_secrets: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        team_field = self.fields["team"]
        assert isinstance(team_field, TeamChoiceField)
        team_field.queryset = teams_of(workspace)
        self.config_names: list[str] = []
        for config in provider.config_fields:
            self.fields[CONFIG_PREFIX + config.name] = _config_form_field(
                config, secret_stored=config.name in stored_secrets
            )
            if config.default and config.widget != "bool":
                self.fields[CONFIG_PREFIX + config.name].widget.attrs["placeholder"] = (
                    config.default
                )
            self.config_names.append(config.name)
        if API_BASE_URL not in self.config_names:
            self.fields[CONFIG_PREFIX + API_BASE_URL] = forms.CharField(
                label=gettext_lazy("API base URL"),
                required=False,
                widget=forms.URLInput(),
            )
            self.config_names.append(API_BASE_URL)
        base_url_field = self.fields[CONFIG_PREFIX + API_BASE_URL]
        base_url_field.help_text = _(
            "Leave empty for the platform's own address (%(url)s). Set it for a private "
            "deployment or a proxy."
        ) % {"url": provider.default_api_base_url or "—"}

    def main_fields(self) -> list[forms.BoundField]:
        return [self[CONFIG_PREFIX + name] for name in self.config_names if name != API_BASE_URL]

    def advanced_fields(self) -> list[forms.BoundField]:
        return [self[CONFIG_PREFIX + API_BASE_URL]]

    def config_data(self) -> dict[str, str]:
        """The cleaned settings by provider field name, as huike.channels.config takes them."""
        data: dict[str, str] = {}
        for name in self.config_names:
            value = self.cleaned_data.get(CONFIG_PREFIX + name)
            if isinstance(value, bool):
                data[name] = "true" if value else ""
            else:
                data[name] = value or ""
        return data

    def add_service_error(self, error: HuikeError) -> None:
        """Put a service error on the field it names (`config.<name>` → `config_<name>`)."""
        name = error.field or ""
        if name.startswith("config."):
            name = CONFIG_PREFIX + name.removeprefix("config.")
        self.add_error(name if name in self.fields else None, error.detail)


def config_initial(provider: Provider, shown: dict[str, str]) -> dict[str, Any]:
    """Initial values of the edit form: plain settings as stored, secrets never."""
    initial: dict[str, Any] = {}
    secret_names = {config.name for config in provider.config_fields if config.secret}
    bool_names = {config.name for config in provider.config_fields if config.widget == "bool"}
    for name, value in shown.items():
        if name in secret_names:
            continue
        initial[CONFIG_PREFIX + name] = value == "true" if name in bool_names else value
    return initial


class StaffLinkForm(forms.Form):
    external_id = forms.CharField(
        label=gettext_lazy("Platform user id"),
        max_length=100,
        help_text=gettext_lazy("The staff member's UserID in the platform's admin console."),
    )
    membership = MemberChoiceField(label=gettext_lazy("Member"), queryset=Membership.objects.none())

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        member_field = self.fields["membership"]
        assert isinstance(member_field, MemberChoiceField)
        member_field.queryset = active_members(workspace)


class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    purpose = forms.ChoiceField(
        label=gettext_lazy("Purpose"), choices=MessageTemplate.Purpose.choices
    )
    channel_kind = forms.ChoiceField(
        label=gettext_lazy("Channel kind"),
        choices=[("", gettext_lazy("Any channel")), *ChannelKind.choices],
        required=False,
    )
    body_zh_hans = forms.CharField(
        label=gettext_lazy("Text (Chinese)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    body_en = forms.CharField(
        label=gettext_lazy("Text (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    platform_template = forms.CharField(
        label=gettext_lazy("Platform template code"),
        max_length=100,
        required=False,
        help_text=gettext_lazy(
            "The template approved on the platform (a WhatsApp template name, an SMS "
            "template code) this message is sent as."
        ),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def add_service_error(self, error: HuikeError) -> None:
        self.add_error(error.field if error.field in self.fields else None, error.detail)
