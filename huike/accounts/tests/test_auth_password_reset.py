import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from huike.accounts.models import Membership, User
from huike.accounts.services import user_get_or_create
from huike.accounts.sign_in_throttles import PASSWORD_RESETS_PER_EMAIL, PASSWORD_RESETS_PER_IP
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
)
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry

NEW_PASSWORD = "tangerine-orbit-977"
SITE_URL = "https://crm.example.com"
LINK = re.compile(r"https://crm\.example\.com(/account/reset/[^/\s]+/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.SITE_URL = SITE_URL
    clear_throttles()


def _request_reset(client: Client, email: str, ip: str = IP_HOME) -> str:
    # The e-mail is delivered by a task enqueued when the request's transaction commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/account/reset/", {"email": email}, REMOTE_ADDR=ip)
    assert response.status_code == 302
    return str(response["Location"])


def _link_from_mail() -> str:
    assert len(mail.outbox) == 1
    match = LINK.search(str(mail.outbox[0].body))
    assert match is not None
    return match.group(1)


def test_tests_send_mail_through_the_locmem_mailer() -> None:
    # Django's test set-up swaps every configured mailer for locmem, so mail.outbox works.
    assert settings.MAILERS == {
        "default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    }


def test_known_address_gets_a_working_link(member: Membership) -> None:
    client = Client()
    # when a member asks for a reset
    location = _request_reset(client, "Member@Acme.test")
    # then they are told to check their email and one email with a link went to them
    assert location == "/account/reset/sent/"
    message = mail.outbox[0]
    assert message.to == ["member@acme.test"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "\n" not in message.subject
    link = _link_from_mail()
    # when they open the link and choose a new password
    opened = client.get(link)
    assert opened.status_code == 302  # Django moves the token out of the address bar
    form_page = client.get(opened["Location"])
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    saved = client.post(
        opened["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    # then the new password works, the old one does not, and both steps are recorded
    assert saved.status_code == 302
    assert saved["Location"] == "/account/reset/done/"
    assert client.get(saved["Location"]).status_code == 200
    assert sign_in(Client(), "member@acme.test").status_code == 200
    fresh = Client()
    assert sign_in(fresh, "member@acme.test", NEW_PASSWORD).status_code == 302
    assert is_signed_in(fresh)
    actions = audit_actions(None, actor_id=member.user_id)
    assert actions[:1] == [AuditAction.PASSWORD_RESET_REQUESTED]
    assert AuditAction.PASSWORD_CHANGED in actions
    changed = AuditEntry.objects.get(workspace=None, action=AuditAction.PASSWORD_CHANGED)
    assert changed.data == {"via": "reset_link"}
    # account-level events stay out of the workspaces the user belongs to
    assert audit_actions(member.workspace, actor_id=member.user_id) == [AuditAction.LOGIN_SUCCEEDED]


def test_unknown_address_gets_the_same_page_and_no_mail(member: Membership) -> None:
    # when someone asks for a reset of an address nobody has, and of one that exists
    unknown = _request_reset(Client(), "nobody@acme.test")
    assert mail.outbox == []
    known = _request_reset(Client(), "member@acme.test")
    # then both see the same next page, and only the real account got mail
    assert unknown == known == "/account/reset/sent/"
    assert len(mail.outbox) == 1
    entries = AuditEntry.objects.filter(
        workspace=None, action=AuditAction.PASSWORD_RESET_REQUESTED
    ).order_by("seq")
    assert [(e.actor_id, e.actor_label, e.data) for e in entries] == [
        (None, "nobody@acme.test", {"known_address": False}),
        (member.user_id, "member@acme.test", {}),
    ]


def test_new_password_must_pass_the_policy(member: Membership) -> None:
    # given a member who opened their reset link
    client = Client()
    _request_reset(client, "member@acme.test")
    form_url = client.get(_link_from_mail())["Location"]
    # when they choose passwords the policy refuses
    for weak in ("short1", "1234567890123", "member@acme.test", "password1234"):
        response = client.post(form_url, {"new_password1": weak, "new_password2": weak})
        # then the form refuses each one and the password is unchanged
        assert response.status_code == 200
        assert response.context["form"].errors["new_password2"]
    member.user.refresh_from_db()
    assert member.user.check_password("correct-horse-battery-42")
    assert AuditAction.PASSWORD_CHANGED not in audit_actions(None)


def test_link_works_only_once(member: Membership) -> None:
    client = Client()
    _request_reset(client, "member@acme.test")
    link = _link_from_mail()
    form_url = client.get(link)["Location"]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = Client().get(link)
    assert again.status_code == 200
    assert again.context["validlink"] is False


def test_member_added_without_a_password_can_choose_one(workspace: object) -> None:
    # given someone added by an admin, who has no password yet
    user = user_get_or_create(email="new@acme.test")
    assert not user.has_usable_password()
    # when they ask for the reset link
    _request_reset(Client(), "new@acme.test")
    # then they get it and can set their first password
    client = Client()
    form_url = client.get(_link_from_mail())["Location"]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert User.objects.get(email="new@acme.test").check_password(NEW_PASSWORD)


def test_inactive_user_gets_no_mail(member: Membership) -> None:
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])
    assert _request_reset(Client(), "member@acme.test") == "/account/reset/sent/"
    assert mail.outbox == []


# --- the link: made by the worker, from SITE_URL ---------------------------------------------
def test_link_starts_with_site_url_whatever_the_host_header(
    member: Membership, settings: Any
) -> None:
    # given a request that names an attacker's host (allowed, as behind a lax proxy)
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    client = Client(HTTP_HOST="evil.example")
    # when a reset is asked for
    _request_reset(client, "member@acme.test")
    # then the link in the mail points at the configured site
    body = str(mail.outbox[0].body)
    assert "evil.example" not in body
    link = _link_from_mail()
    assert f"{SITE_URL}{link}" in body
    # and works, once
    form_url = client.get(link)["Location"]
    assert client.get(form_url).context["validlink"] is True
    saved = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert saved["Location"] == "/account/reset/done/"
    assert Client().get(link).context["validlink"] is False


def test_mail_is_written_in_the_language_of_the_request(member: Membership) -> None:
    # when a reset is asked for from a browser set to Chinese
    client = Client()
    client.cookies["django_language"] = "zh-hans"
    _request_reset(client, "member@acme.test")
    # then the mail is in Chinese, though the worker has no request of its own
    message = mail.outbox[0]
    assert message.subject == "设置新的汇客密码"
    assert "如需设置新密码" in message.body


@pytest.mark.django_db(transaction=True)
def test_queued_task_holds_no_token_and_the_worker_sends_a_working_link(
    settings: Any,
) -> None:
    from django_tasks_db.models import DBTaskResult

    from conftest import PASSWORD
    from huike.accounts.services import workspace_create
    from huike.core.management.commands.worker import DatabaseWorker

    # given the database task queue, as in production
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    workspace_create(
        slug="acme", name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD
    )
    owner = User.objects.get(email="owner@acme.test")
    # when a reset is asked for (the task is enqueued as the request commits)
    response = Client().post("/account/reset/", {"email": "owner@acme.test"})
    assert response.status_code == 302
    # then the queued task names the user and the language, and nothing secret
    row = DBTaskResult.objects.get()
    assert row.task_path == "huike.accounts.tasks.deliver_account_link"
    assert row.args_kwargs == {
        "args": [],
        "kwargs": {"user_id": owner.pk, "kind": "password_reset", "language": "en"},
    }
    assert mail.outbox == []
    # when a worker runs it
    worker = DatabaseWorker(
        queues=["default"],
        backend_alias="default",
        interval=0,
        burst=True,
        grace=1,
        worker_id="test-worker",
    )
    worker.run()
    # then the mail has a link the queue never saw, and it works
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    link = _link_from_mail()
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in str(DBTaskResult.objects.values_list("args_kwargs", flat=True).get())
    client = Client()
    form_url = client.get(link)["Location"]
    saved = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert saved["Location"] == "/account/reset/done/"
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_unknown_link_kind_fails_without_sending(member: Membership) -> None:
    from huike.accounts.tasks import deliver_account_link
    from huike.core.tasks import PermanentError

    with pytest.raises(PermanentError):
        deliver_account_link.call(user_id=member.user_id, kind="promotion", language="en")
    assert mail.outbox == []


def test_task_sends_nothing_to_a_user_deactivated_after_asking(member: Membership) -> None:
    from huike.accounts.tasks import deliver_account_link

    # given a user deactivated between the request and the worker
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])
    # when the task runs
    sent = deliver_account_link.call(user_id=member.user_id, kind="password_reset", language="en")
    # then nothing goes out
    assert sent == 0
    assert mail.outbox == []


# --- throttles --------------------------------------------------------------------------------
def test_resets_for_one_address_are_capped_per_hour(member: Membership) -> None:
    # given the address got its allowance of reset mails, asked from different networks
    for number in range(PASSWORD_RESETS_PER_EMAIL):
        _request_reset(Client(), "member@acme.test", ip=f"192.0.2.{100 + number}")
    assert len(mail.outbox) == PASSWORD_RESETS_PER_EMAIL
    # when one more is asked for
    location = _request_reset(Client(), "member@acme.test", ip=IP_CAFE)
    # then the page is the same, but nothing is sent, and the audit log knows why
    assert location == "/account/reset/sent/"
    assert len(mail.outbox) == PASSWORD_RESETS_PER_EMAIL
    last = AuditEntry.objects.filter(workspace=None).latest("seq")
    assert (last.action, last.actor_id, last.data) == (
        AuditAction.PASSWORD_RESET_REQUESTED,
        member.user_id,
        {"throttled": True},
    )


def test_resets_from_one_network_address_are_capped_per_hour(member: Membership) -> None:
    # given one address asked for resets of many mailboxes
    for number in range(PASSWORD_RESETS_PER_IP):
        _request_reset(Client(), f"probe{number}@acme.test", ip=IP_CAFE)
    # when it asks for a real account's reset
    location = _request_reset(Client(), "member@acme.test", ip=IP_CAFE)
    # then it sees the same page and nothing is sent
    assert location == "/account/reset/sent/"
    assert mail.outbox == []
    # while the account's owner, elsewhere, still gets their mail
    _request_reset(Client(), "member@acme.test", ip=IP_HOME)
    assert [message.to for message in mail.outbox] == [["member@acme.test"]]


def test_reset_through_the_link_ends_the_two_factor_back_off(member: Membership) -> None:
    # given a member whose app and backup codes django-otp keeps refusing for years, after
    # someone else guessed codes many times
    device = confirmed_totp_device(member.user)
    static = backup_codes(member.user, "abcd2345")
    for throttled in (device, static):
        throttled.throttling_failure_count = 40
        throttled.throttling_failure_timestamp = timezone.now()
        throttled.save()
    # when they reset their password through the e-mailed link
    _request_reset(Client(), "member@acme.test")
    client = Client()
    form_url = client.get(_link_from_mail())["Location"]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    # then both devices accept codes again
    device.refresh_from_db()
    static.refresh_from_db()
    assert (device.throttling_failure_count, device.throttling_failure_timestamp) == (0, None)
    assert (static.throttling_failure_count, static.throttling_failure_timestamp) == (0, None)
    fresh = Client()
    sign_in(fresh, "member@acme.test", NEW_PASSWORD)
    response = fresh.post("/account/login/verify/", {"code": totp_code(device)})
    assert response.status_code == 302
    assert is_signed_in(fresh)


def test_wrong_reset_link_leaves_the_two_factor_back_off(member: Membership) -> None:
    # given a throttled device
    device = confirmed_totp_device(member.user)
    device.throttling_failure_count = 40
    device.throttling_failure_timestamp = timezone.now()
    device.save()
    # when someone opens a made-up link
    response = Client().get("/account/reset/Mg/abc-0123456789abcdef/")
    # then the link is refused and the device stays throttled
    assert response.status_code == 200
    assert response.context["validlink"] is False
    assert TOTPDevice.objects.get(pk=device.pk).throttling_failure_count == 40
