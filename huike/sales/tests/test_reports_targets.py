"""Sales targets: the services, the /sales-targets API and the settings page; attainment."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from huike.sales.models import SalesTarget
from huike.sales.reports import forecast_report
from huike.sales.targets import target_create, target_delete, target_set, target_update
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline

DECEMBER = dt.date(2026, 12, 1)
URL = "/api/v1/sales-targets"
PAGE = "/sales/reports/settings/targets/"


def client_of(membership: Membership) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(membership.user)
    return client


# --- services -------------------------------------------------------------------------------
def test_target_is_for_the_whole_month(owner_actor: Actor, member: Membership) -> None:
    # when
    target = target_create(
        actor=owner_actor, month=dt.date(2026, 12, 17), amount=Decimal("5000"), membership=member
    )
    # then
    assert (target.month, target.amount, target.currency) == (
        DECEMBER,
        Decimal("5000.00"),
        "CNY",
    )


def test_second_target_for_the_same_month_is_a_conflict(
    owner_actor: Actor, member: Membership
) -> None:
    # given
    target_create(actor=owner_actor, month=DECEMBER, amount=Decimal("5000"), membership=member)
    # when / then
    with pytest.raises(ConflictError):
        target_create(
            actor=owner_actor, month=dt.date(2026, 12, 5), amount=Decimal("1"), membership=member
        )
    assert SalesTarget.objects.get().amount == Decimal("5000.00")


def test_target_set_changes_the_months_target(owner_actor: Actor, member: Membership) -> None:
    # given
    first, created = target_set(
        actor=owner_actor, month=DECEMBER, amount=Decimal("5000"), membership=member
    )
    # when
    second, created_again = target_set(
        actor=owner_actor, month=DECEMBER, amount=Decimal("6000"), currency="usd", membership=member
    )
    # then
    assert (created, created_again, first.pk) == (True, False, second.pk)
    assert SalesTarget.objects.values_list("amount", "currency").get() == (
        Decimal("6000.00"),
        "USD",
    )


def test_team_and_rep_targets_are_separate(owner_actor: Actor, member: Membership) -> None:
    # given
    team = Team.objects.create(workspace=owner_actor.workspace, name="East", path="/")
    # when
    target_create(actor=owner_actor, month=DECEMBER, amount=Decimal("100"), membership=member)
    target_create(actor=owner_actor, month=DECEMBER, amount=Decimal("900"), team=team)
    # then
    assert SalesTarget.objects.count() == 2


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        (Decimal("0"), "CNY", "amount"),
        (Decimal("-5"), "CNY", "amount"),
        (Decimal(5), "C1", "currency"),
    ],
)
def test_target_refuses_bad_values(
    owner_actor: Actor, member: Membership, amount: Decimal, currency: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        target_create(
            actor=owner_actor, month=DECEMBER, amount=amount, currency=currency, membership=member
        )
    assert error.value.field == field
    assert not SalesTarget.objects.exists()


def test_target_needs_exactly_one_of_rep_and_team(owner_actor: Actor, member: Membership) -> None:
    team = Team.objects.create(workspace=owner_actor.workspace, name="East", path="/")
    for subject in ({}, {"membership": member, "team": team}):
        with pytest.raises(InvalidInputError):
            target_create(actor=owner_actor, month=DECEMBER, amount=Decimal("1"), **subject)  # type: ignore[arg-type]


def test_target_of_another_workspaces_rep_is_refused(
    owner_actor: Actor, outsider: Membership
) -> None:
    with pytest.raises(InvalidInputError):
        target_create(actor=owner_actor, month=DECEMBER, amount=Decimal("1"), membership=outsider)
    assert not SalesTarget.objects.exists()


def test_sales_role_may_not_set_targets(member_actor: Actor, member: Membership) -> None:
    # given
    target = SalesTarget.objects.create(
        workspace=member.workspace, membership=member, month=DECEMBER, amount=Decimal("10")
    )
    # when / then
    with pytest.raises(PermissionDeniedError):
        target_create(actor=member_actor, month=DECEMBER, amount=Decimal("1"), membership=member)
    with pytest.raises(PermissionDeniedError):
        target_update(actor=member_actor, target=target, amount=Decimal("99999"))
    with pytest.raises(PermissionDeniedError):
        target_delete(actor=member_actor, target=target)
    target.refresh_from_db()
    assert target.amount == Decimal("10.00")


def test_attainment_is_won_against_the_target(
    workspace: Workspace, owner_actor: Actor, member: Membership
) -> None:
    # given: 2 of 8 thousand won in December, a deal won in November does not count
    _pipeline, stages = make_pipeline(workspace)
    make_deal(stages["Won"], owner=member, amount="1500", closed_at=at(2026, 12, 2))
    make_deal(stages["Won"], owner=member, amount="500", closed_at=at(2026, 12, 31, 23, 59))
    make_deal(stages["Won"], owner=member, amount="4000", closed_at=at(2026, 11, 30, 23, 59))
    target_create(actor=owner_actor, month=DECEMBER, amount=Decimal("8000"), membership=member)
    # when
    report = forecast_report(owner_actor, today=dt.date(2026, 12, 15), period="2026-12")
    # then
    cell = report.rows[0].cells[0]
    assert (cell.won, cell.target, cell.attainment) == (
        Decimal("2000.00"),
        Decimal("8000.00"),
        0.25,
    )


def test_target_in_another_currency_is_not_compared(
    workspace: Workspace, owner_actor: Actor, member: Membership
) -> None:
    # given
    _pipeline, stages = make_pipeline(workspace)
    make_deal(stages["Won"], owner=member, amount="1500", closed_at=at(2026, 12, 2))
    target_create(
        actor=owner_actor, month=DECEMBER, amount=Decimal("100"), currency="USD", membership=member
    )
    # when
    cny = forecast_report(owner_actor, today=dt.date(2026, 12, 15), period="2026-12")
    usd = forecast_report(
        owner_actor, today=dt.date(2026, 12, 15), period="2026-12", currency="USD"
    )
    # then
    assert (cny.rows[0].cells[0].target, cny.rows[0].cells[0].attainment) == (None, None)
    assert (usd.rows[0].cells[0].won, usd.rows[0].cells[0].attainment) == (Decimal("0.00"), 0.0)


# --- API ------------------------------------------------------------------------------------
def test_api_creates_lists_changes_and_deletes_a_target(
    owner: Membership, owner_client: Client, member: Membership
) -> None:
    # when
    created = owner_client.post(
        URL,
        {"month": "2026-12-09", "membership_id": str(member.public_id), "amount": "5000.50"},
        content_type="application/json",
    )
    target_id = created.json()["id"]
    duplicate = owner_client.post(
        URL,
        {"month": "2026-12-01", "membership_id": str(member.public_id), "amount": "1"},
        content_type="application/json",
    )
    listed = owner_client.get(URL, {"month": "2026-12-20"}).json()
    patched = owner_client.patch(
        f"{URL}/{target_id}", {"amount": "6000"}, content_type="application/json"
    )
    deleted = owner_client.delete(f"{URL}/{target_id}")
    # then
    assert created.status_code == 201
    assert created.json()["month"] == "2026-12-01"
    assert created.json()["amount"] == "5000.50"
    assert created.json()["membership"]["email"] == "member@acme.test"
    assert duplicate.status_code == 409
    assert [item["id"] for item in listed["items"]] == [target_id]
    assert patched.json()["amount"] == "6000.00"
    assert deleted.status_code == 204
    assert not SalesTarget.objects.exists()


def test_api_target_naming_an_unknown_rep_is_422(
    owner_client: Client, outsider: Membership
) -> None:
    # when
    response = owner_client.post(
        URL,
        {"month": "2026-12-01", "membership_id": str(outsider.public_id), "amount": "1"},
        content_type="application/json",
    )
    # then
    assert response.status_code == 422
    assert not SalesTarget.objects.exists()


def test_api_sales_role_cannot_write_targets(member: Membership, member_client: Client) -> None:
    # given
    target = SalesTarget.objects.create(
        workspace=member.workspace, membership=member, month=DECEMBER, amount=Decimal("10")
    )
    # when
    created = member_client.post(
        URL,
        {"month": "2027-01-01", "membership_id": str(member.public_id), "amount": "1"},
        content_type="application/json",
    )
    patched = member_client.patch(
        f"{URL}/{target.public_id}", {"amount": "99"}, content_type="application/json"
    )
    deleted = member_client.delete(f"{URL}/{target.public_id}")
    # then
    assert [r.status_code for r in (created, patched, deleted)] == [403, 403, 403]
    target.refresh_from_db()
    assert (SalesTarget.objects.count(), target.amount) == (1, Decimal("10.00"))


# --- settings page --------------------------------------------------------------------------
def test_settings_page_sets_and_changes_a_target(owner_client: Client, member: Membership) -> None:
    # when
    first = owner_client.post(
        PAGE, {"month": "2026-12", "membership": member.pk, "amount": "5000", "currency": "cny"}
    )
    second = owner_client.post(
        PAGE, {"month": "2026-12", "membership": member.pk, "amount": "7000", "currency": "CNY"}
    )
    page = owner_client.get(PAGE, {"month": "2026-12"})
    # then
    assert (first.status_code, second.status_code) == (302, 302)
    assert first["Location"].endswith("?month=2026-12")
    assert SalesTarget.objects.values_list("amount", "currency", "month").get() == (
        Decimal("7000.00"),
        "CNY",
        DECEMBER,
    )
    assert "7,000.00 CNY" in page.content.decode()


def test_settings_page_refuses_rep_and_team_together(
    workspace: Workspace, owner_client: Client, member: Membership
) -> None:
    # given
    team = Team.objects.create(workspace=workspace, name="East", path="/")
    # when
    response = owner_client.post(
        PAGE,
        {
            "month": "2026-12",
            "membership": member.pk,
            "team": team.pk,
            "amount": "5",
            "currency": "CNY",
        },
    )
    # then
    assert response.status_code == 200
    assert "Choose either a rep or a team." in response.content.decode()
    assert not SalesTarget.objects.exists()


def test_settings_page_deletes_a_target(owner_client: Client, member: Membership) -> None:
    # given
    target = SalesTarget.objects.create(
        workspace=member.workspace, membership=member, month=DECEMBER, amount=Decimal("10")
    )
    # when
    response = owner_client.post(f"{PAGE}{target.public_id}/delete/")
    # then
    assert response.status_code == 302
    assert not SalesTarget.objects.exists()


def test_settings_page_is_for_targets_manage_only(
    member: Membership, member_client: Client, make_member: Callable[..., Membership]
) -> None:
    # given
    target = SalesTarget.objects.create(
        workspace=member.workspace, membership=member, month=DECEMBER, amount=Decimal("10")
    )
    # when
    page = member_client.get(PAGE)
    post = member_client.post(
        PAGE, {"month": "2026-12", "membership": member.pk, "amount": "1", "currency": "CNY"}
    )
    delete = member_client.post(f"{PAGE}{target.public_id}/delete/")
    # then
    assert [r.status_code for r in (page, post, delete)] == [403, 403, 403]
    target.refresh_from_db()
    assert (SalesTarget.objects.count(), target.amount) == (1, Decimal("10.00"))


# --- demo -----------------------------------------------------------------------------------
def test_demo_seeder_sets_this_and_next_months_targets_once(db: None) -> None:
    # given: the demo workspace with its admin and two reps
    from huike.accounts.models import Role
    from huike.accounts.services import user_get_or_create, workspace_create
    from huike.sales.demo_targets import REP_TARGETS, targets_demo_seed
    from huike.sales.reports import month_add

    demo = workspace_create(slug="demo", name="Demo", owner_email="admin@demo.huike.local")
    for email, role in (
        ("sales@demo.huike.local", "sales"),
        ("manager@demo.huike.local", "manager"),
    ):
        Membership.objects.create(
            workspace=demo,
            user=user_get_or_create(email=email, password=None),
            role=Role.objects.get(workspace=demo, key=role),
        )
    # when
    targets_demo_seed(demo.pk)
    targets_demo_seed(demo.pk)
    # then
    admin = Membership.objects.select_related("workspace", "role").get(
        workspace=demo, user__email="admin@demo.huike.local"
    )
    this_month = admin.workspace.today().replace(day=1)
    assert sorted(
        SalesTarget.objects.filter(workspace=demo).values_list(
            "membership__user__email", "month", "amount"
        )
    ) == sorted(
        (email, month, amount)
        for email, amount in REP_TARGETS.items()
        for month in (this_month, month_add(this_month, 1))
    )
