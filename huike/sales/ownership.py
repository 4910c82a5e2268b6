"""Changing who owns a lead, the one way every path does it (claim, release, assignment rules,
manual reassignment, the pool's return of stale leads), so each change is written to the lead's
history the same way; and how many open leads a rep may hold (claim limits)."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from huike.accounts.models import Membership
from huike.sales.models import AssignmentRule, Lead, LeadHistory, LeadSettings, RepClaimLimit


@dataclass(frozen=True)
class ClaimLimits:
    """The open leads reps may hold: the workspace's claim limit, and the reps' own."""

    default: int
    own: dict[int, int] = field(default_factory=dict)

    def of(self, membership_id: int) -> int:
        return self.own.get(membership_id, self.default)


def claim_limits(workspace_id: int, membership_ids: Iterable[int] | None = None) -> ClaimLimits:
    """The workspace's claim limit (LeadSettings.claim_limit, its default before the workspace
    saved its settings) and the own limits of `membership_ids` (None: of every rep). Two
    queries."""
    default = (
        LeadSettings.objects.filter(workspace_id=workspace_id)
        .values_list("claim_limit", flat=True)
        .first()
    )
    if default is None:
        default = LeadSettings._meta.get_field("claim_limit").get_default()
    own = RepClaimLimit.objects.filter(workspace_id=workspace_id)
    if membership_ids is not None:
        own = own.filter(membership_id__in=list(membership_ids))
    return ClaimLimits(default=default, own=dict(own.values_list("membership_id", "claim_limit")))


def lead_owner_change(
    *,
    lead: Lead,
    to_owner: Membership | None,
    kind: str,
    actor: Membership | None = None,
    rule: AssignmentRule | None = None,
    details: dict[str, Any] | None = None,
) -> LeadHistory:
    """Give `lead` to `to_owner` (None: back to the pool) and record it as `kind`
    (a LeadHistory.Kind). The caller holds the lead's row lock and runs in a transaction; the
    lead's team follows its owner, and the first-contact SLA fields start over."""
    from_owner_id = lead.owner_id
    moment = timezone.now()
    lead.owner = to_owner
    lead.team_id = to_owner.team_id if to_owner is not None else None
    lead.assigned_at = moment if to_owner is not None else None
    lead.assignment_rule = rule
    lead.first_contact_due_at = None
    lead.sla_reminded_at = None
    lead.escalated_at = None
    lead.save(
        update_fields=[
            "owner",
            "team",
            "assigned_at",
            "assignment_rule",
            "first_contact_due_at",
            "sla_reminded_at",
            "escalated_at",
            "updated_at",
        ]
    )
    return LeadHistory.objects.create(
        workspace_id=lead.workspace_id,
        lead=lead,
        kind=kind,
        actor=actor,
        from_owner_id=from_owner_id,
        to_owner=to_owner,
        details=details or {},
        created_at=moment,
    )
