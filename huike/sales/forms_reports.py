"""Forms of the report pages: the funnel's and the forecast's pickers, and a monthly target."""

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.sales.models import Pipeline
from huike.sales.reports import GROUPS

MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


def _pipeline_choices(actor: Actor) -> list[tuple[str, str]]:
    pipelines = Pipeline.objects.filter(workspace=actor.workspace, is_archived=False)
    return [(str(pipeline.public_id), pipeline.name) for pipeline in pipelines]


class _PipelinePicker(forms.Form):
    """A pipeline named by its id: shown as a choice of the workspace's pipelines, but any id
    is accepted here, so that the view looks it up (another workspace's id is a 404)."""

    pipeline = forms.UUIDField(label=_("Pipeline"), required=False, widget=forms.Select)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].widget.choices = _pipeline_choices(actor)

    @property
    def pipeline_id(self) -> uuid.UUID | None:
        value: uuid.UUID | None = self.cleaned_data.get("pipeline")
        return value


class FunnelForm(_PipelinePicker):
    """?pipeline=<id>&from=YYYY-MM-DD&to=YYYY-MM-DD ("from" is a keyword: set in __init__)."""

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, actor=actor, **kwargs)
        date = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        self.fields["from"] = forms.DateField(label=_("From"), required=False, widget=date)
        self.fields["to"] = forms.DateField(label=_("To"), required=False, widget=date)

    @property
    def date_from(self) -> dt.date | None:
        value: dt.date | None = self.cleaned_data.get("from")
        return value

    @property
    def date_to(self) -> dt.date | None:
        value: dt.date | None = self.cleaned_data.get("to")
        return value


class ForecastForm(_PipelinePicker):
    """?pipeline=<id, empty: all>&period=YYYY-MM|YYYY-Qn&group=rep|team|pipeline&currency=."""

    period = forms.CharField(
        label=_("Period"),
        required=False,
        max_length=7,
        help_text=_("A month (2026-12) or a quarter (2026-Q4); empty: the coming three months."),
    )
    group = forms.ChoiceField(
        label=_("Rows"),
        required=False,
        choices=[
            ("rep", _("Per rep")),
            ("team", _("Per team")),
            ("pipeline", _("Per pipeline")),
        ],
    )
    currency = forms.ChoiceField(label=_("Currency"), required=False)

    def __init__(
        self, *args: Any, actor: Actor, currencies: list[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, actor=actor, **kwargs)
        self.fields["pipeline"].widget.choices = [
            ("", _("All pipelines")),
            *_pipeline_choices(actor),
        ]
        currency: Any = self.fields["currency"]
        currency.choices = [("", _("Workspace currency")), *((c, c) for c in currencies or [])]
        group: Any = self.fields["group"]
        assert {value for value, _label in group.choices} == set(GROUPS)


class TargetForm(forms.Form):
    """A monthly target of one rep or one team (exactly one of them)."""

    month = forms.CharField(
        label=_("Month"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-12"}),
    )
    membership = forms.ModelChoiceField(
        label=_("Rep"), queryset=Membership.objects.none(), required=False
    )
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    amount = forms.DecimalField(
        label=_("Target"), max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        membership_field: Any = self.fields["membership"]
        membership_field.queryset = (
            Membership.objects.usable()
            .filter(workspace=actor.workspace)
            .select_related("user")
            .order_by("user__full_name", "user__email")
        )
        membership_field.label_from_instance = lambda member: member.user.display_name
        team_field: Any = self.fields["team"]
        team_field.queryset = Team.objects.filter(workspace=actor.workspace).order_by("path")
        self.fields["currency"].initial = actor.workspace.currency

    def clean_month(self) -> dt.date:
        match = MONTH_PATTERN.match(self.cleaned_data["month"].strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise forms.ValidationError(_("Give the month as YYYY-MM."))
        return dt.date(int(match.group(1)), int(match.group(2)), 1)

    def clean_currency(self) -> str:
        currency: str = self.cleaned_data["currency"].strip().upper()
        if not currency.isalpha():
            raise forms.ValidationError(_("A currency is a three-letter code such as CNY."))
        return currency

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if bool(cleaned.get("membership")) == bool(cleaned.get("team")):
            raise forms.ValidationError(_("Choose either a rep or a team."))
        return cleaned
