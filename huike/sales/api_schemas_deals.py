"""Request and response schemas of the pipelines and deals API.

Objects are named by their public UUID (`id`); amounts are decimal strings, null for roles
without `amounts.view`. PATCH schemas apply only the fields present.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from huike.sales.deals import MAX_STAGES
from huike.sales.models import Activity, DealContact, DealStageChange, Stage

StageType = Literal["open", "won", "lost"]
DealStatus = Literal["open", "won", "lost"]
ForecastCategoryName = Literal["pipeline", "best_case", "commit", "omitted"]
ActivityKind = Literal["call", "meeting", "visit", "email", "note"]
ContactRole = Literal["decision_maker", "champion", "influencer", "user", "finance", "other"]


# --- pipelines ------------------------------------------------------------------------------
class StageIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    type: StageType
    probability: int = Field(ge=0, le=100, description="Win probability in percent.")


class StageAddIn(StageIn):
    position: int | None = Field(
        default=None, ge=1, description="1-based place among the stages; omit for the end."
    )


class StagePatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    type: StageType | None = Field(
        default=None, description="Only while no deal is in the stage (409 otherwise)."
    )
    probability: int | None = Field(default=None, ge=0, le=100)


class StageOut(Schema):
    id: uuid.UUID
    name: str
    type: str
    probability: int
    position: int

    @staticmethod
    def resolve_id(obj: Stage) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_type(obj: Stage) -> str:
        return obj.kind


class PipelineIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="Of new deals; default: workspace."
    )
    stages: list[StageIn] = Field(min_length=1, max_length=MAX_STAGES)


class PipelinePatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    is_default: bool | None = None
    is_archived: bool | None = None
    stage_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_STAGES,
        description="Every stage of the pipeline, in the new order.",
    )


class PipelineOut(Schema):
    id: uuid.UUID
    name: str
    currency: str
    is_default: bool
    is_archived: bool
    stages: list[StageOut]
    created_at: dt.datetime
    updated_at: dt.datetime


# --- deals ----------------------------------------------------------------------------------
class DealFieldsIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    customer_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    owner: uuid.UUID | None = Field(default=None, description="A member's id; null: nobody.")
    expected_close_date: dt.date | None = None
    next_step: str | None = Field(default=None, max_length=300)
    forecast_category: ForecastCategoryName | None = None


class DealIn(DealFieldsIn):
    name: str = Field(min_length=1, max_length=200)
    pipeline_id: uuid.UUID | None = Field(
        default=None, description="Default: the workspace's default pipeline."
    )
    stage_id: uuid.UUID | None = Field(
        default=None, description="An open stage of the pipeline; default: its first one."
    )
    owner: uuid.UUID | None = Field(default=None, description="Default: the caller.")


class DealPatchIn(DealFieldsIn):
    stage_id: uuid.UUID | None = Field(
        default=None, description="Moves the deal (stage history, won/lost side effects)."
    )
    lost_reason: str | None = Field(
        default=None, max_length=300, description="Required when moving to a lost stage."
    )


class DealOut(Schema):
    id: uuid.UUID
    name: str
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    status: str
    probability: int
    amount: str | None = Field(description="Decimal string; null without amounts.view.")
    currency: str
    customer_id: uuid.UUID | None
    company_id: uuid.UUID | None
    lead_id: uuid.UUID | None
    owner: uuid.UUID | None = Field(description="The owning member's id.")
    expected_close_date: dt.date | None
    next_step: str
    lost_reason: str
    forecast_category: str
    stage_entered_at: dt.datetime
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DealQuery(Schema):
    pipeline: uuid.UUID | None = None
    stage: uuid.UUID | None = None
    status: DealStatus | None = None
    owner: uuid.UUID | None = None
    customer: uuid.UUID | None = None
    company: uuid.UUID | None = None
    q: str = Field(default="", max_length=100, description="Part of the deal's name.")
    expected_close_from: dt.date | None = None
    expected_close_to: dt.date | None = None


# --- history, activities, contacts, products ------------------------------------------------
class StageChangeOut(Schema):
    from_stage_id: uuid.UUID | None
    to_stage_id: uuid.UUID
    to_stage: str
    seconds_in_from: int | None = Field(description="Time spent in the stage left.")
    actor: uuid.UUID | None
    changed_at: dt.datetime

    @staticmethod
    def resolve_from_stage_id(obj: DealStageChange) -> uuid.UUID | None:
        return obj.from_stage.public_id if obj.from_stage is not None else None

    @staticmethod
    def resolve_to_stage_id(obj: DealStageChange) -> uuid.UUID:
        return obj.to_stage.public_id

    @staticmethod
    def resolve_to_stage(obj: DealStageChange) -> str:
        return obj.to_stage.name

    @staticmethod
    def resolve_actor(obj: DealStageChange) -> uuid.UUID | None:
        return obj.actor.public_id if obj.actor is not None else None


class ActivityIn(Schema):
    type: ActivityKind
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)
    occurred_at: dt.datetime | None = Field(default=None, description="Default: now.")
    duration_minutes: int | None = Field(default=None, ge=0, le=1440)


class ActivityOut(Schema):
    id: uuid.UUID
    type: str
    subject: str
    body: str
    occurred_at: dt.datetime
    duration_minutes: int | None
    author: uuid.UUID | None
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Activity) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_type(obj: Activity) -> str:
        return obj.kind

    @staticmethod
    def resolve_author(obj: Activity) -> uuid.UUID | None:
        return obj.author.public_id if obj.author is not None else None


class ContactIn(Schema):
    customer_id: uuid.UUID
    role: ContactRole = "other"


class ContactOut(Schema):
    customer_id: uuid.UUID
    name: str
    role: str
    created_at: dt.datetime

    @staticmethod
    def resolve_customer_id(obj: DealContact) -> uuid.UUID:
        return obj.customer.public_id

    @staticmethod
    def resolve_name(obj: DealContact) -> str:
        return obj.customer.name


class ProductLineIn(Schema):
    product_id: uuid.UUID
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal | None = Field(
        default=None, ge=0, max_digits=14, decimal_places=2, description="Default: the catalog's."
    )


class ProductLinePatchIn(Schema):
    quantity: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)


class ProductLineOut(Schema):
    id: int = Field(description="The line's number, unique within the deal.")
    product_id: uuid.UUID
    sku: str
    name: str
    quantity: str
    unit_price: str | None
    line_total: str | None


def line_out(line: Any, *, show_amounts: bool) -> dict[str, Any]:
    return {
        "id": line.pk,
        "product_id": line.product.public_id,
        "sku": line.product.sku,
        "name": line.product.name,
        "quantity": f"{line.quantity:f}",
        "unit_price": f"{line.unit_price:.2f}" if show_amounts else None,
        "line_total": f"{line.quantity * line.unit_price:.2f}" if show_amounts else None,
    }
