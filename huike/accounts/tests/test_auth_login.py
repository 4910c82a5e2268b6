import pytest
from django.test import Client

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.test_auth_support import (
    IP_CAFE,
    IP_HOME,
    audit_actions,
    clear_throttles,
    confirmed_totp_device,
    is_signed_in,
    sign_in,
    wrong_totp_code,
)
from huike.core.audit import AuditAction, audit_verify
from huike.core.models import AuditEntry


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    clear_throttles()


def test_sign_in_records_login_succeeded(member: Membership) -> None:
    # given a member who is signed out
    client = Client()
    # when they sign in with the right password
    response = sign_in(client, "member@acme.test")
    # then they land on the home page, signed in, and the audit log says so in the workspace
    # they landed in and in the system chain
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_signed_in(client)
    for workspace in (member.workspace, None):
        entry = AuditEntry.objects.filter(workspace=workspace).latest("seq")
        assert (entry.action, entry.actor_id, entry.actor_label, entry.ip_address) == (
            AuditAction.LOGIN_SUCCEEDED,
            member.user_id,
            "member@acme.test",
            IP_HOME,
        )


def test_wrong_password_keeps_you_out_and_is_recorded(member: Membership) -> None:
    # given a member who is signed out
    client = Client()
    before = AuditEntry.objects.filter(workspace=member.workspace).count()
    # when they type a wrong password
    response = sign_in(client, "member@acme.test", "not-the-password")
    # then the form shows again with an error, they are not signed in, and it is recorded in
    # the system chain only
    assert response.status_code == 200
    assert response.context["form"].errors["__all__"] == [
        "That email and password do not match an active account."
    ]
    assert not is_signed_in(client)
    assert client.get("/")["Location"] == "/account/login/?next=/"
    entries = AuditEntry.objects.filter(workspace=None).order_by("seq")
    assert [(e.action, e.actor_id, e.ip_address) for e in entries] == [
        (AuditAction.LOGIN_FAILED, member.user_id, IP_HOME)
    ]
    assert AuditEntry.objects.filter(workspace=member.workspace).count() == before


def test_admin_of_another_workspace_sees_nothing_of_a_members_sign_ins(
    member: Membership,
    outsider: Membership,
    other_workspace: Workspace,
    make_member: object,
) -> None:
    # given the admin of Globex added Acme's member to Globex too (knowing only the address)
    make_member("member@acme.test", "sales", other_workspace)  # type: ignore[operator]
    globex_before = list(
        AuditEntry.objects.filter(workspace=other_workspace).values_list("seq", flat=True)
    )
    # when the member fails once, signs in to Acme (their first workspace), fails a
    # two-factor code on a later sign-in, changes nothing else, and signs out
    client = Client()
    sign_in(client, "member@acme.test", "wrong-password-1", ip=IP_CAFE)
    assert sign_in(client, "member@acme.test", ip=IP_HOME).status_code == 302
    client.post("/account/logout/", REMOTE_ADDR=IP_HOME)
    device = confirmed_totp_device(member.user)
    second = Client()
    sign_in(second, "member@acme.test", ip=IP_HOME)
    second.post("/account/login/verify/", {"code": wrong_totp_code(device)}, REMOTE_ADDR=IP_HOME)
    # then Globex's audit log (and its admin's audit page) has nothing of it
    assert (
        list(AuditEntry.objects.filter(workspace=other_workspace).values_list("seq", flat=True))
        == globex_before
    )
    admin = Client()
    admin.force_login(outsider.user)
    page = admin.get("/settings/audit/")
    assert page.status_code == 200
    assert [e.actor_id for e in page.context["page"].entries].count(member.user_id) == 0
    assert IP_HOME.encode() not in page.content
    assert IP_CAFE.encode() not in page.content
    # and Acme's log has the sign-in into Acme and the sign-out from it, nothing more
    assert audit_actions(member.workspace, actor_id=member.user_id) == [
        AuditAction.LOGIN_SUCCEEDED,
        AuditAction.LOGOUT,
    ]
    # and the system chain has every event, with its address
    system = AuditEntry.objects.filter(workspace=None, actor_id=member.user_id).order_by("seq")
    assert [(e.action, e.ip_address) for e in system] == [
        (AuditAction.LOGIN_FAILED, IP_CAFE),
        (AuditAction.LOGIN_SUCCEEDED, IP_HOME),
        (AuditAction.LOGOUT, IP_HOME),
        (AuditAction.TWO_FACTOR_FAILED, IP_HOME),
    ]
    # and every chain still verifies
    reports = audit_verify()
    assert {report.key for report in reports} >= {
        "system",
        f"workspace:{member.workspace_id}",
        f"workspace:{other_workspace.pk}",
    }
    assert all(report.is_intact for report in reports)


def test_sign_in_is_recorded_in_the_first_workspace_still_active(
    member: Membership, other_workspace: Workspace, make_member: object
) -> None:
    # given a member of Acme and Globex whose Acme membership (the older one) was ended
    make_member("member@acme.test", "sales", other_workspace)  # type: ignore[operator]
    member.is_active = False
    member.save(update_fields=["is_active"])
    # when they sign in
    client = Client()
    assert sign_in(client, "member@acme.test").status_code == 302
    # then the sign-in lands in Globex, where the session acts
    assert client.get("/").context["current_workspace"] == other_workspace
    assert audit_actions(other_workspace, actor_id=member.user_id) == [AuditAction.LOGIN_SUCCEEDED]
    assert audit_actions(member.workspace, actor_id=member.user_id) == []


def test_sign_out_is_recorded_in_the_workspace_the_session_was_in(
    member: Membership, other_workspace: Workspace, make_member: object
) -> None:
    # given a member of two workspaces who signed in to Acme and switched to Globex
    make_member("member@acme.test", "sales", other_workspace)  # type: ignore[operator]
    client = Client()
    sign_in(client, "member@acme.test")
    client.post("/workspace/switch/", {"workspace": str(other_workspace.public_id)})
    # when they sign out
    client.post("/account/logout/")
    # then the sign-out is recorded in Globex, the sign-in stays in Acme
    assert audit_actions(other_workspace, actor_id=member.user_id) == [AuditAction.LOGOUT]
    assert audit_actions(member.workspace, actor_id=member.user_id) == [AuditAction.LOGIN_SUCCEEDED]


def test_unknown_address_is_recorded_in_the_system_chain(db: None) -> None:
    # when someone tries an address nobody has
    response = sign_in(Client(), "Nobody@Example.test", "whatever-password")
    # then they are refused and the attempt lands in the system chain
    assert response.status_code == 200
    entry = AuditEntry.objects.get(workspace=None)
    assert (entry.action, entry.actor_id, entry.actor_label) == (
        AuditAction.LOGIN_FAILED,
        None,
        "nobody@example.test",
    )


def test_email_is_matched_without_regard_to_case(member: Membership) -> None:
    client = Client()
    response = sign_in(client, "  Member@ACME.test ")
    assert response.status_code == 302
    assert is_signed_in(client)


def test_inactive_user_cannot_sign_in(member: Membership) -> None:
    # given a user who was deactivated
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])
    client = Client()
    # when they use their right password
    response = sign_in(client, "member@acme.test")
    # then they are refused like anyone with a wrong password
    assert response.status_code == 200
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "/\\evil.example",
    ],
)
def test_next_pointing_elsewhere_is_refused(member: Membership, next_url: str) -> None:
    # when the sign-in form carries a next address on another site
    response = sign_in(Client(), "member@acme.test", next_url=next_url)
    # then the member still signs in but lands on the home page
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_next_on_this_site_is_followed(member: Membership) -> None:
    response = sign_in(Client(), "member@acme.test", next_url="/account/security/?tab=1")
    assert response.status_code == 302
    assert response["Location"] == "/account/security/?tab=1"


def test_next_from_the_query_string_is_kept_in_the_form(db: None) -> None:
    response = Client().get("/account/login/?next=/account/security/")
    assert response.status_code == 200
    assert b'<input type="hidden" name="next" value="/account/security/">' in response.content


def test_signed_in_user_opening_sign_in_goes_home(member_client: Client) -> None:
    response = member_client.get("/account/login/")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_next_pointing_back_to_sign_in_is_ignored(member_client: Client) -> None:
    # A signed-in user sent to /account/login/?next=/account/login/ must not loop.
    response = member_client.get("/account/login/?next=/account/login/verify/")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_sign_in_switches_to_the_users_language(member: Membership) -> None:
    # given a member who chose English while the site default is Chinese
    member.user.language = "en"
    member.user.save(update_fields=["language"])
    client = Client()
    # when they sign in
    response = sign_in(client, "member@acme.test")
    # then the language cookie is set, so the next pages are in English
    assert response.cookies["django_language"].value == "en"
    page = client.get("/account/security/")
    assert page.status_code == 200
    assert page.headers["Content-Language"] == "en"


def test_sign_in_without_language_choice_sets_no_cookie(member: Membership) -> None:
    response = sign_in(Client(), "member@acme.test")
    assert "django_language" not in response.cookies


def test_sign_out_needs_post(member_client: Client) -> None:
    # when someone follows a link to the sign-out address
    response = member_client.get("/account/logout/")
    # then nothing happens
    assert response.status_code == 405
    assert is_signed_in(member_client)


def test_sign_out_ends_the_session_and_is_recorded(
    member_client: Client, member: Membership
) -> None:
    # when the member signs out
    response = member_client.post("/account/logout/")
    # then the session is gone and the audit log says so
    assert response.status_code == 302
    assert response["Location"] == "/account/login/"
    assert not is_signed_in(member_client)
    assert audit_actions(member.workspace, actor_id=member.user_id)[-1] == AuditAction.LOGOUT


def test_sign_in_page_fits_a_phone(db: None) -> None:
    # The page relies on the viewport meta tag and the .auth-box/.stacked layout classes.
    response = Client().get("/account/login/")
    assert response.status_code == 200
    content = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in content
    assert 'class="auth-box"' in content
    assert 'class="stacked"' in content
    assert 'autocomplete="username"' in content
