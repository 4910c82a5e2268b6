"""Request and response schemas of the lead-scoring API (rules, a lead's score history, the
predictive model's status)."""

import datetime as dt
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from huike.sales.models import ScoreChange, ScoringRule

RuleKind = Literal["attribute", "event"]
RuleOperator = Literal["eq", "in", "contains", "gte", "lte", "present", ""]


class ScoringRuleIn(Schema):
    name: str = Field(max_length=100)
    kind: RuleKind
    points: int = Field(description="Points added (negative: taken away); not 0.")
    field: str = Field(
        default="",
        max_length=100,
        description="Attribute rules: industry, region, company_size, language, source, "
        "job_title, or custom.<key> (the lead's custom fields).",
    )
    operator: RuleOperator = Field(
        default="", description="Attribute rules: eq, in, contains, gte, lte or present."
    )
    value: Any = Field(
        default=None,
        description="What the field is compared with: a string or number; a list for `in`; "
        "none for `present`. Company sizes compare as bands (gte 50-249).",
    )
    event_kind: str = Field(
        default="", max_length=100, description="Event rules: page.viewed, email.clicked…"
    )
    half_life_days: int = Field(
        default=0, ge=0, description="Event points halve every this many days; 0: no decay."
    )
    max_occurrences: int = Field(
        default=0, ge=0, description="Most recent occurrences counted; 0: all."
    )
    is_active: bool = True


class ScoringRulePatchIn(Schema):
    name: str | None = Field(default=None, max_length=100)
    kind: RuleKind | None = None
    points: int | None = None
    field: str | None = Field(default=None, max_length=100)
    operator: RuleOperator | None = None
    value: Any = None
    event_kind: str | None = Field(default=None, max_length=100)
    half_life_days: int | None = Field(default=None, ge=0)
    max_occurrences: int | None = Field(default=None, ge=0)
    is_active: bool | None = None


class ScoringRuleOut(Schema):
    id: uuid.UUID
    name: str
    kind: str
    field: str
    operator: str
    value: Any
    event_kind: str
    points: int
    half_life_days: int
    max_occurrences: int
    is_active: bool
    position: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_id(obj: ScoringRule) -> uuid.UUID:
        return obj.public_id


class ScoreChangeOut(Schema):
    points: int
    score_after: int
    reason: str
    rule_id: uuid.UUID | None = Field(description="The rule that gave the points, if it exists.")
    event_id: uuid.UUID | None = Field(description="The timeline event that earned them.")
    created_at: dt.datetime

    @staticmethod
    def resolve_rule_id(obj: ScoreChange) -> uuid.UUID | None:
        return obj.rule.public_id if obj.rule is not None else None

    @staticmethod
    def resolve_event_id(obj: ScoreChange) -> uuid.UUID | None:
        found: uuid.UUID | None = getattr(obj, "event_public_id", None)
        return found


class ModelFactorOut(Schema):
    label: str
    coefficient: float = Field(description="Per standard deviation of the feature.")


class PredictiveModelOut(Schema):
    state: Literal["off", "needs_data", "ready", "trained"]
    message: str
    enabled: bool
    closed_leads: int
    won: int
    not_won: int
    needed: int = Field(description="More closed leads needed before the model is used.")
    trained_at: dt.datetime | None = None
    samples: int | None = None
    accuracy: float | None = Field(default=None, description="On held-out leads.")
    roc_auc: float | None = None
    baseline_accuracy: float | None = Field(
        default=None, description="Always guessing the commoner outcome, on the same leads."
    )
    factors: list[ModelFactorOut] = []
