"""Forms of the lead pages: the list's filters, manual entry, status, assignment, conversion,
the pool settings, web forms and the CSV upload."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.forms import MemberChoiceField, SearchInput, active_members
from huike.customers.models import Company
from huike.sales.leads import (
    CLAIM_LIMIT_MAX,
    SCOPE_ALL,
    SCOPE_MINE,
    SCOPE_TEAM,
    LeadFilters,
    RepClaim,
    lead_scopes,
)
from huike.sales.models import LeadSource, LeadStatus, Pipeline, ScoreBand, Stage
from huike.sales.web_forms import FORM_FIELDS

SCOPE_LABELS = {
    SCOPE_MINE: _("My leads"),
    SCOPE_TEAM: _("My team's"),
    SCOPE_ALL: _("All leads"),
}


class LeadFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100, widget=SearchInput)
    scope = forms.ChoiceField(label=_("Whose"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), ("open", _("Open")), *LeadStatus.choices],
    )
    source = forms.ChoiceField(
        label=_("Source"), required=False, choices=[("", _("Any source")), *LeadSource.choices]
    )
    band = forms.ChoiceField(
        label=_("Qualification"),
        required=False,
        choices=[
            ("", _("Any")),
            ("mql", ScoreBand.MQL.label),
            ("sql", ScoreBand.SQL.label),
            ("none", ScoreBand.NONE.label),
        ],
    )
    score_min = forms.IntegerField(label=_("Score from"), required=False)
    score_max = forms.IntegerField(label=_("Score to"), required=False)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scopes = lead_scopes(actor)
        self.fields["scope"].choices = [  # type: ignore[attr-defined]
            (scope, SCOPE_LABELS[scope]) for scope in scopes
        ]
        self.default_scope = scopes[-1]

    def to_filters(self) -> LeadFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return LeadFilters(
            q=data.get("q", ""),
            scope=data.get("scope") or self.default_scope,
            status=data.get("status", ""),
            source=data.get("source", ""),
            band=data.get("band", ""),
            score_min=data.get("score_min"),
            score_max=data.get("score_max"),
        )


class LeadCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    company_name = forms.CharField(label=_("Company"), max_length=200, required=False)
    job_title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    company_size = forms.ChoiceField(
        label=_("Company size"), choices=Company.Size.choices, required=False
    )
    message = forms.CharField(
        label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    owner = MemberChoiceField(
        label=_("Owner"),
        queryset=Membership.objects.none(),
        required=False,
        empty_label=_("Assignment rules (or the pool)"),
    )
    keep = forms.BooleanField(label=_("I follow it up myself"), required=False, initial=True)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if actor.has("leads.assign"):
            self.fields["owner"].queryset = active_members(actor.workspace)  # type: ignore[attr-defined]
            del self.fields["keep"]
        else:
            del self.fields["owner"]
            if not actor.has("leads.claim"):
                del self.fields["keep"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("phone") and not data.get("email") and not self.errors:
            self.add_error("phone", _("Give a phone number or an email address."))
        return data


class LeadEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    company_name = forms.CharField(label=_("Company"), max_length=200, required=False)
    job_title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    company_size = forms.ChoiceField(
        label=_("Company size"), choices=Company.Size.choices, required=False
    )


class LeadStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            (LeadStatus.NEW, LeadStatus.NEW.label),
            (LeadStatus.CONTACTED, LeadStatus.CONTACTED.label),
            (LeadStatus.QUALIFIED, LeadStatus.QUALIFIED.label),
            (LeadStatus.UNQUALIFIED, LeadStatus.UNQUALIFIED.label),
        ],
    )
    reason = forms.CharField(label=_("Reason (for unqualified)"), max_length=200, required=False)


class LeadReleaseForm(forms.Form):
    reason = forms.CharField(label=_("Why"), max_length=200, required=False)


class LeadAssignForm(forms.Form):
    owner = MemberChoiceField(
        label=_("Give it to"),
        queryset=Membership.objects.none(),
        required=False,
        empty_label=_("Nobody (the pool)"),
    )
    reason = forms.CharField(label=_("Why"), max_length=200, required=False)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_members(actor.workspace)  # type: ignore[attr-defined]


class StageChoiceField(forms.ModelChoiceField[Stage]):
    def label_from_instance(self, obj: Stage) -> str:
        return f"{obj.pipeline.name} · {obj.name}"


class LeadConvertForm(forms.Form):
    pipeline = forms.ModelChoiceField(label=_("Pipeline"), queryset=Pipeline.objects.none())
    stage = StageChoiceField(
        label=_("Stage"),
        queryset=Stage.objects.none(),
        required=False,
        empty_label=_("The pipeline's first stage"),
    )
    deal_name = forms.CharField(label=_("Deal name"), max_length=200, required=False)
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=14, decimal_places=2, min_value=0, required=False
    )
    expected_close_date = forms.DateField(
        label=_("Expected close date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pipelines = Pipeline.objects.filter(workspace=actor.workspace, is_archived=False)
        self.fields["pipeline"].queryset = pipelines  # type: ignore[attr-defined]
        self.fields["stage"].queryset = (  # type: ignore[attr-defined]
            Stage.objects.filter(pipeline__in=pipelines, kind="open")
            .select_related("pipeline")
            .order_by("pipeline__position", "pipeline_id", "position", "id")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        stage, pipeline = data.get("stage"), data.get("pipeline")
        if stage is not None and pipeline is not None and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", _("This stage is not in that pipeline."))
        return data


class LeadSettingsForm(forms.Form):
    claim_limit = forms.IntegerField(
        label=_("Open leads a rep may hold"),
        min_value=1,
        max_value=100_000,
        help_text=_("Claims from the pool beyond it are refused."),
    )
    follow_up_hours = forms.IntegerField(
        label=_("Back to the pool after (hours without follow-up)"),
        min_value=0,
        max_value=24 * 365,
        help_text=_("0 keeps leads with their owner however long nobody follows up."),
    )


class RepClaimLimitsForm(forms.Form):
    """One field per rep: their own claim limit, blank for the workspace's."""

    def __init__(self, reps: list[RepClaim], default: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reps = reps
        for rep in reps:
            self.fields[self.field_name(rep)] = forms.IntegerField(
                label=rep.membership.user.display_name,
                required=False,
                min_value=1,
                max_value=CLAIM_LIMIT_MAX,
                initial=rep.own_limit,
                widget=forms.NumberInput(attrs={"placeholder": str(default)}),
            )

    @staticmethod
    def field_name(rep: RepClaim) -> str:
        return f"rep_{rep.membership.public_id.hex}"

    def rows(self) -> list[tuple[RepClaim, forms.BoundField]]:
        return [(rep, self[self.field_name(rep)]) for rep in self.reps]

    def changes(self) -> list[tuple[RepClaim, int | None]]:
        """The reps whose own limit the form changes, with the new one (None: none)."""
        return [
            (rep, self.cleaned_data[self.field_name(rep)])
            for rep in self.reps
            if self.cleaned_data[self.field_name(rep)] != rep.own_limit
        ]


class WebFormForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    fields_asked = forms.MultipleChoiceField(
        label=_("Fields"),
        choices=list(FORM_FIELDS.items()),
        widget=forms.CheckboxSelectMultiple,
        initial=["name", "phone", "email", "company_name", "message"],
    )
    fields_required = forms.MultipleChoiceField(
        label=_("Required fields"),
        choices=list(FORM_FIELDS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=["name"],
    )
    consent_text = forms.CharField(
        label=_("Consent checkbox text"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Leave empty for no checkbox. Ticked, it records marketing consent."),
    )
    consent_required = forms.BooleanField(label=_("Consent is required"), required=False)
    success_message = forms.CharField(label=_("Thank-you message"), max_length=300, required=False)
    allowed_origins = forms.CharField(
        label=_("Websites allowed to embed it"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One origin per line, like https://www.example.com; empty allows any."),
    )
    owner = MemberChoiceField(
        label=_("Leads go to"),
        queryset=Membership.objects.none(),
        required=False,
        empty_label=_("Assignment rules (or the pool)"),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_members(actor.workspace)  # type: ignore[attr-defined]

    def origins(self) -> list[str]:
        text = self.cleaned_data.get("allowed_origins") or ""
        return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]

    def asked_fields(self) -> list[dict[str, Any]]:
        required = set(self.cleaned_data.get("fields_required") or [])
        return [
            {"name": name, "required": name in required}
            for name in FORM_FIELDS
            if name in (self.cleaned_data.get("fields_asked") or [])
        ]
