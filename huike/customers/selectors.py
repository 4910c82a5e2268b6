"""Reads of the customers part: the customer list with its filters, contacts shown masked,
the timeline, consent state, merge history and the review queue."""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from huike.accounts.access import Actor
from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import HuikeError, InvalidInputError
from huike.core.masking import mask
from huike.customers.access import visible_customers
from huike.customers.identities import (
    IdentityKey,
    customer_personal_value,
    identity_key,
    identity_value,
    index_candidates,
    workspace_rules,
)
from huike.customers.models import (
    ConsentPurpose,
    ConsentRecord,
    Customer,
    CustomerMerge,
    CustomerTag,
    Event,
    Identity,
    MergeCandidate,
)

# Sort orders the list offers: name -> keyset ordering (every one ends in a unique field).
CUSTOMER_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-created_at": ("-created_at", "-id"),
    "created_at": ("created_at", "id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "-total_spent": ("-total_spent", "-id"),
    "-order_count": ("-order_count", "-id"),
}
DEFAULT_CUSTOMER_ORDERING = "-created_at"
CONTACT_KINDS = ("phone", "email")


@dataclass
class CustomerFilters:
    """What the list, the API and exports filter customers by; all optional and combined."""

    q: str = ""
    phone: str = ""
    email: str = ""
    identity: str = ""  # "kind:value", e.g. "wechat_unionid:o6_b…" or "crm:sap:1234"
    tags: Sequence[uuid.UUID] = ()
    owner: uuid.UUID | None = None
    unassigned: bool = False
    team: uuid.UUID | None = None
    company: uuid.UUID | None = None
    lifecycle_stage: str = ""
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    last_seen_from: dt.date | None = None
    last_seen_to: dt.date | None = None
    include_merged: bool = False


def _exact_identity(keys: WorkspaceKeys, key: IdentityKey) -> QuerySet[Identity]:
    return Identity.objects.filter(
        workspace_id=keys.workspace_id, kind=key.kind, value_index__in=index_candidates(keys, key)
    )


def _identity_filter(keys: WorkspaceKeys, kind: str, value: str, region: str) -> Q:
    key = identity_key(kind, value, default_region=region)
    return Q(pk__in=_exact_identity(keys, key).values("customer_id"))


def _looks_like(value: str) -> str | None:
    """ "phone" or "email" when a search box text is one, for an exact blind-index match."""
    text = value.strip()
    if "@" in text:
        return "email"
    digits = sum(char.isdigit() for char in text)
    if digits >= 7 and digits >= len(text.replace(" ", "").replace("-", "")) - 1:
        return "phone"
    return None


def customer_search(actor: Actor, filters: CustomerFilters) -> QuerySet[Customer]:
    """The customers the actor may see that match every filter (unordered).

    Phone, email and identity filters match exactly through the blind index; `q` is an exact
    phone/email match when it looks like one, else a match on the name. Raises
    InvalidInputError naming the filter for a value that cannot be one (a malformed phone).
    """
    queryset = visible_customers(actor)
    if not filters.include_merged:
        queryset = queryset.filter(status=Customer.Status.ACTIVE)
    needs_keys = (
        filters.phone or filters.email or filters.identity or (filters.q and _looks_like(filters.q))
    )
    if needs_keys:
        keys = workspace_keys(actor.workspace.pk)
        region = workspace_rules(actor.workspace.pk).default_region
        for kind, value in (("phone", filters.phone), ("email", filters.email)):
            if value:
                queryset = queryset.filter(_identity_filter(keys, kind, value, region))
        if filters.identity:
            kind, separator, value = filters.identity.partition("=")
            if not separator:
                kind, separator, value = filters.identity.rpartition(":")
            if not separator or not kind:
                raise InvalidInputError(
                    "Write an identity as kind:value, e.g. wechat_unionid:o6_bmasdasdsad6",
                    field="identity",
                )
            try:
                queryset = queryset.filter(_identity_filter(keys, kind, value, region))
            except HuikeError as error:
                raise InvalidInputError(error.detail, field="identity") from None
        if filters.q:
            looks_like = _looks_like(filters.q)
            assert looks_like is not None
            try:
                queryset = queryset.filter(_identity_filter(keys, looks_like, filters.q, region))
            except HuikeError:
                queryset = queryset.filter(name__icontains=filters.q.strip())
    elif filters.q:
        queryset = queryset.filter(name__icontains=filters.q.strip())
    for tag_id in filters.tags:
        queryset = queryset.filter(
            Exists(
                CustomerTag.objects.filter(
                    workspace=actor.workspace, customer=OuterRef("pk"), tag__public_id=tag_id
                )
            )
        )
    if filters.owner is not None:
        queryset = queryset.filter(owner__public_id=filters.owner)
    if filters.unassigned:
        queryset = queryset.filter(owner__isnull=True)
    if filters.team is not None:
        queryset = queryset.filter(team__public_id=filters.team)
    if filters.company is not None:
        queryset = queryset.filter(company__public_id=filters.company)
    if filters.lifecycle_stage:
        queryset = queryset.filter(lifecycle_stage=filters.lifecycle_stage)
    for key, value in filters.custom_fields.items():
        queryset = queryset.filter(**{f"custom_fields__{key}": value})
    if filters.created_from:
        queryset = queryset.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        queryset = queryset.filter(created_at__date__lte=filters.created_to)
    if filters.last_seen_from:
        queryset = queryset.filter(last_seen_at__date__gte=filters.last_seen_from)
    if filters.last_seen_to:
        queryset = queryset.filter(last_seen_at__date__lte=filters.last_seen_to)
    return queryset


@dataclass(frozen=True)
class ContactValue:
    kind: str
    shown: str  # masked unless revealed
    identity_id: uuid.UUID
    is_verified: bool


@dataclass
class Contacts:
    phones: list[ContactValue] = field(default_factory=list)
    emails: list[ContactValue] = field(default_factory=list)

    @property
    def phone(self) -> str | None:
        return self.phones[0].shown if self.phones else None

    @property
    def email(self) -> str | None:
        return self.emails[0].shown if self.emails else None


def customer_contacts(
    customers: Iterable[Customer], *, reveal: bool = False, keys: WorkspaceKeys | None = None
) -> dict[int, Contacts]:
    """Phones and emails of the customers, masked unless `reveal` (the caller has checked
    `pii.reveal` and audited the reveal). One query for any number of customers; the oldest
    identity of each kind comes first (it is the one shown as "the" phone)."""
    by_pk = {customer.pk: customer for customer in customers}
    result: dict[int, Contacts] = {pk: Contacts() for pk in by_pk}
    if not by_pk:
        return result
    workspace_id = next(iter(by_pk.values())).workspace_id
    keys = keys or workspace_keys(workspace_id)
    rows = Identity.objects.filter(
        workspace_id=workspace_id, customer_id__in=list(by_pk), kind__in=CONTACT_KINDS
    ).order_by("customer_id", "created_at", "pk")
    for identity in rows:
        value = identity_value(identity, keys)
        contact = ContactValue(
            kind=identity.kind,
            shown=value if reveal else mask(identity.kind, value),
            identity_id=identity.public_id,
            is_verified=identity.is_verified,
        )
        target = result[identity.customer_id]
        (target.phones if identity.kind == "phone" else target.emails).append(contact)
    return result


def customer_identities(
    customer: Customer, *, reveal: bool = False, keys: WorkspaceKeys | None = None
) -> list[tuple[Identity, str]]:
    """Every identity of the customer with its value, masked unless `reveal`. Values of
    platform ids (openids…) are shown masked too: they are personal data under PIPL/GDPR."""
    keys = keys or workspace_keys(customer.workspace_id)
    rows = Identity.objects.filter(workspace_id=customer.workspace_id, customer=customer).order_by(
        "kind", "created_at", "pk"
    )
    result = []
    for identity in rows:
        value = identity_value(identity, keys)
        shown = (
            value
            if reveal
            else mask(identity.base_kind if identity.base_kind in CONTACT_KINDS else "text", value)
        )
        result.append((identity, shown))
    return result


def customer_personal(customer: Customer, *, reveal: bool = False) -> dict[str, str]:
    """Birthday, address and id-document number, masked unless `reveal`."""
    keys = workspace_keys(customer.workspace_id)
    maskers = {"birthday": "date", "address": "address", "id_number": "id_number"}
    result = {}
    for name, masker in maskers.items():
        value = customer_personal_value(customer, name, keys)
        result[name] = value if reveal else mask(masker, value)
    return result


def customer_tags(customers: Iterable[Customer]) -> dict[int, list[CustomerTag]]:
    by_pk = {customer.pk: [] for customer in customers}  # type: dict[int, list[CustomerTag]]
    if by_pk:
        for link in (
            CustomerTag.objects.filter(customer_id__in=list(by_pk))
            .select_related("tag")
            .order_by("tag__name")
        ):
            by_pk[link.customer_id].append(link)
    return by_pk


def customer_timeline(
    customer: Customer, *, kinds: Sequence[str] = (), channels: Sequence[str] = ()
) -> QuerySet[Event]:
    """The customer's events, newest first (page with huike.core.pagination on
    ("-occurred_at", "-id")). `kinds` entries may be prefixes ending in ".*"."""
    events = Event.objects.filter(workspace_id=customer.workspace_id, customer=customer)
    if kinds:
        condition = Q()
        for kind in kinds:
            condition |= Q(kind__startswith=kind[:-1]) if kind.endswith(".*") else Q(kind=kind)
        events = events.filter(condition)
    if channels:
        events = events.filter(channel__in=list(channels))
    return events


@dataclass(frozen=True)
class ConsentState:
    purpose: str
    channel: str
    status: str
    recorded_at: dt.datetime
    source: str
    evidence: str


def consent_current(customer: Customer) -> list[ConsentState]:
    """The latest record per (purpose, channel), purposes in their declared order."""
    latest: dict[tuple[str, str], ConsentRecord] = {}
    for record in ConsentRecord.objects.filter(
        workspace_id=customer.workspace_id, customer=customer
    ).order_by("recorded_at", "pk"):
        latest[(record.purpose, record.channel)] = record
    order = {purpose: position for position, purpose in enumerate(ConsentPurpose.values)}
    return [
        ConsentState(
            purpose=record.purpose,
            channel=record.channel,
            status=record.status,
            recorded_at=record.recorded_at,
            source=record.source,
            evidence=record.evidence,
        )
        for (_purpose, _channel), record in sorted(
            latest.items(), key=lambda item: (order.get(item[0][0], 99), item[0][1])
        )
    ]


def consent_allows(customer: Customer, purpose: str, channel: str) -> bool:
    """May we use the customer's data for `purpose` on `channel`? Only with a grant (for the
    channel or for any channel) that no later withdrawal (for the channel or any) overrides.
    No record means no: consent is opt-in (PIPL art. 13, GDPR art. 6)."""
    channel = (channel or "").strip().lower() or ConsentRecord.ANY_CHANNEL
    records = ConsentRecord.objects.filter(
        workspace_id=customer.workspace_id,
        customer=customer,
        purpose=purpose,
        channel__in=[channel, ConsentRecord.ANY_CHANNEL],
    ).order_by("-recorded_at", "-pk")
    latest = records.first()
    return latest is not None and latest.status == ConsentRecord.Status.GRANTED


def customer_merges(customer: Customer) -> QuerySet[CustomerMerge]:
    """Merges this customer took part in, newest first."""
    return (
        CustomerMerge.objects.filter(workspace_id=customer.workspace_id)
        .filter(Q(survivor=customer) | Q(absorbed=customer))
        .select_related("survivor", "absorbed")
        .order_by("-created_at", "-pk")
    )


def merge_history(actor: Actor) -> QuerySet[CustomerMerge]:
    visible = visible_customers(actor).values("pk")
    return (
        CustomerMerge.objects.filter(workspace=actor.workspace, survivor__in=visible)
        .select_related("survivor", "absorbed")
        .order_by("-created_at", "-pk")
    )


def merge_candidates_open(actor: Actor) -> QuerySet[MergeCandidate]:
    """Open suggestions whose two customers the actor sees and are both still active (a
    suggestion about a customer merged since into a third one has nothing left to decide)."""
    visible = visible_customers(actor).filter(status=Customer.Status.ACTIVE).values("pk")
    return (
        MergeCandidate.objects.filter(
            workspace=actor.workspace,
            status=MergeCandidate.Status.OPEN,
            first__in=visible,
            second__in=visible,
        )
        .select_related("first", "second")
        .order_by("-created_at", "-pk")
    )
