"""Rows to records: parsing and normalizing each row, deduplicating against the workspace and
within the file, and writing a batch in bulk.

A batch costs a fixed number of statements whatever its size: one blind-index lookup of every
identity it names, one visibility check of the customers found, one lookup per unique custom
field, of companies and of tags, then one bulk insert each of customers, identities, tags,
claims, events and row errors and one bulk update. Nothing here runs a query per row.

`batch_process(..., write=False)` is the dry run: the same decisions, nothing written.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.bulk import ModelBuilder, bulk_insert
from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import InvalidInputError
from huike.core.masking import mask
from huike.core.normalize import normalize_email, normalize_phone, normalize_text
from huike.customers.access import visible_customers
from huike.customers.custom_fields import CLEANERS, custom_fields_of, unique_text
from huike.customers.events import events_publish
from huike.customers.identities import (
    IdentityKey,
    customer_personal_set,
    customer_personal_value,
    identities_find,
    identity_build,
    workspace_rules,
)
from huike.customers.imports.mapping import (
    CUSTOM_FIELD_PREFIX,
    GENDER_WORDS,
    LIFECYCLE_WORDS,
    choice_value,
)
from huike.customers.models import (
    Company,
    Customer,
    CustomerTag,
    CustomField,
    CustomFieldUniqueValue,
    Event,
    Identity,
    ImportJob,
    ImportMode,
    ImportRowError,
    LifecycleStage,
    Tag,
)
from huike.customers.rules import WorkspaceRules
from huike.customers.values import parse_date

CREATE = "create"
UPDATE = "update"
SKIP = "skip"
ERROR = "error"
ACTIONS = (CREATE, UPDATE, SKIP, ERROR)

SOURCE = "import"
# Tags and companies are looked up by name once per job and kept; a file naming more distinct
# ones than this starts the cache afresh, so memory stays bounded.
NAME_CACHE_MAX = 10_000
NAME_MAX_LENGTH = 200
PERSONAL_TEXT_MAX_LENGTH = 500
SHORT_TEXT_MAX_LENGTH = 40
TAG_MAX_LENGTH = 100
EXTERNAL_ID_MAX_LENGTH = 255
REASON_MAX_LENGTH = 500
SHOWN_MAX_LENGTH = 255
TAG_SEPARATORS = re.compile(r"[,\uff0c;\uff1b\u3001|]")
# How a refused value appears in the error file: masked like personal data everywhere.
MASK_KIND = {"phone": "phone", "email": "email", "birthday": "date", "address": "address"}
NEW_CUSTOMER = ModelBuilder(Customer)
NEW_CUSTOMER_TAG = ModelBuilder(CustomerTag)
NEW_EVENT = ModelBuilder(Event)
PLAIN_TARGETS = ("name", "gender", "lifecycle_stage", "locale", "source_channel")
CUSTOMER_WRITE_FIELDS = [
    "name",
    "gender",
    "lifecycle_stage",
    "locale",
    "source_channel",
    "company",
    "birthday_token",
    "address_token",
    "id_number_token",
    "custom_fields",
    "updated_at",
]


@dataclass(frozen=True)
class RowProblem:
    column: str
    reason: str
    shown: str = ""


@dataclass
class RowOutcome:
    line: int
    action: str
    problems: list[RowProblem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "action": self.action,
            "problems": [
                {"column": problem.column, "reason": problem.reason, "shown": problem.shown}
                for problem in self.problems
            ],
        }


@dataclass
class BatchResult:
    outcomes: list[RowOutcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)


class RowError(Exception):
    """The row cannot be imported; `problems` say why (one per column at fault)."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(problems)
        self.problems = problems


def problem(column: str, reason: str, raw: str = "", kind: str = "text") -> RowProblem:
    return RowProblem(
        column=column[:255],
        reason=reason[:REASON_MAX_LENGTH],
        shown=mask(kind, raw)[:SHOWN_MAX_LENGTH] if raw else "",
    )


class ImportContext:
    """What every batch of one job shares, loaded once per job: the actor, the workspace's
    keys and rules, custom fields, time zone, and caches of tags and companies by name."""

    def __init__(self, *, job: ImportJob, actor: Actor) -> None:
        self.job = job
        self.actor = actor
        self.workspace_id = actor.workspace.pk
        self.keys: WorkspaceKeys = workspace_keys(self.workspace_id)
        self.rules: WorkspaceRules = workspace_rules(self.workspace_id)
        self.region = self.rules.default_region
        self.currency = actor.workspace.currency
        self.tz = actor.workspace.zone
        self.today = timezone.localdate(timezone=self.tz)
        self.custom_fields: list[CustomField] = custom_fields_of(self.workspace_id)
        self.fields_by_key = {item.key: item for item in self.custom_fields}
        self.unique_fields = [item for item in self.custom_fields if item.is_unique]
        self.mode = job.mode
        self.system = job.system
        self.external_kind = f"crm:{job.system}"
        membership = actor.membership
        self.owner = membership if membership is not None and membership.is_active else None
        self.team = self.owner.team if self.owner is not None else None
        # (column index, header, target) of the mapped columns, in file order.
        positions = {header: index for index, header in enumerate(job.headers)}
        self.columns = [
            (positions[header], header, target)
            for header, target in job.mapping.items()
            if header in positions
        ]
        self.tags: dict[str, Tag] = {}
        self.companies: dict[str, Company] = {}
        self.now = timezone.now()


# --- parsing one customer row ----------------------------------------------------------------
@dataclass
class CustomerRow:
    line: int
    plain: dict[str, str] = field(default_factory=dict)
    personal: dict[str, str] = field(default_factory=dict)
    keys: list[IdentityKey] = field(default_factory=list)
    key_columns: dict[tuple[str, str], str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    company: str = ""
    custom: dict[str, Any] = field(default_factory=dict)
    custom_columns: dict[str, str] = field(default_factory=dict)


def _length(text: str, limit: int) -> str:
    if len(text) > limit:
        raise InvalidInputError(_("At most %(max)d characters.") % {"max": limit})
    return text


def _parse_phone(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
    value = normalize_phone(text, context.region)
    if context.rules.is_junk("phone", value):
        raise InvalidInputError(_("This phone is on the list of placeholder values."))
    _add_key(row, IdentityKey(kind="phone", value=value, base_kind="phone"), header)


def _parse_email(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
    value = normalize_email(text)
    if context.rules.is_junk("email", value):
        raise InvalidInputError(_("This email is on the list of placeholder values."))
    _add_key(row, IdentityKey(kind="email", value=value, base_kind="email"), header)


def _parse_external_id(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
    value = _length(normalize_text(text), EXTERNAL_ID_MAX_LENGTH)
    _add_key(row, IdentityKey(kind=context.external_kind, value=value, base_kind="crm"), header)


def _add_key(row: CustomerRow, key: IdentityKey, header: str) -> None:
    if key.slot not in row.key_columns:
        row.keys.append(key)
        row.key_columns[key.slot] = header


def _parse_birthday(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
    day = parse_date(text, field="birthday")
    if day > context.today:
        raise InvalidInputError(_("A birthday cannot be in the future."))
    row.personal["birthday"] = day.isoformat()


def _parse_personal(name: str) -> Callable[[ImportContext, CustomerRow, str, str], None]:
    def parse(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
        row.personal[name] = _length(text, PERSONAL_TEXT_MAX_LENGTH)

    return parse


def _parse_plain(
    name: str, limit: int, words: dict[str, str] | None = None
) -> Callable[[ImportContext, CustomerRow, str, str], None]:
    def parse(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
        row.plain[name] = choice_value(words, text, field=name) if words else _length(text, limit)

    return parse


def _parse_tags(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
    for part in TAG_SEPARATORS.split(text):
        name = _length(part.strip(), TAG_MAX_LENGTH)
        if name and name not in row.tags:
            row.tags.append(name)


def _parse_company(context: ImportContext, row: CustomerRow, header: str, text: str) -> None:
    row.company = _length(text, NAME_MAX_LENGTH)


CUSTOMER_PARSERS: dict[str, Callable[[ImportContext, CustomerRow, str, str], None]] = {
    "name": _parse_plain("name", NAME_MAX_LENGTH),
    "gender": _parse_plain("gender", 0, GENDER_WORDS),
    "lifecycle_stage": _parse_plain("lifecycle_stage", 0, LIFECYCLE_WORDS),
    "locale": _parse_plain("locale", SHORT_TEXT_MAX_LENGTH),
    "source_channel": _parse_plain("source_channel", SHORT_TEXT_MAX_LENGTH),
    "phone": _parse_phone,
    "email": _parse_email,
    "external_id": _parse_external_id,
    "birthday": _parse_birthday,
    "address": _parse_personal("address"),
    "id_number": _parse_personal("id_number"),
    "tags": _parse_tags,
    "company": _parse_company,
}


def customer_row_parse(context: ImportContext, line: int, cells: Sequence[str]) -> CustomerRow:
    """The row's values normalized; RowError listing every column at fault."""
    row = CustomerRow(line=line)
    problems: list[RowProblem] = []
    for index, header, target in context.columns:
        text = cells[index].strip() if index < len(cells) and cells[index] else ""
        if not text:
            continue
        try:
            if target.startswith(CUSTOM_FIELD_PREFIX):
                custom_field = context.fields_by_key[target.removeprefix(CUSTOM_FIELD_PREFIX)]
                row.custom[custom_field.key] = CLEANERS[custom_field.type](
                    custom_field, text, context.currency
                )
                row.custom_columns[custom_field.key] = header
            else:
                CUSTOMER_PARSERS[target](context, row, header, text)
        except InvalidInputError as error:
            problems.append(problem(header, error.detail, text, MASK_KIND.get(target, "text")))
    if not problems and not row.keys:
        problems.append(
            problem("", _("No phone, email or external ID: the customer cannot be identified."))
        )
    if problems:
        raise RowError(problems)
    return row


# --- one batch of customers -----------------------------------------------------------------
@dataclass
class _Pending:
    """A customer this batch creates or changes, and what to write for it."""

    customer: Customer
    is_new: bool
    first_line: int
    identities: list[Identity] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    company: str = ""
    changed: bool = False
    unique_fields: set[int] = field(default_factory=set)


class CustomerBatch:
    """Decides each row of one batch against the workspace and the rows before it."""

    def __init__(self, context: ImportContext, rows: Sequence[CustomerRow]) -> None:
        self.context = context
        slots = {key.slot: key for row in rows for key in row.keys}
        # Locked until the batch commits: the batch writes these customers from what it read,
        # so a manual edit meanwhile waits instead of being overwritten.
        self.found = identities_find(
            keys=context.keys, identity_keys=slots.values(), lock_customers=True
        )
        canonical = {identity.customer_id: identity.customer for identity in self.found.values()}
        self.visible = (
            set(
                visible_customers(context.actor)
                .filter(pk__in=list(canonical), status=Customer.Status.ACTIVE)
                .values_list("pk", flat=True)
            )
            if canonical
            else set()
        )
        # (customer.pk, or -id() of a customer not saved yet, kind) -> identities held.
        self.identity_counts: dict[tuple[int, str], int] = {
            (customer_id, kind): total
            for customer_id, kind, total in Identity.objects.filter(
                workspace_id=context.workspace_id, customer_id__in=list(canonical)
            )
            .values_list("customer_id", "kind")
            .annotate(total=Count("id"))
            .values_list("customer_id", "kind", "total")
        }
        self.tag_names: dict[int, set[str]] = defaultdict(set)
        for customer_id, name in CustomerTag.objects.filter(
            workspace_id=context.workspace_id, customer_id__in=list(canonical)
        ).values_list("customer_id", "tag__name"):
            self.tag_names[customer_id].add(name)
        company_ids = {
            customer.company_id for customer in canonical.values() if customer.company_id
        }
        self.company_names: dict[int, str] = (
            dict(Company.objects.filter(pk__in=list(company_ids)).values_list("pk", "name"))
            if company_ids
            else {}
        )
        self.claims: dict[tuple[int, str], int | Customer] = {}
        for unique_field in context.unique_fields:
            values = {
                unique_text(row.custom[unique_field.key])
                for row in rows
                if unique_field.key in row.custom
            }
            if values:
                for value, customer_id in CustomFieldUniqueValue.objects.filter(
                    workspace_id=context.workspace_id, field=unique_field, value__in=list(values)
                ).values_list("value", "customer_id"):
                    self.claims[(unique_field.pk, value)] = customer_id
        self.pending_slots: dict[tuple[str, str], _Pending] = {}
        self.pending: dict[int, _Pending] = {}  # by id() of the customer object

    def _owners(self, row: CustomerRow) -> dict[int, tuple[Customer, _Pending | None]]:
        named: dict[int, tuple[Customer, _Pending | None]] = {}
        for key in row.keys:
            pending = self.pending_slots.get(key.slot)
            if pending is not None:
                named[id(pending.customer)] = (pending.customer, pending)
                continue
            identity = self.found.get(key.slot)
            if identity is not None:
                customer = identity.customer
                named[id(customer)] = (customer, self.pending.get(id(customer)))
        return named

    def decide(self, row: CustomerRow) -> RowOutcome:
        context = self.context
        owners = self._owners(row)
        if len(owners) > 1:
            columns = ", ".join(dict.fromkeys(row.key_columns.values()))
            return RowOutcome(
                row.line,
                ERROR,
                [
                    problem(
                        columns,
                        _(
                            "These values belong to two different customers; merge them first, "
                            "then import the row again."
                        ),
                    )
                ],
            )
        customer, pending = next(iter(owners.values()), (None, None))
        if customer is None:
            if context.mode == ImportMode.UPDATE:
                return RowOutcome(
                    row.line, SKIP, [problem("", _("No existing customer matches this row."))]
                )
            return self._create(row)
        if context.mode == ImportMode.CREATE:
            if pending is not None and pending.is_new:
                reason = _("Duplicate of line %(line)d in this file.") % {
                    "line": pending.first_line
                }
            else:
                reason = _("A customer with this phone, email or external ID exists already.")
            columns = ", ".join(dict.fromkeys(row.key_columns.values()))
            return RowOutcome(row.line, ERROR, [problem(columns, reason)])
        if pending is None and customer.pk not in self.visible:
            return RowOutcome(
                row.line,
                ERROR,
                [problem("", _("The matching customer is not one of the records you may change."))],
            )
        return self._update(row, customer, pending)

    def _check(self, row: CustomerRow, customer: Customer, is_new: bool) -> list[RowProblem]:
        """Required and unique custom fields, identity caps: what the row would break."""
        context = self.context
        problems: list[RowProblem] = []
        merged = {**(customer.custom_fields or {}), **row.custom}
        for custom_field in context.custom_fields:
            if custom_field.is_required and merged.get(custom_field.key) in (None, "", []):
                problems.append(
                    problem(
                        row.custom_columns.get(custom_field.key, custom_field.label),
                        _("%(label)s is required.") % {"label": custom_field.label},
                    )
                )
        for custom_field in context.unique_fields:
            if custom_field.key not in row.custom:
                continue
            holder = self.claims.get((custom_field.pk, unique_text(row.custom[custom_field.key])))
            if holder is not None and holder is not customer and holder != customer.pk:
                problems.append(
                    problem(
                        row.custom_columns[custom_field.key],
                        _("Another customer already has this %(label)s.")
                        % {"label": custom_field.label},
                    )
                )
        counts: dict[str, int] = defaultdict(int)
        for key in row.keys:
            if key.slot in self.pending_slots or key.slot in self.found:
                continue
            counts[key.kind] += 1
            held = self.identity_counts.get((_ref(customer), key.kind), 0)
            cap = context.rules.cap_of(key.base_kind)
            if held + counts[key.kind] > cap:
                problems.append(
                    problem(
                        row.key_columns[key.slot],
                        _("A customer holds at most %(cap)d identities of kind %(kind)s.")
                        % {"cap": cap, "kind": key.kind},
                    )
                )
        return problems

    def _apply(self, row: CustomerRow, pending: _Pending) -> None:
        context = self.context
        customer = pending.customer
        for name, value in row.plain.items():
            if getattr(customer, name) != value:
                setattr(customer, name, value)
                pending.changed = True
        for name, value in row.personal.items():
            if pending.is_new or customer_personal_value(customer, name, context.keys) != value:
                customer_personal_set(customer, name, value, context.keys)
                pending.changed = True
        if row.custom:
            values = {**(customer.custom_fields or {}), **row.custom}
            if values != customer.custom_fields:
                customer.custom_fields = values
                pending.changed = True
            for custom_field in context.unique_fields:
                if custom_field.key in row.custom:
                    self.claims[(custom_field.pk, unique_text(row.custom[custom_field.key]))] = (
                        customer
                    )
                    pending.unique_fields.add(custom_field.pk)
        for key in row.keys:
            if key.slot in self.pending_slots or key.slot in self.found:
                continue
            identity = _identity_new(context, customer, key)
            pending.identities.append(identity)
            self.pending_slots[key.slot] = pending
            count_key = (_ref(customer), key.kind)
            self.identity_counts[count_key] = self.identity_counts.get(count_key, 0) + 1
            pending.changed = True
        held_tags = self.tag_names[customer.pk] if customer.pk else set()
        for name in row.tags:
            if name not in pending.tags and name not in held_tags:
                pending.tags.append(name)
                pending.changed = True
        current_company = pending.company or self.company_names.get(customer.company_id or 0, "")
        if row.company and row.company != current_company:
            pending.company = row.company
            pending.changed = True
        for key in row.keys:
            self.pending_slots.setdefault(key.slot, pending)

    def _create(self, row: CustomerRow) -> RowOutcome:
        context = self.context
        now = timezone.now()
        customer = NEW_CUSTOMER(
            workspace_id=context.workspace_id,
            lifecycle_stage=LifecycleStage.VISITOR,
            owner_id=context.owner.pk if context.owner else None,
            team_id=context.team.pk if context.team else None,
            source_channel=SOURCE,
            first_seen_at=now,
            last_seen_at=now,
            created_at=now,
            updated_at=now,
        )
        problems = self._check(row, customer, is_new=True)
        if problems:
            return RowOutcome(row.line, ERROR, problems)
        pending = _Pending(customer=customer, is_new=True, first_line=row.line)
        self.pending[id(customer)] = pending
        self._apply(row, pending)
        return RowOutcome(row.line, CREATE)

    def _update(self, row: CustomerRow, customer: Customer, pending: _Pending | None) -> RowOutcome:
        problems = self._check(row, customer, is_new=pending is not None and pending.is_new)
        if problems:
            return RowOutcome(row.line, ERROR, problems)
        if pending is None:
            pending = _Pending(customer=customer, is_new=False, first_line=row.line)
            self.pending[id(customer)] = pending
        changed_before = pending.changed
        pending.changed = False
        self._apply(row, pending)
        row_changed = pending.changed
        pending.changed = changed_before or row_changed
        if row_changed:
            return RowOutcome(row.line, UPDATE)
        return RowOutcome(row.line, SKIP, [problem("", _("Nothing to change."))])

    # --- writing ----------------------------------------------------------------------------
    def _companies(self, names: set[str]) -> dict[str, Company]:
        context = self.context
        if len(context.companies) > NAME_CACHE_MAX:
            context.companies.clear()
        wanted = names - set(context.companies)
        if wanted:
            for company in Company.objects.filter(
                workspace_id=context.workspace_id, name__in=list(wanted)
            ).order_by("created_at", "pk"):
                context.companies.setdefault(company.name, company)
            missing = [name for name in sorted(wanted) if name not in context.companies]
            created = Company.objects.bulk_create(
                [
                    Company(
                        workspace_id=context.workspace_id,
                        name=name,
                        owner=context.owner,
                        team=context.team,
                    )
                    for name in missing
                ]
            )
            for company in created:
                context.companies[company.name] = company
        return context.companies

    def _tags(self, names: set[str]) -> dict[str, Tag]:
        context = self.context
        if len(context.tags) > NAME_CACHE_MAX:
            context.tags.clear()
        wanted = names - set(context.tags)
        if wanted:
            for tag in Tag.objects.filter(workspace_id=context.workspace_id, name__in=list(wanted)):
                context.tags[tag.name] = tag
            missing = [name for name in sorted(wanted) if name not in context.tags]
            if missing:
                Tag.objects.bulk_create(
                    [Tag(workspace_id=context.workspace_id, name=name) for name in missing],
                    ignore_conflicts=True,
                )
                for tag in Tag.objects.filter(workspace_id=context.workspace_id, name__in=missing):
                    context.tags[tag.name] = tag
        return context.tags

    def write(self) -> None:
        """Write everything the batch decided, in the caller's transaction."""
        context = self.context
        pending = [item for item in self.pending.values() if item.changed]
        company_names = {item.company for item in pending if item.company}
        companies = self._companies(company_names) if company_names else {}
        for item in pending:
            if item.company:
                item.customer.company = companies[item.company]
        now = timezone.now()
        new = [item.customer for item in pending if item.is_new]
        bulk_insert(Customer, new)
        changed = [item.customer for item in pending if not item.is_new]
        for customer in changed:
            customer.updated_at = now
        if changed:
            Customer.objects.bulk_update(changed, CUSTOMER_WRITE_FIELDS, batch_size=500)
        identities = []
        for item in pending:
            for identity in item.identities:
                identity.customer_id = item.customer.pk
                identities.append(identity)
        bulk_insert(Identity, identities)
        self._write_claims(pending)
        tag_names = {name for item in pending for name in item.tags}
        if tag_names:
            tags = self._tags(tag_names)
            bulk_insert(
                CustomerTag,
                [
                    NEW_CUSTOMER_TAG(
                        workspace_id=context.workspace_id,
                        customer_id=item.customer.pk,
                        tag_id=tags[name].pk,
                        source=CustomerTag.Source.IMPORT,
                        created_at=now,
                    )
                    for item in pending
                    for name in item.tags
                ],
            )
        events = [
            NEW_EVENT(
                workspace_id=context.workspace_id,
                customer_id=item.customer.pk,
                kind="customer.created" if item.is_new else "customer.updated",
                occurred_at=now,
                properties={
                    "by": context.actor.label,
                    "source": SOURCE,
                    "import_id": str(context.job.public_id),
                },
                source=SOURCE,
                created_at=now,
            )
            for item in pending
        ]
        bulk_insert(Event, events)
        if events:
            events_publish(context.workspace_id, events)

    def _write_claims(self, pending: list[_Pending]) -> None:
        context = self.context
        changed = [item for item in pending if item.unique_fields]
        if not changed:
            return
        field_ids = {field_id for item in changed for field_id in item.unique_fields}
        CustomFieldUniqueValue.objects.filter(
            workspace_id=context.workspace_id,
            customer_id__in=[item.customer.pk for item in changed if not item.is_new],
            field_id__in=list(field_ids),
        ).delete()
        by_pk = {field.pk: field for field in context.unique_fields}
        CustomFieldUniqueValue.objects.bulk_create(
            [
                CustomFieldUniqueValue(
                    workspace_id=context.workspace_id,
                    field_id=field_id,
                    value=unique_text(item.customer.custom_fields[by_pk[field_id].key]),
                    customer_id=item.customer.pk,
                )
                for item in changed
                for field_id in sorted(item.unique_fields)
            ]
        )


def _identity_new(context: ImportContext, customer: Customer, key: IdentityKey) -> Identity:
    return identity_build(
        keys=context.keys, customer=customer, key=key, source=SOURCE, seen_at=context.now
    )


def _ref(customer: Customer) -> int:
    return customer.pk or -id(customer)


def customers_batch(
    context: ImportContext, rows: Sequence[tuple[int, Sequence[str]]], *, write: bool
) -> BatchResult:
    """Decide (and with `write`, write) one batch of customer rows, in order."""
    context.now = timezone.now()
    result = BatchResult()
    parsed: list[CustomerRow] = []
    outcomes: dict[int, RowOutcome] = {}
    for line, cells in rows:
        try:
            parsed.append(customer_row_parse(context, line, cells))
        except RowError as error:
            outcomes[line] = RowOutcome(line, ERROR, error.problems)
    batch = CustomerBatch(context, parsed)
    for row in parsed:
        outcomes[row.line] = batch.decide(row)
    if write:
        batch.write()
    result.outcomes = [outcomes[line] for line, _cells in rows if line in outcomes]
    return result


def row_errors_build(job: ImportJob, outcomes: Sequence[RowOutcome]) -> list[ImportRowError]:
    return [
        ImportRowError(
            workspace_id=job.workspace_id,
            job=job,
            line=outcome.line,
            column=item.column,
            reason=item.reason,
            shown=item.shown,
        )
        for outcome in outcomes
        if outcome.action == ERROR
        for item in outcome.problems
    ]
