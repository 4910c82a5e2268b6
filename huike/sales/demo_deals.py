"""Sample pipeline and deals for the demo workspace: the default pipeline and ~25 deals on the
demo customers across its stages, some won or lost, with their stage history spread over the
past weeks and a few activities. Written through the services (a won deal makes its order and
moves the customer's lifecycle like a real one). Idempotent: skipped once the workspace has
deals."""

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.models import Customer
from huike.sales.deals import activity_log, deal_create, deal_move, pipeline_default
from huike.sales.funnel import funnel_changed, funnel_track
from huike.sales.models import Activity, Deal, DealStageChange, Stage, StageKind

ADMIN_EMAIL = "admin@demo.huike.local"
OWNER_EMAILS = ("sales@demo.huike.local", "manager@demo.huike.local")
DEAL_COUNT = 25
PRODUCTS = (
    "SCRM 标准版 Standard",
    "SCRM 企业版 Enterprise",
    "私有化部署 On-premise",
    "年度服务 Support",
)
LOST_REASONS = ("预算不足 No budget", "选择了竞品 Chose a competitor", "项目取消 Project cancelled")
ACTIVITIES = (
    (Activity.Kind.CALL, "电话沟通需求 Discovery call"),
    (Activity.Kind.MEETING, "方案演示 Product demo"),
    (Activity.Kind.VISIT, "上门拜访 On-site visit"),
    (Activity.Kind.EMAIL, "发送报价 Sent the quote"),
    (Activity.Kind.NOTE, "客户关注数据安全 Cares about data security"),
)


def _backdate(deal: Deal, started: dt.datetime, rng: random.Random) -> None:
    """Spread the deal's stage history over the days after `started` (demo data only: real
    moves are timed by deal_move)."""
    track = funnel_track(deal.pipeline, deal)
    changes = list(DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id"))
    moment = started
    previous: dt.datetime | None = None
    for change in changes:
        if previous is not None:
            moment = previous + dt.timedelta(days=rng.randint(2, 9), hours=rng.randint(0, 8))
            change.seconds_in_from = int((moment - previous).total_seconds())
        change.changed_at = moment
        previous = moment
    DealStageChange.objects.bulk_update(changes, ["changed_at", "seconds_in_from"])
    deal.created_at = started
    deal.stage_entered_at = moment
    deal.closed_at = moment if deal.status != StageKind.OPEN else None
    deal.save(update_fields=["created_at", "stage_entered_at", "closed_at"])
    funnel_changed(track, deal)


def deals_demo_seed(workspace_id: int) -> None:
    if Deal.objects.filter(workspace_id=workspace_id).exists():
        return
    admin = Membership.objects.select_related("workspace", "role", "user", "team").get(
        workspace_id=workspace_id, user__email=ADMIN_EMAIL
    )
    actor = Actor.for_membership(admin)
    owners = list(
        Membership.objects.select_related("team").filter(
            workspace_id=workspace_id, user__email__in=OWNER_EMAILS
        )
    ) or [admin]
    customers = list(
        Customer.objects.filter(workspace_id=workspace_id, status=Customer.Status.ACTIVE)
        .select_related("company")
        .order_by("id")[:DEAL_COUNT]
    )
    # The same sample every time, so screenshots and the docs match.
    rng = random.Random(2027)  # noqa: S311 - sample data, not secrets
    now = timezone.now()
    with transaction.atomic():
        pipeline = pipeline_default(actor.workspace)
        stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))
        open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
        won = next(stage for stage in stages if stage.kind == StageKind.WON)
        lost = next(stage for stage in stages if stage.kind == StageKind.LOST)
        for number in range(DEAL_COUNT):
            customer = customers[number % len(customers)] if customers else None
            product = PRODUCTS[number % len(PRODUCTS)]
            label = customer.name if customer is not None and customer.name else f"#{number + 1}"
            deal = deal_create(
                actor=actor,
                pipeline=pipeline,
                name=f"{label} · {product}",
                amount=Decimal(rng.randrange(8, 400) * 500),
                customer=customer,
                owner=owners[number % len(owners)],
                expected_close_date=(now + dt.timedelta(days=rng.randint(-10, 90))).date(),
                next_step=rng.choice(
                    ("", "约下次演示 Book the next demo", "发送合同 Send the contract")
                ),
            )
            # A fifth won, a sixth lost, the rest spread over the open stages.
            if number % 5 == 0:
                path, reason = [*open_stages[: rng.randint(1, len(open_stages))], won], ""
            elif number % 6 == 1:
                path = [*open_stages[: rng.randint(1, len(open_stages))], lost]
                reason = rng.choice(LOST_REASONS)
            else:
                path, reason = open_stages[: rng.randint(1, len(open_stages))], ""
            for stage in path[1:]:
                deal = deal_move(actor=actor, deal=deal, stage=stage, lost_reason=reason)
            started = now - dt.timedelta(days=rng.randint(20, 60))
            _backdate(deal, started, rng)
            for kind, subject in rng.sample(ACTIVITIES, rng.randint(1, 3)):
                activity_log(
                    actor=actor,
                    kind=kind,
                    subject=subject,
                    occurred_at=started + dt.timedelta(days=rng.randint(0, 15)),
                    duration_minutes=30 if kind != Activity.Kind.NOTE else None,
                    deal=deal,
                )
