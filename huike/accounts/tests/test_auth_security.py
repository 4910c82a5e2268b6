"""The user's own security page: password, two-factor sign-in, sign-in history."""

from typing import Any

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD
from huike.accounts.models import Membership, Workspace
from huike.accounts.security_views import SIGN_IN_HISTORY_LIMIT
from huike.accounts.tests.test_auth_support import (
    IP_CAFE,
    IP_HOME,
    audit_actions,
    backup_codes,
    clear_throttles,
    confirmed_totp_device,
    is_signed_in,
    sign_in,
    totp_code,
    wrong_totp_code,
)
from huike.core.audit import AuditAction, audit_record
from huike.core.models import AuditEntry

SECURITY = "/account/security/"
NEW_PASSWORD = "tangerine-orbit-977"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    clear_throttles()


def _signed_in_with_code(membership: Membership) -> tuple[Client, Any]:
    """A client that signed in through both steps, and the member's app device."""
    device = confirmed_totp_device(membership.user)
    client = Client()
    sign_in(client, membership.user.email)
    client.post("/account/login/verify/", {"code": totp_code(device)})
    assert is_signed_in(client)
    return client, device


@pytest.mark.parametrize("path", [SECURITY, "/account/security/two-factor/"])
def test_anonymous_visitor_is_sent_to_sign_in(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next={path}"


def test_anonymous_post_changes_nothing(member: Membership) -> None:
    response = Client().post(
        SECURITY,
        {
            "action": "change_password",
            "password-old_password": PASSWORD,
            "password-new_password1": NEW_PASSWORD,
            "password-new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)


def test_change_password_keeps_this_session(member_client: Client, member: Membership) -> None:
    # when the member changes their password
    response = member_client.post(
        SECURITY,
        {
            "action": "change_password",
            "password-old_password": PASSWORD,
            "password-new_password1": NEW_PASSWORD,
            "password-new_password2": NEW_PASSWORD,
        },
    )
    # then the new password is set, this session goes on, and it is recorded
    assert response.status_code == 302
    assert response["Location"] == SECURITY
    member.user.refresh_from_db()
    assert member.user.check_password(NEW_PASSWORD)
    assert member_client.get(SECURITY).status_code == 200
    assert is_signed_in(member_client)
    entry = AuditEntry.objects.filter(workspace=None).latest("seq")
    assert (entry.action, entry.actor_id, entry.data) == (
        AuditAction.PASSWORD_CHANGED,
        member.user_id,
        {"via": "security_page"},
    )
    # an account's password is its own business, not the workspace's
    assert AuditAction.PASSWORD_CHANGED not in audit_actions(member.workspace)


def test_change_password_ends_other_sessions(member: Membership) -> None:
    other_device = Client()
    other_device.force_login(member.user)
    this_device = Client()
    this_device.force_login(member.user)
    this_device.post(
        SECURITY,
        {
            "action": "change_password",
            "password-old_password": PASSWORD,
            "password-new_password1": NEW_PASSWORD,
            "password-new_password2": NEW_PASSWORD,
        },
    )
    assert other_device.get(SECURITY).status_code == 302


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("wrong-old-password", NEW_PASSWORD),  # must know the current password
        (PASSWORD, "short1"),  # too short
        (PASSWORD, "12345678901234"),  # only digits
        (PASSWORD, "password12345"),  # too common
    ],
)
def test_change_password_refuses_bad_input(
    member_client: Client, member: Membership, old: str, new: str
) -> None:
    response = member_client.post(
        SECURITY,
        {
            "action": "change_password",
            "password-old_password": old,
            "password-new_password1": new,
            "password-new_password2": new,
        },
    )
    assert response.status_code == 200
    assert response.context["password_form"].errors
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)
    assert AuditAction.PASSWORD_CHANGED not in audit_actions(None)


def test_unknown_action_is_refused(member_client: Client) -> None:
    assert member_client.post(SECURITY, {"action": "nonsense"}).status_code == 400


def test_security_page_offers_setup_when_two_factor_is_off(member_client: Client) -> None:
    response = member_client.get(SECURITY)
    assert response.status_code == 200
    assert response.context["two_factor_enabled"] is False
    assert b'href="/account/security/two-factor/"' in response.content


def test_enable_totp_from_the_security_page(member_client: Client, member: Membership) -> None:
    # given the member follows the set-up link
    member_client.get("/account/security/two-factor/")
    device = TOTPDevice.objects.get(user=member.user)
    # when they confirm the app
    member_client.post("/account/security/two-factor/", {"code": totp_code(device)})
    # then the security page shows two-factor sign-in as on, with ten backup codes
    page = member_client.get(SECURITY)
    assert page.context["two_factor_enabled"] is True
    assert page.context["session_verified"] is True
    assert page.context["backup_codes_left"] == 10


def test_disable_totp_needs_a_current_code(member: Membership) -> None:
    # given a member signed in with their app
    client, device = _signed_in_with_code(member)
    backup_codes(member.user, "abcd2345")
    # when they try to turn it off with a wrong code
    response = client.post(
        SECURITY, {"action": "disable_two_factor", "disable-code": wrong_totp_code(device)}
    )
    # then it stays on and the failure is recorded
    assert response.status_code == 200
    assert response.context["disable_form"].errors["code"] == [
        "That code is not right. Check the app and try again."
    ]
    assert TOTPDevice.objects.filter(user=member.user, confirmed=True).count() == 1
    assert audit_actions(None, actor_id=member.user_id)[-1] == AuditAction.TWO_FACTOR_FAILED
    # when they use the right code
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post(
        SECURITY, {"action": "disable_two_factor", "disable-code": totp_code(device)}
    )
    # then the app and the backup codes are gone, and it is recorded
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=member.user).exists()
    assert not StaticDevice.objects.filter(user=member.user).exists()
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert audit_actions(None, actor_id=member.user_id)[-1] == AuditAction.TWO_FACTOR_DISABLED
    assert audit_actions(member.workspace, actor_id=member.user_id) == [AuditAction.LOGIN_SUCCEEDED]
    # and the next sign-in needs only the password
    fresh = Client()
    assert sign_in(fresh, "member@acme.test")["Location"] == "/"


def test_disable_with_a_backup_code(member: Membership) -> None:
    client, _device = _signed_in_with_code(member)
    backup_codes(member.user, "abcd2345")
    response = client.post(SECURITY, {"action": "disable_two_factor", "disable-code": "abcd2345"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=member.user).exists()


def test_replace_backup_codes(member: Membership) -> None:
    # given a member with old backup codes
    client, device = _signed_in_with_code(member)
    backup_codes(member.user, "abcd2345")
    # when they ask for new ones with a current code
    response = client.post(
        SECURITY, {"action": "replace_backup_codes", "backup-code": totp_code(device)}
    )
    # then ten new ones are shown once and the old one no longer works
    assert response.status_code == 200
    codes = response.context["new_backup_codes"]
    assert len(codes) == 10
    stored = StaticDevice.objects.get(user=member.user).token_set.values_list("token", flat=True)
    assert sorted(stored) == sorted(codes)
    assert "abcd2345" not in codes
    assert audit_actions(None, actor_id=member.user_id)[-1] == "auth.backup_codes_replaced"


def test_turning_off_in_a_strict_workspace_sends_member_back_to_setup(
    workspace: Workspace, member: Membership
) -> None:
    workspace.require_two_factor = True
    workspace.save(update_fields=["require_two_factor"])
    client, device = _signed_in_with_code(member)
    assert client.get("/").status_code == 200
    client.post(SECURITY, {"action": "disable_two_factor", "disable-code": totp_code(device)})
    assert client.get("/")["Location"] == "/account/security/two-factor/"


def test_sign_in_history_shows_own_events_newest_first(
    member: Membership, owner: Membership
) -> None:
    # given the member failed once and signed in, and the owner signed in too
    client = Client()
    sign_in(client, "member@acme.test", "wrong-password-1", ip=IP_CAFE)
    sign_in(client, "member@acme.test", ip=IP_HOME)
    sign_in(Client(), "owner@acme.test")
    # when the member opens their security page
    response = client.get(SECURITY)
    # then they see their own two events, newest first, and nothing of the owner's
    rows = response.context["sign_ins"]
    assert [(row.action, row.ip_address) for row in rows] == [
        (AuditAction.LOGIN_SUCCEEDED, IP_HOME),
        (AuditAction.LOGIN_FAILED, IP_CAFE),
    ]
    assert b"owner@acme.test" not in response.content


def test_sign_in_history_reads_the_users_own_entries_of_the_system_chain(
    member: Membership, owner: Membership
) -> None:
    # given an entry naming the member in the workspace's chain, and someone else's entry
    # in the system chain
    audit_record(
        workspace_id=member.workspace_id,
        action=AuditAction.LOGIN_FAILED,
        actor_id=member.user_id,
        actor_label="member@acme.test",
        ip_address=IP_CAFE,
    )
    audit_record(
        workspace_id=None,
        action=AuditAction.LOGIN_FAILED,
        actor_id=owner.user_id,
        actor_label="owner@acme.test",
        ip_address="203.0.113.9",
    )
    client = Client()
    sign_in(client, "member@acme.test", ip=IP_HOME)
    # then only the member's own system-chain entry is listed
    rows = client.get(SECURITY).context["sign_ins"]
    assert [(row.action, row.ip_address) for row in rows] == [
        (AuditAction.LOGIN_SUCCEEDED, IP_HOME)
    ]


def test_sign_in_history_covers_every_workspace_of_the_user(
    member: Membership, other_workspace: Workspace, make_member: Any
) -> None:
    # given a member of Acme and Globex who signed in, switched to Globex, and signed out
    make_member("member@acme.test", "sales", other_workspace)
    first = Client()
    sign_in(first, "member@acme.test", ip=IP_CAFE)
    first.post("/workspace/switch/", {"workspace": str(other_workspace.public_id)})
    # when they sign in again later and look at their history while in Acme
    second = Client()
    sign_in(second, "member@acme.test", ip=IP_HOME)
    rows = second.get(SECURITY).context["sign_ins"]
    # then both sign-ins are listed, wherever they landed
    assert [(row.action, row.ip_address) for row in rows] == [
        (AuditAction.LOGIN_SUCCEEDED, IP_HOME),
        (AuditAction.LOGIN_SUCCEEDED, IP_CAFE),
    ]


def test_sign_in_history_shows_the_last_twenty(member: Membership) -> None:
    for _number in range(SIGN_IN_HISTORY_LIMIT + 5):
        audit_record(
            workspace_id=None,
            action=AuditAction.LOGIN_FAILED,
            actor_id=member.user_id,
            actor_label="member@acme.test",
        )
    client = Client()
    sign_in(client, "member@acme.test")
    rows = client.get(SECURITY).context["sign_ins"]
    assert len(rows) == SIGN_IN_HISTORY_LIMIT
    assert rows[0].action == AuditAction.LOGIN_SUCCEEDED


def test_outsider_never_sees_another_workspaces_sign_ins(
    member: Membership, outsider: Membership
) -> None:
    # given the member signed in to Acme
    sign_in(Client(), "member@acme.test", ip=IP_HOME)
    # when the outsider (admin of Globex) opens their own security page
    client = Client()
    sign_in(client, "outsider@globex.test", ip=IP_CAFE)
    response = client.get(SECURITY)
    # then it lists only their own sign-in
    assert response.status_code == 200
    assert [(row.action, row.ip_address) for row in response.context["sign_ins"]] == [
        (AuditAction.LOGIN_SUCCEEDED, IP_CAFE)
    ]
    assert b"member@acme.test" not in response.content
    assert IP_HOME.encode() not in response.content


def test_user_without_a_workspace_still_sees_their_sign_ins(db: None) -> None:
    from huike.accounts.services import user_get_or_create

    # given a user who belongs to no workspace (any more)
    user = user_get_or_create(email="loner@example.test", password=PASSWORD)
    client = Client()
    # when they sign in and open their security page
    sign_in(client, "loner@example.test", ip=IP_CAFE)
    response = client.get(SECURITY)
    # then their own sign-in is listed
    assert response.status_code == 200
    assert [(row.action, row.ip_address) for row in response.context["sign_ins"]] == [
        (AuditAction.LOGIN_SUCCEEDED, IP_CAFE)
    ]
    assert AuditEntry.objects.filter(actor_id=user.pk).exclude(workspace=None).count() == 0
