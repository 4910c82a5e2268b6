"""Forms of the board, deal and pipeline-settings pages.

Choices are the actor's: pipelines and stages of the workspace, customers and companies the
actor may see (the select shows the most recent ones; any visible one validates), active
members as owners, active products.
"""

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from huike.accounts.access import Actor
from huike.customers.forms import MemberChoiceField, active_members
from huike.customers.models import Company, Customer
from huike.customers.widgets import SearchableSelect
from huike.sales import deals
from huike.sales.models import (
    Activity,
    Deal,
    DealContact,
    ForecastCategory,
    Pipeline,
    Product,
    Stage,
    StageKind,
)

# The customer and company selects list this many of the most recently active (a workspace
# may have millions), with a search box for the others; any customer the actor can see is
# accepted.
CHOICES_SHOWN = 200


class _PublicIdChoice(forms.ModelChoiceField[Any]):
    def __init__(self, queryset: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(queryset, to_field_name="public_id", **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name) if getattr(obj, "name", "") else str(obj.public_id)


class _StageChoice(_PublicIdChoice):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.pipeline.name} · {obj.name}"


class _ProductChoice(_PublicIdChoice):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.sku} {obj.name} ({obj.price} {obj.currency})"


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _model_field(form: forms.Form, name: str) -> forms.ModelChoiceField[Any]:
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)
    return field


def _limited_choices(
    field: forms.ModelChoiceField[Any], rows: Any, current: Any, url_name: str
) -> None:
    """Render only `rows` (+ the current value) with a search box that finds the others
    (SearchableSelect, asking `url_name`), while validating against the whole queryset."""
    field.widget = SearchableSelect(url_name)
    shown = list(rows)
    if current is not None and all(row.pk != current.pk for row in shown):
        shown.insert(0, current)
    label = field.label_from_instance
    field.widget.choices = [("", "---------")] + [(str(row.public_id), label(row)) for row in shown]


def visible_customers_for(actor: Actor) -> QuerySet[Customer]:
    from huike.customers.access import visible_customers

    return visible_customers(actor).filter(status=Customer.Status.ACTIVE)


def visible_companies_for(actor: Actor) -> QuerySet[Company]:
    return Company.objects.visible_to(actor)


class DealForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    pipeline = _PublicIdChoice(Pipeline.objects.none(), label=_("Pipeline"))
    stage = _StageChoice(
        Stage.objects.none(), label=_("Stage"), required=False, help_text=_("Default: the first.")
    )
    amount = forms.DecimalField(
        label=_("Amount"), min_value=0, max_digits=14, decimal_places=2, initial=0
    )
    currency = forms.CharField(label=_("Currency"), min_length=3, max_length=3)
    customer = _PublicIdChoice(Customer.objects.none(), label=_("Customer"), required=False)
    company = _PublicIdChoice(Company.objects.none(), label=_("Company"), required=False)
    owner = MemberChoiceField(queryset=None, label=_("Owner"), required=False)
    expected_close_date = forms.DateField(
        label=_("Expected close date"), required=False, widget=_date_input()
    )
    next_step = forms.CharField(label=_("Next step"), max_length=300, required=False)
    forecast_category = forms.ChoiceField(
        label=_("Forecast category"), choices=ForecastCategory.choices
    )

    def __init__(
        self, data: Any, *, actor: Actor, deal: Deal | None = None, pipeline: Pipeline | None = None
    ) -> None:
        initial: dict[str, Any] = {"forecast_category": ForecastCategory.PIPELINE}
        if deal is not None:
            initial = {
                "name": deal.name,
                "amount": deal.amount,
                "currency": deal.currency,
                "customer": deal.customer.public_id if deal.customer else None,
                "company": deal.company.public_id if deal.company else None,
                "owner": deal.owner_id,
                "expected_close_date": deal.expected_close_date,
                "next_step": deal.next_step,
                "forecast_category": deal.forecast_category,
            }
        elif pipeline is not None:
            initial |= {
                "pipeline": pipeline.public_id,
                "currency": pipeline.currency,
                "owner": actor.membership.pk if actor.membership else None,
            }
        super().__init__(data, initial=initial)
        self.deal = deal
        customers = visible_customers_for(actor)
        companies = visible_companies_for(actor)
        _model_field(self, "customer").queryset = customers
        _model_field(self, "company").queryset = companies
        _limited_choices(
            _model_field(self, "customer"),
            customers.order_by("-last_interaction_at", "-id")[:CHOICES_SHOWN],
            deal.customer if deal else None,
            "customers:customer_pick",
        )
        _limited_choices(
            _model_field(self, "company"),
            companies.order_by("name", "id")[:CHOICES_SHOWN],
            deal.company if deal else None,
            "customers:company_pick",
        )
        _model_field(self, "owner").queryset = active_members(actor.workspace)
        if deal is not None:
            # Pipeline and stage change by moving the deal, not by editing it.
            del self.fields["pipeline"]
            del self.fields["stage"]
        else:
            _model_field(self, "pipeline").queryset = deals.pipeline_list(actor.workspace)
            _model_field(self, "stage").queryset = (
                Stage.objects.filter(
                    workspace=actor.workspace, kind=StageKind.OPEN, pipeline__is_archived=False
                )
                .select_related("pipeline")
                .order_by("pipeline__position", "position")
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        stage, pipeline = data.get("stage"), data.get("pipeline")
        if stage is not None and pipeline is not None and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", _("This stage is not in the chosen pipeline."))
        return data

    def deal_data(self) -> deals.DealData:
        data = self.cleaned_data
        return deals.DealData(
            name=data["name"],
            amount=data["amount"],
            currency=data["currency"],
            customer=data["customer"],
            company=data["company"],
            owner=data["owner"],
            expected_close_date=data["expected_close_date"],
            next_step=data["next_step"],
            forecast_category=data["forecast_category"],
        )


class DealFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    pipeline = _PublicIdChoice(Pipeline.objects.none(), label=_("Pipeline"), required=False)
    stage = _StageChoice(Stage.objects.none(), label=_("Stage"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *StageKind.choices]
    )
    owner = MemberChoiceField(queryset=None, label=_("Owner"), required=False)
    close_from = forms.DateField(label=_("Closing from"), required=False, widget=_date_input())
    close_to = forms.DateField(label=_("Closing until"), required=False, widget=_date_input())

    def __init__(self, data: Any, *, actor: Actor) -> None:
        super().__init__(data)
        _model_field(self, "pipeline").queryset = deals.pipeline_list(actor.workspace)
        _model_field(self, "stage").queryset = (
            Stage.objects.filter(workspace=actor.workspace)
            .select_related("pipeline")
            .order_by("pipeline__position", "position")
        )
        _model_field(self, "owner").queryset = active_members(actor.workspace)

    def filters(self) -> deals.DealFilters:
        if not self.is_valid():
            return deals.DealFilters()
        data = self.cleaned_data
        return deals.DealFilters(
            q=data["q"].strip(),
            pipeline=data["pipeline"],
            stage=data["stage"],
            status=data["status"] or None,
            owner=data["owner"],
            close_from=data["close_from"],
            close_to=data["close_to"],
        )


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=Activity.Kind.choices)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        help_text=_("Default: now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"), required=False, min_value=0, max_value=1440
    )


class ContactForm(forms.Form):
    customer = _PublicIdChoice(Customer.objects.none(), label=_("Contact"))
    role = forms.ChoiceField(label=_("Role"), choices=DealContact.Role.choices)

    def __init__(self, data: Any, *, actor: Actor) -> None:
        super().__init__(data)
        customers = visible_customers_for(actor)
        _model_field(self, "customer").queryset = customers
        _limited_choices(
            _model_field(self, "customer"),
            customers.order_by("-last_interaction_at", "-id")[:CHOICES_SHOWN],
            None,
            "customers:customer_pick",
        )


class ProductLineForm(forms.Form):
    product = _ProductChoice(Product.objects.none(), label=_("Product"))
    quantity = forms.DecimalField(
        label=_("Quantity"), min_value=0, max_digits=12, decimal_places=3, initial=1
    )
    unit_price = forms.DecimalField(
        label=_("Unit price"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text=_("Default: the catalog price."),
    )

    def __init__(self, data: Any, *, actor: Actor) -> None:
        super().__init__(data)
        _model_field(self, "product").queryset = Product.objects.filter(
            workspace=actor.workspace, is_active=True
        ).order_by("name", "id")


class PipelineForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    currency = forms.CharField(
        label=_("Currency"),
        min_length=3,
        max_length=3,
        help_text=_("Of new deals in this pipeline."),
    )


class PipelineSettingsForm(PipelineForm):
    is_default = forms.BooleanField(label=_("Default pipeline"), required=False)
    is_archived = forms.BooleanField(
        label=_("Archived (hidden from the board; its deals stay)"), required=False
    )


class StageForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Type"), choices=StageKind.choices)
    probability = forms.IntegerField(label=_("Win probability (%)"), min_value=0, max_value=100)
    position = forms.IntegerField(label=_("Position"), min_value=1, required=False)

    def stage_data(self) -> deals.StageData:
        data = self.cleaned_data
        return deals.StageData(data["name"], data["kind"], data["probability"])


class LostReasonForm(forms.Form):
    lost_reason = forms.CharField(label=_("Why was it lost?"), max_length=300)
