"""The leads API: capture, list and filters, masked contacts, claim/release/assign/convert,
history, web forms and settings; 404 from another workspace, 403 without the permission,
nothing of another rep's, the pool only for roles that may claim."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, key_client
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry
from huike.sales import leads
from huike.sales.deals import pipeline_default
from huike.sales.leads import LeadData
from huike.sales.models import Deal, Lead, LeadSettings, WebForm
from huike.sales.web_forms import WebFormData, web_form_create

pytestmark = pytest.mark.django_db

admin = api_support.admin
BASE = "/api/v1/leads"


def _lead(workspace: Workspace, phone: str, owner: Membership | None = None, **values: Any) -> Lead:
    return leads.lead_capture(
        workspace=workspace, source="manual", data=LeadData(phone=phone, owner=owner, **values)
    )


def _field(response: Any) -> str:
    field: str = response.json()["errors"][0]["field"]
    return field


def _client(membership: Membership) -> Client:
    client = Client(headers=api_support.EN)
    client.force_login(membership.user)
    return client


@pytest.fixture
def rival(make_member: Callable[..., Membership]) -> Membership:
    return make_member("rival@acme.test", "sales")


def test_capture_by_api_masks_contacts_and_dedups_the_person(admin: Client) -> None:
    # when
    first = admin.post(
        BASE,
        {
            "name": "Chen Jing",
            "phone": "13911112222",
            "email": "chen.jing@example.org",
            "company_name": "Yunfan",
            "source_detail": {"utm_source": "zhihu", "bogus": "x"},
        },
        JSON,
    )
    again = admin.post(BASE, {"email": "CHEN.JING@example.org"}, JSON)
    # then
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["phone"], body["email"]) == ("+86*******2222", "c***@example.org")
    assert (body["source"], body["status"], body["in_pool"]) == ("api", "new", True)
    assert body["source_detail"] == {"utm_source": "zhihu"}
    assert body["customer"]["lifecycle_stage"] == "lead"
    assert again.status_code == 201
    assert again.json()["id"] == body["id"]
    assert Lead.objects.count() == 1


def test_bad_phone_is_422_naming_the_field(admin: Client) -> None:
    response = admin.post(BASE, {"name": "X", "phone": "abc"}, JSON)
    assert response.status_code == 422
    assert _field(response) == "phone"
    assert not Lead.objects.exists()


def test_reveal_needs_pii_reveal_and_is_audited(
    workspace: Workspace, owner: Membership, member: Membership
) -> None:
    # given
    lead = _lead(workspace, "13911112222", owner=member)
    # when
    plain = _client(owner).get(f"{BASE}/{lead.public_id}?reveal=true")
    analyst = key_client(workspace, "analyst").get(f"{BASE}/{lead.public_id}?reveal=true")
    # then
    assert plain.status_code == 200
    assert plain.json()["phone"] == "+8613911112222"
    assert analyst.status_code == 403
    assert AuditEntry.objects.filter(action=AuditAction.PII_REVEALED).count() == 1


def test_list_filters_and_pool(workspace: Workspace, owner: Membership, member: Membership) -> None:
    # given
    mine = _lead(workspace, "13911110001", owner=member, name="Mine", company_name="Acme Steel")
    pooled = _lead(workspace, "13911110002", name="Pooled")
    Lead.objects.filter(pk=pooled.pk).update(score=60, score_band="mql")
    client = _client(member)

    def names(query: str) -> list[str]:
        response = client.get(f"{BASE}{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["items"]]

    # then
    assert names("") == ["Pooled", "Mine"]
    assert names("?owner=me") == ["Mine"]
    assert names("?pool=true") == ["Pooled"]
    assert names("?band=mql") == ["Pooled"]
    assert names("?score_min=10") == ["Pooled"]
    assert names("?q=steel") == ["Mine"]
    assert names("?status=converted") == []
    assert names(f"?source=manual&owner={member.public_id}") == ["Mine"]
    assert mine.pk


def test_claim_release_assign_and_history(
    workspace: Workspace, owner: Membership, member: Membership
) -> None:
    # given
    lead = _lead(workspace, "13911112222")
    rep, manager = _client(member), _client(owner)
    # when
    claimed = rep.post(f"{BASE}/{lead.public_id}/claim")
    again = manager.post(f"{BASE}/{lead.public_id}/claim")
    released = rep.post(f"{BASE}/{lead.public_id}/release", {"reason": "Not mine"}, JSON)
    assigned = manager.post(
        f"{BASE}/{lead.public_id}/assign",
        {"owner_id": str(member.public_id), "reason": "VIP"},
        JSON,
    )
    history = manager.get(f"{BASE}/{lead.public_id}/history")
    # then
    assert claimed.status_code == 200
    assert claimed.json()["owner"]["email"] == "member@acme.test"
    assert again.status_code == 409
    assert released.json()["in_pool"] is True
    assert assigned.json()["owner"]["email"] == "member@acme.test"
    assert [item["kind"] for item in history.json()["items"]] == [
        "assigned",
        "released",
        "claimed",
        "created",
    ]
    assert history.json()["items"][0]["details"] == {"reason": "VIP"}


def test_claim_limit_is_409(workspace: Workspace, member: Membership) -> None:
    LeadSettings.objects.create(workspace=workspace, claim_limit=1)
    _lead(workspace, "13911110001", owner=member)
    lead = _lead(workspace, "13911110002")
    response = _client(member).post(f"{BASE}/{lead.public_id}/claim")
    assert response.status_code == 409
    lead.refresh_from_db()
    assert lead.owner_id is None


def test_convert_returns_the_deal_once(workspace: Workspace, owner: Membership) -> None:
    # given
    lead = _lead(workspace, "13911112222", owner=owner, company_name="Yunfan")
    pipeline = pipeline_default(workspace)
    stage = pipeline.stages.get(name="Proposal")
    client = _client(owner)
    # when
    response = client.post(
        f"{BASE}/{lead.public_id}/convert",
        {
            "pipeline_id": str(pipeline.public_id),
            "stage_id": str(stage.public_id),
            "amount": "12000.50",
        },
        JSON,
    )
    twice = client.post(
        f"{BASE}/{lead.public_id}/convert", {"pipeline_id": str(pipeline.public_id)}, JSON
    )
    # then
    assert response.status_code == 200, response.content
    deal = Deal.objects.get()
    assert response.json() == {"deal_id": str(deal.public_id), "lead_id": str(lead.public_id)}
    assert (deal.stage_id, deal.amount, deal.name) == (stage.pk, Decimal("12000.50"), "Yunfan")
    assert twice.status_code == 409
    detail = client.get(f"{BASE}/{lead.public_id}").json()
    assert (detail["status"], detail["deal_id"]) == ("converted", str(deal.public_id))


def test_convert_with_an_unknown_pipeline_is_422(workspace: Workspace, owner: Membership) -> None:
    lead = _lead(workspace, "13911112222", owner=owner)
    response = _client(owner).post(
        f"{BASE}/{lead.public_id}/convert",
        {"pipeline_id": "00000000-0000-0000-0000-000000000001"},
        JSON,
    )
    assert response.status_code == 422
    assert _field(response) == "pipeline_id"


def test_patch_changes_fields_and_status(workspace: Workspace, member: Membership) -> None:
    # given
    lead = _lead(workspace, "13911112222", owner=member)
    client = _client(member)
    # when
    changed = client.patch(
        f"{BASE}/{lead.public_id}", {"industry": "Retail", "status": "contacted"}, JSON
    )
    refused = client.patch(f"{BASE}/{lead.public_id}", {"status": "unqualified"}, JSON)
    # then
    assert changed.status_code == 200
    assert (changed.json()["industry"], changed.json()["status"]) == ("Retail", "contacted")
    assert refused.status_code == 422
    assert _field(refused) == "reason"


def test_delete(workspace: Workspace, member: Membership) -> None:
    lead = _lead(workspace, "13911112222", owner=member)
    assert _client(member).delete(f"{BASE}/{lead.public_id}").status_code == 204
    assert not Lead.objects.exists()


def test_another_workspace_gets_404_everywhere(
    workspace: Workspace, other_workspace: Workspace, owner: Membership
) -> None:
    # given
    lead = _lead(workspace, "13911112222", owner=owner)
    form = web_form_create(actor=leads_actor(owner), data=WebFormData(name="Contact us"))
    pipeline = pipeline_default(workspace)
    outsider = key_client(other_workspace)
    # then
    assert outsider.get(BASE).json()["items"] == []
    assert outsider.get("/api/v1/web-forms").json()["items"] == []
    for method, path, payload in [
        ("get", f"{BASE}/{lead.public_id}", None),
        ("patch", f"{BASE}/{lead.public_id}", {"name": "x"}),
        ("delete", f"{BASE}/{lead.public_id}", None),
        ("post", f"{BASE}/{lead.public_id}/claim", None),
        ("post", f"{BASE}/{lead.public_id}/release", {}),
        ("post", f"{BASE}/{lead.public_id}/assign", {"owner_id": None}),
        ("post", f"{BASE}/{lead.public_id}/convert", {"pipeline_id": str(pipeline.public_id)}),
        ("get", f"{BASE}/{lead.public_id}/history", None),
        ("get", f"/api/v1/web-forms/{form.public_id}", None),
        ("patch", f"/api/v1/web-forms/{form.public_id}", {"name": "x"}),
        ("delete", f"/api/v1/web-forms/{form.public_id}", None),
    ]:
        call = getattr(outsider, method)
        response = call(path, payload, JSON) if payload is not None else call(path)
        assert response.status_code == 404, (method, path, response.content)
    lead.refresh_from_db()
    assert (lead.name, lead.owner_id, lead.status) == ("", owner.pk, "new")
    assert WebForm.objects.get().name == "Contact us"
    assert not Deal.objects.exists()


def leads_actor(membership: Membership) -> Any:
    from huike.accounts.access import Actor

    return Actor.for_membership(membership)


def test_a_role_without_the_permission_gets_403(workspace: Workspace, owner: Membership) -> None:
    # given
    lead = _lead(workspace, "13911112222", owner=owner)
    form = web_form_create(actor=leads_actor(owner), data=WebFormData(name="Contact us"))
    finance = key_client(workspace, "finance")
    sales = key_client(workspace, "sales")
    analyst = key_client(workspace, "analyst")
    # then: finance has no leads at all
    assert finance.get(BASE).status_code == 403
    assert finance.get(f"{BASE}/{lead.public_id}").status_code == 403
    assert finance.post(BASE, {"phone": "13911113333"}, JSON).status_code == 403
    # a read-only role sees but does not change
    assert analyst.get(f"{BASE}/{lead.public_id}").status_code == 200
    assert analyst.patch(f"{BASE}/{lead.public_id}", {"name": "x"}, JSON).status_code == 403
    assert analyst.post(f"{BASE}/{lead.public_id}/release", {}, JSON).status_code == 403
    # sales may not assign nor configure
    assert (
        sales.post(f"{BASE}/{lead.public_id}/assign", {"owner_id": None}, JSON).status_code == 403
    )
    assert sales.get("/api/v1/web-forms").status_code == 403
    assert (
        sales.patch(f"/api/v1/web-forms/{form.public_id}", {"name": "x"}, JSON).status_code == 403
    )
    assert sales.patch("/api/v1/lead-settings", {"claim_limit": 1}, JSON).status_code == 403
    assert (
        sales.post(
            "/api/v1/web-forms", {"name": "x", "fields": [{"name": "email"}]}, JSON
        ).status_code
        == 403
    )
    lead.refresh_from_db()
    assert (lead.name, lead.owner_id) == ("", owner.pk)
    assert WebForm.objects.get().name == "Contact us"
    assert leads.lead_settings(workspace).claim_limit == 200
    assert Lead.objects.count() == 1


def test_a_rep_gets_nothing_of_another_reps_lead(
    workspace: Workspace, member: Membership, rival: Membership
) -> None:
    # given
    lead = _lead(workspace, "13911112222", owner=rival)
    client = _client(member)
    # then
    assert client.get(BASE).json()["items"] == []
    for method, path, payload in [
        ("get", f"{BASE}/{lead.public_id}", None),
        ("patch", f"{BASE}/{lead.public_id}", {"name": "x"}),
        ("delete", f"{BASE}/{lead.public_id}", None),
        ("post", f"{BASE}/{lead.public_id}/claim", None),
        ("post", f"{BASE}/{lead.public_id}/release", {}),
        ("get", f"{BASE}/{lead.public_id}/history", None),
    ]:
        call = getattr(client, method)
        response = call(path, payload, JSON) if payload is not None else call(path)
        assert response.status_code == 404, (method, path, response.content)
    lead.refresh_from_db()
    assert (lead.name, lead.owner_id) == ("", rival.pk)


def test_the_pool_is_visible_only_to_roles_that_may_claim(
    workspace: Workspace, make_member: Callable[..., Membership], member: Membership
) -> None:
    # given
    lead = _lead(workspace, "13911112222")
    marketer = _client(make_member("marketer@acme.test", "marketing"))
    # then
    assert marketer.get(BASE).json()["items"] == []
    assert marketer.get(f"{BASE}/{lead.public_id}").status_code == 404
    assert marketer.get(f"{BASE}?pool=true").status_code == 403
    rep = _client(member)
    assert [item["id"] for item in rep.get(f"{BASE}?pool=true").json()["items"]] == [
        str(lead.public_id)
    ]


def test_web_forms_crud_with_the_snippet(admin: Client) -> None:
    # when
    created = admin.post(
        "/api/v1/web-forms",
        {
            "name": "Demo request",
            "fields": [{"name": "name", "required": True}, {"name": "email", "required": True}],
            "allowed_origins": ["https://www.example.com/"],
            "consent_text": "I agree to receive news.",
        },
        JSON,
    )
    body = created.json()
    changed = admin.patch(f"/api/v1/web-forms/{body['id']}", {"is_active": False}, JSON)
    bad = admin.post("/api/v1/web-forms", {"name": "x", "fields": [{"name": "name"}]}, JSON)
    deleted = admin.delete(f"/api/v1/web-forms/{body['id']}")
    # then
    assert created.status_code == 201, created.content
    assert body["allowed_origins"] == ["https://www.example.com"]
    assert body["consent_text"] == "I agree to receive news."
    assert body["embed_snippet"] == (
        f'<script src="http://testserver/forms/{body["public_key"]}/embed.js" async></script>'
    )
    assert changed.json()["is_active"] is False
    assert bad.status_code == 422
    assert _field(bad) == "fields"
    assert deleted.status_code == 204
    assert not WebForm.objects.exists()


def test_lead_settings_read_and_change(admin: Client) -> None:
    assert admin.get("/api/v1/lead-settings").json() == {
        "claim_limit": 200,
        "follow_up_hours": 72,
    }
    changed = admin.patch("/api/v1/lead-settings", {"follow_up_hours": 24}, JSON)
    assert changed.json() == {"claim_limit": 200, "follow_up_hours": 24}


def test_the_endpoints_are_documented_under_leads(admin: Client) -> None:
    schema = admin.get("/api/v1/openapi.json").json()
    paths = [
        "/api/v1/leads",
        "/api/v1/leads/{lead_id}",
        "/api/v1/leads/{lead_id}/claim",
        "/api/v1/leads/{lead_id}/release",
        "/api/v1/leads/{lead_id}/assign",
        "/api/v1/leads/{lead_id}/convert",
        "/api/v1/leads/{lead_id}/history",
        "/api/v1/web-forms",
        "/api/v1/web-forms/{form_id}",
        "/api/v1/lead-settings",
    ]
    tags = {operation["tags"][0] for path in paths for operation in schema["paths"][path].values()}
    assert tags == {"Leads"}
