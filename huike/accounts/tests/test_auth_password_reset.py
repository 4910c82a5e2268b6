import re

from django.conf import settings
from django.core import mail
from django.test import Client, TestCase

from huike.accounts.models import Membership, User
from huike.accounts.services import user_get_or_create
from huike.accounts.tests.test_auth_support import audit_actions, is_signed_in, sign_in
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry

NEW_PASSWORD = "tangerine-orbit-977"
LINK = re.compile(r"http://testserver(/account/reset/[^/\s]+/[^/\s]+/)")


def _request_reset(client: Client, email: str) -> str:
    # The e-mail is delivered by a task enqueued when the request's transaction commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/account/reset/", {"email": email})
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
    actions = audit_actions(member.workspace, actor_id=member.user_id)
    assert actions[:1] == [AuditAction.PASSWORD_RESET_REQUESTED]
    assert AuditAction.PASSWORD_CHANGED in actions
    changed = AuditEntry.objects.get(
        workspace=member.workspace, action=AuditAction.PASSWORD_CHANGED
    )
    assert changed.data == {"via": "reset_link"}


def test_unknown_address_gets_the_same_page_and_no_mail(member: Membership) -> None:
    # when someone asks for a reset of an address nobody has, and of one that exists
    unknown = _request_reset(Client(), "nobody@acme.test")
    assert mail.outbox == []
    known = _request_reset(Client(), "member@acme.test")
    # then both see the same next page, and only the real account got mail
    assert unknown == known == "/account/reset/sent/"
    assert len(mail.outbox) == 1
    entry = AuditEntry.objects.get(workspace=None, action=AuditAction.PASSWORD_RESET_REQUESTED)
    assert (entry.actor_id, entry.actor_label, entry.data) == (
        None,
        "nobody@acme.test",
        {"known_address": False},
    )


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
    assert AuditAction.PASSWORD_CHANGED not in audit_actions(member.workspace)


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
