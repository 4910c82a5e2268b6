"""Settings pages, functional: roles, API keys and the audit log."""

import zoneinfo
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db.models import F
from django.test import Client
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import ApiKey, Membership, Role, Workspace
from huike.accounts.roles import builtin_role_permissions
from huike.accounts.services import api_key_authenticate, api_key_create, role_create
from huike.core.audit import AuditAction, audit_record
from huike.core.models import AuditChain, AuditEntry


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def _role(workspace: Workspace, key: str) -> Role:
    return Role.objects.get(workspace=workspace, key=key)


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- roles ----------------------------------------------------------------------------------
def test_create_custom_role_and_assign_it(
    owner_client: Client, member: Membership, member_client: Client, workspace: Workspace
) -> None:
    # given the member (sales) cannot open the members page
    assert member_client.get("/settings/members/").status_code == 403
    # when the owner creates a role with two permissions and gives it to the member
    created = owner_client.post(
        "/settings/roles/add/",
        {
            "name": "Support lead",
            "description": "Sees people and the log",
            "permissions": ["members.view", "audit.view"],
        },
    )
    role = Role.objects.get(workspace=workspace, name="Support lead")
    assigned = owner_client.post(
        f"/settings/members/{member.public_id}/", {"role": str(role.public_id), "team": ""}
    )
    # then
    assert created["Location"] == "/settings/roles/"
    assert assigned.status_code == 302
    assert (role.key, role.is_builtin, role.permissions, role.description) == (
        "support_lead",
        False,
        ["audit.view", "members.view"],
        "Sees people and the log",
    )
    member.refresh_from_db()
    assert member.role == role
    # and the member can now open exactly what the role allows
    assert member_client.get("/settings/members/").status_code == 200
    assert member_client.get("/settings/audit/").status_code == 200
    assert member_client.get("/settings/roles/").status_code == 403
    assert member_client.get("/settings/").url == "/settings/members/"


def test_role_permissions_are_grouped(owner_client: Client) -> None:
    response = owner_client.get("/settings/roles/add/")
    groups = {
        group: [checkbox.data["value"] for checkbox in checkboxes]
        for group, checkboxes in response.context["form"].permission_groups()
    }
    assert groups["Settings"] == [
        "workspace.manage",
        "members.view",
        "members.manage",
        "teams.manage",
        "roles.manage",
        "api_keys.manage",
        "audit.view",
    ]
    assert groups["Personal data"] == ["pii.reveal", "data.export"]


def test_copy_builtin_role_prefills_a_new_role(owner_client: Client, workspace: Workspace) -> None:
    # given
    manager = _role(workspace, "manager")
    # when
    form = owner_client.get(f"/settings/roles/add/?copy={manager.public_id}").context["form"]
    created = owner_client.post(
        "/settings/roles/add/",
        {"name": form.initial["name"], "permissions": form.initial["permissions"]},
    )
    # then
    assert form.initial["name"] == "Copy of Manager"
    assert form.initial["permissions"] == builtin_role_permissions("manager")
    assert created.status_code == 302
    copy = Role.objects.get(workspace=workspace, name="Copy of Manager")
    assert copy.permissions == builtin_role_permissions("manager")
    assert copy.is_builtin is False


def test_role_named_in_chinese_gets_a_free_key(owner_client: Client, workspace: Workspace) -> None:
    for _attempt in range(2):
        response = owner_client.post(
            "/settings/roles/add/", {"name": "客服组长", "permissions": ["members.view"]}
        )
        assert response.status_code == 302
    keys = sorted(
        Role.objects.filter(workspace=workspace, name="客服组长").values_list("key", flat=True)
    )
    assert keys == ["role", "role_2"]


def test_edit_custom_role(owner_client: Client, owner_actor: Actor, workspace: Workspace) -> None:
    role = role_create(actor=owner_actor, name="Helper", permissions=["members.view"])
    response = owner_client.post(
        f"/settings/roles/{role.public_id}/",
        {"name": "Helper plus", "permissions": ["members.view", "teams.manage"]},
    )
    assert response.status_code == 302
    role.refresh_from_db()
    assert (role.name, role.permissions) == ("Helper plus", ["members.view", "teams.manage"])
    entry = AuditEntry.objects.filter(workspace=workspace, action="role.updated").get()
    assert entry.data == {"added": ["teams.manage"], "removed": []}


def test_builtin_role_is_read_only(owner_client: Client, workspace: Workspace) -> None:
    # given
    sales = _role(workspace, "sales")
    # when
    page = owner_client.get(f"/settings/roles/{sales.public_id}/")
    post = owner_client.post(
        f"/settings/roles/{sales.public_id}/", {"name": "Hacked", "permissions": ["roles.manage"]}
    )
    delete = owner_client.post(f"/settings/roles/{sales.public_id}/delete/")
    # then
    assert page.status_code == 200
    assert all(field.disabled for field in page.context["form"].fields.values())
    assert (post.status_code, delete.status_code) == (403, 403)
    sales.refresh_from_db()
    assert (sales.name, sales.permissions) == ("Sales", builtin_role_permissions("sales"))


def test_delete_unused_custom_role_but_not_one_in_use(
    owner_client: Client, owner_actor: Actor, member: Membership, workspace: Workspace
) -> None:
    # given an unused role and a role given to the member
    unused = role_create(actor=owner_actor, name="Unused", permissions=[])
    used = role_create(actor=owner_actor, name="Used", permissions=[])
    member.role = used
    member.save(update_fields=["role"])
    # when
    deleted = owner_client.post(f"/settings/roles/{unused.public_id}/delete/", follow=True)
    refused = owner_client.post(f"/settings/roles/{used.public_id}/delete/", follow=True)
    # then
    assert deleted.redirect_chain == [("/settings/roles/", 302)]
    assert _messages(deleted) == ["Role Unused deleted."]
    assert not Role.objects.filter(pk=unused.pk).exists()
    assert _messages(refused) == ["The role is still given to members or API keys."]
    assert Role.objects.filter(pk=used.pk).exists()


def test_roles_page_lists_builtin_permissions(owner_client: Client) -> None:
    response = owner_client.get("/settings/roles/")
    rows = {row.role.key: row.permission_labels for row in response.context["builtin_rows"]}
    # The foundation's permissions of the role, among those later parts add (customers…).
    assert {"See the home dashboard", "See every record in the workspace"} <= set(rows["read_only"])
    assert "Change workspace settings and security" not in rows["read_only"]
    assert response.context["custom_rows"] == []


# --- API keys -------------------------------------------------------------------------------
def test_create_api_key_shows_plaintext_once(
    owner_client: Client, owner: Membership, workspace: Workspace
) -> None:
    # given
    read_only = _role(workspace, "read_only")
    # when the owner creates a key, then opens the page again later
    created = owner_client.post(
        "/settings/api-keys/",
        {"name": "ERP sync", "role": str(read_only.public_id), "rate_limit_per_minute": "120"},
    )
    sessions = [str(session.get_decoded()) for session in Session.objects.all()]
    later = owner_client.get("/settings/api-keys/")
    # then the key exists with what was asked
    api_key = ApiKey.objects.get(workspace=workspace)
    assert (api_key.name, api_key.role, api_key.rate_limit_per_minute, api_key.created_by) == (
        "ERP sync",
        read_only,
        120,
        owner,
    )
    # and the answer to the POST itself shows, once, a plaintext that authenticates as this key,
    # and may not be cached
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"].split(", ")
    plaintext = created.context["new_key"]["plaintext"]
    assert plaintext.startswith(f"hk_{api_key.prefix}_")
    assert created.content.decode().count(plaintext) == 1
    assert api_key_authenticate(plaintext) == api_key
    assert _messages(created) == ["API key ERP sync created."]
    # and the form is empty again, ready for another key
    assert created.context["form"].is_bound is False
    # and it was not kept in the session, and is never shown again
    assert len(sessions) == 1
    assert plaintext not in sessions[0]
    assert later.context["new_key"] is None
    assert plaintext not in later.content.decode()


def test_member_without_api_keys_manage_cannot_create_keys(
    member_client: Client, member: Membership, workspace: Workspace
) -> None:
    response = member_client.post(
        "/settings/api-keys/", {"name": "mine", "role": str(member.role.public_id)}
    )
    assert response.status_code == 403
    assert "new_key" not in response.context
    assert not ApiKey.objects.filter(workspace=workspace).exists()


def test_revoke_api_key_after_confirmation(
    owner_client: Client, owner_actor: Actor, workspace: Workspace
) -> None:
    # given
    issued = api_key_create(
        actor=owner_actor, workspace=workspace, name="ERP", role=_role(workspace, "read_only")
    )
    url = f"/settings/api-keys/{issued.api_key.public_id}/revoke/"
    # when the owner opens the confirmation, then confirms
    confirmation = owner_client.get(url)
    issued.api_key.refresh_from_db()
    still_active = issued.api_key.revoked_at is None
    revoked = owner_client.post(url)
    # then
    assert confirmation.status_code == 200
    assert still_active is True
    assert revoked["Location"] == "/settings/api-keys/"
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is not None
    assert api_key_authenticate(issued.plaintext) is None
    assert AuditEntry.objects.filter(workspace=workspace, action="api_key.revoked").count() == 1


def test_api_key_rate_limit_must_be_positive(owner_client: Client, workspace: Workspace) -> None:
    response = owner_client.post(
        "/settings/api-keys/",
        {
            "name": "ERP",
            "role": str(_role(workspace, "read_only").public_id),
            "rate_limit_per_minute": "0",
        },
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["rate_limit_per_minute"]
    assert not ApiKey.objects.filter(workspace=workspace).exists()


# --- audit log ------------------------------------------------------------------------------
def test_audit_page_lists_entries_of_settings_actions_and_filters_by_action(
    owner_client: Client, member: Membership, workspace: Workspace
) -> None:
    # given changes made through the settings pages
    sales = _role(workspace, "sales")
    owner_client.post(
        "/settings/members/", {"email": "new@acme.test", "role": str(sales.public_id)}
    )
    owner_client.post("/settings/teams/", {"name": "North"})
    owner_client.post("/settings/roles/add/", {"name": "Helper", "permissions": ["audit.view"]})
    owner_client.post("/settings/api-keys/", {"name": "ERP", "role": str(sales.public_id)})
    # when
    everything = owner_client.get("/settings/audit/")
    members_only = owner_client.get("/settings/audit/", {"action": "member.added"})
    by_prefix = owner_client.get("/settings/audit/", {"action": "team."})
    # then every action is listed, newest first
    actions = [entry.action for entry in everything.context["page"].entries]
    assert actions[:4] == ["api_key.created", "role.created", "team.created", "member.added"]
    assert {"workspace.created", "auth.login_succeeded"} <= set(actions)
    seqs = [entry.seq for entry in everything.context["page"].entries]
    assert seqs == sorted(seqs, reverse=True)
    # and the filters narrow it
    assert [e.data["email"] for e in members_only.context["page"].entries] == [
        "new@acme.test",
        "owner@acme.test",
    ]
    assert [e.action for e in by_prefix.context["page"].entries] == ["team.created"]


def test_audit_filters_by_actor_and_date_range(owner_client: Client, workspace: Workspace) -> None:
    # given an entry by someone else
    audit_record(
        workspace_id=workspace.pk,
        action=AuditAction.EXPORT_PERFORMED,
        actor_label="analyst@acme.test",
        data={"rows": 3},
    )
    today = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(workspace.timezone)).date()
    # when
    by_actor = owner_client.get("/settings/audit/", {"actor": "ANALYST"})
    today_only = owner_client.get(
        "/settings/audit/", {"date_from": today.isoformat(), "date_to": today.isoformat()}
    )
    before_today = owner_client.get(
        "/settings/audit/", {"date_to": (today - timedelta(days=1)).isoformat()}
    )
    reversed_range = owner_client.get(
        "/settings/audit/", {"date_from": today.isoformat(), "date_to": "2000-01-01"}
    )
    # then
    assert [e.action for e in by_actor.context["page"].entries] == ["data.exported"]
    total = AuditEntry.objects.filter(workspace=workspace).count()
    assert len(today_only.context["page"].entries) == total
    assert before_today.context["page"].entries == []
    assert reversed_range.context["form"].errors["date_to"] == [
        "The end date is before the start date."
    ]


def test_audit_times_are_shown_in_the_workspace_time_zone(
    owner_client: Client, workspace: Workspace
) -> None:
    entry = audit_record(workspace_id=workspace.pk, action="data.exported", actor_label="x")
    shanghai = timezone.localtime(entry.created_at, zoneinfo.ZoneInfo("Asia/Shanghai"))
    response = owner_client.get("/settings/audit/", {"action": "data.exported"})
    assert shanghai.strftime("%Y-%m-%d %H:%M:%S") in response.content.decode()


def test_audit_pages_with_keyset_cursors(owner_client: Client, workspace: Workspace) -> None:
    # given 60 export entries
    for number in range(60):
        audit_record(workspace_id=workspace.pk, action="data.exported", data={"n": number})
    # when
    first = owner_client.get("/settings/audit/", {"action": "data.exported"}).context["page"]
    older = owner_client.get(
        "/settings/audit/", {"action": "data.exported", "before": first.older_cursor}
    ).context["page"]
    newer = owner_client.get(
        "/settings/audit/", {"action": "data.exported", "after": older.newer_cursor}
    ).context["page"]
    # then
    assert [e.data["n"] for e in first.entries] == list(range(59, 9, -1))
    assert first.newer_cursor is None
    assert [e.data["n"] for e in older.entries] == list(range(9, -1, -1))
    assert older.older_cursor is None
    assert [e.data["n"] for e in newer.entries] == list(range(59, 9, -1))
    assert newer.newer_cursor is None
    assert newer.older_cursor == first.older_cursor


def test_verify_button_reports_intact_chain(owner_client: Client, workspace: Workspace) -> None:
    # when the button is pressed through htmx
    response = owner_client.post("/settings/audit/verify/", headers={"HX-Request": "true"})
    # then only the status fragment comes back, reporting every entry checked
    content = response.content.decode()
    count = AuditEntry.objects.filter(workspace=workspace).count()
    assert response.status_code == 200
    assert content.strip().startswith('<div id="chain-status"')
    assert "<html" not in content
    assert 'data-testid="chain-intact"' in content
    assert f"Intact: {count} entries checked." in content


def test_verify_without_htmx_reports_through_a_message(
    owner_client: Client, workspace: Workspace
) -> None:
    count = AuditEntry.objects.filter(workspace=workspace).count()
    response = owner_client.post("/settings/audit/verify/", follow=True)
    assert response.redirect_chain == [("/settings/audit/", 302)]
    assert _messages(response) == [f"The audit chain is intact: {count} entries checked."]


def test_verify_button_reports_first_broken_entry(
    owner_client: Client, workspace: Workspace
) -> None:
    # given a chain head claiming one more entry than exists (the last entry was removed)
    last_seq = AuditEntry.objects.filter(workspace=workspace).order_by("-seq").first().seq  # type: ignore[union-attr]
    AuditChain.objects.filter(workspace=workspace).update(last_seq=F("last_seq") + 1)
    # when
    response = owner_client.post("/settings/audit/verify/", headers={"HX-Request": "true"})
    # then
    content = response.content.decode()
    assert 'data-testid="chain-broken"' in content
    assert f"Broken at entry {last_seq + 1}: entries from here on were removed." in content


def test_audit_filter_by_htmx_returns_only_the_results(owner_client: Client) -> None:
    response = owner_client.get(
        "/settings/audit/", {"action": "workspace.created"}, headers={"HX-Request": "true"}
    )
    content = response.content.decode()
    assert content.strip().startswith('<div id="audit-results">')
    assert "<html" not in content
    assert [e.action for e in response.context["page"].entries] == ["workspace.created"]


def test_audit_details_are_readable(
    owner_client: Client, owner_actor: Actor, workspace: Workspace
) -> None:
    # given a role change whose data holds lists, and a team without parent
    role = role_create(actor=owner_actor, name="Helper", permissions=["members.view"])
    owner_client.post(
        f"/settings/roles/{role.public_id}/",
        {"name": "Helper", "permissions": ["members.view", "teams.manage", "audit.view"]},
    )
    owner_client.post("/settings/teams/", {"name": "North"})
    # when
    response = owner_client.get("/settings/audit/", {"action": "role.updated"})
    teams = owner_client.get("/settings/audit/", {"action": "team.created"})
    # then
    assert [row.details for row in response.context["rows"]] == [
        [("added", "audit.view, teams.manage"), ("removed", "—")]
    ]
    assert [row.details for row in teams.context["rows"]] == [[("name", "North"), ("parent", "—")]]
