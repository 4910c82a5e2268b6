"""The form of an assignment rule on the settings page."""

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.accounts.models import Membership, Team
from huike.core.errors import HuikeError
from huike.sales.assignment import (
    MAX_CAPACITY,
    MAX_RULE_NAME_LENGTH,
    MAX_SLA_MINUTES,
    AssignmentRuleData,
    assignable_reps,
    conditions_clean,
)
from huike.sales.models import AssignmentStrategy, LeadSource

# Values typed into one box are split at commas (also the full-width Chinese comma and the
# enumeration comma), semicolons and new lines.
_SEPARATORS = re.compile(r"[,;\n\uff0c\u3001\uff1b]")
LIST_CONDITIONS = ("regions", "industries", "languages")


class RepLabel:
    def label_from_instance(self, obj: Membership) -> str:
        return f"{obj.user.display_name} <{obj.user.email}>"


class RepChoiceField(RepLabel, forms.ModelChoiceField[Membership]):
    pass


class RepsChoiceField(RepLabel, forms.ModelMultipleChoiceField[Membership]):
    pass


def _values(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


class AssignmentRuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=MAX_RULE_NAME_LENGTH)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    regions = forms.CharField(
        label=_("Regions"),
        required=False,
        help_text=_("Separate values with commas. Empty: any region."),
    )
    sources = forms.MultipleChoiceField(
        label=_("Sources"),
        choices=LeadSource.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any source."),
    )
    industries = forms.CharField(
        label=_("Industries"),
        required=False,
        help_text=_("Separate values with commas. Empty: any industry."),
    )
    languages = forms.CharField(
        label=_("Languages"),
        required=False,
        help_text=_("Language codes such as zh-hans, en. Empty: any language."),
    )
    min_score = forms.IntegerField(label=_("Score at least"), required=False)
    max_score = forms.IntegerField(label=_("Score at most"), required=False)
    strategy = forms.ChoiceField(
        label=_("Strategy"), choices=AssignmentStrategy.choices, widget=forms.RadioSelect
    )
    owner = RepChoiceField(
        label=_("Owner"),
        queryset=Membership.objects.none(),
        required=False,
        help_text=_("A named owner: this member gets every lead the rule takes."),
    )
    members = RepsChoiceField(
        label=_("Members"),
        queryset=Membership.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Round robin and least open leads share the leads between these members."),
    )
    team = forms.ModelChoiceField(
        label=_("Or a team"),
        queryset=Team.objects.none(),
        required=False,
        help_text=_("With no members ticked: the team's members share the leads."),
    )
    capacity = forms.IntegerField(
        label=_("Capacity per rep"),
        required=False,
        min_value=1,
        max_value=MAX_CAPACITY,
        help_text=_(
            "Open leads a rep may hold before the rule passes them over. "
            "Empty: each rep's claim limit."
        ),
    )
    sla_minutes = forms.IntegerField(
        label=_("First contact within (minutes)"),
        required=False,
        min_value=1,
        max_value=MAX_SLA_MINUTES,
        help_text=_(
            "The owner is reminded when it passes, and their manager is told one more "
            "such period later. Empty: no SLA."
        ),
    )

    def __init__(self, *args: Any, workspace_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reps = Membership.objects.filter(
            pk__in=[rep.pk for rep in assignable_reps(workspace_id)]
        ).select_related("user")
        owner: Any = self.fields["owner"]
        members: Any = self.fields["members"]
        team: Any = self.fields["team"]
        owner.queryset = reps.order_by("user__email")
        members.queryset = reps.order_by("user__email")
        team.queryset = Team.objects.filter(workspace_id=workspace_id).order_by("path")

    @staticmethod
    def initial_from(data: AssignmentRuleData) -> dict[str, Any]:
        conditions = data.conditions
        return {
            "name": data.name,
            "is_active": data.is_active,
            **{name: ", ".join(conditions.values_of(name)) for name in LIST_CONDITIONS},
            "sources": list(conditions.sources),
            "min_score": conditions.min_score,
            "max_score": conditions.max_score,
            "strategy": data.strategy,
            "owner": data.owner,
            "members": list(data.members),
            "team": data.team,
            "capacity": data.capacity,
            "sla_minutes": data.sla_minutes,
        }

    def rule_data(self) -> AssignmentRuleData:
        """The rule the form describes; InvalidInputError for bad conditions."""
        cleaned = self.cleaned_data
        conditions = conditions_clean(
            {
                **{name: _values(cleaned[name]) for name in LIST_CONDITIONS},
                "sources": cleaned["sources"],
                "min_score": cleaned["min_score"],
                "max_score": cleaned["max_score"],
            }
        )
        return AssignmentRuleData(
            name=cleaned["name"],
            strategy=cleaned["strategy"],
            conditions=conditions,
            is_active=cleaned["is_active"],
            owner=cleaned["owner"],
            members=list(cleaned["members"]),
            team=cleaned["team"],
            capacity=cleaned["capacity"],
            sla_minutes=cleaned["sla_minutes"],
        )

    def add_service_error(self, error: HuikeError) -> None:
        """A service's error on the field it names (`conditions.regions` is `regions`)."""
        name = (error.field or "").removeprefix("conditions.")
        self.add_error(name if name in self.fields else None, error.detail)
