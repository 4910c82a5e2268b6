"""Request and response schemas of the lead-assignment API (`/assignment-rules`).

Rules, members and teams are named by their public UUID. `…In` is what clients send (the PATCH
schema applies only the fields present), `…Out` what they get back.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from huike.accounts.api_schemas import MemberRef, TeamRef
from huike.sales.assignment import (
    MAX_CAPACITY,
    MAX_CONDITION_VALUES,
    MAX_RULE_MEMBERS,
    MAX_RULE_NAME_LENGTH,
    MAX_SLA_MINUTES,
    RuleConditions,
)
from huike.sales.models import AssignmentRule, AssignmentStrategy, LeadSource

Strategy = Literal["round_robin", "least_load", "owner"]
Source = Literal["web_form", "channel", "api", "import", "manual"]
assert set(Strategy.__args__) == set(AssignmentStrategy.values)  # type: ignore[attr-defined]
assert set(Source.__args__) == set(LeadSource.values)  # type: ignore[attr-defined]

# The most rules one reorder may name (a workspace has a few dozen at most).
MAX_REORDER_IDS = 500


class ConditionsIn(Schema):
    """Empty lists match any lead; values compare ignoring case."""

    regions: list[str] = Field(default_factory=list, max_length=MAX_CONDITION_VALUES)
    sources: list[Source] = Field(default_factory=list, max_length=MAX_CONDITION_VALUES)
    industries: list[str] = Field(default_factory=list, max_length=MAX_CONDITION_VALUES)
    languages: list[str] = Field(default_factory=list, max_length=MAX_CONDITION_VALUES)
    min_score: int | None = Field(default=None, description="Lowest score taken (inclusive).")
    max_score: int | None = Field(default=None, description="Highest score taken (inclusive).")


class ConditionsOut(Schema):
    regions: list[str]
    sources: list[str]
    industries: list[str]
    languages: list[str]
    min_score: int | None
    max_score: int | None


class AssignmentRulePatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_RULE_NAME_LENGTH)
    is_active: bool | None = None
    conditions: ConditionsIn | None = None
    strategy: Strategy | None = None
    owner_id: uuid.UUID | None = Field(
        default=None, description="The member who gets every lead (strategy `owner`)."
    )
    member_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_RULE_MEMBERS,
        description="The reps a round-robin or least-load rule shares leads between.",
    )
    team_id: uuid.UUID | None = Field(
        default=None, description="Without members: the team whose members share the leads."
    )
    capacity: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CAPACITY,
        description="Open leads a rep may hold under this rule; null: the claim limit.",
    )
    sla_minutes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SLA_MINUTES,
        description="First contact expected within this many minutes; null: no SLA.",
    )


class AssignmentRuleIn(AssignmentRulePatchIn):
    name: str = Field(min_length=1, max_length=MAX_RULE_NAME_LENGTH)
    is_active: bool = True
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)
    strategy: Strategy
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_RULE_MEMBERS)


class AssignmentRuleOut(Schema):
    id: uuid.UUID
    name: str
    position: int
    is_active: bool
    conditions: ConditionsOut
    strategy: str
    owner: MemberRef | None
    members: list[MemberRef]
    team: TeamRef | None
    capacity: int | None
    sla_minutes: int | None
    last_assigned: MemberRef | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: AssignmentRule) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_conditions(obj: AssignmentRule) -> dict[str, Any]:
        return RuleConditions.of(obj).as_json()

    @staticmethod
    def resolve_members(obj: AssignmentRule) -> list[Any]:
        return sorted(obj.members.all(), key=lambda member: member.pk)


class ReorderIn(Schema):
    ids: list[uuid.UUID] = Field(
        max_length=MAX_REORDER_IDS,
        description="Rules in their new order; rules not named follow in their current order.",
    )


class AssignPendingOut(Schema):
    assigned: int = Field(description="Pool leads that got an owner.")
