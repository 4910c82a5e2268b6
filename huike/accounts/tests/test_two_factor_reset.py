from collections.abc import Callable

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.test_auth_support import backup_codes, confirmed_totp_device
from huike.core.models import AuditEntry


def _devices(membership: Membership) -> int:
    user = membership.user
    return (
        TOTPDevice.objects.filter(user=user).count()
        + StaticDevice.objects.filter(user=user).count()
    )


@pytest.fixture
def enrolled(member: Membership) -> Membership:
    confirmed_totp_device(member.user)
    backup_codes(member.user, "11111111")
    return member


def _reset_url(membership: Membership) -> str:
    return f"/settings/members/{membership.public_id}/two-factor-reset/"


def test_admin_resets_two_factor_of_a_member_of_their_workspace_only(
    owner_client: Client, enrolled: Membership, workspace: Workspace
) -> None:
    # when the admin resets it
    response = owner_client.post(_reset_url(enrolled))
    # then the devices are gone and both chains say who did it
    assert response.status_code == 302
    assert _devices(enrolled) == 0
    entry = AuditEntry.objects.get(workspace=workspace, action="auth.two_factor_disabled")
    assert (entry.actor_label, entry.data) == (
        "owner@acme.test",
        {"reset_by": "owner@acme.test", "devices_removed": 2},
    )
    assert AuditEntry.objects.filter(workspace=None, action="auth.two_factor_disabled").count() == 1


def test_member_of_other_workspaces_is_left_to_the_operator(
    owner_client: Client,
    enrolled: Membership,
    other_workspace: Workspace,
    make_member: Callable[..., Membership],
) -> None:
    # given the member also belongs to Globex
    make_member("member@acme.test", "read_only", other_workspace)
    # when Acme's admin tries to reset their two-factor sign-in
    response = owner_client.post(_reset_url(enrolled))
    # then it is refused and nothing changed
    assert response.status_code == 403
    assert _devices(enrolled) == 2


def test_member_without_the_permission_and_outsider_get_nothing(
    member_client: Client, outsider_client: Client, enrolled: Membership, owner: Membership
) -> None:
    confirmed_totp_device(owner.user)
    assert member_client.post(_reset_url(owner)).status_code == 403
    assert outsider_client.post(_reset_url(enrolled)).status_code == 404
    assert _devices(enrolled) == 2
    assert TOTPDevice.objects.filter(user=owner.user).count() == 1


def test_operator_resets_from_the_command_line(enrolled: Membership) -> None:
    call_command("user", "reset-two-factor", "Member@Acme.test")
    assert _devices(enrolled) == 0
    with pytest.raises(CommandError):
        call_command("user", "reset-two-factor", "nobody@acme.test")


def test_member_page_offers_the_reset_only_when_enrolled(
    owner_client: Client, member: Membership
) -> None:
    page = owner_client.get(f"/settings/members/{member.public_id}/")
    assert b"two-factor-reset" not in page.content
    confirmed_totp_device(member.user)
    page = owner_client.get(f"/settings/members/{member.public_id}/")
    assert _reset_url(member).encode() in page.content
