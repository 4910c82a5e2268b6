"""Forms of the task pages: a task (create and edit, also the quick-add line of "my day"),
whose day or month to show, and the month of the calendar. Times are entered in the
workspace's time zone (the middleware activates it)."""

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import HuikeError
from huike.sales.models import TaskPriority

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)


def add_service_error(form: forms.Form, error: HuikeError) -> None:
    """A service's error on the field it names (`assignee_id` is the form's `assignee`), or on
    the whole form."""
    name = (error.field or "").removesuffix("_id")
    form.add_error(name if name in form.fields else None, error.detail)


def _member_label(member: Membership) -> str:
    team = f" · {member.team.name}" if member.team is not None else ""
    return f"{member.user.display_name}{team}"


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    due_at = forms.DateTimeField(
        label=_("Due"), required=False, widget=_datetime_input(), input_formats=[DATETIME_FORMAT]
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=TaskPriority.choices, initial=TaskPriority.NORMAL
    )
    # Empty: the actor.
    assignee = forms.ChoiceField(label=_("Assigned to"), required=False)
    remind_at = forms.DateTimeField(
        label=_("Remind me at"),
        required=False,
        widget=_datetime_input(),
        input_formats=[DATETIME_FORMAT],
        help_text=_("Empty: the reminder comes at the due time."),
    )
    description = forms.CharField(
        label=_("Notes"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    # The subject, by public id, from the link on a lead, deal or customer page.
    lead = forms.UUIDField(required=False, widget=forms.HiddenInput)
    deal = forms.UUIDField(required=False, widget=forms.HiddenInput)
    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, actor: Actor, members: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = {str(member.public_id): member for member in members}
        field = self.fields["assignee"]
        field.choices = [  # type: ignore[attr-defined]
            (public_id, _member_label(member)) for public_id, member in self.members.items()
        ]
        if actor.membership is not None and not self.initial.get("assignee"):
            self.initial["assignee"] = str(actor.membership.public_id)
        if len(self.members) <= 1:
            field.widget = forms.HiddenInput()

    def assignee_member(self) -> Membership | None:
        public_id = self.cleaned_data.get("assignee")
        return self.members.get(str(public_id)) if public_id else None


class QuickTaskForm(forms.Form):
    """The one-line add of "my day": a title, when, how urgent; for the actor."""

    title = forms.CharField(
        label=_("New task"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("What needs doing?")}),
    )
    due_at = forms.DateTimeField(
        label=_("Due"), required=False, widget=_datetime_input(), input_formats=[DATETIME_FORMAT]
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=TaskPriority.choices, initial=TaskPriority.NORMAL
    )


class DayForm(forms.Form):
    """Whose tasks and which day (my day) or month (calendar); bad values fall back to the
    defaults rather than failing the page."""

    day = forms.DateField(label=_("Day"), required=False, widget=forms.DateInput({"type": "date"}))
    month = forms.CharField(required=False, max_length=7)
    assignee = forms.ChoiceField(label=_("Whose tasks"), required=False)

    def __init__(self, *args: Any, members: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = {str(member.public_id): member for member in members}
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            (public_id, _member_label(member)) for public_id, member in self.members.items()
        ]

    def chosen_day(self) -> dt.date | None:
        return self.cleaned_data.get("day") if self.is_valid() else None

    def chosen_month(self) -> dt.date | None:
        value = (self.cleaned_data.get("month") if self.is_valid() else "") or ""
        year, _dash, month = value.partition("-")
        try:
            return dt.date(int(year), int(month), 1)
        except ValueError:
            return None

    def chosen_assignee(self) -> Membership | None:
        if not self.is_valid():
            return None
        return self.members.get(self.cleaned_data.get("assignee") or "")
