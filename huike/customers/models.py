"""Customers: the person known across every channel, the company they belong to, their
identities, tags, custom fields, consent, the timeline of events, and the record of every
merge (which can be undone).

Personal data (identity values, birthday, address, id-document number) is held only as tokens
of huike.core.crypto, bound to the row's public_id; identity values are found by exact match
through their blind index. Registered in apps.py.
"""

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huike.accounts.models import Membership, Workspace
from huike.accounts.visibility import OwnedRecord


class LifecycleStage(models.TextChoices):
    """In order: a later stage is "further along" (merges keep the furthest)."""

    VISITOR = "visitor", _("Visitor")
    LEAD = "lead", _("Lead")
    CUSTOMER = "customer", _("Customer")
    LOYAL = "loyal", _("Loyal")
    CHURNED = "churned", _("Churned")


LIFECYCLE_ORDER = {stage: position for position, stage in enumerate(LifecycleStage.values)}


class Gender(models.TextChoices):
    UNKNOWN = "", _("Not given")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")


class Company(OwnedRecord):
    """A B2B account; customers belong to at most one."""

    class Size(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        MICRO = "1-9", "1-9"
        SMALL = "10-49", "10-49"
        MEDIUM = "50-249", "50-249"
        LARGE = "250-999", "250-999"
        ENTERPRISE = "1000+", "1000+"

    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200)
    domain = models.CharField(_("domain"), max_length=253, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    size = models.CharField(_("size"), max_length=16, choices=Size.choices, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="company_unique_public_id"
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "name"], name="company_ws_name_idx"),
            models.Index(fields=["workspace", "domain"], name="company_ws_domain_idx"),
        ]
        verbose_name = _("company")
        verbose_name_plural = _("companies")

    def __str__(self) -> str:
        return self.name


class Customer(OwnedRecord):
    """One person. A customer absorbed by a merge keeps its row (status merged, `merged_into`
    the survivor) so the merge can be undone; lists show active customers only."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("customer status", "Active")
        MERGED = "merged", pgettext_lazy("customer status", "Merged")

    # The workspace, owner and team columns get no index of their own: the composite indexes
    # below start with the workspace, and serve the owner and team filters too. Every index
    # costs on each of the million inserts of an import.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    owner = models.ForeignKey(
        Membership,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    gender = models.CharField(_("gender"), max_length=16, choices=Gender.choices, blank=True)
    locale = models.CharField(_("language"), max_length=16, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=16,
        choices=LifecycleStage.choices,
        default=LifecycleStage.VISITOR,
    )
    # No reverse accessor: a company's customers are read through customer_search (record
    # rules apply), never company.customers (django-stubs also cannot type that manager).
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_channel = models.CharField(_("source channel"), max_length=40, blank=True)
    # Personal data: tokens of huike.core.crypto (plaintext never stored).
    birthday_token = models.BinaryField(null=True, blank=True)
    address_token = models.BinaryField(null=True, blank=True)
    id_number_token = models.BinaryField(null=True, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Derived from the timeline (huike.customers.profile), never typed in.
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    order_count = models.PositiveIntegerField(default=0)
    total_spent = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    rfm_recency = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="customer_unique_public_id"
            )
        ]
        # No index holds a derived-profile column (last seen, totals, RFM): every event updates
        # them, and an update that changes no indexed column is a HOT update, which writes no
        # index at all (the table keeps free space on its pages for it: migration 0002).
        indexes = [
            # The list: newest first, of active customers, optionally by owner or stage.
            models.Index(
                fields=["workspace", "status", "-created_at", "-id"], name="customer_ws_list_idx"
            ),
            models.Index(
                fields=["workspace", "owner", "-created_at"], name="customer_ws_owner_idx"
            ),
            models.Index(
                fields=["workspace", "lifecycle_stage", "-created_at"],
                name="customer_ws_stage_idx",
            ),
            models.Index(fields=["workspace", "team", "-created_at"], name="customer_ws_team_idx"),
            models.Index(fields=["workspace", "name"], name="customer_ws_name_idx"),
        ]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.name or str(self.public_id)

    @property
    def is_merged(self) -> bool:
        return self.status == self.Status.MERGED


class Identity(models.Model):
    """A key that names one customer on one channel or system: (kind, value) is owned by one
    customer of the workspace. The value is encrypted; `value_index` finds it.

    `kind` is a base kind (huike.customers.identity_kinds) optionally scoped after a colon:
    `wechat_openid:wx1234` (openids are per official account), `crm:salesforce`.
    """

    # Indexed by the unique (workspace, kind, value_index) constraint; the customer column by
    # its own index (a customer's identities, cascades, merges).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=100)
    value_token = models.BinaryField()
    value_index = models.BinaryField()
    is_verified = models.BooleanField(default=False)
    source = models.CharField(max_length=40, blank=True)
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "value_index"], name="identity_unique_value"
            ),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="identity_unique_public_id"
            ),
        ]
        verbose_name = _("identity")
        verbose_name_plural = _("identities")

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"

    @property
    def base_kind(self) -> str:
        return self.kind.partition(":")[0]


class TagGroup(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    color = models.CharField(_("colour"), max_length=7, default="#64748b")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="tag_group_unique_name"),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="tag_group_unique_public_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    group = models.ForeignKey(
        TagGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="tags"
    )
    name = models.CharField(_("name"), max_length=100)
    color = models.CharField(_("colour"), max_length=7, default="#2563eb")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="tag_unique_name"),
            models.UniqueConstraint(fields=["workspace", "public_id"], name="tag_unique_public_id"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomerTag(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", _("Manual")
        RULE = "rule", _("Rule")
        IMPORT = "import", _("Import")
        API = "api", _("API")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_links")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique")
        ]
        indexes = [models.Index(fields=["workspace", "tag", "customer"], name="customer_tag_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.tag_id}"


class CustomField(models.Model):
    """A workspace's own customer attribute; values live in Customer.custom_fields[key] and are
    validated by huike.customers.custom_fields on every write path."""

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        MONEY = "money", _("Money")
        DATE = "date", _("Date")
        DATETIME = "datetime", _("Date and time")
        CHOICE = "choice", _("Single choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")
        BOOLEAN = "boolean", _("Yes/no")
        URL = "url", _("URL")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    key = models.SlugField(_("key"), max_length=63)
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    is_required = models.BooleanField(_("required"), default=False)
    is_unique = models.BooleanField(_("unique"), default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="custom_field_unique_key"),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="custom_field_unique_public_id"
            ),
        ]
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.label


class CustomFieldUniqueValue(models.Model):
    """Claims a value of a unique custom field for one customer; the constraint decides races."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=255)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "field", "value"], name="custom_field_value_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field_id}={self.value}"


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", pgettext_lazy("consent purpose", "Marketing")
    ANALYTICS = "analytics", _("Analytics")
    THIRD_PARTY = "third_party", _("Sharing with third parties")


class ConsentRecord(models.Model):
    """One grant or withdrawal. The customer's consent for a purpose and channel is the latest
    record (huike.customers.consent); records are never changed, so the history is evidence."""

    class Status(models.TextChoices):
        GRANTED = "granted", _("Granted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    ANY_CHANNEL = "any"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=32, choices=ConsentPurpose.choices)
    channel = models.CharField(max_length=40, default=ANY_CHANNEL)
    status = models.CharField(max_length=16, choices=Status.choices)
    recorded_at = models.DateTimeField(default=now)
    source = models.CharField(max_length=100, blank=True)
    evidence = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "customer", "purpose", "channel", "-recorded_at"],
                name="consent_ws_customer_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose}/{self.channel}: {self.status}"


class Event(models.Model):
    """One thing a customer did or that happened to them: the append-only timeline.

    Only `customer` ever changes (a merge moves events to the survivor, an unmerge back);
    `identity` is the key the event arrived through, so an unmerge returns events that reached
    the survivor through the absorbed customer's identities after the merge.
    """

    # The workspace is the first column of every index below, so it needs none of its own.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=100)
    occurred_at = models.DateTimeField(default=now)
    channel = models.CharField(max_length=40, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # The client's id for the event, when it sent one: a retry with the same id records nothing.
    # NULL, not "", for events without one: the unique constraint covers non-null ids only.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    source = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=Q(external_id__isnull=False),
                name="event_unique_external_id",
            )
        ]
        indexes = [
            models.Index(
                fields=["workspace", "customer", "-occurred_at", "-id"], name="event_timeline_idx"
            ),
            models.Index(fields=["workspace", "kind", "-occurred_at"], name="event_ws_kind_idx"),
        ]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.kind} @ {self.occurred_at.isoformat()}"


class CustomerSettings(models.Model):
    """A workspace's rules for customer data: phone region, identity resolution, survivorship.
    Absent fields mean the defaults of huike.customers.rules."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    default_region = models.CharField(_("default phone region"), max_length=2, default="CN")
    # {base kind: "strong" | "normal" | "weak"}
    identity_strength = models.JSONField(default=dict, blank=True)
    # {base kind: maximum identities of that kind per customer}
    identity_caps = models.JSONField(default=dict, blank=True)
    # {base kind: [normalized values never attached to anyone]}; added to the built-in list.
    junk_values = models.JSONField(default=dict, blank=True)
    # {field: "survivor" | "most_recent" | "most_complete"}
    survivorship = models.JSONField(default=dict, blank=True)
    # Two customers matched by strong identities of one source: merge at once, or ask a person.
    auto_merge_strong = models.BooleanField(_("merge strong matches automatically"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"customer settings of {self.workspace_id}"


class CustomerMerge(models.Model):
    """One merge: `absorbed` went into `survivor`. Every row the merge moved is listed in
    MergeMove, and `snapshot` holds both customers' fields from before, so `customer_unmerge`
    restores both exactly."""

    class Reason(models.TextChoices):
        MANUAL = "manual", _("Merged by a person")
        RESOLUTION = "resolution", _("Matched by identity resolution")
        REVIEW = "review", _("Accepted from the review queue")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    absorbed = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    matched_kind = models.CharField(max_length=100, blank=True)
    snapshot = models.JSONField(default=dict)
    merged_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_by_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=now)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by_label = models.CharField(max_length=254, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="customer_merge_unique_public_id"
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="merge_ws_created_idx"),
            models.Index(fields=["workspace", "survivor"], name="merge_ws_survivor_idx"),
            models.Index(fields=["workspace", "absorbed"], name="merge_ws_absorbed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.absorbed_id} -> {self.survivor_id}"

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None


class MergeMove(models.Model):
    """A row (of any model pointing at customers, see huike.customers.references) that a merge
    moved from the absorbed customer to the survivor."""

    merge = models.ForeignKey(CustomerMerge, on_delete=models.CASCADE, related_name="moves")
    model = models.CharField(max_length=100)
    row_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["merge", "model"], name="merge_move_idx")]

    def __str__(self) -> str:
        return f"{self.model}#{self.row_id}"


class MergeCandidate(models.Model):
    """Two customers that may be one person, waiting for a person to decide (review queue)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for review")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Not the same person")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    first = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    # What made the pair a suggestion, kept as data and worded when shown (in the reader's
    # language): the identity kinds that named the second customer, and who saw them together.
    matched_kinds = models.CharField(max_length=255)
    source = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "first", "second"],
                condition=Q(status="open"),
                name="merge_candidate_unique_open",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "-created_at"], name="candidate_ws_idx")
        ]

    def __str__(self) -> str:
        return f"{self.first_id} ? {self.second_id}"

    @property
    def reason(self) -> str:
        return _("%(kinds)s seen together with the other customer's identities by %(source)s") % {
            "kinds": self.matched_kinds,
            "source": self.source or "-",
        }


# --- imports and exports ---------------------------------------------------------------------
class ImportKind(models.TextChoices):
    """The kinds huike.customers imports itself; other apps register theirs (leads, by sales)
    in huike.customers.imports.kinds, which is what ImportJob.kind is checked against."""

    CUSTOMERS = "customers", _("Customers")
    COMPANIES = "companies", _("Companies")


class ImportMode(models.TextChoices):
    CREATE = "create", _("Create new records only")
    UPDATE = "update", _("Update existing records only")
    UPSERT = "upsert", _("Create new and update existing records")


class ImportJob(models.Model):
    """One uploaded file on its way in: its format, the column mapping, the outcome of the dry
    run, and the checkpoint of the run (`next_line` and the counters change in the same
    transaction as each batch's rows, so a run that dies resumes where its last batch ended).

    The file itself lies in private storage (huike.customers.imports.storage) under
    `storage_name` until the job finishes, fails for good or is deleted."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Waiting for the column mapping")
        READY = "ready", _("Ready to start")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        FINISHED = "finished", _("Finished")
        FAILED = "failed", _("Stopped by an error")

    class FileType(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        XML = "xml", "XML"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16)  # a registered kind (imports.kinds)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=254, blank=True)
    file_name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=8, choices=FileType.choices)
    file_size = models.BigIntegerField(default=0)
    storage_name = models.CharField(max_length=255, blank=True)
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    headers = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True)  # {column header: target}
    mode = models.CharField(max_length=8, choices=ImportMode.choices, default=ImportMode.UPSERT)
    system = models.CharField(max_length=60, default="import")
    dry_run = models.JSONField(null=True, blank=True)
    total_estimate = models.PositiveIntegerField(default=0)
    next_line = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="import_job_unique_public_id"
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="import_job_ws_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} import {self.public_id}"

    @property
    def is_done(self) -> bool:
        return self.status == self.Status.FINISHED

    @property
    def kind_label(self) -> str:
        from huike.customers.imports.kinds import import_kind_label

        return import_kind_label(self.kind)

    @property
    def percent(self) -> int:
        if self.status == self.Status.FINISHED:
            return 100
        if not self.total_estimate:
            return 0
        return min(99, self.rows_done * 100 // self.total_estimate)


class ImportRowError(models.Model):
    """A row the import refused, by its line as the spreadsheet shows it (the header is line 1)
    and the column. `shown` is the value masked (huike.core.masking), never the plaintext."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500)
    shown = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "line"], name="import_error_job_line_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line} {self.column}"


class ImportGroup(models.Model):
    """A record of several rows (an order and its lines) that a running import has decided —
    written or refused — by the digest of its group key (ImportKindSpec.group_by) and the line
    it started on: a row of it that comes back in a later batch is refused instead of writing
    the record again from that row alone. Written with each batch; deleted when the job
    finishes."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)  # sha256 of the key, hex
    first_line = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "digest"], name="import_group_unique_digest")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.first_line}"


class ImportMapping(models.Model):
    """A column mapping saved by name, to reuse for the next file from the same system."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16)  # a registered kind (imports.kinds)
    name = models.CharField(_("name"), max_length=100)
    mapping = models.JSONField(default=dict)
    mode = models.CharField(max_length=8, choices=ImportMode.choices, default=ImportMode.UPSERT)
    system = models.CharField(max_length=60, default="import")
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "name"], name="import_mapping_unique_name"
            ),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="import_mapping_unique_public_id"
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExportJob(models.Model):
    """A filtered customer list being written to a file for the member who asked for it (only
    they may download it). `filters` is the CustomerFilters as JSON."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Writing the file")
        FINISHED = "finished", _("Ready to download")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by_label = models.CharField(max_length=254, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    include_contacts = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    row_count = models.PositiveIntegerField(default=0)
    storage_name = models.CharField(max_length=255, blank=True)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="export_job_unique_public_id"
            )
        ]
        indexes = [
            models.Index(
                fields=["workspace", "created_by", "-created_at"], name="export_job_ws_idx"
            )
        ]

    def __str__(self) -> str:
        return f"export {self.public_id}"

    @property
    def file_name(self) -> str:
        return f"customers-{self.created_at:%Y%m%d-%H%M%S}.{self.format}"
