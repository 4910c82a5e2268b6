"""Forms of the customers pages.

Every choice of a member, team, company or tag is limited to the actor's workspace and keyed by
public id, so an id from another workspace is an ordinary "not a valid choice" error. Custom
fields become form fields by type (`cf_<key>`); the services validate the values again, and
their errors come back onto the field they name (`add_service_error`).
"""

import contextlib
import datetime as dt
import uuid
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.core.errors import HuikeError
from huike.customers.custom_fields import CLEANERS
from huike.customers.models import (
    Company,
    ConsentPurpose,
    ConsentRecord,
    CustomField,
    Gender,
    LifecycleStage,
    Tag,
    TagGroup,
)
from huike.customers.rules import (
    IDENTITY_KINDS,
    MOST_COMPLETE,
    MOST_RECENT,
    SURVIVOR,
    SURVIVORSHIP_FIELDS,
)
from huike.customers.selectors import CUSTOMER_ORDERINGS, DEFAULT_CUSTOMER_ORDERING, CustomerFilters

CUSTOM_FIELD_PREFIX = "cf_"
UNASSIGNED = "none"
# Custom field types the list can filter on: a stored value equals the canonical form of what
# was typed (money, date-times and multiple choices do not compare that simply).
FILTERABLE_TYPES = frozenset(
    {
        CustomField.Type.TEXT,
        CustomField.Type.NUMBER,
        CustomField.Type.DATE,
        CustomField.Type.CHOICE,
        CustomField.Type.BOOLEAN,
        CustomField.Type.URL,
    }
)
ORDERING_LABELS: dict[str, Any] = {
    "-created_at": _("Newest first"),
    "created_at": _("Oldest first"),
    "name": _("Name A to Z"),
    "-name": _("Name Z to A"),
    "-total_spent": _("Highest total spent"),
    "-order_count": _("Most orders"),
}
# Orderings that reveal who spends most: only for roles that may see amounts.
AMOUNT_ORDERINGS = frozenset({"-total_spent"})
YES_NO = [("", "—"), ("true", _("Yes")), ("false", _("No"))]
SURVIVORSHIP_CHOICES = [
    (SURVIVOR, _("The survivor's, unless empty")),
    (MOST_RECENT, _("The more recently seen one's")),
    (MOST_COMPLETE, _("The longer one")),
]
SURVIVORSHIP_LABELS: dict[str, Any] = {
    "name": pgettext_lazy("person", "Name"),
    "gender": _("Gender"),
    "locale": _("Language"),
    "company": _("Company"),
    "owner": _("Owner"),
    "team": _("Team"),
    "source_channel": _("Source channel"),
    "birthday": _("Birthday"),
    "address": _("Address"),
    "id_number": _("ID number"),
    "custom_fields": _("Custom fields"),
}
IDENTITY_KIND_LABELS: dict[str, Any] = {
    "phone": _("Phone"),
    "email": _("Email"),
    "wechat_openid": _("WeChat OpenID"),
    "wechat_unionid": _("WeChat UnionID"),
    "wecom_external_userid": _("WeCom contact"),
    "weibo_uid": _("Weibo"),
    "douyin_openid": _("Douyin"),
    "xiaohongshu_id": _("Xiaohongshu"),
    "whatsapp_id": _("WhatsApp"),
    "linkedin_id": _("LinkedIn"),
    "facebook_psid": _("Messenger"),
    "web_visitor_id": _("Website visitor"),
    "crm": _("External system"),
}
assert set(IDENTITY_KIND_LABELS) == set(IDENTITY_KINDS)
assert set(SURVIVORSHIP_LABELS) == set(SURVIVORSHIP_FIELDS)


def add_service_error(form: forms.Form, error: HuikeError) -> None:
    """Show an error raised by a service on the field it names, or on the whole form.
    `custom_fields.<key>` is the form's `cf_<key>`; `identities` is the phone field."""
    name = error.field or ""
    if name.startswith("custom_fields."):
        name = CUSTOM_FIELD_PREFIX + name.removeprefix("custom_fields.")
    form.add_error(name if name in form.fields else None, error.detail)


class MemberChoiceField(forms.ModelChoiceField[Membership]):
    def label_from_instance(self, obj: Membership) -> str:
        return obj.user.display_name


def active_members(workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace, is_active=True)
        .select_related("user")
        .order_by("user__email")
    )


def teams_of(workspace: Workspace) -> QuerySet[Team]:
    return Team.objects.filter(workspace=workspace).order_by("path")


def tags_of(workspace: Workspace) -> QuerySet[Tag]:
    return Tag.objects.filter(workspace=workspace).order_by("name")


def visible_companies(actor: Actor) -> QuerySet[Company]:
    actor.require("customers.view")
    return Company.objects.visible_to(actor).order_by("name", "pk")


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


class SearchInput(forms.TextInput):
    input_type = "search"


# --- the customer list ----------------------------------------------------------------------
class CustomerFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200, widget=SearchInput)
    tag = forms.ModelChoiceField(
        label=_("Tag"),
        queryset=Tag.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("Any tag"),
    )
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("Any team"),
    )
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"),
        required=False,
        choices=[("", _("Any stage")), *LifecycleStage.choices],
    )
    created_from = forms.DateField(label=_("Created from"), required=False, widget=_date_input())
    created_to = forms.DateField(label=_("Created until"), required=False, widget=_date_input())
    company = forms.UUIDField(required=False, widget=forms.HiddenInput)
    # Exact matches a link or an integration may ask for (the search box covers people).
    phone = forms.CharField(required=False, max_length=50, widget=forms.HiddenInput)
    email = forms.CharField(required=False, max_length=254, widget=forms.HiddenInput)
    sort = forms.ChoiceField(label=_("Sort by"), required=False)

    def __init__(
        self, *args: Any, actor: Actor, custom_fields: list[CustomField], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        workspace = actor.workspace
        self.fields["q"].widget.attrs["placeholder"] = _("Name, or an exact phone or email")
        self.fields["tag"].queryset = tags_of(workspace)  # type: ignore[attr-defined]
        self.fields["team"].queryset = teams_of(workspace)  # type: ignore[attr-defined]
        self.fields["owner"].choices = [  # type: ignore[attr-defined]
            ("", _("Any owner")),
            (UNASSIGNED, _("Nobody (unassigned)")),
            *(
                (str(member.public_id), member.user.display_name)
                for member in active_members(workspace)
            ),
        ]
        self.fields["sort"].choices = [  # type: ignore[attr-defined]
            (key, ORDERING_LABELS[key])
            for key in CUSTOMER_ORDERINGS
            if key not in AMOUNT_ORDERINGS or actor.has("amounts.view")
        ]
        self.filter_fields: list[CustomField] = []
        for field_row in custom_fields:
            if field_row.type not in FILTERABLE_TYPES:
                continue
            self.filter_fields.append(field_row)
            name = CUSTOM_FIELD_PREFIX + field_row.key
            if field_row.type == CustomField.Type.CHOICE:
                self.fields[name] = forms.ChoiceField(
                    label=field_row.label,
                    required=False,
                    choices=[("", "—"), *((choice, choice) for choice in field_row.choices)],
                )
            elif field_row.type == CustomField.Type.BOOLEAN:
                self.fields[name] = forms.ChoiceField(
                    label=field_row.label, required=False, choices=YES_NO
                )
            elif field_row.type == CustomField.Type.DATE:
                self.fields[name] = forms.DateField(
                    label=field_row.label, required=False, widget=_date_input()
                )
            else:
                self.fields[name] = forms.CharField(
                    label=field_row.label, required=False, max_length=200
                )

    def custom_field_names(self) -> list[str]:
        return [CUSTOM_FIELD_PREFIX + field_row.key for field_row in self.filter_fields]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field_row in self.filter_fields:
            name = CUSTOM_FIELD_PREFIX + field_row.key
            value = cleaned.get(name)
            if value in (None, ""):
                continue
            try:
                cleaned[name] = CLEANERS[field_row.type](
                    field_row, value, self.actor.workspace.currency
                )
            except HuikeError as error:
                self.add_error(name, error.detail)
        return cleaned

    def ordering(self) -> str:
        """The chosen sort order, also when another filter is invalid."""
        self.is_valid()
        return str(getattr(self, "cleaned_data", {}).get("sort") or DEFAULT_CUSTOMER_ORDERING)

    def to_filters(self) -> CustomerFilters:
        """The selector's filters; an invalid form filters by its valid fields only."""
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        owner = data.get("owner") or ""
        tag = data.get("tag")
        team = data.get("team")
        return CustomerFilters(
            q=data.get("q") or "",
            phone=data.get("phone") or "",
            email=data.get("email") or "",
            tags=[tag.public_id] if tag else [],
            owner=None if owner in ("", UNASSIGNED) else _uuid_or_none(owner),
            unassigned=owner == UNASSIGNED,
            team=team.public_id if team else None,
            company=data.get("company"),
            lifecycle_stage=data.get("lifecycle_stage") or "",
            created_from=data.get("created_from"),
            created_to=data.get("created_to"),
            custom_fields={
                field_row.key: data[CUSTOM_FIELD_PREFIX + field_row.key]
                for field_row in self.filter_fields
                if data.get(CUSTOM_FIELD_PREFIX + field_row.key) not in (None, "")
            },
        )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class BulkActionForm(forms.Form):
    ACTIONS = [
        ("tag", _("Add tag")),
        ("assign", _("Assign owner")),
        ("merge", _("Merge (two selected)")),
    ]
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    tag = forms.ModelChoiceField(
        label=_("Tag"),
        queryset=Tag.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("Choose a tag"),
    )
    owner = forms.ChoiceField(label=_("Owner"), required=False)

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = tags_of(workspace)  # type: ignore[attr-defined]
        self.fields["owner"].choices = [  # type: ignore[attr-defined]
            ("", _("Choose an owner")),
            (UNASSIGNED, _("Nobody (unassigned)")),
            *(
                (str(member.public_id), member.user.display_name)
                for member in active_members(workspace)
            ),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        action = cleaned.get("action")
        if action == "tag" and not cleaned.get("tag"):
            self.add_error("tag", _("Choose the tag to add."))
        if action == "assign" and not cleaned.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        return cleaned


# --- create and edit ------------------------------------------------------------------------
def custom_form_field(field_row: CustomField) -> forms.Field:
    """A form field for one custom field, by type; the service checks the value again."""
    common: dict[str, Any] = {"label": field_row.label, "required": field_row.is_required}
    kind = field_row.type
    if kind == CustomField.Type.CHOICE:
        return forms.ChoiceField(
            choices=[("", "—"), *((choice, choice) for choice in field_row.choices)], **common
        )
    if kind == CustomField.Type.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(choice, choice) for choice in field_row.choices],
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    if kind == CustomField.Type.BOOLEAN:
        return forms.ChoiceField(choices=YES_NO, **common)
    if kind == CustomField.Type.DATE:
        return forms.DateField(widget=_date_input(), **common)
    if kind == CustomField.Type.DATETIME:
        return forms.DateTimeField(
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            **common,
        )
    if kind == CustomField.Type.URL:
        return forms.URLField(max_length=1000, assume_scheme="https", **common)
    if kind == CustomField.Type.NUMBER:
        return forms.CharField(
            max_length=40, widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common
        )
    if kind == CustomField.Type.MONEY:
        return forms.CharField(
            max_length=40,
            help_text=_("An amount, optionally with its currency: 12.50 or 12.50 USD."),
            widget=forms.TextInput(attrs={"inputmode": "decimal"}),
            **common,
        )
    return forms.CharField(max_length=1000, **common)


def custom_initial(field_row: CustomField, value: Any) -> Any:
    """A stored custom field value as its form field shows it."""
    if value is None:
        return None
    if field_row.type == CustomField.Type.MONEY and isinstance(value, dict):
        return f"{value.get('amount')} {value.get('currency')}"
    if field_row.type == CustomField.Type.BOOLEAN:
        return "true" if value else "false"
    if field_row.type == CustomField.Type.DATETIME and isinstance(value, str):
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


class CustomerForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=200, required=False)
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    email = forms.CharField(
        label=_("Email"),
        max_length=254,
        required=False,
        widget=forms.TextInput(attrs={"type": "email", "autocomplete": "off"}),
    )
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, required=False)
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, initial=LifecycleStage.VISITOR
    )
    company = forms.ModelChoiceField(
        label=_("Company"),
        queryset=Company.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("(no company)"),
    )
    owner = MemberChoiceField(
        label=_("Owner"),
        queryset=Membership.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("(nobody)"),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("The owner's team"),
    )
    locale = forms.CharField(label=_("Language"), max_length=16, required=False)
    source_channel = forms.CharField(label=_("Source channel"), max_length=40, required=False)
    birthday = forms.DateField(label=_("Birthday"), required=False, widget=_date_input())
    address = forms.CharField(
        label=_("Address"), max_length=500, required=False, widget=forms.Textarea({"rows": 2})
    )
    id_number = forms.CharField(label=_("ID number"), max_length=100, required=False)

    PERSONAL = ("birthday", "address", "id_number")

    def __init__(
        self,
        *args: Any,
        actor: Actor,
        custom_fields: list[CustomField],
        is_new: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        workspace = actor.workspace
        self.is_new = is_new
        self.custom_fields = custom_fields
        self.fields["company"].queryset = visible_companies(actor)  # type: ignore[attr-defined]
        self.fields["owner"].queryset = active_members(workspace)  # type: ignore[attr-defined]
        self.fields["team"].queryset = teams_of(workspace)  # type: ignore[attr-defined]
        if not is_new:
            # Contacts are identities, added by channels and imports; personal fields are never
            # put into the page (that would reveal them unaudited): empty keeps them.
            del self.fields["phone"], self.fields["email"]
            for name in self.PERSONAL:
                self.fields[name].help_text = _("Stored values are not shown; empty keeps it.")
        for field_row in custom_fields:
            self.fields[CUSTOM_FIELD_PREFIX + field_row.key] = custom_form_field(field_row)

    def custom_field_names(self) -> list[str]:
        return [CUSTOM_FIELD_PREFIX + field_row.key for field_row in self.custom_fields]

    def custom_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_row in self.custom_fields:
            value = self.cleaned_data.get(CUSTOM_FIELD_PREFIX + field_row.key)
            values[field_row.key] = None if value in (None, "", []) else value
        return values


# --- the 360 page ---------------------------------------------------------------------------
class TagAddForm(forms.Form):
    tag = forms.ModelChoiceField(
        label=_("Tag"),
        queryset=Tag.objects.none(),
        to_field_name="public_id",
        empty_label=_("Choose a tag"),
    )

    def __init__(
        self, *args: Any, workspace: Workspace, exclude: list[int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # On the 360 page: only tags the customer does not carry yet.
        tags = tags_of(workspace).exclude(pk__in=exclude or [])
        self.fields["tag"].queryset = tags  # type: ignore[attr-defined]


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(label=_("Purpose"), choices=ConsentPurpose.choices)
    channel = forms.CharField(
        label=_("Channel"),
        max_length=40,
        initial=ConsentRecord.ANY_CHANNEL,
        help_text=_("“any” for every channel, or one such as sms, email, wechat."),
    )
    status = forms.ChoiceField(label=_("Decision"), choices=ConsentRecord.Status.choices)
    source = forms.CharField(
        label=_("Source"),
        max_length=100,
        required=False,
        help_text=_("Where it was given, e.g. signed form, phone call."),
    )
    evidence = forms.CharField(
        label=_("Evidence"), max_length=5000, required=False, widget=forms.Textarea({"rows": 2})
    )


class TimelineFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)

    def __init__(self, *args: Any, kinds: list[str], channels: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        namespaces = sorted({kind.split(".")[0] + ".*" for kind in kinds})
        self.fields["kind"].choices = [  # type: ignore[attr-defined]
            ("", _("Every kind")),
            *((name, name) for name in namespaces),
            *((kind, kind) for kind in kinds),
        ]
        self.fields["channel"].choices = [  # type: ignore[attr-defined]
            ("", _("Every channel")),
            *((channel, channel) for channel in channels),
        ]


# --- merging --------------------------------------------------------------------------------
class MergeForm(forms.Form):
    """The pair compared and the one of them that survives; the other is absorbed."""

    survivor = forms.UUIDField()
    candidate = forms.UUIDField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pair: list[uuid.UUID] = []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pair = []
        for value in self.data.getlist("pair") if hasattr(self.data, "getlist") else []:
            with contextlib.suppress(ValueError):
                pair.append(uuid.UUID(value))
        survivor = cleaned.get("survivor")
        if len(set(pair)) != 2 or survivor not in pair:
            raise forms.ValidationError(_("Choose which of the two customers survives."))
        self.pair = pair
        return cleaned

    def absorbed(self) -> uuid.UUID:
        survivor = self.cleaned_data["survivor"]
        return next(public_id for public_id in self.pair if public_id != survivor)


# --- companies ------------------------------------------------------------------------------
class CompanyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    domain = forms.CharField(label=_("Domain"), max_length=253, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    size = forms.ChoiceField(label=_("Size"), choices=Company.Size.choices, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    owner = MemberChoiceField(
        label=_("Owner"),
        queryset=Membership.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("(nobody)"),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("The owner's team"),
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_members(workspace)  # type: ignore[attr-defined]
        self.fields["team"].queryset = teams_of(workspace)  # type: ignore[attr-defined]

    def company_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        owner = data.get("owner")
        if data.get("team") is None:
            data["team"] = owner.team if owner else None
        return data


class CompanySearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200, widget=SearchInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("Name or domain")


# --- settings -------------------------------------------------------------------------------
class ColorInput(forms.TextInput):
    input_type = "color"


class TagGroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    color = forms.CharField(label=_("Colour"), max_length=7, initial="#64748b", widget=ColorInput)


class TagForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    color = forms.CharField(label=_("Colour"), max_length=7, initial="#2563eb", widget=ColorInput)
    group = forms.ModelChoiceField(
        label=_("Group"),
        queryset=TagGroup.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label=_("(no group)"),
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = TagGroup.objects.filter(  # type: ignore[attr-defined]
            workspace=workspace
        ).order_by("name")


class CustomFieldCreateForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=100)
    key = forms.CharField(
        label=_("Key"),
        max_length=63,
        help_text=_("Used by the API and imports: letters, digits and _, e.g. member_level."),
    )
    type = forms.ChoiceField(label=_("Type"), choices=CustomField.Type.choices)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea({"rows": 3}),
        help_text=_("For choice fields: one per line."),
    )
    is_required = forms.BooleanField(label=_("Required"), required=False)
    is_unique = forms.BooleanField(
        label=_("Unique"),
        required=False,
        help_text=_("No two customers may have the same value (cannot be changed later)."),
    )

    def choice_list(self) -> list[str]:
        return _lines(self.cleaned_data.get("choices", ""))


class CustomFieldEditForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=100)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea({"rows": 3}),
        help_text=_("One per line."),
    )
    is_required = forms.BooleanField(label=_("Required"), required=False)

    def choice_list(self) -> list[str]:
        return _lines(self.cleaned_data.get("choices", ""))


class IdentityRulesForm(forms.Form):
    default_region = forms.CharField(
        label=_("Default phone region"),
        max_length=2,
        min_length=2,
        help_text=_("Two-letter country code for phone numbers written without +, e.g. CN."),
        widget=forms.TextInput(attrs={"class": "short", "autocapitalize": "characters"}),
    )
    auto_merge_strong = forms.BooleanField(
        label=_("Merge customers matched by strong identities automatically"),
        required=False,
        help_text=_("Otherwise such matches wait in the review queue."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in IDENTITY_KINDS:
            self.fields[f"cap_{kind}"] = forms.IntegerField(
                label=IDENTITY_KIND_LABELS[kind], min_value=1, max_value=1000
            )
        for kind in IDENTITY_KINDS:
            self.fields[f"junk_{kind}"] = forms.CharField(
                label=IDENTITY_KIND_LABELS[kind],
                required=False,
                widget=forms.Textarea({"rows": 2}),
            )
        for name in SURVIVORSHIP_FIELDS:
            self.fields[f"survivorship_{name}"] = forms.ChoiceField(
                label=SURVIVORSHIP_LABELS[name], choices=SURVIVORSHIP_CHOICES
            )

    def caps(self) -> dict[str, int]:
        return {kind: int(self.cleaned_data[f"cap_{kind}"]) for kind in IDENTITY_KINDS}

    def junk(self) -> dict[str, list[str]]:
        return {
            kind: _lines(self.cleaned_data.get(f"junk_{kind}", ""))
            for kind in IDENTITY_KINDS
            if _lines(self.cleaned_data.get(f"junk_{kind}", ""))
        }

    def survivorship(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"survivorship_{name}"] for name in SURVIVORSHIP_FIELDS}
