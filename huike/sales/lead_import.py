"""Leads through the customers import (huike.customers.imports): the same upload (CSV, XLSX,
XML up to 100 MB), column mapping, dry run, checkpointed background run with progress, and
error report by line, registered as the import kind `leads`.

Each row is captured like any lead (`leads.lead_capture`, source `import`): its phone or email
resolves the person through identity resolution, so a row of someone we know lands on their
customer — on their open lead if they have one (the repeat is recorded there: "updated"),
otherwise as a new lead, scored and assigned by the rules. Rows are captured one by one, each
in a savepoint of the batch's transaction: a row refused (no phone or email, a value too long,
an address that is not one) is reported with its line, column and reason while the other rows
of the batch are kept, and the batch commits with the job's checkpoint, so a run that dies
resumes after the last committed batch without capturing a row twice. The dry run captures
the first DRY_RUN_ROWS rows the same way in a transaction that is rolled back.
"""

from collections.abc import Collection, Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.core.errors import ConflictError, HuikeError, InvalidInputError
from huike.customers.imports.kinds import ImportKindSpec, import_kind_register
from huike.customers.imports.mapping import Target
from huike.customers.imports.pipeline import (
    CREATE,
    ERROR,
    UPDATE,
    BatchResult,
    ImportContext,
    RowOutcome,
    RowProblem,
    problem,
)
from huike.sales.leads import LeadData, SourceDetail, lead_capture
from huike.sales.models import LeadSource

KIND = "leads"
# Capturing a lead resolves its person, scores and assigns it (about 14 ms a row on SQLite,
# 28-38 ms on PostgreSQL here, bench/sales_leads_import.py): the dry run, in the request,
# decides fewer rows than a customers import's.
DRY_RUN_ROWS = 100
# Rows per batch of a run (one transaction): a few seconds of captures, not a minute.
BATCH_ROWS = 200
TEXT_MAX_LENGTH = 200
MESSAGE_MAX_LENGTH = 10_000
MASKED = {"phone": "phone", "email": "email"}

LEAD_TARGETS: tuple[Target, ...] = (
    Target(
        "name",
        gettext_lazy("Name"),
        aliases=("name", "fullname", "contact", "姓名", "名字", "联系人", "客户姓名"),
    ),
    Target(
        "phone",
        gettext_lazy("Phone"),
        aliases=("phone", "mobile", "tel", "telephone", "手机", "手机号", "手机号码", "电话"),
    ),
    Target(
        "email",
        gettext_lazy("Email"),
        aliases=("email", "e-mail", "mail", "emailaddress", "邮箱", "电子邮箱", "电子邮件"),
    ),
    Target(
        "company_name",
        gettext_lazy("Company"),
        aliases=("company", "companyname", "organization", "公司", "公司名称", "单位", "企业"),
    ),
    Target(
        "job_title",
        gettext_lazy("Job title"),
        aliases=("jobtitle", "title", "position", "职位", "职务", "岗位"),
    ),
    Target("industry", gettext_lazy("Industry"), aliases=("industry", "行业", "所属行业")),
    Target(
        "region",
        gettext_lazy("Region"),
        aliases=("region", "area", "city", "province", "地区", "区域", "城市", "省份"),
    ),
    Target(
        "company_size",
        gettext_lazy("Company size"),
        aliases=("companysize", "size", "employees", "规模", "公司规模", "员工人数"),
    ),
    Target("language", gettext_lazy("Language"), aliases=("language", "locale", "语言")),
    Target("utm_source", gettext_lazy("UTM source"), aliases=("utmsource", "source", "来源")),
    Target("utm_medium", gettext_lazy("UTM medium"), aliases=("utmmedium", "medium", "媒介")),
    Target(
        "utm_campaign",
        gettext_lazy("UTM campaign"),
        aliases=("utmcampaign", "campaign", "活动", "营销活动"),
    ),
    Target(
        "message",
        gettext_lazy("Message or note"),
        aliases=("message", "note", "notes", "comment", "留言", "备注", "需求"),
    ),
)
_SOURCE_FIELDS = ("utm_source", "utm_medium", "utm_campaign")


def leads_mapping_check(targets: Collection[str]) -> str:
    if not {"phone", "email"} & set(targets):
        return _("Choose a column for the phone or the email: leads are found by them.")
    return ""


def _row_data(
    context: ImportContext, cells: Sequence[str]
) -> tuple[LeadData, dict[str, tuple[str, str]]]:
    """The row as LeadData, and per field its (column header, text) for error reports.
    InvalidInputError(field) for a value too long or a row with neither phone nor email."""
    values: dict[str, str] = {}
    columns: dict[str, tuple[str, str]] = {}
    for index, header, target in context.columns:
        text = cells[index].strip() if index < len(cells) and cells[index] else ""
        if not text:
            continue
        limit = MESSAGE_MAX_LENGTH if target == "message" else TEXT_MAX_LENGTH
        columns[target] = (header, text)
        if len(text) > limit:
            raise InvalidInputError(_("At most %(max)d characters.") % {"max": limit}, field=target)
        values[target] = text
    if not (values.get("phone") or values.get("email")):
        raise InvalidInputError(_("The row has neither a phone nor an email."), field="")
    data = LeadData(
        name=values.get("name", ""),
        phone=values.get("phone", ""),
        email=values.get("email", ""),
        company_name=values.get("company_name", ""),
        job_title=values.get("job_title", ""),
        industry=values.get("industry", ""),
        region=values.get("region", ""),
        company_size=values.get("company_size", ""),
        language=values.get("language", ""),
        message=values.get("message", ""),
        source_detail=SourceDetail(
            **{name: values.get(name, "") for name in _SOURCE_FIELDS},
            import_file=context.job.file_name[:TEXT_MAX_LENGTH],
        ),
    )
    return data, columns


def _problem(error: HuikeError, columns: dict[str, tuple[str, str]]) -> RowProblem:
    header, text = columns.get(error.field or "", (error.field or "", ""))
    return problem(header, error.detail, text, MASKED.get(error.field or "", "text"))


def leads_batch(
    context: ImportContext, rows: Sequence[tuple[int, list[str]]], *, write: bool
) -> BatchResult:
    """Capture each row as a lead (see the module's doc): create (a new lead), update (the
    person's open lead took the repeat) or error. `write` changes nothing here: the dry run's
    caller rolls its transaction back."""
    result = BatchResult()
    workspace = context.actor.workspace
    for line, cells in rows:
        columns: dict[str, tuple[str, str]] = {}
        try:
            data, columns = _row_data(context, cells)
            started = timezone.now()
            with transaction.atomic():
                lead = lead_capture(
                    workspace=workspace,
                    source=LeadSource.IMPORT,
                    data=data,
                    actor=context.actor,
                    keys=context.keys,
                    rules=context.rules,
                )
        except (InvalidInputError, ConflictError) as error:
            result.outcomes.append(RowOutcome(line, ERROR, [_problem(error, columns)]))
            continue
        result.outcomes.append(RowOutcome(line, CREATE if lead.created_at >= started else UPDATE))
    return result


def register_lead_import() -> None:
    import_kind_register(
        ImportKindSpec(
            key=KIND,
            label=gettext_lazy("Leads"),
            targets=LEAD_TARGETS,
            batch=leads_batch,
            permission="leads.manage",
            check_mapping=leads_mapping_check,
            has_modes=False,
            has_system=False,
            dry_run_rows=DRY_RUN_ROWS,
            batch_rows=BATCH_ROWS,
            records_url="sales:lead_list",
        )
    )
