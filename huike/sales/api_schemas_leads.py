"""Request and response shapes of the leads API (huike.sales.api_leads)."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from huike.accounts.api_schemas import MemberRef
from huike.customers.api_schemas import NamedRef
from huike.sales.models import LeadHistory

LeadStatusName = Literal["new", "contacted", "qualified", "unqualified", "converted"]
SourceName = Literal["web_form", "channel", "api", "import", "manual"]


class CustomerRef(Schema):
    id: uuid.UUID
    name: str
    lifecycle_stage: str

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        public_id: uuid.UUID = obj.public_id
        return public_id


class LeadQuery(Schema):
    status: Literal["", "open", "new", "contacted", "qualified", "unqualified", "converted"] = (
        Field(default="", description="A status, or `open` for new, contacted and qualified.")
    )
    owner: str = Field(
        default="", max_length=36, description="`me`, `none` (the pool) or a member's id."
    )
    pool: bool = Field(default=False, description="Only unassigned leads (needs leads.claim).")
    source: SourceName | Literal[""] = ""
    score_min: int | None = None
    score_max: int | None = None
    band: Literal["", "mql", "sql", "none"] = ""
    q: str = Field(default="", max_length=100, description="Name or company contains.")


class RevealQuery(Schema):
    reveal: bool = Field(
        default=False, description="Plain phone and email (pii.reveal; every reveal audited)."
    )


class IdentityIn(Schema):
    kind: str = Field(max_length=100, description="wechat_openid:<appid>, whatsapp, …")
    value: str = Field(max_length=500)


class LeadIn(Schema):
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    company_name: str = Field(default="", max_length=200)
    job_title: str = Field(default="", max_length=100)
    industry: str = Field(default="", max_length=100)
    region: str = Field(default="", max_length=100)
    company_size: str = Field(default="", max_length=16)
    language: str = Field(default="", max_length=16)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    source_detail: dict[str, str] = Field(
        default_factory=dict,
        description="utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, "
        "landing_page; other keys are ignored.",
    )
    owner_id: uuid.UUID | None = Field(
        default=None,
        description="Give it to this member (yourself, or anyone with leads.assign); omit to "
        "let the assignment rules decide.",
    )
    note: str = Field(default="", max_length=10_000, description="The lead's first note.")


class LeadPatchIn(Schema):
    name: str | None = Field(default=None, max_length=200)
    company_name: str | None = Field(default=None, max_length=200)
    job_title: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    company_size: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=16)
    custom_fields: dict[str, Any] | None = None
    status: Literal["new", "contacted", "qualified", "unqualified"] | None = None
    unqualified_reason: str = Field(
        default="", max_length=200, description="Required with status `unqualified`."
    )


class LeadOut(Schema):
    id: uuid.UUID
    status: str
    unqualified_reason: str
    source: str
    source_detail: dict[str, Any]
    name: str
    phone: str | None = Field(description="Masked unless revealed.")
    email: str | None = Field(description="Masked unless revealed.")
    company_name: str
    job_title: str
    industry: str
    region: str
    company_size: str
    language: str
    custom_fields: dict[str, Any]
    score: int
    score_band: str
    predicted_score: float | None
    customer: CustomerRef
    company: NamedRef | None
    owner: MemberRef | None
    team: NamedRef | None
    in_pool: bool
    assigned_at: dt.datetime | None
    first_contact_due_at: dt.datetime | None
    first_contacted_at: dt.datetime | None
    last_activity_at: dt.datetime | None
    returned_to_pool_count: int
    deal_id: uuid.UUID | None
    converted_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ReleaseIn(Schema):
    reason: str = Field(default="", max_length=200)


class AssignIn(Schema):
    owner_id: uuid.UUID | None = Field(description="A member's id; null: back to the pool.")
    reason: str = Field(default="", max_length=200)


class ConvertIn(Schema):
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID | None = Field(
        default=None, description="An open stage of the pipeline; default: its first."
    )
    deal_name: str | None = Field(default=None, max_length=200)
    amount: Decimal = Field(default=Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    expected_close_date: dt.date | None = None


class ConvertOut(Schema):
    deal_id: uuid.UUID
    lead_id: uuid.UUID


class HistoryOut(Schema):
    kind: str
    actor: MemberRef | None
    from_owner: MemberRef | None
    to_owner: MemberRef | None
    details: dict[str, Any]
    created_at: dt.datetime

    @staticmethod
    def resolve_kind(obj: LeadHistory) -> str:
        return "repeated" if obj.details.get("repeat") else obj.kind


class WebFormFieldIn(Schema):
    name: Literal[
        "name", "phone", "email", "company_name", "job_title", "industry", "region", "message"
    ]
    required: bool = False


class WebFormIn(Schema):
    name: str = Field(max_length=100)
    fields: list[WebFormFieldIn] = Field(min_length=1, max_length=8)
    success_message: str = Field(default="", max_length=300)
    allowed_origins: list[str] = Field(default_factory=list, max_length=20)
    owner_id: uuid.UUID | None = None
    is_active: bool = True
    consent_text: str = Field(default="", max_length=500)
    consent_required: bool = False


class WebFormPatchIn(Schema):
    name: str | None = Field(default=None, max_length=100)
    fields: list[WebFormFieldIn] | None = Field(default=None, min_length=1, max_length=8)
    success_message: str | None = Field(default=None, max_length=300)
    allowed_origins: list[str] | None = Field(default=None, max_length=20)
    owner_id: uuid.UUID | None = None
    is_active: bool | None = None
    consent_text: str | None = Field(default=None, max_length=500)
    consent_required: bool | None = None


class WebFormOut(Schema):
    id: uuid.UUID
    public_key: str
    name: str
    fields: list[dict[str, Any]]
    consent_text: str
    consent_required: bool
    success_message: str
    allowed_origins: list[str]
    owner: MemberRef | None
    is_active: bool
    submission_count: int
    embed_snippet: str
    created_at: dt.datetime
    updated_at: dt.datetime


class LeadSettingsOut(Schema):
    claim_limit: int
    follow_up_hours: int


class LeadSettingsIn(Schema):
    claim_limit: int | None = Field(default=None, ge=1, le=100_000)
    follow_up_hours: int | None = Field(default=None, ge=0, le=24 * 365)


class RepClaimOut(Schema):
    member: MemberRef
    open_leads: int = Field(description="Open leads (not converted, not unqualified) held.")
    own_limit: int | None = Field(description="The rep's own claim limit; null: the pool's.")
    claim_limit: int = Field(description="The limit that applies: their own, else the pool's.")


class RepClaimIn(Schema):
    claim_limit: int | None = Field(
        ge=1, le=100_000, description="The rep's own claim limit; null: back to the pool's."
    )
