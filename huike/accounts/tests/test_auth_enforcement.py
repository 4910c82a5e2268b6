"""Workspaces that require two-factor sign-in (WorkspaceMiddleware + the setup page)."""

import base64
from typing import Any

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.test_auth_support import (
    audit_actions,
    confirmed_totp_device,
    totp_code,
    wrong_totp_code,
)
from huike.core.audit import AuditAction

SETUP = "/account/security/two-factor/"


@pytest.fixture
def strict_workspace(workspace: Workspace) -> Workspace:
    workspace.require_two_factor = True
    workspace.save(update_fields=["require_two_factor"])
    return workspace


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/settings/members/"),
        ("get", "/no-such-page/"),
        ("get", "/api/"),
        ("get", "/api/v2/members"),
        ("get", "/api/v1.evil/"),
    ],
)
def test_member_without_device_is_sent_to_setup_from_every_page(
    strict_workspace: Workspace, member_client: Client, method: str, path: str
) -> None:
    # given a member of a workspace that requires two-factor sign-in, without an app
    # when they open any page outside /account/
    response = getattr(member_client, method)(path)
    # then they are sent to the setup page
    assert response.status_code == 302
    assert response["Location"] == SETUP


def test_member_without_device_can_switch_to_a_workspace_without_the_requirement(
    strict_workspace: Workspace,
    other_workspace: Workspace,
    member: Membership,
    member_client: Client,
    make_member: Any,
) -> None:
    # given a member of the strict Acme, without an app, who also belongs to Globex
    make_member("member@acme.test", "sales", other_workspace)
    assert member_client.get("/")["Location"] == SETUP
    # when they use the workspace switcher
    response = member_client.post(
        "/workspace/switch/", {"workspace": str(other_workspace.public_id)}
    )
    # then they move to Globex, whose pages open
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = member_client.get("/")
    assert page.status_code == 200
    assert page.context["current_workspace"] == other_workspace


def test_switching_into_a_strict_workspace_still_leads_to_setup(
    strict_workspace: Workspace,
    other_workspace: Workspace,
    member_client: Client,
    make_member: Any,
) -> None:
    # given a member of Acme (strict) and Globex who is acting in Globex
    make_member("member@acme.test", "sales", other_workspace)
    member_client.post("/workspace/switch/", {"workspace": str(other_workspace.public_id)})
    assert member_client.get("/").status_code == 200
    # when they switch back to Acme
    member_client.post("/workspace/switch/", {"workspace": str(strict_workspace.public_id)})
    # then Acme's pages send them to set up two-factor sign-in
    assert member_client.get("/")["Location"] == SETUP


def test_api_answers_a_session_of_a_strict_workspace_itself(
    strict_workspace: Workspace, member_client: Client
) -> None:
    # when a member without two-factor sign-in calls the API with their session
    response = member_client.get("/api/v1/members")
    # then the API refuses in its own format instead of redirecting to a page
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["detail"] == (
        "This workspace requires two-factor sign-in; verify your session first."
    )


@pytest.mark.parametrize("path", ["/account/security/", SETUP])
def test_account_pages_stay_open_before_setup(
    strict_workspace: Workspace, member_client: Client, path: str
) -> None:
    assert member_client.get(path).status_code == 200


def test_setup_page_explains_why_the_member_is_there(
    strict_workspace: Workspace, member_client: Client
) -> None:
    response = member_client.get(SETUP)
    assert response.status_code == 200
    assert response.context["required_by"] == strict_workspace
    assert response.context["state"] == "enroll"
    assert b'data-testid="two-factor-required"' in response.content


def test_setup_page_shows_qr_code_and_secret(member_client: Client, member: Membership) -> None:
    # when a member opens the setup page
    response = member_client.get(SETUP)
    # then an unconfirmed device exists, drawn inline as SVG, with its key for typing in
    device = TOTPDevice.objects.get(user=member.user)
    assert device.confirmed is False
    content = response.content.decode()
    assert "<svg" in content
    assert 'class="qr"' in content
    secret = response.context["secret"].replace(" ", "")
    assert base64.b32decode(secret) == device.bin_key
    # and opening it again keeps the same device, so a half-scanned code stays valid
    member_client.get(SETUP)
    assert list(TOTPDevice.objects.filter(user=member.user).values_list("pk", flat=True)) == [
        device.pk
    ]


def test_confirming_a_device_lets_the_member_through(
    strict_workspace: Workspace, member_client: Client, member: Membership
) -> None:
    # given a member sent to the setup page
    member_client.get(SETUP)
    device = TOTPDevice.objects.get(user=member.user)
    # when they confirm with the code the app shows
    response = member_client.post(SETUP, {"code": totp_code(device)})
    # then the device is confirmed, backup codes are shown once, the session is verified
    assert response.status_code == 200
    assert response.context["state"] == "done"
    device.refresh_from_db()
    assert device.confirmed is True
    codes = response.context["backup_codes"]
    assert len(codes) == 10
    stored = StaticDevice.objects.get(user=member.user).token_set.values_list("token", flat=True)
    assert sorted(stored) == sorted(codes)
    assert member_client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert audit_actions(None, actor_id=member.user_id)[-1] == AuditAction.TWO_FACTOR_ENABLED
    # and the workspace opens
    assert member_client.get("/").status_code == 200


def test_wrong_setup_code_enables_nothing(
    strict_workspace: Workspace, member_client: Client, member: Membership
) -> None:
    member_client.get(SETUP)
    device = TOTPDevice.objects.get(user=member.user)
    response = member_client.post(SETUP, {"code": wrong_totp_code(device)})
    assert response.status_code == 200
    assert response.context["state"] == "enroll"
    assert response.context["form"].errors["code"] == [
        "That code is not right. Check the app and try again."
    ]
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticDevice.objects.filter(user=member.user).exists()
    assert member_client.get("/")["Location"] == SETUP


def test_setup_code_must_be_six_digits(member_client: Client, member: Membership) -> None:
    member_client.get(SETUP)
    response = member_client.post(SETUP, {"code": "abc"})
    assert response.context["form"].errors["code"] == ["Enter the 6 digits the app shows."]


def test_unverified_session_is_not_enough(
    strict_workspace: Workspace, member_client: Client, member: Membership
) -> None:
    # given a member who has an app but whose session never passed a code
    device = confirmed_totp_device(member.user)
    # when they open the workspace
    response = member_client.get("/")
    # then they must verify this session first, without setting up a new device
    assert response["Location"] == SETUP
    page = member_client.get(SETUP)
    assert page.context["state"] == "verify"
    assert TOTPDevice.objects.filter(user=member.user).count() == 1
    # and a wrong code does not do it, and is recorded
    member_client.post(SETUP, {"code": wrong_totp_code(device)})
    assert member_client.get("/")["Location"] == SETUP
    assert audit_actions(None, actor_id=member.user_id)[-1] == AuditAction.TWO_FACTOR_FAILED
    # but the right one does
    device.refresh_from_db()
    device.throttle_reset()
    verified = member_client.post(SETUP, {"code": totp_code(device)})
    assert verified.status_code == 302
    assert verified["Location"] == "/"
    assert member_client.get("/").status_code == 200


def test_workspace_without_the_requirement_lets_members_in(member_client: Client) -> None:
    assert member_client.get("/").status_code == 200


def test_requirement_of_another_workspace_does_not_apply(
    other_workspace: Workspace, member_client: Client
) -> None:
    # given Globex requires two-factor sign-in but the member only belongs to Acme
    other_workspace.require_two_factor = True
    other_workspace.save(update_fields=["require_two_factor"])
    # then nothing changes for them
    assert member_client.get("/").status_code == 200


def test_verified_member_sees_two_factor_is_on(
    strict_workspace: Workspace, member_client: Client, member: Membership
) -> None:
    member_client.get(SETUP)
    device = TOTPDevice.objects.get(user=member.user)
    member_client.post(SETUP, {"code": totp_code(device)})
    response = member_client.get(SETUP)
    assert response.context["state"] == "enabled"
    assert response.context["required_by"] == strict_workspace


def test_anonymous_visitor_is_sent_to_sign_in_from_setup(db: None) -> None:
    response = Client().get(SETUP)
    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next={SETUP}"
