"""Column mapping: what each column of a file becomes, a suggestion from the header names
(English and Chinese), and the check of a mapping someone chose.

A mapping is {column header: target}. Targets are the fields below, or `cf:<key>` for a custom
field. Phone, email and tags may come from several columns (a second mobile number, two tag
columns); every other target from one column at most.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.core.errors import InvalidInputError
from huike.customers.imports.kinds import import_kind
from huike.customers.models import CustomField

CUSTOM_FIELD_PREFIX = "cf:"
IGNORE = ""


@dataclass(frozen=True)
class Target:
    key: str
    label: Promise | str
    is_repeatable: bool = False
    # Header spellings, lower-cased, without spaces, "_" or "-".
    aliases: tuple[str, ...] = ()


CUSTOMER_TARGETS: tuple[Target, ...] = (
    Target(
        "name",
        gettext_lazy("Name"),
        aliases=("name", "姓名", "名字", "客户名称", "客户姓名", "fullname", "联系人", "客户"),
    ),
    Target(
        "phone",
        gettext_lazy("Phone"),
        is_repeatable=True,
        aliases=(
            "phone",
            "mobile",
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "电话号码",
            "联系电话",
            "tel",
            "telephone",
            "cell",
            "mobilephone",
            "phonenumber",
        ),
    ),
    Target(
        "email",
        gettext_lazy("Email"),
        is_repeatable=True,
        aliases=("email", "e-mail", "mail", "邮箱", "电子邮箱", "电子邮件", "emailaddress"),
    ),
    Target(
        "birthday",
        gettext_lazy("Birthday"),
        aliases=("birthday", "birthdate", "dateofbirth", "dob", "生日", "出生日期"),
    ),
    Target(
        "address",
        gettext_lazy("Address"),
        aliases=("address", "地址", "住址", "联系地址", "通讯地址"),
    ),
    Target(
        "company",
        gettext_lazy("Company"),
        aliases=(
            "company",
            "companyname",
            "organization",
            "organisation",
            "公司",
            "公司名称",
            "单位",
            "企业",
        ),
    ),
    Target("gender", gettext_lazy("Gender"), aliases=("gender", "sex", "性别")),
    Target(
        "tags", gettext_lazy("Tags"), is_repeatable=True, aliases=("tags", "tag", "labels", "标签")
    ),
    Target(
        "external_id",
        gettext_lazy("External ID"),
        aliases=("externalid", "外部id", "外部编号", "客户编号", "crmid", "id"),
    ),
    Target(
        "lifecycle_stage",
        gettext_lazy("Lifecycle stage"),
        aliases=("lifecycle", "lifecyclestage", "stage", "生命周期", "生命周期阶段", "客户阶段"),
    ),
    Target("locale", gettext_lazy("Language"), aliases=("language", "locale", "语言")),
    Target(
        "source_channel",
        gettext_lazy("Source channel"),
        aliases=("source", "channel", "sourcechannel", "来源", "来源渠道", "渠道"),
    ),
    Target(
        "id_number",
        gettext_lazy("ID document number"),
        aliases=("idnumber", "身份证", "身份证号", "证件号", "证件号码"),
    ),
)
COMPANY_TARGETS: tuple[Target, ...] = (
    Target(
        "name",
        gettext_lazy("Name"),
        aliases=("name", "company", "companyname", "公司", "公司名称", "名称", "企业名称"),
    ),
    Target(
        "domain",
        gettext_lazy("Domain"),
        aliases=("domain", "website", "web", "url", "域名", "网站", "官网"),
    ),
    Target("industry", gettext_lazy("Industry"), aliases=("industry", "行业", "所属行业")),
    Target(
        "size",
        gettext_lazy("Size"),
        aliases=("size", "employees", "规模", "人数", "员工人数", "公司规模"),
    ),
    Target(
        "region",
        gettext_lazy("Region"),
        aliases=("region", "area", "city", "province", "地区", "区域", "城市", "省份"),
    ),
)

# Fields that name the customer: a row needs one of them to be found or created by.
CUSTOMER_KEYS = ("phone", "email", "external_id")
SYSTEM_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,60}")


def _spelling(header: str) -> str:
    return re.sub(r"[\s_\-:\uff1a()\uff08\uff09*]", "", header.strip().lower())


def target_choices(kind: str, custom_fields: list[CustomField]) -> list[tuple[str, str]]:
    """(key, label) of every target of `kind`, custom fields last."""
    spec = import_kind(kind)
    choices = [(target.key, str(target.label)) for target in spec.targets]
    if spec.custom_fields:
        choices += [(CUSTOM_FIELD_PREFIX + field.key, field.label) for field in custom_fields]
    return choices


def mapping_suggest(
    kind: str, headers: list[str], custom_fields: list[CustomField]
) -> dict[str, str]:
    """A target for each header that names one (by alias, custom field key or label); headers
    that name nothing are left out (ignored)."""
    spec = import_kind(kind)
    by_spelling: dict[str, str] = {}
    for target in spec.targets:
        for alias in (target.key, *target.aliases):
            by_spelling.setdefault(_spelling(alias), target.key)
    if spec.custom_fields:
        for field in custom_fields:
            for spelling in (field.key, field.label, CUSTOM_FIELD_PREFIX + field.key):
                by_spelling.setdefault(_spelling(spelling), CUSTOM_FIELD_PREFIX + field.key)
    repeatable = {target.key for target in spec.targets if target.is_repeatable}
    suggestion: dict[str, str] = {}
    for header in headers:
        chosen = by_spelling.get(_spelling(header))
        if chosen is None:
            # "手机2", "Phone 2", "邮箱(备用)": a numbered or qualified repeat of a column.
            chosen = by_spelling.get(_spelling(re.sub(r"[\d\uff08(].*$", "", header)))
            if chosen not in repeatable:
                chosen = None
        if chosen is None:
            continue
        if chosen in suggestion.values() and chosen not in repeatable:
            continue
        suggestion[header] = chosen
    return suggestion


def mapping_clean(
    *,
    kind: str,
    headers: list[str],
    mapping: Mapping[str, str],
    custom_fields: list[CustomField],
) -> dict[str, str]:
    """The mapping with ignored columns left out; InvalidInputError(field="mapping") for an
    unknown column or target, a target given twice, or a mapping that cannot find anyone."""
    spec = import_kind(kind)
    valid = dict(target_choices(kind, custom_fields))
    repeatable = {target.key for target in spec.targets if target.is_repeatable}
    clean: dict[str, str] = {}
    for header, target in mapping.items():
        if target == IGNORE or target is None:
            continue
        if header not in headers:
            raise InvalidInputError(
                _("The file has no column %(column)s.") % {"column": header}, field="mapping"
            )
        if target not in valid:
            raise InvalidInputError(
                _("Unknown field %(target)s for column %(column)s.")
                % {"target": target, "column": header},
                field="mapping",
            )
        if target in clean.values() and target not in repeatable:
            raise InvalidInputError(
                _("%(target)s is chosen for two columns.") % {"target": valid[target]},
                field="mapping",
            )
        clean[header] = target
    problem = spec.check_mapping(set(clean.values()))
    if problem:
        raise InvalidInputError(problem, field="mapping")
    return clean


def customers_mapping_check(targets: Collection[str]) -> str:
    if not set(targets) & set(CUSTOMER_KEYS):
        return _(
            "Choose a column for the phone, the email or the external ID: customers are "
            "found by them."
        )
    return ""


def companies_mapping_check(targets: Collection[str]) -> str:
    return "" if "name" in targets else _("Choose the column with the company name.")


def system_clean(system: str) -> str:
    text = (system or "").strip()
    if not SYSTEM_PATTERN.fullmatch(text):
        raise InvalidInputError(
            _("Name the source system with letters, digits, . _ or - (e.g. import, sap)."),
            field="system",
        )
    return text


# --- values with fixed choices ---------------------------------------------------------------
GENDER_WORDS: dict[str, str] = {
    "female": "female",
    "f": "female",
    "woman": "female",
    "女": "female",
    "女性": "female",
    "女士": "female",
    "male": "male",
    "m": "male",
    "man": "male",
    "男": "male",
    "男性": "male",
    "先生": "male",
    "other": "other",
    "其他": "other",
    "其它": "other",
    "unknown": "",
    "未知": "",
    "保密": "",
    "-": "",
}
LIFECYCLE_WORDS: dict[str, str] = {
    "visitor": "visitor",
    "访客": "visitor",
    "lead": "lead",
    "线索": "lead",
    "潜在客户": "lead",
    "潜客": "lead",
    "customer": "customer",
    "客户": "customer",
    "成交客户": "customer",
    "loyal": "loyal",
    "忠诚客户": "loyal",
    "忠实客户": "loyal",
    "忠诚": "loyal",
    "churned": "churned",
    "流失": "churned",
    "流失客户": "churned",
}
COMPANY_SIZE_WORDS: dict[str, str] = {
    "1-9": "1-9",
    "10-49": "10-49",
    "50-249": "50-249",
    "250-999": "250-999",
    "1000+": "1000+",
    "micro": "1-9",
    "small": "10-49",
    "medium": "50-249",
    "large": "250-999",
    "enterprise": "1000+",
    "微型": "1-9",
    "小型": "10-49",
    "中型": "50-249",
    "大型": "250-999",
}


def choice_value(words: Mapping[str, str], text: str, *, field: str) -> str:
    value = words.get(text.strip().lower())
    if value is None:
        raise InvalidInputError(
            _("Unknown choice. Use one of: %(choices)s.")
            % {"choices": ", ".join(sorted({word for word in words.values() if word}))},
            field=field,
        )
    return value


def company_size(text: str) -> str:
    """A size bucket from a bucket name or a head count ("120" → 50-249)."""
    cleaned = text.strip().replace(",", "").removesuffix("人")
    if cleaned.isdigit():
        count = int(cleaned)
        for bound, bucket in ((9, "1-9"), (49, "10-49"), (249, "50-249"), (999, "250-999")):
            if count <= bound:
                return bucket
        return "1000+"
    return choice_value(COMPANY_SIZE_WORDS, cleaned, field="size")
