from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from huike.accounts.auth_views import PENDING_SIGN_IN_KEY, PENDING_SIGN_IN_SECONDS
from huike.accounts.models import Membership
from huike.accounts.tests.test_auth_support import (
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
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    clear_throttles()


def _verify(client: Client, code: str) -> Any:
    return client.post("/account/login/verify/", {"code": code}, REMOTE_ADDR=IP_HOME)


def test_password_alone_does_not_sign_in_a_user_with_two_factor(member: Membership) -> None:
    # given a member with a confirmed authenticator app
    confirmed_totp_device(member.user)
    client = Client()
    # when they enter the right password
    response = sign_in(client, "member@acme.test")
    # then they are asked for a code and are not signed in yet
    assert response.status_code == 302
    assert response["Location"] == "/account/login/verify/"
    assert not is_signed_in(client)
    assert client.get("/")["Location"] == "/account/login/?next=/"
    assert AuditAction.LOGIN_SUCCEEDED not in audit_actions(member.workspace)
    page = client.get("/account/login/verify/")
    assert page.status_code == 200
    assert page.context["pending_email"] == "member@acme.test"


def test_right_code_signs_in_with_a_verified_session(member: Membership) -> None:
    # given a member past the password step
    device = confirmed_totp_device(member.user)
    client = Client()
    sign_in(client, "member@acme.test")
    # when they enter the code the app shows
    response = _verify(client, totp_code(device))
    # then they are signed in, the session counts as verified, and the sign-in is recorded
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_signed_in(client)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert PENDING_SIGN_IN_KEY not in client.session
    assert audit_actions(member.workspace, actor_id=member.user_id)[-1] == (
        AuditAction.LOGIN_SUCCEEDED
    )
    assert client.get("/").status_code == 200


def test_wrong_code_is_refused_and_recorded(member: Membership) -> None:
    # given a member past the password step
    device = confirmed_totp_device(member.user)
    client = Client()
    sign_in(client, "member@acme.test")
    # when they enter a wrong code
    response = _verify(client, wrong_totp_code(device))
    # then they stay signed out, django-otp counts the failure and the audit log has it
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        "That code is not right. Check the app and try again."
    ]
    assert not is_signed_in(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    entry = AuditEntry.objects.filter(workspace=None).latest("seq")
    assert (entry.action, entry.actor_id, entry.ip_address, entry.data) == (
        AuditAction.TWO_FACTOR_FAILED,
        member.user_id,
        IP_HOME,
        {"step": "sign_in", "throttled": False},
    )
    assert audit_actions(member.workspace, actor_id=member.user_id) == []


def test_throttled_device_refuses_even_the_right_code(member: Membership) -> None:
    # given a device that django-otp throttles after many wrong codes in a row
    device = confirmed_totp_device(member.user)
    device.throttling_failure_count = 20
    device.throttling_failure_timestamp = timezone.now()
    device.save()
    client = Client()
    sign_in(client, "member@acme.test")
    # when the right code comes
    response = _verify(client, totp_code(device))
    # then it is not even looked at, and the refusal is recorded as throttled
    assert response.status_code == 200
    assert not is_signed_in(client)
    assert "Too many wrong codes in a row." in response.context["form"].errors["code"][0]
    entry = AuditEntry.objects.filter(workspace=None).latest("seq")
    assert entry.data == {"step": "sign_in", "throttled": True}


def test_a_code_works_only_once(member: Membership) -> None:
    # given a member who signed in with a code
    device = confirmed_totp_device(member.user)
    first = Client()
    sign_in(first, "member@acme.test")
    code = totp_code(device)
    assert _verify(first, code).status_code == 302
    # when someone replays the same code in another sign-in
    second = Client()
    sign_in(second, "member@acme.test")
    device.refresh_from_db()
    device.throttle_reset()
    response = _verify(second, code)
    # then it is refused
    assert response.status_code == 200
    assert not is_signed_in(second)


def test_backup_code_signs_in_once(member: Membership) -> None:
    # given a member with an app and two backup codes
    confirmed_totp_device(member.user)
    static = backup_codes(member.user, "abcd2345", "efgh6723")
    client = Client()
    sign_in(client, "member@acme.test")
    # when they use a backup code (typed with a hyphen and capitals)
    response = _verify(client, "ABCD-2345")
    # then they are in and that code is spent
    assert response.status_code == 302
    assert is_signed_in(client)
    assert list(static.token_set.values_list("token", flat=True)) == ["efgh6723"]
    again = Client()
    sign_in(again, "member@acme.test")
    static.refresh_from_db()
    static.throttle_reset()
    assert _verify(again, "abcd2345").status_code == 200
    assert not is_signed_in(again)


def test_pending_sign_in_expires(member: Membership) -> None:
    # given a member who entered their password more than five minutes ago
    device = confirmed_totp_device(member.user)
    client = Client()
    sign_in(client, "member@acme.test")
    session = client.session
    started = timezone.now() - timedelta(seconds=PENDING_SIGN_IN_SECONDS + 1)
    session[PENDING_SIGN_IN_KEY]["started_at"] = started.timestamp()
    session.save()
    # when they enter the right code
    response = _verify(client, totp_code(device))
    # then they are sent back to the password step and stay signed out
    assert response.status_code == 302
    assert response["Location"] == "/account/login/"
    assert not is_signed_in(client)
    assert PENDING_SIGN_IN_KEY not in client.session
    assert AuditAction.LOGIN_SUCCEEDED not in audit_actions(member.workspace)


def test_pending_sign_in_is_still_good_just_before_it_expires(member: Membership) -> None:
    device = confirmed_totp_device(member.user)
    client = Client()
    sign_in(client, "member@acme.test")
    session = client.session
    started = timezone.now() - timedelta(seconds=PENDING_SIGN_IN_SECONDS - 30)
    session[PENDING_SIGN_IN_KEY]["started_at"] = started.timestamp()
    session.save()
    assert _verify(client, totp_code(device)).status_code == 302
    assert is_signed_in(client)


def test_code_page_without_password_step_goes_to_sign_in(db: None) -> None:
    response = Client().get("/account/login/verify/")
    assert response.status_code == 302
    assert response["Location"] == "/account/login/"


def test_next_survives_the_code_step(member: Membership) -> None:
    device = confirmed_totp_device(member.user)
    client = Client()
    sign_in(client, "member@acme.test", next_url="/account/security/")
    response = _verify(client, totp_code(device))
    assert response["Location"] == "/account/security/"


def test_language_is_applied_after_the_code_step(member: Membership) -> None:
    member.user.language = "en"
    member.user.save(update_fields=["language"])
    device = confirmed_totp_device(member.user)
    client = Client()
    first = sign_in(client, "member@acme.test")
    assert "django_language" not in first.cookies
    response = _verify(client, totp_code(device))
    assert response.cookies["django_language"].value == "en"


def test_unconfirmed_device_does_not_ask_for_a_code(member: Membership) -> None:
    # given a member who started but never finished setting up an app
    TOTPDevice.objects.create(user=member.user, name="half", confirmed=False)
    client = Client()
    # when they sign in with their password
    response = sign_in(client, "member@acme.test")
    # then that is enough
    assert response["Location"] == "/"
    assert is_signed_in(client)
