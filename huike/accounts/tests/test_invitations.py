"""Adding someone who already has an account is an invitation they must accept."""

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Workspace
from huike.accounts.services import member_add, member_update
from huike.core.errors import ConflictError
from huike.core.models import AuditEntry


@pytest.fixture
def invitation(outsider_actor: Actor, owner: Membership, other_workspace: Workspace) -> Membership:
    """Globex's admin adds Acme's owner, who already has an account."""
    role = Role.objects.get(workspace=other_workspace, key="read_only")
    return member_add(actor=outsider_actor, email="owner@acme.test", role=role)


def test_existing_account_is_invited_and_new_account_joins(
    invitation: Membership, outsider_actor: Actor, other_workspace: Workspace
) -> None:
    assert invitation.is_pending
    fresh = member_add(
        actor=outsider_actor,
        email="brand.new@globex.test",
        role=Role.objects.get(workspace=other_workspace, key="sales"),
    )
    assert not fresh.is_pending


def test_pending_invitation_gives_no_access_until_accepted(
    owner_client: Client, invitation: Membership, other_workspace: Workspace
) -> None:
    # given the invitation is pending
    home = owner_client.get("/")
    # then Globex is not in the switcher, switching there is refused, the page offers the
    # invitation
    assert [m.workspace.slug for m in home.context["switchable_memberships"]] == ["acme"]
    owner_client.post("/workspace/switch/", {"workspace": str(other_workspace.public_id)})
    assert owner_client.get("/").context["current_workspace"].slug == "acme"
    assert b'data-testid="invitations"' in home.content
    assert owner_client.get("/api/v1/workspaces").json()["items"][0]["slug"] == "acme"
    assert len(owner_client.get("/api/v1/workspaces").json()["items"]) == 1
    # when they accept
    response = owner_client.post(f"/invitations/{invitation.public_id}/accept/")
    # then they are in Globex now, and Globex's log says they accepted
    assert response.status_code == 302
    assert owner_client.get("/").context["current_workspace"].slug == "globex"
    assert AuditEntry.objects.filter(
        workspace=other_workspace,
        action="member.invitation_accepted",
        actor_label="owner@acme.test",
    ).exists()


def test_declined_invitation_removes_the_membership(
    owner_client: Client, invitation: Membership, other_workspace: Workspace
) -> None:
    response = owner_client.post(f"/invitations/{invitation.public_id}/decline/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=invitation.pk).exists()
    assert AuditEntry.objects.filter(
        workspace=other_workspace, action="member.invitation_declined"
    ).exists()


def test_nobody_else_can_accept_or_decline_an_invitation(
    member_client: Client, outsider_client: Client, invitation: Membership
) -> None:
    for client in (member_client, outsider_client):
        assert client.post(f"/invitations/{invitation.public_id}/accept/").status_code == 404
        assert client.post(f"/invitations/{invitation.public_id}/decline/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.is_pending


def test_pending_admin_does_not_count_as_the_remaining_admin(
    outsider_actor: Actor, outsider: Membership, owner: Membership, other_workspace: Workspace
) -> None:
    # given Globex invites a second admin who has not accepted
    admin = Role.objects.get(workspace=other_workspace, key="admin")
    member_add(actor=outsider_actor, email="owner@acme.test", role=admin)
    # then the only accepted admin still cannot step down
    sales = Role.objects.get(workspace=other_workspace, key="sales")
    with pytest.raises(ConflictError):
        member_update(actor=outsider_actor, membership=outsider, role=sales)
