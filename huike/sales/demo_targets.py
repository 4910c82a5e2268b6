"""Monthly targets of the demo reps for this month and the next, so that the forecast shows
attainment from the first visit. Written through huike.sales.targets; idempotent (a rep who
has a target for the month keeps it)."""

from decimal import Decimal

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.sales.models import SalesTarget
from huike.sales.reports import month_add
from huike.sales.targets import target_create

ADMIN_EMAIL = "admin@demo.huike.local"
# The demo reps and their monthly quota in the workspace currency.
REP_TARGETS = {
    "sales@demo.huike.local": Decimal("300000"),
    "manager@demo.huike.local": Decimal("500000"),
}


def targets_demo_seed(workspace_id: int) -> None:
    admin = (
        Membership.objects.select_related("workspace", "role", "user")
        .filter(workspace_id=workspace_id, user__email=ADMIN_EMAIL)
        .first()
    )
    if admin is None:
        return
    actor = Actor.for_membership(admin)
    reps = Membership.objects.filter(
        workspace_id=workspace_id, user__email__in=REP_TARGETS
    ).select_related("user")
    this_month = actor.workspace.today().replace(day=1)
    for month in (this_month, month_add(this_month, 1)):
        for rep in reps:
            if SalesTarget.objects.filter(
                workspace_id=workspace_id, membership=rep, month=month
            ).exists():
                continue
            target_create(
                actor=actor, month=month, amount=REP_TARGETS[rep.user.email], membership=rep
            )
