""" "My day" and the calendar: groups cut at the workspace's midnight (Asia/Shanghai, UTC+8),
ordered by priority then due time, in a fixed number of queries."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from freezegun import freeze_time

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import NotFoundError
from huike.sales import tasks_service
from huike.sales.models import Task, TaskPriority, TaskStatus
from huike.sales.tests import test_tasks_support

pytestmark = pytest.mark.django_db

east = test_tasks_support.east
rep = test_tasks_support.rep
other_rep = test_tasks_support.other_rep
manager = test_tasks_support.manager
rep_actor = test_tasks_support.rep_actor
manager_actor = test_tasks_support.manager_actor
make_task = test_tasks_support.make_task

MakeTask = Callable[..., Task]
DAY = dt.date(2030, 3, 11)  # in Shanghai: 2030-03-10 16:00 UTC to 2030-03-11 16:00 UTC


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


def _titles(tasks: list[Task]) -> list[str]:
    return [task.title for task in tasks]


def test_my_day_groups_by_the_workspace_day_and_orders_by_priority(
    make_task: MakeTask,
    rep_actor: Actor,
    manager_actor: Actor,
    rep: Membership,
    django_assert_num_queries: Any,
) -> None:
    # given
    make_task("late last night", due_at=utc(2030, 3, 10, 15, 59))  # 23:59 on the 10th
    make_task("just after midnight", due_at=utc(2030, 3, 10, 16, 0))  # 00:00 on the 11th
    make_task("urgent before bed", due_at=utc(2030, 3, 11, 15, 59), priority=TaskPriority.URGENT)
    make_task("tomorrow", due_at=utc(2030, 3, 11, 16, 0))  # 00:00 on the 12th
    make_task("in a week", due_at=utc(2030, 3, 18, 15, 0))  # 23:00 on the 18th: last upcoming
    make_task("beyond the week", due_at=utc(2030, 3, 18, 16, 0))
    make_task("someday, low", priority=TaskPriority.LOW)
    make_task("someday, high", priority=TaskPriority.HIGH)
    done = make_task("done that morning", due_at=utc(2030, 3, 11, 1, 0))
    Task.objects.filter(pk=done.pk).update(
        status=TaskStatus.DONE, completed_at=utc(2030, 3, 11, 2, 0)
    )
    make_task("the manager's own", actor=manager_actor, due_at=utc(2030, 3, 11, 1, 0))
    # when
    with django_assert_num_queries(2):
        day = tasks_service.my_day(rep_actor, DAY)
    # then
    assert _titles(day.overdue) == ["late last night"]
    assert _titles(day.today) == ["urgent before bed", "just after midnight"]
    assert _titles(day.upcoming) == ["tomorrow", "in a week"]
    assert _titles(day.no_due) == ["someday, high", "someday, low"]
    assert _titles(day.done) == ["done that morning"]
    assert (day.open_count, day.is_truncated) == (7, False)


def test_overdue_flag_is_the_due_moment(make_task: MakeTask) -> None:
    # given
    task = make_task(due_at=utc(2030, 3, 11, 1, 0))
    # then
    with freeze_time("2030-03-11 00:59:59"):
        assert task.is_overdue is False
    with freeze_time("2030-03-11 01:00:01"):
        assert task.is_overdue is True
        task.status = TaskStatus.DONE
        assert task.is_overdue is False


def test_today_is_the_workspace_date(rep_actor: Actor) -> None:
    # 17:00 UTC on the 10th is already the 11th in Shanghai
    with freeze_time("2030-03-10 17:00:00"):
        assert rep_actor.workspace.today() == DAY


def test_manager_sees_a_reps_day_but_a_rep_not_anothers(
    make_task: MakeTask,
    manager_actor: Actor,
    rep: Membership,
    other_rep: Membership,
) -> None:
    make_task("rep's", due_at=utc(2030, 3, 11, 1, 0))
    assert _titles(tasks_service.my_day(manager_actor, DAY, rep).today) == ["rep's"]
    with pytest.raises(NotFoundError):
        tasks_service.my_day(Actor.for_membership(other_rep), DAY, rep)


def test_calendar_places_tasks_on_the_workspace_day(
    make_task: MakeTask, rep_actor: Actor, django_assert_num_queries: Any
) -> None:
    # given
    make_task("first of april", due_at=utc(2030, 3, 31, 17, 0))  # 01:00 on 1 April in Shanghai
    make_task("march 31, late", due_at=utc(2030, 3, 31, 15, 0), priority=TaskPriority.LOW)
    make_task("march 31, early", due_at=utc(2030, 3, 31, 1, 0))
    make_task("march 31, early urgent", due_at=utc(2030, 3, 31, 1, 0), priority="urgent")
    cancelled = make_task("cancelled", due_at=utc(2030, 3, 5, 1, 0))
    Task.objects.filter(pk=cancelled.pk).update(status=TaskStatus.CANCELLED)
    make_task("february", due_at=utc(2030, 2, 20, 1, 0))  # before the grid
    make_task("just after midnight", due_at=utc(2030, 3, 24, 16, 30))  # 00:30 on the 25th
    # when
    with django_assert_num_queries(1):
        month = tasks_service.tasks_calendar(rep_actor, dt.date(2030, 3, 17))
    # then: Monday-first weeks from 25 February to Sunday 31 March
    assert (month.month, month.weeks[0][0].date, month.weeks[-1][-1].date) == (
        dt.date(2030, 3, 1),
        dt.date(2030, 2, 25),
        dt.date(2030, 3, 31),
    )
    by_date = {day.date: _titles(day.tasks) for week in month.weeks for day in week if day.tasks}
    # 17:00 UTC on the 31st is 1 April in Shanghai: not in March's grid
    assert by_date == {
        dt.date(2030, 3, 25): ["just after midnight"],
        dt.date(2030, 3, 31): ["march 31, early urgent", "march 31, early", "march 31, late"],
    }
    assert [day.date for day in month.days_with_tasks] == [
        dt.date(2030, 3, 25),
        dt.date(2030, 3, 31),
    ]
    assert (month.previous, month.next) == (dt.date(2030, 2, 1), dt.date(2030, 4, 1))
    april = tasks_service.tasks_calendar(rep_actor, month.next)
    assert [(day.date, _titles(day.tasks)) for day in april.days_with_tasks] == [
        (dt.date(2030, 4, 1), ["first of april"])
    ]
