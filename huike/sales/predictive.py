"""The predictive lead score: a logistic regression trained on the workspace's own history.

Positives are leads whose deal was won, negatives leads whose deal was lost and leads marked
unqualified. Features: the lead's industry, region, company size, source and language (one-hot
of the most common values), how often each of the most common event kinds happened on its
customer's timeline before the lead closed (log-scaled counts), and the days from capture to
first contact when known. Features are standardised; the model is scikit-learn's
LogisticRegression, measured on a held-out quarter of the history (stratified), and stored as
plain numbers (coefficients, intercept, scaler means and scales, feature names) — no pickle,
nothing executable. Scoring needs only numpy and those numbers.

The model is used only with enough history (MIN_CLOSED_LEADS, with MIN_LEADS_PER_CLASS won and
not won); otherwise it is off and `Lead.predicted_score` stays null.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from huike.customers.events import event_kind_label
from huike.customers.models import Event
from huike.sales.models import Lead, LeadStatus, PredictiveModel, StageKind
from huike.sales.scoring import field_label, lead_settings_for, open_leads

# Below this much history a model learns noise, and its measured accuracy (on a quarter of the
# leads) means little: at least 40 closed leads, at least 10 of them won and 10 not won.
MIN_CLOSED_LEADS = 40
MIN_LEADS_PER_CLASS = 10
# One-hot columns per attribute and event-kind columns: the most common ones. More columns
# than the history can support overfit a few hundred leads.
TOP_VALUES_PER_FIELD = 8
TOP_EVENT_KINDS = 10
CATEGORICAL_FIELDS = ("industry", "region", "company_size", "source", "language")
# Kinds that happen because the lead closed (or after): counting them would teach the model
# the answer.
OUTCOME_EVENT_KINDS = (
    "lead.converted",
    "deal.created",
    "deal.won",
    "deal.lost",
    "order.created",
    "order.paid",
)
HELD_OUT_FRACTION = 0.25
RANDOM_STATE = 0
# Factors kept per lead (the explanation shown on it) and on the settings page's chart.
FACTORS_PER_LEAD = 3
FACTORS_CHARTED = 8
# A factor that moves the log-odds less than this explains nothing (a feature at its mean).
MIN_FACTOR_CONTRIBUTION = 1e-6
FACTOR_BAR_HEIGHT = 26  # SVG units per bar of the chart
# Leads scored per query batch after training, and customers per timeline query.
PREDICT_BATCH_SIZE = 500
EVENT_QUERY_CHUNK = 500
# Older models are kept a while for comparison, then deleted.
MODELS_KEPT = 5
FIRST_CONTACT_FEATURE = "first_contact_days"
SECONDS_PER_DAY = 86400.0


# --- history and features -----------------------------------------------------------------------
def closed_leads(workspace_id: int) -> QuerySet[Lead]:
    """Leads with an outcome: their deal won or lost, or the lead unqualified."""
    return Lead.objects.filter(workspace_id=workspace_id).filter(
        Q(deal__status__in=(StageKind.WON, StageKind.LOST)) | Q(status=LeadStatus.UNQUALIFIED)
    )


def training_cutoff() -> Coalesce:
    """When a closed lead's story ended: its conversion, else its last change (unqualified).
    Events after it happened because of the outcome, not before it."""
    return Coalesce(F("converted_at"), F("updated_at"))


def _event_counts(
    workspace_id: int, lead_ids: Sequence[int], kinds: Sequence[str], cutoff: Expression
) -> dict[int, Counter[str]]:
    """lead id -> events per kind on its customer's timeline up to `cutoff` (an expression on
    the lead). Counted in the database, one correlated count per kind on the timeline index,
    so a customer with a million page views costs a count, not a million rows."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    if not kinds:
        return counts
    annotations: dict[str, Any] = {}
    for index, kind in enumerate(kinds):
        matching = (
            Event.objects.filter(
                workspace_id=workspace_id,
                customer_id=OuterRef("customer_id"),
                kind=kind,
                occurred_at__lte=OuterRef("events_cutoff"),
            )
            .order_by()
            .values("customer_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        annotations[f"events_{index}"] = Coalesce(
            Subquery(matching, output_field=IntegerField()), 0
        )
    for start in range(0, len(lead_ids), EVENT_QUERY_CHUNK):
        rows = (
            Lead.objects.filter(pk__in=lead_ids[start : start + EVENT_QUERY_CHUNK])
            .annotate(events_cutoff=cutoff)
            .annotate(**annotations)
            .values_list("pk", *annotations)
        )
        for lead_id, *values in rows:
            counts[lead_id] = Counter(
                {kind: value for kind, value in zip(kinds, values, strict=True) if value}
            )
    return counts


def _first_contact_days(lead: Lead) -> float | None:
    if lead.first_contacted_at is None:
        return None
    return max((lead.first_contacted_at - lead.created_at).total_seconds(), 0.0) / SECONDS_PER_DAY


@dataclass(frozen=True)
class FeatureSpec:
    categories: list[tuple[str, str]]
    event_kinds: list[str]
    first_contact_fill: float

    @property
    def names(self) -> list[str]:
        return [
            *(f"{field}={value}" for field, value in self.categories),
            *(f"events:{kind}" for kind in self.event_kinds),
            FIRST_CONTACT_FEATURE,
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "categories": [list(pair) for pair in self.categories],
            "event_kinds": self.event_kinds,
            "first_contact_fill": self.first_contact_fill,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureSpec":
        return cls(
            categories=[(str(field), str(value)) for field, value in data["categories"]],
            event_kinds=[str(kind) for kind in data["event_kinds"]],
            first_contact_fill=float(data["first_contact_fill"]),
        )


def _feature_spec(workspace_id: int, leads: Sequence[Lead]) -> FeatureSpec:
    categories: list[tuple[str, str]] = []
    for field in CATEGORICAL_FIELDS:
        common = Counter(getattr(lead, field) for lead in leads if getattr(lead, field))
        categories.extend((field, value) for value, _n in common.most_common(TOP_VALUES_PER_FIELD))
    lead_ids = [lead.pk for lead in leads]
    kinds = list(
        Event.objects.filter(
            workspace_id=workspace_id,
            customer_id__in=Lead.objects.filter(pk__in=lead_ids).values("customer_id"),
        )
        .exclude(kind__in=OUTCOME_EVENT_KINDS)
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by("-n", "kind")
        .values_list("kind", flat=True)[:TOP_EVENT_KINDS]
    )
    days = [value for lead in leads if (value := _first_contact_days(lead)) is not None]
    fill = float(np.mean(days)) if days else 0.0
    return FeatureSpec(categories=categories, event_kinds=kinds, first_contact_fill=fill)


def _vector(lead: Lead, spec: FeatureSpec, counts: Counter[str]) -> list[float]:
    first_contact = _first_contact_days(lead)
    return [
        *(1.0 if getattr(lead, field) == value else 0.0 for field, value in spec.categories),
        *(math.log1p(counts.get(kind, 0)) for kind in spec.event_kinds),
        spec.first_contact_fill if first_contact is None else first_contact,
    ]


# --- status -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PredictiveStatus:
    state: str  # "off", "needs_data", "ready" (enough history, not trained yet) or "trained"
    message: str
    won: int
    not_won: int
    needed: int
    model: PredictiveModel | None

    @property
    def closed(self) -> int:
        return self.won + self.not_won

    @property
    def is_on(self) -> bool:
        return self.state == "trained"


def _history_counts(workspace_id: int) -> tuple[int, int]:
    history = closed_leads(workspace_id)
    won = history.filter(deal__status=StageKind.WON).count()
    return won, history.count() - won


def _needed(won: int, not_won: int) -> int:
    """More closed leads needed: enough in all, and enough of each outcome."""
    per_class = max(MIN_LEADS_PER_CLASS - won, 0) + max(MIN_LEADS_PER_CLASS - not_won, 0)
    return max(MIN_CLOSED_LEADS - won - not_won, per_class, 0)


def active_model(workspace_id: int) -> PredictiveModel | None:
    return (
        PredictiveModel.objects.filter(workspace_id=workspace_id, is_active=True)
        .order_by("-trained_at", "-pk")
        .first()
    )


def predictive_status(workspace_id: int) -> PredictiveStatus:
    won, not_won = _history_counts(workspace_id)
    needed = _needed(won, not_won)
    model = active_model(workspace_id)
    if not lead_settings_for(workspace_id).predictive_enabled:
        return PredictiveStatus(
            "off", _("The predictive score is turned off."), won, not_won, needed, None
        )
    if needed:
        message = ngettext(
            "Off: the model needs %(count)d more closed lead (at least %(minimum)d, with "
            "%(per_class)d won and %(per_class)d lost or unqualified).",
            "Off: the model needs %(count)d more closed leads (at least %(minimum)d, with "
            "%(per_class)d won and %(per_class)d lost or unqualified).",
            needed,
        ) % {"count": needed, "minimum": MIN_CLOSED_LEADS, "per_class": MIN_LEADS_PER_CLASS}
        return PredictiveStatus("needs_data", message, won, not_won, needed, None)
    if model is None:
        return PredictiveStatus(
            "ready",
            _("There is enough history; the model is trained tonight, or now on request."),
            won,
            not_won,
            0,
            None,
        )
    return PredictiveStatus(
        "trained",
        _("Trained on %(count)d closed leads.") % {"count": model.samples},
        won,
        not_won,
        0,
        model,
    )


# --- training -----------------------------------------------------------------------------------
def predictive_clear(workspace_id: int) -> int:
    """Turn the model off: no active model, no predicted scores. Returns leads cleared."""
    PredictiveModel.objects.filter(workspace_id=workspace_id, is_active=True).update(
        is_active=False
    )
    return Lead.objects.filter(workspace_id=workspace_id, predicted_score__isnull=False).update(
        predicted_score=None, predicted_factors=[]
    )


def predictive_train(*, workspace_id: int) -> PredictiveStatus:
    """Train, measure and store a model on the workspace's history, then score its open
    leads; with the score off or too little history, clear the model and scores instead."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    status = predictive_status(workspace_id)
    if status.state in ("off", "needs_data"):
        predictive_clear(workspace_id)
        return predictive_status(workspace_id)
    leads = list(closed_leads(workspace_id).select_related("deal").order_by("pk"))
    spec = _feature_spec(workspace_id, leads)
    counts = _event_counts(
        workspace_id, [lead.pk for lead in leads], spec.event_kinds, training_cutoff()
    )
    features = np.array([_vector(lead, spec, counts[lead.pk]) for lead in leads], dtype=float)
    labels = np.array(
        [1 if lead.deal is not None and lead.deal.status == StageKind.WON else 0 for lead in leads]
    )
    train_x, test_x, train_y, test_y = train_test_split(
        features,
        labels,
        test_size=HELD_OUT_FRACTION,
        random_state=RANDOM_STATE,
        stratify=labels,
    )
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(train_x), train_y)
    probabilities = model.predict_proba(scaler.transform(test_x))[:, 1]
    accuracy = float(accuracy_score(test_y, probabilities >= 0.5))
    roc_auc = float(roc_auc_score(test_y, probabilities))
    majority = max(float(np.mean(test_y)), 1.0 - float(np.mean(test_y)))
    names = spec.names
    with transaction.atomic():
        PredictiveModel.objects.filter(workspace_id=workspace_id, is_active=True).update(
            is_active=False
        )
        stored = PredictiveModel.objects.create(
            workspace_id=workspace_id,
            trained_at=timezone.now(),
            samples=len(leads),
            won_samples=int(labels.sum()),
            accuracy=accuracy,
            roc_auc=roc_auc,
            features=names,
            parameters={
                "spec": spec.as_json(),
                "coefficients": [float(value) for value in model.coef_[0]],
                "intercept": float(model.intercept_[0]),
                "means": [float(value) for value in scaler.mean_],
                "scales": [float(value) for value in scaler.scale_],
                "train_samples": len(train_y),
                "test_samples": len(test_y),
                "baseline_accuracy": majority,
            },
        )
        stale = PredictiveModel.objects.filter(workspace_id=workspace_id).order_by(
            "-trained_at", "-pk"
        )[MODELS_KEPT:]
        PredictiveModel.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    predict_open_leads(workspace_id, stored)
    return predictive_status(workspace_id)


# --- scoring ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    probability: float
    factors: list[dict[str, Any]]


def _factor(name: str, contribution: float, lead: Lead, counts: Counter[str]) -> dict[str, Any]:
    factor: dict[str, Any] = {"feature": name, "contribution": round(contribution, 4)}
    if name == FIRST_CONTACT_FEATURE:
        days = _first_contact_days(lead)
        factor.update(kind="first_contact", value=None if days is None else round(days, 1))
    elif name.startswith("events:"):
        kind = name.removeprefix("events:")
        factor.update(kind="events", event_kind=kind, value=counts.get(kind, 0))
    else:
        field, _sep, value = name.partition("=")
        factor.update(kind="attribute", field=field, value=value)
    # In the language of the run that wrote it; pages show factor_label in the reader's.
    factor["label"] = factor_label(factor)
    return factor


def predict(
    model: PredictiveModel, leads: Sequence[Lead], counts: dict[int, Counter[str]]
) -> list[Prediction]:
    """Probabilities of winning and each lead's top factors, from the stored numbers only."""
    parameters = model.parameters
    spec = FeatureSpec.from_json(parameters["spec"])
    names = spec.names
    coefficients = np.array(parameters["coefficients"], dtype=float)
    means = np.array(parameters["means"], dtype=float)
    scales = np.array(parameters["scales"], dtype=float)
    predictions = []
    for lead in leads:
        lead_counts = counts.get(lead.pk, Counter())
        standard = (np.array(_vector(lead, spec, lead_counts), dtype=float) - means) / scales
        contributions = standard * coefficients
        logit = float(parameters["intercept"] + contributions.sum())
        probability = 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0
        order = np.argsort(-np.abs(contributions), kind="stable")[:FACTORS_PER_LEAD]
        factors = [
            _factor(names[index], float(contributions[index]), lead, lead_counts)
            for index in order
            if abs(contributions[index]) > MIN_FACTOR_CONTRIBUTION
        ]
        predictions.append(Prediction(probability, factors))
    return predictions


def _apply(model: PredictiveModel, leads: Sequence[Lead], now: datetime) -> list[Lead]:
    spec = FeatureSpec.from_json(model.parameters["spec"])
    counts = _event_counts(
        model.workspace_id,
        [lead.pk for lead in leads],
        spec.event_kinds,
        Value(now, output_field=DateTimeField()),
    )
    for lead, prediction in zip(leads, predict(model, leads, counts), strict=True):
        lead.predicted_score = round(prediction.probability, 4)
        lead.predicted_factors = prediction.factors
    return list(leads)


def predict_open_leads(workspace_id: int, model: PredictiveModel) -> int:
    """Score the open leads in batches; returns how many."""
    now = timezone.now()
    done = 0
    last_pk = 0
    while True:
        batch = list(
            open_leads(workspace_id).filter(pk__gt=last_pk).order_by("pk")[:PREDICT_BATCH_SIZE]
        )
        if not batch:
            return done
        last_pk = batch[-1].pk
        with transaction.atomic():
            Lead.objects.bulk_update(
                _apply(model, batch, now), ["predicted_score", "predicted_factors"]
            )
        done += len(batch)


def lead_predict(*, lead: Lead) -> None:
    """Refresh one lead's predicted score (part of its rescore); null while the model is off."""
    model = active_model(lead.workspace_id)
    if model is None or not lead_settings_for(lead.workspace_id).predictive_enabled:
        if lead.predicted_score is not None or lead.predicted_factors:
            lead.predicted_score = None
            lead.predicted_factors = []
            lead.save(update_fields=["predicted_score", "predicted_factors"])
        return
    _apply(model, [lead], timezone.now())
    lead.save(update_fields=["predicted_score", "predicted_factors"])


# --- reading ------------------------------------------------------------------------------------
def factor_label(factor: dict[str, Any]) -> str:
    """A factor as people read it: "Industry: SaaS", "Clicked in an email (3 times)"."""
    kind = factor.get("kind")
    if kind == "events":
        count = int(factor.get("value") or 0)
        return ngettext("%(event)s (%(count)d time)", "%(event)s (%(count)d times)", count) % {
            "event": event_kind_label(str(factor.get("event_kind", ""))),
            "count": count,
        }
    if kind == "first_contact":
        value = factor.get("value")
        if value is None:
            return _("Not contacted yet")
        return _("First contact after %(days)s days") % {"days": value}
    return f"{field_label(str(factor.get('field', '')))}: {factor.get('value', '')}"


def feature_label(name: str) -> str:
    if name == FIRST_CONTACT_FEATURE:
        return _("Days to first contact")
    if name.startswith("events:"):
        return _("%(event)s (count)") % {"event": event_kind_label(name.removeprefix("events:"))}
    field, _sep, value = name.partition("=")
    return f"{field_label(field)}: {value}"


@dataclass(frozen=True)
class FactorBar:
    label: str
    coefficient: float
    width: float  # percent of the strongest
    y: int


def model_factor_bars(model: PredictiveModel) -> list[FactorBar]:
    """The strongest coefficients (standardised, so comparable), for the settings chart."""
    coefficients = model.parameters.get("coefficients", [])
    ranked = sorted(
        zip(model.features, coefficients, strict=False), key=lambda pair: -abs(pair[1])
    )[:FACTORS_CHARTED]
    strongest = max((abs(value) for _name, value in ranked), default=0.0) or 1.0
    return [
        FactorBar(
            feature_label(name), round(value, 2), round(abs(value) / strongest * 100, 1), i * 26
        )
        for i, (name, value) in enumerate(ranked)
    ]
