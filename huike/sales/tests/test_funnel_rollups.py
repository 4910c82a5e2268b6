"""The funnel's daily roll-ups: a view-all funnel read from them is the funnel read from the
deals, before and after the refresh job, whatever changed in between; they are set aside when
the stages or the time zone change. (Roles with record rules: test_funnel_rollups_scoped.)"""

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.services import workspace_create
from huike.core.schedule import PERIODIC_JOBS
from huike.sales.deals import (
    DealData,
    deal_create,
    deal_delete,
    deal_move,
    deal_update,
    stages_reorder,
)
from huike.sales.funnel import Funnel, funnel_refresh, funnel_report, funnels_to_refresh
from huike.sales.models import Deal, FunnelDay, FunnelDelta, FunnelRollup, Pipeline, Stage
from huike.sales.tasks_funnel import refresh_funnels
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline, move

AUTUMN = (dt.date(2026, 9, 1), dt.date(2026, 11, 30))
PERIODS = (
    AUTUMN,
    (dt.date(2026, 9, 15), dt.date(2026, 11, 10)),
    (dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
    (dt.date(2026, 10, 1), dt.date(2026, 10, 30)),
    (dt.date(2026, 10, 15), dt.date(2026, 10, 15)),
    (dt.date(2026, 11, 30), dt.date(2026, 12, 5)),
)


def wander(deal: Deal, stages: dict[str, Stage], rng: random.Random) -> None:
    """Up to four random moves of an open deal of the standard stages: forwards (one or two
    stages), backwards, or to lost, each after a random time in the stage."""
    ordered = [stages[name] for name in ("Qualification", "Needs analysis", "Proposal")]
    ordered += [stages["Negotiation"], stages["Won"]]
    for _step in range(rng.randrange(0, 5)):
        if deal.stage.kind != "open":
            break
        index = ordered.index(deal.stage)
        choice = rng.random()
        if choice < 0.15:
            target = stages["Lost"]
        elif choice < 0.35 and index > 0:
            target = ordered[rng.randrange(0, index)]
        else:
            target = ordered[min(len(ordered) - 1, index + rng.randrange(1, 3))]
        move(deal, target, rng.randrange(60, 14 * 86400))


def _random_history(workspace: Workspace, owner: Membership) -> tuple[Pipeline, dict[str, Stage]]:
    """60 deals over three months, created at every hour (so some fall either side of
    midnight in Shanghai), moved forwards, backwards and to lost, in two currencies."""
    pipeline, stages = make_pipeline(workspace)
    rng = random.Random(5)
    for number in range(60):
        created = at(2026, 9, 1) + dt.timedelta(hours=rng.randrange(0, 90 * 24))
        deal = make_deal(
            stages["Qualification"],
            owner=owner,
            amount=str(rng.randrange(1, 5000)),
            currency="USD" if number % 7 == 0 else "CNY",
            created_at=created,
        )
        wander(deal, stages, rng)
    return pipeline, stages


def _figures(funnel: Funnel) -> Any:
    return (
        funnel.deal_count,
        [(row.stage.pk, row.reached, row.average_seconds) for row in funnel.stages],
        funnel.won,
        funnel.lost,
    )


def _from_the_deals(actor: Actor, pipeline: Pipeline, period: tuple[dt.date, dt.date]) -> Any:
    """The funnel read from the deals alone: the roll-ups set aside for one rolled-back
    transaction."""
    with transaction.atomic():
        FunnelRollup.objects.update(built_at=None)
        figures = _figures(funnel_report(actor, pipeline, *period))
        transaction.set_rollback(True)
    return figures


def test_rolled_up_funnel_is_the_funnel_read_from_the_deals(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: deals written before any roll-up existed
    pipeline, _stages = _random_history(workspace, owner)
    before = {period: _figures(funnel_report(owner_actor, pipeline, *period)) for period in PERIODS}
    # when
    days = funnel_refresh(pipeline)
    # then
    assert days == FunnelDay.objects.filter(pipeline=pipeline, is_month=False).count() > 30
    assert FunnelDay.objects.filter(pipeline=pipeline, is_month=True).count() == 3
    assert FunnelRollup.objects.get(pipeline=pipeline).built_at is not None
    for period in PERIODS:
        assert _figures(funnel_report(owner_actor, pipeline, *period)) == before[period]
    assert before[AUTUMN][0] == 60


def test_the_report_reads_the_stored_days(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: roll-ups built, then the deals removed behind the services' back (no deltas)
    pipeline, _stages = _random_history(workspace, owner)
    funnel_refresh(pipeline)
    Deal.objects.filter(pipeline=pipeline).delete()
    # when
    funnel = funnel_report(owner_actor, pipeline, *AUTUMN)
    # then: the figures come from the FunnelDay rows, not from the deals
    assert funnel.deal_count == 60
    assert _from_the_deals(owner_actor, pipeline, AUTUMN)[0] == 0


def test_changes_after_the_refresh_count_at_once_and_the_next_refresh_stores_them(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, stages = _random_history(workspace, owner)
    funnel_refresh(pipeline)
    old = list(Deal.objects.filter(pipeline=pipeline, stage=stages["Needs analysis"])[:5])
    # when: every kind of change, through the services, on old days and today
    deal_move(actor=owner_actor, deal=old[0], stage=stages["Won"])
    deal_move(actor=owner_actor, deal=old[1], stage=stages["Lost"], lost_reason="Budget")
    deal_move(actor=owner_actor, deal=old[2], stage=stages["Qualification"])
    deal_update(
        actor=owner_actor, deal=old[3], data=DealData(amount=Decimal("9999"), currency="EUR")
    )
    deal_delete(actor=owner_actor, deal=old[4])
    fresh = deal_create(actor=owner_actor, pipeline=pipeline, name="New", amount=Decimal("5"))
    deal_move(actor=owner_actor, deal=fresh, stage=stages["Proposal"])
    # then: a delta per change, but none for the open deal's new amount (the funnel adds up
    # amounts of won and lost deals only); before the refresh, the deltas count
    assert FunnelDelta.objects.filter(pipeline=pipeline).count() == 6
    today = fresh.created_at.astimezone(at(2026, 1, 1).tzinfo).date()
    periods = (*PERIODS, (AUTUMN[0], today))
    expected = {period: _from_the_deals(owner_actor, pipeline, period) for period in periods}
    for period in periods:
        assert _figures(funnel_report(owner_actor, pipeline, *period)) == expected[period]
    # and after it, folded into the stored days, with no delta left
    assert funnel_refresh(pipeline) >= 1
    assert not FunnelDelta.objects.filter(pipeline=pipeline).exists()
    for period in periods:
        assert _figures(funnel_report(owner_actor, pipeline, *period)) == expected[period]
    assert funnel_refresh(pipeline) == 0


def test_reordered_stages_set_the_roll_ups_aside_until_rebuilt(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, stages = _random_history(workspace, owner)
    funnel_refresh(pipeline)
    names = ["Needs analysis", "Qualification", "Proposal", "Negotiation", "Won", "Lost"]
    # when
    stages_reorder(actor=owner_actor, pipeline=pipeline, stages=[stages[name] for name in names])
    # then: read from the deals in the new order, and the job rebuilds
    expected = _from_the_deals(owner_actor, pipeline, AUTUMN)
    assert FunnelRollup.objects.get(pipeline=pipeline).built_at is None
    assert _figures(funnel_report(owner_actor, pipeline, *AUTUMN)) == expected
    assert pipeline in funnels_to_refresh()
    funnel_refresh(pipeline)
    assert _figures(funnel_report(owner_actor, pipeline, *AUTUMN)) == expected
    assert pipeline not in funnels_to_refresh()


def test_a_new_time_zone_sets_the_roll_ups_aside_until_rebuilt(
    workspace: Workspace, owner: Membership
) -> None:
    # given: deals near midnight, whose day depends on the zone
    pipeline, stages = make_pipeline(workspace)
    for hour in (1, 8, 15, 23):
        make_deal(stages["Proposal"], owner=owner, created_at=at(2026, 10, 1, hour))
    funnel_refresh(pipeline)
    # when
    workspace.timezone = "America/Los_Angeles"
    workspace.save(update_fields=["timezone"])
    owner.refresh_from_db()
    actor = Actor.for_membership(owner)
    # then: 1 October in Los Angeles holds the deals made from 15:00 on in Shanghai
    october_first = (dt.date(2026, 10, 1), dt.date(2026, 10, 1))
    assert funnel_report(actor, pipeline, *october_first).deal_count == 2
    assert pipeline in funnels_to_refresh()
    funnel_refresh(pipeline)
    assert funnel_report(actor, pipeline, *october_first).deal_count == 2
    days = FunnelDay.objects.filter(pipeline=pipeline, is_month=False)
    assert set(days.values_list("day", "deals")) == {
        (dt.date(2026, 9, 30), 2),
        (dt.date(2026, 10, 1), 2),
    }


def test_a_rep_reads_only_their_own_part_of_the_roll_ups(
    workspace: Workspace, owner: Membership, make_member: Callable[..., Membership]
) -> None:
    # given: roll-ups over everybody's deals
    rep = make_member("rep@acme.test", "sales")
    pipeline, stages = make_pipeline(workspace)
    make_deal(stages["Proposal"], owner=rep, created_at=at(2026, 10, 2))
    for _number in range(3):
        make_deal(stages["Proposal"], owner=owner, created_at=at(2026, 10, 2))
    funnel_refresh(pipeline)
    # when
    funnel = funnel_report(Actor.for_membership(rep), pipeline, *AUTUMN)
    # then
    assert funnel.deal_count == 1


def test_the_job_refreshes_every_workspace_each_in_its_own_rows(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: two workspaces with deals, one never rolled up, one changed since
    pipeline, stages = _random_history(workspace, owner)
    other = workspace_create(slug="globex", name="Globex", owner_email="boss@globex.test")
    other_owner = Membership.objects.get(workspace=other, user__email="boss@globex.test")
    other_pipeline, other_stages = make_pipeline(other)
    make_deal(other_stages["Won"], owner=other_owner, amount="70", created_at=at(2026, 10, 3))
    funnel_refresh(pipeline)
    deal_move(
        actor=owner_actor,
        deal=Deal.objects.filter(pipeline=pipeline).first() or Deal(),
        stage=stages["Won"],
    )
    expected = _from_the_deals(owner_actor, pipeline, AUTUMN)
    # when
    days = refresh_funnels.call()
    # then
    assert days >= 2
    assert not FunnelDelta.objects.exists()
    assert _figures(funnel_report(owner_actor, pipeline, *AUTUMN)) == expected
    [row] = FunnelDay.objects.filter(pipeline=other_pipeline, is_month=False)
    assert (row.workspace_id, row.day, row.deals) == (other.pk, dt.date(2026, 10, 3), 1)
    assert not FunnelDay.objects.filter(workspace=workspace, pipeline=other_pipeline).exists()
    other_actor = Actor.for_membership(other_owner)
    assert funnel_report(other_actor, other_pipeline, *AUTUMN).won_count == 1
    assert refresh_funnels.call() == 0


def test_the_refresh_runs_every_minute() -> None:
    [job] = [job for job in PERIODIC_JOBS if job.name == "sales.refresh_funnels"]
    assert job.task_path == "huike.sales.tasks_funnel.refresh_funnels"
    assert job.every == dt.timedelta(minutes=1)


def test_rolled_up_queries_do_not_grow_with_the_days(
    workspace: Workspace,
    owner: Membership,
    owner_actor: Actor,
    django_assert_num_queries: Any,
) -> None:
    # given
    pipeline, stages = make_pipeline(workspace)
    make_deal(stages["Proposal"], owner=owner, created_at=at(2026, 9, 3))
    funnel_refresh(pipeline)
    with django_assert_num_queries(3):
        funnel_report(owner_actor, pipeline, *AUTUMN)
    for day in range(1, 29):
        make_deal(stages["Won"], owner=owner, created_at=at(2026, 10, day))
    FunnelRollup.objects.update(built_at=None)  # written without the services: rebuild
    funnel_refresh(pipeline)
    # when / then: stages, roll-up state, stored days and deltas (one statement)
    with django_assert_num_queries(3):
        funnel = funnel_report(owner_actor, pipeline, *AUTUMN)
    assert funnel.deal_count == 29


def test_many_random_moves_keep_the_roll_ups_exact(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, stages = _random_history(workspace, owner)
    funnel_refresh(pipeline)
    rng = random.Random(8)
    deals = list(Deal.objects.filter(pipeline=pipeline))
    choices = [stage for name, stage in stages.items() if name != "Lost"]
    # when: moves forwards, backwards, to won, to lost and out of them again
    for _number in range(40):
        deal = Deal.objects.get(pk=rng.choice(deals).pk)
        if rng.random() < 0.2:
            deal_move(actor=owner_actor, deal=deal, stage=stages["Lost"], lost_reason="No")
        else:
            deal_move(actor=owner_actor, deal=deal, stage=rng.choice(choices))
    # then
    for period in PERIODS:
        expected = _from_the_deals(owner_actor, pipeline, period)
        assert _figures(funnel_report(owner_actor, pipeline, *period)) == expected
    funnel_refresh(pipeline)
    for period in PERIODS:
        expected = _from_the_deals(owner_actor, pipeline, period)
        assert _figures(funnel_report(owner_actor, pipeline, *period)) == expected


def test_a_day_whose_deals_are_all_deleted_leaves_no_row(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: one deal on 3 October, another on the 4th, rolled up
    pipeline, stages = make_pipeline(workspace)
    alone = make_deal(stages["Won"], owner=owner, amount="70", created_at=at(2026, 10, 3))
    make_deal(stages["Proposal"], owner=owner, created_at=at(2026, 10, 4))
    funnel_refresh(pipeline)
    # when
    deal_delete(actor=owner_actor, deal=alone)
    funnel_refresh(pipeline)
    # then
    stored = FunnelDay.objects.filter(pipeline=pipeline).values_list("day", "is_month", "deals")
    assert list(stored.order_by("is_month")) == [
        (dt.date(2026, 10, 4), False, 1),
        (dt.date(2026, 10, 1), True, 1),
    ]
    funnel = funnel_report(owner_actor, pipeline, *AUTUMN)
    assert (funnel.deal_count, funnel.won_count, funnel.won) == (1, 0, [])
