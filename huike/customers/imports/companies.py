"""Rows of a companies import: name, domain, industry, size, region. A row is the same company
as an existing one with its domain, else with its name (domains are unique in practice, names
are not: "华为" may be two records, and a row naming two is reported, not guessed)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.errors import InvalidInputError
from huike.customers.imports.mapping import company_size
from huike.customers.imports.pipeline import (
    CREATE,
    ERROR,
    SKIP,
    UPDATE,
    BatchResult,
    ImportContext,
    RowError,
    RowOutcome,
    RowProblem,
    problem,
)
from huike.customers.models import Company, ImportMode

MAX_LENGTHS = {"name": 200, "domain": 253, "industry": 100, "size": 16, "region": 100}
COMPANY_WRITE_FIELDS = ["name", "domain", "industry", "size", "region", "updated_at"]


def domain_clean(text: str) -> str:
    value = text.strip().lower()
    for prefix in ("https://", "http://"):
        value = value.removeprefix(prefix)
    value = value.removeprefix("www.").split("/", 1)[0]
    if not value or " " in value or "." not in value:
        raise InvalidInputError(_("Not a domain, e.g. example.com."))
    return value


@dataclass
class CompanyRow:
    line: int
    values: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)


def company_row_parse(context: ImportContext, line: int, cells: Sequence[str]) -> CompanyRow:
    row = CompanyRow(line=line)
    problems: list[RowProblem] = []
    for index, header, target in context.columns:
        text = cells[index].strip() if index < len(cells) and cells[index] else ""
        if not text:
            continue
        try:
            if target == "domain":
                value = domain_clean(text)
            elif target == "size":
                value = company_size(text)
            else:
                value = text
            if len(value) > MAX_LENGTHS[target]:
                raise InvalidInputError(
                    _("At most %(max)d characters.") % {"max": MAX_LENGTHS[target]}
                )
        except InvalidInputError as error:
            problems.append(problem(header, error.detail, text))
            continue
        row.values[target] = value
        row.columns[target] = header
    if not problems and not row.values.get("name"):
        problems.append(problem("", _("The company name is empty.")))
    if problems:
        raise RowError(problems)
    return row


class CompanyBatch:
    def __init__(self, context: ImportContext, rows: Sequence[CompanyRow]) -> None:
        self.context = context
        domains = {row.values["domain"] for row in rows if row.values.get("domain")}
        names = {row.values["name"] for row in rows}
        self.by_domain: dict[str, Company] = {}
        self.by_name: dict[str, list[Company]] = {}
        for company in Company.objects.filter(workspace_id=context.workspace_id).filter(
            Q(domain__in=list(domains)) | Q(name__in=list(names))
        ):
            if company.domain:
                self.by_domain.setdefault(company.domain, company)
            self.by_name.setdefault(company.name, []).append(company)
        matched = {company.pk for company in self.by_domain.values()} | {
            company.pk for group in self.by_name.values() for company in group
        }
        self.visible = (
            set(
                Company.objects.visible_to(context.actor)
                .filter(pk__in=list(matched))
                .values_list("pk", flat=True)
            )
            if matched
            else set()
        )
        self.new: dict[int, Company] = {}
        self.new_lines: dict[int, int] = {}
        self.changed: dict[int, Company] = {}

    def _match(self, row: CompanyRow) -> Company | str | None:
        domain = row.values.get("domain")
        if domain and domain in self.by_domain:
            return self.by_domain[domain]
        group = self.by_name.get(row.values["name"], [])
        # A name match counts only for a company without another domain.
        group = [company for company in group if not domain or not company.domain]
        if len(group) > 1:
            return _("Several companies have this name; add the domain to tell them apart.")
        return group[0] if group else None

    def decide(self, row: CompanyRow) -> RowOutcome:
        context = self.context
        match = self._match(row)
        if isinstance(match, str):
            return RowOutcome(row.line, ERROR, [problem(row.columns["name"], match)])
        if match is None:
            if context.mode == ImportMode.UPDATE:
                return RowOutcome(
                    row.line, SKIP, [problem("", _("No existing company matches this row."))]
                )
            now = timezone.now()
            company = Company(
                workspace_id=context.workspace_id,
                owner=context.owner,
                team=context.team,
                created_at=now,
                updated_at=now,
                **row.values,
            )
            self.new[id(company)] = company
            self.new_lines[id(company)] = row.line
            if company.domain:
                self.by_domain[company.domain] = company
            self.by_name.setdefault(company.name, []).append(company)
            return RowOutcome(row.line, CREATE)
        is_new = id(match) in self.new
        if context.mode == ImportMode.CREATE:
            reason = (
                _("Duplicate of line %(line)d in this file.") % {"line": self.new_lines[id(match)]}
                if is_new
                else _("A company with this domain or name exists already.")
            )
            return RowOutcome(row.line, ERROR, [problem(row.columns.get("domain", ""), reason)])
        if not is_new and match.pk not in self.visible:
            return RowOutcome(
                row.line,
                ERROR,
                [problem("", _("The matching company is not one of the records you may change."))],
            )
        changed = False
        for name, value in row.values.items():
            if getattr(match, name) != value:
                setattr(match, name, value)
                changed = True
        if not changed:
            return RowOutcome(row.line, SKIP, [problem("", _("Nothing to change."))])
        if match.domain:
            self.by_domain[match.domain] = match
        if not is_new:
            self.changed[match.pk] = match
        return RowOutcome(row.line, UPDATE)

    def write(self) -> None:
        Company.objects.bulk_create(list(self.new.values()))
        if self.changed:
            now = timezone.now()
            for company in self.changed.values():
                company.updated_at = now
            Company.objects.bulk_update(
                list(self.changed.values()), COMPANY_WRITE_FIELDS, batch_size=500
            )


def companies_batch(
    context: ImportContext, rows: Sequence[tuple[int, Sequence[str]]], *, write: bool
) -> BatchResult:
    outcomes: dict[int, RowOutcome] = {}
    parsed: list[CompanyRow] = []
    for line, cells in rows:
        try:
            parsed.append(company_row_parse(context, line, cells))
        except RowError as error:
            outcomes[line] = RowOutcome(line, ERROR, error.problems)
    batch = CompanyBatch(context, parsed)
    for row in parsed:
        outcomes[row.line] = batch.decide(row)
    if write:
        batch.write()
    return BatchResult(outcomes=[outcomes[line] for line, _cells in rows if line in outcomes])
