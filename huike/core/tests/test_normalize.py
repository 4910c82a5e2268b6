"""Identity normalizers: one spelling per phone number and email address."""

import pytest

from huike.core.errors import InvalidInputError
from huike.core.normalize import (
    NORMALIZERS,
    normalize_email,
    normalize_identity,
    normalize_phone,
)


def fullwidth(text: str) -> str:
    """`text` as a Chinese input method in full-width mode types it (U+FF01..U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("0086 13812345678", "+8613812345678"),
        ("  +8613812345678  ", "+8613812345678"),
        (fullwidth("13812345678"), "+8613812345678"),
        ("010 6552 9988", "+861065529988"),  # Beijing landline
    ],
)
def test_chinese_numbers_normalize_to_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 415 555 2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+852 6123 4567", "+85261234567"),
    ],
)
def test_foreign_numbers_with_country_code_normalize_to_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_a_number_without_country_code_is_read_in_the_given_region() -> None:
    assert normalize_phone("(415) 555-2671", default_region="US") == "+14155552671"


@pytest.mark.parametrize(
    "raw",
    ["12345678901", "1381234567", "138123456789", "+86 123", "not a number", "", "   "],
)
def test_invalid_numbers_are_refused_for_the_phone_field(raw: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_phone(raw)

    assert raised.value.field == "phone"
    assert raised.value.detail in {
        "Enter a phone number.",
        "Not a valid phone number. Numbers from outside CN need their country code, "
        "e.g. +1 415 555 2671.",
    }


def test_an_invalid_number_message_does_not_repeat_the_value() -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_phone("12345678901")

    assert "12345678901" not in raised.value.detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@b.test", "a@b.test"),
        ("  A@B.Test ", "a@b.test"),
        ("Zhang.San@Example.COM", "zhang.san@example.com"),
        (fullwidth("zhang@example.com"), "zhang@example.com"),
    ],
)
def test_emails_are_stripped_and_lower_cased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "  ", "no-at-sign", "a@", "@b.test", "a b@c.test", "a@b"])
def test_malformed_emails_are_refused_for_the_email_field(raw: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_email(raw)

    assert raised.value.field == "email"


def test_normalizers_are_chosen_by_identity_kind() -> None:
    assert set(NORMALIZERS) == {"phone", "email"}
    assert normalize_identity("phone", "138 1234 5678") == "+8613812345678"
    assert normalize_identity("email", " A@B.test") == "a@b.test"
    # other kinds are only stripped: openids are case-sensitive
    assert normalize_identity("wechat_openid", "  oAbC-123 ") == "oAbC-123"


def test_an_empty_identity_of_another_kind_is_refused_for_its_field() -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_identity("wechat_unionid", "   ")

    assert (raised.value.field, raised.value.detail) == ("wechat_unionid", "Enter a value.")
