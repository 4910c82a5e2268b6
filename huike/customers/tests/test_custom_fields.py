"""Custom field values (huike.customers.custom_fields): each type's cleaning and canonical
form, required fields, unknown keys, choices, and unique values claimed by one customer."""

import pytest

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, InvalidInputError
from huike.customers.custom_fields import custom_field_values_clean, unique_text
from huike.customers.models import Customer, CustomField, CustomFieldUniqueValue
from huike.customers.services import (
    CustomerData,
    custom_field_create,
    customer_create,
    customer_delete,
    customer_update,
)


def field(type: str, *, key: str = "f", choices: list[str] | None = None, **options) -> CustomField:
    """An unsaved field definition: cleaning needs no database."""
    return CustomField(key=key, label="The field", type=type, choices=choices or [], **options)


def clean(definition: CustomField, value, *, currency: str = "CNY"):
    cleaned = custom_field_values_clean(
        fields=[definition], values={definition.key: value}, currency=currency
    )
    return cleaned.get(definition.key)


def refused(definition: CustomField, value) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as raised:
        clean(definition, value)
    return raised.value


# --- each type -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("type", "value", "canonical"),
    [
        ("text", "  Shanghai office ", "Shanghai office"),
        ("text", 42, "42"),
        ("number", "12", 12),
        ("number", 12.0, 12),
        ("number", "12.50", 12.5),
        ("number", "1,234.5", 1234.5),
        ("number", " -3 ", -3),
        ("number", 7, 7),
        ("money", "¥1,234.5", {"amount": "1234.50", "currency": "CNY"}),
        ("money", "99 USD", {"amount": "99.00", "currency": "USD"}),
        ("money", 5, {"amount": "5.00", "currency": "EUR"}),
        ("money", {"amount": "1.5", "currency": "gbp"}, {"amount": "1.50", "currency": "GBP"}),
        ("date", "2024年3月5日", "2024-03-05"),
        ("date", "05/03/2024", "2024-03-05"),
        ("datetime", "2024-03-05T09:30:00+08:00", "2024-03-05T09:30:00+08:00"),
        ("datetime", "2024-03-05 09:30", "2024-03-05T09:30:00+00:00"),
        ("datetime", "2024-03-05", "2024-03-05T00:00:00+00:00"),
        ("boolean", "是", True),
        ("boolean", "no", False),
        ("boolean", False, False),
        ("url", " https://acme.example/about ", "https://acme.example/about"),
    ],
)
def test_each_type_is_stored_in_its_canonical_form(type, value, canonical):
    assert clean(field(type), value, currency="EUR") == canonical


@pytest.mark.parametrize(
    ("type", "value", "detail"),
    [
        ("text", "x" * 1001, "At most 1000 characters."),
        ("number", "twelve", "Enter a number."),
        ("number", True, "Enter a number."),
        ("number", "NaN", "Enter a number."),
        ("number", "Infinity", "Enter a number."),
        ("number", "1e5000", "This number is too large."),
        ("number", "1e16", "This number is too large."),
        ("money", "lots", "Not an amount."),
        ("money", True, "Enter an amount."),
        ("date", "2024-02-30", "This date does not exist."),
        ("date", "soon", "Not a date. Write it like 2024-03-05 or 2024年3月5日."),
        ("datetime", "2024-03-05T25:00", "This date or time does not exist."),
        ("boolean", "perhaps", "Answer yes or no."),
        ("url", "acme.example", "Enter a web address (http/https)."),
        ("url", "ftp://acme.example/file", "Enter a web address (http/https)."),
        ("url", "javascript:alert(1)", "Enter a web address (http/https)."),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(type, value, detail):
    error = refused(field(type, key="budget"), value)
    assert (error.field, error.detail) == ("custom_fields.budget", detail)


def test_the_largest_number_allowed_is_kept_exactly():
    assert clean(field("number"), "999999999999999") == 999999999999999
    assert clean(field("number"), "-999999999999999") == -999999999999999


def test_a_text_of_exactly_the_maximum_length_is_kept():
    assert clean(field("text"), "x" * 1000) == "x" * 1000


# --- choices ---------------------------------------------------------------------------------
def test_a_choice_must_be_one_of_the_choices():
    definition = field("choice", key="tier", choices=["gold", "silver"])
    assert clean(definition, " gold ") == "gold"
    error = refused(definition, "bronze")
    assert (error.field, error.detail) == ("custom_fields.tier", "Choose one of: gold, silver.")


def test_a_choice_is_compared_exactly():
    error = refused(field("choice", key="tier", choices=["gold"]), "Gold")
    assert error.field == "custom_fields.tier"


def test_multi_choice_keeps_each_choice_once_in_the_order_given():
    definition = field("multi_choice", key="interests", choices=["tea", "golf", "wine"])
    assert clean(definition, ["wine", "tea", "wine"]) == ["wine", "tea"]
    assert clean(definition, "golf, tea") == ["golf", "tea"]


def test_multi_choice_refuses_one_unknown_choice_among_known_ones():
    definition = field("multi_choice", key="interests", choices=["tea", "golf"])
    error = refused(definition, ["tea", "chess"])
    assert (error.field, error.detail) == ("custom_fields.interests", "Choose one of: tea, golf.")


# --- the set of values -----------------------------------------------------------------------
def test_an_unknown_key_is_refused_naming_it():
    with pytest.raises(InvalidInputError) as raised:
        custom_field_values_clean(fields=[field("text")], values={"nickname": "Bo"})
    assert (raised.value.field, raised.value.detail) == (
        "custom_fields.nickname",
        "There is no custom field nickname.",
    )


def test_values_not_named_stay_and_empty_ones_are_removed():
    fields = [field("text", key="city"), field("number", key="age"), field("text", key="note")]
    current = {"city": "Shanghai", "age": 30, "note": "likes tea"}
    cleaned = custom_field_values_clean(
        fields=fields, values={"age": "31", "note": "", "city": None}, current=current
    )
    assert cleaned == {"age": 31}
    assert current == {"city": "Shanghai", "age": 30, "note": "likes tea"}  # not changed


def test_an_empty_multi_choice_removes_the_value():
    fields = [field("multi_choice", key="interests", choices=["tea"])]
    cleaned = custom_field_values_clean(
        fields=fields, values={"interests": []}, current={"interests": ["tea"]}
    )
    assert cleaned == {}


def test_values_of_deleted_fields_are_dropped():
    cleaned = custom_field_values_clean(
        fields=[field("text", key="city")], values={}, current={"city": "Xi'an", "gone": 1}
    )
    assert cleaned == {"city": "Xi'an"}


def test_a_required_field_cannot_be_left_empty():
    fields = [field("text", key="city", is_required=True), field("text", key="note")]
    with pytest.raises(InvalidInputError) as raised:
        custom_field_values_clean(fields=fields, values={"note": "hello"})
    assert (raised.value.field, raised.value.detail) == (
        "custom_fields.city",
        "The field is required.",
    )
    with pytest.raises(InvalidInputError):
        custom_field_values_clean(fields=fields, values={"city": " "}, current={"city": "Wuhan"})
    assert custom_field_values_clean(fields=fields, values={}, current={"city": "Wuhan"}) == {
        "city": "Wuhan"
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Ab-12", "ab-12"),
        ({"amount": "1.50", "currency": "CNY"}, "1.50 cny"),
        (["b", "a"], "a,b"),
        (12, "12"),
        ("x" * 300, "x" * 255),
    ],
)
def test_unique_values_are_compared_case_folded(value, text):
    assert unique_text(value) == text


# --- unique claims through the customer services ---------------------------------------------
@pytest.fixture
def member_no(owner_actor: Actor) -> CustomField:
    return custom_field_create(
        actor=owner_actor, key="member_no", label="Member number", type="text", is_unique=True
    )


def create(actor: Actor, name: str, **values) -> Customer:
    return customer_create(actor=actor, data=CustomerData(name=name, custom_fields=values))


def claims(field_row: CustomField) -> list[tuple[str, str]]:
    return sorted(
        CustomFieldUniqueValue.objects.filter(field=field_row).values_list(
            "value", "customer__name"
        )
    )


def test_a_second_customer_with_the_same_unique_value_is_refused(owner_actor, member_no):
    create(owner_actor, "Ann", member_no="VIP-7")
    # when
    with pytest.raises(ConflictError) as raised:
        create(owner_actor, "Bo", member_no="vip-7")
    # then
    assert (raised.value.field, raised.value.detail) == (
        "custom_fields.member_no",
        "Another customer already has this Member number.",
    )
    assert list(Customer.objects.values_list("name", flat=True)) == ["Ann"]
    assert claims(member_no) == [("vip-7", "Ann")]


def test_an_update_to_a_taken_unique_value_is_refused_and_changes_nothing(owner_actor, member_no):
    create(owner_actor, "Ann", member_no="VIP-7")
    bo = create(owner_actor, "Bo", member_no="VIP-8")
    # when
    with pytest.raises(ConflictError) as raised:
        customer_update(
            actor=owner_actor, customer=bo, data=CustomerData(custom_fields={"member_no": "VIP-7"})
        )
    # then
    assert raised.value.field == "custom_fields.member_no"
    bo.refresh_from_db()
    assert bo.custom_fields == {"member_no": "VIP-8"}
    assert claims(member_no) == [("vip-7", "Ann"), ("vip-8", "Bo")]


def test_changing_the_value_releases_the_old_claim(owner_actor, member_no):
    ann = create(owner_actor, "Ann", member_no="VIP-7")
    # when
    customer_update(
        actor=owner_actor, customer=ann, data=CustomerData(custom_fields={"member_no": "VIP-9"})
    )
    bo = create(owner_actor, "Bo", member_no="VIP-7")
    # then
    assert claims(member_no) == [("vip-7", "Bo"), ("vip-9", "Ann")]
    assert bo.custom_fields == {"member_no": "VIP-7"}


def test_clearing_the_value_releases_the_claim(owner_actor, member_no):
    ann = create(owner_actor, "Ann", member_no="VIP-7")
    customer_update(
        actor=owner_actor, customer=ann, data=CustomerData(custom_fields={"member_no": ""})
    )
    assert claims(member_no) == []
    create(owner_actor, "Bo", member_no="VIP-7")
    assert claims(member_no) == [("vip-7", "Bo")]


def test_deleting_the_customer_releases_the_claim(owner_actor, member_no):
    ann = create(owner_actor, "Ann", member_no="VIP-7")
    # when
    customer_delete(actor=owner_actor, customer=ann)
    create(owner_actor, "Bo", member_no="VIP-7")
    # then
    assert claims(member_no) == [("vip-7", "Bo")]


def test_the_same_value_in_another_workspace_is_no_conflict(owner_actor, outsider_actor, member_no):
    custom_field_create(
        actor=outsider_actor, key="member_no", label="Member number", type="text", is_unique=True
    )
    create(owner_actor, "Ann", member_no="VIP-7")
    # when
    other = create(outsider_actor, "Olga", member_no="VIP-7")
    # then
    assert other.custom_fields == {"member_no": "VIP-7"}
    assert CustomFieldUniqueValue.objects.count() == 2


def test_a_unique_money_value_is_claimed_in_its_canonical_form(owner_actor):
    deposit = custom_field_create(
        actor=owner_actor, key="deposit", label="Deposit", type="money", is_unique=True
    )
    create(owner_actor, "Ann", deposit="¥12.5")
    with pytest.raises(ConflictError):
        create(owner_actor, "Bo", deposit="12.50 CNY")
    assert claims(deposit) == [("12.50 cny", "Ann")]


def test_a_naive_datetime_is_read_in_the_active_time_zone(workspace):
    import zoneinfo

    from django.utils import timezone

    from huike.customers.models import CustomField

    field_row = CustomField(key="visit", label="Visit", type="datetime")
    with timezone.override(zoneinfo.ZoneInfo("Asia/Shanghai")):
        cleaned = custom_field_values_clean(
            fields=[field_row], values={"visit": "2024-03-05 09:30"}
        )
    assert cleaned == {"visit": "2024-03-05T09:30:00+08:00"}
