"""Services of pipelines and deals: pipelines and their stages, moves with their history and
side effects (lifecycle, timeline, order, outbox), contacts, products and activities."""
# The fixtures are imported from test_deals_support (sales has no shared conftest), and a
# test naming a fixture as its argument is what pytest wants: F811 does not apply.
# ruff: noqa: F401, F811

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from huike.core.models import OutboxMessage
from huike.customers.models import Customer, Event
from huike.sales.deals import (
    DealData,
    StageData,
    activity_log,
    deal_contact_set,
    deal_create,
    deal_move,
    deal_product_add,
    deal_product_remove,
    deal_stage_history,
    deal_update,
    pipeline_create,
    pipeline_default,
    pipeline_delete,
    pipeline_update,
    stage_add,
    stage_delete,
    stage_update,
    stages_reorder,
)
from huike.sales.models import (
    Activity,
    Deal,
    DealContact,
    DealStageChange,
    Lead,
    Order,
    Pipeline,
    Product,
    Stage,
)
from huike.sales.tests.test_deals_support import (
    make_customer,
    make_deal,
    pipeline,
    rep,
    stage_named,
    team,
)

pytestmark = pytest.mark.django_db


def _kinds(workspace_id: int, prefix: str) -> list[str]:
    return list(
        OutboxMessage.objects.filter(workspace_id=workspace_id, kind__startswith=prefix)
        .order_by("id")
        .values_list("kind", flat=True)
    )


# --- pipelines ------------------------------------------------------------------------------
def test_default_pipeline_has_the_standard_stages(workspace) -> None:
    # when
    pipeline = pipeline_default(workspace)
    again = pipeline_default(workspace)
    # then
    assert again.pk == pipeline.pk
    assert pipeline.name == "Sales pipeline"
    assert pipeline.is_default is True
    assert [(s.name, s.kind, s.probability, s.position) for s in pipeline.stages.all()] == [
        ("Qualification", "open", 10, 1),
        ("Needs analysis", "open", 30, 2),
        ("Proposal", "open", 60, 3),
        ("Negotiation", "open", 80, 4),
        ("Won", "won", 100, 5),
        ("Lost", "lost", 0, 6),
    ]


def test_pipeline_create_keeps_the_stage_order(owner_actor: Actor, pipeline: Pipeline) -> None:
    # when
    created = pipeline_create(
        actor=owner_actor,
        name="Renewals",
        currency="usd",
        stages=[
            StageData("Due", "open", 50),
            StageData("Renewed", "won", 100),
            StageData("Churned", "lost", 0),
        ],
    )
    # then
    assert created.currency == "USD"
    assert created.is_default is False  # the workspace has one already
    assert list(created.stages.values_list("name", "kind", "probability")) == [
        ("Due", "open", 50),
        ("Renewed", "won", 100),
        ("Churned", "lost", 0),
    ]


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ([StageData("Won", "won", 100)], "stages"),
        ([StageData("A", "open", 10), StageData("a", "open", 20)], "stages"),
        ([StageData("A", "open", 101)], "stages.0.probability"),
        ([StageData("A", "open", 10), StageData("B", "maybe", 10)], "stages.1.type"),
        ([StageData(" ", "open", 10)], "stages.0.name"),
    ],
)
def test_pipeline_create_refuses_bad_stages(
    owner_actor: Actor, stages: list[StageData], field: str
) -> None:
    # when
    with pytest.raises(InvalidInputError) as error:
        pipeline_create(actor=owner_actor, name="Bad", stages=stages)
    # then
    assert error.value.field == field
    assert not Pipeline.objects.filter(name="Bad").exists()


def test_pipeline_name_is_unique(owner_actor: Actor, pipeline: Pipeline) -> None:
    with pytest.raises(ConflictError):
        pipeline_create(
            actor=owner_actor, name="Sales pipeline", stages=[StageData("A", "open", 10)]
        )


def test_rep_cannot_create_a_pipeline(member_actor: Actor) -> None:
    with pytest.raises(PermissionDeniedError):
        pipeline_create(actor=member_actor, name="Mine", stages=[StageData("A", "open", 10)])
    assert not Pipeline.objects.exists()


def test_stage_with_deals_cannot_be_deleted(
    owner_actor: Actor, pipeline: Pipeline, make_deal: Callable[..., Deal]
) -> None:
    # given
    make_deal()
    qualification = stage_named(pipeline, "Qualification")
    # when
    with pytest.raises(ConflictError) as error:
        stage_delete(actor=owner_actor, stage=qualification)
    # then
    assert "1 deal(s) are in this stage" in error.value.detail
    assert Stage.objects.filter(pk=qualification.pk).exists()


def test_stages_are_added_reordered_and_deleted(owner_actor: Actor, pipeline: Pipeline) -> None:
    # when
    demo = stage_add(
        actor=owner_actor, pipeline=pipeline, data=StageData("Demo", "open", 40), position=3
    )
    stage_update(actor=owner_actor, stage=demo, name="Product demo", probability=45)
    stage_delete(actor=owner_actor, stage=stage_named(pipeline, "Needs analysis"))
    ordered = list(pipeline.stages.order_by("position"))
    stages_reorder(
        actor=owner_actor, pipeline=pipeline, stages=[ordered[1], ordered[0], *ordered[2:]]
    )
    # then
    assert list(
        pipeline.stages.order_by("position").values_list("name", "probability", "position")
    ) == [
        ("Product demo", 45, 1),
        ("Qualification", 10, 2),
        ("Proposal", 60, 3),
        ("Negotiation", 80, 4),
        ("Won", 100, 5),
        ("Lost", 0, 6),
    ]


def test_the_last_open_stage_stays(owner_actor: Actor) -> None:
    # given
    small = pipeline_create(
        actor=owner_actor,
        name="Small",
        stages=[StageData("Open", "open", 10), StageData("Won", "won", 100)],
    )
    only_open = stage_named(small, "Open")
    # when / then
    with pytest.raises(InvalidInputError):
        stage_delete(actor=owner_actor, stage=only_open)
    with pytest.raises(InvalidInputError):
        stage_update(actor=owner_actor, stage=only_open, kind="won")
    assert Stage.objects.get(pk=only_open.pk).kind == "open"


def test_stage_kind_does_not_change_under_deals(
    owner_actor: Actor, pipeline: Pipeline, make_deal: Callable[..., Deal]
) -> None:
    make_deal()
    with pytest.raises(ConflictError):
        stage_update(actor=owner_actor, stage=stage_named(pipeline, "Qualification"), kind="lost")


def test_pipeline_with_deals_is_not_deleted_but_archived_when_not_default(
    owner_actor: Actor, pipeline: Pipeline, make_deal: Callable[..., Deal]
) -> None:
    # given
    make_deal()
    other = pipeline_create(actor=owner_actor, name="Other", stages=[StageData("A", "open", 5)])
    # when
    with pytest.raises(ConflictError):
        pipeline_delete(actor=owner_actor, pipeline=pipeline)
    with pytest.raises(ConflictError):
        pipeline_update(actor=owner_actor, pipeline=pipeline, is_archived=True)
    pipeline_update(actor=owner_actor, pipeline=other, is_default=True)
    pipeline_update(actor=owner_actor, pipeline=pipeline, is_archived=True, name="Old")
    # then
    assert Pipeline.objects.get(pk=other.pk).is_default is True
    old = Pipeline.objects.get(pk=pipeline.pk)
    assert (old.name, old.is_default, old.is_archived) == ("Old", False, True)
    assert pipeline_default(old.workspace).pk == other.pk


# --- deals ----------------------------------------------------------------------------------
def test_deal_create_starts_in_the_first_open_stage(
    owner_actor: Actor, owner: Membership, pipeline: Pipeline, make_customer
) -> None:
    # given
    customer = make_customer()
    # when
    deal = deal_create(
        actor=owner_actor,
        pipeline=pipeline,
        name="  Rollout  ",
        amount=Decimal("1200.5"),
        customer=customer,
    )
    # then
    assert (deal.name, deal.stage.name, deal.status, deal.amount, deal.currency) == (
        "Rollout",
        "Qualification",
        "open",
        Decimal("1200.50"),
        "CNY",
    )
    assert deal.owner_id == owner.pk
    history = list(DealStageChange.objects.filter(deal=deal))
    assert [(h.from_stage_id, h.to_stage.name, h.seconds_in_from) for h in history] == [
        (None, "Qualification", None)
    ]
    assert _kinds(deal.workspace_id, "deal.") == ["deal.created"]


def test_deal_cannot_start_won(owner_actor: Actor, pipeline: Pipeline) -> None:
    with pytest.raises(InvalidInputError) as error:
        deal_create(
            actor=owner_actor, pipeline=pipeline, name="X", stage=stage_named(pipeline, "Won")
        )
    assert error.value.field == "stage"
    assert not Deal.objects.exists()


def test_deal_owner_takes_the_team(
    owner_actor: Actor, pipeline: Pipeline, rep: Membership, make_deal
) -> None:
    # given
    deal = make_deal()
    # when
    updated = deal_update(
        actor=owner_actor,
        deal=deal,
        data=DealData(owner=rep, next_step="Send quote", amount=Decimal("99")),
    )
    # then
    assert (updated.owner_id, updated.team_id, updated.next_step, updated.amount) == (
        rep.pk,
        rep.team_id,
        "Send quote",
        Decimal("99.00"),
    )
    assert _kinds(deal.workspace_id, "deal.") == ["deal.created", "deal.updated"]


def test_move_records_history_with_time_in_the_stage(
    owner_actor: Actor, pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=timezone.now() - dt.timedelta(hours=3))
    proposal = stage_named(pipeline, "Proposal")
    # when
    moved = deal_move(actor=owner_actor, deal=deal, stage=proposal)
    # then
    assert (moved.stage_id, moved.status, moved.closed_at) == (proposal.pk, "open", None)
    change = DealStageChange.objects.filter(deal=deal, from_stage__isnull=False).get()
    assert change.from_stage.name == "Qualification"
    assert change.to_stage_id == proposal.pk
    assert 3 * 3600 <= change.seconds_in_from < 3 * 3600 + 60
    visits = deal_stage_history(moved)
    assert [(v.stage_name, v.left_at is None) for v in visits] == [
        ("Qualification", False),
        ("Proposal", True),
    ]
    assert visits[0].seconds == change.seconds_in_from
    assert _kinds(deal.workspace_id, "deal.") == ["deal.created", "deal.stage_changed"]


def test_move_to_the_same_stage_changes_nothing(
    owner_actor: Actor, pipeline: Pipeline, make_deal
) -> None:
    deal = make_deal()
    deal_move(actor=owner_actor, deal=deal, stage=deal.stage)
    assert DealStageChange.objects.filter(deal=deal).count() == 1


def test_move_to_a_stage_of_another_pipeline_is_refused(
    owner_actor: Actor, pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    other = pipeline_create(actor=owner_actor, name="Other", stages=[StageData("A", "open", 5)])
    # when
    with pytest.raises(InvalidInputError) as error:
        deal_move(actor=owner_actor, deal=deal, stage=stage_named(other, "A"))
    # then
    assert error.value.field == "stage_id"
    assert Deal.objects.get(pk=deal.pk).stage_id == deal.stage_id


def test_losing_needs_a_reason(
    owner_actor: Actor, pipeline: Pipeline, make_deal, make_customer
) -> None:
    # given
    deal = make_deal(customer=make_customer())
    lost = stage_named(pipeline, "Lost")
    # when
    with pytest.raises(InvalidInputError) as error:
        deal_move(actor=owner_actor, deal=deal, stage=lost, lost_reason="  ")
    # then
    assert error.value.field == "lost_reason"
    assert Deal.objects.get(pk=deal.pk).status == "open"
    # when
    moved = deal_move(actor=owner_actor, deal=deal, stage=lost, lost_reason="No budget")
    # then
    assert (moved.status, moved.lost_reason, moved.closed_at is not None) == (
        "lost",
        "No budget",
        True,
    )
    event = Event.objects.get(customer=deal.customer, kind="deal.lost")
    assert event.properties["lost_reason"] == "No budget"
    assert event.properties["deal"] == "CRM rollout"
    assert _kinds(deal.workspace_id, "deal.") == [
        "deal.created",
        "deal.stage_changed",
        "deal.lost",
    ]
    assert not Order.objects.exists()


def test_winning_makes_a_lead_a_customer_and_creates_the_order_once(
    owner_actor: Actor, pipeline: Pipeline, make_deal, make_customer
) -> None:
    # given
    customer = make_customer(lifecycle_stage="lead")
    deal = make_deal(customer=customer, amount="5000")
    won = stage_named(pipeline, "Won")
    # when
    moved = deal_move(actor=owner_actor, deal=deal, stage=won)
    reopened = deal_move(actor=owner_actor, deal=moved, stage=stage_named(pipeline, "Proposal"))
    deal_move(actor=owner_actor, deal=reopened, stage=won)
    # then
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == "customer"
    order = Order.objects.get(deal=deal)
    assert (order.customer_id, order.total, order.currency) == (
        customer.pk,
        Decimal("5000.00"),
        "CNY",
    )
    assert Event.objects.filter(customer=customer, kind="deal.won").count() == 2
    final = Deal.objects.get(pk=deal.pk)
    assert (final.status, final.closed_at is not None, final.lost_reason) == ("won", True, "")
    assert _kinds(deal.workspace_id, "deal.") == [
        "deal.created",
        "deal.stage_changed",
        "deal.won",
        "deal.stage_changed",
        "deal.stage_changed",
        "deal.won",
    ]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("visitor", "customer"),
        ("customer", "customer"),
        ("loyal", "loyal"),
        ("churned", "customer"),
    ],
)
def test_winning_does_not_move_the_lifecycle_back(
    owner_actor: Actor, pipeline: Pipeline, make_deal, make_customer, before: str, after: str
) -> None:
    # given
    customer = make_customer(lifecycle_stage=before)
    deal = make_deal(customer=customer)
    # when
    deal_move(actor=owner_actor, deal=deal, stage=stage_named(pipeline, "Won"))
    # then
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == after


def test_reopening_a_lost_deal_clears_the_reason(
    owner_actor: Actor, pipeline: Pipeline, make_deal
) -> None:
    deal = make_deal()
    lost = deal_move(
        actor=owner_actor, deal=deal, stage=stage_named(pipeline, "Lost"), lost_reason="Late"
    )
    reopened = deal_move(actor=owner_actor, deal=lost, stage=stage_named(pipeline, "Proposal"))
    assert (reopened.status, reopened.lost_reason, reopened.closed_at) == ("open", "", None)


def test_read_only_cannot_move_and_nothing_changes(
    make_member: Callable[..., Membership], pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    reader = Actor.for_membership(make_member("reader@acme.test", "read_only"))
    # when
    with pytest.raises(PermissionDeniedError):
        deal_move(actor=reader, deal=deal, stage=stage_named(pipeline, "Won"))
    # then
    assert Deal.objects.get(pk=deal.pk).status == "open"
    assert DealStageChange.objects.filter(deal=deal).count() == 1


# --- contacts, products, activities ---------------------------------------------------------
def test_contacts_have_roles(owner_actor: Actor, make_deal, make_customer) -> None:
    # given
    deal = make_deal()
    buyer = make_customer("Zhang Min")
    # when
    deal_contact_set(actor=owner_actor, deal=deal, customer=buyer, role="champion")
    deal_contact_set(actor=owner_actor, deal=deal, customer=buyer, role="decision_maker")
    # then
    assert list(DealContact.objects.filter(deal=deal).values_list("customer__name", "role")) == [
        ("Zhang Min", "decision_maker")
    ]
    with pytest.raises(InvalidInputError):
        deal_contact_set(actor=owner_actor, deal=deal, customer=buyer, role="boss")


def test_deal_amount_follows_its_products(owner_actor: Actor, workspace, make_deal) -> None:
    # given
    deal = make_deal(amount="1")
    seats = Product.objects.create(workspace=workspace, sku="SEAT", name="Seat", price="120.00")
    setup = Product.objects.create(workspace=workspace, sku="SETUP", name="Setup", price="800.00")
    # when
    deal_product_add(actor=owner_actor, deal=deal, product=seats, quantity=Decimal("10"))
    line = deal_product_add(
        actor=owner_actor,
        deal=deal,
        product=setup,
        quantity=Decimal("1"),
        unit_price=Decimal("650"),
    )
    # then
    assert Deal.objects.get(pk=deal.pk).amount == Decimal("1850.00")
    # when
    deal_product_remove(actor=owner_actor, line=line)
    # then
    assert Deal.objects.get(pk=deal.pk).amount == Decimal("1200.00")


def test_product_of_another_currency_needs_a_price(
    owner_actor: Actor, workspace, make_deal
) -> None:
    deal = make_deal()
    dollars = Product.objects.create(
        workspace=workspace, sku="USD1", name="Seat", price="10", currency="USD"
    )
    with pytest.raises(InvalidInputError) as error:
        deal_product_add(actor=owner_actor, deal=deal, product=dollars, quantity=Decimal("1"))
    assert error.value.field == "unit_price"


def test_activity_is_on_the_customer_timeline(
    owner_actor: Actor, owner: Membership, make_deal, make_customer
) -> None:
    # given
    customer = make_customer()
    deal = make_deal(customer=customer)
    moment = timezone.now() - dt.timedelta(days=1)
    # when
    activity = activity_log(
        actor=owner_actor,
        kind="call",
        subject="Discovery call",
        body="Needs WeCom",
        occurred_at=moment,
        duration_minutes=25,
        deal=deal,
    )
    # then
    stored = Activity.objects.get(pk=activity.pk)
    assert (stored.customer_id, stored.author_id, stored.duration_minutes) == (
        customer.pk,
        owner.pk,
        25,
    )
    event = Event.objects.get(customer=customer, kind="activity.logged")
    assert event.occurred_at == moment
    assert event.properties == {
        "activity_id": str(activity.public_id),
        "type": "call",
        "subject": "Discovery call",
        "deal_id": str(deal.public_id),
        "deal": "CRM rollout",
    }


def test_activity_needs_a_known_kind(owner_actor: Actor, make_deal) -> None:
    deal = make_deal()
    with pytest.raises(InvalidInputError) as error:
        activity_log(actor=owner_actor, kind="fax", subject="x", deal=deal)
    assert error.value.field == "kind"
    assert not Activity.objects.exists()


def test_activity_on_a_lead_counts_as_its_follow_up(
    owner_actor: Actor, workspace, make_customer
) -> None:
    # given
    customer = make_customer()
    lead = Lead.objects.create(workspace=workspace, customer=customer, source="manual", name="Lin")
    moment = timezone.now() - dt.timedelta(hours=2)
    # when
    activity = activity_log(
        actor=owner_actor, kind="call", subject="First call", occurred_at=moment, lead=lead
    )
    # then
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.first_contacted_at, stored.last_activity_at) == (moment, moment)
    assert activity.customer_id == customer.pk
    assert Event.objects.get(customer=customer, kind="activity.logged").properties["lead_id"] == (
        str(lead.public_id)
    )
