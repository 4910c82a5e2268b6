"""The funnel and the forecast of roles limited by record rules, read from the roll-ups per
owner and team (FunnelOwnerDay, ForecastMonth): for a rep, a manager of a team subtree and a
member a deal was shared with, they are the funnel and the forecast read from the deals they
may see, before and after the refresh, whatever changed in between — deals reassigned,
members moved between teams, a team or a member gone, shares given and taken back."""

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Q

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import member_update, team_delete
from huike.accounts.sharing import record_share, record_unshare
from huike.sales.deals import DealData, deal_create, deal_delete, deal_move, deal_update
from huike.sales.funnel import Funnel, funnel_refresh, funnel_report
from huike.sales.models import (
    Deal,
    ForecastCategory,
    FunnelDelta,
    FunnelOwnerDay,
    FunnelRollup,
    Pipeline,
)
from huike.sales.reports import forecast_report
from huike.sales.tests.test_forecast_rollups import _figures as _forecast_figures
from huike.sales.tests.test_funnel_rollups import wander
from huike.sales.tests.test_reports_access import _team
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline

AUTUMN = (dt.date(2026, 9, 1), dt.date(2026, 11, 30))
TODAY = dt.date(2026, 12, 10)
PERIODS = (AUTUMN, (dt.date(2026, 9, 20), dt.date(2026, 10, 31)))


def _figures(funnel: Funnel) -> Any:
    return (
        funnel.deal_count,
        [(row.stage.pk, row.reached, row.average_seconds) for row in funnel.stages],
        funnel.won,
        funnel.lost,
    )


def _from_the_deals(actor: Actor, pipeline: Pipeline, period: tuple[dt.date, dt.date]) -> Any:
    with transaction.atomic():
        FunnelRollup.objects.update(built_at=None)
        figures = _figures(funnel_report(actor, pipeline, *period))
        transaction.set_rollback(True)
    return figures


def _forecasts(actor: Actor, pipeline: Pipeline) -> dict[tuple[Any, ...], Any]:
    """Every forecast the actor can ask for here: per rep, team and pipeline, in both
    currencies, over the months around the deals, with the statistical forecast."""
    figures = {}
    for group in ("rep", "team", "pipeline"):
        for currency in ("CNY", "USD"):
            for period in ("2026-Q4", "2027-Q1"):
                report = forecast_report(
                    actor,
                    pipeline=pipeline,
                    period=period,
                    group=group,  # type: ignore[arg-type]
                    currency=currency,
                    today=TODAY,
                )
                figures[(group, currency, period)] = _forecast_figures(report)
    return figures


def _forecasts_from_the_deals(actor: Actor, pipeline: Pipeline) -> dict[tuple[Any, ...], Any]:
    with transaction.atomic():
        FunnelRollup.objects.update(built_at=None)
        figures = _forecasts(actor, pipeline)
        transaction.set_rollback(True)
    return figures


@pytest.fixture
def org(workspace: Workspace, make_member: Callable[..., Membership]) -> dict[str, Any]:
    """Sales (managed by the manager) ⊃ East (reps east, east2); West (rep west) outside it.
    80 deals over three months among them, some filed under another team than their owner's
    (as an import or a reassignment can leave them) and some with no owner."""
    manager = make_member("manager@acme.test", "manager")
    members = {
        "manager": manager,
        "east": make_member("east@acme.test", "sales"),
        "east2": make_member("east2@acme.test", "sales"),
        "west": make_member("west@acme.test", "sales"),
    }
    sales = _team(workspace, "Sales")
    east = _team(workspace, "East", parent=sales)
    west = _team(workspace, "West")
    sales.manager = manager
    sales.save(update_fields=["manager"])
    teams = {"sales": sales, "east": east, "west": west}
    for name, team in (("manager", sales), ("east", east), ("east2", east), ("west", west)):
        members[name].team = team
        members[name].save(update_fields=["team"])
    pipeline, stages = make_pipeline(workspace)
    rng = random.Random(11)
    owners: list[Membership | None] = [*members.values(), None]
    categories = list(ForecastCategory.values)
    for number in range(80):
        owner = rng.choice(owners)
        team: Team | None = rng.choice([east, west])
        if owner is not None and rng.random() < 0.8:
            team = owner.team
        deal = make_deal(
            stages["Qualification"],
            owner=owner,
            team=team,
            amount=str(rng.randrange(1, 5000)),
            currency="USD" if number % 9 == 0 else "CNY",
            created_at=at(2026, 9, 1) + dt.timedelta(hours=rng.randrange(0, 90 * 24)),
            expected_close_date=dt.date(2026, 10, 1) + dt.timedelta(days=rng.randrange(0, 180)),
            category=rng.choice(categories),
        )
        wander(deal, stages, rng)
    return {"members": members, "teams": teams, "pipeline": pipeline, "stages": stages}


def _actors(org: dict[str, Any]) -> dict[str, Actor]:
    return {
        name: Actor.for_membership(Membership.objects.get(pk=member.pk))
        for name, member in org["members"].items()
    }


def _assert_every_actor_reads_the_deals(org: dict[str, Any]) -> None:
    """Each actor's funnels and forecasts from the roll-ups are those read from the deals."""
    pipeline = org["pipeline"]
    for name, actor in _actors(org).items():
        for period in PERIODS:
            expected = _from_the_deals(actor, pipeline, period)
            assert _figures(funnel_report(actor, pipeline, *period)) == expected, (name, period)
        expected_forecasts = _forecasts_from_the_deals(actor, pipeline)
        forecasts = _forecasts(actor, pipeline)
        for key, figures in expected_forecasts.items():
            assert forecasts[key] == figures, (name, key)


def test_each_role_reads_from_the_roll_ups_what_it_sees_of_the_deals(
    org: dict[str, Any],
) -> None:
    # given: deals written before any roll-up existed
    pipeline = org["pipeline"]
    actors = _actors(org)
    before = {name: _from_the_deals(actor, pipeline, AUTUMN) for name, actor in actors.items()}
    # when
    funnel_refresh(pipeline)
    # then: a row per day, owner and team; every role its own part of the deals
    assert FunnelOwnerDay.objects.filter(pipeline=pipeline).count() > 60
    for name, actor in actors.items():
        assert _figures(funnel_report(actor, pipeline, *AUTUMN)) == before[name], name
    # the manager sees more than a rep and less than everything
    counts = {name: figures[0] for name, figures in before.items()}
    assert counts["east"] < counts["manager"] < Deal.objects.filter(pipeline=pipeline).count()
    _assert_every_actor_reads_the_deals(org)


def test_rep_and_manager_read_the_stored_rows_not_the_deals(
    org: dict[str, Any], owner_actor: Actor
) -> None:
    # given: roll-ups built, a West deal shared with the manager, then every deal removed
    # behind the services' back but the shared one
    pipeline, members = org["pipeline"], org["members"]
    shared = Deal.objects.filter(
        pipeline=pipeline, owner=members["west"], team=org["teams"]["west"]
    ).first()
    assert shared is not None
    record_share(actor=owner_actor, record=shared, membership=members["manager"])
    actors = _actors(org)
    expected = {name: _from_the_deals(actors[name], pipeline, AUTUMN) for name in actors}
    forecasts = {name: _forecasts(actors[name], pipeline) for name in actors}
    funnel_refresh(pipeline)
    Deal.objects.filter(pipeline=pipeline).exclude(pk=shared.pk).delete()
    # when / then: the shared deal read from the deals, the rest from the rows
    for name in ("east", "manager"):
        assert _figures(funnel_report(actors[name], pipeline, *AUTUMN)) == expected[name]
        assert expected[name][0] > 1
        assert _forecasts(actors[name], pipeline) == forecasts[name]
    # not a comparison of empty forecasts: open and won deals, a statistical forecast too
    manager = forecasts["manager"][("rep", "CNY", "2026-Q4")]
    assert sum(total[1] for total in manager[1]) > 5
    assert sum(total[2] for total in manager[1]) > 5


def test_reassigning_deals_moves_them_between_the_roles_at_once_and_after_the_refresh(
    org: dict[str, Any], owner_actor: Actor
) -> None:
    # given
    pipeline, stages = org["pipeline"], org["stages"]
    members = org["members"]
    funnel_refresh(pipeline)
    west_deals = list(Deal.objects.filter(pipeline=pipeline, owner=members["west"])[:3])
    # when: a West deal goes to an East rep, an East deal to West, one moved and won
    deal_update(actor=owner_actor, deal=west_deals[0], data=DealData(owner=members["east"]))
    east_deal = Deal.objects.filter(pipeline=pipeline, owner=members["east2"]).first()
    assert east_deal is not None
    deal_update(actor=owner_actor, deal=east_deal, data=DealData(owner=members["west"]))
    fresh = deal_create(actor=owner_actor, pipeline=pipeline, name="New", owner=members["east"])
    deal_move(actor=owner_actor, deal=fresh, stage=stages["Won"])
    # then: deltas per owner and team, counted at once and after the fold
    assert FunnelDelta.objects.filter(pipeline=pipeline).exclude(owner_id=None).exists()
    today = fresh.created_at.astimezone(at(2026, 1, 1).tzinfo).date()
    long_period = (AUTUMN[0], today)
    east = _actors(org)["east"]
    expected = _from_the_deals(east, pipeline, long_period)
    assert _figures(funnel_report(east, pipeline, *long_period)) == expected
    _assert_every_actor_reads_the_deals(org)
    funnel_refresh(pipeline)
    assert not FunnelDelta.objects.filter(pipeline=pipeline).exists()
    assert _figures(funnel_report(east, pipeline, *long_period)) == expected
    _assert_every_actor_reads_the_deals(org)


def test_a_member_moved_to_another_team_takes_their_deals_out_of_the_managers_funnel(
    org: dict[str, Any], owner_actor: Actor
) -> None:
    # given
    pipeline = org["pipeline"]
    funnel_refresh(pipeline)
    # when: no deal changes; the owner's team does
    member_update(actor=owner_actor, membership=org["members"]["east2"], team=org["teams"]["west"])
    # then
    _assert_every_actor_reads_the_deals(org)


def test_a_team_or_a_member_gone_counts_as_the_deals_now_say(
    org: dict[str, Any], owner_actor: Actor
) -> None:
    # given
    pipeline = org["pipeline"]
    funnel_refresh(pipeline)
    # when: West deleted (its member and deals lose it), east2's membership removed
    team_delete(actor=owner_actor, team=org["teams"]["west"])
    Membership.objects.filter(pk=org["members"]["east2"].pk).delete()
    org["members"].pop("east2")
    # then, and after changes of deals that still carry the old ids in the rows: moved,
    # given a new owner, deleted (taken off under no team and no owner, where the rows never
    # had them: those keys' rows go below zero, and the fold keeps them)
    _assert_every_actor_reads_the_deals(org)
    orphans = Deal.objects.filter(pipeline=pipeline).filter(
        Q(team__isnull=True) | Q(owner__isnull=True)
    )
    assert orphans.count() >= 6
    deals = list(orphans.exclude(status="won")[:6])
    for deal in deals[:2]:
        deal_move(actor=owner_actor, deal=deal, stage=org["stages"]["Won"])
    for deal in deals[2:4]:
        deal_update(actor=owner_actor, deal=deal, data=DealData(owner=org["members"]["east"]))
    for deal in deals[4:]:
        deal_delete(actor=owner_actor, deal=deal)
    _assert_every_actor_reads_the_deals(org)
    funnel_refresh(pipeline)
    assert not FunnelDelta.objects.filter(pipeline=pipeline).exists()
    _assert_every_actor_reads_the_deals(org)


def test_shared_deals_count_once_for_whoever_they_were_shared_with(
    org: dict[str, Any], owner_actor: Actor
) -> None:
    # given: West deals shared with the manager and with the East team; an East deal shared
    # with the manager, who sees it anyway
    pipeline = org["pipeline"]
    members, teams = org["members"], org["teams"]
    funnel_refresh(pipeline)
    west_deals = list(
        Deal.objects.filter(pipeline=pipeline, owner=members["west"], team=teams["west"])[:4]
    )
    record_share(actor=owner_actor, record=west_deals[0], membership=members["manager"])
    record_share(actor=owner_actor, record=west_deals[1], membership=members["manager"])
    record_share(actor=owner_actor, record=west_deals[2], team=teams["east"])
    east_deal = Deal.objects.filter(pipeline=pipeline, owner=members["east"]).first()
    assert east_deal is not None
    record_share(actor=owner_actor, record=east_deal, membership=members["manager"])
    manager = _actors(org)["manager"]
    without = _from_the_deals(manager, pipeline, AUTUMN)
    # then
    _assert_every_actor_reads_the_deals(org)
    # when the shares are taken back
    for deal in west_deals[:2]:
        record_unshare(actor=owner_actor, record=deal, membership=members["manager"])
    # then
    assert _from_the_deals(manager, pipeline, AUTUMN)[0] == without[0] - 2
    _assert_every_actor_reads_the_deals(org)


def test_a_managers_rolled_up_funnel_takes_a_fixed_number_of_queries(
    org: dict[str, Any], owner_actor: Actor, django_assert_num_queries: Any
) -> None:
    # given
    pipeline = org["pipeline"]
    funnel_refresh(pipeline)
    manager = _actors(org)["manager"]
    # when / then: stages, roll-up state, the team subtree (2), its members, shares, and the
    # stored rows with the deltas (one statement)
    with django_assert_num_queries(7):
        funnel_report(manager, pipeline, *AUTUMN)
    # a deal shared with the manager adds the three queries over the deals shared
    deal = Deal.objects.filter(
        pipeline=pipeline, owner=org["members"]["west"], team=org["teams"]["west"]
    ).first()
    assert deal is not None
    record_share(actor=owner_actor, record=deal, membership=org["members"]["manager"])
    with django_assert_num_queries(10):
        funnel_report(manager, pipeline, *AUTUMN)


def test_a_managers_rolled_up_forecast_takes_a_fixed_number_of_queries(
    org: dict[str, Any], owner_actor: Actor, django_assert_num_queries: Any
) -> None:
    # given
    pipeline = org["pipeline"]
    funnel_refresh(pipeline)
    manager = _actors(org)["manager"]
    # when / then: the admin's 10 (test_forecast_rollups) plus the team subtree (2), its
    # members and the shares, whatever the months
    queries = 14
    with django_assert_num_queries(queries):
        forecast_report(manager, today=TODAY, period="2026-Q4")
    with django_assert_num_queries(queries):
        forecast_report(manager, today=TODAY, period="2027-Q1")
    # a deal shared with the manager adds its open, won and monthly won aggregates
    deal = Deal.objects.filter(
        pipeline=pipeline, owner=org["members"]["west"], team=org["teams"]["west"]
    ).first()
    assert deal is not None
    record_share(actor=owner_actor, record=deal, membership=org["members"]["manager"])
    with django_assert_num_queries(queries + 3):
        forecast_report(manager, today=TODAY, period="2027-Q1")
