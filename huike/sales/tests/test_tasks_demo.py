"""The demo seeder of tasks: the rep's and the manager's day on their demo customers (one
overdue, some today), one task the manager gave the rep; idempotent."""

from collections.abc import Callable

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import team_create
from huike.customers.models import Customer
from huike.sales import tasks_service
from huike.sales.demo_tasks import MANAGER_EMAIL, SALES_EMAIL, tasks_demo_seed
from huike.sales.models import Task


@pytest.mark.django_db
def test_demo_tasks_fill_the_rep_and_manager_days(
    workspace: Workspace, owner_actor: Actor, make_member: Callable[..., Membership]
) -> None:
    # given (the groups do not depend on the hour: tasks are due yesterday, today, in two
    # days or never): the demo's sales team, its manager and a rep with two customers
    sales = team_create(actor=owner_actor, name="Sales")
    east: Team = team_create(actor=owner_actor, name="Sales East", parent=sales)
    manager = make_member(MANAGER_EMAIL, "manager")
    rep = make_member(SALES_EMAIL, "sales")
    Membership.objects.filter(pk=manager.pk).update(team=sales)
    Membership.objects.filter(pk=rep.pk).update(team=east)
    for name in ("王伟", "李芳"):
        Customer.objects.create(workspace=workspace, name=name, owner=rep)
    # when
    tasks_demo_seed(workspace.pk)
    tasks_demo_seed(workspace.pk)
    # then
    assert Task.objects.filter(workspace=workspace).count() == 8
    rep.refresh_from_db()
    day = tasks_service.my_day(Actor.for_membership(rep))
    assert [task.title for task in day.overdue] == ["回电确认报价 Call back about the quote"]
    assert [task.title for task in day.today] == [
        "安排上门演示 Book an on-site demo",
        "提交月度拜访报告 Hand in the monthly visit report",
        "发送产品手册 Send the product brochure",
    ]
    assert [task.customer.name for task in day.overdue + day.today if task.customer] == [
        "王伟",
        "李芳",
    ]
    assert len(day.upcoming) == len(day.no_due) == 1
    manager.refresh_from_db()
    manager_day = tasks_service.my_day(Actor.for_membership(manager))
    assert [task.title for task in manager_day.today] == ["审核本周商机 Review this week's deals"]
