import time
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.test import Client, RequestFactory

from huike.accounts.client_ip import client_ip_address
from huike.accounts.models import Membership
from huike.accounts.sign_in_throttles import (
    SIGN_IN_BLOCK_CACHE_PREFIX,
    SIGN_IN_FAILURE_WINDOW_SECONDS,
    SIGN_IN_FAILURES_PER_IP,
)
from huike.accounts.tests.test_auth_support import (
    IP_CAFE,
    IP_HOME,
    audit_actions,
    clear_throttles,
    is_signed_in,
    sign_in,
)
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry

IP_PROXY = "10.0.0.2"  # our own reverse proxy, as the application sees it
IP_OFFICE = "203.0.113.7"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    clear_throttles()


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
    actions = audit_actions(None, actor_id=member.user_id)
    assert actions.count(AuditAction.LOGIN_LOCKED_OUT) == 2
    assert AuditAction.LOGIN_SUCCEEDED not in actions
    assert audit_actions(member.workspace, actor_id=member.user_id) == []


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


# --- the client's address behind our proxies --------------------------------------------------
@pytest.mark.parametrize(
    ("proxies", "remote_addr", "forwarded_for", "expected"),
    [
        (0, IP_HOME, "", IP_HOME),
        (0, IP_HOME, f"{IP_CAFE}", IP_HOME),  # no proxies of ours: the header is the client's
        (1, IP_PROXY, f"{IP_CAFE}, {IP_HOME}", IP_HOME),  # the left one was made up
        (2, IP_PROXY, f"{IP_CAFE}, {IP_HOME}, 10.0.0.1", IP_HOME),
        (2, IP_PROXY, f"{IP_HOME}", IP_PROXY),  # fewer hops than proxies: not through them
        (1, IP_PROXY, "", IP_PROXY),
        (1, IP_PROXY, "not-an-address", IP_PROXY),
        (1, IP_PROXY, " 2001:DB8::1 ", "2001:db8::1"),
    ],
)
def test_client_address_counts_trusted_proxies_from_the_right(
    settings: Any, proxies: int, remote_addr: str, forwarded_for: str, expected: str
) -> None:
    # given a number of proxies of ours
    settings.HUIKE_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    # then the client's address is the right one
    assert client_ip_address(request) == expected


def test_lockout_and_audit_use_the_address_behind_the_proxy(
    member: Membership, settings: Any
) -> None:
    # given one proxy of ours in front, through which everybody comes
    settings.HUIKE_PROXY_COUNT = 1
    # when the member's password is tried from one address until it locks
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(
            Client(),
            "member@acme.test",
            "wrong-password-123",
            ip=IP_PROXY,
            HTTP_X_FORWARDED_FOR=f"{IP_OFFICE}, {IP_CAFE}",
        )
    # then the lock-out and the audit entries name that address, not the proxy's or the
    # made-up one
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {IP_CAFE}
    failed = AuditEntry.objects.filter(workspace=None, action=AuditAction.LOGIN_FAILED)
    assert set(failed.values_list("ip_address", flat=True)) == {IP_CAFE}
    # and the member coming through the same proxy from home still gets in
    client = Client()
    response = sign_in(client, "member@acme.test", ip=IP_PROXY, HTTP_X_FORWARDED_FOR=IP_HOME)
    assert response.status_code == 302
    assert is_signed_in(client)


def test_made_up_forwarded_for_does_not_escape_a_lockout_without_proxies(
    member: Membership,
) -> None:
    # given no proxies of ours (the default) and a lock-out for one address
    _fail_until_locked(Client(), "member@acme.test", ip=IP_CAFE)
    # when the same address claims to be another one
    response = sign_in(Client(), "member@acme.test", ip=IP_CAFE, HTTP_X_FORWARDED_FOR=IP_HOME)
    # then it is still locked out
    assert response.status_code == 429


# --- per-address throttle across accounts ------------------------------------------------------
def _fail_on_many_accounts(count: int, ip: str = IP_CAFE) -> None:
    for number in range(count):
        sign_in(Client(), f"guess{number}@acme.test", "wrong-password-123", ip=ip)


def test_address_is_refused_after_thirty_failures_on_any_accounts(member: Membership) -> None:
    # given one address tried 30 wrong passwords, never more than one per account (so no
    # account-and-address lock-out applies)
    _fail_on_many_accounts(SIGN_IN_FAILURES_PER_IP)
    before = AuditEntry.objects.count()
    # when the member signs in with the right password from that address
    client = Client()
    response = sign_in(client, "member@acme.test", ip=IP_CAFE)
    # then the lock-out page answers, nobody is signed in, and nothing was checked
    assert response.status_code == 429
    assert "accounts/locked_out.html" in [t.name for t in response.templates]
    assert response.context["failure_limit"] == SIGN_IN_FAILURES_PER_IP
    assert response.context["per_address"] is True
    cooloff = response.context["cooloff_timedelta"]
    assert timedelta(0) < cooloff <= timedelta(seconds=SIGN_IN_FAILURE_WINDOW_SECONDS)
    assert not is_signed_in(client)
    assert AuditEntry.objects.count() == before
    assert not AccessAttempt.objects.filter(username="member@acme.test").exists()
    # and the sign-in page itself still opens
    assert client.get("/account/login/").status_code == 200


def test_twenty_nine_failures_leave_the_address_open(member: Membership) -> None:
    _fail_on_many_accounts(SIGN_IN_FAILURES_PER_IP - 1)
    client = Client()
    assert sign_in(client, "member@acme.test", ip=IP_CAFE).status_code == 302
    assert is_signed_in(client)


def test_successful_sign_ins_do_not_count_towards_the_address_limit(
    member: Membership, owner: Membership
) -> None:
    # given an office address with 29 failures and many successful sign-ins
    _fail_on_many_accounts(SIGN_IN_FAILURES_PER_IP - 1)
    for _repeat in range(5):
        assert sign_in(Client(), "owner@acme.test", ip=IP_CAFE).status_code == 302
    # when the 30th failure comes
    assert sign_in(Client(), "member@acme.test", "wrong-password-9", ip=IP_CAFE).status_code == 200
    # then only now is the address refused
    assert sign_in(Client(), "owner@acme.test", ip=IP_CAFE).status_code == 429


def test_other_addresses_are_not_affected_by_the_address_limit(member: Membership) -> None:
    _fail_on_many_accounts(SIGN_IN_FAILURES_PER_IP)
    client = Client()
    assert sign_in(client, "member@acme.test", ip=IP_HOME).status_code == 302


def test_address_may_sign_in_again_when_the_window_ends(member: Membership) -> None:
    # given an address refused after too many failures
    _fail_on_many_accounts(SIGN_IN_FAILURES_PER_IP)
    assert sign_in(Client(), "member@acme.test", ip=IP_CAFE).status_code == 429
    # when the window has ended (its end moved into the past instead of waiting)
    key = f"{SIGN_IN_BLOCK_CACHE_PREFIX}:{IP_CAFE}"
    assert cache.get(key) is not None
    cache.set(key, time.time() - 1)
    # then the right password works again
    client = Client()
    assert sign_in(client, "member@acme.test", ip=IP_CAFE).status_code == 302
    assert is_signed_in(client)
