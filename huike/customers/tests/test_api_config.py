"""Companies, tags and tag groups, custom fields and the identity rules through the API.

Each is shown working for the admin, refused (403, nothing changed) for a sales member whose
role lacks the permission, and invisible (404, nothing changed) from another workspace.
"""

from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, audited
from huike.customers.models import Company, Customer, CustomerSettings, CustomField, Tag, TagGroup
from huike.customers.services import (
    CustomerData,
    company_create,
    custom_field_create,
    customer_create,
    tag_create,
    tag_group_create,
)

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits


# --- companies ------------------------------------------------------------------------------
def test_admin_creates_reads_changes_and_deletes_a_company(
    admin: Client, owner: Membership, owner_actor: Actor
) -> None:
    created = admin.post(
        "/api/v1/companies",
        {
            "name": "Acme Trading",
            "domain": "https://Acme.example.com/",
            "industry": "Retail",
            "size": "50-249",
            "region": "Shanghai",
            "owner_id": str(owner.public_id),
        },
        JSON,
    )
    assert created.status_code == 201, created.content
    company = Company.objects.get(workspace=owner.workspace)
    body = created.json()
    assert body == {
        "id": str(company.public_id),
        "name": "Acme Trading",
        "domain": "acme.example.com",
        "industry": "Retail",
        "size": "50-249",
        "region": "Shanghai",
        "owner": {"id": str(owner.public_id), "email": "owner@acme.test", "full_name": ""},
        "team": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    url = f"/api/v1/companies/{company.public_id}"
    assert admin.get(url).json()["name"] == "Acme Trading"
    changed = admin.patch(url, {"region": "Beijing", "owner_id": None}, JSON).json()
    assert (changed["region"], changed["owner"], changed["industry"]) == ("Beijing", None, "Retail")
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Li", company=company))
    assert admin.delete(url).status_code == 204
    customer.refresh_from_db()
    assert (Company.objects.count(), customer.company) == (0, None)
    assert audited("company.deleted", owner.workspace) == [{}]


def test_company_list_filters_by_name_or_domain_and_pages(
    admin: Client, owner_actor: Actor
) -> None:
    for name, domain in [("Alpha", "alpha.cn"), ("Beta", "b.example.com"), ("Gamma", "g.cn")]:
        company_create(actor=owner_actor, data={"name": name, "domain": domain})
    first = admin.get("/api/v1/companies?limit=2").json()
    second = admin.get(f"/api/v1/companies?limit=2&cursor={first['next']}").json()
    assert [item["name"] for item in first["items"] + second["items"]] == [
        "Alpha",
        "Beta",
        "Gamma",
    ]
    found = admin.get("/api/v1/companies?q=example").json()
    assert [item["name"] for item in found["items"]] == ["Beta"]
    found = admin.get("/api/v1/companies?q=gam").json()
    assert [item["name"] for item in found["items"]] == ["Gamma"]


def test_company_list_costs_the_same_queries_for_any_page_size(
    admin: Client, owner_actor: Actor, django_assert_num_queries: Any
) -> None:
    for number in range(5):
        company_create(actor=owner_actor, data={"name": f"Company {number}"})
    admin.get("/api/v1/workspace")  # first use of the key records last_used_at
    # then a page of 1 and a page of 5 cost the same: the key, the page with owners and teams
    with django_assert_num_queries(2):
        one = admin.get("/api/v1/companies?limit=1").json()
    with django_assert_num_queries(2):
        five = admin.get("/api/v1/companies?limit=5").json()
    assert (len(one["items"]), len(five["items"])) == (1, 5)
    assert {item["owner"]["email"] for item in five["items"]} == {"owner@acme.test"}


def test_company_needs_a_name_and_a_known_size(admin: Client) -> None:
    nameless = admin.post("/api/v1/companies", {"name": ""}, JSON)
    sized = admin.post("/api/v1/companies", {"name": "X", "size": "huge"}, JSON)
    assert (nameless.status_code, sized.status_code) == (422, 422)
    assert [sized.json()["errors"][0]["field"], nameless.json()["errors"][0]["field"]] == [
        "size",
        "name",
    ]
    assert Company.objects.count() == 0


def test_sales_member_sees_only_their_companies_and_cannot_delete(
    member_client: Client, member_actor: Actor, owner_actor: Actor
) -> None:
    mine = company_create(actor=member_actor, data={"name": "Mine"})
    theirs = company_create(actor=owner_actor, data={"name": "Theirs"})
    listed = member_client.get("/api/v1/companies").json()
    assert [item["name"] for item in listed["items"]] == ["Mine"]
    assert member_client.get(f"/api/v1/companies/{theirs.public_id}").status_code == 404
    renamed = member_client.patch(f"/api/v1/companies/{theirs.public_id}", {"name": "Ha"}, JSON)
    deleted = member_client.delete(f"/api/v1/companies/{mine.public_id}")
    assert (renamed.status_code, deleted.status_code) == (404, 403)
    assert sorted(Company.objects.values_list("name", flat=True)) == ["Mine", "Theirs"]


def test_outsider_cannot_read_change_or_delete_a_company(
    outsider_client: Client, owner_actor: Actor
) -> None:
    company = company_create(actor=owner_actor, data={"name": "Ours"})
    url = f"/api/v1/companies/{company.public_id}"
    responses = [
        outsider_client.get(url),
        outsider_client.patch(url, {"name": "Theirs"}, JSON),
        outsider_client.delete(url),
    ]
    assert [response.status_code for response in responses] == [404, 404, 404]
    assert outsider_client.get("/api/v1/companies").json() == {"items": [], "next": None}
    company.refresh_from_db()
    assert company.name == "Ours"


# --- tags and tag groups --------------------------------------------------------------------
def test_admin_manages_tags_and_groups(admin: Client, workspace: Workspace) -> None:
    group = admin.post("/api/v1/tag-groups", {"name": "Interest", "color": "#112233"}, JSON)
    assert group.status_code == 201
    group_id = group.json()["id"]
    created = admin.post(
        "/api/v1/tags", {"name": "Hiking", "color": "#00AA00", "group_id": group_id}, JSON
    )
    assert created.status_code == 201
    tag = Tag.objects.get(workspace=workspace)
    assert created.json() == {
        "id": str(tag.public_id),
        "name": "Hiking",
        "color": "#00aa00",
        "group": {"id": group_id, "name": "Interest"},
        "created_at": created.json()["created_at"],
    }
    url = f"/api/v1/tags/{tag.public_id}"
    moved = admin.patch(url, {"name": "Trekking", "group_id": None}, JSON).json()
    assert (moved["name"], moved["group"]) == ("Trekking", None)
    renamed = admin.patch(f"/api/v1/tag-groups/{group_id}", {"name": "Hobbies"}, JSON).json()
    assert renamed["name"] == "Hobbies"
    assert [item["name"] for item in admin.get("/api/v1/tags").json()["items"]] == ["Trekking"]
    assert [item["name"] for item in admin.get("/api/v1/tag-groups").json()["items"]] == ["Hobbies"]
    assert admin.delete(f"/api/v1/tag-groups/{group_id}").status_code == 204
    assert admin.delete(url).status_code == 204
    assert (Tag.objects.count(), TagGroup.objects.count()) == (0, 0)


def test_tag_list_filters_by_group_and_pages_by_name(admin: Client, owner_actor: Actor) -> None:
    group = tag_group_create(actor=owner_actor, name="Channel")
    for name in ("b", "a", "c"):
        tag_create(actor=owner_actor, name=name, group=group if name != "c" else None)
    first = admin.get("/api/v1/tags?limit=2").json()
    second = admin.get(f"/api/v1/tags?limit=2&cursor={first['next']}").json()
    assert [item["name"] for item in first["items"] + second["items"]] == ["a", "b", "c"]
    grouped = admin.get(f"/api/v1/tags?group={group.public_id}").json()
    assert [item["name"] for item in grouped["items"]] == ["a", "b"]


def test_duplicate_tag_name_conflicts(admin: Client, owner_actor: Actor) -> None:
    tag_create(actor=owner_actor, name="VIP")
    response = admin.post("/api/v1/tags", {"name": "VIP"}, JSON)
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"
    assert Tag.objects.count() == 1


def test_sales_member_reads_tags_but_cannot_change_them(
    member_client: Client, owner_actor: Actor
) -> None:
    tag = tag_create(actor=owner_actor, name="VIP")
    group = tag_group_create(actor=owner_actor, name="G")
    assert [item["name"] for item in member_client.get("/api/v1/tags").json()["items"]] == ["VIP"]
    responses = [
        member_client.post("/api/v1/tags", {"name": "Mine"}, JSON),
        member_client.patch(f"/api/v1/tags/{tag.public_id}", {"name": "Mine"}, JSON),
        member_client.delete(f"/api/v1/tags/{tag.public_id}"),
        member_client.post("/api/v1/tag-groups", {"name": "Mine"}, JSON),
        member_client.patch(f"/api/v1/tag-groups/{group.public_id}", {"name": "Mine"}, JSON),
        member_client.delete(f"/api/v1/tag-groups/{group.public_id}"),
    ]
    assert [response.status_code for response in responses] == [403] * 6
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]
    assert list(TagGroup.objects.values_list("name", flat=True)) == ["G"]


def test_outsider_cannot_see_or_change_tags(outsider_client: Client, owner_actor: Actor) -> None:
    tag = tag_create(actor=owner_actor, name="VIP")
    group = tag_group_create(actor=owner_actor, name="G")
    responses = [
        outsider_client.get(f"/api/v1/tags/{tag.public_id}"),
        outsider_client.patch(f"/api/v1/tags/{tag.public_id}", {"name": "Theirs"}, JSON),
        outsider_client.delete(f"/api/v1/tags/{tag.public_id}"),
        outsider_client.patch(f"/api/v1/tag-groups/{group.public_id}", {"name": "T"}, JSON),
        outsider_client.delete(f"/api/v1/tag-groups/{group.public_id}"),
    ]
    assert [response.status_code for response in responses] == [404] * 5
    assert outsider_client.get("/api/v1/tags").json()["items"] == []
    assert outsider_client.get("/api/v1/tag-groups").json()["items"] == []
    theirs = outsider_client.post(
        "/api/v1/tags", {"name": "X", "group_id": str(group.public_id)}, JSON
    )
    assert theirs.status_code == 422
    assert (Tag.objects.get().name, TagGroup.objects.get().name) == ("VIP", "G")


# --- custom fields --------------------------------------------------------------------------
def test_admin_manages_custom_fields(admin: Client, workspace: Workspace) -> None:
    created = admin.post(
        "/api/v1/custom-fields",
        {"key": "shoe_size", "label": "Shoe size", "type": "choice", "choices": ["38", "39"]},
        JSON,
    )
    assert created.status_code == 201
    field = CustomField.objects.get(workspace=workspace)
    assert created.json() == {
        "id": str(field.public_id),
        "key": "shoe_size",
        "label": "Shoe size",
        "type": "choice",
        "choices": ["38", "39"],
        "is_required": False,
        "is_unique": False,
        "position": 0,
        "created_at": created.json()["created_at"],
    }
    url = f"/api/v1/custom-fields/{field.public_id}"
    changed = admin.patch(url, {"label": "Size", "choices": ["38", "39", "40"]}, JSON).json()
    assert (changed["label"], changed["choices"], changed["key"]) == (
        "Size",
        ["38", "39", "40"],
        "shoe_size",
    )
    listed = admin.get("/api/v1/custom-fields").json()
    assert [item["key"] for item in listed["items"]] == ["shoe_size"]
    assert admin.delete(url).status_code == 204
    assert CustomField.objects.count() == 0
    assert [entry["change"] for entry in audited("custom_field.changed", workspace)] == [
        "created",
        "updated",
        "deleted",
    ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"key": "1st", "label": "X", "type": "text"}, 422, "key"),
        ({"key": "x", "label": "X", "type": "colour"}, 422, "type"),
        ({"key": "x", "label": "X", "type": "choice"}, 422, "choices"),
        ({"key": "taken", "label": "X", "type": "text"}, 409, "key"),
    ],
)
def test_bad_custom_fields_are_refused(
    admin: Client, owner_actor: Actor, body: dict[str, Any], status: int, field: str
) -> None:
    custom_field_create(actor=owner_actor, key="taken", label="Taken", type="text")
    response = admin.post("/api/v1/custom-fields", body, JSON)
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field
    assert list(CustomField.objects.values_list("key", flat=True)) == ["taken"]


def test_sales_member_cannot_configure_fields_and_outsider_sees_none(
    member_client: Client, outsider_client: Client, owner_actor: Actor
) -> None:
    field = custom_field_create(actor=owner_actor, key="size", label="Size", type="text")
    url = f"/api/v1/custom-fields/{field.public_id}"
    refused = [
        member_client.post(
            "/api/v1/custom-fields", {"key": "x", "label": "X", "type": "text"}, JSON
        ),
        member_client.patch(url, {"label": "Mine"}, JSON),
        member_client.delete(url),
    ]
    hidden = [outsider_client.patch(url, {"label": "T"}, JSON), outsider_client.delete(url)]
    assert [response.status_code for response in refused + hidden] == [403, 403, 403, 404, 404]
    assert outsider_client.get("/api/v1/custom-fields").json()["items"] == []
    field.refresh_from_db()
    assert (field.label, CustomField.objects.count()) == ("Size", 1)


# --- identity rules -------------------------------------------------------------------------
def test_settings_show_defaults_then_changes(admin: Client, workspace: Workspace) -> None:
    assert admin.get("/api/v1/customer-settings").json() == {
        "default_region": "CN",
        "identity_strength": {},
        "identity_caps": {},
        "junk_values": {},
        "survivorship": {},
        "auto_merge_strong": True,
        "updated_at": None,
    }
    response = admin.patch(
        "/api/v1/customer-settings",
        {
            "default_region": "hk",
            "identity_strength": {"web_visitor_id": "normal"},
            "identity_caps": {"phone": 2},
            "junk_values": {"phone": ["9123 4567"]},
            "survivorship": {"name": "most_recent"},
            "auto_merge_strong": False,
        },
        JSON,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {name: value for name, value in body.items() if name != "updated_at"} == {
        "default_region": "HK",
        "identity_strength": {"web_visitor_id": "normal"},
        "identity_caps": {"phone": 2},
        "junk_values": {"phone": ["+85291234567"]},
        "survivorship": {"name": "most_recent"},
        "auto_merge_strong": False,
    }
    assert audited("customer_settings.changed", workspace) == [{}]
    # and a later change leaves what it does not name alone
    admin.patch("/api/v1/customer-settings", {"identity_caps": {}}, JSON)
    row = CustomerSettings.objects.get(workspace=workspace)
    assert (row.identity_caps, row.default_region, row.auto_merge_strong) == ({}, "HK", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"default_region": "XX"}, "default_region"),
        ({"identity_caps": {"phone": 0}}, "identity_caps"),
        ({"identity_strength": {"fax": "strong"}}, "identity_strength"),
        ({"survivorship": {"name": "loudest"}}, "survivorship.name"),
    ],
)
def test_bad_settings_are_refused(admin: Client, body: dict[str, Any], field: str) -> None:
    response = admin.patch("/api/v1/customer-settings", body, JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert CustomerSettings.objects.count() == 0


def test_settings_are_refused_without_configure(
    member_client: Client, outsider_client: Client, owner_actor: Actor, workspace: Workspace
) -> None:
    from huike.customers.services import customer_settings_update

    customer_settings_update(actor=owner_actor, default_region="HK")
    read = member_client.get("/api/v1/customer-settings")
    changed = member_client.patch("/api/v1/customer-settings", {"default_region": "CN"}, JSON)
    assert (read.status_code, changed.status_code) == (403, 403)
    # another workspace's admin sees and changes only its own
    theirs = outsider_client.patch("/api/v1/customer-settings", {"default_region": "SG"}, JSON)
    assert theirs.json()["default_region"] == "SG"
    assert CustomerSettings.objects.get(workspace=workspace).default_region == "HK"
    assert Customer.objects.count() == 0
