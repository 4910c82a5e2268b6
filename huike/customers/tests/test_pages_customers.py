"""Customer pages: the list (search, filters, cursor pages, bulk actions, constant queries), the
360 page (identities, audited reveal, tags, consent, timeline), and the create and edit forms —
for the owner, a sales member who sees only their own customers, roles without the permission
and an outsider of another workspace."""

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.models import AuditEntry
from huike.customers.events import event_record
from huike.customers.merging import customer_merge
from huike.customers.models import (
    ConsentRecord,
    Customer,
    CustomerTag,
    CustomField,
    Event,
    Identity,
    Tag,
)
from huike.customers.services import (
    CustomerData,
    consent_record,
    custom_field_create,
    customer_create,
    customer_tags_add,
    tag_create,
)
from huike.customers.tests.conftest import keys_of

LIST = "/customers/"


def _content(response: Any) -> str:
    return response.content.decode()


def _text(response: Any) -> str:
    """The page's visible text with tags removed and blanks collapsed."""
    text = re.sub(r"<[^>]+>", " ", _content(response))
    return re.sub(r"\s+", " ", text)


def _detail(customer: Customer) -> str:
    return f"/customers/{customer.public_id}/"


def _names_in(response: Any) -> list[str]:
    return [row.customer.name for row in response.context["rows"]]


@pytest.fixture
def read_only(make_member: Callable[..., Membership]) -> Membership:
    return make_member("reader@acme.test", "read_only")


@pytest.fixture
def read_only_client(read_only: Membership) -> Client:
    client = Client()
    client.force_login(read_only.user)
    return client


@pytest.fixture
def wang(owner_actor: Actor) -> Customer:
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Wang Fang", lifecycle_stage="lead"),
        identity_keys=keys_of(phone="13912345678", email="Fang@Example.com"),
    )
    customer_tags_add(
        actor=owner_actor, customers=[customer], tags=[tag_create(actor=owner_actor, name="VIP")]
    )
    return customer


# --- the list -------------------------------------------------------------------------------
def test_owner_sees_list_rows_with_masked_contacts_tags_owner_and_stage(
    owner_client: Client, wang: Customer
) -> None:
    # when
    response = owner_client.get(LIST)
    # then
    assert response.status_code == 200
    text = _text(response)
    assert "Wang Fang +86*******5678 f***@example.com VIP owner@acme.test Lead" in text
    content = _content(response)
    assert "13912345678" not in content
    assert "fang@example.com" not in content
    assert f'href="{_detail(wang)}"' in content
    assert 'action="/customers/bulk/"' in content


def test_search_matches_name_or_exact_phone_and_email(
    owner_client: Client, wang: Customer, make_customer: Callable[..., Customer]
) -> None:
    # given
    make_customer(name="Li Lei", phone="13912340000")
    # then
    assert _names_in(owner_client.get(LIST, {"q": "wang"})) == ["Wang Fang"]
    assert _names_in(owner_client.get(LIST, {"q": "139 1234 5678"})) == ["Wang Fang"]
    assert _names_in(owner_client.get(LIST, {"q": "FANG@example.com"})) == ["Wang Fang"]
    assert _names_in(owner_client.get(LIST, {"q": "1391234"})) == []
    assert _names_in(owner_client.get(LIST)) == ["Li Lei", "Wang Fang"]


def test_filters_by_tag_stage_owner_created_date_and_custom_field(
    owner_client: Client,
    owner_actor: Actor,
    owner: Membership,
    member_actor: Actor,
    wang: Customer,
) -> None:
    # given
    level = custom_field_create(
        actor=owner_actor, key="level", label="Level", type="choice", choices=["gold", "silver"]
    )
    customer_create(
        actor=owner_actor,
        data=CustomerData(name="Gold Guo", custom_fields={"level": "gold"}),
    )
    customer_create(actor=member_actor, data=CustomerData(name="Member's Ma"))
    vip = Tag.objects.get(name="VIP")
    today = timezone.localdate(timezone=ZoneInfo(owner.workspace.timezone))
    # then
    assert _names_in(owner_client.get(LIST, {"tag": str(vip.public_id)})) == ["Wang Fang"]
    assert _names_in(owner_client.get(LIST, {"lifecycle_stage": "lead"})) == ["Wang Fang"]
    assert _names_in(owner_client.get(LIST, {"cf_level": "gold"})) == ["Gold Guo"]
    assert _names_in(owner_client.get(LIST, {"owner": str(owner.public_id), "sort": "name"})) == [
        "Gold Guo",
        "Wang Fang",
    ]
    assert _names_in(
        owner_client.get(LIST, {"created_from": today.isoformat(), "sort": "-name"})
    ) == ["Wang Fang", "Member's Ma", "Gold Guo"]
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert _names_in(owner_client.get(LIST, {"created_from": tomorrow})) == []
    # and the custom field filter is a select of its choices
    assert '<select name="cf_level"' in _content(owner_client.get(LIST))
    assert level.key == "level"


def test_htmx_request_returns_only_the_results(owner_client: Client, wang: Customer) -> None:
    # when
    response = owner_client.get(LIST, {"q": "Wang"}, headers={"HX-Request": "true"})
    # then
    content = _content(response)
    assert content.lstrip().startswith('<div id="customer-results">')
    assert "<html" not in content
    assert "Wang Fang" in content
    assert response["Vary"] == "HX-Request, Cookie" or "HX-Request" in response["Vary"]


def test_list_pages_by_cursor_with_next_and_first_page_links(
    owner_client: Client, make_customer: Callable[..., Customer]
) -> None:
    # given five customers, sorted by name
    for name in ["A", "B", "C", "D", "E"]:
        make_customer(name=name)
    # when
    first = owner_client.get(LIST, {"sort": "name", "limit": 2})
    # then
    assert _names_in(first) == ["A", "B"]
    next_cursor = first.context["page"].next
    assert next_cursor is not None
    assert "First page" not in _content(first)
    second = owner_client.get(LIST, {"sort": "name", "limit": 2, "cursor": next_cursor})
    assert _names_in(second) == ["C", "D"]
    assert "First page" in _content(second)
    third = owner_client.get(
        LIST, {"sort": "name", "limit": 2, "cursor": second.context["page"].next}
    )
    assert _names_in(third) == ["E"]
    assert third.context["page"].next is None
    # and no exact total is counted
    assert "page.paginator" not in _content(third)


def test_a_forged_cursor_is_a_400(owner_client: Client, wang: Customer) -> None:
    response = owner_client.get(LIST, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "This cursor is not valid." in _content(response)


def test_sales_member_sees_only_own_customers_and_404_on_others(
    member_client: Client, member_actor: Actor, wang: Customer
) -> None:
    # given a customer of the member's own
    own = customer_create(actor=member_actor, data=CustomerData(name="Own Ou"))
    # when
    response = member_client.get(LIST)
    # then
    assert _names_in(response) == ["Own Ou"]
    assert member_client.get(_detail(own)).status_code == 200
    assert member_client.get(_detail(wang)).status_code == 404
    assert member_client.get(f"{_detail(wang)}edit/").status_code == 404
    assert member_client.get(LIST, {"q": "13912345678"}).context["rows"] == []


def _list_queries(client: Client) -> int:
    client.get(LIST)  # warm up: the first request stores the workspace in the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST, {"limit": 200})
    assert response.status_code == 200
    return len(captured.captured_queries)


def _add_customers(actor: Actor, count: int, start: int) -> None:
    tags = [tag_create(actor=actor, name=f"tag {start}-{n}") for n in range(2)]
    for number in range(start, start + count):
        customer = customer_create(
            actor=actor,
            data=CustomerData(name=f"Customer {number}"),
            identity_keys=keys_of(phone=f"1391234{number:04d}", email=f"c{number}@example.org"),
        )
        customer_tags_add(actor=actor, customers=[customer], tags=tags)


def test_list_page_makes_the_same_number_of_queries_whatever_the_page_size(
    owner_client: Client, owner_actor: Actor, django_assert_num_queries: Any
) -> None:
    # given one customer with contacts and tags, and the queries the page makes for it
    _add_customers(owner_actor, 1, start=1)
    baseline = _list_queries(owner_client)
    # when 12 more exist
    _add_customers(owner_actor, 12, start=2)
    # then the page of 13 rows makes the same number of queries
    with django_assert_num_queries(baseline):
        response = owner_client.get(LIST, {"limit": 200})
    assert len(response.context["rows"]) == 13


def test_outsider_sees_no_acme_customer_in_lists(outsider_client: Client, wang: Customer) -> None:
    response = outsider_client.get(LIST)
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert outsider_client.get(LIST, {"q": "13912345678"}).context["rows"] == []


def _object_urls(customer: Customer) -> list[tuple[str, str, dict[str, str]]]:
    tag = Tag.objects.get(name="VIP")
    return [
        ("get", _detail(customer), {}),
        ("get", f"{_detail(customer)}edit/", {}),
        ("post", f"{_detail(customer)}edit/", {"name": "Hacked", "lifecycle_stage": "lead"}),
        ("get", f"{_detail(customer)}timeline/", {}),
        ("post", f"{_detail(customer)}tags/", {"tag": str(tag.public_id)}),
        ("post", f"{_detail(customer)}tags/{tag.public_id}/remove/", {}),
        (
            "post",
            f"{_detail(customer)}consent/",
            {"purpose": "marketing", "channel": "any", "status": "granted"},
        ),
    ]


def _state(customer: Customer) -> tuple[Any, ...]:
    customer.refresh_from_db()
    return (
        customer.name,
        customer.owner_id,
        sorted(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True)),
        ConsentRecord.objects.filter(customer=customer).count(),
        Event.objects.filter(customer=customer).count(),
    )


def test_outsider_gets_404_on_every_customer_page_and_changes_nothing(
    outsider_client: Client, wang: Customer
) -> None:
    before = _state(wang)
    identity = Identity.objects.filter(customer=wang, kind="phone").get()
    for method, url, data in _object_urls(wang):
        response = getattr(outsider_client, method)(url, data)
        assert response.status_code == 404, (method, url)
    reveal = outsider_client.post(f"{_detail(wang)}reveal/", {"identity": str(identity.public_id)})
    assert reveal.status_code == 404
    assert _state(wang) == before
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_role_without_customers_manage_gets_403_and_nothing_changes(
    read_only_client: Client, wang: Customer
) -> None:
    # given a read-only member, who sees every customer but may change none
    before = _state(wang)
    vip = Tag.objects.get(name="VIP")
    # when
    responses = [
        read_only_client.get("/customers/new/"),
        read_only_client.post("/customers/new/", {"name": "New", "lifecycle_stage": "lead"}),
        *[
            getattr(read_only_client, method)(url, data)
            for method, url, data in _object_urls(wang)[1:3] + _object_urls(wang)[4:]
        ],
        read_only_client.post(
            "/customers/bulk/",
            {"action": "tag", "tag": str(vip.public_id), "customer": [str(wang.public_id)]},
        ),
    ]
    # then
    assert [response.status_code for response in responses] == [403] * 8
    assert _state(wang) == before
    assert list(Customer.objects.values_list("name", flat=True)) == ["Wang Fang"]
    # and the pages offer no change
    page = _content(read_only_client.get(_detail(wang)))
    assert "/edit/" not in page
    assert "Record a grant or withdrawal" not in page
    assert "Reveal" not in page


# --- the 360 page ---------------------------------------------------------------------------
def test_detail_shows_profile_identities_tags_consent_derived_profile_and_timeline(
    owner_client: Client, owner_actor: Actor, wang: Customer
) -> None:
    # given an order, a message and a consent
    paid_at = timezone.now() - dt.timedelta(days=3)
    event_record(
        customer=wang,
        kind="order.paid",
        occurred_at=paid_at,
        channel="shop",
        properties={"amount": "199.00"},
    )
    event_record(customer=wang, kind="message.received", channel="wechat")
    consent_record(
        actor=owner_actor,
        customer=wang,
        purpose="marketing",
        status="granted",
        channel="sms",
        source="signed form",
    )
    # when
    response = owner_client.get(_detail(wang))
    # then
    assert response.status_code == 200
    text = _text(response)
    assert "Wang Fang Lead" in text
    assert "Phone +86*******5678" in text
    assert "Email f***@example.com" in text
    assert "VIP" in text
    assert "Marketing sms Granted" in text
    assert "Orders 1 Total spent 199.00 CNY" in text
    assert "R5 F1 M1" in text
    timeline = [event.kind for event in response.context["timeline"].items]
    assert timeline == [
        "consent.granted",
        "message.received",
        "tag.added",
        "customer.created",
        "order.paid",
    ]
    assert sum(bar.count for bar in response.context["activity"]) == 5
    assert len(response.context["activity"]) == 12
    assert "<svg" in _content(response)
    assert "13912345678" not in _content(response)


def test_total_spent_is_shown_only_to_roles_that_see_amounts(
    make_member: Callable[..., Membership], wang: Customer
) -> None:
    # given a service agent (no amounts.view) who sees every customer through a share-free role
    reader = make_member("service@acme.test", "read_only")
    client = Client()
    client.force_login(reader.user)
    # then read-only has no amounts.view
    assert "Total spent" not in _text(client.get(_detail(wang)))


def test_timeline_filters_by_kind_and_channel_and_loads_more(
    owner_client: Client, wang: Customer
) -> None:
    # given 25 page views on the web and one message on WeChat
    start = timezone.now() - dt.timedelta(days=1)
    for minute in range(25):
        event_record(
            customer=wang,
            kind="page.viewed",
            channel="web",
            occurred_at=start + dt.timedelta(minutes=minute),
            properties={"url": f"/p/{minute}"},
        )
    event_record(customer=wang, kind="message.received", channel="wechat")
    htmx = {"HX-Request": "true"}
    # when filtering by kind through htmx
    page = owner_client.get(f"{_detail(wang)}timeline/", {"kind": "page.*"}, headers=htmx)
    # then the newest 20 page views come, with a "Load more" for the rest
    items = page.context["timeline"].items
    assert [event.properties["url"] for event in items] == [f"/p/{n}" for n in range(24, 4, -1)]
    assert "Load more" in _content(page)
    more = owner_client.get(
        f"{_detail(wang)}timeline/",
        {"kind": "page.*", "cursor": page.context["timeline"].next},
        headers=htmx,
    )
    assert [event.properties["url"] for event in more.context["timeline"].items] == [
        f"/p/{n}" for n in range(4, -1, -1)
    ]
    assert "Load more" not in _content(more)
    by_channel = owner_client.get(f"{_detail(wang)}timeline/", {"channel": "wechat"}, headers=htmx)
    assert [event.kind for event in by_channel.context["timeline"].items] == ["message.received"]
    # and without htmx the timeline address shows the whole page with the filter
    plain = owner_client.get(f"{_detail(wang)}timeline/", {"channel": "wechat"})
    assert plain.status_code == 302
    assert plain["Location"] == f"{_detail(wang)}?channel=wechat"


def test_reveal_shows_the_value_and_is_audited(owner_client: Client, wang: Customer) -> None:
    # given
    phone = Identity.objects.get(customer=wang, kind="phone")
    # when
    response = owner_client.post(
        f"{_detail(wang)}reveal/",
        {"identity": str(phone.public_id)},
        headers={"HX-Request": "true"},
    )
    # then
    assert response.status_code == 200
    assert _content(response).strip() == (
        '<span class="pii revealed" data-testid="revealed">+8613912345678</span>'
    )
    entry = AuditEntry.objects.get(action="pii.revealed")
    assert (entry.actor_label, entry.target_type, entry.target_id, entry.data) == (
        "owner@acme.test",
        "customer",
        str(wang.public_id),
        {"field": "identity.phone"},
    )


def test_reveal_of_a_personal_field(owner_client: Client, owner_actor: Actor) -> None:
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Zhao", birthday=dt.date(1990, 5, 17), address="1 Nanjing Rd"),
    )
    page = _text(owner_client.get(_detail(customer)))
    assert "Birthday ****-**-**" in page
    assert "Address 1**********d" in page
    response = owner_client.post(f"{_detail(customer)}reveal/", {"field": "birthday"})
    assert response.status_code == 200
    assert "1990-05-17" in _content(response)
    assert AuditEntry.objects.get(action="pii.revealed").data == {"field": "birthday"}


def test_reveal_is_refused_without_pii_reveal_and_nothing_is_audited(
    read_only_client: Client, wang: Customer
) -> None:
    phone = Identity.objects.get(customer=wang, kind="phone")
    response = read_only_client.post(f"{_detail(wang)}reveal/", {"identity": str(phone.public_id)})
    assert response.status_code == 403
    assert "+8613912345678" not in _content(response)
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()


def test_tags_are_added_and_removed_on_the_360_page(
    owner_client: Client, owner_actor: Actor, wang: Customer
) -> None:
    # given
    new_tag = tag_create(actor=owner_actor, name="Returning")
    vip = Tag.objects.get(name="VIP")
    # when
    added = owner_client.post(f"{_detail(wang)}tags/", {"tag": str(new_tag.public_id)})
    removed = owner_client.post(f"{_detail(wang)}tags/{vip.public_id}/remove/")
    # then
    assert (added.status_code, removed.status_code) == (302, 302)
    assert list(CustomerTag.objects.filter(customer=wang).values_list("tag__name", flat=True)) == [
        "Returning"
    ]


def test_consent_is_recorded_from_the_360_page(owner_client: Client, wang: Customer) -> None:
    # when
    response = owner_client.post(
        f"{_detail(wang)}consent/",
        {
            "purpose": "marketing",
            "channel": "email",
            "status": "withdrawn",
            "source": "phone call",
            "evidence": "Said stop on 2026-11-30",
        },
    )
    # then
    assert response.status_code == 302
    record = ConsentRecord.objects.get(customer=wang)
    assert (record.purpose, record.channel, record.status, record.source, record.evidence) == (
        "marketing",
        "email",
        "withdrawn",
        "phone call",
        "Said stop on 2026-11-30",
    )
    assert "Marketing email Withdrawn" in _text(owner_client.get(_detail(wang)))


def test_consent_form_errors_stay_on_the_page(owner_client: Client, wang: Customer) -> None:
    response = owner_client.post(
        f"{_detail(wang)}consent/", {"purpose": "spam", "channel": "any", "status": "granted"}
    )
    assert response.status_code == 200
    assert set(response.context["consent_form"].errors) == {"purpose"}
    assert not ConsentRecord.objects.exists()


def test_merged_customer_page_says_where_it_went(
    owner_client: Client, owner_actor: Actor, wang: Customer, make_customer: Callable[..., Customer]
) -> None:
    other = make_customer(name="Fang W.")
    customer_merge(actor=owner_actor, survivor=wang, absorbed=other)
    text = _text(owner_client.get(_detail(other)))
    assert "This customer was merged into Wang Fang ." in text
    assert f'<a href="{_detail(wang)}">Wang Fang</a>' in _content(owner_client.get(_detail(other)))


# --- create and edit ------------------------------------------------------------------------
def test_owner_creates_a_customer_with_contacts_and_custom_fields(
    owner_client: Client, owner_actor: Actor, owner: Membership
) -> None:
    # given
    custom_field_create(
        actor=owner_actor, key="level", label="Level", type="choice", choices=["gold"]
    )
    custom_field_create(actor=owner_actor, key="vip_since", label="VIP since", type="date")
    custom_field_create(actor=owner_actor, key="budget", label="Budget", type="money")
    custom_field_create(actor=owner_actor, key="newsletter", label="Newsletter", type="boolean")
    form = owner_client.get("/customers/new/")
    assert form.status_code == 200
    assert form.context["form"].initial["owner"] == owner
    # when
    response = owner_client.post(
        "/customers/new/",
        {
            "name": "Chen Jing",
            "phone": "139 1234 9999",
            "email": "Chen@Example.org",
            "gender": "female",
            "lifecycle_stage": "customer",
            "owner": str(owner.public_id),
            "birthday": "1988-02-03",
            "cf_level": "gold",
            "cf_vip_since": "2024-03-05",
            "cf_budget": "1200.5 USD",
            "cf_newsletter": "true",
        },
    )
    # then
    customer = Customer.objects.get(name="Chen Jing")
    assert response.status_code == 302
    assert response["Location"] == _detail(customer)
    assert (customer.gender, customer.lifecycle_stage, customer.owner, customer.team) == (
        "female",
        "customer",
        owner,
        None,
    )
    assert customer.custom_fields == {
        "level": "gold",
        "vip_since": "2024-03-05",
        "budget": {"amount": "1200.50", "currency": "USD"},
        "newsletter": True,
    }
    assert sorted(Identity.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "email",
        "phone",
    ]
    assert _names_in(owner_client.get(LIST, {"q": "chen@example.org"})) == ["Chen Jing"]
    page = _text(owner_client.get(_detail(customer)))
    assert "Budget 1200.50 USD" in page
    assert "Newsletter Yes" in page


def test_create_puts_service_errors_on_their_fields(
    owner_client: Client, owner_actor: Actor, wang: Customer
) -> None:
    # given a required unique field and an existing phone
    custom_field_create(
        actor=owner_actor, key="member_no", label="Member no.", type="text", is_unique=True
    )
    customer_create(
        actor=owner_actor, data=CustomerData(name="Holder", custom_fields={"member_no": "M1"})
    )
    # when the phone belongs to Wang Fang
    taken = owner_client.post(
        "/customers/new/",
        {"name": "Dup", "phone": "13912345678", "lifecycle_stage": "lead"},
    )
    invalid = owner_client.post(
        "/customers/new/", {"name": "Bad", "phone": "12", "lifecycle_stage": "lead"}
    )
    junk = owner_client.post(
        "/customers/new/", {"name": "Junk", "email": "test@test.com", "lifecycle_stage": "lead"}
    )
    unique = owner_client.post(
        "/customers/new/", {"name": "Twin", "cf_member_no": "m1", "lifecycle_stage": "lead"}
    )
    # then each error sits on its field and nothing was created
    assert taken.context["form"].errors == {
        "phone": ["This phone already belongs to another customer."]
    }
    assert list(invalid.context["form"].errors) == ["phone"]
    assert junk.context["form"].errors == {
        "email": ["This email is on the list of placeholder values."]
    }
    assert unique.context["form"].errors == {
        "cf_member_no": ["Another customer already has this Member no.."]
    }
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["Holder", "Wang Fang"]


def test_required_custom_field_is_required_by_the_form(
    owner_client: Client, owner_actor: Actor
) -> None:
    custom_field_create(actor=owner_actor, key="city", label="City", type="text", is_required=True)
    response = owner_client.post("/customers/new/", {"name": "X", "lifecycle_stage": "lead"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["cf_city"]
    assert not Customer.objects.exists()


def test_owner_edits_a_customer_keeping_personal_data_when_left_empty(
    owner_client: Client, owner_actor: Actor, member: Membership
) -> None:
    # given
    custom_field_create(actor=owner_actor, key="level", label="Level", type="text")
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Old", birthday=dt.date(1990, 1, 2), custom_fields={"level": "a"}),
    )
    form = owner_client.get(f"{_detail(customer)}edit/")
    assert form.context["form"].initial["cf_level"] == "a"
    assert "1990-01-02" not in _content(form)
    # when
    response = owner_client.post(
        f"{_detail(customer)}edit/",
        {
            "name": "New Name",
            "lifecycle_stage": "loyal",
            "owner": str(member.public_id),
            "cf_level": "",
        },
    )
    # then
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.lifecycle_stage, customer.owner, customer.custom_fields) == (
        "New Name",
        "loyal",
        member,
        {},
    )
    assert "Birthday ****-**-**" in _text(owner_client.get(_detail(customer)))


# --- bulk actions ---------------------------------------------------------------------------
def test_bulk_tag_and_assign_owner_on_selected_rows(
    owner_client: Client,
    owner_actor: Actor,
    member: Membership,
    make_customer: Callable[..., Customer],
) -> None:
    # given
    first, second, third = (make_customer(name=name) for name in ("One", "Two", "Three"))
    tag = tag_create(actor=owner_actor, name="Fair 2026")
    selected = [str(first.public_id), str(second.public_id)]
    # when
    tagged = owner_client.post(
        "/customers/bulk/",
        {"action": "tag", "tag": str(tag.public_id), "customer": selected, "filters": "q=o"},
    )
    assigned = owner_client.post(
        "/customers/bulk/",
        {"action": "assign", "owner": str(member.public_id), "customer": selected},
    )
    # then
    assert tagged["Location"] == "/customers/?q=o"
    assert assigned["Location"] == "/customers/"
    assert sorted(CustomerTag.objects.filter(tag=tag).values_list("customer__name", flat=True)) == [
        "One",
        "Two",
    ]
    assert sorted(Customer.objects.filter(owner=member).values_list("name", flat=True)) == [
        "One",
        "Two",
    ]
    assert third.owner_id == owner_actor.membership.pk  # type: ignore[union-attr]


def test_bulk_merge_needs_exactly_two_and_opens_the_compare_page(
    owner_client: Client, make_customer: Callable[..., Customer]
) -> None:
    first, second, third = (make_customer(name=name) for name in ("One", "Two", "Three"))
    three = owner_client.post(
        "/customers/bulk/",
        {"action": "merge", "customer": [str(c.public_id) for c in (first, second, third)]},
    )
    assert three["Location"] == "/customers/"
    two = owner_client.post(
        "/customers/bulk/",
        {"action": "merge", "customer": [str(first.public_id), str(second.public_id)]},
    )
    assert two["Location"] == f"/customers/merge/?a={first.public_id}&b={second.public_id}"


def test_bulk_actions_ignore_customers_the_member_cannot_see(
    member_client: Client, member_actor: Actor, owner_actor: Actor, wang: Customer
) -> None:
    # given a tag and a customer of the member's own
    tag = tag_create(actor=owner_actor, name="Fair")
    own = customer_create(actor=member_actor, data=CustomerData(name="Own"))
    # when the member also names the owner's customer
    selected = [str(wang.public_id), str(own.public_id)]
    response = member_client.post(
        "/customers/bulk/", {"action": "tag", "tag": str(tag.public_id), "customer": selected}
    )
    # then only their own customer is tagged
    assert response.status_code == 302
    assert list(CustomerTag.objects.filter(tag=tag).values_list("customer__name", flat=True)) == [
        "Own"
    ]


def test_anonymous_is_sent_to_sign_in(db: None) -> None:
    response = Client().get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_custom_field_types_get_their_inputs(owner_client: Client, owner_actor: Actor) -> None:
    for key, type_ in [
        ("when", "datetime"),
        ("site", "url"),
        ("count", "number"),
        ("many", "multi_choice"),
    ]:
        custom_field_create(
            actor=owner_actor,
            key=key,
            label=key,
            type=type_,
            choices=["a", "b"] if type_ == "multi_choice" else [],
        )
    content = _content(owner_client.get("/customers/new/"))
    assert 'type="datetime-local" name="cf_when"' in content
    assert 'type="url" name="cf_site"' in content
    assert 'name="cf_count" inputmode="decimal"' in content
    assert 'type="checkbox" name="cf_many" value="a"' in content
    assert CustomField.objects.count() == 4


def test_pages_render_in_chinese(owner_client: Client, wang: Customer) -> None:
    # given the member chose Chinese
    owner_client.cookies["django_language"] = "zh-hans"
    # then the list and the 360 page render
    listing = owner_client.get(LIST)
    detail = owner_client.get(_detail(wang))
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert '<html lang="zh-hans">' in _content(listing)
    assert "Wang Fang" in _text(detail)


def test_editing_a_customer_whose_owner_left_keeps_the_owner(
    owner_client: Client, member: Membership, member_actor: Actor
) -> None:
    # given a customer of a member who was deactivated since
    customer = customer_create(actor=member_actor, data=CustomerData(name="Left Behind"))
    member.is_active = False
    member.save(update_fields=["is_active"])
    form = owner_client.get(f"{_detail(customer)}edit/").context["form"]
    # when the owner renames the customer, leaving the owner as shown
    response = owner_client.post(
        f"{_detail(customer)}edit/",
        {
            "name": "Still Here",
            "lifecycle_stage": "visitor",
            "owner": str(member.public_id),
        },
    )
    # then
    assert form.initial["owner"] == member
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.owner) == ("Still Here", member)


def test_bulk_action_returns_to_the_list_with_its_filters_only(
    owner_client: Client, owner_actor: Actor, wang: Customer
) -> None:
    tag = tag_create(actor=owner_actor, name="Fair")
    response = owner_client.post(
        "/customers/bulk/",
        {
            "action": "tag",
            "tag": str(tag.public_id),
            "customer": [str(wang.public_id)],
            "filters": "q=Wang Fang&lifecycle_stage=lead\r\nSet-Cookie: x",
        },
    )
    assert (
        response["Location"] == "/customers/?q=Wang+Fang&lifecycle_stage=lead%0D%0ASet-Cookie%3A+x"
    )


def test_list_offers_export_of_the_current_filters_and_the_import(
    owner_client: Client, wang: Customer
) -> None:
    content = _content(owner_client.get(LIST, {"q": "Wang", "lifecycle_stage": "lead"}))
    export = content[content.index('<form method="post" action="/customers/exports/"') :]
    export = export[: export.index("</form>")]
    assert '<input type="hidden" name="q" value="Wang">' in export
    assert '<input type="hidden" name="lifecycle_stage" value="lead">' in export
    assert 'href="/customers/imports/new/"' in content


def test_roles_without_export_or_import_get_no_such_buttons(
    member_client: Client, member_actor: Actor
) -> None:
    customer_create(actor=member_actor, data=CustomerData(name="Own"))
    content = _content(member_client.get(LIST))
    assert "/customers/exports/" not in content
    assert "/customers/imports/new/" not in content


def test_timeline_names_event_kinds_in_the_readers_language(owner_client, owner_actor):
    from huike.customers.ingest import events_ingest

    report = events_ingest(
        actor=owner_actor,
        items=[{"kind": "page.viewed", "identities": {"phone": "13812346666"}}],
    )
    customer_id = report.results[0].customer_id
    english = owner_client.get(f"/customers/{customer_id}/")
    assert "Viewed a page" in english.content.decode()
    owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    chinese = owner_client.get(f"/customers/{customer_id}/", headers={"Accept-Language": "zh-hans"})
    assert "浏览了页面" in chinese.content.decode()


def test_registered_panels_show_on_the_360_page_when_their_context_allows(
    owner_client: Client, member_client: Client, member: Membership, wang: Customer
) -> None:
    from huike.customers.panels import register_customer_panel, unregister_customer_panel

    Customer.objects.filter(pk=wang.pk).update(owner=member)

    # given a panel shown only to roles that may configure customers
    def context(actor: Actor, customer: Customer) -> dict[str, Any] | None:
        if not actor.has("customers.configure"):
            return None
        return {"key": "deals", "text": f"2 open deals of {customer.name}"}

    register_customer_panel("deals", "recordapp/panel.html", context, order=10)
    try:
        # when the owner and a member without the permission open the page
        owner_page = _content(owner_client.get(_detail(wang)))
        member_page = member_client.get(_detail(wang))
        # then the owner sees the panel with its context, the member (who sees the customer)
        # does not
        assert member_page.status_code == 200
        assert (
            f'<section class="panel" data-panel="deals">2 open deals of {wang.name}' in owner_page
        )
        assert 'data-panel="deals"' not in _content(member_page)
    finally:
        unregister_customer_panel("deals")
