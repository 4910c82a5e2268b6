"""Lead pages: list, pool, detail with its actions, manual entry, CSV upload, settings and
web forms; another workspace gets 404, a role without the permission 403, a rep nothing of
another rep's lead, and a denied action changes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.sales import leads
from huike.sales.deals import pipeline_default
from huike.sales.leads import LeadData
from huike.sales.models import Deal, Lead, LeadSettings, WebForm
from huike.sales.web_forms import WebFormData, web_form_create

pytestmark = pytest.mark.django_db


def _lead(workspace: Workspace, phone: str, owner: Membership | None = None, **values: Any) -> Lead:
    return leads.lead_capture(
        workspace=workspace, source="manual", data=LeadData(phone=phone, owner=owner, **values)
    )


def _client(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def rival(make_member: Callable[..., Membership]) -> Membership:
    return make_member("rival@acme.test", "sales")


def test_rep_lists_own_leads_with_score_badges(
    workspace: Workspace, member: Membership, member_client: Client, rival: Membership
) -> None:
    # given
    mine = _lead(workspace, "13911110001", owner=member, name="Mine")
    Lead.objects.filter(pk=mine.pk).update(score=120, score_band="sql")
    _lead(workspace, "13911110002", owner=rival, name="Theirs")
    _lead(workspace, "13911110003", name="Pooled")
    # when
    response = member_client.get("/sales/leads/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "Mine" in page
    assert "Theirs" not in page
    assert "Pooled" not in page  # the pool has its own page
    assert '<span class="badge ok">SQL</span>' in page
    assert "139****0001" in page.replace("+86*******0001", "139****0001")


def test_admin_lists_every_lead_and_filters(
    workspace: Workspace, owner_client: Client, member: Membership
) -> None:
    _lead(workspace, "13911110001", owner=member, name="Alpha", company_name="Steelworks")
    _lead(workspace, "13911110002", name="Beta")
    page = owner_client.get("/sales/leads/").content.decode()
    assert "Alpha" in page
    assert "Beta" in page
    filtered = owner_client.get("/sales/leads/?q=steel").content.decode()
    assert "Alpha" in filtered
    assert "Beta" not in filtered
    htmx = owner_client.get("/sales/leads/?q=beta", headers={"HX-Request": "true"})
    assert htmx.content.decode().lstrip().startswith('<div id="lead-results">')


def test_pool_shows_claim_buttons_and_the_allowance(
    workspace: Workspace, member: Membership, member_client: Client
) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, claim_limit=3)
    _lead(workspace, "13911110001", owner=member)
    pooled = _lead(workspace, "13911110002", name="Pooled")
    # when
    page = member_client.get("/sales/leads/pool/").content.decode()
    # then
    assert "You hold 1 of 3 open leads: you may claim 2 more." in page
    assert f"/sales/leads/{pooled.public_id}/claim/" in page


def test_claim_from_the_pool_page(
    workspace: Workspace, member: Membership, member_client: Client
) -> None:
    lead = _lead(workspace, "13911110002")
    response = member_client.post(f"/sales/leads/{lead.public_id}/claim/", {"next": "pool"})
    assert response.status_code == 302
    assert response["Location"] == "/sales/leads/pool/"
    lead.refresh_from_db()
    assert lead.owner_id == member.pk


def test_pool_is_only_for_roles_that_may_claim(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> None:
    lead = _lead(workspace, "13911110002")
    marketer = _client(make_member("marketer@acme.test", "marketing"))
    assert marketer.get("/sales/leads/pool/").status_code == 403
    assert marketer.get(f"/sales/leads/{lead.public_id}/").status_code == 404
    assert marketer.post(f"/sales/leads/{lead.public_id}/claim/").status_code == 404
    lead.refresh_from_db()
    assert lead.owner_id is None


def test_detail_shows_customer_history_and_actions(
    workspace: Workspace, member: Membership, member_client: Client
) -> None:
    lead = _lead(workspace, "13911110001", owner=member, name="Detail Person")
    page = member_client.get(f"/sales/leads/{lead.public_id}/").content.decode()
    assert "Detail Person" in page
    assert f"/customers/{lead.customer.public_id}/" in page
    assert "Set status" in page
    assert "Release" in page
    assert "Convert" in page
    assert f"/sales/leads/{lead.public_id}/assign/" not in page  # a rep does not reassign


def test_unqualified_without_reason_shows_the_error_and_changes_nothing(
    workspace: Workspace, member: Membership, member_client: Client
) -> None:
    lead = _lead(workspace, "13911110001", owner=member)
    response = member_client.post(
        f"/sales/leads/{lead.public_id}/status/", {"status": "unqualified", "reason": ""}
    )
    assert response.status_code == 400
    assert "Say why this lead is unqualified." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "new"
    ok = member_client.post(
        f"/sales/leads/{lead.public_id}/status/", {"status": "unqualified", "reason": "Student"}
    )
    assert ok.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.unqualified_reason) == ("unqualified", "Student")


def test_convert_from_the_page_opens_a_deal(
    workspace: Workspace, owner: Membership, owner_client: Client
) -> None:
    lead = _lead(workspace, "13911110001", owner=owner, company_name="Yunfan")
    pipeline = pipeline_default(workspace)
    response = owner_client.post(
        f"/sales/leads/{lead.public_id}/convert/",
        {"pipeline": pipeline.pk, "deal_name": "Yunfan CRM", "amount": "5000"},
    )
    assert response.status_code == 302
    deal = Deal.objects.get()
    assert (deal.name, str(deal.amount), deal.lead_id) == ("Yunfan CRM", "5000.00", lead.pk)
    lead.refresh_from_db()
    assert lead.status == "converted"


def test_manager_assigns_from_the_page(
    workspace: Workspace, owner_client: Client, member: Membership
) -> None:
    lead = _lead(workspace, "13911110001")
    response = owner_client.post(
        f"/sales/leads/{lead.public_id}/assign/", {"owner": member.pk, "reason": "Region"}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.owner_id == member.pk


def test_a_rep_gets_nothing_of_another_reps_lead(
    workspace: Workspace, member_client: Client, rival: Membership
) -> None:
    lead = _lead(workspace, "13911110001", owner=rival)
    assert member_client.get(f"/sales/leads/{lead.public_id}/").status_code == 404
    for action, data in [
        ("claim", {}),
        ("release", {}),
        ("status", {"status": "contacted"}),
        ("convert", {"pipeline": pipeline_default(workspace).pk}),
        ("delete", {}),
        ("assign", {"owner": ""}),
    ]:
        response = member_client.post(f"/sales/leads/{lead.public_id}/{action}/", data)
        assert response.status_code in (403, 404), action
    lead.refresh_from_db()
    assert (lead.owner_id, lead.status) == (rival.pk, "new")
    assert not Deal.objects.exists()


def test_another_workspace_gets_404(
    workspace: Workspace, owner: Membership, outsider_client: Client
) -> None:
    lead = _lead(workspace, "13911110001", owner=owner)
    form = web_form_create(actor=Actor.for_membership(owner), data=WebFormData(name="Contact"))
    assert outsider_client.get(f"/sales/leads/{lead.public_id}/").status_code == 404
    assert outsider_client.post(f"/sales/leads/{lead.public_id}/claim/").status_code == 404
    assert outsider_client.post(f"/sales/leads/{lead.public_id}/delete/").status_code == 404
    assert outsider_client.get(f"/sales/leads/settings/forms/{form.public_id}/").status_code == 404
    assert (
        outsider_client.post(f"/sales/leads/settings/forms/{form.public_id}/delete/").status_code
        == 404
    )
    assert "13911110001" not in outsider_client.get("/sales/leads/").content.decode()
    assert Lead.objects.filter(pk=lead.pk, owner=owner).exists()
    assert WebForm.objects.filter(pk=form.pk).exists()


def test_finance_has_no_lead_pages(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> None:
    finance = _client(make_member("finance@acme.test", "finance"))
    assert finance.get("/sales/leads/").status_code == 403
    assert finance.get("/sales/leads/new/").status_code == 403
    assert finance.get("/customers/imports/new/?kind=leads").status_code == 403
    assert finance.get("/sales/leads/settings/").status_code == 403


def test_manual_entry_keeps_the_lead_with_the_rep(
    workspace: Workspace, member: Membership, member_client: Client
) -> None:
    response = member_client.post(
        "/sales/leads/new/",
        {"name": "Walk-in", "phone": "13911110009", "company_name": "Kiosk", "keep": "on"},
    )
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.source, lead.owner_id, lead.name, lead.created_by_id) == (
        "manual",
        member.pk,
        "Walk-in",
        member.pk,
    )


def test_manual_entry_needs_a_contact(member_client: Client) -> None:
    response = member_client.post("/sales/leads/new/", {"name": "Nobody"})
    assert response.status_code == 200
    assert "Give a phone number or an email address." in response.content.decode()
    assert not Lead.objects.exists()


def test_settings_page_saves_the_pool_settings_and_lists_snippets(
    workspace: Workspace, owner: Membership, owner_client: Client, member_client: Client
) -> None:
    form = web_form_create(actor=Actor.for_membership(owner), data=WebFormData(name="Contact"))
    page = owner_client.get("/sales/leads/settings/").content.decode()
    assert f"http://testserver/forms/{form.public_key}/embed.js" in page
    response = owner_client.post(
        "/sales/leads/settings/", {"claim_limit": "25", "follow_up_hours": "48"}
    )
    assert response.status_code == 302
    current = leads.lead_settings(workspace)
    assert (current.claim_limit, current.follow_up_hours) == (25, 48)
    assert member_client.get("/sales/leads/settings/").status_code == 403
    assert (
        member_client.post(
            "/sales/leads/settings/", {"claim_limit": "1", "follow_up_hours": "1"}
        ).status_code
        == 403
    )
    assert leads.lead_settings(workspace).claim_limit == 25


def test_web_form_create_and_edit_pages(owner_client: Client, member_client: Client) -> None:
    response = owner_client.post(
        "/sales/leads/settings/forms/new/",
        {
            "name": "Trade show",
            "fields_asked": ["name", "email", "phone"],
            "fields_required": ["name"],
            "allowed_origins": "https://shop.example.com",
            "consent_text": "Send me news",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    form = WebForm.objects.get()
    assert form.fields == [
        {"name": "name", "required": True},
        {"name": "phone", "required": False},
        {"name": "email", "required": False},
        {"name": "consent", "required": False, "text": "Send me news"},
    ]
    assert form.allowed_origins == ["https://shop.example.com"]
    edit = owner_client.get(f"/sales/leads/settings/forms/{form.public_id}/").content.decode()
    assert f"/forms/{form.public_key}/embed.js" in edit
    assert member_client.get(f"/sales/leads/settings/forms/{form.public_id}/").status_code == 403
    no_contact = owner_client.post(
        "/sales/leads/settings/forms/new/", {"name": "Bad", "fields_asked": ["name"]}
    )
    assert "Ask for a phone number or an email address" in no_contact.content.decode()
    assert WebForm.objects.count() == 1


def test_owner_edits_the_lead_and_another_rep_cannot(
    workspace: Workspace, member: Membership, member_client: Client, rival: Membership
) -> None:
    # given
    lead = _lead(workspace, "13911110001", owner=member, name="Old")
    fields = {"name": "New Name", "company_name": "Hengda", "industry": "Retail"}
    # when
    response = member_client.post(f"/sales/leads/{lead.public_id}/edit/", fields)
    refused = _client(rival).post(f"/sales/leads/{lead.public_id}/edit/", {"name": "Hacked"})
    # then
    assert response.status_code == 302
    assert refused.status_code == 404
    lead.refresh_from_db()
    assert (lead.name, lead.company_name, lead.industry) == ("New Name", "Hengda", "Retail")


def test_pages_render_in_chinese(
    workspace: Workspace, member: Membership, member_client: Client
) -> None:
    lead = _lead(workspace, "13911110001", owner=member)
    for path in ("/sales/leads/", "/sales/leads/pool/", f"/sales/leads/{lead.public_id}/"):
        response = member_client.get(path, headers={"Accept-Language": "zh-hans"})
        assert response.status_code == 200, path
        assert '<html lang="zh-hans">' in response.content.decode()


@pytest.mark.parametrize("path", ["/sales/leads/", "/sales/leads/pool/", "/api/v1/leads"])
def test_lead_lists_run_the_same_queries_for_more_leads(
    workspace: Workspace, owner: Membership, rival: Membership, path: str
) -> None:
    # given two leads (one owned, one in the pool), then ten more across owners and the pool
    client = _client(owner)
    _lead(workspace, "13900000001", owner=rival)
    _lead(workspace, "13900000002")
    client.get(path)
    with CaptureQueriesContext(connection) as few:
        assert client.get(path).status_code == 200
    for number in range(10):
        _lead(workspace, f"139000001{number:02d}", owner=(owner, rival, None)[number % 3])
    # when
    with CaptureQueriesContext(connection) as many:
        assert client.get(path).status_code == 200
    # then
    assert len(many) == len(few)
