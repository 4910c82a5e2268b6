"""One spelling per identity value, before it is indexed, compared or stored.

`138 1234 5678`, `+86 138-1234-5678` and `13812345678` are one phone number; ` A@B.test` and
`a@b.test` one email address. Blind indexes (huike.core.crypto) hash the normalized value, so
every write path (forms, API, import, channels) must normalize through these functions to find
the same customer.
"""

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from huike.core.errors import InvalidInputError

# Numbers written without a country code are read as Chinese ones unless the caller (e.g. a
# workspace with another default region) says otherwise.
DEFAULT_PHONE_REGION = "CN"


# The ways an extension is written ("x8002", "ext. 12", "extension 12", RFC 3966 ";ext=9");
# "#8003" has no letters. Any other letter makes a vanity number (1-800-FLOWERS), refused.
_EXTENSION_WORDS = re.compile(r";ext=|\bext(?:ension)?\b\.?|(?<![a-z])x(?=[\s.]*\d)")


def _text(value: object, field: str) -> str:
    """`value` if it is a string UTF-8 can hold; InvalidInputError(field=field) otherwise."""
    if not isinstance(value, str):
        raise InvalidInputError(_("Enter text."), field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        # A lone surrogate (from a badly decoded file) is no character anyone typed.
        raise InvalidInputError(_("The value holds invalid characters."), field=field) from None
    return value


# The fast path for the commonest value by far: an 11-digit mainland mobile number, bare (read
# as Chinese when the default region is CN) or after +86/0086, with spaces or hyphens. Parsing
# with phonenumbers costs tens of microseconds; an import of a million rows parses a million.
_CN_MOBILE = re.compile(r"(\+86|0086)?(1\d{10})")
_SEPARATORS = str.maketrans("", "", " -")


@lru_cache(maxsize=100_000)
def _cn_mobile_prefix_is_valid(prefix: str) -> bool:
    """Whether mobile numbers starting with these seven digits are valid. The numbering plan
    (and phonenumbers' metadata) decides by at most the first seven digits (the 3-digit network
    code and the 4-digit HLR block), so the answer for one number holds for its whole block."""
    return phonenumbers.is_valid_number(phonenumbers.parse(f"+86{prefix}0000", None))


def _fast_cn_mobile(text: str, default_region: str) -> str | None:
    match = _CN_MOBILE.fullmatch(text.translate(_SEPARATORS))
    if match is None or (match[1] is None and default_region != "CN"):
        return None
    digits = match[2]
    return f"+86{digits}" if _cn_mobile_prefix_is_valid(digits[:7]) else None


def normalize_phone(value: str, default_region: str = DEFAULT_PHONE_REGION) -> str:
    """The number in E.164 (`+8613812345678`), with its extension in RFC 3966 form when it has
    one (`+861065529988;ext=12`), so the extensions of one switchboard stay distinct.

    Raises InvalidInputError(field="phone") for anything that is not a valid number of its
    region, and for letters (vanity numbers): read as digits they would name another
    person's number. The message does not repeat the value: it ends up in logs and error files.
    """
    text = unicodedata.normalize("NFKC", _text(value, "phone")).strip()
    if not text:
        raise InvalidInputError(_("Enter a phone number."), field="phone")
    fast = _fast_cn_mobile(text, default_region)
    if fast is not None:
        return fast
    number: phonenumbers.PhoneNumber | None
    if any(char.isalpha() for char in _EXTENSION_WORDS.sub("", text.lower())):
        number = None
    else:
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
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


# The fast path for plain ASCII addresses (almost all of them): a dot-atom local part of the
# commonest characters and a domain of letter-digit-hyphen labels with a letter TLD. Such an
# address is valid and its normal form is itself lower-cased, which a property test checks
# against the full path below.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a path, which validate_email applies too
EMAIL_LOCAL_MAX_LENGTH = 64


def normalize_email(value: str) -> str:
    """The address in one ASCII spelling: local part NFKC and lower-cased, domain in IDNA
    ASCII form (`a@bücher.de` is `a@xn--bcher-kva.de`); InvalidInputError(field="email") if
    malformed.

    Invisible characters (zero-width space, soft hyphen, word joiner: Unicode Cc/Cf) and
    combining marks left in the domain are refused rather than dropped: an address that looks
    like another one must not be taken for it, nor produce an index of its own.
    """
    # NFKC folds the full-width letters and @ a Chinese input method produces into their
    # ASCII forms, which is what the person meant.
    raw = _text(value, "email").strip()
    if (
        len(raw) <= EMAIL_MAX_LENGTH
        and _PLAIN_EMAIL.fullmatch(raw)
        and raw.index("@") <= EMAIL_LOCAL_MAX_LENGTH
    ):
        return raw.lower()
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise InvalidInputError(_("Enter an email address."), field="email")
    invalid = InvalidInputError(_("Enter a valid email address."), field="email")
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in text) or "@" not in text:
        raise invalid
    local, domain = text.rsplit("@", 1)
    if any(unicodedata.category(char).startswith("M") for char in domain):
        raise invalid
    try:
        # Python's codec is IDNA 2003 (the `idna` package for IDNA 2008/UTS #46 is not
        # installed); after NFKC and lower-casing both give one ASCII form for the domains
        # people type. Labels are checked one by one, so an empty one is refused too.
        ascii_domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise invalid from None
    address = f"{local.lower()}@{ascii_domain}"
    if not all("!" <= char <= "~" for char in address):
        raise invalid
    try:
        validate_email(address)
    except ValidationError:
        raise invalid from None
    return address


def normalize_text(value: str) -> str:
    """Identities without a richer rule (openids, external ids) are compared as given."""
    return _text(value, "value").strip()


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "phone": normalize_phone,
    "email": normalize_email,
}


def normalize_identity(kind: str, value: str, default_region: str = DEFAULT_PHONE_REGION) -> str:
    """Normalize by identity kind; kinds without a rule of their own are only stripped.
    `default_region` reads phone numbers written without a country code.

    Raises InvalidInputError(field=kind) for an empty value or one its kind rejects.
    """
    if kind == "phone":
        normalized = normalize_phone(value, default_region)
    elif kind in NORMALIZERS:
        normalized = NORMALIZERS[kind](value)
    else:
        normalized = _text(value, kind).strip()
    if not normalized:
        raise InvalidInputError(_("Enter a value."), field=kind)
    return normalized
