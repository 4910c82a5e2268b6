from django.test import Client

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import key_client
from huike.core.audit import AuditAction, audit_record, audit_verify
from huike.core.models import AuditEntry


def _entries(client: Client, query: str = "") -> dict[str, object]:
    response = client.get(f"/api/v1/audit-entries{query}")
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


def test_admin_key_reads_the_chain_in_order_and_follows_new_entries(workspace: Workspace) -> None:
    # given the workspace's first entries (created with it) and a client with an admin key
    client = key_client(workspace)
    before = AuditEntry.objects.filter(workspace=workspace).count()
    # when it reads everything, page by page
    first = _entries(client, "?limit=2")
    seqs = [item["seq"] for item in first["items"]]  # type: ignore[index]
    cursor = first["next"]
    while cursor:
        page = _entries(client, f"?limit=2&cursor={cursor}")
        seqs += [item["seq"] for item in page["items"]]  # type: ignore[index]
        cursor = page["next"]
    # then it got the whole chain in order
    assert seqs == list(range(1, before + 1))
    # and a later entry shows up after the last cursor it kept
    last = _entries(client, "?limit=200")["items"][-1]  # type: ignore[index]
    assert last["hash"] == AuditEntry.objects.get(workspace=workspace, seq=last["seq"]).hash
    audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED, data={"rows": 3})
    newest = _entries(client, "?action=data.exported")["items"]  # type: ignore[index]
    assert [(item["action"], item["action_label"], item["data"]) for item in newest] == [
        ("data.exported", "Data exported", {"rows": 3})
    ]
    assert all(report.is_intact for report in audit_verify(workspace_id=workspace.pk))


def test_prefix_filter_and_actor_filter(workspace: Workspace, member: Membership) -> None:
    client = key_client(workspace)
    member_actions = {item["action"] for item in _entries(client, "?action=member.")["items"]}  # type: ignore[index]
    assert member_actions == {"member.added"}
    by_owner = _entries(client, "?actor=owner@")["items"]  # type: ignore[index]
    assert {item["actor"] for item in by_owner} == {"owner@acme.test"}


def test_role_without_audit_view_and_other_workspace_get_nothing(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # a sales key may not read the audit log
    response = key_client(workspace, "sales").get("/api/v1/audit-entries")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    # and another workspace's admin key sees only its own chain
    foreign = _entries(key_client(other_workspace))["items"]  # type: ignore[index]
    assert foreign
    ids = set(AuditEntry.objects.filter(workspace=other_workspace).values_list("seq", "hash"))
    assert {(item["seq"], item["hash"]) for item in foreign} <= ids
    assert not {item["hash"] for item in foreign} & set(
        AuditEntry.objects.filter(workspace=workspace).values_list("hash", flat=True)
    )
