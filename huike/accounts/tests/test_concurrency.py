"""Races that only show with real concurrent transactions, so these run on PostgreSQL. (SQLite
takes the write lock at BEGIN IMMEDIATE, so the races cannot happen there; and the in-memory
test database cannot hold two transactions at once.)"""

import threading

import pytest
from django.db import close_old_connections, connection

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Team
from huike.accounts.services import member_update, team_create, team_update, workspace_create
from huike.core.errors import ConflictError, InvalidInputError

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


def _run_together(*calls: object) -> list[BaseException | None]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(index: int, call: object) -> None:
        try:
            barrier.wait()
            call()  # type: ignore[operator]
        except BaseException as error:  # recorded for the assertions
            outcomes[index] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_admins_demoting_each_other_leave_one_admin() -> None:
    # given a workspace with exactly two admins
    workspace = workspace_create(slug="race", name="Race", owner_email="a@race.test")
    admin = Role.objects.get(workspace=workspace, key="admin")
    sales = Role.objects.get(workspace=workspace, key="sales")
    first = Membership.objects.select_related("role", "workspace", "user").get(workspace=workspace)
    from huike.accounts.services import member_add

    second = member_add(actor=Actor.for_membership(first), email="b@race.test", role=admin)
    second = Membership.objects.select_related("role", "workspace", "user").get(pk=second.pk)
    # when each demotes the other at the same moment
    outcomes = _run_together(
        lambda: member_update(actor=Actor.for_membership(first), membership=second, role=sales),
        lambda: member_update(actor=Actor.for_membership(second), membership=first, role=sales),
    )
    # then exactly one succeeded and an admin remains
    assert sum(outcome is None for outcome in outcomes) == 1
    assert any(isinstance(outcome, ConflictError) for outcome in outcomes)
    assert Membership.objects.filter(workspace=workspace, role__key="admin").count() == 1


def test_crossing_team_moves_never_make_a_cycle() -> None:
    # given two sibling teams
    workspace = workspace_create(slug="tree", name="Tree", owner_email="a@tree.test")
    actor = Actor.for_membership(
        Membership.objects.select_related("role", "workspace", "user").get(workspace=workspace)
    )
    x = team_create(actor=actor, name="X")
    y = team_create(actor=actor, name="Y")
    # when X moves under Y and Y under X at the same moment
    outcomes = _run_together(
        lambda: team_update(actor=actor, team=x, parent=y),
        lambda: team_update(actor=actor, team=y, parent=x),
    )
    # then one move won and the other was refused as a cycle
    assert sum(outcome is None for outcome in outcomes) == 1
    assert any(isinstance(outcome, InvalidInputError) for outcome in outcomes)
    x.refresh_from_db()
    y.refresh_from_db()
    assert not (x.parent_id == y.pk and y.parent_id == x.pk)
    assert {team.path.count("/") for team in Team.objects.filter(workspace=workspace)} == {2, 3}
