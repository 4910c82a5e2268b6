"""The rules identity resolution and merging follow: identity kinds and their strength, caps
per kind, junk values, and survivorship per field. Each workspace may override any of them in
its CustomerSettings; what it leaves out comes from the defaults here."""

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from huike.core.errors import InvalidInputError

STRONG = "strong"
NORMAL = "normal"
WEAK = "weak"
STRENGTH_RANK = {WEAK: 0, NORMAL: 1, STRONG: 2}

# Base kinds and how much one shared value says that two records are one person. A unionid
# is one person across every WeChat app; a web visitor id is a browser cookie that a shared
# computer hands to the next person.
IDENTITY_KINDS: dict[str, str] = {
    "phone": NORMAL,
    "email": NORMAL,
    "wechat_openid": NORMAL,
    "wechat_unionid": STRONG,
    "wecom_external_userid": STRONG,
    "weibo_uid": NORMAL,
    "douyin_openid": NORMAL,
    "xiaohongshu_id": NORMAL,
    "whatsapp_id": NORMAL,
    "linkedin_id": NORMAL,
    "facebook_psid": NORMAL,
    "web_visitor_id": WEAK,
    "crm": STRONG,
}
# A verified phone or email (a code was confirmed) is as strong as a unionid.
VERIFIED_STRENGTH = STRONG
PERSONAL_DATA_KINDS = frozenset({"phone", "email"})

# How many identities of one kind one customer may hold. Beyond that a new value is not
# attached: one "customer" collecting thousands of visitor ids is a shared device or a bot,
# and merging everything that touches it would fuse strangers.
DEFAULT_IDENTITY_CAPS: dict[str, int] = {
    "phone": 5,
    "email": 5,
    "wechat_openid": 20,
    "web_visitor_id": 50,
}
DEFAULT_IDENTITY_CAP = 10

# Values people type when they do not want to give theirs; never attached to anyone, so two
# strangers who both typed 13800000000 are not merged. Normalized spellings.
DEFAULT_JUNK_VALUES: dict[str, frozenset[str]] = {
    "phone": frozenset(
        {
            "+8613800000000",
            "+8613800138000",
            "+8613888888888",
            "+8613999999999",
            "+8618888888888",
            "+8613000000000",
            "+8613111111111",
            "+8613312345678",
            "+8613812345678",
            "+8615000000000",
            "+8618000000000",
        }
    ),
    "email": frozenset(
        {
            "test@test.com",
            "test@example.com",
            "a@a.com",
            "123@qq.com",
            "123456@qq.com",
            "noreply@example.com",
            "no-reply@example.com",
            "null@null.com",
        }
    ),
}

SURVIVOR = "survivor"
MOST_RECENT = "most_recent"
MOST_COMPLETE = "most_complete"
SURVIVORSHIP_STRATEGIES = (SURVIVOR, MOST_RECENT, MOST_COMPLETE)
# Fields a merge decides between the two customers. The survivor keeps its value unless it
# has none ("survivor"), the more recently seen customer's wins ("most_recent"), or the longer
# value wins ("most_complete"). Lifecycle stage (furthest along), first/last seen (earliest /
# latest) and tags, identities, events, consents (all kept) have fixed rules.
SURVIVORSHIP_FIELDS = (
    "name",
    "gender",
    "locale",
    "company",
    "owner",
    "team",
    "source_channel",
    "birthday",
    "address",
    "id_number",
    "custom_fields",
)
DEFAULT_SURVIVORSHIP: dict[str, str] = {name: SURVIVOR for name in SURVIVORSHIP_FIELDS}
DEFAULT_SURVIVORSHIP["name"] = MOST_COMPLETE

_KIND = re.compile(r"(?P<base>[a-z][a-z0-9_]*)(?::(?P<scope>[A-Za-z0-9_.\-]{1,60}))?")


def identity_kind_parse(kind: str) -> str:
    """The base kind of `kind` (`wechat_openid:wx12` → `wechat_openid`); InvalidInputError
    for a kind Huike does not know. `crm` always needs its system (`crm:salesforce`)."""
    match = _KIND.fullmatch(kind.strip()) if isinstance(kind, str) else None
    base = match.group("base") if match else None
    if match is None or base not in IDENTITY_KINDS or (base == "crm" and not match["scope"]):
        raise InvalidInputError(
            _("Unknown identity kind %(kind)s.") % {"kind": str(kind)[:100]}, field="identities"
        )
    if base in PERSONAL_DATA_KINDS and match["scope"]:
        raise InvalidInputError(
            _("Identity kind %(kind)s takes no scope.") % {"kind": kind}, field="identities"
        )
    return base


@dataclass(frozen=True)
class WorkspaceRules:
    default_region: str = "CN"
    strength: dict[str, str] = field(default_factory=lambda: dict(IDENTITY_KINDS))
    caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_IDENTITY_CAPS))
    junk: dict[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_JUNK_VALUES))
    survivorship: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SURVIVORSHIP))
    auto_merge_strong: bool = True

    def strength_of(self, base_kind: str, *, is_verified: bool = False) -> str:
        strength = self.strength.get(base_kind, NORMAL)
        if is_verified and base_kind in PERSONAL_DATA_KINDS:
            return VERIFIED_STRENGTH
        return strength

    def cap_of(self, base_kind: str) -> int:
        return self.caps.get(base_kind, DEFAULT_IDENTITY_CAP)

    def is_junk(self, base_kind: str, normalized: str) -> bool:
        return normalized in self.junk.get(base_kind, frozenset())
