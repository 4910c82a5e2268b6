"""The customers endpoints: create, list with filters and cursor, detail with masking and the
audited reveal, patch, delete, upsert by identity, identities, timeline, consent, tags and
bulk actions.

Each is shown working, refused (403, nothing changed) for a role without the permission,
invisible (404) for a sales member on someone else's customer and for another workspace.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, audited, key_client
from huike.core.audit import AuditAction
from huike.core.crypto import workspace_keys
from huike.customers.identities import identity_value
from huike.customers.models import (
    ConsentRecord,
    Customer,
    CustomerTag,
    Event,
    Identity,
    Tag,
)
from huike.customers.services import (
    CustomerData,
    company_create,
    consent_record,
    custom_field_create,
    customer_create,
    customer_tags_add,
    tag_create,
)
from huike.customers.tests.conftest import keys_of

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits

MakeCustomer = Callable[..., Customer]
MASKED_PHONE = "+86*******5678"  # +8613712345678


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


@pytest.fixture
def vip(owner_actor: Actor) -> Tag:
    return tag_create(actor=owner_actor, name="VIP", color="#ff0000")


@pytest.fixture
def members_customer(member_actor: Actor) -> Customer:
    """A customer the sales member owns."""
    return customer_create(
        actor=member_actor,
        data=CustomerData(name="Mine"),
        identity_keys=keys_of(phone="13900000001"),
    )


# --- create ---------------------------------------------------------------------------------
def test_admin_creates_customer_with_contacts_identities_tags_and_fields(
    admin: Client, owner: Membership, owner_actor: Actor, vip: Tag
) -> None:
    # given a company and a custom field
    company = company_create(actor=owner_actor, data={"name": "Acme Trading"})
    custom_field_create(actor=owner_actor, key="vip_level", label="VIP level", type="number")
    # when
    response = admin.post(
        "/api/v1/customers",
        {
            "name": "王小明",
            "phone": "137 1234 5678",
            "email": "Wang.Xiaoming@Example.com",
            "identities": [
                {"kind": "wechat_unionid", "value": "o6_union_1", "verified": True},
                {"kind": "phone", "value": "13912345678"},
            ],
            "gender": "male",
            "locale": "zh-hans",
            "lifecycle_stage": "lead",
            "owner_id": str(owner.public_id),
            "company_id": str(company.public_id),
            "tag_ids": [str(vip.public_id)],
            "custom_fields": {"vip_level": "3"},
            "birthday": "1990-05-01",
            "address": "上海市浦东新区",
        },
        JSON,
    )
    # then
    assert response.status_code == 201, response.content
    customer = Customer.objects.get(workspace=owner.workspace)
    body = response.json()
    assert body == {
        "id": str(customer.public_id),
        "status": "active",
        "merged_into": None,
        "name": "王小明",
        "phone": MASKED_PHONE,
        "email": "w***@example.com",
        "phones": [MASKED_PHONE, "+86*******5678"],
        "emails": ["w***@example.com"],
        "birthday": "****-**-**",
        "address": "上*****区",
        "id_number": "",
        "gender": "male",
        "locale": "zh-hans",
        "lifecycle_stage": "lead",
        "owner": {"id": str(owner.public_id), "email": "owner@acme.test", "full_name": ""},
        "team": None,
        "company": {"id": str(company.public_id), "name": "Acme Trading"},
        "tags": [{"id": str(vip.public_id), "name": "VIP", "color": "#ff0000"}],
        "custom_fields": {"vip_level": 3},
        "source_channel": "",
        "first_seen_at": body["first_seen_at"],
        "last_seen_at": body["last_seen_at"],
        "last_interaction_at": None,
        "last_purchase_at": None,
        "order_count": 0,
        "total_spent": "0.00",
        "rfm": {"recency": None, "frequency": None, "monetary": None},
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    keys = workspace_keys(owner.workspace.pk)
    stored = sorted(
        (identity.kind, identity_value(identity, keys), identity.is_verified)
        for identity in Identity.objects.filter(customer=customer)
    )
    assert stored == [
        ("email", "wang.xiaoming@example.com", False),
        ("phone", "+8613712345678", False),
        ("phone", "+8613912345678", False),
        ("wechat_unionid", "o6_union_1", True),
    ]


def test_an_identity_of_another_customer_is_a_conflict(
    admin: Client, make_customer: MakeCustomer
) -> None:
    make_customer(name="First", phone="13712345678")
    response = admin.post("/api/v1/customers", {"name": "Second", "phone": "+8613712345678"}, JSON)
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"field": "phone", "message": "This phone already belongs to another customer."}
    ]
    assert list(Customer.objects.values_list("name", flat=True)) == ["First"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"identities": [{"kind": "myspace_id", "value": "x"}]}, "identities.0"),
        ({"tag_ids": ["6f1c4a8e-0000-4000-8000-000000000000"]}, "tag_ids"),
        ({"owner_id": "6f1c4a8e-0000-4000-8000-000000000000"}, "owner_id"),
        ({"custom_fields": {"nope": 1}}, "custom_fields.nope"),
        ({"lifecycle_stage": "prospect"}, "lifecycle_stage"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_created(
    admin: Client, body: dict[str, Any], field: str
) -> None:
    response = admin.post("/api/v1/customers", {"name": "X", **body}, JSON)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert Customer.objects.count() == 0


def test_a_tag_of_another_workspace_is_a_bad_field(admin: Client, outsider_actor: Actor) -> None:
    theirs = tag_create(actor=outsider_actor, name="Theirs")
    response = admin.post(
        "/api/v1/customers", {"name": "X", "tag_ids": [str(theirs.public_id)]}, JSON
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "tag_ids"
    assert Customer.objects.count() == 0


def test_sales_member_creates_a_customer_they_own(
    member_client: Client, member: Membership
) -> None:
    response = member_client.post("/api/v1/customers", {"name": "Lead", "email": "a@b.cn"}, JSON)
    assert response.status_code == 201
    assert response.json()["owner"] == {
        "id": str(member.public_id),
        "email": "member@acme.test",
        "full_name": "",
    }
    assert Customer.objects.get().owner == member


def test_role_without_manage_cannot_create(workspace: Workspace) -> None:
    response = key_client(workspace, "read_only").post("/api/v1/customers", {"name": "X"}, JSON)
    assert response.status_code == 403
    assert Customer.objects.count() == 0


# --- list -----------------------------------------------------------------------------------
def test_list_pages_newest_first_through_every_customer_once(
    admin: Client, make_customer: MakeCustomer
) -> None:
    # given five customers
    made = [make_customer(name=f"C{number}", phone=f"1391234000{number}") for number in range(5)]
    # when the list is read two at a time
    pages, url = [], "/api/v1/customers?limit=2"
    while True:
        body = admin.get(url).json()
        pages.append([item["name"] for item in body["items"]])
        if body["next"] is None:
            break
        url = f"/api/v1/customers?limit=2&cursor={body['next']}"
    # then every customer comes once, newest first, and sort=name orders by name
    assert pages == [["C4", "C3"], ["C2", "C1"], ["C0"]]
    by_name = admin.get("/api/v1/customers?sort=name&limit=200").json()
    assert _ids(by_name) == [str(customer.public_id) for customer in made]


def test_list_filters(
    admin: Client, owner_actor: Actor, member: Membership, make_customer: MakeCustomer, vip: Tag
) -> None:
    # given customers that differ in one attribute each
    custom_field_create(actor=owner_actor, key="vip", label="VIP", type="boolean")
    plain = make_customer(name="Plain Person", phone="13912340001")
    tagged = make_customer(name="Tagged", email="tagged@example.com")
    customer_tags_add(actor=owner_actor, customers=[tagged], tags=[vip])
    unionid = make_customer(name="Union", wechat_unionid="o6_abc")
    lead = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Lead", lifecycle_stage="lead", owner=member),
    )
    unassigned = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Nobody's", owner=None, custom_fields={"vip": "yes"}),
    )

    def names(query: str) -> list[str]:
        response = admin.get(f"/api/v1/customers?{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["items"]]

    # then each filter finds exactly its customer
    assert names("phone=139-1234-0001") == [plain.name]
    assert names("email=TAGGED@example.com") == [tagged.name]
    assert names("q=%2B8613912340001") == [plain.name]
    assert names("q=plain") == [plain.name]
    assert names("identity=wechat_unionid:o6_abc") == [unionid.name]
    assert names(f"tag={vip.public_id}") == [tagged.name]
    assert names(f"owner={member.public_id}") == [lead.name]
    assert names("lifecycle_stage=lead") == [lead.name]
    assert names("unassigned=true") == [unassigned.name]
    assert names("field=vip:true") == [unassigned.name]
    assert names("created_from=2000-01-01&sort=name") == [
        "Lead",
        "Nobody's",
        "Plain Person",
        "Tagged",
        "Union",
    ]
    assert names("created_to=2000-01-01") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("phone=12", "phone"),
        ("identity=nonsense", "identity"),
        ("field=unknown:1", "field"),
        ("sort=-phone", "sort"),
        ("cursor=not-a-cursor", "cursor"),
        ("limit=201", "limit"),
    ],
)
def test_bad_list_filters_are_named(admin: Client, query: str, field: str) -> None:
    response = admin.get(f"/api/v1/customers?{query}")
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_list_costs_the_same_queries_for_any_page_size(
    admin: Client,
    owner_actor: Actor,
    make_customer: MakeCustomer,
    vip: Tag,
    django_assert_num_queries: Any,
) -> None:
    # given customers with phones, emails and tags
    customers = [
        make_customer(name=f"C{n}", phone=f"1391234100{n}", email=f"c{n}@example.com")
        for n in range(8)
    ]
    customer_tags_add(actor=owner_actor, customers=customers, tags=[vip])
    admin.get("/api/v1/workspace")  # first use of the key records last_used_at
    # when pages of 2 and of 8 are read, then both cost: key, data keys, page, contacts, tags
    with django_assert_num_queries(5):
        small = admin.get("/api/v1/customers?limit=2").json()
    with django_assert_num_queries(5):
        large = admin.get("/api/v1/customers?limit=8").json()
    assert (len(small["items"]), len(large["items"])) == (2, 8)
    assert {item["tags"][0]["name"] for item in large["items"]} == {"VIP"}
    assert all(item["email"].endswith("***@example.com") for item in large["items"])


def test_sales_member_lists_only_their_own_customers(
    member_client: Client, members_customer: Customer, make_customer: MakeCustomer
) -> None:
    make_customer(name="The owner's", phone="13912340009")
    body = member_client.get("/api/v1/customers").json()
    assert _ids(body) == [str(members_customer.public_id)]


def test_outsider_lists_none_of_the_workspaces_customers(
    outsider_client: Client, make_customer: MakeCustomer
) -> None:
    make_customer(name="Ours", phone="13912340009")
    body = outsider_client.get("/api/v1/customers").json()
    assert body == {"items": [], "next": None}
    by_phone = outsider_client.get("/api/v1/customers?phone=13912340009").json()
    assert by_phone["items"] == []


# --- detail, masking and reveal -------------------------------------------------------------
@pytest.fixture
def revealed(owner_actor: Actor, member: Membership) -> Customer:
    """A customer of the sales member with a phone, an e-mail and a birthday."""
    import datetime as dt

    return customer_create(
        actor=owner_actor,
        data=CustomerData(name="Li", owner=member, birthday=dt.date(1990, 5, 1)),
        identity_keys=keys_of(phone="13712345678", email="li@example.com"),
    )


def test_detail_is_masked_by_default(member_client: Client, revealed: Customer) -> None:
    body = member_client.get(f"/api/v1/customers/{revealed.public_id}").json()
    assert (body["phone"], body["email"], body["birthday"]) == (
        MASKED_PHONE,
        "l***@example.com",
        "****-**-**",
    )
    assert audited(AuditAction.PII_REVEALED, revealed.workspace) == []


def test_reveal_shows_plain_values_and_audits_each_field(
    member_client: Client, revealed: Customer
) -> None:
    # when the sales member (pii.reveal) reveals their customer
    response = member_client.get(f"/api/v1/customers/{revealed.public_id}?reveal=true")
    # then the values are plain and each field is one audit entry
    body = response.json()
    assert (body["phone"], body["email"], body["birthday"]) == (
        "+8613712345678",
        "li@example.com",
        "1990-05-01",
    )
    assert audited(AuditAction.PII_REVEALED, revealed.workspace) == [
        {"field": "phone"},
        {"field": "email"},
        {"field": "birthday"},
    ]


def test_role_without_reveal_gets_403_and_nothing_is_audited(
    workspace: Workspace, revealed: Customer
) -> None:
    finance = key_client(workspace, "finance")
    masked = finance.get(f"/api/v1/customers/{revealed.public_id}")
    response = finance.get(f"/api/v1/customers/{revealed.public_id}?reveal=true")
    assert (masked.status_code, response.status_code) == (200, 403)
    assert masked.json()["phone"] == MASKED_PHONE
    assert audited(AuditAction.PII_REVEALED, workspace) == []


def test_amounts_show_only_to_roles_that_see_amounts(
    workspace: Workspace, revealed: Customer
) -> None:
    url = f"/api/v1/customers/{revealed.public_id}"
    finance = key_client(workspace, "finance").get(url).json()
    read_only = key_client(workspace, "read_only").get(url).json()
    assert (finance["total_spent"], read_only["total_spent"]) == ("0.00", None)
    sorted_by_spend = key_client(workspace, "read_only").get("/api/v1/customers?sort=-total_spent")
    assert sorted_by_spend.status_code == 403


def test_sales_member_cannot_see_or_change_someone_elses_customer(
    member_client: Client, make_customer: MakeCustomer
) -> None:
    # given a customer of the owner
    theirs = make_customer(name="Owner's", phone="13912340009")
    base = f"/api/v1/customers/{theirs.public_id}"
    # when the sales member tries every endpoint on it
    responses = [
        member_client.get(base),
        member_client.get(f"{base}?reveal=true"),
        member_client.patch(base, {"name": "Mine now"}, JSON),
        member_client.get(f"{base}/timeline"),
        member_client.get(f"{base}/identities"),
        member_client.post(f"{base}/identities", {"kind": "email", "value": "x@y.cn"}, JSON),
        member_client.get(f"{base}/consents"),
        member_client.post(f"{base}/consents", {"purpose": "marketing", "status": "granted"}, JSON),
    ]
    # then it does not exist for them, and nothing changed or was revealed
    assert [response.status_code for response in responses] == [404] * 8
    theirs.refresh_from_db()
    assert theirs.name == "Owner's"
    assert Identity.objects.filter(customer=theirs).count() == 1
    assert ConsentRecord.objects.count() == 0
    assert audited(AuditAction.PII_REVEALED, theirs.workspace) == []


def test_sales_member_cannot_delete_even_their_own_customer(
    member_client: Client, members_customer: Customer
) -> None:
    response = member_client.delete(f"/api/v1/customers/{members_customer.public_id}")
    assert response.status_code == 403
    assert Customer.objects.filter(pk=members_customer.pk).exists()


def test_outsider_gets_404_on_every_customer_endpoint(
    outsider_client: Client, make_customer: MakeCustomer, vip: Tag
) -> None:
    # given a customer of Acme
    customer = make_customer(name="Ours", phone="13912340009")
    identity = Identity.objects.get(customer=customer)
    base = f"/api/v1/customers/{customer.public_id}"
    # when Globex's admin tries every endpoint on it
    responses = [
        outsider_client.get(base),
        outsider_client.get(f"{base}?reveal=true"),
        outsider_client.patch(base, {"name": "Theirs"}, JSON),
        outsider_client.delete(base),
        outsider_client.get(f"{base}/timeline"),
        outsider_client.get(f"{base}/identities"),
        outsider_client.post(f"{base}/identities", {"kind": "email", "value": "x@y.cn"}, JSON),
        outsider_client.delete(f"{base}/identities/{identity.public_id}"),
        outsider_client.get(f"{base}/consents"),
        outsider_client.post(
            f"{base}/consents", {"purpose": "marketing", "status": "granted"}, JSON
        ),
        outsider_client.post(f"{base}/tags", {"tag_ids": [str(vip.public_id)]}, JSON),
        outsider_client.delete(f"{base}/tags/{vip.public_id}"),
    ]
    # then it does not exist for them, and nothing changed
    assert [response.status_code for response in responses] == [404] * 12
    customer.refresh_from_db()
    assert customer.name == "Ours"
    assert Identity.objects.filter(customer=customer).count() == 1
    assert CustomerTag.objects.count() == ConsentRecord.objects.count() == 0


# --- patch and delete -----------------------------------------------------------------------
def test_patch_changes_what_is_sent_and_null_clears(
    admin: Client, owner: Membership, make_customer: MakeCustomer
) -> None:
    # given a customer the owner owns
    customer = make_customer(name="Before", phone="13912340009")
    assert customer.owner == owner
    # when the name and stage change and the owner is cleared
    response = admin.patch(
        f"/api/v1/customers/{customer.public_id}",
        {"name": "After", "owner_id": None, "lifecycle_stage": "customer"},
        JSON,
    )
    # then only those fields changed, and the change is on the timeline
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["owner"], body["lifecycle_stage"], body["phone"]) == (
        "After",
        None,
        "customer",
        "+86*******0009",
    )
    customer.refresh_from_db()
    assert (customer.name, customer.owner, customer.locale) == ("After", None, "")
    event = Event.objects.filter(customer=customer, kind="customer.updated").get()
    assert event.properties["fields"] == ["name", "lifecycle_stage", "owner"]


def test_patch_refuses_identities_and_merged_customers(
    admin: Client, owner_actor: Actor, make_customer: MakeCustomer
) -> None:
    from huike.customers.merging import customer_merge

    survivor = make_customer(name="Survivor", phone="13912340001")
    absorbed = make_customer(name="Absorbed", phone="13912340002")
    with_phone = admin.patch(
        f"/api/v1/customers/{survivor.public_id}", {"phone": "13912340003"}, JSON
    )
    assert with_phone.status_code == 422
    assert with_phone.json()["errors"][0]["field"] == "phone"
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    merged = admin.patch(f"/api/v1/customers/{absorbed.public_id}", {"name": "Back"}, JSON)
    assert merged.status_code == 409
    absorbed.refresh_from_db()
    assert absorbed.name == "Absorbed"
    assert Identity.objects.filter(customer=survivor).count() == 2


def test_admin_deletes_a_customer(admin: Client, make_customer: MakeCustomer) -> None:
    customer = make_customer(name="Gone", phone="13912340009")
    response = admin.delete(f"/api/v1/customers/{customer.public_id}")
    assert (response.status_code, response.content) == (204, b"")
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert audited("customer.deleted", customer.workspace) == [{"absorbed": []}]


# --- upsert ---------------------------------------------------------------------------------
def test_upsert_creates_then_updates_the_same_customer(admin: Client) -> None:
    # when an integrator upserts by its own id twice, the second time with a phone
    first = admin.post(
        "/api/v1/customers/upsert",
        {"name": "Zhang", "identities": [{"kind": "crm:sap", "value": "C-1001"}]},
        JSON,
    )
    second = admin.post(
        "/api/v1/customers/upsert",
        {
            "name": "Zhang San",
            "phone": "13712345678",
            "identities": [{"kind": "crm:sap", "value": "C-1001"}],
        },
        JSON,
    )
    # then the first created the customer and the second updated it
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    customer = Customer.objects.get()
    assert customer.name == "Zhang San"
    assert sorted(Identity.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "crm:sap",
        "phone",
    ]


def test_upsert_with_identities_of_two_customers_conflicts(
    admin: Client, make_customer: MakeCustomer
) -> None:
    make_customer(name="A", phone="13712345678")
    make_customer(name="B", email="b@example.com")
    response = admin.post(
        "/api/v1/customers/upsert",
        {"name": "Both", "phone": "13712345678", "email": "b@example.com"},
        JSON,
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "identities"
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["A", "B"]


def test_upsert_needs_an_identity(admin: Client) -> None:
    response = admin.post("/api/v1/customers/upsert", {"name": "Nobody"}, JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "identities"
    assert Customer.objects.count() == 0


def test_sales_member_upsert_does_not_touch_someone_elses_customer(
    member_client: Client, make_customer: MakeCustomer
) -> None:
    theirs = make_customer(name="Owner's", phone="13712345678")
    response = member_client.post(
        "/api/v1/customers/upsert", {"name": "Mine", "phone": "13712345678"}, JSON
    )
    assert response.status_code == 409
    theirs.refresh_from_db()
    assert (theirs.name, Customer.objects.count()) == ("Owner's", 1)


# --- identities -----------------------------------------------------------------------------
def test_identities_are_listed_masked_added_and_removed(
    admin: Client, make_customer: MakeCustomer
) -> None:
    # given a customer with a phone
    customer = make_customer(name="Li", phone="13712345678")
    base = f"/api/v1/customers/{customer.public_id}/identities"
    # when an openid is added, then it is shown masked beside the phone
    added = admin.post(base, {"kind": "wechat_openid:wx1234", "value": "oOpenId42"}, JSON)
    assert added.status_code == 201
    assert added.json()["value"] == "o*******2"
    listed = admin.get(base).json()
    assert [(item["kind"], item["value"]) for item in listed["items"]] == [
        ("phone", MASKED_PHONE),
        ("wechat_openid:wx1234", "o*******2"),
    ]
    # and adding it again conflicts; removing it leaves the phone
    again = admin.post(base, {"kind": "wechat_openid:wx1234", "value": "oOpenId42"}, JSON)
    assert again.status_code == 409
    removed = admin.delete(f"{base}/{added.json()['id']}")
    assert removed.status_code == 204
    assert list(Identity.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "phone"
    ]
    assert [
        event.properties.get("identities_added") or event.properties.get("identities_removed")
        for event in Event.objects.filter(customer=customer, kind="customer.updated").order_by("pk")
    ] == [["wechat_openid:wx1234"], ["wechat_openid:wx1234"]]


def test_identity_reveal_is_audited_per_identity(member_client: Client, revealed: Customer) -> None:
    response = member_client.get(f"/api/v1/customers/{revealed.public_id}/identities?reveal=true")
    assert [item["value"] for item in response.json()["items"]] == [
        "li@example.com",
        "+8613712345678",
    ]
    assert audited(AuditAction.PII_REVEALED, revealed.workspace) == [
        {"field": "identity:email"},
        {"field": "identity:phone"},
    ]


def test_identity_reveal_without_permission_is_403_and_unaudited(
    workspace: Workspace, revealed: Customer
) -> None:
    response = key_client(workspace, "analyst").get(
        f"/api/v1/customers/{revealed.public_id}/identities?reveal=true"
    )
    assert response.status_code == 403
    assert audited(AuditAction.PII_REVEALED, workspace) == []


def test_an_identity_of_another_customer_cannot_be_removed_through_this_one(
    admin: Client, make_customer: MakeCustomer
) -> None:
    first = make_customer(name="A", phone="13712345678")
    second = make_customer(name="B", phone="13912345678")
    identity = Identity.objects.get(customer=second)
    response = admin.delete(f"/api/v1/customers/{first.public_id}/identities/{identity.public_id}")
    assert response.status_code == 404
    assert Identity.objects.filter(pk=identity.pk).exists()


# --- timeline -------------------------------------------------------------------------------
def test_timeline_pages_newest_first_and_filters_by_kind_and_channel(
    admin: Client, make_customer: MakeCustomer
) -> None:
    import datetime as dt

    from huike.customers.events import event_record

    # given four events an hour apart on two channels
    customer = make_customer(name="Li", phone="13712345678")
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    for hour, (kind, channel) in enumerate(
        [
            ("message.received", "wechat"),
            ("page.viewed", "web"),
            ("message.sent", "wechat"),
            ("order.paid", "web"),
        ]
    ):
        event_record(
            customer=customer,
            kind=kind,
            channel=channel,
            occurred_at=start + dt.timedelta(hours=hour),
        )
    base = f"/api/v1/customers/{customer.public_id}/timeline"
    # when messages and orders are read two at a time, then newest first, filtered
    first = admin.get(f"{base}?limit=2&kind=message.*&kind=order.paid").json()
    second = admin.get(f"{base}?limit=2&kind=message.*&kind=order.paid&cursor={first['next']}")
    assert [item["kind"] for item in first["items"]] == ["order.paid", "message.sent"]
    assert [item["kind"] for item in second.json()["items"]] == ["message.received"]
    assert second.json()["next"] is None
    web = admin.get(f"{base}?channel=web").json()
    assert [item["kind"] for item in web["items"]] == ["order.paid", "page.viewed"]
    assert web["items"][0]["occurred_at"] == "2026-03-01T12:00:00Z"


# --- consent --------------------------------------------------------------------------------
def test_consent_is_recorded_and_shown_with_its_history(
    member_client: Client, member_actor: Actor, member: Membership, members_customer: Customer
) -> None:
    # given a grant recorded earlier
    consent_record(
        actor=member_actor,
        customer=members_customer,
        purpose="marketing",
        status="granted",
        channel="sms",
        source="form",
    )
    base = f"/api/v1/customers/{members_customer.public_id}/consents"
    # when the customer withdraws it
    response = member_client.post(
        base,
        {
            "purpose": "marketing",
            "status": "withdrawn",
            "channel": "sms",
            "source": "STOP reply",
            "evidence": "TD",
        },
        JSON,
    )
    # then the withdrawal is a new record, and the current state follows it
    assert response.status_code == 201
    record = ConsentRecord.objects.get(status="withdrawn")
    assert response.json() == {
        "id": str(record.public_id),
        "purpose": "marketing",
        "channel": "sms",
        "status": "withdrawn",
        "recorded_at": response.json()["recorded_at"],
        "source": "STOP reply",
        "evidence": "TD",
        "recorded_by": {
            "id": str(member.public_id),
            "email": "member@acme.test",
            "full_name": "",
        },
        "created_at": response.json()["created_at"],
    }
    body = member_client.get(base).json()
    assert [(state["purpose"], state["channel"], state["status"]) for state in body["current"]] == [
        ("marketing", "sms", "withdrawn")
    ]
    assert [item["status"] for item in body["history"]] == ["withdrawn", "granted"]


def test_consent_with_an_unknown_purpose_is_refused(
    admin: Client, make_customer: MakeCustomer
) -> None:
    customer = make_customer(name="Li", phone="13712345678")
    response = admin.post(
        f"/api/v1/customers/{customer.public_id}/consents",
        {"purpose": "telepathy", "status": "granted"},
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "purpose"
    assert ConsentRecord.objects.count() == 0


# --- tags and bulk actions ------------------------------------------------------------------
def test_customer_is_tagged_and_untagged(
    admin: Client, make_customer: MakeCustomer, vip: Tag
) -> None:
    customer = make_customer(name="Li", phone="13712345678")
    base = f"/api/v1/customers/{customer.public_id}/tags"
    tagged = admin.post(base, {"tag_ids": [str(vip.public_id)]}, JSON)
    assert tagged.status_code == 200
    assert tagged.json()["tags"] == [{"id": str(vip.public_id), "name": "VIP", "color": "#ff0000"}]
    untagged = admin.delete(f"{base}/{vip.public_id}")
    assert untagged.status_code == 204
    assert CustomerTag.objects.count() == 0


def test_bulk_tags_untags_and_assigns_visible_customers(
    admin: Client, member: Membership, make_customer: MakeCustomer, outsider_actor: Actor, vip: Tag
) -> None:
    # given three customers of Acme and one of Globex
    ours = [make_customer(name=f"C{n}", phone=f"1391234000{n}") for n in range(3)]
    theirs = customer_create(actor=outsider_actor, data=CustomerData(name="Theirs"))
    ids = [str(customer.public_id) for customer in ours]
    # when all four are tagged, then Acme's are and Globex's is reported not found
    tagged = admin.post(
        "/api/v1/customers/bulk",
        {
            "action": "tag",
            "customer_ids": [*ids, str(theirs.public_id)],
            "tag_ids": [str(vip.public_id)],
        },
        JSON,
    )
    assert tagged.json() == {
        "action": "tag",
        "processed": 3,
        "changed": 3,
        "not_found": [str(theirs.public_id)],
    }
    assert CustomerTag.objects.filter(tag=vip).count() == 3
    # and untagging and assigning act on the ones named
    untagged = admin.post(
        "/api/v1/customers/bulk",
        {"action": "untag", "customer_ids": ids[:1], "tag_ids": [str(vip.public_id)]},
        JSON,
    )
    assert untagged.json()["changed"] == 1
    assigned = admin.post(
        "/api/v1/customers/bulk",
        {"action": "assign", "customer_ids": ids, "owner_id": str(member.public_id)},
        JSON,
    )
    assert (assigned.status_code, assigned.json()["changed"]) == (200, 3)
    assert {customer.owner_id for customer in Customer.objects.filter(name__startswith="C")} == {
        member.pk
    }
    theirs.refresh_from_db()
    assert theirs.owner != member


def test_bulk_takes_at_most_500_customers(admin: Client, vip: Tag) -> None:
    ids = [f"6f1c4a8e-0000-4000-8000-{number:012d}" for number in range(501)]
    response = admin.post(
        "/api/v1/customers/bulk",
        {"action": "tag", "customer_ids": ids, "tag_ids": [str(vip.public_id)]},
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer_ids"


def test_sales_member_bulk_skips_customers_of_others(
    member_client: Client, members_customer: Customer, make_customer: MakeCustomer, vip: Tag
) -> None:
    theirs = make_customer(name="Owner's", phone="13912340009")
    response = member_client.post(
        "/api/v1/customers/bulk",
        {
            "action": "tag",
            "customer_ids": [str(members_customer.public_id), str(theirs.public_id)],
            "tag_ids": [str(vip.public_id)],
        },
        JSON,
    )
    assert response.json()["not_found"] == [str(theirs.public_id)]
    assert list(CustomerTag.objects.values_list("customer_id", flat=True)) == [members_customer.pk]


def test_openapi_lists_the_customer_endpoints(db: None) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    operations = {
        path.removeprefix("/api/v1"): sorted(methods) for path, methods in schema["paths"].items()
    }
    expected = {
        "/customers": ["get", "post"],
        "/customers/upsert": ["post"],
        "/customers/bulk": ["post"],
        "/customers/merge": ["post"],
        "/customers/{customer_id}": ["delete", "get", "patch"],
        "/customers/{customer_id}/timeline": ["get"],
        "/customers/{customer_id}/identities": ["get", "post"],
        "/customers/{customer_id}/identities/{identity_id}": ["delete"],
        "/customers/{customer_id}/consents": ["get", "post"],
        "/customers/{customer_id}/tags": ["post"],
        "/customers/{customer_id}/tags/{tag_id}": ["delete"],
        "/merges": ["get"],
        "/merges/{merge_id}": ["get"],
        "/merges/{merge_id}/undo": ["post"],
        "/merge-candidates": ["get"],
        "/merge-candidates/{candidate_id}/accept": ["post"],
        "/merge-candidates/{candidate_id}/dismiss": ["post"],
        "/companies": ["get", "post"],
        "/companies/{company_id}": ["delete", "get", "patch"],
        "/tags": ["get", "post"],
        "/tags/{tag_id}": ["delete", "get", "patch"],
        "/tag-groups": ["get", "post"],
        "/tag-groups/{group_id}": ["delete", "patch"],
        "/custom-fields": ["get", "post"],
        "/custom-fields/{field_id}": ["delete", "patch"],
        "/customer-settings": ["get", "patch"],
        "/events": ["post"],
    }
    assert {path: operations.get(path) for path in expected} == expected
