"""Identity normalizers: one spelling per phone number and email address."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 650 253 0000 x8002", "+16502530000;ext=8002"),
        ("+1 650 253 0000 #8003", "+16502530000;ext=8003"),
        ("+1-650-253-0000;ext=9", "+16502530000;ext=9"),
        ("010 8888 8888 ext. 12", "+861088888888;ext=12"),
    ],
)
def test_a_phone_extension_is_kept_in_rfc_3966_form(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_extensions_of_one_switchboard_stay_distinct() -> None:
    assert normalize_phone("010 8888 8888 ext. 12") != normalize_phone("010 8888 8888 ext. 13")
    assert normalize_phone("010 8888 8888 ext. 12") != normalize_phone("010 8888 8888")


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("1-800-FLOWERS", "US"),
        ("1-800-FLOWERS", "CN"),
        ("138 ABCD 5678", "CN"),
        ("+1 650 CALL", "GB"),
    ],
)
def test_a_phone_number_with_letters_is_refused(raw: str, region: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_phone(raw, region)

    assert raised.value.field == "phone"


@pytest.mark.parametrize(
    "raw",
    [
        "test@test\u200b.com",  # zero-width space
        "te\u00adst@test.com",  # soft hyphen
        "test@te\u00adst.com",
        "test@test\u2060.com",  # word joiner
        "te\u2060st@test.com",
        "test@b\u0308.de",  # a combining mark left over after NFKC
        "te\u0007st@test.com",  # a control character
    ],
)
def test_an_email_with_invisible_characters_or_marks_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_email(raw)

    assert raised.value.field == "email"


@pytest.mark.parametrize(
    "raw", ["a@bücher.de", "a@XN--BCHER-KVA.DE", "A@Bu\u0308cher.de", "a@ＢÜＣＨＥＲ.de"]
)
def test_an_internationalized_domain_has_one_ascii_spelling(raw: str) -> None:
    assert normalize_email(raw) == "a@xn--bcher-kva.de"


@pytest.mark.parametrize("kind", ["phone", "email", "openid"])
@pytest.mark.parametrize("value", [None, 13812345678, b"a@b.test", "a\ud800@b.test", "\udc00"])
def test_odd_input_is_an_invalid_input_error_of_its_field(kind: str, value: object) -> None:
    with pytest.raises(InvalidInputError) as raised:
        normalize_identity(kind, value)  # type: ignore[arg-type]

    assert raised.value.field == kind


@settings(max_examples=3000)
@given(
    digits=st.text(alphabet="0123456789", min_size=10, max_size=10),
    prefix=st.sampled_from(["", "+86", "0086", "+86 ", "+86-"]),
)
def test_fast_mobile_path_agrees_with_phonenumbers(digits, prefix):
    import phonenumbers

    from huike.core.normalize import normalize_phone

    # given any 11-digit number starting with 1, written as people write it
    text = f"{prefix}1{digits[:2]} {digits[2:6]} {digits[6:]}"
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        expected = None
    else:
        expected = (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(parsed)
            else None
        )
    # when / then: the fast path and the library agree on validity and on the E.164 form
    try:
        result = normalize_phone(text)
    except InvalidInputError:
        result = None
    assert result == expected


_LOCAL = st.text(alphabet="abcXYZ019_%+-.", min_size=1, max_size=70)
_LABEL = st.text(alphabet="abZ09-", min_size=1, max_size=65)


@settings(max_examples=3000)
@given(
    local=_LOCAL,
    labels=st.lists(_LABEL, min_size=1, max_size=3),
    tld=st.text(alphabet="abcXYZ1-", min_size=1, max_size=6),
)
def test_fast_email_path_agrees_with_the_full_path(local, labels, tld):
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from huike.core import normalize

    # given an ASCII address built from the characters the fast path handles (and some it
    # does not: dots in a row, hyphens at label edges, digits in the TLD, overlong parts)
    address = f"{local}@{'.'.join(labels)}.{tld}"
    # the full path's verdict, as Django's validator gives it for the lower-cased address
    try:
        validate_email(address.lower())
        expected = address.lower()
    except ValidationError:
        expected = None
    # when
    try:
        result = normalize.normalize_email(address)
    except InvalidInputError:
        result = None
    # then
    if normalize._PLAIN_EMAIL.fullmatch(address) and len(address) <= 254:
        assert result == expected
