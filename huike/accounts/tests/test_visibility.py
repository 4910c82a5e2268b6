from collections.abc import Callable

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership, RecordShare, Team
from huike.accounts.services import team_create
from tests.recordapp.models import Note


@pytest.fixture
def org(owner_actor: Actor, make_member: Callable[..., Membership]) -> dict[str, Membership]:
    """Sales (managed by `manager`) > Sales East (rep `east`), Service (rep `service`)."""
    sales = team_create(actor=owner_actor, name="Sales")
    east = team_create(actor=owner_actor, name="Sales East", parent=sales)
    service = team_create(actor=owner_actor, name="Service")
    people = {
        "manager": make_member("manager@acme.test", "manager"),
        "east": make_member("east@acme.test", "sales"),
        "west": make_member("west@acme.test", "sales"),
        "service": make_member("service@acme.test", "service"),
        "analyst": make_member("analyst@acme.test", "analyst"),
    }
    Membership.objects.filter(pk=people["manager"].pk).update(team=sales)
    Membership.objects.filter(pk=people["east"].pk).update(team=east)
    Membership.objects.filter(pk=people["west"].pk).update(team=sales)
    Membership.objects.filter(pk=people["service"].pk).update(team=service)
    Team.objects.filter(pk=sales.pk).update(manager=people["manager"])
    return {
        key: Membership.objects.select_related("workspace", "role").get(pk=m.pk)
        for key, m in people.items()
    }


def _titles(actor: Actor) -> list[str]:
    return sorted(Note.objects.visible_to(actor).values_list("title", flat=True))


def _note(owner: Membership, title: str) -> Note:
    return Note.objects.create(workspace=owner.workspace, owner=owner, team=owner.team, title=title)


def test_rep_sees_only_own_records(org: dict[str, Membership]) -> None:
    # given
    _note(org["east"], "east-1")
    _note(org["west"], "west-1")
    # when / then
    assert _titles(Actor.for_membership(org["east"])) == ["east-1"]


def test_manager_sees_team_subtree(org: dict[str, Membership]) -> None:
    _note(org["east"], "east-1")
    _note(org["west"], "west-1")
    _note(org["service"], "service-1")
    assert _titles(Actor.for_membership(org["manager"])) == ["east-1", "west-1"]


def test_view_all_role_sees_every_record_of_workspace_only(
    org: dict[str, Membership], outsider: Membership
) -> None:
    _note(org["east"], "east-1")
    _note(org["service"], "service-1")
    _note(outsider, "globex-1")
    assert _titles(Actor.for_membership(org["analyst"])) == ["east-1", "service-1"]
    assert _titles(Actor.for_membership(outsider)) == ["globex-1"]


def test_outsider_sees_nothing_of_another_workspace(
    org: dict[str, Membership], outsider: Membership
) -> None:
    _note(org["east"], "east-1")
    assert _titles(Actor.for_membership(outsider)) == []


def test_shared_record_is_visible_to_member_and_team(org: dict[str, Membership]) -> None:
    # given a note of the service rep shared with the east rep, another shared with team Sales
    direct = _note(org["service"], "shared-direct")
    to_team = _note(org["service"], "shared-team")
    RecordShare.objects.create(
        workspace=direct.workspace,
        record_type="recordapp.note",
        record_id=direct.pk,
        membership=org["east"],
    )
    RecordShare.objects.create(
        workspace=to_team.workspace,
        record_type="recordapp.note",
        record_id=to_team.pk,
        team=org["west"].team,
    )
    # then
    assert _titles(Actor.for_membership(org["east"])) == ["shared-direct"]
    assert _titles(Actor.for_membership(org["west"])) == ["shared-team"]


def test_api_key_without_owner_and_without_view_all_sees_nothing(owner: Membership) -> None:
    from huike.accounts.models import Role
    from huike.accounts.services import api_key_create

    _note(owner, "owner-1")
    issued = api_key_create(
        actor=None,
        workspace=owner.workspace,
        name="etl",
        role=Role.objects.get(workspace=owner.workspace, key="sales"),
    )
    assert _titles(Actor.for_api_key(issued.api_key)) == []
