"""The write services of the customers part (huike.customers.services): customers, tags,
assignment, companies, custom field definitions, identity rules, and the services the API uses
(one identity at a time, upsert by identity, tag groups). Every denied or refused write leaves
the database as it was."""

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.accounts.services import member_update, team_create
from huike.core.crypto import workspace_keys
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.models import AuditEntry, OutboxMessage
from huike.customers.identities import customer_personal_value, identity_value
from huike.customers.merging import customer_merge
from huike.customers.models import (
    Company,
    Customer,
    CustomerSettings,
    CustomerTag,
    CustomField,
    Event,
    Identity,
    Tag,
    TagGroup,
)
from huike.customers.services import (
    CustomerData,
    company_create,
    company_delete,
    company_update,
    custom_field_create,
    custom_field_delete,
    custom_field_update,
    customer_create,
    customer_delete,
    customer_identity_add,
    customer_identity_remove,
    customer_settings_update,
    customer_tags_add,
    customer_tags_remove,
    customer_update,
    customer_upsert,
    customers_assign,
    tag_create,
    tag_delete,
    tag_group_create,
    tag_group_delete,
    tag_group_update,
    tag_update,
)
from huike.customers.tests.conftest import keys_of


def counts() -> dict[str, int]:
    """How many rows every table a customer write touches holds."""
    return {
        model.__name__: model.objects.count()
        for model in (
            Customer,
            Identity,
            Event,
            CustomerTag,
            Tag,
            TagGroup,
            Company,
            CustomField,
            CustomerSettings,
            OutboxMessage,
            AuditEntry,
        )
    }


def events_of(customer: Customer, kind: str) -> list[dict[str, Any]]:
    return list(
        Event.objects.filter(customer=customer, kind=kind)
        .order_by("pk")
        .values_list("properties", flat=True)
    )


@pytest.fixture
def sales_team(owner_actor: Actor, member: Membership) -> Team:
    team = team_create(actor=owner_actor, name="East sales")
    member_update(actor=owner_actor, membership=member, team=team)
    member.refresh_from_db()
    return team


# --- customer_create -------------------------------------------------------------------------
def test_the_creator_owns_a_new_customer_and_its_team_follows(member, sales_team):
    actor = Actor.for_membership(member)
    # when
    customer = customer_create(actor=actor, data=CustomerData(name="Wang Fang"))
    # then
    customer.refresh_from_db()
    assert (customer.owner_id, customer.team_id) == (member.pk, sales_team.pk)
    assert customer.first_seen_at == customer.last_seen_at
    assert events_of(customer, "customer.created") == [
        {"by": "member@acme.test", "source": "manual"}
    ]


def test_a_given_owner_brings_their_team(owner_actor, member, sales_team):
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Li", owner=member))
    assert (customer.owner_id, customer.team_id) == (member.pk, sales_team.pk)


def test_a_customer_may_be_created_without_owner(owner_actor):
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Li", owner=None))
    assert (customer.owner_id, customer.team_id) == (None, None)


def test_a_deactivated_owner_is_refused(owner_actor, member):
    member.is_active = False
    member.save(update_fields=["is_active"])
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_create(actor=owner_actor, data=CustomerData(name="Li", owner=member))
    assert (raised.value.field, raised.value.detail) == ("owner", "This member is deactivated.")
    assert counts() == before


def test_an_owner_or_company_of_another_workspace_is_refused(owner_actor, outsider_actor):
    foreign_company = company_create(actor=outsider_actor, data={"name": "Globex"})
    before = counts()
    for data, field in (
        (CustomerData(owner=outsider_actor.membership), "owner"),
        (CustomerData(company=foreign_company), "company"),
    ):
        with pytest.raises(InvalidInputError) as raised:
            customer_create(actor=owner_actor, data=data)
        assert (raised.value.field, raised.value.detail) == (field, "Not found in this workspace.")
    assert counts() == before


def test_identities_are_attached_encrypted_and_indexed(owner_actor, workspace):
    # when
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Zhao"),
        identity_keys=keys_of(phone="138 1234 5001", email=" Zhao@Example.ORG "),
        source="api",
    )
    # then
    keys = workspace_keys(workspace.pk)
    identities = {row.kind: row for row in Identity.objects.filter(customer=customer)}
    assert sorted(identities) == ["email", "phone"]
    assert {kind: identity_value(row, keys) for kind, row in identities.items()} == {
        "email": "zhao@example.org",
        "phone": "+8613812345001",
    }
    for kind, plaintext in (("phone", b"13812345001"), ("email", b"zhao@example.org")):
        row = identities[kind]
        assert plaintext not in bytes(row.value_token)
        assert bytes(row.value_index) == keys.blind_index(
            kind=kind, value=identity_value(row, keys), is_normalized=True
        )
        assert row.source == "api"
    assert events_of(customer, "customer.created") == [{"by": "owner@acme.test", "source": "api"}]


def test_personal_fields_are_encrypted(owner_actor, workspace):
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(
            name="Zhao", birthday=dt.date(1990, 5, 17), address="Room 1, 88 Nanjing Rd"
        ),
    )
    customer.refresh_from_db()
    keys = workspace_keys(workspace.pk)
    assert customer_personal_value(customer, "birthday", keys) == "1990-05-17"
    assert customer_personal_value(customer, "address", keys) == "Room 1, 88 Nanjing Rd"
    assert b"Nanjing" not in bytes(customer.address_token)
    assert customer.id_number_token is None


def test_an_identity_of_another_customer_is_a_conflict_and_nothing_is_written(
    owner_actor, make_customer
):
    make_customer(phone="13812345002")
    before = counts()
    # when
    with pytest.raises(ConflictError) as raised:
        customer_create(
            actor=owner_actor,
            data=CustomerData(name="Copy"),
            identity_keys=keys_of(email="new@example.org", phone="+86 138 1234 5002"),
        )
    # then
    assert (raised.value.field, raised.value.detail) == (
        "phone",
        "This phone already belongs to another customer.",
    )
    assert counts() == before


def test_a_placeholder_identity_is_refused_and_nothing_is_written(owner_actor):
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_create(
            actor=owner_actor,
            data=CustomerData(name="X"),
            identity_keys=keys_of(phone="13800000000"),
        )
    assert (raised.value.field, raised.value.detail) == (
        "phone",
        "This phone is on the list of placeholder values.",
    )
    assert counts() == before


def test_identities_beyond_the_cap_are_refused(owner_actor):
    customer_settings_update(actor=owner_actor, identity_caps={"wechat_openid": 2})
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_create(
            actor=owner_actor,
            data=CustomerData(),
            identity_keys=keys_of(wechat_openid="o-1")
            + keys_of(wechat_openid="o-2")
            + keys_of(wechat_openid="o-3"),
        )
    assert (raised.value.field, raised.value.detail) == (
        "wechat_openid",
        "A customer holds at most 2 identities of kind wechat_openid.",
    )
    assert counts() == before
    # two are fine
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(),
        identity_keys=keys_of(wechat_openid="o-1") + keys_of(wechat_openid="o-2"),
    )
    assert Identity.objects.filter(customer=customer).count() == 2


@pytest.mark.parametrize(
    ("data", "field", "detail"),
    [
        (CustomerData(name="x" * 201), "name", "At most 200 characters."),
        (CustomerData(gender="robot"), "gender", "Choose female, male, other or leave it empty."),
        (
            CustomerData(lifecycle_stage="vip"),
            "lifecycle_stage",
            "Choose one of: visitor, lead, customer, loyal, churned.",
        ),
        (CustomerData(locale="x" * 41), "locale", "At most 40 characters."),
        (CustomerData(birthday="1990-01-01"), "birthday", "Enter a date."),
        (CustomerData(address="x" * 501), "address", "At most 500 characters."),
        (CustomerData(custom_fields={"nope": 1}), "custom_fields.nope", None),
    ],
)
def test_bad_fields_are_refused_naming_the_field(owner_actor, data, field, detail):
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_create(actor=owner_actor, data=data)
    assert raised.value.field == field
    if detail is not None:
        assert raised.value.detail == detail
    assert counts() == before


def test_a_birthday_in_the_future_is_refused(owner_actor):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(InvalidInputError) as raised:
        customer_create(actor=owner_actor, data=CustomerData(birthday=tomorrow))
    assert (raised.value.field, raised.value.detail) == (
        "birthday",
        "A birthday cannot be in the future.",
    )


def test_a_required_custom_field_is_required_on_create(owner_actor):
    custom_field_create(actor=owner_actor, key="city", label="City", type="text", is_required=True)
    with pytest.raises(InvalidInputError) as raised:
        customer_create(actor=owner_actor, data=CustomerData(name="Li"))
    assert (raised.value.field, raised.value.detail) == ("custom_fields.city", "City is required.")
    customer = customer_create(
        actor=owner_actor, data=CustomerData(name="Li", custom_fields={"city": "Hangzhou"})
    )
    assert customer.custom_fields == {"city": "Hangzhou"}


def test_tags_given_on_create_carry_the_source(owner_actor):
    vip = tag_create(actor=owner_actor, name="VIP")
    imported = customer_create(
        actor=owner_actor, data=CustomerData(name="A"), tags=[vip], source="import"
    )
    from_wechat = customer_create(
        actor=owner_actor, data=CustomerData(name="B"), tags=[vip], source="wechat"
    )
    assert CustomerTag.objects.get(customer=imported).source == "import"
    assert CustomerTag.objects.get(customer=from_wechat).source == "manual"


def test_a_tag_of_another_workspace_given_on_create_writes_nothing(owner_actor, outsider_actor):
    foreign = tag_create(actor=outsider_actor, name="Theirs")
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_create(actor=owner_actor, data=CustomerData(name="A"), tags=[foreign])
    assert raised.value.field == "tags"
    assert counts() == before


# --- customer_update -------------------------------------------------------------------------
def test_update_records_the_names_of_changed_fields_never_their_values(owner_actor, member):
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Old name"))
    # when
    updated = customer_update(
        actor=owner_actor,
        customer=customer,
        data=CustomerData(
            name="New name",
            lifecycle_stage="lead",
            address="Room 9, 1 Secret Lane",
            id_number="110101199003071234",
            owner=member,
        ),
    )
    # then
    assert (updated.name, updated.lifecycle_stage, updated.owner_id) == (
        "New name",
        "lead",
        member.pk,
    )
    (event,) = Event.objects.filter(customer=customer, kind="customer.updated")
    assert event.properties == {
        "by": "owner@acme.test",
        "fields": ["name", "lifecycle_stage", "owner", "address", "id_number"],
        "identities_added": [],
    }
    assert "Secret" not in str(event.properties)
    assert "110101" not in str(event.properties)


def test_an_update_changing_nothing_records_nothing(owner_actor):
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Same", birthday=dt.date(1990, 5, 17), address="Room 1"),
    )
    # when the form sends the values the customer has already
    customer_update(
        actor=owner_actor,
        customer=customer,
        data=CustomerData(name="Same", birthday=dt.date(1990, 5, 17), address="Room 1"),
    )
    # then
    assert events_of(customer, "customer.updated") == []


def test_an_update_attaching_identities_names_their_kinds(owner_actor, make_customer):
    customer = make_customer(name="Zhao", phone="13812345003")
    customer_update(
        actor=owner_actor,
        customer=customer,
        data=CustomerData(),
        identity_keys=keys_of(phone="13812345003", wechat_openid="o-zhao"),
    )
    assert events_of(customer, "customer.updated") == [
        {"by": "owner@acme.test", "fields": [], "identities_added": ["wechat_openid"]}
    ]


def test_an_update_of_a_merged_customer_is_refused(owner_actor):
    survivor = customer_create(actor=owner_actor, data=CustomerData(name="S"))
    absorbed = customer_create(actor=owner_actor, data=CustomerData(name="A"))
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    absorbed.refresh_from_db()
    before = counts()
    with pytest.raises(ConflictError) as raised:
        customer_update(actor=owner_actor, customer=absorbed, data=CustomerData(name="B"))
    assert raised.value.detail == "This customer was merged into another one."
    absorbed.refresh_from_db()
    assert absorbed.name == "A"
    assert counts() == before


def test_an_update_of_a_customer_merged_after_it_was_read_is_refused(owner_actor):
    survivor = customer_create(actor=owner_actor, data=CustomerData(name="S"))
    absorbed = customer_create(actor=owner_actor, data=CustomerData(name="A"))
    read_before_the_merge = Customer.objects.get(pk=absorbed.pk)
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    before = counts()
    # when
    for write in (
        lambda: customer_update(
            actor=owner_actor, customer=read_before_the_merge, data=CustomerData(name="B")
        ),
        lambda: customer_identity_add(
            actor=owner_actor,
            customer=read_before_the_merge,
            key=keys_of(phone="13812345021")[0],
        ),
    ):
        with pytest.raises(ConflictError) as raised:
            write()
        assert raised.value.detail == "This customer was merged into another one."
    # then
    assert Customer.objects.get(pk=absorbed.pk).name == "A"
    assert counts() == before


def test_an_update_with_a_conflicting_identity_changes_nothing(owner_actor, make_customer):
    make_customer(phone="13812345004")
    customer = make_customer(name="Keep")
    before = counts()
    with pytest.raises(ConflictError) as raised:
        customer_update(
            actor=owner_actor,
            customer=customer,
            data=CustomerData(name="Changed"),
            identity_keys=keys_of(phone="13812345004"),
        )
    assert raised.value.field == "phone"
    customer.refresh_from_db()
    assert customer.name == "Keep"
    assert counts() == before


# --- customer_delete -------------------------------------------------------------------------
def test_delete_removes_the_customer_with_its_rows_and_is_audited(owner_actor, make_customer):
    customer = make_customer(name="Gone", phone="13812345005")
    vip = tag_create(actor=owner_actor, name="VIP")
    customer_tags_add(actor=owner_actor, customers=[customer], tags=[vip])
    public_id = str(customer.public_id)
    # when
    customer_delete(actor=owner_actor, customer=customer, ip_address="203.0.113.9")
    # then
    assert Customer.objects.count() == 0
    assert (Identity.objects.count(), Event.objects.count(), CustomerTag.objects.count()) == (
        0,
        0,
        0,
    )
    entry = AuditEntry.objects.get(action="customer.deleted")
    assert (entry.target_type, entry.target_id, entry.ip_address, entry.data) == (
        "customer",
        public_id,
        "203.0.113.9",
        {"absorbed": []},
    )
    assert entry.actor_label == "owner@acme.test"
    assert OutboxMessage.objects.get(kind="customer.deleted").payload == {"customer_id": public_id}
    assert Tag.objects.count() == 1


def test_delete_takes_the_customers_merged_into_it(owner_actor, make_customer):
    survivor = make_customer(name="S", phone="13812345006")
    absorbed = make_customer(name="A", email="a@example.org")
    earlier = make_customer(name="E", email="e@example.org")
    # earlier went into absorbed, then absorbed into survivor
    customer_merge(actor=owner_actor, survivor=absorbed, absorbed=earlier)
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    survivor.refresh_from_db()
    # when
    customer_delete(actor=owner_actor, customer=survivor)
    # then
    assert list(Customer.objects.values_list("name", flat=True)) == []
    assert Identity.objects.count() == 0
    entry = AuditEntry.objects.get(action="customer.deleted")
    assert sorted(entry.data["absorbed"]) == sorted(
        [str(absorbed.public_id), str(earlier.public_id)]
    )


def test_delete_leaves_other_customers(owner_actor, make_customer):
    gone = make_customer(name="Gone")
    make_customer(name="Stays", phone="13812345007")
    customer_delete(actor=owner_actor, customer=gone)
    assert list(Customer.objects.values_list("name", flat=True)) == ["Stays"]
    assert Identity.objects.count() == 1


# --- tags ------------------------------------------------------------------------------------
def test_adding_a_tag_twice_links_it_once(owner_actor, make_customer):
    customer = make_customer(name="T")
    vip = tag_create(actor=owner_actor, name="VIP", color="#FF0000")
    # when
    first = customer_tags_add(actor=owner_actor, customers=[customer], tags=[vip])
    second = customer_tags_add(actor=owner_actor, customers=[customer], tags=[vip])
    # then
    assert (first, second) == (1, 0)
    assert vip.color == "#ff0000"
    assert list(CustomerTag.objects.values_list("customer_id", "tag_id", "source")) == [
        (customer.pk, vip.pk, "manual")
    ]
    assert events_of(customer, "tag.added") == [{"tags": ["VIP"], "by": "owner@acme.test"}]


def test_adding_tags_to_many_customers_records_an_event_for_each_that_changed(
    owner_actor, make_customer
):
    tagged = make_customer(name="Tagged")
    fresh = make_customer(name="Fresh")
    vip = tag_create(actor=owner_actor, name="VIP")
    new = tag_create(actor=owner_actor, name="New")
    customer_tags_add(actor=owner_actor, customers=[tagged], tags=[vip])
    # when
    added = customer_tags_add(actor=owner_actor, customers=[tagged, fresh], tags=[vip, new])
    # then
    assert added == 3
    assert events_of(tagged, "tag.added") == [
        {"tags": ["VIP"], "by": "owner@acme.test"},
        {"tags": ["New"], "by": "owner@acme.test"},
    ]
    assert events_of(fresh, "tag.added") == [{"tags": ["VIP", "New"], "by": "owner@acme.test"}]


def test_removing_a_tag_unlinks_it_and_records_the_removal(owner_actor, make_customer):
    customer = make_customer(name="T")
    vip = tag_create(actor=owner_actor, name="VIP")
    other = tag_create(actor=owner_actor, name="Other")
    customer_tags_add(actor=owner_actor, customers=[customer], tags=[vip, other])
    # when
    removed = customer_tags_remove(actor=owner_actor, customers=[customer], tags=[vip])
    again = customer_tags_remove(actor=owner_actor, customers=[customer], tags=[vip])
    # then
    assert (removed, again) == (1, 0)
    assert list(CustomerTag.objects.values_list("tag__name", flat=True)) == ["Other"]
    assert events_of(customer, "tag.removed") == [{"tags": ["VIP"], "by": "owner@acme.test"}]


def test_a_tag_of_another_workspace_is_refused(owner_actor, outsider_actor, make_customer):
    customer = make_customer(name="T")
    foreign = tag_create(actor=outsider_actor, name="Theirs")
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_tags_add(actor=owner_actor, customers=[customer], tags=[foreign])
    assert (raised.value.field, raised.value.detail) == ("tags", "Not found in this workspace.")
    assert counts() == before


def test_tag_names_are_unique_and_colours_checked(owner_actor):
    group = tag_group_create(actor=owner_actor, name="Level")
    tag = tag_create(actor=owner_actor, name=" VIP ", group=group)
    assert (tag.name, tag.color, tag.group_id) == ("VIP", "#2563eb", group.pk)
    with pytest.raises(ConflictError) as raised:
        tag_create(actor=owner_actor, name="VIP")
    assert (raised.value.field, raised.value.detail) == ("name", "A tag with this name exists.")
    for color in ("red", "#12345", "#12345g"):
        with pytest.raises(InvalidInputError) as raised:
            tag_create(actor=owner_actor, name="Other", color=color)
        assert (raised.value.field, raised.value.detail) == ("color", "Write a colour as #rrggbb.")
    with pytest.raises(InvalidInputError) as raised:
        tag_create(actor=owner_actor, name=" ")
    assert (raised.value.field, raised.value.detail) == ("name", "Enter a name.")
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]


def test_a_tag_group_of_another_workspace_is_refused(owner_actor, outsider_actor):
    foreign = tag_group_create(actor=outsider_actor, name="Theirs")
    tag = tag_create(actor=owner_actor, name="VIP")
    with pytest.raises(InvalidInputError) as raised:
        tag_create(actor=owner_actor, name="Other", group=foreign)
    assert raised.value.field == "group"
    with pytest.raises(InvalidInputError):
        tag_update(actor=owner_actor, tag=tag, group=foreign)
    tag.refresh_from_db()
    assert tag.group_id is None
    assert Tag.objects.filter(workspace=owner_actor.workspace).count() == 1


def test_tag_update_renames_and_moves_a_tag(owner_actor):
    group = tag_group_create(actor=owner_actor, name="Level")
    tag = tag_create(actor=owner_actor, name="VIP", group=group)
    tag_create(actor=owner_actor, name="Taken")
    with pytest.raises(ConflictError):
        tag_update(actor=owner_actor, tag=tag, name="Taken")
    tag_update(actor=owner_actor, tag=tag, name="Gold", color="#AABBCC", group=None)
    tag.refresh_from_db()
    assert (tag.name, tag.color, tag.group_id) == ("Gold", "#aabbcc", None)


def test_deleting_a_tag_unlinks_its_customers(owner_actor, make_customer):
    customer = make_customer(name="T")
    vip = tag_create(actor=owner_actor, name="VIP")
    customer_tags_add(actor=owner_actor, customers=[customer], tags=[vip])
    tag_delete(actor=owner_actor, tag=vip)
    assert (Tag.objects.count(), CustomerTag.objects.count(), Customer.objects.count()) == (0, 0, 1)


# --- customers_assign ------------------------------------------------------------------------
def test_assign_gives_customers_the_owner_and_the_owners_team(
    owner_actor, member, sales_team, make_customer
):
    first = make_customer(name="First")
    second = make_customer(name="Second")
    # when
    assigned = customers_assign(actor=owner_actor, customers=[first, second], owner=member)
    # then
    assert assigned == 2
    assert sorted(Customer.objects.values_list("name", "owner_id", "team_id")) == [
        ("First", member.pk, sales_team.pk),
        ("Second", member.pk, sales_team.pk),
    ]
    assert events_of(first, "customer.updated") == [
        {"by": "owner@acme.test", "fields": ["owner", "team"], "identities_added": []}
    ]


def test_assign_to_nobody_clears_owner_and_team(member_actor, sales_team):
    customer = customer_create(actor=member_actor, data=CustomerData(name="Mine"))
    customers_assign(actor=member_actor, customers=[customer], owner=None)
    customer.refresh_from_db()
    assert (customer.owner_id, customer.team_id) == (None, None)


def test_assign_with_a_merged_customer_among_them_changes_none(owner_actor, member, make_customer):
    first = make_customer(name="First")
    survivor = make_customer(name="S")
    absorbed = make_customer(name="A")
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    absorbed.refresh_from_db()
    before = counts()
    # when
    with pytest.raises(ConflictError):
        customers_assign(actor=owner_actor, customers=[first, absorbed], owner=member)
    # then
    first.refresh_from_db()
    assert first.owner_id == owner_actor.membership.pk
    assert counts() == before


# --- companies -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("acme.example", "acme.example"),
        (" HTTPS://Acme.Example/ ", "acme.example"),
        ("http://shop.acme.example", "shop.acme.example"),
        ("https://www.acme.example/about/?from=ad", "acme.example"),
        ("", ""),
    ],
)
def test_company_domains_are_normalized(owner_actor, typed, stored):
    company = company_create(actor=owner_actor, data={"name": "Acme", "domain": typed})
    company.refresh_from_db()
    assert company.domain == stored


def test_a_company_is_owned_by_its_creator_and_their_team(member, sales_team):
    company = company_create(actor=Actor.for_membership(member), data={"name": " Acme Ltd "})
    assert (company.name, company.owner_id, company.team_id) == (
        "Acme Ltd",
        member.pk,
        sales_team.pk,
    )


def test_company_size_is_one_of_the_choices(owner_actor):
    company = company_create(actor=owner_actor, data={"name": "Acme", "size": "50-249"})
    assert company.size == "50-249"
    with pytest.raises(InvalidInputError) as raised:
        company_update(actor=owner_actor, company=company, data={"size": "huge"})
    assert (raised.value.field, raised.value.detail) == (
        "size",
        "Choose one of: 1-9, 10-49, 50-249, 250-999, 1000+.",
    )
    company.refresh_from_db()
    assert company.size == "50-249"


@pytest.mark.parametrize(
    ("data", "field", "detail"),
    [
        ({"name": ""}, "name", "Enter a name."),
        ({}, "name", "Enter a name."),
        ({"name": "x" * 201}, "name", "At most 200 characters."),
        ({"name": "Acme", "industry": "x" * 101}, "industry", "At most 100 characters."),
        ({"name": "Acme", "domain": "x" * 254}, "domain", "At most 253 characters."),
    ],
)
def test_bad_company_fields_are_refused(owner_actor, data, field, detail):
    with pytest.raises(InvalidInputError) as raised:
        company_create(actor=owner_actor, data=data)
    assert (raised.value.field, raised.value.detail) == (field, detail)
    assert Company.objects.count() == 0


def test_a_company_owner_of_another_workspace_is_refused(owner_actor, outsider):
    with pytest.raises(InvalidInputError) as raised:
        company_create(actor=owner_actor, data={"name": "Acme", "owner": outsider})
    assert (raised.value.field, raised.value.detail) == ("owner", "Not found in this workspace.")
    assert Company.objects.count() == 0


def test_deleting_a_company_keeps_its_customers_and_is_audited(owner_actor):
    company = company_create(actor=owner_actor, data={"name": "Acme"})
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Li", company=company))
    public_id = str(company.public_id)
    company_delete(actor=owner_actor, company=company)
    customer.refresh_from_db()
    assert customer.company_id is None
    entry = AuditEntry.objects.get(action="company.deleted")
    assert (entry.target_type, entry.target_id) == ("company", public_id)


# --- custom field definitions ----------------------------------------------------------------
@pytest.mark.parametrize(
    "key", ["", " ", "1st", "_x", "has space", "a-b", "ключ", "客户", "a" * 64]
)
def test_custom_field_keys_are_letters_digits_and_underscores(owner_actor, key):
    with pytest.raises(InvalidInputError) as raised:
        custom_field_create(actor=owner_actor, key=key, label="L", type="text")
    assert raised.value.field == "key"
    assert CustomField.objects.count() == 0


def test_custom_fields_are_created_in_order_and_audited(owner_actor):
    first = custom_field_create(actor=owner_actor, key=" member_no ", label="No.", type="text")
    second = custom_field_create(
        actor=owner_actor, key="a" * 63, label="Long", type="number", is_required=True
    )
    assert (first.key, first.position, second.position, second.is_required) == (
        "member_no",
        0,
        1,
        True,
    )
    entries = AuditEntry.objects.filter(action="custom_field.changed").order_by("seq")
    assert [entry.data for entry in entries] == [
        {"key": "member_no", "change": "created"},
        {"key": "a" * 63, "change": "created"},
    ]
    assert entries[0].target_id == str(first.public_id)


@pytest.mark.parametrize(
    ("label", "detail"), [(" ", "Enter a name."), ("x" * 101, "At most 100 characters.")]
)
def test_a_bad_custom_field_label_is_refused_naming_the_label(owner_actor, label, detail):
    with pytest.raises(InvalidInputError) as raised:
        custom_field_create(actor=owner_actor, key="tier", label=label, type="text")
    assert (raised.value.field, raised.value.detail) == ("label", detail)
    field_row = custom_field_create(actor=owner_actor, key="tier", label="Tier", type="text")
    with pytest.raises(InvalidInputError) as raised:
        custom_field_update(actor=owner_actor, field_row=field_row, label=label)
    assert (raised.value.field, raised.value.detail) == ("label", detail)
    field_row.refresh_from_db()
    assert field_row.label == "Tier"


def test_a_custom_field_key_is_unique(owner_actor):
    custom_field_create(actor=owner_actor, key="tier", label="Tier", type="text")
    with pytest.raises(ConflictError) as raised:
        custom_field_create(actor=owner_actor, key="tier", label="Other", type="number")
    assert (raised.value.field, raised.value.detail) == ("key", "A field with this key exists.")
    assert CustomField.objects.count() == 1


def test_a_custom_field_type_must_be_known(owner_actor):
    with pytest.raises(InvalidInputError) as raised:
        custom_field_create(actor=owner_actor, key="tier", label="Tier", type="colour")
    assert raised.value.field == "type"
    assert raised.value.detail == (
        "Choose one of: text, number, money, date, datetime, choice, multi_choice, boolean, url."
    )


@pytest.mark.parametrize("type", ["choice", "multi_choice"])
def test_choice_fields_need_choices(owner_actor, type):
    with pytest.raises(InvalidInputError) as raised:
        custom_field_create(actor=owner_actor, key="tier", label="Tier", type=type, choices=[" "])
    assert (raised.value.field, raised.value.detail) == ("choices", "Give at least one choice.")
    field_row = custom_field_create(
        actor=owner_actor,
        key="tier",
        label="Tier",
        type=type,
        choices=[" gold ", "silver", "gold", "", "x" * 120],
    )
    assert field_row.choices == ["gold", "silver", "x" * 100]


@pytest.mark.parametrize("type", ["multi_choice", "boolean"])
def test_some_types_cannot_be_unique(owner_actor, type):
    with pytest.raises(InvalidInputError) as raised:
        custom_field_create(
            actor=owner_actor, key="f", label="F", type=type, choices=["a"], is_unique=True
        )
    assert raised.value.field == "is_unique"
    assert CustomField.objects.count() == 0


def test_custom_field_update_changes_label_choices_and_required(owner_actor):
    field_row = custom_field_create(
        actor=owner_actor, key="tier", label="Tier", type="choice", choices=["gold"]
    )
    # when
    custom_field_update(
        actor=owner_actor,
        field_row=field_row,
        label="Level",
        choices=["gold", "silver"],
        is_required=True,
    )
    # then
    field_row.refresh_from_db()
    assert (field_row.key, field_row.label, field_row.type) == ("tier", "Level", "choice")
    assert (field_row.choices, field_row.is_required) == (["gold", "silver"], True)
    with pytest.raises(InvalidInputError) as raised:
        custom_field_update(actor=owner_actor, field_row=field_row, choices=[])
    assert raised.value.field == "choices"
    field_row.refresh_from_db()
    assert field_row.choices == ["gold", "silver"]


def test_a_deleted_field_leaves_no_value_on_the_next_write(owner_actor):
    field_row = custom_field_create(actor=owner_actor, key="city", label="City", type="text")
    custom_field_create(actor=owner_actor, key="note", label="Note", type="text")
    customer = customer_create(
        actor=owner_actor, data=CustomerData(custom_fields={"city": "Xi'an", "note": "a"})
    )
    # when
    custom_field_delete(actor=owner_actor, field_row=field_row)
    customer_update(
        actor=owner_actor, customer=customer, data=CustomerData(custom_fields={"note": "b"})
    )
    # then
    customer.refresh_from_db()
    assert customer.custom_fields == {"note": "b"}
    assert [
        entry.data["change"]
        for entry in AuditEntry.objects.filter(action="custom_field.changed").order_by("seq")
    ] == ["created", "created", "deleted"]


# --- customer_settings_update ----------------------------------------------------------------
def test_settings_store_the_region_upper_case(owner_actor):
    row = customer_settings_update(actor=owner_actor, default_region=" us ")
    assert row.default_region == "US"
    assert AuditEntry.objects.filter(action="customer_settings.changed").count() == 1


@pytest.mark.parametrize("region", ["XX", "USA", "", "cn1"])
def test_settings_refuse_an_unknown_region(owner_actor, region):
    with pytest.raises(InvalidInputError) as raised:
        customer_settings_update(actor=owner_actor, default_region=region)
    assert (raised.value.field, raised.value.detail) == (
        "default_region",
        "Not a region code, e.g. CN.",
    )
    assert CustomerSettings.objects.count() == 0


def test_junk_values_are_stored_normalized_and_then_refused(owner_actor):
    row = customer_settings_update(
        actor=owner_actor,
        junk_values={"phone": ["138 0013 9999", "+86 13800139999", " "], "email": [" No@Shop.CN "]},
    )
    assert row.junk_values == {"phone": ["+8613800139999"], "email": ["no@shop.cn"]}
    with pytest.raises(InvalidInputError) as raised:
        customer_create(
            actor=owner_actor, data=CustomerData(), identity_keys=keys_of(email="NO@shop.cn")
        )
    assert raised.value.field == "email"


def test_a_junk_value_that_is_no_value_of_its_kind_is_refused_as_a_junk_value(owner_actor):
    with pytest.raises(InvalidInputError) as raised:
        customer_settings_update(actor=owner_actor, junk_values={"phone": ["not a phone"]})
    assert raised.value.field == "junk_values"
    with pytest.raises(InvalidInputError) as raised:
        customer_settings_update(actor=owner_actor, junk_values={"fax": ["1"]})
    assert (raised.value.field, raised.value.detail) == ("junk_values", "Unknown identity kind.")
    assert CustomerSettings.objects.count() == 0


@pytest.mark.parametrize("cap", [0, 1001, -1, "5", 2.5, True])
def test_identity_caps_are_whole_numbers_from_1_to_1000(owner_actor, cap):
    with pytest.raises(InvalidInputError) as raised:
        customer_settings_update(actor=owner_actor, identity_caps={"phone": cap})
    assert (raised.value.field, raised.value.detail) == (
        "identity_caps",
        "Caps are 1 to 1000 per known kind.",
    )
    assert CustomerSettings.objects.count() == 0


def test_identity_caps_at_the_bounds_are_kept(owner_actor):
    row = customer_settings_update(actor=owner_actor, identity_caps={"phone": 1, "email": 1000})
    assert row.identity_caps == {"phone": 1, "email": 1000}
    with pytest.raises(InvalidInputError):
        customer_settings_update(actor=owner_actor, identity_caps={"fax": 3})


def test_strength_and_survivorship_must_name_known_things(owner_actor):
    row = customer_settings_update(
        actor=owner_actor,
        identity_strength={"email": "strong"},
        survivorship={"name": "most_recent"},
        auto_merge_strong=False,
    )
    assert (row.identity_strength, row.survivorship, row.auto_merge_strong) == (
        {"email": "strong"},
        {"name": "most_recent"},
        False,
    )
    for changes, field in (
        ({"identity_strength": {"email": "mighty"}}, "identity_strength"),
        ({"identity_strength": {"fax": "strong"}}, "identity_strength"),
        ({"survivorship": {"name": "loudest"}}, "survivorship"),
        ({"survivorship": {"status": "survivor"}}, "survivorship"),
    ):
        with pytest.raises(InvalidInputError) as raised:
            customer_settings_update(actor=owner_actor, default_region="US", **changes)
        assert raised.value.field == field
    row.refresh_from_db()
    assert (row.default_region, row.identity_strength, row.survivorship) == (
        "CN",
        {"email": "strong"},
        {"name": "most_recent"},
    )


# --- one identity at a time ------------------------------------------------------------------
def test_identity_add_attaches_one_identity(owner_actor, make_customer, workspace):
    customer = make_customer(name="Zhao", phone="13812345008")
    (key,) = keys_of(email="Zhao@Example.org")
    # when
    identity = customer_identity_add(actor=owner_actor, customer=customer, key=key, source="api")
    # then
    assert (identity.customer_id, identity.kind, identity.source) == (customer.pk, "email", "api")
    assert identity_value(identity, workspace_keys(workspace.pk)) == "zhao@example.org"
    assert events_of(customer, "customer.updated") == [
        {"by": "owner@acme.test", "fields": [], "identities_added": ["email"]}
    ]


def test_identity_add_refuses_one_the_customer_has(owner_actor, make_customer):
    customer = make_customer(name="Zhao", phone="13812345009")
    before = counts()
    with pytest.raises(ConflictError) as raised:
        customer_identity_add(
            actor=owner_actor, customer=customer, key=keys_of(phone="+8613812345009")[0]
        )
    assert (raised.value.field, raised.value.detail) == (
        "phone",
        "The customer has this phone already.",
    )
    assert counts() == before


def test_identity_add_refuses_one_of_another_customer(owner_actor, make_customer):
    make_customer(name="Other", phone="13812345010")
    customer = make_customer(name="Zhao")
    before = counts()
    with pytest.raises(ConflictError) as raised:
        customer_identity_add(
            actor=owner_actor, customer=customer, key=keys_of(phone="13812345010")[0]
        )
    assert (raised.value.field, raised.value.detail) == (
        "phone",
        "This phone already belongs to another customer.",
    )
    assert counts() == before


def test_identity_add_refuses_placeholders_caps_and_merged_customers(owner_actor, make_customer):
    customer_settings_update(actor=owner_actor, identity_caps={"email": 1})
    customer = make_customer(name="Zhao", email="zhao@example.org")
    absorbed = make_customer(name="A")
    customer_merge(actor=owner_actor, survivor=customer, absorbed=absorbed)
    absorbed.refresh_from_db()
    before = counts()
    with pytest.raises(InvalidInputError) as raised:
        customer_identity_add(
            actor=owner_actor, customer=customer, key=keys_of(phone="13800000000")[0]
        )
    assert raised.value.field == "phone"
    with pytest.raises(InvalidInputError) as raised:
        customer_identity_add(
            actor=owner_actor, customer=customer, key=keys_of(email="two@example.org")[0]
        )
    assert raised.value.detail == "A customer holds at most 1 identities of kind email."
    with pytest.raises(ConflictError) as raised:
        customer_identity_add(
            actor=owner_actor, customer=absorbed, key=keys_of(phone="13812345011")[0]
        )
    assert raised.value.detail == "This customer was merged into another one."
    assert counts() == before


def test_identity_remove_deletes_it_and_keeps_its_events(owner_actor, make_customer):
    customer = make_customer(name="Zhao", phone="13812345012", email="zhao@example.org")
    phone = Identity.objects.get(customer=customer, kind="phone")
    Event.objects.filter(customer=customer).update(identity=phone)
    events_before = Event.objects.filter(customer=customer).count()
    # when
    customer_identity_remove(actor=owner_actor, customer=customer, identity=phone)
    # then
    assert list(Identity.objects.values_list("kind", flat=True)) == ["email"]
    assert Event.objects.filter(customer=customer).count() == events_before + 1
    assert events_of(customer, "customer.updated") == [
        {"by": "owner@acme.test", "fields": [], "identities_removed": ["phone"]}
    ]


def test_identity_remove_refuses_an_identity_of_another_customer(owner_actor, make_customer):
    customer = make_customer(name="Zhao")
    other = make_customer(name="Other", phone="13812345013")
    identity = Identity.objects.get(customer=other)
    before = counts()
    with pytest.raises(NotFoundError):
        customer_identity_remove(actor=owner_actor, customer=customer, identity=identity)
    assert counts() == before


# --- customer_upsert -------------------------------------------------------------------------
def test_upsert_creates_a_customer_for_unknown_identities(owner_actor):
    result = customer_upsert(
        actor=owner_actor, data=CustomerData(name="New"), identity_keys=keys_of(phone="13812345014")
    )
    assert result.is_new
    assert (result.customer.name, result.customer.owner_id) == ("New", owner_actor.membership.pk)
    assert events_of(result.customer, "customer.created") == [
        {"by": "owner@acme.test", "source": "api"}
    ]


def test_upsert_updates_the_customer_an_identity_names_and_attaches_the_others(
    owner_actor, make_customer
):
    known = make_customer(name="Known", phone="13812345015")
    vip = tag_create(actor=owner_actor, name="VIP")
    # when
    result = customer_upsert(
        actor=owner_actor,
        data=CustomerData(lifecycle_stage="customer"),
        identity_keys=keys_of(phone="+86 138 1234 5015", email="known@example.org"),
        tags=[vip],
    )
    # then
    assert (result.is_new, result.customer.pk) == (False, known.pk)
    known.refresh_from_db()
    assert (known.name, known.lifecycle_stage) == ("Known", "customer")
    assert sorted(Identity.objects.filter(customer=known).values_list("kind", flat=True)) == [
        "email",
        "phone",
    ]
    assert CustomerTag.objects.get().source == "api"
    assert Customer.objects.count() == 1


def test_upsert_needs_an_identity(owner_actor):
    with pytest.raises(InvalidInputError) as raised:
        customer_upsert(actor=owner_actor, data=CustomerData(name="X"), identity_keys=[])
    assert raised.value.field == "identities"
    assert Customer.objects.count() == 0


def test_upsert_refuses_identities_of_two_customers(owner_actor, make_customer):
    make_customer(name="A", phone="13812345016")
    make_customer(name="B", email="b@example.org")
    before = counts()
    with pytest.raises(ConflictError) as raised:
        customer_upsert(
            actor=owner_actor,
            data=CustomerData(name="X"),
            identity_keys=keys_of(phone="13812345016", email="b@example.org"),
        )
    assert (raised.value.field, raised.value.detail) == (
        "identities",
        "These identities belong to different customers; merge them first.",
    )
    assert counts() == before


def test_upsert_refuses_a_customer_the_actor_cannot_see(member_actor, make_customer):
    hidden = make_customer(name="Owner's", phone="13812345017")
    before = counts()
    with pytest.raises(ConflictError) as raised:
        customer_upsert(
            actor=member_actor,
            data=CustomerData(name="Renamed"),
            identity_keys=keys_of(phone="13812345017"),
        )
    assert (raised.value.field, raised.value.detail) == (
        "identities",
        "These identities belong to a customer you cannot see.",
    )
    hidden.refresh_from_db()
    assert hidden.name == "Owner's"
    assert counts() == before


# --- tag groups ------------------------------------------------------------------------------
def test_tag_group_update_renames_and_recolours(owner_actor):
    group = tag_group_create(actor=owner_actor, name="Level")
    tag_group_create(actor=owner_actor, name="Taken")
    tag_group_update(actor=owner_actor, group=group, name=" Tier ", color="#ABCDEF")
    group.refresh_from_db()
    assert (group.name, group.color) == ("Tier", "#abcdef")
    with pytest.raises(ConflictError) as raised:
        tag_group_update(actor=owner_actor, group=group, name="Taken")
    assert (raised.value.field, raised.value.detail) == (
        "name",
        "A tag group with this name exists.",
    )
    with pytest.raises(InvalidInputError) as raised:
        tag_group_update(actor=owner_actor, group=group, color="blue")
    assert raised.value.field == "color"
    group.refresh_from_db()
    assert (group.name, group.color) == ("Tier", "#abcdef")


def test_tag_group_delete_keeps_its_tags(owner_actor):
    group = tag_group_create(actor=owner_actor, name="Level")
    tag = tag_create(actor=owner_actor, name="VIP", group=group)
    tag_group_delete(actor=owner_actor, group=group)
    tag.refresh_from_db()
    assert (TagGroup.objects.count(), tag.group_id) == (0, None)


# --- permissions -----------------------------------------------------------------------------
@pytest.fixture
def world(owner_actor: Actor, make_customer: Callable[..., Customer]) -> dict[str, Any]:
    """One of everything, made by the owner, for the denied actors to try to change."""
    customer = make_customer(name="Target", phone="13812345018")
    group = tag_group_create(actor=owner_actor, name="Level")
    return {
        "customer": customer,
        "other": make_customer(name="Other"),
        "identity": Identity.objects.get(customer=customer),
        "tag": tag_create(actor=owner_actor, name="VIP", group=group),
        "group": group,
        "company": company_create(actor=owner_actor, data={"name": "Acme"}),
        "field": custom_field_create(actor=owner_actor, key="city", label="City", type="text"),
    }


def _state() -> dict[str, Any]:
    return {
        **counts(),
        "customers": sorted(
            Customer.objects.values_list("name", "owner_id", "status", "lifecycle_stage")
        ),
        "tags": sorted(Tag.objects.values_list("name", "color", "group_id")),
        "groups": sorted(TagGroup.objects.values_list("name", "color")),
        "companies": sorted(Company.objects.values_list("name", "size")),
        "fields": sorted(CustomField.objects.values_list("key", "label", "is_required")),
        "settings": list(CustomerSettings.objects.values_list("default_region", flat=True)),
    }


MANAGE: dict[str, Callable[[Actor, dict[str, Any]], object]] = {
    "customer_create": lambda actor, w: customer_create(actor=actor, data=CustomerData(name="N")),
    "customer_update": lambda actor, w: customer_update(
        actor=actor, customer=w["customer"], data=CustomerData(name="Changed")
    ),
    "customer_upsert": lambda actor, w: customer_upsert(
        actor=actor, data=CustomerData(name="N"), identity_keys=keys_of(phone="13812345099")
    ),
    "customer_identity_add": lambda actor, w: customer_identity_add(
        actor=actor, customer=w["customer"], key=keys_of(email="x@example.org")[0]
    ),
    "customer_identity_remove": lambda actor, w: customer_identity_remove(
        actor=actor, customer=w["customer"], identity=w["identity"]
    ),
    "customer_tags_add": lambda actor, w: customer_tags_add(
        actor=actor, customers=[w["customer"]], tags=[w["tag"]]
    ),
    "customer_tags_remove": lambda actor, w: customer_tags_remove(
        actor=actor, customers=[w["customer"]], tags=[w["tag"]]
    ),
    "customers_assign": lambda actor, w: customers_assign(
        actor=actor, customers=[w["customer"]], owner=None
    ),
    "company_create": lambda actor, w: company_create(actor=actor, data={"name": "N"}),
    "company_update": lambda actor, w: company_update(
        actor=actor, company=w["company"], data={"size": "1-9"}
    ),
}
DELETE: dict[str, Callable[[Actor, dict[str, Any]], object]] = {
    "customer_delete": lambda actor, w: customer_delete(actor=actor, customer=w["customer"]),
    "company_delete": lambda actor, w: company_delete(actor=actor, company=w["company"]),
}
MERGE: dict[str, Callable[[Actor, dict[str, Any]], object]] = {
    "customer_merge": lambda actor, w: customer_merge(
        actor=actor, survivor=w["customer"], absorbed=w["other"]
    ),
}
CONFIGURE: dict[str, Callable[[Actor, dict[str, Any]], object]] = {
    "tag_create": lambda actor, w: tag_create(actor=actor, name="New"),
    "tag_update": lambda actor, w: tag_update(actor=actor, tag=w["tag"], name="Renamed"),
    "tag_delete": lambda actor, w: tag_delete(actor=actor, tag=w["tag"]),
    "tag_group_create": lambda actor, w: tag_group_create(actor=actor, name="New"),
    "tag_group_update": lambda actor, w: tag_group_update(
        actor=actor, group=w["group"], color="#000000"
    ),
    "tag_group_delete": lambda actor, w: tag_group_delete(actor=actor, group=w["group"]),
    "custom_field_create": lambda actor, w: custom_field_create(
        actor=actor, key="new", label="New", type="text"
    ),
    "custom_field_update": lambda actor, w: custom_field_update(
        actor=actor, field_row=w["field"], is_required=True
    ),
    "custom_field_delete": lambda actor, w: custom_field_delete(actor=actor, field_row=w["field"]),
    "customer_settings_update": lambda actor, w: customer_settings_update(
        actor=actor, default_region="US"
    ),
}


def _denied(role: str, services: dict[str, Callable[[Actor, dict[str, Any]], object]]) -> list[Any]:
    return [
        pytest.param(role, name, service, id=f"{role}-{name}") for name, service in services.items()
    ]


@pytest.mark.parametrize(
    ("role", "name", "service"),
    [
        *_denied("analyst", {**MANAGE, **DELETE, **MERGE, **CONFIGURE}),
        *_denied("read_only", {**MANAGE, **DELETE, **MERGE, **CONFIGURE}),
        *_denied("finance", {**MANAGE, **DELETE, **MERGE, **CONFIGURE}),
        *_denied("sales", {**DELETE, **MERGE, **CONFIGURE}),
        *_denied("marketing", {**DELETE, **MERGE, **CONFIGURE}),
    ],
)
def test_an_actor_without_the_permission_is_refused_and_nothing_changes(
    make_member, world, role, name, service
):
    actor = Actor.for_membership(make_member(f"{role}@acme.test", role))
    before = _state()
    # when
    with pytest.raises(PermissionDeniedError):
        service(actor, world)
    # then
    assert _state() == before


def test_the_sales_member_may_do_what_managing_customers_allows(member_actor, owner_actor):
    # given a customer of the member's own
    customer = customer_create(actor=member_actor, data=CustomerData(name="Mine"))
    vip = tag_create(actor=owner_actor, name="VIP")
    # when / then: no PermissionDeniedError
    customer_update(actor=member_actor, customer=customer, data=CustomerData(name="Still mine"))
    assert customer_tags_add(actor=member_actor, customers=[customer], tags=[vip]) == 1
    company = company_create(actor=member_actor, data={"name": "Mine Ltd"})
    assert company.owner_id == member_actor.membership.pk


# --- the upsert race (PostgreSQL; SQLite serializes writers, so it cannot happen there) ------
# Only reached if the code under test deadlocks; measures nothing.
STUCK_SECONDS = 30


ROUNDS = 5  # the window is small: several races in one test catch a loser more often


def _upsert_twice_at_once(actor: Actor, phone: str) -> tuple[list[bool], list[BaseException]]:
    from django.db import close_old_connections

    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def upsert(name: str) -> None:
        try:
            barrier.wait(STUCK_SECONDS)
            result = customer_upsert(
                actor=actor, data=CustomerData(name=name), identity_keys=keys_of(phone=phone)
            )
            results.append(result.is_new)
        except BaseException as error:
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=upsert, args=(name,)) for name in ("First", "Second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(STUCK_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_upserts_of_the_same_new_phone_at_once_make_one_customer(owner_actor):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")
    keys = workspace_keys(owner_actor.workspace.pk)
    for round_number in range(ROUNDS):
        phone = f"+86138123450{30 + round_number}"
        # when
        results, errors = _upsert_twice_at_once(owner_actor, phone)
        # then: one created it, the other updated that customer
        assert errors == []
        assert sorted(results) == [False, True]
        (identity,) = Identity.objects.filter(
            workspace=owner_actor.workspace,
            value_index=keys.blind_index(kind="phone", value=phone, is_normalized=True),
        )
        assert identity.customer.name in ("First", "Second")
        assert events_of(identity.customer, "customer.created") == [
            {"by": "owner@acme.test", "source": "api"}
        ]
    assert Customer.objects.filter(workspace=owner_actor.workspace).count() == ROUNDS
    assert Identity.objects.filter(workspace=owner_actor.workspace).count() == ROUNDS


def test_tagging_a_merged_customer_is_refused_and_tags_nothing(owner_actor):
    from huike.customers.merging import customer_merge

    survivor = customer_create(actor=owner_actor, data=CustomerData(name="S"))
    absorbed = customer_create(actor=owner_actor, data=CustomerData(name="A"))
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    absorbed.refresh_from_db()
    tag = tag_create(actor=owner_actor, name="Late")
    with pytest.raises(ConflictError):
        customer_tags_add(actor=owner_actor, customers=[absorbed], tags=[tag])
    assert CustomerTag.objects.filter(tag=tag).count() == 0
