"""API endpoints of the customers part: customers and their identities, timeline, consent and
tags, bulk actions, upsert by identity, merging two customers, and events. The merge history
and review queue (api_merges) and companies, tags, custom fields and identity rules
(api_config) are routers of their own, mounted on `router`.

Thin, as huike.accounts.api: each endpoint gets the Actor from the request, the objects it acts
on through `access_*`, objects a body merely names through `lookup_*` (unknown ids are a 422
naming the field), changes through services and pages through huike.core.pagination.

Personal data goes out masked. `?reveal=true` (GET /customers/{id} and its identities) returns
plain values to roles with pii.reveal and audits every revealed field through
huike.accounts.pii.pii_reveal; without the permission it is a 403 and nothing is audited.
Lists show a page of customers in a fixed number of queries: contacts and tags of the whole
page are read at once (selectors.customer_contacts / customer_tags).
"""

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Body, Query, Router, Status

from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.accounts.client_ip import client_ip_address
from huike.accounts.pii import pii_reveal
from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.masking import mask
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers import merging, selectors, services
from huike.customers.access import (
    access_customer,
    access_merge,
    access_tag,
    lookup_company,
    visible_customers,
)
from huike.customers.api_config import router as config_router
from huike.customers.api_merges import router as merges_router
from huike.customers.api_schemas import (
    EVENTS_BODY_DESCRIPTION,
    BulkIn,
    BulkOut,
    ConsentIn,
    ConsentRecordOut,
    ConsentsOut,
    ConsentStateOut,
    CustomerFieldsIn,
    CustomerIn,
    CustomerOut,
    CustomerPatchIn,
    CustomerQuery,
    EventErrorOut,
    EventOut,
    EventResultOut,
    EventsOut,
    IdentityIn,
    IdentityOut,
    MergeIn,
    MergeOut,
    RevealQuery,
    TagIdsIn,
    TimelineQuery,
)
from huike.customers.custom_fields import custom_field_values_clean, custom_fields_of
from huike.customers.identities import (
    IdentityKey,
    customer_personal_value,
    identity_key,
    workspace_rules,
)
from huike.customers.ingest import CREATED, DUPLICATE, ERROR, events_ingest
from huike.customers.models import (
    ConsentRecord,
    Customer,
    CustomerMerge,
    CustomerTag,
    Event,
    Identity,
    Tag,
)
from huike.customers.selectors import CUSTOMER_ORDERINGS, Contacts, CustomerFilters
from huike.customers.services import CustomerData

router = Router()
# Merge history and the review queue, then companies, tags, fields and rules.
router.add_router("", merges_router)
router.add_router("", config_router)

CUSTOMER_RELATED = ("owner__user", "team", "company", "merged_into")
# Personal fields of a customer and how each is masked (huike.core.masking).
PERSONAL_MASKS = {"birthday": "date", "address": "address", "id_number": "id_number"}
TIMELINE_ORDERING = ("-occurred_at", "-id")


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _tags_named(actor: Actor, tag_ids: Sequence[uuid.UUID], field: str) -> list[Tag]:
    """Tags a body names (a handful: the schemas cap the list), each through access_tag."""
    tags = []
    for tag_id in dict.fromkeys(tag_ids):
        try:
            tags.append(access_tag(actor, tag_id))
        except NotFoundError as error:
            raise InvalidInputError(error.detail, field=field) from None
    return tags


# --- customers: building the JSON -----------------------------------------------------------
def _personal(customer: Customer, keys: WorkspaceKeys, *, reveal: bool) -> dict[str, str]:
    values = {name: customer_personal_value(customer, name, keys) for name in PERSONAL_MASKS}
    if reveal:
        return values
    return {name: mask(PERSONAL_MASKS[name], value) for name, value in values.items()}


def _customer_out(
    customer: Customer,
    *,
    contacts: Contacts,
    tags: list[CustomerTag],
    personal: dict[str, str],
    show_amounts: bool,
) -> dict[str, Any]:
    """The data of CustomerOut; ninja validates it once, on the way out, taking owner, team,
    company and tags from their model instances through the schemas' resolvers."""
    return {
        "id": customer.public_id,
        "status": customer.status,
        "merged_into": customer.merged_into.public_id if customer.merged_into else None,
        "name": customer.name,
        "phone": contacts.phone,
        "email": contacts.email,
        "phones": [contact.shown for contact in contacts.phones],
        "emails": [contact.shown for contact in contacts.emails],
        **personal,
        "gender": customer.gender,
        "locale": customer.locale,
        "lifecycle_stage": customer.lifecycle_stage,
        "owner": customer.owner,
        "team": customer.team,
        "company": customer.company,
        "tags": [link.tag for link in tags],
        "custom_fields": customer.custom_fields,
        "source_channel": customer.source_channel,
        "first_seen_at": customer.first_seen_at,
        "last_seen_at": customer.last_seen_at,
        "last_interaction_at": customer.last_interaction_at,
        "last_purchase_at": customer.last_purchase_at,
        "order_count": customer.order_count,
        "total_spent": f"{customer.total_spent:.2f}" if show_amounts else None,
        "rfm": {
            "recency": customer.rfm_recency,
            "frequency": customer.rfm_frequency,
            "monetary": customer.rfm_monetary,
        },
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
    }


def _customers_out(
    actor: Actor, customers: Sequence[Customer], *, reveal: bool = False
) -> list[dict[str, Any]]:
    """The JSON of a page of customers: one query for the data keys, one for the contacts, one
    for the tags, whatever the page size."""
    keys = workspace_keys(actor.workspace.pk)
    contacts = selectors.customer_contacts(customers, reveal=reveal, keys=keys)
    tags = selectors.customer_tags(customers)
    show_amounts = actor.has("amounts.view")
    return [
        _customer_out(
            customer,
            contacts=contacts[customer.pk],
            tags=tags[customer.pk],
            personal=_personal(customer, keys, reveal=reveal),
            show_amounts=show_amounts,
        )
        for customer in customers
    ]


def _one_out(actor: Actor, customer: Customer) -> dict[str, Any]:
    return _customers_out(actor, [customer])[0]


# --- customers: reading the request ---------------------------------------------------------
def _key(kind: str, value: str, *, region: str, is_verified: bool, field: str) -> IdentityKey:
    try:
        return identity_key(kind, value, default_region=region, is_verified=is_verified)
    except InvalidInputError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _identity_keys(actor: Actor, payload: CustomerIn) -> list[IdentityKey]:
    """`phone`, `email` and `identities` of a create or upsert body, normalized."""
    region = workspace_rules(actor.workspace.pk).default_region
    keys = []
    for kind in ("phone", "email"):
        value = getattr(payload, kind)
        if value:
            keys.append(_key(kind, value, region=region, is_verified=False, field=kind))
    for index, item in enumerate(payload.identities):
        keys.append(
            _key(
                item.kind,
                item.value,
                region=region,
                is_verified=item.verified,
                field=f"identities.{index}",
            )
        )
    return keys


def _customer_data(actor: Actor, payload: CustomerFieldsIn) -> CustomerData:
    """The fields the body sent, with named objects looked up in the workspace."""
    sent = payload.model_fields_set
    data = CustomerData()
    for name in ("name", "gender", "locale", "lifecycle_stage", "source_channel"):
        if name in sent:
            setattr(data, name, getattr(payload, name) or "")
    if "owner_id" in sent:
        owner_id = payload.owner_id
        data.owner = (
            _referenced(lambda: lookup_membership(actor.workspace, owner_id), "owner_id")
            if owner_id
            else None
        )
    if "team_id" in sent:
        team_id = payload.team_id
        data.team = (
            _referenced(lambda: lookup_team(actor.workspace, team_id), "team_id")
            if team_id
            else None
        )
    if "company_id" in sent:
        company_id = payload.company_id
        data.company = (
            _referenced(lambda: lookup_company(actor, company_id), "company_id")
            if company_id
            else None
        )
    if "birthday" in sent:
        data.birthday = payload.birthday
    for name in ("address", "id_number"):
        if name in sent:
            setattr(data, name, getattr(payload, name) or "")
    if "custom_fields" in sent and payload.custom_fields is not None:
        data.custom_fields = payload.custom_fields
    return data


def _custom_field_filters(actor: Actor, terms: Sequence[str]) -> dict[str, Any]:
    """`key:value` terms as {key: stored form of value}, so `field=vip:yes` finds True."""
    if not terms:
        return {}
    by_key = {field.key: field for field in custom_fields_of(actor.workspace.pk)}
    result: dict[str, Any] = {}
    for term in terms:
        key, separator, value = term.partition(":")
        definition = by_key.get(key.strip())
        # "__" would be read by the ORM as a path into the JSON rather than a key.
        if not separator or definition is None or "__" in definition.key:
            raise InvalidInputError(
                _("Write a custom field filter as key:value with the key of a field."),
                field="field",
            )
        try:
            cleaned = custom_field_values_clean(
                fields=[definition],
                values={definition.key: value},
                currency=actor.workspace.currency,
            )
        except InvalidInputError as error:
            raise InvalidInputError(error.detail, field="field") from None
        if definition.key not in cleaned:
            raise InvalidInputError(_("Give a value to filter by."), field="field")
        result[definition.key] = cleaned[definition.key]
    return result


def customer_query_filters(actor: Actor, query: CustomerQuery) -> CustomerFilters:
    """The selector's filters of the list's query parameters (also what exports take)."""
    return CustomerFilters(
        q=query.q,
        phone=query.phone,
        email=query.email,
        identity=query.identity,
        tags=query.tag,
        owner=query.owner,
        unassigned=query.unassigned,
        team=query.team,
        company=query.company,
        lifecycle_stage=query.lifecycle_stage,
        custom_fields=_custom_field_filters(actor, query.field),
        created_from=query.created_from,
        created_to=query.created_to,
        last_seen_from=query.last_seen_from,
        last_seen_to=query.last_seen_to,
    )


# --- customers ------------------------------------------------------------------------------
@router.get(
    "/customers", response=PageOut[CustomerOut], tags=["Customers"], summary="List customers"
)
def customer_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[CustomerQuery]
) -> dict[str, Any]:
    """Active customers the caller may see (own, team subtree or all), newest first unless
    `sort` says otherwise. Phone, e-mail and identity filters match exactly."""
    actor = request_actor(request)
    if query.sort == "-total_spent":
        actor.require("amounts.view")
    customers = selectors.customer_search(
        actor, customer_query_filters(actor, query)
    ).select_related(*CUSTOMER_RELATED)
    result = paginate(
        customers, cursor=page.cursor, limit=page.limit, ordering=CUSTOMER_ORDERINGS[query.sort]
    )
    return {"items": _customers_out(actor, result.items), "next": result.next}


@router.post(
    "/customers", response={201: CustomerOut}, tags=["Customers"], summary="Create a customer"
)
def customer_create(request: HttpRequest, payload: CustomerIn) -> Status[dict[str, Any]]:
    """Create a customer with its identities (`phone`, `email`, `identities`) and tags. An
    identity that belongs to another customer is a 409: use /customers/upsert to update it."""
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = services.customer_create(
        actor=actor,
        data=_customer_data(actor, payload),
        identity_keys=_identity_keys(actor, payload),
        tags=_tags_named(actor, payload.tag_ids, "tag_ids"),
        source="api",
    )
    return Status(201, _one_out(actor, customer))


@router.post(
    "/customers/upsert",
    response={200: CustomerOut, 201: CustomerOut},
    tags=["Customers"],
    summary="Create or update a customer by identity",
)
def customer_upsert(request: HttpRequest, payload: CustomerIn) -> Status[dict[str, Any]]:
    """Find the customer any of the identities names (exact match) and update it (200), or
    create one (201). Identities naming two different customers are a 409."""
    actor = request_actor(request)
    actor.require("customers.manage")
    upserted = services.customer_upsert(
        actor=actor,
        data=_customer_data(actor, payload),
        identity_keys=_identity_keys(actor, payload),
        tags=_tags_named(actor, payload.tag_ids, "tag_ids"),
        source="api",
    )
    return Status(201 if upserted.is_new else 200, _one_out(actor, upserted.customer))


@router.post(
    "/customers/bulk", response=BulkOut, tags=["Customers"], summary="Tag, untag or assign many"
)
def customer_bulk(request: HttpRequest, payload: BulkIn) -> BulkOut:
    """Tag, untag or assign up to 500 customers. Ids the caller cannot see (or merged ones) are
    skipped and listed in `not_found`."""
    actor = request_actor(request)
    actor.require("customers.manage")
    wanted = list(dict.fromkeys(payload.customer_ids))
    customers = list(
        visible_customers(actor)
        .filter(public_id__in=wanted, status=Customer.Status.ACTIVE)
        .order_by("pk")
    )
    found = {customer.public_id for customer in customers}
    not_found = [public_id for public_id in wanted if public_id not in found]
    if payload.action == "assign":
        if "owner_id" not in payload.model_fields_set:
            raise InvalidInputError(_("Name the new owner (null: nobody)."), field="owner_id")
        owner_id = payload.owner_id
        owner = (
            _referenced(lambda: lookup_membership(actor.workspace, owner_id), "owner_id")
            if owner_id
            else None
        )
        changed = services.customers_assign(actor=actor, customers=customers, owner=owner)
    else:
        if not payload.tag_ids:
            raise InvalidInputError(_("Name at least one tag."), field="tag_ids")
        tags = _tags_named(actor, payload.tag_ids, "tag_ids")
        if payload.action == "tag":
            changed = services.customer_tags_add(
                actor=actor, customers=customers, tags=tags, source="api"
            )
        else:
            changed = services.customer_tags_remove(actor=actor, customers=customers, tags=tags)
    return BulkOut(
        action=payload.action, processed=len(customers), changed=changed, not_found=not_found
    )


# Registered before /customers/{customer_id}, whose pattern would take "merge" too.
@router.post(
    "/customers/merge", response={201: MergeOut}, tags=["Merges"], summary="Merge two customers"
)
def customer_merge(request: HttpRequest, payload: MergeIn) -> Status[CustomerMerge]:
    """Merge `absorbed_id` into `survivor_id` (customers.merge). The merge is recorded row by
    row and can be undone with POST /merges/{id}/undo."""
    actor = request_actor(request)
    actor.require("customers.merge")
    survivor = _referenced(lambda: access_customer(actor, payload.survivor_id), "survivor_id")
    absorbed = _referenced(lambda: access_customer(actor, payload.absorbed_id), "absorbed_id")
    merge = merging.customer_merge(actor=actor, survivor=survivor, absorbed=absorbed)
    return Status(201, access_merge(actor, merge.public_id))


@router.get(
    "/customers/{customer_id}", response=CustomerOut, tags=["Customers"], summary="Get a customer"
)
def customer_detail(
    request: HttpRequest, customer_id: uuid.UUID, query: Query[RevealQuery]
) -> dict[str, Any]:
    """A customer (a merged one says where it went). `?reveal=true` shows personal data in
    plain (pii.reveal), recording one audit entry per field shown."""
    actor = request_actor(request)
    customer = access_customer(actor, customer_id)
    if not query.reveal:
        return _one_out(actor, customer)
    actor.require("pii.reveal")
    shown = _customers_out(actor, [customer], reveal=True)[0]
    revealed = {
        "phone": ", ".join(shown["phones"]),
        "email": ", ".join(shown["emails"]),
        "birthday": shown["birthday"],
        "address": shown["address"],
        "id_number": shown["id_number"],
    }
    for field, value in revealed.items():
        if value:
            pii_reveal(
                actor=actor,
                record_type="customer",
                record_id=str(customer.public_id),
                field=field,
                value=value,
                ip_address=client_ip_address(request),
            )
    return shown


@router.patch(
    "/customers/{customer_id}",
    response=CustomerOut,
    tags=["Customers"],
    summary="Change a customer",
)
def customer_update(
    request: HttpRequest, customer_id: uuid.UUID, payload: CustomerPatchIn
) -> dict[str, Any]:
    """Change the fields sent (null clears owner, team, company, birthday, address). A merged
    customer cannot be changed (409)."""
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = access_customer(actor, customer_id)
    updated = services.customer_update(
        actor=actor, customer=customer, data=_customer_data(actor, payload), source="api"
    )
    return _one_out(actor, updated)


@router.delete(
    "/customers/{customer_id}",
    response={204: None},
    tags=["Customers"],
    summary="Delete a customer",
)
def customer_delete(request: HttpRequest, customer_id: uuid.UUID) -> Status[None]:
    """Delete a customer with everything that belongs to them, and the customers merged into
    them (customers.delete). Audited."""
    actor = request_actor(request)
    actor.require("customers.delete")
    customer = access_customer(actor, customer_id)
    services.customer_delete(actor=actor, customer=customer, ip_address=client_ip_address(request))
    return Status(204, None)


@router.get(
    "/customers/{customer_id}/timeline",
    response=PageOut[EventOut],
    tags=["Customers"],
    summary="A customer's timeline, newest first",
)
def customer_timeline(
    request: HttpRequest,
    customer_id: uuid.UUID,
    page: Query[PageQuery],
    query: Query[TimelineQuery],
) -> Page[Event]:
    actor = request_actor(request)
    customer = access_customer(actor, customer_id)
    events = selectors.customer_timeline(customer, kinds=query.kind, channels=query.channel)
    return paginate(events, cursor=page.cursor, limit=page.limit, ordering=TIMELINE_ORDERING)


# --- a customer's identities ----------------------------------------------------------------
def _identity_out(identity: Identity, shown: str) -> IdentityOut:
    return IdentityOut(
        id=identity.public_id,
        kind=identity.kind,
        value=shown,
        is_verified=identity.is_verified,
        source=identity.source,
        first_seen_at=identity.first_seen_at,
        last_seen_at=identity.last_seen_at,
        created_at=identity.created_at,
    )


@router.get(
    "/customers/{customer_id}/identities",
    response=PageOut[IdentityOut],
    tags=["Customers"],
    summary="A customer's identities",
)
def customer_identity_list(
    request: HttpRequest, customer_id: uuid.UUID, query: Query[RevealQuery]
) -> dict[str, Any]:
    """Every identity (capped per kind, so one page). Values are masked unless `?reveal=true`
    (pii.reveal; each value shown is audited)."""
    actor = request_actor(request)
    customer = access_customer(actor, customer_id)
    if query.reveal:
        actor.require("pii.reveal")
    rows = selectors.customer_identities(customer, reveal=query.reveal)
    if query.reveal:
        for identity, value in rows:
            pii_reveal(
                actor=actor,
                record_type="customer",
                record_id=str(customer.public_id),
                field=f"identity:{identity.kind}",
                value=value,
                ip_address=client_ip_address(request),
            )
    return {"items": [_identity_out(identity, shown) for identity, shown in rows], "next": None}


@router.post(
    "/customers/{customer_id}/identities",
    response={201: IdentityOut},
    tags=["Customers"],
    summary="Add an identity to a customer",
)
def customer_identity_add(
    request: HttpRequest, customer_id: uuid.UUID, payload: IdentityIn
) -> Status[IdentityOut]:
    """Attach one identity. One that belongs to any customer already is a 409."""
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = access_customer(actor, customer_id)
    region = workspace_rules(actor.workspace.pk).default_region
    key = _key(
        payload.kind, payload.value, region=region, is_verified=payload.verified, field="value"
    )
    identity = services.customer_identity_add(actor=actor, customer=customer, key=key, source="api")
    base = identity.base_kind
    shown = mask(base if base in selectors.CONTACT_KINDS else "text", key.value)
    return Status(201, _identity_out(identity, shown))


@router.delete(
    "/customers/{customer_id}/identities/{identity_id}",
    response={204: None},
    tags=["Customers"],
    summary="Remove an identity from a customer",
)
def customer_identity_remove(
    request: HttpRequest, customer_id: uuid.UUID, identity_id: uuid.UUID
) -> Status[None]:
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = access_customer(actor, customer_id)
    # Looked up among the identities of a customer the actor may see, so scoped like it.
    identity = Identity.objects.filter(
        workspace=actor.workspace, customer=customer, public_id=identity_id
    ).first()
    if identity is None:
        raise NotFoundError(_("No such identity."))
    services.customer_identity_remove(actor=actor, customer=customer, identity=identity)
    return Status(204, None)


# --- a customer's consent -------------------------------------------------------------------
def _consent_records(customer: Customer) -> list[ConsentRecord]:
    return list(
        ConsentRecord.objects.filter(workspace_id=customer.workspace_id, customer=customer)
        .select_related("recorded_by__user")
        .order_by("-recorded_at", "-pk")
    )


@router.get(
    "/customers/{customer_id}/consents",
    response=ConsentsOut,
    tags=["Customers"],
    summary="A customer's consent: current state and history",
)
def customer_consents(request: HttpRequest, customer_id: uuid.UUID) -> dict[str, Any]:
    actor = request_actor(request)
    customer = access_customer(actor, customer_id)
    current = [
        ConsentStateOut(
            purpose=state.purpose,
            channel=state.channel,
            status=state.status,
            recorded_at=state.recorded_at,
            source=state.source,
            evidence=state.evidence,
        )
        for state in selectors.consent_current(customer)
    ]
    return {"current": current, "history": _consent_records(customer)}


@router.post(
    "/customers/{customer_id}/consents",
    response={201: ConsentRecordOut},
    tags=["Customers"],
    summary="Record a grant or a withdrawal of consent",
)
def customer_consent_record(
    request: HttpRequest, customer_id: uuid.UUID, payload: ConsentIn
) -> Status[ConsentRecord]:
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = access_customer(actor, customer_id)
    record = services.consent_record(
        actor=actor,
        customer=customer,
        purpose=payload.purpose,
        status=payload.status,
        channel=payload.channel,
        source=payload.source,
        evidence=payload.evidence,
        recorded_at=payload.recorded_at,
    )
    return Status(201, record)


# --- a customer's tags ----------------------------------------------------------------------
@router.post(
    "/customers/{customer_id}/tags",
    response=CustomerOut,
    tags=["Customers"],
    summary="Tag a customer",
)
def customer_tag_add(
    request: HttpRequest, customer_id: uuid.UUID, payload: TagIdsIn
) -> dict[str, Any]:
    """Add tags; tags the customer carries already stay as they are."""
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = access_customer(actor, customer_id)
    tags = _tags_named(actor, payload.tag_ids, "tag_ids")
    services.customer_tags_add(actor=actor, customers=[customer], tags=tags, source="api")
    return _one_out(actor, customer)


@router.delete(
    "/customers/{customer_id}/tags/{tag_id}",
    response={204: None},
    tags=["Customers"],
    summary="Untag a customer",
)
def customer_tag_remove(
    request: HttpRequest, customer_id: uuid.UUID, tag_id: uuid.UUID
) -> Status[None]:
    actor = request_actor(request)
    actor.require("customers.manage")
    customer = access_customer(actor, customer_id)
    tag = access_tag(actor, tag_id)
    services.customer_tags_remove(actor=actor, customers=[customer], tags=[tag])
    return Status(204, None)


# --- events ---------------------------------------------------------------------------------
EVENTS_DESCRIPTION = (
    "Record one event or a batch (events.ingest). Each item's identities find or create its "
    "customer; an item with the `id` of an event recorded before is a duplicate and records "
    "nothing. Invalid items are reported in their result and do not stop the others.\n\n"
    + EVENTS_BODY_DESCRIPTION
)


@router.post(
    "/events",
    response=EventsOut,
    tags=["Events"],
    summary="Record events on customer timelines",
    description=EVENTS_DESCRIPTION,
)
def event_ingest(request: HttpRequest, payload: Body[dict[str, Any]]) -> EventsOut:
    # The body is read loosely on purpose: each item is validated on its own by events_ingest,
    # so that one bad item is reported in its result instead of failing the whole batch.
    actor = request_actor(request)
    actor.require("events.ingest")
    if "events" in payload:
        items = payload["events"]
        if not isinstance(items, list):
            raise InvalidInputError(_("events is a list of events."), field="events")
    else:
        items = [payload]
    report = events_ingest(actor=actor, items=items, source="api")
    results = [
        EventResultOut(
            index=result.index,
            status=result.status,  # type: ignore[arg-type]
            event_id=uuid.UUID(result.event_id) if result.event_id else None,
            customer_id=uuid.UUID(result.customer_id) if result.customer_id else None,
            customer_created=result.customer_created,
            error=(
                EventErrorOut(field=result.error_field, detail=result.error or "")
                if result.status == ERROR
                else None
            ),
        )
        for result in report.results
    ]
    return EventsOut(
        results=results,
        created=report.count(CREATED),
        duplicates=report.count(DUPLICATE),
        errors=report.count(ERROR),
    )
