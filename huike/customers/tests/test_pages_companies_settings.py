"""Company pages and the customers part's settings pages (tags and tag groups, custom fields,
identity rules) — for the owner, members without the permission and an outsider."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.identities import workspace_rules
from huike.customers.models import Company, CustomerSettings, CustomField, Tag, TagGroup
from huike.customers.services import (
    CustomerData,
    company_create,
    custom_field_create,
    customer_create,
    tag_create,
    tag_group_create,
)


def _content(response: Any) -> str:
    return response.content.decode()


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _content(response)))


@pytest.fixture
def acme_company(owner_actor: Actor) -> Company:
    return company_create(
        actor=owner_actor,
        data={"name": "Acme Trading", "domain": "acme-trading.cn", "industry": "Retail"},
    )


@pytest.fixture
def read_only_client(make_member: Callable[..., Membership]) -> Client:
    client = Client()
    client.force_login(make_member("reader@acme.test", "read_only").user)
    return client


# --- companies ------------------------------------------------------------------------------
def test_company_list_searches_by_name_and_domain(
    owner_client: Client, owner_actor: Actor, acme_company: Company
) -> None:
    company_create(actor=owner_actor, data={"name": "Globe Foods", "domain": "globe.cn"})
    assert [c.name for c in owner_client.get("/customers/companies/").context["page"].items] == [
        "Acme Trading",
        "Globe Foods",
    ]
    by_name = owner_client.get("/customers/companies/", {"q": "trad"})
    assert [c.name for c in by_name.context["page"].items] == ["Acme Trading"]
    by_domain = owner_client.get(
        "/customers/companies/", {"q": "GLOBE.cn"}, headers={"HX-Request": "true"}
    )
    assert [c.name for c in by_domain.context["page"].items] == ["Globe Foods"]
    assert _content(by_domain).lstrip().startswith('<div id="company-results">')


def test_company_page_lists_its_customers(
    owner_client: Client, owner_actor: Actor, acme_company: Company
) -> None:
    customer_create(actor=owner_actor, data=CustomerData(name="Buyer Bai", company=acme_company))
    customer_create(actor=owner_actor, data=CustomerData(name="Elsewhere"))
    response = owner_client.get(f"/customers/companies/{acme_company.public_id}/")
    assert response.status_code == 200
    text = _text(response)
    assert "Domain acme-trading.cn Industry Retail" in text
    assert [c.name for c in response.context["customers"].items] == ["Buyer Bai"]
    assert "Elsewhere" not in text


def test_owner_creates_and_edits_a_company(owner_client: Client, owner: Membership) -> None:
    form = owner_client.get("/customers/companies/new/")
    assert form.context["form"].initial == {"owner": owner}
    # when
    created = owner_client.post(
        "/customers/companies/new/",
        {
            "name": "Sino Steel",
            "domain": "https://Sino-Steel.cn/",
            "size": "50-249",
            "owner": str(owner.public_id),
        },
    )
    # then
    company = Company.objects.get()
    assert created["Location"] == f"/customers/companies/{company.public_id}/"
    assert (company.name, company.domain, company.size, company.owner) == (
        "Sino Steel",
        "sino-steel.cn",
        "50-249",
        owner,
    )
    # when
    edited = owner_client.post(
        f"/customers/companies/{company.public_id}/edit/",
        {"name": "Sino Steel Group", "domain": "sino-steel.cn", "region": "Shanghai"},
    )
    # then
    assert edited.status_code == 302
    company.refresh_from_db()
    assert (company.name, company.region, company.owner) == ("Sino Steel Group", "Shanghai", None)


def test_company_form_errors_stay_on_the_fields(owner_client: Client) -> None:
    response = owner_client.post("/customers/companies/new/", {"name": "  ", "size": "huge"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"name", "size"}
    assert not Company.objects.exists()


def test_sales_member_sees_only_own_companies(
    member_client: Client, member_actor: Actor, acme_company: Company
) -> None:
    own = company_create(actor=member_actor, data={"name": "Own Co"})
    assert [c.name for c in member_client.get("/customers/companies/").context["page"].items] == [
        "Own Co"
    ]
    assert member_client.get(f"/customers/companies/{own.public_id}/").status_code == 200
    assert member_client.get(f"/customers/companies/{acme_company.public_id}/").status_code == 404


def test_role_without_manage_cannot_create_or_edit_companies(
    read_only_client: Client, acme_company: Company
) -> None:
    assert read_only_client.get("/customers/companies/new/").status_code == 403
    assert read_only_client.post("/customers/companies/new/", {"name": "X"}).status_code == 403
    edit = f"/customers/companies/{acme_company.public_id}/edit/"
    assert read_only_client.post(edit, {"name": "Renamed"}).status_code == 403
    assert list(Company.objects.values_list("name", flat=True)) == ["Acme Trading"]


def test_outsider_gets_404_on_company_pages_and_an_empty_list(
    outsider_client: Client, acme_company: Company
) -> None:
    base = f"/customers/companies/{acme_company.public_id}/"
    assert outsider_client.get(base).status_code == 404
    assert outsider_client.get(f"{base}edit/").status_code == 404
    assert outsider_client.post(f"{base}edit/", {"name": "Mine"}).status_code == 404
    assert list(outsider_client.get("/customers/companies/").context["page"].items) == []
    acme_company.refresh_from_db()
    assert acme_company.name == "Acme Trading"


# --- tags and tag groups --------------------------------------------------------------------
def test_owner_creates_renames_recolours_and_deletes_tags_and_groups(owner_client: Client) -> None:
    # when a group and a tag in it are created
    owner_client.post(
        "/customers/settings/tags/",
        {"form": "group", "group-name": "Interests", "group-color": "#112233"},
    )
    group = TagGroup.objects.get()
    owner_client.post(
        "/customers/settings/tags/",
        {
            "form": "tag",
            "tag-name": "Tea",
            "tag-color": "#00AA00",
            "tag-group": str(group.public_id),
        },
    )
    tag = Tag.objects.get()
    assert (group.name, group.color, tag.name, tag.color, tag.group) == (
        "Interests",
        "#112233",
        "Tea",
        "#00aa00",
        group,
    )
    page = _text(owner_client.get("/customers/settings/tags/"))
    assert "Tea" in page
    # when renamed and recoloured
    owner_client.post(
        f"/customers/settings/tags/{tag.public_id}/",
        {"name": "Green tea", "color": "#008800", "group": ""},
    )
    owner_client.post(
        f"/customers/settings/tag-groups/{group.public_id}/",
        {"name": "Hobbies", "color": "#445566"},
    )
    # then
    tag.refresh_from_db()
    group.refresh_from_db()
    assert (tag.name, tag.color, tag.group, group.name, group.color) == (
        "Green tea",
        "#008800",
        None,
        "Hobbies",
        "#445566",
    )
    # when deleted
    owner_client.post(f"/customers/settings/tag-groups/{group.public_id}/delete/")
    owner_client.post(f"/customers/settings/tags/{tag.public_id}/delete/")
    # then
    assert (TagGroup.objects.count(), Tag.objects.count()) == (0, 0)


def test_duplicate_tag_name_is_a_form_error(owner_client: Client, owner_actor: Actor) -> None:
    tag_create(actor=owner_actor, name="VIP")
    response = owner_client.post(
        "/customers/settings/tags/", {"form": "tag", "tag-name": "VIP", "tag-color": "#2563eb"}
    )
    assert response.status_code == 200
    assert response.context["tag_form"].errors == {"name": ["A tag with this name exists."]}
    assert Tag.objects.count() == 1


SETTINGS_PAGES = [
    "/customers/settings/tags/",
    "/customers/settings/fields/",
    "/customers/settings/identity/",
]


@pytest.mark.parametrize("url", SETTINGS_PAGES)
def test_owner_sees_each_settings_page(owner_client: Client, url: str) -> None:
    response = owner_client.get(url)
    assert response.status_code == 200
    assert '<nav class="sidenav"' in _content(response)


@pytest.mark.parametrize("url", SETTINGS_PAGES)
def test_member_without_customers_configure_gets_403(member_client: Client, url: str) -> None:
    assert member_client.get(url).status_code == 403
    assert member_client.post(url, {"form": "tag", "tag-name": "X"}).status_code == 403


def test_member_without_configure_changes_no_tag_field_or_rule(
    member_client: Client, owner_actor: Actor
) -> None:
    tag = tag_create(actor=owner_actor, name="VIP")
    group = tag_group_create(actor=owner_actor, name="G")
    field_row = custom_field_create(actor=owner_actor, key="level", label="Level", type="text")
    responses = [
        member_client.post(f"/customers/settings/tags/{tag.public_id}/", {"name": "Hacked"}),
        member_client.post(f"/customers/settings/tags/{tag.public_id}/delete/"),
        member_client.post(f"/customers/settings/tag-groups/{group.public_id}/", {"name": "H"}),
        member_client.post(f"/customers/settings/tag-groups/{group.public_id}/delete/"),
        member_client.get(f"/customers/settings/fields/{field_row.public_id}/"),
        member_client.post(f"/customers/settings/fields/{field_row.public_id}/delete/"),
        member_client.post("/customers/settings/identity/", {"default_region": "US"}),
    ]
    assert [response.status_code for response in responses] == [403] * 7
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]
    assert list(TagGroup.objects.values_list("name", flat=True)) == ["G"]
    assert list(CustomField.objects.values_list("label", flat=True)) == ["Level"]
    assert not CustomerSettings.objects.exists()


def test_outsider_gets_404_for_acme_tags_groups_and_fields(
    outsider_client: Client, owner_actor: Actor
) -> None:
    tag = tag_create(actor=owner_actor, name="VIP")
    group = tag_group_create(actor=owner_actor, name="G")
    field_row = custom_field_create(actor=owner_actor, key="level", label="Level", type="text")
    responses = [
        outsider_client.post(
            f"/customers/settings/tags/{tag.public_id}/", {"name": "Mine", "color": "#000000"}
        ),
        outsider_client.post(f"/customers/settings/tags/{tag.public_id}/delete/"),
        outsider_client.post(
            f"/customers/settings/tag-groups/{group.public_id}/", {"name": "M", "color": "#000000"}
        ),
        outsider_client.post(f"/customers/settings/tag-groups/{group.public_id}/delete/"),
        outsider_client.get(f"/customers/settings/fields/{field_row.public_id}/"),
        outsider_client.post(f"/customers/settings/fields/{field_row.public_id}/delete/"),
    ]
    assert [response.status_code for response in responses] == [404] * 6
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]
    assert list(TagGroup.objects.values_list("name", flat=True)) == ["G"]
    assert list(CustomField.objects.values_list("label", flat=True)) == ["Level"]
    # and the outsider's own settings pages list nothing of acme's
    assert "VIP" not in _text(outsider_client.get("/customers/settings/tags/"))
    assert "Level" not in _text(outsider_client.get("/customers/settings/fields/"))


# --- custom fields --------------------------------------------------------------------------
def test_owner_creates_edits_and_deletes_a_custom_field(owner_client: Client) -> None:
    # when
    created = owner_client.post(
        "/customers/settings/fields/",
        {
            "label": "Member level",
            "key": "member_level",
            "type": "choice",
            "choices": "gold\nsilver\n\nbronze",
            "is_required": "on",
        },
    )
    # then
    assert created["Location"] == "/customers/settings/fields/"
    field_row = CustomField.objects.get()
    assert (
        field_row.key,
        field_row.type,
        field_row.choices,
        field_row.is_required,
        field_row.is_unique,
    ) == ("member_level", "choice", ["gold", "silver", "bronze"], True, False)
    assert "Member level member_level Single choice gold, silver, bronze required" in _text(
        owner_client.get("/customers/settings/fields/")
    )
    # when edited
    owner_client.post(
        f"/customers/settings/fields/{field_row.public_id}/",
        {"label": "Level", "choices": "gold\nplatinum"},
    )
    # then
    field_row.refresh_from_db()
    assert (field_row.label, field_row.choices, field_row.is_required) == (
        "Level",
        ["gold", "platinum"],
        False,
    )
    # when deleted
    owner_client.post(f"/customers/settings/fields/{field_row.public_id}/delete/")
    assert not CustomField.objects.exists()


def test_custom_field_errors_are_on_their_fields(owner_client: Client, owner_actor: Actor) -> None:
    custom_field_create(actor=owner_actor, key="level", label="Level", type="text")
    duplicate = owner_client.post(
        "/customers/settings/fields/", {"label": "Again", "key": "level", "type": "text"}
    )
    no_choices = owner_client.post(
        "/customers/settings/fields/", {"label": "Pick", "key": "pick", "type": "choice"}
    )
    bad_key = owner_client.post(
        "/customers/settings/fields/", {"label": "Bad", "key": "1-bad", "type": "text"}
    )
    assert duplicate.context["form"].errors == {"key": ["A field with this key exists."]}
    assert no_choices.context["form"].errors == {"choices": ["Give at least one choice."]}
    assert bad_key.context["form"].errors == {
        "key": ["Use letters, digits and _ and start with a letter."]
    }
    assert CustomField.objects.count() == 1


def test_text_field_edit_page_has_no_choices(owner_client: Client, owner_actor: Actor) -> None:
    field_row = custom_field_create(actor=owner_actor, key="city", label="City", type="text")
    response = owner_client.get(f"/customers/settings/fields/{field_row.public_id}/")
    assert list(response.context["form"].fields) == ["label", "is_required"]


# --- identity rules -------------------------------------------------------------------------
def _rules_post(**changes: str) -> dict[str, str]:
    form = {"default_region": "CN", "auto_merge_strong": "on"}
    from huike.customers.rules import IDENTITY_KINDS, SURVIVORSHIP_FIELDS, WorkspaceRules

    defaults = WorkspaceRules()
    for kind in IDENTITY_KINDS:
        form[f"cap_{kind}"] = str(defaults.cap_of(kind))
        form[f"junk_{kind}"] = ""
    for name in SURVIVORSHIP_FIELDS:
        form[f"survivorship_{name}"] = defaults.survivorship[name]
    form.update(changes)
    return form


def test_owner_saves_identity_rules(owner_client: Client, owner_actor: Actor) -> None:
    page = owner_client.get("/customers/settings/identity/")
    assert page.context["form"].initial["cap_phone"] == 5
    assert page.context["form"].initial["survivorship_name"] == "most_complete"
    # when
    response = owner_client.post(
        "/customers/settings/identity/",
        _rules_post(
            default_region="hk",
            auto_merge_strong="",
            cap_phone="2",
            junk_phone="9123 4567\n",
            junk_email="Nobody@Example.COM",
            survivorship_address="most_recent",
        ),
    )
    # then
    assert response["Location"] == "/customers/settings/identity/"
    rules = workspace_rules(owner_actor.workspace.pk)
    assert (rules.default_region, rules.auto_merge_strong, rules.cap_of("phone")) == (
        "HK",
        False,
        2,
    )
    assert rules.is_junk("phone", "+85291234567")
    assert rules.is_junk("email", "nobody@example.com")
    assert rules.is_junk("email", "test@test.com")  # the built-in list still applies
    assert rules.survivorship["address"] == "most_recent"
    # and the page shows the workspace's own additions only
    again = owner_client.get("/customers/settings/identity/")
    assert again.context["form"].initial["junk_email"] == "nobody@example.com"


def test_identity_rules_errors_change_nothing(owner_client: Client) -> None:
    response = owner_client.post(
        "/customers/settings/identity/", _rules_post(default_region="XX", cap_phone="0")
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"cap_phone"}
    response = owner_client.post("/customers/settings/identity/", _rules_post(default_region="XX"))
    assert response.context["form"].errors == {"default_region": ["Not a region code, e.g. CN."]}
    assert not CustomerSettings.objects.exists()
