"""Forms of the lead-scoring settings page: a rule, and the thresholds."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.core.errors import HuikeError
from huike.sales.models import LeadSettings, ScoringRule
from huike.sales.scoring import ATTRIBUTE_FIELDS, CUSTOM_PREFIX, ScoringRuleData, field_label

CUSTOM_FIELD_CHOICE = "custom"


def add_service_error(form: forms.BaseForm, error: HuikeError) -> None:
    """A service's error on the field it names, or on the whole form."""
    name = error.field or ""
    form.add_error(name if name in form.fields else None, error.detail)


def _field_choices() -> list[tuple[str, str]]:
    return [
        ("", "—"),
        *((name, field_label(name)) for name in ATTRIBUTE_FIELDS),
        (CUSTOM_FIELD_CHOICE, str(_("Custom field"))),
    ]


class ScoringRuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Points for"), choices=ScoringRule.Kind.choices)
    points = forms.IntegerField(
        label=_("Points"), help_text=_("Negative numbers take points away.")
    )
    field = forms.ChoiceField(label=_("Lead field"), required=False)
    custom_key = forms.SlugField(
        label=_("Custom field key"),
        required=False,
        help_text=_("For a custom field: its key, as in the lead's custom fields."),
    )
    operator = forms.ChoiceField(
        label=_("Operator"),
        required=False,
        choices=[("", "—"), *ScoringRule.Operator.choices],
    )
    value = forms.CharField(
        label=_("Value"),
        required=False,
        max_length=500,
        help_text=_(
            "For “is one of”, separate values with commas; company sizes: 1-9, 10-49, "
            "50-249, 250-999, 1000+."
        ),
    )
    event_kind = forms.CharField(
        label=_("Event"),
        required=False,
        max_length=100,
        help_text=_("The timeline event, like page.viewed or email.clicked."),
        widget=forms.TextInput(attrs={"list": "scoring-event-kinds"}),
    )
    half_life_days = forms.IntegerField(
        label=_("Half-life (days)"),
        min_value=0,
        initial=0,
        help_text=_("Event points halve every this many days; 0 keeps them."),
    )
    max_occurrences = forms.IntegerField(
        label=_("Counted at most"),
        min_value=0,
        initial=0,
        help_text=_("The most recent occurrences counted; 0 counts all."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = _field_choices()  # type: ignore[attr-defined]

    @classmethod
    def initial_for(cls, rule: ScoringRule) -> dict[str, Any]:
        field, custom_key = rule.field, ""
        if field.startswith(CUSTOM_PREFIX):
            field, custom_key = CUSTOM_FIELD_CHOICE, field.removeprefix(CUSTOM_PREFIX)
        value = rule.value
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        return {
            "name": rule.name,
            "kind": rule.kind,
            "points": rule.points,
            "field": field,
            "custom_key": custom_key,
            "operator": rule.operator,
            "value": "" if value is None else value,
            "event_kind": rule.event_kind,
            "half_life_days": rule.half_life_days,
            "max_occurrences": rule.max_occurrences,
            "is_active": rule.is_active,
        }

    def rule_data(self) -> ScoringRuleData:
        data = self.cleaned_data
        field = data["field"]
        if field == CUSTOM_FIELD_CHOICE:
            field = f"{CUSTOM_PREFIX}{data['custom_key']}" if data["custom_key"] else ""
        return ScoringRuleData(
            name=data["name"],
            kind=data["kind"],
            points=data["points"],
            field=field,
            operator=data["operator"],
            value=data["value"],
            event_kind=data["event_kind"],
            half_life_days=data["half_life_days"],
            max_occurrences=data["max_occurrences"],
            is_active=data["is_active"],
        )


class ScoringThresholdsForm(forms.ModelForm[LeadSettings]):
    class Meta:
        model = LeadSettings
        fields = ("mql_threshold", "sql_threshold", "predictive_enabled")
        help_texts = {
            "mql_threshold": _("A lead at this score becomes marketing qualified (MQL)."),
            "sql_threshold": _("A lead at this score becomes sales qualified (SQL)."),
            "predictive_enabled": _(
                "Estimate each lead's chance of winning from the workspace's won and lost "
                "history, once there is enough of it."
            ),
        }
