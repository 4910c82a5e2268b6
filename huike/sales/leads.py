"""Leads: capture (web form, conversation, API, import, manual entry), the pool (公海) with
claims, releases, manual assignment and the return of leads nobody followed up, statuses, and
conversion into a deal.

Every lead is about a customer found or created by identity resolution
(huike.customers.resolution), so a lead never duplicates a person we know, and a customer has
at most one open lead: capturing them again returns that lead and records the repeat in its
history. Every change of owner goes through huike.sales.ownership.lead_owner_change; every
service runs in one transaction with its timeline event and outbox message.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.channels.conversation_actions import ConversationContext
from huike.core.crypto import WorkspaceKeys
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.outbox import outbox_publish
from huike.customers.events import event_record, register_event_kind_labels
from huike.customers.identities import IdentityKey, identity_key, workspace_rules
from huike.customers.models import LIFECYCLE_ORDER, Company, Customer, LifecycleStage
from huike.customers.resolution import NewCustomer, identity_resolve
from huike.customers.rules import WorkspaceRules
from huike.sales.access import visible_leads
from huike.sales.assignment import assignable_reps, can_work_leads, open_lead_counts
from huike.sales.models import (
    Activity,
    Deal,
    Lead,
    LeadHistory,
    LeadSettings,
    LeadSource,
    LeadStatus,
    Pipeline,
    RepClaimLimit,
    Stage,
)
from huike.sales.notifications import notify
from huike.sales.ownership import claim_limits, lead_owner_change

logger = logging.getLogger("huike.sales.leads")

# A lead in one of these is "open": it counts against the claim limit, can go back to the
# pool and blocks a second lead for the same customer.
OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)
# Statuses a person sets by hand; `converted` comes only from lead_convert.
SETTABLE_STATUSES = (
    LeadStatus.NEW,
    LeadStatus.CONTACTED,
    LeadStatus.QUALIFIED,
    LeadStatus.UNQUALIFIED,
)
# Repeated captures of an open lead kept in its source_detail: enough to see where a person
# keeps coming from, without a bot's thousand submissions bloating the row.
MAX_REPEATS_KEPT = 20
# Stale leads handled per transaction by the pool's periodic return: short transactions, so a
# rep working a lead waits at most for one batch.
RETURN_BATCH_SIZE = 100
TEXT_LIMITS = {
    "name": 200,
    "company_name": 200,
    "job_title": 100,
    "industry": 100,
    "region": 100,
    "language": 16,
}
REASON_MAX_LENGTH = 200
CLAIM_LIMIT_MAX = 100_000
FOLLOW_UP_HOURS_MAX = 24 * 365
SOURCE_DETAIL_MAX_LENGTH = 500


def register_lead_event_labels() -> None:
    register_event_kind_labels(
        {
            "lead.created": gettext_lazy("Became a lead"),
            "lead.converted": gettext_lazy("Lead converted to a deal"),
        }
    )


@dataclass(frozen=True)
class SourceDetail:
    """Where a lead came from: campaign parameters, pages, the form or conversation."""

    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    referrer: str = ""
    landing_page: str = ""
    form_id: str = ""
    form_name: str = ""
    conversation_id: str = ""
    channel: str = ""
    import_file: str = ""

    def as_json(self) -> dict[str, str]:
        """The given values only, each cut to a sane length (they come from browsers)."""
        return {
            item.name: str(getattr(self, item.name))[:SOURCE_DETAIL_MAX_LENGTH]
            for item in fields(self)
            if getattr(self, item.name)
        }

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "SourceDetail":
        names = {item.name for item in fields(cls)}
        return cls(**{k: str(v or "") for k, v in values.items() if k in names})


@dataclass(frozen=True)
class LeadData:
    """What a lead is captured with. Phone, email and other identities ((kind, value) pairs:
    ("wechat_openid:wx123", "o6_bmj..."), ...) find or create the customer; the rest is kept
    on the lead."""

    name: str = ""
    phone: str = ""
    email: str = ""
    identities: tuple[tuple[str, str], ...] = ()
    company_name: str = ""
    job_title: str = ""
    industry: str = ""
    region: str = ""
    company_size: str = ""
    language: str = ""
    custom_fields: dict[str, Any] = field(default_factory=dict)
    source_detail: SourceDetail = field(default_factory=SourceDetail)
    # Who gets it; None leaves it to the assignment rules (or the pool).
    owner: Membership | None = None
    # Free text the person wrote (a web form's message): the lead's first note.
    message: str = ""


# --- helpers ---------------------------------------------------------------------------------
def lead_settings(workspace: Workspace | int) -> LeadSettings:
    """The workspace's lead settings, made with the defaults on first use."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    found, _created = LeadSettings.objects.get_or_create(workspace_id=workspace_id)
    return found


def lead_settings_update(
    *, actor: Actor, claim_limit: int | None = None, follow_up_hours: int | None = None
) -> LeadSettings:
    """Change the pool's claim limit and follow-up window (leads.configure)."""
    actor.require("leads.configure")
    current = lead_settings(actor.workspace)
    if claim_limit is not None:
        if not 1 <= claim_limit <= CLAIM_LIMIT_MAX:
            raise InvalidInputError(
                _("Between 1 and %(max)d.") % {"max": CLAIM_LIMIT_MAX}, field="claim_limit"
            )
        current.claim_limit = claim_limit
    if follow_up_hours is not None:
        if not 0 <= follow_up_hours <= FOLLOW_UP_HOURS_MAX:
            raise InvalidInputError(
                _("Between 0 and %(max)d.") % {"max": FOLLOW_UP_HOURS_MAX},
                field="follow_up_hours",
            )
        current.follow_up_hours = follow_up_hours
    current.save()
    return current


def lead_url(lead: Lead) -> str:
    return reverse("sales:lead_detail", args=[lead.public_id])


def open_leads_of(membership: Membership) -> QuerySet[Lead]:
    return Lead.objects.filter(
        workspace_id=membership.workspace_id, owner=membership, status__in=OPEN_STATUSES
    )


def claim_allowance(membership: Membership) -> tuple[int, int]:
    """(open leads the rep holds, their claim limit: their own, else the workspace's)."""
    limit = claim_limits(membership.workspace_id, [membership.pk]).of(membership.pk)
    return open_leads_of(membership).count(), limit


@dataclass(frozen=True)
class RepClaim:
    """A rep on the claim-limit list: open leads held, their own limit (None: the
    workspace's) and the limit that applies."""

    membership: Membership
    held: int
    own_limit: int | None
    limit: int


def rep_claims(actor: Actor) -> list[RepClaim]:
    """Every member who can hold leads, by name, with what they hold and may hold
    (leads.configure). Four queries."""
    actor.require("leads.configure")
    reps = assignable_reps(actor.workspace.pk)
    limits = claim_limits(actor.workspace.pk)
    held = open_lead_counts(actor.workspace.pk, [rep.pk for rep in reps])
    return [
        RepClaim(
            membership=rep,
            held=held.get(rep.pk, 0),
            own_limit=limits.own.get(rep.pk),
            limit=limits.of(rep.pk),
        )
        for rep in reps
    ]


def rep_claim_limit_set(
    *, actor: Actor, membership: Membership, claim_limit: int | None
) -> RepClaimLimit | None:
    """Give the rep a claim limit of their own, or (None) put them back on the workspace's
    (leads.configure). Leads they hold beyond a lowered limit stay with them; they cannot
    claim, nor be given by a rule without a capacity, until they hold fewer."""
    actor.require("leads.configure")
    if membership.workspace_id != actor.workspace.pk:
        raise NotFoundError(_("No such member."))
    if claim_limit is None:
        RepClaimLimit.objects.filter(membership=membership).delete()
        return None
    if not can_work_leads(membership):
        raise InvalidInputError(_("This member cannot hold leads."), field="member_id")
    if not 1 <= claim_limit <= CLAIM_LIMIT_MAX:
        raise InvalidInputError(
            _("Between 1 and %(max)d.") % {"max": CLAIM_LIMIT_MAX}, field="claim_limit"
        )
    own, _created = RepClaimLimit.objects.update_or_create(
        membership=membership,
        defaults={"workspace_id": membership.workspace_id, "claim_limit": claim_limit},
    )
    return own


def _member(actor: Actor) -> Membership:
    membership = actor.membership
    if membership is None:
        raise PermissionDeniedError(_("Only a member can hold leads."))
    if not membership.is_active:
        raise PermissionDeniedError(_("This member is deactivated."))
    return membership


def _lock(lead: Lead) -> Lead:
    locked: Lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("customer", "owner__user")
        .get(pk=lead.pk, workspace_id=lead.workspace_id)
    )
    return locked


def _require_change(actor: Actor, lead: Lead) -> None:
    """Changing a lead: its owner, or a role that assigns leads (managers). A lead in the pool
    is claimed first; seeing it there is not owning it."""
    actor.require("leads.manage")
    if actor.has("leads.assign"):
        return
    if lead.owner_id is None:
        raise PermissionDeniedError(_("Claim this lead from the pool first."))
    membership = actor.membership
    if membership is not None and lead.owner_id == membership.pk:
        return
    # Record rules (team subtree, shares) were checked by access_lead; a view-all role that
    # manages leads may change what it sees.
    if actor.has("records.view_all") or actor.has("records.view_team"):
        return
    raise PermissionDeniedError(_("This lead belongs to someone else."))


def _clean_text(data: LeadData) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, limit in TEXT_LIMITS.items():
        value = (getattr(data, name) or "").strip()
        if len(value) > limit:
            raise InvalidInputError(_("At most %(max)d characters.") % {"max": limit}, field=name)
        values[name] = value
    size = (data.company_size or "").strip()
    if size not in Company.Size.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.")
            % {"choices": ", ".join(value for value in Company.Size.values if value)},
            field="company_size",
        )
    values["company_size"] = size
    return values


def lead_identity_keys(
    workspace_id: int, data: LeadData, rules: WorkspaceRules | None = None
) -> list[IdentityKey]:
    """The identity keys of `data`, normalized; InvalidInputError naming `phone`, `email` or
    `identities` for a value that is not one. `rules`: the workspace's, if loaded already."""
    rules = rules or workspace_rules(workspace_id)
    region = rules.default_region
    keys: list[IdentityKey] = []
    named = [("phone", data.phone, "phone"), ("email", data.email, "email")]
    named += [(kind, value, "identities") for kind, value in data.identities]
    for kind, value, field_name in named:
        if not (value or "").strip():
            continue
        try:
            key = identity_key(kind, value.strip(), default_region=region)
        except InvalidInputError as error:
            raise InvalidInputError(error.detail, field=field_name) from None
        if rules.is_junk(key.base_kind, key.value):
            raise InvalidInputError(
                _("This looks like a placeholder, not a real contact."), field=field_name
            )
        keys.append(key)
    if not keys:
        raise InvalidInputError(
            _("Give a phone number, an email address or another way to reach this person."),
            field="phone",
        )
    return keys


def _lifecycle_at_least_lead(customer: Customer) -> None:
    """Move the customer to `lead` unless they are further along (never backwards)."""
    if LIFECYCLE_ORDER[customer.lifecycle_stage] < LIFECYCLE_ORDER[LifecycleStage.LEAD]:
        Customer.objects.filter(pk=customer.pk).update(lifecycle_stage=LifecycleStage.LEAD)
        customer.lifecycle_stage = LifecycleStage.LEAD


def _publish(lead: Lead, kind: str, **extra: Any) -> None:
    outbox_publish(
        workspace_id=lead.workspace_id,
        kind=kind,
        payload={
            "lead_id": lead.pk,
            "lead_public_id": str(lead.public_id),
            "customer_id": lead.customer_id,
            "source": lead.source,
            **extra,
        },
    )


def _open_lead_of(customer: Customer) -> Lead | None:
    found: Lead | None = (
        Lead.objects.select_for_update()
        .filter(workspace_id=customer.workspace_id, customer=customer, status__in=OPEN_STATUSES)
        .order_by("created_at", "pk")
        .first()
    )
    return found


def _acting(actor: Actor | None) -> Membership | None:
    if actor is None or actor.membership is None or not actor.membership.is_active:
        return None
    return actor.membership


def _note(lead: Lead, *, subject: str, body: str, author: Membership | None) -> Activity:
    return Activity.objects.create(
        workspace_id=lead.workspace_id,
        kind=Activity.Kind.NOTE,
        subject=subject[:200],
        body=body,
        lead=lead,
        customer_id=lead.customer_id,
        author=author,
    )


def _score_and_assign(lead: Lead, *, owner: Membership | None, actor: Actor | None) -> None:
    # Written by the scoring and assignment helpers; imported here so this module does not
    # depend on them at import time (they import leads' neighbours).
    from huike.sales.assignment import lead_assign_automatically
    from huike.sales.scoring import lead_score_attributes

    lead_score_attributes(lead=lead)
    if owner is not None:
        if owner.workspace_id != lead.workspace_id or not owner.is_active:
            raise InvalidInputError(_("Not an active member of this workspace."), field="owner")
        lead_owner_change(
            lead=lead, to_owner=owner, kind=LeadHistory.Kind.ASSIGNED, actor=_acting(actor)
        )
        if actor is None or actor.membership != owner:
            _notify_assigned(lead, owner)
        return
    lead_assign_automatically(lead=lead)


def _notify_assigned(lead: Lead, owner: Membership) -> None:
    notify(
        recipient=owner,
        kind="lead.assigned",
        subject_key=f"sales.lead:{lead.pk}:{lead.assigned_at:%Y%m%d%H%M%S%f}"
        if lead.assigned_at
        else f"sales.lead:{lead.pk}",
        title=_("New lead: %(lead)s") % {"lead": lead},
        url=lead_url(lead),
    )


# --- capture ---------------------------------------------------------------------------------
def _repeat(lead: Lead, *, source: str, data: LeadData, texts: Mapping[str, str]) -> None:
    """A person with an open lead was captured again: note where from, fill blanks."""
    detail = dict(lead.source_detail or {})
    repeats = list(detail.get("repeats", []))[-(MAX_REPEATS_KEPT - 1) :]
    repeats.append(
        {"source": source, "at": timezone.now().isoformat(), **data.source_detail.as_json()}
    )
    detail["repeats"] = repeats
    lead.source_detail = detail
    changed = ["source_detail", "updated_at"]
    for name, value in texts.items():
        if value and not getattr(lead, name):
            setattr(lead, name, value)
            changed.append(name)
    if data.custom_fields:
        lead.custom_fields = {**data.custom_fields, **(lead.custom_fields or {})}
        changed.append("custom_fields")
    lead.save(update_fields=changed)
    LeadHistory.objects.create(
        workspace_id=lead.workspace_id,
        lead=lead,
        kind=LeadHistory.Kind.CREATED,
        details={"repeat": True, "source": source, **data.source_detail.as_json()},
    )
    if len(changed) > 2:
        from huike.sales.scoring import lead_score_attributes

        lead_score_attributes(lead=lead)


def lead_capture_for_customer(
    *,
    customer: Customer,
    source: str,
    data: LeadData,
    actor: Actor | None = None,
) -> tuple[Lead, bool]:
    """The open lead of a known customer, or a new one: (lead, created?). Runs in the caller's
    transaction; the customer's row is locked so two captures of one person make one lead."""
    if source not in LeadSource.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(LeadSource.values)},
            field="source",
        )
    texts = _clean_text(data)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        _lifecycle_at_least_lead(customer)
        existing = _open_lead_of(customer)
        if existing is not None:
            _repeat(existing, source=source, data=data, texts=texts)
            return existing, False
        lead = Lead(
            workspace_id=customer.workspace_id,
            customer=customer,
            company=customer.company,
            source=source,
            source_detail=data.source_detail.as_json(),
            custom_fields=dict(data.custom_fields),
            created_by=_acting(actor),
            **{**texts, "name": texts["name"] or customer.name[:200]},
        )
        lead.save(force_insert=True)
        LeadHistory.objects.create(
            workspace_id=lead.workspace_id,
            lead=lead,
            kind=LeadHistory.Kind.CREATED,
            actor=_acting(actor),
            details={"source": source, **data.source_detail.as_json()},
            created_at=lead.created_at,
        )
        if data.message.strip():
            _note(
                lead,
                subject=_("Message from the lead"),
                body=data.message.strip()[:10_000],
                author=None,
            )
        event_record(
            customer=customer,
            kind="lead.created",
            properties={
                "lead": str(lead.public_id),
                "source": source,
                **({"by": actor.label} if actor is not None else {}),
                **data.source_detail.as_json(),
            },
            source="sales",
        )
        _publish(lead, "lead.created")
        _score_and_assign(lead, owner=data.owner, actor=actor)
        lead.refresh_from_db()
    return lead, True


def lead_capture(
    *,
    workspace: Workspace,
    source: str,
    data: LeadData,
    actor: Actor | None = None,
    keys: WorkspaceKeys | None = None,
    rules: WorkspaceRules | None = None,
) -> Lead:
    """Capture a lead: resolve the person through their identities (a known phone or email
    attaches to that customer; a new person becomes a customer at lifecycle `lead`), then the
    customer's open lead is returned (the repeat recorded on it) or a new one is made, scored
    and assigned by the rules (or given to `data.owner`) — all in one transaction.

    `actor` is who entered it (None for a visitor's web form); `keys` and `rules` are the
    workspace's, for a caller capturing many (an import) that loaded them once. Raises
    InvalidInputError naming
    the field (phone, email, identities, source, a text field), and ConflictError, writing
    nothing, when the person's open lead is one the actor may not see (another rep's): the
    capture would record a repeat on it and hand it back."""
    if actor is not None:
        actor.require("leads.manage")
        if actor.workspace.pk != workspace.pk:
            raise PermissionDeniedError(_("Not in this workspace."))
    rules = rules or workspace_rules(workspace.pk)
    identity_keys = lead_identity_keys(workspace.pk, data, rules)
    with transaction.atomic():
        resolution = identity_resolve(
            workspace_id=workspace.pk,
            identity_keys=identity_keys,
            keys=keys,
            rules=rules,
            source=f"lead:{source}"[:40],
            # A web form is filled in by anyone: what it names is not proof of who it is.
            verified=source != LeadSource.WEB_FORM,
            new_customer=NewCustomer(
                name=data.name.strip(),
                lifecycle_stage=LifecycleStage.LEAD,
                source_channel=source,
                locale=data.language.strip(),
            ),
        )
        customer = resolution.customer
        if not resolution.is_new and not customer.name and data.name.strip():
            Customer.objects.filter(pk=customer.pk, name="").update(name=data.name.strip()[:200])
        lead, created = lead_capture_for_customer(
            customer=customer, source=source, data=data, actor=actor
        )
        if actor is not None and not created and not _may_see(actor, lead):
            raise ConflictError(
                _("This person has an open lead you cannot see: ask its owner or a manager."),
                field="phone" if data.phone.strip() else "email" if data.email.strip() else None,
            )
    return lead


def _may_see(actor: Actor, lead: Lead) -> bool:
    return actor.has("leads.view") and visible_leads(actor).filter(pk=lead.pk).exists()


def lead_touch(*, lead: Lead, at: dt.datetime | None = None) -> None:
    """A follow-up happened (an activity was logged, a status set): the pool's return clock
    starts over, and the first one is the first contact (SLA)."""
    at = at or timezone.now()
    Lead.objects.filter(pk=lead.pk).filter(
        Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=at)
    ).update(last_activity_at=at)
    Lead.objects.filter(pk=lead.pk, first_contacted_at__isnull=True).update(first_contacted_at=at)
    lead.last_activity_at = max(filter(None, [lead.last_activity_at, at]))
    lead.first_contacted_at = lead.first_contacted_at or at


# --- the pool --------------------------------------------------------------------------------
def lead_claim(*, actor: Actor, lead: Lead) -> Lead:
    """Take a lead from the pool. The lead's row is locked: of two reps claiming at once one
    wins and the other gets ConflictError; so does a rep who holds their claim limit of open
    leads, their own or else the workspace's (their membership row is locked too, so two
    claims of their own cannot both pass the limit)."""
    actor.require("leads.claim")
    member = _member(actor)
    with transaction.atomic():
        locked = _lock(lead)
        if locked.owner_id == member.pk:
            return locked
        if locked.owner_id is not None:
            raise ConflictError(_("Someone else has claimed this lead."))
        if locked.status not in OPEN_STATUSES:
            raise ConflictError(_("This lead is closed; it cannot be claimed."))
        Membership.objects.select_for_update().filter(pk=member.pk).get()
        held, limit = claim_allowance(member)
        if held >= limit:
            raise ConflictError(
                _("You hold %(count)d open leads, the most you may hold.") % {"count": held}
            )
        lead_owner_change(lead=locked, to_owner=member, kind=LeadHistory.Kind.CLAIMED, actor=member)
    return locked


def lead_release(*, actor: Actor, lead: Lead, reason: str = "") -> Lead:
    """Give a lead back to the pool: its owner, or a role that assigns leads."""
    actor.require("leads.manage")
    reason = reason.strip()[:REASON_MAX_LENGTH]
    with transaction.atomic():
        locked = _lock(lead)
        if locked.owner_id is None:
            raise ConflictError(_("This lead is already in the pool."))
        membership = actor.membership
        if not actor.has("leads.assign") and (
            membership is None or locked.owner_id != membership.pk
        ):
            raise PermissionDeniedError(_("Only the lead's owner can release it."))
        if locked.status not in OPEN_STATUSES:
            raise ConflictError(_("This lead is closed; it stays with its owner."))
        lead_owner_change(
            lead=locked,
            to_owner=None,
            kind=LeadHistory.Kind.RELEASED,
            actor=_acting(actor),
            details={"reason": reason} if reason else None,
        )
    return locked


def lead_assign(*, actor: Actor, lead: Lead, owner: Membership | None, reason: str = "") -> Lead:
    """Give a lead to `owner` by hand (None: to the pool), with the reason in its history.
    The new owner is notified. Needs leads.assign; the claim limit does not apply (a manager
    may hand out more)."""
    actor.require("leads.assign")
    reason = reason.strip()[:REASON_MAX_LENGTH]
    if owner is not None and (owner.workspace_id != actor.workspace.pk or not owner.is_active):
        raise InvalidInputError(_("Not an active member of this workspace."), field="owner")
    with transaction.atomic():
        locked = _lock(lead)
        if locked.owner_id == (owner.pk if owner else None):
            return locked
        if locked.status == LeadStatus.CONVERTED and owner is None:
            raise ConflictError(_("A converted lead stays with its owner."))
        lead_owner_change(
            lead=locked,
            to_owner=owner,
            kind=LeadHistory.Kind.ASSIGNED if owner else LeadHistory.Kind.RELEASED,
            actor=_acting(actor),
            details={"reason": reason} if reason else None,
        )
        if owner is not None and owner != actor.membership:
            _notify_assigned(locked, owner)
    return locked


def _stale_condition(cutoff: dt.datetime) -> Q:
    """No follow-up since `cutoff`: neither an activity nor the assignment itself."""
    quiet = Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=cutoff)
    held = Q(assigned_at__lt=cutoff) | Q(assigned_at__isnull=True, created_at__lt=cutoff)
    return quiet & held


def leads_return_stale(workspace_id: int, *, now: dt.datetime | None = None) -> int:
    """Owned open leads nobody followed up within LeadSettings.follow_up_hours go back to the
    pool (history RETURNED, returned_to_pool_count + 1, the former owner notified). Safe to
    run again and concurrently: each lead is re-checked under its row lock."""
    settings = lead_settings(workspace_id)
    if settings.follow_up_hours == 0:
        return 0
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.follow_up_hours)
    candidates = Lead.objects.filter(
        workspace_id=workspace_id, owner__isnull=False, status__in=OPEN_STATUSES
    ).filter(_stale_condition(cutoff))
    returned = 0
    while True:
        ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:RETURN_BATCH_SIZE])
        if not ids:
            return returned
        with transaction.atomic():
            for locked in (
                Lead.objects.select_for_update(of=("self",))
                .filter(pk__in=ids)
                .filter(owner__isnull=False, status__in=OPEN_STATUSES)
                .filter(_stale_condition(cutoff))
                .select_related("owner")
                .order_by("pk")
            ):
                former = locked.owner
                assert former is not None
                lead_owner_change(
                    lead=locked,
                    to_owner=None,
                    kind=LeadHistory.Kind.RETURNED,
                    details={"follow_up_hours": settings.follow_up_hours},
                )
                Lead.objects.filter(pk=locked.pk).update(
                    returned_to_pool_count=F("returned_to_pool_count") + 1
                )
                notify(
                    recipient=former,
                    kind="lead.returned",
                    subject_key=f"sales.lead:{locked.pk}:{locked.returned_to_pool_count + 1}",
                    title=_("Back in the pool: %(lead)s") % {"lead": locked},
                    body=_("Nobody followed this lead up within %(hours)d hours.")
                    % {"hours": settings.follow_up_hours},
                    url=lead_url(locked),
                )
                returned += 1
        # Whatever was not returned (touched meanwhile) no longer matches the query.
        if len(ids) < RETURN_BATCH_SIZE:
            return returned


# --- status and fields -----------------------------------------------------------------------
def lead_status_set(*, actor: Actor, lead: Lead, status: str, reason: str = "") -> Lead:
    """new → contacted → qualified / unqualified (a reason is required) and back; a converted
    lead is final, and conversion itself is lead_convert. A status change is a follow-up."""
    if status not in SETTABLE_STATUSES:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(SETTABLE_STATUSES)},
            field="status",
        )
    reason = reason.strip()
    if status == LeadStatus.UNQUALIFIED and not reason:
        raise InvalidInputError(_("Say why this lead is unqualified."), field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": REASON_MAX_LENGTH}, field="reason"
        )
    with transaction.atomic():
        locked = _lock(lead)
        _require_change(actor, locked)
        if locked.status == LeadStatus.CONVERTED:
            raise ConflictError(_("This lead is converted; its status is final."))
        previous = locked.status
        if previous == status and (
            status != LeadStatus.UNQUALIFIED or reason == locked.unqualified_reason
        ):
            return locked
        if previous == LeadStatus.UNQUALIFIED and status in OPEN_STATUSES:
            other = (
                Lead.objects.filter(
                    workspace_id=locked.workspace_id,
                    customer_id=locked.customer_id,
                    status__in=OPEN_STATUSES,
                )
                .exclude(pk=locked.pk)
                .first()
            )
            if other is not None:
                raise ConflictError(_("This customer has another open lead."))
        locked.status = status
        locked.unqualified_reason = reason if status == LeadStatus.UNQUALIFIED else ""
        locked.save(update_fields=["status", "unqualified_reason", "updated_at"])
        LeadHistory.objects.create(
            workspace_id=locked.workspace_id,
            lead=locked,
            kind=LeadHistory.Kind.STATUS,
            actor=_acting(actor),
            details={"from": previous, "to": status, **({"reason": reason} if reason else {})},
        )
        if status != LeadStatus.NEW:
            lead_touch(lead=locked)
    return locked


LEAD_FIELDS = (*TEXT_LIMITS, "company_size", "custom_fields")


def lead_update(*, actor: Actor, lead: Lead, values: Mapping[str, Any]) -> Lead:
    """Change the lead's own fields (name, company_name, job_title, industry, region,
    company_size, language, custom_fields); the attribute score follows."""
    unknown = set(values) - set(LEAD_FIELDS)
    if unknown:
        raise InvalidInputError(_("Unknown field."), field=sorted(unknown)[0])
    with transaction.atomic():
        locked = _lock(lead)
        _require_change(actor, locked)
        current = {name: getattr(locked, name) for name in TEXT_LIMITS} | {
            "company_size": locked.company_size
        }
        texts = _clean_text(
            LeadData(**{**current, **{k: v for k, v in values.items() if k != "custom_fields"}})
        )
        changed = [name for name, value in texts.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, texts[name])
        if "custom_fields" in values:
            custom = values["custom_fields"]
            if not isinstance(custom, dict):
                raise InvalidInputError(_("An object of field values."), field="custom_fields")
            if custom != locked.custom_fields:
                locked.custom_fields = custom
                changed.append("custom_fields")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            from huike.sales.scoring import lead_score_attributes

            lead_score_attributes(lead=locked)
            locked.refresh_from_db()
    return locked


def lead_delete(*, actor: Actor, lead: Lead) -> None:
    """Delete a lead (its customer stays). A converted lead is kept: its deal refers to it."""
    with transaction.atomic():
        locked = _lock(lead)
        _require_change(actor, locked)
        if locked.status == LeadStatus.CONVERTED:
            raise ConflictError(_("A converted lead is kept with its deal."))
        locked.delete()


# --- conversion ------------------------------------------------------------------------------
def _company_for(actor: Actor, lead: Lead) -> Company | None:
    """The lead's company: the one it or its customer has, the workspace's company of that
    name, or a new one made from the lead's fields."""
    if lead.company_id is not None:
        return lead.company
    if lead.customer.company_id is not None:
        return lead.customer.company
    name = lead.company_name.strip()
    if not name:
        return None
    found: Company | None = (
        Company.objects.filter(workspace_id=lead.workspace_id, name__iexact=name)
        .order_by("pk")
        .first()
    )
    if found is not None:
        return found
    from huike.customers.services import company_create

    created: Company = company_create(
        actor=actor,
        data={
            "name": name,
            "industry": lead.industry,
            "region": lead.region,
            "size": lead.company_size,
        },
    )
    return created


def lead_convert(
    *,
    actor: Actor,
    lead: Lead,
    pipeline: Pipeline,
    stage: Stage | None = None,
    deal_name: str | None = None,
    amount: Decimal = Decimal(0),
    currency: str | None = None,
    expected_close_date: dt.date | None = None,
) -> Deal:
    """Convert a lead: link or create its company, open a deal in `pipeline` (at `stage`, or its
    first open stage) for its customer and company, and mark the lead converted — once: a
    second conversion is ConflictError (the lead's row is locked, so two at once make one
    deal). The customer's lifecycle is at least `lead` afterwards, never moved back."""
    from huike.sales.deals import deal_create

    actor.require("leads.manage")
    if pipeline.workspace_id != actor.workspace.pk:
        raise InvalidInputError(_("No such pipeline."), field="pipeline_id")
    if stage is not None and stage.pipeline_id != pipeline.pk:
        raise InvalidInputError(_("This stage is not in that pipeline."), field="stage_id")
    with transaction.atomic():
        locked = _lock(lead)
        if locked.owner_id is not None:
            _require_change(actor, locked)
        if locked.status == LeadStatus.CONVERTED or locked.deal_id is not None:
            raise ConflictError(_("This lead is already converted."))
        if locked.status == LeadStatus.UNQUALIFIED:
            raise ConflictError(_("This lead is unqualified; reopen it before converting."))
        if locked.owner_id is None:
            # Converting a pool lead takes it: the deal and the lead belong to whoever did it.
            member = _member(actor)
            actor.require("leads.claim")
            lead_owner_change(
                lead=locked, to_owner=member, kind=LeadHistory.Kind.CLAIMED, actor=member
            )
        customer = Customer.objects.select_for_update().get(pk=locked.customer_id)
        locked.customer = customer
        company = _company_for(actor, locked)
        if company is not None and customer.company_id is None:
            Customer.objects.filter(pk=customer.pk).update(company=company)
            customer.company = company
        _lifecycle_at_least_lead(customer)
        name = (deal_name or "").strip() or str(
            locked.company_name or locked.name or customer.name or _("Deal")
        )
        deal = deal_create(
            actor=actor,
            pipeline=pipeline,
            name=name[:200],
            stage=stage,
            amount=amount,
            currency=currency,
            customer=customer,
            company=company,
            owner=locked.owner,
            lead=locked,
            expected_close_date=expected_close_date,
        )
        moment = timezone.now()
        locked.status = LeadStatus.CONVERTED
        locked.deal = deal
        locked.company = company
        locked.converted_at = moment
        locked.save(update_fields=["status", "deal", "company", "converted_at", "updated_at"])
        LeadHistory.objects.create(
            workspace_id=locked.workspace_id,
            lead=locked,
            kind=LeadHistory.Kind.CONVERTED,
            actor=_acting(actor),
            details={"deal": str(deal.public_id), "pipeline": str(pipeline.public_id)},
            created_at=moment,
        )
        event_record(
            customer=customer,
            kind="lead.converted",
            properties={
                "lead": str(locked.public_id),
                "deal": str(deal.public_id),
                "by": actor.label,
            },
            source="sales",
        )
        _publish(locked, "lead.converted", deal_id=deal.pk, deal_public_id=str(deal.public_id))
    return deal


# --- conversation → lead ---------------------------------------------------------------------
def lead_from_conversation(actor: Actor, context: ConversationContext) -> str:
    """The inbox's "Turn into a lead" (huike.channels.conversation_actions): the customer's
    open lead, or a new one from the conversation with its transcript as the first note. A
    member who may claim leads gets it; otherwise the assignment rules decide. Returns the
    lead's URL."""
    actor.require("leads.manage")
    if context.workspace_id != actor.workspace.pk:
        raise PermissionDeniedError(_("Not in this workspace."))
    customer = Customer.objects.get(pk=context.customer_id, workspace_id=context.workspace_id)
    owner = actor.membership if actor.has("leads.claim") and _acting(actor) else None
    with transaction.atomic():
        lead, created = lead_capture_for_customer(
            customer=customer,
            source=LeadSource.CHANNEL,
            data=LeadData(
                name=customer.name,
                language=customer.locale,
                owner=owner,
                source_detail=SourceDetail(
                    conversation_id=str(context.conversation_public_id),
                    channel=f"{context.channel_kind}:{context.channel_name}",
                ),
            ),
            actor=actor,
        )
        if created and context.transcript.strip():
            _note(
                lead,
                subject=context.subject
                or _("Conversation on %(channel)s") % {"channel": context.channel_name},
                body=context.transcript[:20_000],
                author=_acting(actor),
            )
    return lead_url(lead)


# --- reading ---------------------------------------------------------------------------------
LEAD_ORDERING = ("-created_at", "-id")
POOL_ORDERING = ("-score", "-created_at", "-id")
# Scopes of the lead list: whose leads it shows (the record rules still apply on top).
SCOPE_MINE, SCOPE_TEAM, SCOPE_ALL = "mine", "team", "all"


@dataclass(frozen=True)
class LeadFilters:
    status: str = ""  # a status, "open" (new, contacted, qualified) or "" for all
    owner: str = ""  # "me", "none" (the pool) or a member's public id
    pool: bool = False
    source: str = ""
    score_min: int | None = None
    score_max: int | None = None
    band: str = ""  # "mql", "sql" or "none"
    q: str = ""
    scope: str = ""  # SCOPE_MINE / SCOPE_TEAM / SCOPE_ALL; "" as the record rules allow


def lead_scopes(actor: Actor) -> list[str]:
    """The list's scopes the actor may pick: mine always, the team for team-subtree roles,
    all for roles that see every record."""
    scopes = [SCOPE_MINE]
    if actor.has("records.view_team"):
        scopes.append(SCOPE_TEAM)
    if actor.has("records.view_all") or actor.has("leads.assign"):
        scopes.append(SCOPE_ALL)
    return scopes


def lead_list(actor: Actor, filters: LeadFilters) -> QuerySet[Lead]:
    """The leads the actor may see (huike.sales.access.visible_leads), filtered."""
    from huike.sales.access import visible_leads

    queryset = visible_leads(actor).select_related("customer", "owner__user", "team")
    membership = actor.membership
    if filters.scope == SCOPE_MINE or filters.owner == "me":
        queryset = queryset.filter(owner_id=membership.pk if membership else None)
    elif filters.scope == SCOPE_TEAM and membership is not None:
        from huike.accounts.visibility import team_subtree_ids

        subtree = team_subtree_ids(membership)
        queryset = queryset.filter(Q(owner__team_id__in=subtree) | Q(owner=membership))
    if filters.pool or filters.owner == "none":
        if not actor.has("records.view_all"):
            actor.require("leads.claim")
        queryset = queryset.filter(owner__isnull=True)
    elif filters.owner not in ("", "me"):
        queryset = queryset.filter(owner__public_id=_uuid_or_nil(filters.owner))
    if filters.status == "open":
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.source:
        queryset = queryset.filter(source=filters.source)
    if filters.score_min is not None:
        queryset = queryset.filter(score__gte=filters.score_min)
    if filters.score_max is not None:
        queryset = queryset.filter(score__lte=filters.score_max)
    if filters.band:
        queryset = queryset.filter(score_band="" if filters.band == "none" else filters.band)
    q = filters.q.strip()
    if q:
        queryset = queryset.filter(
            Q(name__icontains=q) | Q(company_name__icontains=q) | Q(customer__name__icontains=q)
        )
    return queryset


def _uuid_or_nil(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.UUID(int=0))  # matches nobody


def lead_history(lead: Lead) -> QuerySet[LeadHistory]:
    return LeadHistory.objects.filter(lead=lead).select_related(
        "actor__user", "from_owner__user", "to_owner__user"
    )
