"""Sample tasks for the demo workspace: the sales rep's and the manager's day, on demo
customers they own — one overdue, some due today, one coming up, one without a due time, and
one the manager gave the rep. Written through the services. Idempotent: skipped once the
workspace has tasks."""

import datetime as dt

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.models import Customer
from huike.sales.models import Task, TaskPriority
from huike.sales.tasks_service import day_bounds, may_assign_to, task_create

SALES_EMAIL = "sales@demo.huike.local"
MANAGER_EMAIL = "manager@demo.huike.local"
# (title, day offset from today or None for no due time, hour in the workspace's time zone,
# priority)
REP_TASKS = (
    ("回电确认报价 Call back about the quote", -1, 16, TaskPriority.HIGH),
    ("发送产品手册 Send the product brochure", 0, 11, TaskPriority.NORMAL),
    ("安排上门演示 Book an on-site demo", 0, 15, TaskPriority.URGENT),
    ("跟进合同细节 Follow up on the contract", 2, 10, TaskPriority.NORMAL),
    ("整理客户需求 Write up the requirements", None, 0, TaskPriority.LOW),
)
MANAGER_TASKS = (
    ("审核本周商机 Review this week's deals", 0, 17, TaskPriority.HIGH),
    ("准备季度复盘 Prepare the quarterly review", 3, 9, TaskPriority.NORMAL),
)


def _member(workspace_id: int, email: str) -> Membership | None:
    return (
        Membership.objects.select_related("workspace", "role", "user", "team")
        .filter(workspace_id=workspace_id, user__email=email)
        .first()
    )


def _seed(actor: Actor, tasks: tuple[tuple[str, int | None, int, str], ...]) -> None:
    assert actor.membership is not None
    customers = list(
        Customer.objects.filter(workspace=actor.workspace, owner=actor.membership).order_by("pk")[
            : len(tasks)
        ]
    )
    today = actor.workspace.today()
    for index, (title, offset, hour, priority) in enumerate(tasks):
        due_at = None
        if offset is not None:
            start, _end = day_bounds(actor.workspace, today + dt.timedelta(days=offset))
            due_at = start + dt.timedelta(hours=hour)
        task_create(
            actor=actor,
            title=title,
            due_at=due_at,
            priority=priority,
            customer=customers[index] if index < len(customers) else None,
        )


def tasks_demo_seed(workspace_id: int) -> None:
    if Task.objects.filter(workspace_id=workspace_id).exists():
        return
    rep = _member(workspace_id, SALES_EMAIL)
    manager = _member(workspace_id, MANAGER_EMAIL)
    with transaction.atomic():
        if rep is not None:
            _seed(Actor.for_membership(rep), REP_TASKS)
        if manager is not None:
            manager_actor = Actor.for_membership(manager)
            _seed(manager_actor, MANAGER_TASKS)
            if rep is not None and may_assign_to(manager_actor, rep):
                start, _end = day_bounds(manager.workspace, manager.workspace.today())
                task_create(
                    actor=manager_actor,
                    title="提交月度拜访报告 Hand in the monthly visit report",
                    due_at=start + dt.timedelta(hours=18),
                    assignee=rep,
                    priority=TaskPriority.HIGH,
                )
