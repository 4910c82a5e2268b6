"""The demo's lead assignment: web-form leads go round-robin to the demo's sales reps with a
60-minute first-contact SLA. Idempotent: skipped once the workspace has a rule, or when it has
fewer than two reps (round-robin over one person shows nothing)."""

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.accounts.roles import ADMIN
from huike.sales.assignment import (
    AssignmentRuleData,
    RuleConditions,
    assignable_reps,
    assignment_rule_create,
)
from huike.sales.models import AssignmentRule, AssignmentStrategy, LeadSource

DEMO_SLA_MINUTES = 60
# The demo's reps: its sales people and their manager (not the admin, analysts, marketing).
REP_ROLES = ("sales", "manager")


def assignment_demo_seed(workspace_id: int) -> None:
    if AssignmentRule.objects.filter(workspace_id=workspace_id).exists():
        return
    reps = [rep for rep in assignable_reps(workspace_id) if rep.role.key in REP_ROLES]
    admin = (
        Membership.objects.usable()
        .select_related("workspace", "role", "user")
        .filter(workspace_id=workspace_id, role__key=ADMIN)
        .order_by("pk")
        .first()
    )
    if len(reps) < 2 or admin is None:
        return
    with transaction.atomic():
        assignment_rule_create(
            actor=Actor.for_membership(admin),
            data=AssignmentRuleData(
                name="网站表单线索轮流分配 Web-form leads, round robin",
                strategy=AssignmentStrategy.ROUND_ROBIN,
                conditions=RuleConditions(sources=(LeadSource.WEB_FORM.value,)),
                members=reps,
                sla_minutes=DEMO_SLA_MINUTES,
            ),
        )
