"""Settings pages, functional: workspace & security, members (with invitations) and teams."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client, TestCase
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Team, User, Workspace
from huike.accounts.services import team_create
from huike.core.models import AuditEntry

SITE_URL = "https://crm.example.com"
RESET_LINK = re.compile(
    r"https://crm\.example\.com/account/reset/(?P<uid>[\w-]+)/(?P<token>[\w-]+)/"
)


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"
    settings.SITE_URL = SITE_URL


def _role(workspace: Workspace, key: str) -> Role:
    return Role.objects.get(workspace=workspace, key=key)


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- workspace ------------------------------------------------------------------------------
def test_owner_changes_workspace_settings(owner_client: Client, workspace: Workspace) -> None:
    # when
    response = owner_client.post(
        "/settings/workspace/",
        {
            "name": "Acme China",
            "timezone": "Europe/Berlin",
            "currency": "eur",
            "require_two_factor": "on",
        },
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/settings/workspace/"
    workspace.refresh_from_db()
    assert (
        workspace.name,
        workspace.timezone,
        workspace.currency,
        workspace.require_two_factor,
    ) == ("Acme China", "Europe/Berlin", "EUR", True)
    entry = AuditEntry.objects.filter(workspace=workspace, action="workspace.updated").get()
    assert entry.data == {
        "name": "Acme China",
        "timezone": "Europe/Berlin",
        "currency": "EUR",
        "require_two_factor": True,
    }


def test_time_zone_choices_start_with_shanghai(owner_client: Client) -> None:
    response = owner_client.get("/settings/workspace/")
    choices = [value for value, _label in response.context["form"].fields["timezone"].choices]
    assert choices[0] == "Asia/Shanghai"
    assert choices.count("Asia/Shanghai") == 1
    assert "Europe/Berlin" in choices


def test_workspace_form_rejects_unknown_time_zone_and_bad_currency(
    owner_client: Client, workspace: Workspace
) -> None:
    # when
    response = owner_client.post(
        "/settings/workspace/",
        {"name": "Acme", "timezone": "Mars/Olympus", "currency": "yuan"},
    )
    # then
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"timezone", "currency"}
    workspace.refresh_from_db()
    assert (workspace.timezone, workspace.currency) == ("Asia/Shanghai", "CNY")


# --- members --------------------------------------------------------------------------------
def test_adding_a_new_member_sends_an_invitation_with_a_reset_link(
    owner_client: Client, workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    team = team_create(actor=owner_actor, name="Service")
    service = _role(workspace, "service")
    # when (the invitation is delivered by a task enqueued on commit)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = owner_client.post(
            "/settings/members/",
            {
                "email": "Newbie@Acme.test",
                "full_name": "New Bie",
                "role": str(service.public_id),
                "team": str(team.public_id),
            },
        )
    # then the member exists with that role and team
    assert response.status_code == 302
    assert response["Location"] == "/settings/members/"
    membership = Membership.objects.select_related("user").get(
        workspace=workspace, user__email="newbie@acme.test"
    )
    assert (membership.role, membership.team, membership.user.full_name) == (
        service,
        team,
        "New Bie",
    )
    assert membership.user.has_usable_password() is False
    # and one invitation went out with a working password-set link
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newbie@acme.test"]
    assert message.subject == "You were added to Acme on Huike"
    assert "owner@acme.test" in message.body
    match = RESET_LINK.search(message.body)
    assert match is not None
    assert force_str(urlsafe_base64_decode(match["uid"])) == str(membership.user.pk)
    assert default_token_generator.check_token(membership.user, match["token"]) is True
    assert (
        AuditEntry.objects.filter(
            workspace=workspace, action="member.added", data__email="newbie@acme.test"
        ).count()
        == 1
    )


def test_invitation_task_holds_no_token_and_its_link_ignores_the_host_header(
    owner: Membership, workspace: Workspace, settings: Any
) -> None:
    # given the database task queue, and an admin whose request names another host
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    client = Client(HTTP_HOST="evil.example")
    client.force_login(owner.user)
    # when they add someone new
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/settings/members/",
            {"email": "newbie@acme.test", "role": str(_role(workspace, "sales").public_id)},
        )
    assert response.status_code == 302
    # then the queued task carries who, what and the small context, and no token
    from django_tasks_db.models import DBTaskResult

    from huike.accounts.tasks import deliver_account_link

    newbie = User.objects.get(email="newbie@acme.test")
    row = DBTaskResult.objects.get()
    assert row.args_kwargs == {
        "args": [],
        "kwargs": {
            "user_id": newbie.pk,
            "kind": "invitation",
            "language": "en",
            "workspace_name": "Acme",
            "inviter": "owner@acme.test",
        },
    }
    assert mail.outbox == []
    # when the worker runs it
    assert deliver_account_link.call(**row.args_kwargs["kwargs"]) == 1
    # then the invitation links to the configured site, with a token the queue never held
    body = str(mail.outbox[0].body)
    assert "evil.example" not in body
    match = RESET_LINK.search(body)
    assert match is not None
    assert match["token"] not in str(row.args_kwargs)
    assert default_token_generator.check_token(newbie, match["token"]) is True


def test_adding_an_existing_user_sends_no_invitation(
    owner_client: Client, workspace: Workspace, outsider: Membership
) -> None:
    # given a user who already has a password (the admin of Globex)
    sales = _role(workspace, "sales")
    # when
    response = owner_client.post(
        "/settings/members/", {"email": "outsider@globex.test", "role": str(sales.public_id)}
    )
    # then
    assert response.status_code == 302
    assert Membership.objects.filter(workspace=workspace, user=outsider.user).count() == 1
    assert mail.outbox == []


def test_adding_someone_twice_shows_the_conflict(
    owner_client: Client, workspace: Workspace, member: Membership
) -> None:
    sales = _role(workspace, "sales")
    response = owner_client.post(
        "/settings/members/", {"email": "member@acme.test", "role": str(sales.public_id)}
    )
    assert response.status_code == 200
    assert response.context["add_form"].errors["email"] == ["member@acme.test is already a member."]
    assert Membership.objects.filter(workspace=workspace).count() == 2


def test_owner_changes_a_members_role_and_team(
    owner_client: Client, owner_actor: Actor, member: Membership, workspace: Workspace
) -> None:
    # given
    team = team_create(actor=owner_actor, name="North")
    manager = _role(workspace, "manager")
    # when
    response = owner_client.post(
        f"/settings/members/{member.public_id}/",
        {"role": str(manager.public_id), "team": str(team.public_id)},
    )
    # then
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.role, member.team) == (manager, team)
    entry = AuditEntry.objects.filter(workspace=workspace, action="member.updated").get()
    assert entry.data == {"email": "member@acme.test", "role": "manager", "team": "North"}


def test_clearing_the_team_removes_the_member_from_it(
    owner_client: Client, owner_actor: Actor, member: Membership, workspace: Workspace
) -> None:
    member.team = team_create(actor=owner_actor, name="North")
    member.save(update_fields=["team"])
    response = owner_client.post(
        f"/settings/members/{member.public_id}/",
        {"role": str(member.role.public_id), "team": ""},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.team is None


def test_last_admin_cannot_be_demoted(
    owner_client: Client, owner: Membership, workspace: Workspace
) -> None:
    # when the only admin tries to give themselves the sales role
    response = owner_client.post(
        f"/settings/members/{owner.public_id}/", {"role": str(_role(workspace, "sales").public_id)}
    )
    # then the page shows why and nothing changed
    assert response.status_code == 200
    assert response.context["form"].errors["role"] == [
        "A workspace needs at least one active admin."
    ]
    assert "A workspace needs at least one active admin." in response.content.decode()
    owner.refresh_from_db()
    assert owner.role.key == "admin"
    assert not AuditEntry.objects.filter(workspace=workspace, action="member.updated").exists()


def test_last_admin_cannot_be_deactivated(owner_client: Client, owner: Membership) -> None:
    response = owner_client.post(
        f"/settings/members/{owner.public_id}/status/", {"active": "false"}, follow=True
    )
    assert response.status_code == 200
    assert _messages(response) == ["A workspace needs at least one active admin."]
    owner.refresh_from_db()
    assert owner.is_active is True


def test_deactivate_and_reactivate_a_member(
    owner_client: Client, member: Membership, workspace: Workspace
) -> None:
    # when
    deactivated = owner_client.post(
        f"/settings/members/{member.public_id}/status/", {"active": "false"}
    )
    member.refresh_from_db()
    inactive = member.is_active
    reactivated = owner_client.post(
        f"/settings/members/{member.public_id}/status/", {"active": "true"}
    )
    # then
    assert deactivated["Location"] == f"/settings/members/{member.public_id}/"
    assert reactivated.status_code == 302
    assert inactive is False
    member.refresh_from_db()
    assert member.is_active is True
    actions = list(
        AuditEntry.objects.filter(workspace=workspace, action__startswith="member.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["member.removed", "member.updated"]


def test_members_filter_by_role_team_status_and_search(
    owner_client: Client,
    owner_actor: Actor,
    make_member: Callable[..., Membership],
    workspace: Workspace,
) -> None:
    # given
    team = team_create(actor=owner_actor, name="North")
    alice = make_member("alice@acme.test", "sales")
    alice.team = team
    alice.save(update_fields=["team"])
    bob = make_member("bob@acme.test", "service")
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    make_member("carol@acme.test", "sales")
    User.objects.filter(email="carol@acme.test").update(full_name="Carol Chen")

    def emails(query: dict[str, str]) -> list[str]:
        response = owner_client.get("/settings/members/", query)
        assert response.status_code == 200
        return [m.user.email for m in response.context["page"]]

    # then
    assert emails({}) == [
        "alice@acme.test",
        "carol@acme.test",
        "owner@acme.test",
        "bob@acme.test",
    ]
    assert emails({"role": str(_role(workspace, "sales").public_id)}) == [
        "alice@acme.test",
        "carol@acme.test",
    ]
    assert emails({"team": str(team.public_id)}) == ["alice@acme.test"]
    assert emails({"status": "inactive"}) == ["bob@acme.test"]
    assert emails({"q": "chen"}) == ["carol@acme.test"]
    assert emails({"q": "BOB@"}) == ["bob@acme.test"]


def test_members_filter_by_htmx_returns_only_the_results(
    owner_client: Client, member: Membership
) -> None:
    response = owner_client.get(
        "/settings/members/", {"q": "member"}, headers={"HX-Request": "true"}
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert content.strip().startswith('<div id="member-results">')
    assert "<html" not in content
    assert "member@acme.test" in content
    assert "owner@acme.test" not in content
    assert response["Vary"].count("HX-Request") == 1


# --- teams ----------------------------------------------------------------------------------
def test_create_nested_teams_and_reparent_moves_the_subtree(
    owner_client: Client, owner: Membership, workspace: Workspace
) -> None:
    # given Sales > East > Shanghai and a separate North, created through the page
    def create(name: str, parent: Team | None = None, manager: Membership | None = None) -> Team:
        response = owner_client.post(
            "/settings/teams/",
            {
                "name": name,
                "parent": str(parent.public_id) if parent else "",
                "manager": str(manager.public_id) if manager else "",
            },
        )
        assert response.status_code == 302, response.content
        return Team.objects.get(workspace=workspace, name=name)

    sales = create("Sales", manager=owner)
    east = create("East", sales)
    shanghai = create("Shanghai", east)
    north = create("North")
    assert (sales.path, east.path, shanghai.path) == (
        f"/{sales.pk}/",
        f"/{sales.pk}/{east.pk}/",
        f"/{sales.pk}/{east.pk}/{shanghai.pk}/",
    )
    assert sales.manager == owner
    # when East moves under North
    response = owner_client.post(
        f"/settings/teams/{east.public_id}/",
        {"name": "East", "parent": str(north.public_id), "manager": ""},
    )
    # then East and everything below it have new paths
    assert response.status_code == 302
    east.refresh_from_db()
    shanghai.refresh_from_db()
    assert east.parent == north
    assert east.path == f"/{north.pk}/{east.pk}/"
    assert shanghai.path == f"/{north.pk}/{east.pk}/{shanghai.pk}/"
    entry = AuditEntry.objects.filter(workspace=workspace, action="team.updated").get()
    assert entry.data == {"parent": "North"}
    # and the tree lists each team right above the teams under it, with their depth
    listing = owner_client.get("/settings/teams/")
    rows = [(team.name, team.depth) for team in listing.context["teams"]]
    north_at = rows.index(("North", 0))
    assert rows[north_at : north_at + 3] == [("North", 0), ("East", 1), ("Shanghai", 2)]
    assert sorted(rows) == [("East", 1), ("North", 0), ("Sales", 0), ("Shanghai", 2)]


def test_team_cannot_move_under_its_own_subtree(
    owner_client: Client, owner_actor: Actor, workspace: Workspace
) -> None:
    parent = team_create(actor=owner_actor, name="Sales")
    child = team_create(actor=owner_actor, name="East", parent=parent)
    response = owner_client.post(
        f"/settings/teams/{parent.public_id}/", {"name": "Sales", "parent": str(child.public_id)}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["parent"]
    parent.refresh_from_db()
    assert parent.parent is None


def test_team_manager_and_member_counts_are_listed(
    owner_client: Client, owner_actor: Actor, owner: Membership, member: Membership
) -> None:
    team = team_create(actor=owner_actor, name="Sales", manager=owner)
    member.team = team
    member.save(update_fields=["team"])
    response = owner_client.get("/settings/teams/")
    row = response.context["teams"][0]
    assert (row.name, row.manager, row.member_count) == ("Sales", owner, 1)


def test_delete_team(owner_client: Client, owner_actor: Actor, member: Membership) -> None:
    # given a team with a member
    team = team_create(actor=owner_actor, name="Sales")
    member.team = team
    member.save(update_fields=["team"])
    # when
    response = owner_client.post(f"/settings/teams/{team.public_id}/delete/")
    # then
    assert response["Location"] == "/settings/teams/"
    assert not Team.objects.filter(pk=team.pk).exists()
    member.refresh_from_db()
    assert member.team is None


def test_team_with_children_cannot_be_deleted(owner_client: Client, owner_actor: Actor) -> None:
    parent = team_create(actor=owner_actor, name="Sales")
    team_create(actor=owner_actor, name="East", parent=parent)
    response = owner_client.post(f"/settings/teams/{parent.public_id}/delete/", follow=True)
    assert _messages(response) == ["Move or delete the teams under this one first."]
    assert Team.objects.filter(pk=parent.pk).exists()


def test_duplicate_team_name_is_a_form_error(
    owner_client: Client, owner_actor: Actor, workspace: Workspace
) -> None:
    team_create(actor=owner_actor, name="Sales")
    response = owner_client.post("/settings/teams/", {"name": "Sales"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == ["A team named “Sales” already exists."]
    assert Team.objects.filter(workspace=workspace).count() == 1
