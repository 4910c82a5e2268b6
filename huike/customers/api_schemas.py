"""Request and response schemas of the customers API.

Objects are named by their public UUID (`id`). Personal data (phone, email, birthday, address,
id-document number, identity values) leaves the server masked unless the caller asked to
reveal it and may (see huike.customers.api). `…In` schemas are what clients send (PATCH
schemas apply only the fields present), `…Out` what they get back.
"""

import datetime as dt
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from huike.accounts.api_schemas import MemberRef
from huike.customers.ingest import MAX_BATCH_SIZE
from huike.customers.models import (
    Company,
    ConsentRecord,
    Customer,
    CustomerMerge,
    CustomField,
    Event,
    MergeCandidate,
    Tag,
    TagGroup,
)
from huike.customers.selectors import CUSTOMER_ORDERINGS, DEFAULT_CUSTOMER_ORDERING

# A bulk action touches at most this many customers: each is written in the request (one
# event per customer), so the request stays well under a proxy's timeout.
MAX_BULK_CUSTOMERS = 500
MAX_TAGS_PER_REQUEST = 50
MAX_IDENTITIES_PER_CUSTOMER_REQUEST = 20
CustomerSort = Literal["-created_at", "created_at", "name", "-name", "-total_spent", "-order_count"]
assert set(CustomerSort.__args__) == set(CUSTOMER_ORDERINGS)  # type: ignore[attr-defined]
assert DEFAULT_CUSTOMER_ORDERING == "-created_at"


# --- references to other objects ----------------------------------------------------------
class NamedRef(Schema):
    """A team or a company: its id and name."""

    id: uuid.UUID
    name: str

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        public_id: uuid.UUID = obj.public_id
        return public_id


class CustomerRef(Schema):
    id: uuid.UUID
    name: str
    status: str

    @staticmethod
    def resolve_id(obj: Customer) -> uuid.UUID:
        return obj.public_id


class TagRef(Schema):
    id: uuid.UUID
    name: str
    color: str

    @staticmethod
    def resolve_id(obj: Tag) -> uuid.UUID:
        return obj.public_id


# --- customers ------------------------------------------------------------------------------
class RfmOut(Schema):
    recency: int | None = Field(description="1 (long ago) to 5 (recent); null without orders.")
    frequency: int | None
    monetary: int | None


class CustomerOut(Schema):
    """Built by huike.customers.api from the customer, its contacts and tags."""

    id: uuid.UUID
    status: str = Field(description="active, or merged (see merged_into).")
    merged_into: uuid.UUID | None = Field(description="The customer this one was merged into.")
    name: str
    phone: str | None = Field(description="The first phone, masked unless revealed.")
    email: str | None = Field(description="The first e-mail, masked unless revealed.")
    phones: list[str]
    emails: list[str]
    birthday: str = Field(description='Masked ("****-**-**") unless revealed; "" when unknown.')
    address: str
    id_number: str
    gender: str
    locale: str
    lifecycle_stage: str
    owner: MemberRef | None
    team: NamedRef | None
    company: NamedRef | None
    tags: list[TagRef]
    custom_fields: dict[str, Any]
    source_channel: str
    first_seen_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    last_interaction_at: dt.datetime | None
    last_purchase_at: dt.datetime | None
    order_count: int
    total_spent: str | None = Field(
        description="Decimal string in the workspace currency; null without amounts.view."
    )
    rfm: RfmOut
    created_at: dt.datetime
    updated_at: dt.datetime


class IdentityIn(Schema):
    kind: str = Field(
        max_length=100, examples=["wechat_unionid", "wechat_openid:wx1234", "crm:sap"]
    )
    value: str = Field(min_length=1, max_length=500)
    verified: bool = False


class CustomerFieldsIn(Schema):
    """Fields shared by create, upsert and patch."""

    name: str | None = Field(default=None, max_length=200)
    gender: Literal["", "female", "male", "other"] | None = None
    locale: str | None = Field(default=None, max_length=16)
    lifecycle_stage: Literal["visitor", "lead", "customer", "loyal", "churned"] | None = None
    owner_id: uuid.UUID | None = Field(default=None, description="A member; null: nobody.")
    team_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    source_channel: str | None = Field(default=None, max_length=40)
    birthday: dt.date | None = None
    address: str | None = Field(default=None, max_length=500)
    id_number: str | None = Field(default=None, max_length=500)
    custom_fields: dict[str, Any] | None = Field(
        default=None, description='{key: value}; null or "" clears a value, keys not sent stay.'
    )


class CustomerIn(CustomerFieldsIn):
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=254)
    identities: list[IdentityIn] = Field(
        default_factory=list, max_length=MAX_IDENTITIES_PER_CUSTOMER_REQUEST
    )
    tag_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_TAGS_PER_REQUEST)


class CustomerPatchIn(CustomerFieldsIn):
    """Identities are added and removed through /customers/{id}/identities; a `phone` sent
    here is refused rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class CustomerQuery(Schema):
    q: str = Field(default="", max_length=200, description="Name, or an exact phone/e-mail.")
    phone: str = Field(default="", max_length=50)
    email: str = Field(default="", max_length=254)
    identity: str = Field(default="", max_length=600, description="kind:value, exact match.")
    tag: list[uuid.UUID] = Field(default_factory=list, description="Carries every tag given.")
    owner: uuid.UUID | None = None
    unassigned: bool = False
    team: uuid.UUID | None = None
    company: uuid.UUID | None = None
    lifecycle_stage: Literal["", "visitor", "lead", "customer", "loyal", "churned"] = ""
    field: list[str] = Field(
        default_factory=list, description="key:value of a custom field, exact; repeatable."
    )
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    last_seen_from: dt.date | None = None
    last_seen_to: dt.date | None = None
    sort: CustomerSort = "-created_at"


class RevealQuery(Schema):
    reveal: bool = Field(
        default=False, description="Plain personal data (pii.reveal; every field is audited)."
    )


class IdentityOut(Schema):
    id: uuid.UUID
    kind: str
    value: str = Field(description="Masked unless revealed.")
    is_verified: bool
    source: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    created_at: dt.datetime


class TagIdsIn(Schema):
    tag_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_TAGS_PER_REQUEST)


class BulkIn(Schema):
    action: Literal["tag", "untag", "assign"]
    customer_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BULK_CUSTOMERS)
    tag_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_TAGS_PER_REQUEST)
    owner_id: uuid.UUID | None = Field(default=None, description="assign: null unassigns.")


class BulkOut(Schema):
    action: str
    processed: int = Field(description="Customers found and acted on.")
    changed: int = Field(description="Tag links added/removed, or customers assigned.")
    not_found: list[uuid.UUID] = Field(description="Ids you cannot see (or merged): skipped.")


# --- timeline and consent -------------------------------------------------------------------
class TimelineQuery(Schema):
    kind: list[str] = Field(default_factory=list, description='A kind, or a prefix "message.*".')
    channel: list[str] = Field(default_factory=list)


class EventOut(Schema):
    id: uuid.UUID
    kind: str
    occurred_at: dt.datetime
    channel: str
    properties: dict[str, Any]
    source: str
    external_id: str | None = Field(description="The client's id sent with the event.")
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Event) -> uuid.UUID:
        return obj.public_id


class ConsentIn(Schema):
    purpose: Literal["marketing", "analytics", "third_party"]
    status: Literal["granted", "withdrawn"]
    channel: str = Field(default=ConsentRecord.ANY_CHANNEL, max_length=40)
    source: str = Field(default="", max_length=100)
    evidence: str = Field(default="", max_length=5000)
    recorded_at: dt.datetime | None = Field(default=None, description="Default: now.")


class ConsentRecordOut(Schema):
    id: uuid.UUID
    purpose: str
    channel: str
    status: str
    recorded_at: dt.datetime
    source: str
    evidence: str
    recorded_by: MemberRef | None
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: ConsentRecord) -> uuid.UUID:
        return obj.public_id


class ConsentStateOut(Schema):
    purpose: str
    channel: str
    status: str
    recorded_at: dt.datetime
    source: str
    evidence: str


class ConsentsOut(Schema):
    current: list[ConsentStateOut] = Field(description="The latest record per purpose, channel.")
    history: list[ConsentRecordOut] = Field(description="Every record, newest first.")


# --- merges ---------------------------------------------------------------------------------
class MergeIn(Schema):
    survivor_id: uuid.UUID
    absorbed_id: uuid.UUID


class MergeOut(Schema):
    id: uuid.UUID
    survivor: CustomerRef
    absorbed: CustomerRef
    reason: str
    matched_kind: str
    merged_by: str
    moved: dict[str, int] = Field(description="Rows moved to the survivor, per kind of row.")
    created_at: dt.datetime
    undone_at: dt.datetime | None
    undone_by: str

    @staticmethod
    def resolve_id(obj: CustomerMerge) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_merged_by(obj: CustomerMerge) -> str:
        return obj.merged_by_label

    @staticmethod
    def resolve_undone_by(obj: CustomerMerge) -> str:
        return obj.undone_by_label

    @staticmethod
    def resolve_moved(obj: CustomerMerge) -> dict[str, int]:
        moved: dict[str, int] = (obj.snapshot or {}).get("moved", {})
        return moved


class MergeCandidateOut(Schema):
    id: uuid.UUID
    first: CustomerRef
    second: CustomerRef
    reason: str = Field(description="Why the pair is suggested, in the reader's language.")
    matched_kinds: list[str] = Field(description="Identity kinds that named the second one.")
    source: str = Field(description="What saw the identities together (channel, form, api…).")
    status: str
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @staticmethod
    def resolve_matched_kinds(obj: MergeCandidate) -> list[str]:
        return [kind for kind in obj.matched_kinds.split(", ") if kind]

    @staticmethod
    def resolve_id(obj: MergeCandidate) -> uuid.UUID:
        return obj.public_id


class CandidateAcceptIn(Schema):
    survivor_id: uuid.UUID | None = Field(
        default=None, description="One of the pair; the older customer when omitted."
    )


# --- companies ------------------------------------------------------------------------------
class CompanyOut(Schema):
    id: uuid.UUID
    name: str
    domain: str
    industry: str
    size: str
    region: str
    owner: MemberRef | None
    team: NamedRef | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Company) -> uuid.UUID:
        return obj.public_id


CompanySize = Literal["", "1-9", "10-49", "50-249", "250-999", "1000+"]


class CompanyPatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    industry: str | None = Field(default=None, max_length=100)
    size: CompanySize | None = None
    region: str | None = Field(default=None, max_length=100)
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


class CompanyIn(CompanyPatchIn):
    name: str = Field(min_length=1, max_length=200)


class CompanyQuery(Schema):
    q: str = Field(default="", max_length=200, description="Part of the name or domain.")


# --- tags -----------------------------------------------------------------------------------
class TagGroupOut(Schema):
    id: uuid.UUID
    name: str
    color: str
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: TagGroup) -> uuid.UUID:
        return obj.public_id


COLOR = r"^#[0-9A-Fa-f]{6}$"


class TagGroupIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(default="#64748b", pattern=COLOR)


class TagGroupPatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    color: str | None = Field(default=None, pattern=COLOR)


class TagOut(Schema):
    id: uuid.UUID
    name: str
    color: str
    group: NamedRef | None
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Tag) -> uuid.UUID:
        return obj.public_id


class TagIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(default="#2563eb", pattern=COLOR)
    group_id: uuid.UUID | None = None


class TagPatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    color: str | None = Field(default=None, pattern=COLOR)
    group_id: uuid.UUID | None = Field(default=None, description="null takes it out of a group.")


class TagQuery(Schema):
    group: uuid.UUID | None = None


# --- custom fields --------------------------------------------------------------------------
CustomFieldType = Literal[
    "text", "number", "money", "date", "datetime", "choice", "multi_choice", "boolean", "url"
]
assert set(CustomFieldType.__args__) == set(CustomField.Type.values)  # type: ignore[attr-defined]


class CustomFieldOut(Schema):
    id: uuid.UUID
    key: str
    label: str
    type: str
    choices: list[str]
    is_required: bool
    is_unique: bool
    position: int
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: CustomField) -> uuid.UUID:
        return obj.public_id


class CustomFieldIn(Schema):
    key: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    label: str = Field(min_length=1, max_length=100)
    type: CustomFieldType
    choices: list[str] = Field(default_factory=list, max_length=500)
    is_required: bool = False
    is_unique: bool = False


class CustomFieldPatchIn(Schema):
    """The key and type stay: stored values are in that key and of that type."""

    label: str | None = Field(default=None, min_length=1, max_length=100)
    choices: list[str] | None = Field(default=None, max_length=500)
    is_required: bool | None = None


# --- settings -------------------------------------------------------------------------------
class CustomerSettingsOut(Schema):
    """The workspace's own rules; kinds and fields left out follow the built-in defaults."""

    default_region: str
    identity_strength: dict[str, str]
    identity_caps: dict[str, int]
    junk_values: dict[str, list[str]]
    survivorship: dict[str, str]
    auto_merge_strong: bool
    updated_at: dt.datetime | None


class CustomerSettingsIn(Schema):
    default_region: str | None = Field(default=None, min_length=2, max_length=2)
    identity_strength: dict[str, Literal["strong", "normal", "weak"]] | None = None
    identity_caps: dict[str, int] | None = None
    junk_values: dict[str, list[str]] | None = None
    survivorship: dict[str, Literal["survivor", "most_recent", "most_complete"]] | None = None
    auto_merge_strong: bool | None = None


# --- events ---------------------------------------------------------------------------------
class EventErrorOut(Schema):
    field: str | None
    detail: str


class EventResultOut(Schema):
    index: int = Field(description="Position of the item in the request, from 0.")
    status: Literal["created", "duplicate", "error"]
    event_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    customer_created: bool
    error: EventErrorOut | None


class EventsOut(Schema):
    results: list[EventResultOut]
    created: int
    duplicates: int
    errors: int


EVENTS_BODY_DESCRIPTION = (
    'One event, or a batch {"events": [event, …]} of at most '
    f"{MAX_BATCH_SIZE}. An event: "
    '{"id": "<optional client id>", "kind": "page.viewed", '
    '"occurred_at": "<optional ISO 8601>", "identities": {"phone": "…", "wechat_openid": "…"}, '
    '"properties": {…}, "channel": "<optional>", "customer": {"name": "<optional>"}}.'
)
