"""Rule-based lead scoring: points for the lead's attributes and for the events on its
customer's timeline, with time decay, and the MQL/SQL bands its thresholds put a lead in.

A lead's score is always `round(attribute points + decayed event points)`, computed from the
active rules, the timeline and the clock; `ScoreChange` rows explain every change of it. An
attribute rule's rows add up to its current points on the lead (so a rule that stops matching,
or whose points change, writes the difference); an event counted by a rule has one row, unique
by (lead, rule, event id), which is what makes a replayed event count once; what decay (and a
change of the rules) moves besides is one row of its own.

Scores follow the event stream: `scoring_events_received` is the outbox subscriber of
`event.*` (registered in SalesConfig.ready), run within seconds of the event's commit.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.errors import InvalidInputError
from huike.core.outbox import OutboxEvent, outbox_publish
from huike.core.tasks import enqueue_on_commit
from huike.customers.events import EVENT_KIND, OUTBOX_PREFIX, event_kind_label
from huike.customers.models import Company, Event
from huike.sales.models import (
    Lead,
    LeadHistory,
    LeadSettings,
    LeadStatus,
    ScoreBand,
    ScoreChange,
    ScoringRule,
)

# Lead fields an attribute rule may test; custom fields are "custom.<key>".
ATTRIBUTE_FIELDS = ("industry", "region", "company_size", "language", "source", "job_title")
CUSTOM_PREFIX = "custom."
# Leads still being worked: scores of converted and unqualified leads stay as they ended.
CLOSED_STATUSES = (LeadStatus.CONVERTED, LeadStatus.UNQUALIFIED)
# Score history shown on a lead (the rest is in the API's score history).
LEAD_SCORE_HISTORY_SHOWN = 20
SECONDS_PER_DAY = 86400.0
# Company sizes in order, so "company size at least 50-249" compares bands, not strings.
COMPANY_SIZE_ORDER = [size for size, _label in Company.Size.choices if size]
# A rule "without a limit" still counts at most this many recent occurrences: each counted
# event is a ScoreChange row, and a bot that loads a page 100,000 times must not write 100,000.
UNLIMITED_OCCURRENCES_CAP = 1000
BAND_RANK = {ScoreBand.NONE: 0, ScoreBand.MQL: 1, ScoreBand.SQL: 2}


def field_label(field: str) -> str:
    labels = {
        "industry": _("Industry"),
        "region": _("Region"),
        "company_size": _("Company size"),
        "language": _("Language"),
        "source": _("Source"),
        "job_title": _("Job title"),
    }
    if field.startswith(CUSTOM_PREFIX):
        return field.removeprefix(CUSTOM_PREFIX)
    return labels.get(field, field)


def open_leads(workspace_id: int) -> QuerySet[Lead]:
    return Lead.objects.filter(workspace_id=workspace_id).exclude(status__in=CLOSED_STATUSES)


def lead_settings_for(workspace_id: int) -> LeadSettings:
    settings, _created = LeadSettings.objects.get_or_create(workspace_id=workspace_id)
    return settings


# --- attribute rules ----------------------------------------------------------------------------
def lead_field_value(lead: Lead, field: str) -> Any:
    if field.startswith(CUSTOM_PREFIX):
        return (lead.custom_fields or {}).get(field.removeprefix(CUSTOM_PREFIX))
    if field in ATTRIBUTE_FIELDS:
        return getattr(lead, field)
    return None


def _text(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


def _number(field: str, value: Any) -> float | None:
    """A comparable number: a company size's position in the size bands, else the value."""
    if field == "company_size":
        return float(COMPANY_SIZE_ORDER.index(value)) if value in COMPANY_SIZE_ORDER else None
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _equals(field: str, actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equals(field, item, expected) for item in actual)
    return _text(actual) == _text(expected) and _text(actual) != ""


def _contains(field: str, actual: Any, expected: Any) -> bool:
    needle = _text(expected)
    if isinstance(actual, list):
        return any(_text(item) == needle for item in actual)
    return bool(needle) and needle in _text(actual)


def _compare(check: Callable[[float, float], bool]) -> Callable[[str, Any, Any], bool]:
    def compare(field: str, actual: Any, expected: Any) -> bool:
        left, right = _number(field, actual), _number(field, expected)
        return left is not None and right is not None and check(left, right)

    return compare


def _present(field: str, actual: Any, expected: Any) -> bool:
    return actual not in (None, "", [], {})


OPERATORS: dict[str, Callable[[str, Any, Any], bool]] = {
    ScoringRule.Operator.EQUALS: _equals,
    ScoringRule.Operator.IN: lambda field, actual, expected: any(
        _equals(field, actual, item) for item in _values(expected)
    ),
    ScoringRule.Operator.CONTAINS: _contains,
    ScoringRule.Operator.AT_LEAST: _compare(lambda left, right: left >= right),
    ScoringRule.Operator.AT_MOST: _compare(lambda left, right: left <= right),
    ScoringRule.Operator.PRESENT: _present,
}


def rule_matches(rule: ScoringRule, lead: Lead) -> bool:
    check = OPERATORS.get(rule.operator)
    return check is not None and check(rule.field, lead_field_value(lead, rule.field), rule.value)


def rule_condition(rule: ScoringRule) -> str:
    """What the rule looks for, as people read it: "Industry is SaaS", "email.clicked"."""
    if rule.kind == ScoringRule.Kind.EVENT:
        return event_kind_label(rule.event_kind)
    operator = ScoringRule.Operator(rule.operator).label if rule.operator else ""
    if rule.operator == ScoringRule.Operator.PRESENT:
        return f"{field_label(rule.field)} {operator}"
    value = ", ".join(str(item) for item in _values(rule.value))
    return f"{field_label(rule.field)} {operator} {value}"


def signed(points: int) -> str:
    """+10 or U+2212 and 3 (a real minus sign: these are read, not parsed)."""
    return f"+{points}" if points >= 0 else f"\u2212{-points}"


# --- the score ----------------------------------------------------------------------------------
def event_points(rule: ScoringRule, occurred_at: datetime, now: datetime) -> float:
    """The rule's points for one occurrence at `occurred_at`: halved every half-life."""
    if rule.half_life_days == 0:
        return float(rule.points)
    age_days = max((now - occurred_at).total_seconds(), 0.0) / SECONDS_PER_DAY
    return float(rule.points * 0.5 ** (age_days / rule.half_life_days))


def round_points(value: float) -> int:
    """Half away from zero (2.5 → 3, -2.5 → -3), not Python's round-half-to-even."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


@dataclass(frozen=True)
class CountedEvent:
    rule: ScoringRule
    event_id: int
    kind: str
    points: float


def counted_events(lead: Lead, rules: Iterable[ScoringRule], now: datetime) -> list[CountedEvent]:
    """The events each event rule counts on the lead's customer: the most recent
    `max_occurrences` of its kind (UNLIMITED_OCCURRENCES_CAP without a limit), with their
    decayed points."""
    counted: list[CountedEvent] = []
    for rule in rules:
        events = (
            Event.objects.filter(
                workspace_id=lead.workspace_id, customer_id=lead.customer_id, kind=rule.event_kind
            )
            .order_by("-occurred_at", "-id")
            .values_list("pk", "occurred_at")
        )
        events = events[: rule.max_occurrences or UNLIMITED_OCCURRENCES_CAP]
        counted.extend(
            CountedEvent(rule, event_id, rule.event_kind, event_points(rule, occurred_at, now))
            for event_id, occurred_at in events
        )
    return counted


def _active_rules(workspace_id: int) -> list[ScoringRule]:
    return list(ScoringRule.objects.filter(workspace_id=workspace_id, is_active=True))


class _Scorer:
    """One recalculation of one lead, writing the ScoreChange rows as it goes."""

    def __init__(self, lead: Lead, now: datetime) -> None:
        self.lead = lead
        self.now = now
        self.score = lead.score
        self.rules = _active_rules(lead.workspace_id)

    def write(
        self, points: int, reason: str, rule: ScoringRule | None = None, event_id: int | None = None
    ) -> None:
        self.score += points
        ScoreChange.objects.create(
            workspace_id=self.lead.workspace_id,
            lead=self.lead,
            rule=rule,
            event_id=event_id,
            points=points,
            score_after=self.score,
            reason=reason[:300],
            created_at=self.now,
        )

    def attributes(self) -> int:
        """Bring every attribute rule's points on the lead to what it earns now; returns the
        attribute points the lead earns."""
        earned = {
            rule.pk: rule.points
            for rule in self.rules
            if rule.kind == ScoringRule.Kind.ATTRIBUTE and rule_matches(rule, self.lead)
        }
        held: dict[int, int] = defaultdict(int)
        for rule_id, points in ScoreChange.objects.filter(
            lead=self.lead, event_id__isnull=True, rule__kind=ScoringRule.Kind.ATTRIBUTE
        ).values_list("rule_id", "points"):
            held[rule_id] += points
        rules = {rule.pk: rule for rule in self.rules}
        missing = [rule_id for rule_id in held if rule_id not in rules]
        rules.update(ScoringRule.objects.in_bulk(missing))
        for rule_id in sorted(set(earned) | set(held)):
            delta = earned.get(rule_id, 0) - held.get(rule_id, 0)
            if delta == 0:
                continue
            rule = rules[rule_id]
            condition = rule_condition(rule)
            if rule_id not in earned:
                condition = _("No longer: %(condition)s") % {"condition": condition}
            self.write(delta, f"{condition}: {signed(delta)}", rule=rule)
        return sum(earned.values())

    def events(self) -> float:
        """Count the events not counted yet (one row each); returns the decayed points of all
        the events the rules count."""
        rules = [rule for rule in self.rules if rule.kind == ScoringRule.Kind.EVENT]
        counted = counted_events(self.lead, rules, self.now)
        seen = set(
            ScoreChange.objects.filter(lead=self.lead, event_id__isnull=False).values_list(
                "rule_id", "event_id"
            )
        )
        for item in sorted(counted, key=lambda item: item.event_id):
            if (item.rule.pk, item.event_id) in seen:
                continue
            points = round_points(item.points)
            self.write(
                points,
                f"{item.kind}: {signed(points)}",
                rule=item.rule,
                event_id=item.event_id,
            )
        return sum(item.points for item in counted)

    def settle(self, target: int, reason: str | None) -> None:
        """What the rows written so far do not explain (decay, changed rules): one row,
        "decay" unless the caller knows better."""
        rest = target - self.score
        if rest:
            reason = reason or (_("decay") if rest < 0 else _("recalculated"))
            self.write(rest, f"{reason}: {signed(rest)}")


def _band_for(score: int, settings: LeadSettings) -> str:
    if score >= settings.sql_threshold:
        return ScoreBand.SQL
    if score >= settings.mql_threshold:
        return ScoreBand.MQL
    return ScoreBand.NONE


def _save_score(lead: Lead, score: int, now: datetime) -> None:
    """Store the score and move the band (thresholds may have moved under an unchanged
    score); a band reached upward is recorded and published. Writes nothing when neither
    changed."""
    settings = lead_settings_for(lead.workspace_id)
    band = _band_for(score, settings)
    previous_band = lead.score_band
    if (score, band) == (lead.score, previous_band) and lead.score_updated_at is not None:
        return
    lead.score = score
    lead.score_band = band
    lead.score_updated_at = now
    lead.save(update_fields=["score", "score_band", "score_updated_at", "updated_at"])
    if BAND_RANK[ScoreBand(band)] > BAND_RANK[ScoreBand(previous_band)]:
        LeadHistory.objects.create(
            workspace_id=lead.workspace_id,
            lead=lead,
            kind=LeadHistory.Kind.QUALIFIED,
            details={"band": band, "from_band": previous_band, "score": score},
            created_at=now,
        )
        outbox_publish(
            workspace_id=lead.workspace_id,
            kind="lead.qualified",
            payload={
                "lead_id": lead.pk,
                "lead_public_id": str(lead.public_id),
                "customer_id": lead.customer_id,
                "band": band,
                "score": score,
            },
        )


def lead_score_attributes(*, lead: Lead) -> None:
    """Apply the attribute rules to a new or changed lead: write a ScoreChange for each rule
    whose points on the lead change, and move the band. A lead with no score history yet
    also gets the points of the events already on its customer's timeline (a known customer
    who read the pricing page last week is not a cold lead).

    The caller holds the lead's row in a transaction (lead_capture, a lead update)."""
    with transaction.atomic():
        if not ScoreChange.objects.filter(lead=lead).exists():
            _rescore(lead, reason=None)
            return
        now = timezone.now()
        scorer = _Scorer(lead, now)
        scorer.attributes()
        _save_score(lead, scorer.score, now)


def lead_rescore(*, lead: Lead) -> None:
    """Recompute the lead's score from the active rules, its timeline and the clock (decay
    included), write the changes, move the band and refresh the predictive score. Locks the
    lead's row for the caller's transaction (or its own)."""
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        _rescore(locked, reason=None)
        for name in ("score", "score_band", "score_updated_at", "predicted_score"):
            setattr(lead, name, getattr(locked, name))
        lead.predicted_factors = locked.predicted_factors


def _rescore(lead: Lead, *, reason: str | None) -> None:
    # Imported here: the predictive model reads this module's open-lead helpers.
    from huike.sales.predictive import lead_predict

    now = timezone.now()
    scorer = _Scorer(lead, now)
    attribute_points = scorer.attributes()
    event_total = scorer.events()
    target = round_points(attribute_points + event_total)
    scorer.settle(target, reason)
    _save_score(lead, target, now)
    lead_predict(lead=lead)


def lead_rescore_with_reason(*, lead_id: int, reason: str | None = None) -> bool:
    """lead_rescore for a batch job (decay, changed rules), naming what moved the score;
    False when the lead is gone or no longer open."""
    with transaction.atomic():
        lead = open_leads_any().select_for_update().filter(pk=lead_id).first()
        if lead is None:
            return False
        _rescore(lead, reason=reason)
    return True


def open_leads_any() -> QuerySet[Lead]:
    return Lead.objects.exclude(status__in=CLOSED_STATUSES)


# --- the event stream ---------------------------------------------------------------------------
def _kind_scores(workspace_id: int, kind: str) -> bool:
    """Whether events of `kind` move a score: an active rule counts them, or the active
    predictive model has their count as a feature."""
    from huike.sales.predictive import active_model

    if ScoringRule.objects.filter(
        workspace_id=workspace_id, kind=ScoringRule.Kind.EVENT, event_kind=kind, is_active=True
    ).exists():
        return True
    model = active_model(workspace_id)
    return model is not None and kind in model.parameters.get("spec", {}).get("event_kinds", [])


def scoring_events_received(event: OutboxEvent) -> None:
    """Outbox subscriber of `event.*`: rescore the open leads of the customers the events are
    about, when the kind moves a score (a rule, or the predictive model). Idempotent: an
    event already counted has its ScoreChange (unique by lead, rule and event), so a message
    delivered again adds nothing."""
    if not _kind_scores(event.workspace_id, event.kind.removeprefix(OUTBOX_PREFIX)):
        return
    customer_ids = [int(pk) for pk in event.payload.get("customer_ids", [])]
    if not customer_ids:
        return
    leads = open_leads(event.workspace_id).filter(customer_id__in=customer_ids)
    for lead_id in leads.order_by("pk").values_list("pk", flat=True):
        lead_rescore_with_reason(lead_id=lead_id)


# --- rules --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoringRuleData:
    name: str
    kind: str
    points: int
    field: str = ""
    operator: str = ""
    value: Any = None
    event_kind: str = ""
    half_life_days: int = 0
    max_occurrences: int = 0
    is_active: bool = True


def _clean_value(field: str, operator: str, value: Any) -> Any:
    if operator == ScoringRule.Operator.PRESENT:
        return None
    if operator == ScoringRule.Operator.IN:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            items = [items]
        cleaned = [str(item).strip() for item in items if str(item).strip()]
        if not cleaned:
            raise InvalidInputError(_("Give at least one value."), field="value")
        return cleaned
    if isinstance(value, list | dict) or value is None or str(value).strip() == "":
        raise InvalidInputError(_("Give the value to compare with."), field="value")
    if operator in (ScoringRule.Operator.AT_LEAST, ScoringRule.Operator.AT_MOST):
        if _number(field, value) is None:
            if field == "company_size":
                raise InvalidInputError(
                    _("Choose one of the company sizes: %(sizes)s.")
                    % {"sizes": ", ".join(COMPANY_SIZE_ORDER)},
                    field="value",
                )
            raise InvalidInputError(_("At least and at most compare numbers."), field="value")
        if field == "company_size":
            return value
        number = _number(field, value)
        return int(number) if number is not None and number.is_integer() else number
    return str(value).strip() if isinstance(value, str) else value


def scoring_rule_clean(data: ScoringRuleData) -> dict[str, Any]:
    """The model fields of a valid rule; InvalidInputError naming the field otherwise."""
    name = data.name.strip()
    if not name:
        raise InvalidInputError(_("A rule needs a name."), field="name")
    if isinstance(data.points, bool) or not isinstance(data.points, int) or data.points == 0:
        raise InvalidInputError(_("Points are a whole number other than 0."), field="points")
    if data.half_life_days < 0 or data.max_occurrences < 0:
        field = "half_life_days" if data.half_life_days < 0 else "max_occurrences"
        raise InvalidInputError(_("This cannot be negative."), field=field)
    values: dict[str, Any] = {
        "name": name[:100],
        "kind": data.kind,
        "points": data.points,
        "is_active": data.is_active,
        "field": "",
        "operator": "",
        "value": None,
        "event_kind": "",
        "half_life_days": 0,
        "max_occurrences": 0,
    }
    if data.kind == ScoringRule.Kind.ATTRIBUTE:
        field = data.field.strip()
        custom_key = field.removeprefix(CUSTOM_PREFIX)
        if field not in ATTRIBUTE_FIELDS and not (
            field.startswith(CUSTOM_PREFIX) and custom_key and len(field) <= 100
        ):
            raise InvalidInputError(
                _("Choose a lead field (%(fields)s) or custom.<key>.")
                % {"fields": ", ".join(ATTRIBUTE_FIELDS)},
                field="field",
            )
        if data.operator not in ScoringRule.Operator.values:
            raise InvalidInputError(_("Choose an operator."), field="operator")
        values.update(
            field=field,
            operator=data.operator,
            value=_clean_value(field, data.operator, data.value),
        )
    elif data.kind == ScoringRule.Kind.EVENT:
        kind = data.event_kind.strip()
        if not EVENT_KIND.fullmatch(kind) or len(kind) > 100:
            raise InvalidInputError(
                _("An event kind is dotted lower-case, like page.viewed or email.clicked."),
                field="event_kind",
            )
        values.update(
            event_kind=kind,
            half_life_days=data.half_life_days,
            max_occurrences=data.max_occurrences,
        )
    else:
        raise InvalidInputError(_("A rule is about an attribute or an event."), field="kind")
    return values


def _rules_changed(workspace_id: int) -> None:
    from huike.sales.tasks_scoring import rescore_workspace_leads

    enqueue_on_commit(rescore_workspace_leads, workspace_id)


def scoring_rule_create(*, actor: Actor, data: ScoringRuleData) -> ScoringRule:
    """Create a rule (leads.configure); the workspace's open leads are rescored after commit.
    Raises InvalidInputError naming the field."""
    actor.require("leads.configure")
    values = scoring_rule_clean(data)
    with transaction.atomic():
        last = (
            ScoringRule.objects.filter(workspace=actor.workspace)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        rule = ScoringRule.objects.create(
            workspace=actor.workspace, position=(last or 0) + 1, **values
        )
        _rules_changed(actor.workspace.pk)
    return rule


def scoring_rule_update(*, actor: Actor, rule: ScoringRule, data: ScoringRuleData) -> ScoringRule:
    """Replace the rule's settings (leads.configure); open leads are rescored after commit."""
    actor.require("leads.configure")
    values = scoring_rule_clean(data)
    with transaction.atomic():
        for name, value in values.items():
            setattr(rule, name, value)
        rule.save()
        _rules_changed(actor.workspace.pk)
    return rule


def scoring_rule_activate(*, actor: Actor, rule: ScoringRule, is_active: bool) -> ScoringRule:
    actor.require("leads.configure")
    with transaction.atomic():
        rule.is_active = is_active
        rule.save(update_fields=["is_active", "updated_at"])
        _rules_changed(actor.workspace.pk)
    return rule


def scoring_rule_delete(*, actor: Actor, rule: ScoringRule) -> None:
    """Delete the rule; the points it gave leave the open leads' scores at the rescore (their
    history rows stay, without the rule)."""
    actor.require("leads.configure")
    with transaction.atomic():
        rule.delete()
        _rules_changed(actor.workspace.pk)


def lead_thresholds_update(
    *, actor: Actor, mql_threshold: int, sql_threshold: int, predictive_enabled: bool
) -> LeadSettings:
    """Set the MQL and SQL thresholds and whether the predictive score is used
    (leads.configure). Open leads move bands after commit; turning the predictive score off
    clears it at once."""
    actor.require("leads.configure")
    if mql_threshold < 1:
        raise InvalidInputError(_("The MQL threshold is at least 1."), field="mql_threshold")
    if sql_threshold <= mql_threshold:
        raise InvalidInputError(
            _("The SQL threshold must be above the MQL threshold."), field="sql_threshold"
        )
    with transaction.atomic():
        settings = LeadSettings.objects.select_for_update().get(
            pk=lead_settings_for(actor.workspace.pk).pk
        )
        changed = (settings.mql_threshold, settings.sql_threshold) != (
            mql_threshold,
            sql_threshold,
        )
        settings.mql_threshold = mql_threshold
        settings.sql_threshold = sql_threshold
        settings.predictive_enabled = predictive_enabled
        settings.save(
            update_fields=["mql_threshold", "sql_threshold", "predictive_enabled", "updated_at"]
        )
        if not predictive_enabled:
            from huike.sales.predictive import predictive_clear

            predictive_clear(actor.workspace.pk)
        if changed:
            _rules_changed(actor.workspace.pk)
    return settings


# --- reading ------------------------------------------------------------------------------------
def decaying_leads(workspace_id: int) -> QuerySet[Lead]:
    """Open leads holding points of an active rule with a half-life: decay moves their score."""
    rules = ScoringRule.objects.filter(
        workspace_id=workspace_id,
        kind=ScoringRule.Kind.EVENT,
        is_active=True,
        half_life_days__gt=0,
    )
    held = ScoreChange.objects.filter(
        workspace_id=workspace_id, rule__in=rules, event_id__isnull=False
    )
    return open_leads(workspace_id).filter(Q(pk__in=held.values("lead_id")))


def lead_score_context(lead: Lead) -> dict[str, Any]:
    """What the lead page's score panel (sales/scoring/_lead_score.html) shows."""
    from huike.sales.predictive import factor_label, predictive_status

    changes = list(lead.score_changes.all()[:LEAD_SCORE_HISTORY_SHOWN])
    settings = lead_settings_for(lead.workspace_id)
    status = predictive_status(lead.workspace_id)
    factors = [
        {**factor, "label": factor_label(factor)} for factor in (lead.predicted_factors or [])
    ]
    return {
        "lead": lead,
        "score_changes": changes,
        "score_settings": settings,
        "score_predictive": status,
        "score_factors": factors,
        "score_probability": (
            round(lead.predicted_score * 100) if lead.predicted_score is not None else None
        ),
    }
