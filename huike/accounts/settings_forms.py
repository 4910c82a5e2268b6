"""Forms of the settings pages.

Every choice of a role, team or member is a queryset limited to the actor's workspace and keyed
by public id, so an id from another workspace is an ordinary "not a valid choice" form error.
"""

import functools
import zoneinfo
from collections import defaultdict
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.forms.boundfield import BoundWidget
from django.utils.translation import gettext_lazy as _

from huike.accounts.models import (
    MAX_RATE_LIMIT_PER_MINUTE,
    Membership,
    Role,
    Team,
    Workspace,
)
from huike.core.errors import HuikeError
from huike.core.permissions import all_permissions

DEFAULT_TIMEZONE = "Asia/Shanghai"
# Suggestions only: any ISO 4217 code is accepted.
COMMON_CURRENCIES = ("CNY", "HKD", "TWD", "USD", "EUR", "JPY", "GBP", "SGD", "KRW", "AUD")


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    # available_timezones() walks the tz database on disk; the set does not change at runtime.
    names = sorted(zoneinfo.available_timezones() - {DEFAULT_TIMEZONE})
    return [(name, name) for name in [DEFAULT_TIMEZONE, *names]]


def add_service_error(form: forms.Form, error: HuikeError) -> None:
    """Show an error raised by a service on the field it names, or on the whole form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.detail)


class MembershipChoiceField(forms.ModelChoiceField[Membership]):
    def label_from_instance(self, obj: Membership) -> str:
        return f"{obj.user.display_name} <{obj.user.email}>"


def _roles(workspace: Workspace) -> QuerySet[Role]:
    return Role.objects.filter(workspace=workspace).order_by("-is_builtin", "name")


def _teams(workspace: Workspace) -> QuerySet[Team]:
    return Team.objects.filter(workspace=workspace).order_by("path")


def _active_members(workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace, is_active=True)
        .select_related("user")
        .order_by("user__email")
    )


# --- workspace ------------------------------------------------------------------------------
class CurrencyField(forms.CharField):
    def to_python(self, value: Any) -> str:
        # Upper-case before the validators run, so "cny" is accepted as CNY.
        return str(super().to_python(value)).upper()


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(label=_("Workspace name"), max_length=150)
    timezone = forms.ChoiceField(label=_("Time zone"), choices=timezone_choices)
    currency = CurrencyField(
        label=_("Currency"),
        max_length=3,
        min_length=3,
        validators=[
            RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code, such as CNY."))
        ],
        widget=forms.TextInput(attrs={"list": "currency-codes", "autocapitalize": "characters"}),
        help_text=_("Three-letter ISO 4217 code, such as CNY."),
    )
    require_two_factor = forms.BooleanField(
        label=_("Require two-factor sign-in for every member"),
        required=False,
        help_text=_(
            "Members who have not set up two-factor sign-in are sent to set it up before they "
            "can open any page, including you."
        ),
    )


# --- members --------------------------------------------------------------------------------
class MemberFilterForm(forms.Form):
    STATUS_CHOICES = [("", _("Any status")), ("active", _("Active")), ("inactive", _("Inactive"))]

    q = forms.CharField(label=_("Search"), required=False, max_length=150)
    role = forms.ModelChoiceField(
        label=_("Role"),
        queryset=Role.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("Any role"),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("Any team"),
    )
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = _roles(workspace)  # type: ignore[attr-defined]
        self.fields["team"].queryset = _teams(workspace)  # type: ignore[attr-defined]
        self.fields["q"].widget.attrs["type"] = "search"


class MemberAddForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    full_name = forms.CharField(label=_("Name"), max_length=150, required=False)
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.none(), to_field_name="public_id"
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), to_field_name="public_id", required=False
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = _roles(workspace)  # type: ignore[attr-defined]
        self.fields["team"].queryset = _teams(workspace)  # type: ignore[attr-defined]


class MemberChangeForm(forms.Form):
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.none(), to_field_name="public_id"
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), to_field_name="public_id", required=False
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = _roles(workspace)  # type: ignore[attr-defined]
        self.fields["team"].queryset = _teams(workspace)  # type: ignore[attr-defined]


# --- teams ----------------------------------------------------------------------------------
class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    parent = forms.ModelChoiceField(
        label=_("Parent team"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("(top level)"),
    )
    manager = MembershipChoiceField(
        label=_("Manager"),
        queryset=Membership.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("(no manager)"),
    )

    def __init__(
        self, *args: Any, workspace: Workspace, team: Team | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        parents = _teams(workspace)
        if team is not None:
            # A team cannot move under itself or anything below it.
            parents = parents.exclude(path__startswith=team.path)
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.fields["manager"].queryset = _active_members(workspace)  # type: ignore[attr-defined]
        self.fields["parent"].label_from_instance = _indented_team_label  # type: ignore[attr-defined]


def _indented_team_label(team: Team) -> str:
    return "\u2003" * team.depth + team.name


# --- roles ----------------------------------------------------------------------------------
class RoleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = [  # type: ignore[attr-defined]
            (permission.code, permission.label) for permission in all_permissions()
        ]

    def permission_groups(self) -> list[tuple[str, list[BoundWidget]]]:
        """The permission checkboxes grouped under their group's name, in registry order."""
        group_of = {permission.code: str(permission.group) for permission in all_permissions()}
        groups: dict[str, list[BoundWidget]] = defaultdict(list)
        for checkbox in self["permissions"]:
            groups[group_of[checkbox.data["value"]]].append(checkbox)
        return list(groups.items())


# --- API keys -------------------------------------------------------------------------------
class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    role = forms.ModelChoiceField(
        label=_("Role"),
        queryset=Role.objects.none(),
        to_field_name="public_id",
        help_text=_("The key can do what this role allows, nothing more."),
    )
    rate_limit_per_minute = forms.IntegerField(
        label=_("Requests per minute"),
        required=False,
        min_value=1,
        max_value=MAX_RATE_LIMIT_PER_MINUTE,
        help_text=_("Leave empty for the server's default limit."),
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = _roles(workspace)  # type: ignore[attr-defined]


# --- audit log ------------------------------------------------------------------------------
class AuditFilterForm(forms.Form):
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
        help_text=_('Exact action, or a prefix ending in a dot such as "member."'),
    )
    actor = forms.CharField(label=_("Actor email contains"), required=False, max_length=254)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned
