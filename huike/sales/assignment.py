"""Lead assignment: rules that give pool leads to reps, and the first-contact SLA.

Rules are evaluated in `position` order and the first whose conditions match *and* that finds
someone hands the lead out: round-robin over its reps, the rep with the fewest open leads
(least-load), or a named owner. Round-robin and least-load skip reps at their capacity (the
rule's, else the rep's claim limit: their own or the workspace's); when nobody has room the
next rule is tried, and a lead no rule places stays in the pool.

Concurrency: an assigner locks every active rule of the workspace (in primary-key order, after
the lead it assigns) for the rest of its transaction. Round-robin turns and rep loads are read
and written under that lock, so two assigners never hand out the same turn or fill a rep beyond
capacity, even through two different rules sharing the rep. Locks are always taken leads first,
then rules, which is the order of every path here (capture, the pending job, rule changes), so
they cannot deadlock each other.

First contact: a rule with an SLA sets `first_contact_due_at`; the minute job reminds the owner
when it passes and, one SLA period later, escalates to the manager of the owner's team (else the
workspace admins). Both write the lead's history and a timestamp in the transaction that
notifies, so a rerun notifies nobody twice.
"""

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.accounts.roles import ADMIN
from huike.core.errors import InvalidInputError
from huike.core.outbox import outbox_publish
from huike.core.tasks import enqueue_on_commit
from huike.sales.models import (
    AssignmentRule,
    AssignmentStrategy,
    Lead,
    LeadHistory,
    LeadSource,
    LeadStatus,
    Notification,
)
from huike.sales.notifications import notify
from huike.sales.ownership import ClaimLimits, claim_limits, lead_owner_change

# Leads in these statuses are done with: they count towards nobody's load and are never
# assigned or chased for first contact.
CLOSED_STATUSES = (LeadStatus.CONVERTED, LeadStatus.UNQUALIFIED)
# Only reps whose role may see leads get them: anyone else could not open what they were given.
WORKS_LEADS_PERMISSION = "leads.view"

# --- limits on what a rule may say ---------------------------------------------------------
# Values per condition list: territories and industries are a handful each in practice; 50
# leaves room while keeping the rule's matching (and its SQL) small.
MAX_CONDITION_VALUES = 50
MAX_CONDITION_VALUE_LENGTH = 100  # the length of the lead fields compared with
MAX_RULE_NAME_LENGTH = 100
MAX_RULE_MEMBERS = 200
# Anything beyond a month is not a first-contact SLA any more.
MAX_SLA_MINUTES = 60 * 24 * 30
MAX_CAPACITY = 100_000

# --- the pending job ("high-score leads first") --------------------------------------------
# Leads assigned per transaction: each takes about a dozen queries under the rule locks, so a
# batch holds those locks for well under a second and new captures wait at most that long.
PENDING_BATCH_SIZE = 50
# Pool leads one run looks at. The pool is scanned best score first, so the leads that matter
# most are always reached; the next run (five minutes later) picks up anything beyond this.
PENDING_SCAN_LIMIT = 5_000

# --- first-contact SLA ---------------------------------------------------------------------
# The escalation comes this many SLA periods after the due time (one: a 60-minute SLA reminds
# at 60 minutes and escalates at 120), giving the rep as long again after the reminder.
ESCALATION_GRACE_FACTOR = 1
# Leads one pass of the minute job handles per query; it keeps going until none are left.
SLA_BATCH_SIZE = 200

NOTIFY_ASSIGNED = "lead.assigned"
NOTIFY_SLA_REMINDER = "lead.sla_reminder"
NOTIFY_SLA_ESCALATED = "lead.sla_escalated"


# ---------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------

# condition list -> the lead field it is compared with (case-insensitively)
CONDITION_FIELDS = {
    "regions": "region",
    "sources": "source",
    "industries": "industry",
    "languages": "language",
}
SCORE_BOUNDS = ("min_score", "max_score")


@dataclass(frozen=True)
class RuleConditions:
    """What a lead must be for a rule to take it. An empty list matches anything; a lead
    matches a list when its field equals one of the values, ignoring case."""

    regions: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_score: int | None = None
    max_score: int | None = None

    @classmethod
    def of(cls, rule: AssignmentRule) -> "RuleConditions":
        """The stored conditions of a rule (written by `conditions_clean`, so trusted)."""
        stored = rule.conditions if isinstance(rule.conditions, dict) else {}
        return cls.build(
            {name: tuple(stored.get(name) or ()) for name in CONDITION_FIELDS},
            {name: stored.get(name) for name in SCORE_BOUNDS},
        )

    @classmethod
    def build(
        cls, lists: Mapping[str, tuple[str, ...]], bounds: Mapping[str, int | None]
    ) -> "RuleConditions":
        return cls(
            regions=lists["regions"],
            sources=lists["sources"],
            industries=lists["industries"],
            languages=lists["languages"],
            min_score=bounds["min_score"],
            max_score=bounds["max_score"],
        )

    def values_of(self, name: str) -> tuple[str, ...]:
        values: tuple[str, ...] = getattr(self, name)
        return values

    def matches(self, lead: Lead) -> bool:
        for name, lead_field in CONDITION_FIELDS.items():
            values = self.values_of(name)
            if values and str(getattr(lead, lead_field)).casefold() not in {
                value.casefold() for value in values
            }:
                return False
        if self.min_score is not None and lead.score < self.min_score:
            return False
        return self.max_score is None or lead.score <= self.max_score

    def as_q(self) -> Q:
        """The same test in SQL (for finding the pool leads a rule takes)."""
        condition = Q()
        for name, lead_field in CONDITION_FIELDS.items():
            values = self.values_of(name)
            if values:
                condition &= reduce(or_, (Q(**{f"{lead_field}__iexact": v}) for v in values))
        if self.min_score is not None:
            condition &= Q(score__gte=self.min_score)
        if self.max_score is not None:
            condition &= Q(score__lte=self.max_score)
        return condition

    def as_json(self) -> dict[str, Any]:
        return {
            **{name: list(self.values_of(name)) for name in CONDITION_FIELDS},
            "min_score": self.min_score,
            "max_score": self.max_score,
        }

    @property
    def is_empty(self) -> bool:
        return self == RuleConditions()


def _clean_values(name: str, raw: Any) -> tuple[str, ...]:
    field_name = f"conditions.{name}"
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise InvalidInputError(_("Give a list of values."), field=field_name)
    values: dict[str, str] = {}  # casefolded -> as typed, first spelling wins
    for value in raw:
        if not isinstance(value, str):
            raise InvalidInputError(_("Each value must be text."), field=field_name)
        text = value.strip()
        if not text:
            continue
        if len(text) > MAX_CONDITION_VALUE_LENGTH:
            raise InvalidInputError(
                _("A value is at most %(count)d characters.")
                % {"count": MAX_CONDITION_VALUE_LENGTH},
                field=field_name,
            )
        values.setdefault(text.casefold(), text)
    if len(values) > MAX_CONDITION_VALUES:
        raise InvalidInputError(
            _("At most %(count)d values.") % {"count": MAX_CONDITION_VALUES}, field=field_name
        )
    if name == "sources":
        unknown = [value for value in values if value not in LeadSource.values]
        if unknown:
            raise InvalidInputError(
                _("Unknown lead source: %(source)s.") % {"source": ", ".join(unknown)},
                field=field_name,
            )
        return tuple(values)  # the source codes themselves, lower-case
    return tuple(values.values())


def _clean_score(name: str, raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidInputError(_("A score is a whole number."), field=f"conditions.{name}")
    return raw


def conditions_clean(raw: Mapping[str, Any] | None) -> RuleConditions:
    """Check conditions as a client sent them; InvalidInputError names the bad part."""
    raw = raw or {}
    unknown = sorted(set(raw) - set(CONDITION_FIELDS) - set(SCORE_BOUNDS))
    if unknown:
        raise InvalidInputError(
            _("Unknown condition: %(name)s.") % {"name": ", ".join(unknown)}, field="conditions"
        )
    conditions = RuleConditions.build(
        {name: _clean_values(name, raw.get(name)) for name in CONDITION_FIELDS},
        {name: _clean_score(name, raw.get(name)) for name in SCORE_BOUNDS},
    )
    if (
        conditions.min_score is not None
        and conditions.max_score is not None
        and conditions.min_score > conditions.max_score
    ):
        raise InvalidInputError(
            _("The lowest score is above the highest."), field="conditions.max_score"
        )
    return conditions


# ---------------------------------------------------------------------------------------------
# Configuring rules (permission leads.configure)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentRuleData:
    name: str
    strategy: str
    conditions: RuleConditions = field(default_factory=RuleConditions)
    is_active: bool = True
    owner: Membership | None = None
    members: Sequence[Membership] = ()
    team: Team | None = None
    capacity: int | None = None
    sla_minutes: int | None = None


def assignment_rule_data(rule: AssignmentRule) -> AssignmentRuleData:
    """The rule as it is now (what a partial change starts from)."""
    return AssignmentRuleData(
        name=rule.name,
        strategy=rule.strategy,
        conditions=RuleConditions.of(rule),
        is_active=rule.is_active,
        owner=rule.owner,
        members=list(rule.members.order_by("pk")),
        team=rule.team,
        capacity=rule.capacity,
        sla_minutes=rule.sla_minutes,
    )


def can_work_leads(membership: Membership) -> bool:
    """A member who may be given leads: usable (active, accepted) with a role that sees them."""
    return (
        membership.is_active
        and membership.accepted_at is not None
        and WORKS_LEADS_PERMISSION in (membership.role.permissions or [])
    )


def assignable_reps(workspace_id: int) -> list[Membership]:
    """The members a rule may name: those who can work leads, by name."""
    members = (
        Membership.objects.usable()
        .filter(workspace_id=workspace_id)
        .select_related("role", "user")
        .order_by("user__full_name", "user__email")
    )
    return [member for member in members if can_work_leads(member)]


def _check_rep(actor: Actor, membership: Membership, field_name: str) -> None:
    if membership.workspace_id != actor.workspace.pk:
        raise InvalidInputError(_("Not found in this workspace."), field=field_name)
    if not can_work_leads(membership):
        raise InvalidInputError(
            _("%(member)s cannot be given leads: not an active member whose role sees leads.")
            % {"member": membership.user.display_name},
            field=field_name,
        )


def _bounded(value: int | None, maximum: int, field_name: str) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= maximum:
        raise InvalidInputError(
            _("Between 1 and %(maximum)d.") % {"maximum": maximum}, field=field_name
        )
    return value


def _clean(actor: Actor, data: AssignmentRuleData) -> AssignmentRuleData:
    """The data as it is stored: checked, with what the strategy does not use left out."""
    name = data.name.strip()
    if not name:
        raise InvalidInputError(_("A rule needs a name."), field="name")
    if len(name) > MAX_RULE_NAME_LENGTH:
        raise InvalidInputError(
            _("A name is at most %(count)d characters.") % {"count": MAX_RULE_NAME_LENGTH},
            field="name",
        )
    if data.strategy not in AssignmentStrategy.values:
        raise InvalidInputError(_("Unknown strategy."), field="strategy")
    sla_minutes = _bounded(data.sla_minutes, MAX_SLA_MINUTES, "sla_minutes")
    if data.strategy == AssignmentStrategy.OWNER:
        if data.owner is None:
            raise InvalidInputError(_("Choose the owner who gets the leads."), field="owner")
        _check_rep(actor, data.owner, "owner")
        return AssignmentRuleData(
            name=name,
            strategy=data.strategy,
            conditions=data.conditions,
            is_active=data.is_active,
            owner=data.owner,
            sla_minutes=sla_minutes,
        )
    members = list({member.pk: member for member in data.members}.values())
    if len(members) > MAX_RULE_MEMBERS:
        raise InvalidInputError(
            _("At most %(count)d members.") % {"count": MAX_RULE_MEMBERS}, field="members"
        )
    for member in members:
        _check_rep(actor, member, "members")
    if data.team is not None and data.team.workspace_id != actor.workspace.pk:
        raise InvalidInputError(_("Not found in this workspace."), field="team")
    if not members and data.team is None:
        raise InvalidInputError(
            _("Choose the members, or a team, to share the leads between."), field="members"
        )
    return AssignmentRuleData(
        name=name,
        strategy=data.strategy,
        conditions=data.conditions,
        is_active=data.is_active,
        members=members,
        team=data.team,
        capacity=_bounded(data.capacity, MAX_CAPACITY, "capacity"),
        sla_minutes=sla_minutes,
    )


def _write(rule: AssignmentRule, data: AssignmentRuleData) -> None:
    rule.name = data.name
    rule.strategy = data.strategy
    rule.conditions = data.conditions.as_json()
    rule.is_active = data.is_active
    rule.owner = data.owner
    rule.team = data.team
    rule.capacity = data.capacity
    rule.sla_minutes = data.sla_minutes
    rule.save()
    rule.members.set(data.members)


def _rules_changed(workspace_id: int) -> None:
    """Pool leads a changed rule now takes are assigned once the change commits."""
    from huike.sales.tasks_assignment import assign_pool_leads

    enqueue_on_commit(assign_pool_leads, workspace_id=workspace_id)


def assignment_rule_create(*, actor: Actor, data: AssignmentRuleData) -> AssignmentRule:
    """A new rule, evaluated after the existing ones. InvalidInputError for bad data."""
    actor.require("leads.configure")
    clean = _clean(actor, data)
    with transaction.atomic():
        last = AssignmentRule.objects.filter(workspace=actor.workspace).aggregate(
            last=Max("position")
        )["last"]
        rule = AssignmentRule(workspace=actor.workspace, position=0 if last is None else last + 1)
        _write(rule, clean)
        _rules_changed(actor.workspace.pk)
    return rule


def assignment_rule_update(
    *, actor: Actor, rule: AssignmentRule, data: AssignmentRuleData
) -> AssignmentRule:
    """Replace the rule's settings with `data` (its place in the order stays)."""
    actor.require("leads.configure")
    clean = _clean(actor, data)
    with transaction.atomic():
        _write(rule, clean)
        _rules_changed(actor.workspace.pk)
    return rule


def assignment_rule_delete(*, actor: Actor, rule: AssignmentRule) -> None:
    """Delete the rule; leads it assigned keep their owner (and lose the link to the rule)."""
    actor.require("leads.configure")
    with transaction.atomic():
        rule.delete()
        _rules_changed(actor.workspace.pk)


def assignment_rules_reorder(
    *, actor: Actor, rule_ids: Sequence[uuid.UUID]
) -> list[AssignmentRule]:
    """Put the named rules first, in the given order; rules not named keep their relative
    order after them. InvalidInputError (field `ids`) for an unknown or repeated id."""
    actor.require("leads.configure")
    if len(set(rule_ids)) != len(rule_ids):
        raise InvalidInputError(_("A rule is named twice."), field="ids")
    with transaction.atomic():
        # Locked in primary-key order, as assigners lock them (see the module docstring).
        rules = list(
            AssignmentRule.objects.select_for_update()
            .filter(workspace=actor.workspace)
            .order_by("pk")
        )
        by_public_id = {rule.public_id: rule for rule in rules}
        unknown = [str(rule_id) for rule_id in rule_ids if rule_id not in by_public_id]
        if unknown:
            raise InvalidInputError(
                _("No such assignment rule: %(ids)s.") % {"ids": ", ".join(unknown)}, field="ids"
            )
        named = [by_public_id[rule_id] for rule_id in rule_ids]
        rest = sorted(
            (rule for rule in rules if rule.public_id not in set(rule_ids)),
            key=lambda rule: (rule.position, rule.pk),
        )
        ordered = named + rest
        for position, rule in enumerate(ordered):
            rule.position = position
        AssignmentRule.objects.bulk_update(ordered, ["position"])
        _rules_changed(actor.workspace.pk)
    return ordered


def assignment_rule_move(*, actor: Actor, rule: AssignmentRule, offset: int) -> None:
    """Move a rule `offset` places earlier (negative) or later (positive) in the order."""
    order = list(
        AssignmentRule.objects.filter(workspace=actor.workspace)
        .order_by("position", "pk")
        .values_list("public_id", flat=True)
    )
    index = order.index(rule.public_id)
    target = min(max(index + offset, 0), len(order) - 1)
    order.insert(target, order.pop(index))
    assignment_rules_reorder(actor=actor, rule_ids=order)


def assignment_rules(workspace_id: int) -> QuerySet[AssignmentRule]:
    """The workspace's rules in evaluation order, with what lists show."""
    return (
        AssignmentRule.objects.filter(workspace_id=workspace_id)
        .select_related("owner__user", "team", "last_assigned__user")
        .prefetch_related("members__user")
        .order_by("position", "pk")
    )


# ---------------------------------------------------------------------------------------------
# Choosing a rep
# ---------------------------------------------------------------------------------------------


def open_leads(workspace_id: int) -> QuerySet[Lead]:
    """Leads that count towards a rep's load: not converted, not unqualified."""
    return Lead.objects.filter(workspace_id=workspace_id).exclude(status__in=CLOSED_STATUSES)


def open_lead_counts(workspace_id: int, membership_ids: Sequence[int]) -> dict[int, int]:
    counts = (
        open_leads(workspace_id)
        .filter(owner_id__in=membership_ids)
        .values("owner_id")
        .annotate(total=Count("pk"))
        .values_list("owner_id", "total")
    )
    return dict(counts)


def rule_reps(rule: AssignmentRule) -> list[Membership]:
    """Who a rule may give leads to now, in a stable order: its owner, its members or else
    its team's members, leaving out anyone who cannot work leads."""
    candidates = Membership.objects.filter(workspace_id=rule.workspace_id).select_related(
        "role", "user", "team"
    )
    if rule.strategy == AssignmentStrategy.OWNER:
        if rule.owner_id is None:
            return []
        candidates = candidates.filter(pk=rule.owner_id)
    elif rule.members.exists():
        candidates = candidates.filter(pk__in=rule.members.values("pk"))
    elif rule.team_id is not None:
        candidates = candidates.filter(team_id=rule.team_id)
    else:
        return []
    return [member for member in candidates.order_by("pk") if can_work_leads(member)]


def rule_capacity(rule: AssignmentRule, limits: ClaimLimits, rep_id: int) -> int | None:
    """Open leads the rep may hold under this rule: the rule's capacity, else the rep's claim
    limit (their own, else the workspace's); None: a named owner, no limit."""
    if rule.strategy == AssignmentStrategy.OWNER:
        return None
    return rule.capacity or limits.of(rep_id)


def _after_last(reps: list[Membership], last_id: int | None) -> list[Membership]:
    """The reps in turn order: the one after the last assigned first, then round."""
    start = next((i for i, rep in enumerate(reps) if last_id is not None and rep.pk > last_id), 0)
    return reps[start:] + reps[:start]


def _next_in_turn(reps: list[Membership], loads: dict[int, int]) -> Membership:
    return reps[0]


def _least_loaded(reps: list[Membership], loads: dict[int, int]) -> Membership:
    # min keeps the first of equals: ties go round in turn order.
    return min(reps, key=lambda rep: loads.get(rep.pk, 0))


PICKERS: dict[str, Callable[[list[Membership], dict[int, int]], Membership]] = {
    AssignmentStrategy.ROUND_ROBIN: _next_in_turn,
    AssignmentStrategy.LEAST_LOAD: _least_loaded,
    AssignmentStrategy.OWNER: _next_in_turn,  # the one rep there is
}


def _has_room(rule: AssignmentRule, limits: ClaimLimits, rep_id: int, held: int) -> bool:
    capacity = rule_capacity(rule, limits, rep_id)
    return capacity is None or held < capacity


def _choose(rule: AssignmentRule, limits: ClaimLimits) -> Membership | None:
    reps = _after_last(rule_reps(rule), rule.last_assigned_id)
    if not reps:
        return None
    loads = open_lead_counts(rule.workspace_id, [rep.pk for rep in reps])
    reps = [rep for rep in reps if _has_room(rule, limits, rep.pk, loads.get(rep.pk, 0))]
    if not reps:
        return None
    return PICKERS[rule.strategy](reps, loads)


def _locked_rules(workspace_id: int) -> list[AssignmentRule]:
    rules = list(
        AssignmentRule.objects.select_for_update()
        .filter(workspace_id=workspace_id, is_active=True)
        .order_by("pk")
    )
    return sorted(rules, key=lambda rule: (rule.position, rule.pk))


@contextlib.contextmanager
def _language_of(membership: Membership) -> Iterator[None]:
    """Text written for one member (a notification) is in their language."""
    try:
        language = translation.get_supported_language_variant(membership.user.language or "")
    except LookupError:
        language = settings.LANGUAGE_CODE
    with translation.override(language):
        yield


def _lead_url(lead: Lead) -> str:
    return reverse("sales:lead_detail", args=[lead.public_id])


def _local(moment: datetime, lead: Lead) -> str:

    local = timezone.localtime(moment, lead.workspace.zone)
    return formats.date_format(local, "DATETIME_FORMAT")


def _assign(lead: Lead, rule: AssignmentRule, rep: Membership) -> None:
    history = lead_owner_change(
        lead=lead,
        to_owner=rep,
        kind=LeadHistory.Kind.ASSIGNED,
        rule=rule,
        details={"rule": rule.name, "strategy": rule.strategy},
    )
    if rule.sla_minutes and lead.first_contacted_at is None and lead.assigned_at is not None:
        lead.first_contact_due_at = lead.assigned_at + timedelta(minutes=rule.sla_minutes)
        lead.save(update_fields=["first_contact_due_at", "updated_at"])
    rule.last_assigned = rep
    rule.save(update_fields=["last_assigned"])
    outbox_publish(
        workspace_id=lead.workspace_id,
        kind="lead.assigned",
        payload={
            "lead_id": str(lead.public_id),
            "owner_id": str(rep.public_id),
            "rule_id": str(rule.public_id),
            "first_contact_due_at": (
                lead.first_contact_due_at.isoformat() if lead.first_contact_due_at else None
            ),
        },
    )
    with _language_of(rep):
        body = (
            _("Rule “%(rule)s”. First contact due by %(due)s.")
            % {"rule": rule.name, "due": _local(lead.first_contact_due_at, lead)}
            if lead.first_contact_due_at
            else _("Rule “%(rule)s”.") % {"rule": rule.name}
        )
        notify(
            recipient=rep,
            kind=NOTIFY_ASSIGNED,
            # Per assignment: the same rep given the same lead again hears of it again.
            subject_key=f"sales.lead:{lead.pk}:{history.pk}",
            title=_("Lead assigned to you: %(lead)s") % {"lead": lead},
            body=body,
            url=_lead_url(lead),
        )


def lead_assign_automatically(*, lead: Lead) -> Membership | None:
    """Give a pool lead to the rep the first matching rule finds; None when no rule places
    it (it stays in the pool) or it is not an open pool lead.

    The caller holds the lead's row lock in a transaction (a fresh copy: its owner is
    re-checked here). Locks the workspace's active rules until that transaction ends. Writes
    the owner change with its history (huike.sales.ownership), the SLA due time, the
    rule's turn, an outbox `lead.assigned` and an in-app notification to the rep.
    """
    if lead.owner_id is not None or lead.status in CLOSED_STATUSES:
        return None
    with transaction.atomic():
        limits: ClaimLimits | None = None
        for rule in _locked_rules(lead.workspace_id):
            if not RuleConditions.of(rule).matches(lead):
                continue
            if limits is None:
                limits = claim_limits(lead.workspace_id)
            rep = _choose(rule, limits)
            if rep is not None:
                _assign(lead, rule, rep)
                return rep
    return None


def pending_leads(workspace_id: int, rules: Sequence[AssignmentRule]) -> QuerySet[Lead]:
    """Open pool leads that one of `rules` matches and that never had an owner.

    Leads that had one and came back to the pool (released, or returned for want of a
    follow-up) stay there for reps to claim: that is what the pool is for.
    """
    if not rules:
        return Lead.objects.none()
    conditions = [RuleConditions.of(rule) for rule in rules]
    # A rule without conditions takes every lead (and Q() would vanish from an OR).
    matched_by_a_rule = (
        Q()
        if any(condition.is_empty for condition in conditions)
        else reduce(or_, (condition.as_q() for condition in conditions))
    )
    owned_before = LeadHistory.objects.filter(lead=OuterRef("pk"), to_owner__isnull=False)
    return (
        open_leads(workspace_id)
        .filter(owner__isnull=True)
        .filter(matched_by_a_rule)
        .exclude(Exists(owned_before))
    )


PENDING_ORDERING = ("-score", "created_at", "pk")


def leads_assign_pending(*, workspace_id: int) -> int:
    """Assign the pool leads the active rules now take, highest score first; returns how many
    got an owner. Leads another transaction holds are skipped (SKIP LOCKED), so any number of
    runs at once assign each lead once."""
    rules = list(AssignmentRule.objects.filter(workspace_id=workspace_id, is_active=True))
    candidates = pending_leads(workspace_id, rules)
    assigned = scanned = 0
    after: Q | None = None
    while scanned < PENDING_SCAN_LIMIT:
        with transaction.atomic():
            page = candidates if after is None else candidates.filter(after)
            batch = list(
                page.select_for_update(skip_locked=True, of=("self",)).order_by(*PENDING_ORDERING)[
                    :PENDING_BATCH_SIZE
                ]
            )
            for lead in batch:
                if lead_assign_automatically(lead=lead) is not None:
                    assigned += 1
        if len(batch) < PENDING_BATCH_SIZE:
            break
        scanned += len(batch)
        last = batch[-1]
        # Keyset: strictly after the last lead in (-score, created_at, pk) order.
        after = (
            Q(score__lt=last.score)
            | Q(score=last.score, created_at__gt=last.created_at)
            | Q(score=last.score, created_at=last.created_at, pk__gt=last.pk)
        )
    return assigned


def leads_assign_pending_now(*, actor: Actor) -> int:
    """The settings page's "assign pool leads now"."""
    actor.require("leads.configure")
    return leads_assign_pending(workspace_id=actor.workspace.pk)


# ---------------------------------------------------------------------------------------------
# Loads (the settings page's table)
# ---------------------------------------------------------------------------------------------


@dataclass
class RepLoad:
    membership: Membership
    open_leads: int
    # The lowest capacity among the rep's sharing rules; None: only named-owner rules.
    capacity: int | None
    rules: list[str]

    @property
    def is_full(self) -> bool:
        return self.capacity is not None and self.open_leads >= self.capacity

    @property
    def percent(self) -> int:
        if not self.capacity:
            return 0
        return min(100, round(100 * self.open_leads / self.capacity))


def rep_loads(workspace_id: int) -> list[RepLoad]:
    """Every rep of an active rule: open leads held against their capacity."""
    limits = claim_limits(workspace_id)
    loads: dict[int, RepLoad] = {}
    for rule in assignment_rules(workspace_id).filter(is_active=True):
        for rep in rule_reps(rule):
            capacity = rule_capacity(rule, limits, rep.pk)
            load = loads.setdefault(rep.pk, RepLoad(rep, 0, None, []))
            load.rules.append(rule.name)
            if capacity is not None:
                load.capacity = capacity if load.capacity is None else min(load.capacity, capacity)
    counts = open_lead_counts(workspace_id, list(loads))
    for rep_id, load in loads.items():
        load.open_leads = counts.get(rep_id, 0)
    return sorted(loads.values(), key=lambda load: load.membership.user.display_name.casefold())


# ---------------------------------------------------------------------------------------------
# First-contact SLA
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaReport:
    reminded: int
    escalated: int


def _awaiting_contact() -> QuerySet[Lead]:
    return Lead.objects.filter(
        owner__isnull=False,
        first_contacted_at__isnull=True,
        first_contact_due_at__isnull=False,
    ).exclude(status__in=CLOSED_STATUSES)


def _each_locked(candidates: QuerySet[Lead], handle: Callable[[Lead], bool]) -> int:
    """Run `handle` on each candidate in its own transaction, the lead locked and re-checked
    against `candidates`; a lead another transaction holds waits for the next run. Returns how
    many `handle` acted on."""
    done = 0
    last_pk = 0
    while True:
        ids = list(
            candidates.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[:SLA_BATCH_SIZE]
        )
        for lead_id in ids:
            with transaction.atomic():
                lead = (
                    candidates.select_for_update(skip_locked=True, of=("self",))
                    .select_related("workspace", "owner__user", "owner__team")
                    .filter(pk=lead_id)
                    .first()
                )
                if lead is not None and handle(lead):
                    done += 1
        if len(ids) < SLA_BATCH_SIZE:
            return done
        last_pk = ids[-1]


def _sla_subject(lead: Lead) -> str:
    # Per assignment: a lead given to the same rep again is a new SLA and a new reminder.
    assigned = f"{lead.assigned_at:%Y%m%d%H%M%S%f}" if lead.assigned_at else ""
    return f"sales.lead:{lead.pk}:{assigned}"


def _send(notification: Notification | None) -> None:
    from huike.sales.tasks_assignment import mail_lead_notification

    if notification is not None:
        enqueue_on_commit(mail_lead_notification, notification_id=notification.pk)


def _remind(lead: Lead, now: datetime) -> bool:
    owner = lead.owner
    assert owner is not None
    assert lead.first_contact_due_at is not None
    lead.sla_reminded_at = now
    lead.save(update_fields=["sla_reminded_at", "updated_at"])
    LeadHistory.objects.create(
        workspace_id=lead.workspace_id,
        lead=lead,
        kind=LeadHistory.Kind.REMINDED,
        details={"owner": str(owner.public_id), "due_at": lead.first_contact_due_at.isoformat()},
        created_at=now,
    )
    with _language_of(owner):
        _send(
            notify(
                recipient=owner,
                kind=NOTIFY_SLA_REMINDER,
                subject_key=_sla_subject(lead),
                title=_("First contact overdue: %(lead)s") % {"lead": lead},
                body=_("This lead was due a first contact by %(due)s. Contact them now.")
                % {"due": _local(lead.first_contact_due_at, lead)},
                url=_lead_url(lead),
            )
        )
    return True


def escalation_recipients(owner: Membership) -> list[Membership]:
    """The manager of the owner's team, or of the nearest team above it with one (never the
    owner themself); with none, the workspace's admins."""
    team = owner.team
    seen: set[int] = set()
    while team is not None and team.pk not in seen:
        seen.add(team.pk)
        manager = (
            Membership.objects.usable().select_related("user").filter(pk=team.manager_id).first()
            if team.manager_id is not None
            else None
        )
        if manager is not None and manager.pk != owner.pk:
            return [manager]
        team = team.parent
    admins = (
        Membership.objects.usable()
        .filter(workspace_id=owner.workspace_id, role__key=ADMIN)
        .exclude(pk=owner.pk)
        .select_related("user")
        .order_by("pk")
    )
    return list(admins)


def escalation_due_at(lead: Lead) -> datetime:
    """When an uncontacted lead is escalated: a further SLA period after its due time."""
    assert lead.first_contact_due_at is not None
    sla = lead.first_contact_due_at - (lead.assigned_at or lead.first_contact_due_at)
    return lead.first_contact_due_at + max(sla, timedelta(0)) * ESCALATION_GRACE_FACTOR


def _escalate(lead: Lead, now: datetime) -> bool:
    if now < escalation_due_at(lead):
        return False
    owner = lead.owner
    assert owner is not None
    assert lead.first_contact_due_at is not None
    recipients = escalation_recipients(owner)
    lead.escalated_at = now
    lead.save(update_fields=["escalated_at", "updated_at"])
    LeadHistory.objects.create(
        workspace_id=lead.workspace_id,
        lead=lead,
        kind=LeadHistory.Kind.ESCALATED,
        details={
            "owner": str(owner.public_id),
            "due_at": lead.first_contact_due_at.isoformat(),
            "recipients": [str(recipient.public_id) for recipient in recipients],
        },
        created_at=now,
    )
    for recipient in recipients:
        with _language_of(recipient):
            _send(
                notify(
                    recipient=recipient,
                    kind=NOTIFY_SLA_ESCALATED,
                    subject_key=_sla_subject(lead),
                    title=_("Lead not contacted in time: %(lead)s") % {"lead": lead},
                    body=_(
                        "%(owner)s has not contacted this lead, due by %(due)s, "
                        "even after a reminder."
                    )
                    % {
                        "owner": owner.user.display_name,
                        "due": _local(lead.first_contact_due_at, lead),
                    },
                    url=_lead_url(lead),
                )
            )
    return True


def leads_check_first_contact(*, now: datetime | None = None) -> SlaReport:
    """Remind the owners of leads past their first-contact time, and escalate those still
    not contacted a further SLA period later. Each step happens once per assignment: its
    timestamp is written in the transaction that notifies."""
    now = now or timezone.now()
    waiting = _awaiting_contact().filter(first_contact_due_at__lte=now)
    reminded = _each_locked(
        waiting.filter(sla_reminded_at__isnull=True), lambda lead: _remind(lead, now)
    )
    escalated = _each_locked(
        waiting.filter(sla_reminded_at__isnull=False, escalated_at__isnull=True),
        lambda lead: _escalate(lead, now),
    )
    return SlaReport(reminded=reminded, escalated=escalated)
