"""One spelling per identity value, before it is indexed, compared or stored.

`138 1234 5678`, `+86 138-1234-5678` and `13812345678` are one phone number; ` A@B.test` and
`a@b.test` one email address. Blind indexes (huike.core.crypto) hash the normalized value, so
every write path (forms, API, import, channels) must normalize through these functions to find
the same customer.
"""

import unicodedata
from collections.abc import Callable

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from huike.core.errors import InvalidInputError

# Numbers written without a country code are read as Chinese ones unless the caller (e.g. a
# workspace with another default region) says otherwise.
DEFAULT_PHONE_REGION = "CN"


def normalize_phone(value: str, default_region: str = DEFAULT_PHONE_REGION) -> str:
    """The number in E.164 (`+8613812345678`).

    Raises InvalidInputError(field="phone") for anything that is not a valid number of its
    region. The message does not repeat the value: it ends up in logs and error files.
    """
    text = value.strip()
    if not text:
        raise InvalidInputError(_("Enter a phone number."), field="phone")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInputError(
            _(
                "Not a valid phone number. Numbers from outside %(region)s need their "
                "country code, e.g. +1 415 555 2671."
            )
            % {"region": default_region},
            field="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    """The address stripped and lower-cased; InvalidInputError(field="email") if malformed."""
    # NFKC folds the full-width letters and @ a Chinese input method produces into their
    # ASCII forms, which is what the person meant.
    text = unicodedata.normalize("NFKC", value).strip().lower()
    if not text:
        raise InvalidInputError(_("Enter an email address."), field="email")
    try:
        validate_email(text)
    except ValidationError:
        raise InvalidInputError(_("Enter a valid email address."), field="email") from None
    return text


def normalize_text(value: str) -> str:
    """Identities without a richer rule (openids, external ids) are compared as given."""
    return value.strip()


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "phone": normalize_phone,
    "email": normalize_email,
}


def normalize_identity(kind: str, value: str) -> str:
    """Normalize by identity kind; kinds without a rule of their own are only stripped.

    Raises InvalidInputError(field=kind) for an empty value or one its kind rejects.
    """
    normalized = NORMALIZERS.get(kind, normalize_text)(value)
    if not normalized:
        raise InvalidInputError(_("Enter a value."), field=kind)
    return normalized
