from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from huike.accounts.models import Membership
from huike.accounts.tests.test_auth_support import (
    IP_CAFE,
    IP_HOME,
    audit_actions,
    is_signed_in,
    sign_in,
)
from huike.core.audit import AuditAction


def _fail_until_locked(client: Client, email: str, ip: str = IP_HOME) -> None:
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, email, "wrong-password-123", ip=ip)


def test_right_password_is_refused_with_429_once_locked_out(member: Membership) -> None:
    # given the failure limit was reached for this member from one address
    client = Client()
    _fail_until_locked(client, "member@acme.test")
    # when the right password comes from the same address
    response = sign_in(client, "member@acme.test")
    # then the lockout page answers with 429 and nobody is signed in
    assert response.status_code == 429
    assert "accounts/locked_out.html" in [t.name for t in response.templates]
    assert response.context["cooloff_timedelta"] == timedelta(minutes=15)
    assert not is_signed_in(client)
    actions = audit_actions(member.workspace, actor_id=member.user_id)
    assert actions.count(AuditAction.LOGIN_LOCKED_OUT) == 2
    assert AuditAction.LOGIN_SUCCEEDED not in actions


def test_lockout_page_says_when_to_try_again(member: Membership) -> None:
    # given a locked-out member reading English
    client = Client()
    client.cookies["django_language"] = "en"
    _fail_until_locked(client, "member@acme.test")
    # when they try again
    response = sign_in(client, "member@acme.test")
    # then the page tells them how long to wait (never "forever")
    assert response.status_code == 429
    assert "You can try again in 15 minutes." in response.content.decode()


def test_lockout_happens_exactly_at_the_limit(member: Membership) -> None:
    # given one failure fewer than the limit
    client = Client()
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "member@acme.test", "wrong-password-123").status_code == 200
    # when the right password comes
    response = sign_in(client, "member@acme.test")
    # then the member gets in
    assert response.status_code == 302
    assert is_signed_in(client)


def test_same_user_from_another_address_can_still_sign_in(member: Membership) -> None:
    # given the member is locked out from one address (say, an attacker's)
    _fail_until_locked(Client(), "member@acme.test", ip=IP_CAFE)
    # when the member signs in from their own address
    client = Client()
    response = sign_in(client, "member@acme.test", ip=IP_HOME)
    # then they get in
    assert response.status_code == 302
    assert is_signed_in(client)


def test_other_users_from_the_locked_address_are_not_affected(
    member: Membership, owner: Membership
) -> None:
    _fail_until_locked(Client(), "member@acme.test")
    client = Client()
    response = sign_in(client, "owner@acme.test")
    assert response.status_code == 302


def test_sign_in_works_again_after_the_cool_off(member: Membership, settings: Any) -> None:
    # given a locked-out member
    client = Client()
    _fail_until_locked(client, "member@acme.test")
    assert sign_in(client, "member@acme.test").status_code == 429
    # when the cool-off has passed since the last failure (moved back instead of waiting)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
        attempt.save(update_fields=["attempt_time"])
    response = sign_in(client, "member@acme.test")
    # then the right password works again
    assert response.status_code == 302
    assert is_signed_in(client)


def test_lockout_is_still_on_just_before_the_cool_off_ends(
    member: Membership, settings: Any
) -> None:
    client = Client()
    _fail_until_locked(client, "member@acme.test")
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
        attempt.save(update_fields=["attempt_time"])
    assert sign_in(client, "member@acme.test").status_code == 429
