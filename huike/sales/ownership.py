"""Changing who owns a lead, the one way every path does it (claim, release, assignment rules,
manual reassignment, the pool's return of stale leads), so each change is written to the lead's
history the same way."""

from typing import Any

from django.utils import timezone

from huike.accounts.models import Membership
from huike.sales.models import AssignmentRule, Lead, LeadHistory


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
