"""Forms of the inbox pages: the list's filters, the composer (reply and note), assignment,
status, the agent's presence, canned replies and the assignment settings."""

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import HuikeError
from huike.customers.models import Tag
from huike.inbox import selectors
from huike.inbox.models import AgentPresence, AssignmentStrategy, ConversationStatus

STATUS_TABS = (
    (ConversationStatus.OPEN, _("Open")),
    (ConversationStatus.PENDING, _("Pending")),
    (ConversationStatus.SNOOZED, _("Snoozed")),
    (ConversationStatus.RESOLVED, _("Resolved")),
    (selectors.STATUS_ALL, _("All")),
)
TEAM_NONE = ""


def add_service_error(form: forms.Form, error: HuikeError) -> None:
    """A service's error on the field it names, or on the whole form."""
    name = error.field or ""
    if name == "body" and "text" in form.fields:
        name = "text"
    form.add_error(name if name in form.fields else None, error.detail)


def _uuid_or_nil(value: str) -> uuid.UUID | None:
    """None when not given; the nil UUID (matches nothing) when given but not a UUID."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


class ConversationFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_TABS, required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    team = forms.ChoiceField(label=_("Team"), required=False)
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    unread = forms.BooleanField(label=_("Unread only"), required=False)

    def __init__(self, data: Any, *, actor: Actor) -> None:
        super().__init__(data)
        from huike.customers.models import Tag

        self._field("channel").choices = [("", _("All channels"))] + [
            (str(channel.public_id), f"{channel.get_kind_display()} · {channel.name}")
            for channel in selectors.channels(actor)
        ]
        self._field("assignee").choices = [
            ("", _("Anyone")),
            (selectors.ASSIGNEE_ME, _("Me")),
            (selectors.ASSIGNEE_NONE, _("Unassigned")),
        ] + [
            (str(member.public_id), member.user.display_name)
            for member in selectors.assignable_members(actor)
        ]
        self._field("team").choices = [("", _("All teams"))] + [
            (str(team.public_id), team.name) for team in selectors.teams(actor)
        ]
        self._field("tag").choices = [("", _("All tags"))] + [
            (str(tag.public_id), tag.name)
            for tag in Tag.objects.filter(workspace=actor.workspace).order_by("name")
        ]

    def _field(self, name: str) -> Any:
        return self.fields[name]

    def to_filters(self) -> selectors.ConversationFilters:
        """The filters asked for, read from the raw query: a channel, member, team or tag id
        that is not (or no longer) one of ours matches nothing, rather than being dropped
        and showing everything."""
        data = self.data
        status = str(data.get("status") or ConversationStatus.OPEN)
        return selectors.ConversationFilters(
            status=status if status in selectors.STATUS_FILTERS else ConversationStatus.OPEN,
            channel=_uuid_or_nil(str(data.get("channel") or "")),
            assignee=str(data.get("assignee") or "")[:36],
            team=_uuid_or_nil(str(data.get("team") or "")),
            tag=_uuid_or_nil(str(data.get("tag") or "")),
            unread=bool(data.get("unread")),
        )


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Reply"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "data-composer": "reply"}),
        help_text=_('Type "/" and a canned reply\'s shortcut to insert it.'),
    )
    subject = forms.CharField(label=_("Subject"), required=False, max_length=255)
    template = forms.ChoiceField(label=_("Message template"), required=False)

    def __init__(self, *args: Any, template_choices: list[selectors.ComposerChoice], **kw: Any):
        # The reply and the note share the page: their ids must differ, their names need not.
        kw.setdefault("auto_id", "reply_%s")
        super().__init__(*args, **kw)
        field: Any = self.fields["template"]
        field.choices = [("", _("No template"))] + [
            (str(choice.id), choice.label) for choice in template_choices
        ]


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Internal note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Only your colleagues see notes. @name mentions a colleague."),
    )
    mentions = forms.ModelMultipleChoiceField(
        label=_("Mention"), queryset=Membership.objects.none(), required=False
    )

    def __init__(self, *args: Any, members: list[Membership], **kw: Any) -> None:
        kw.setdefault("auto_id", "note_%s")
        super().__init__(*args, **kw)
        field: Any = self.fields["mentions"]
        field.queryset = Membership.objects.filter(pk__in=[member.pk for member in members])
        field.label_from_instance = lambda member: member.user.display_name
        field.widget.attrs["size"] = min(max(len(members), 2), 5)


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    team = forms.ChoiceField(label=_("Team"), required=False)

    def __init__(self, *args: Any, actor: Actor, **kw: Any) -> None:
        super().__init__(*args, **kw)
        assignee: Any = self.fields["assignee"]
        assignee.choices = [("", _("Nobody (back to the queue)"))] + [
            (str(member.public_id), member.user.display_name)
            for member in selectors.assignable_members(actor)
        ]
        team: Any = self.fields["team"]
        team.choices = [(TEAM_NONE, _("No team"))] + [
            (str(row.public_id), row.name) for row in selectors.teams(actor)
        ]


class TagsForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"),
        queryset=Tag.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tags"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Tag.objects.filter(workspace=actor.workspace).order_by("name")
        field.to_field_name = "public_id"


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=ConversationStatus.choices)
    snoozed_until = forms.DateTimeField(
        label=_("Snooze until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )


class PresenceForm(forms.Form):
    presence = forms.ChoiceField(label=_("Presence"), choices=AgentPresence.choices)
    capacity = forms.IntegerField(
        label=_("Capacity"),
        min_value=0,
        max_value=500,
        help_text=_("Open conversations at most; 0 means no limit."),
    )
    auto_assign = forms.BooleanField(label=_("Take conversations automatically"), required=False)


class CannedReplyForm(forms.Form):
    shortcut = forms.CharField(
        label=_("Shortcut"), max_length=40, help_text=_('Typed after "/" in the composer.')
    )
    title = forms.CharField(label=_("Title"), max_length=100)
    body_zh_hans = forms.CharField(
        label=_("Text (Chinese)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    body_en = forms.CharField(
        label=_("Text (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Variables such as {{customer.name}} and {{agent.name}} are filled in."),
    )


class InboxSettingsForm(forms.Form):
    strategy = forms.ChoiceField(label=_("Assignment"), choices=AssignmentStrategy.choices)
    online_timeout_seconds = forms.IntegerField(
        label=_("Online timeout (seconds)"),
        min_value=30,
        max_value=86_400,
        help_text=_("Only agents seen within this time get conversations automatically."),
    )
