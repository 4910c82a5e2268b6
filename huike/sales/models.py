"""Sales: leads and their pool, scoring, assignment rules, pipelines and deals, activities,
tasks, products, orders and targets.

A lead is always about a customer (identity resolution finds or creates one, so a lead never
duplicates a person we know); converting it opens a deal. Leads, deals, tasks and orders follow
the record rules of huike.accounts.visibility (owner, team subtree, view-all, shares): a task's
owner is its assignee. Amounts are Decimal with their currency, never floats.
"""

import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.visibility import OwnedRecord
from huike.customers.models import Company, Customer


def _public_id_unique(model: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["workspace", "public_id"], name=f"{model}_unique_public_id"
    )


# ---------------------------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------------------------


class Pipeline(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    position = models.PositiveIntegerField(default=0)
    is_default = models.BooleanField(_("default pipeline"), default=False)
    is_archived = models.BooleanField(_("archived"), default=False)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _public_id_unique("pipeline"),
            models.UniqueConstraint(fields=["workspace", "name"], name="pipeline_unique_name"),
        ]
        ordering = ["position", "id"]
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")

    def __str__(self) -> str:
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Stage(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=8, choices=StageKind.choices)
    # Win probability in percent (0-100): the weight of the stage's deals in the forecast.
    probability = models.PositiveSmallIntegerField(
        _("win probability (%)"), validators=[MaxValueValidator(100)]
    )
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [_public_id_unique("stage")]
        indexes = [models.Index(fields=["pipeline", "position"], name="stage_pipeline_pos_idx")]
        ordering = ["position", "id"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------
# Leads
# ---------------------------------------------------------------------------------------------


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    CONTACTED = "contacted", _("Contacted")
    QUALIFIED = "qualified", _("Qualified")
    UNQUALIFIED = "unqualified", _("Unqualified")
    CONVERTED = "converted", _("Converted")


class LeadSource(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    CHANNEL = "channel", _("Conversation")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    MANUAL = "manual", _("Entered by hand")


class ScoreBand(models.TextChoices):
    NONE = "", _("Not qualified yet")
    MQL = "mql", _("Marketing qualified (MQL)")
    SQL = "sql", _("Sales qualified (SQL)")


class Lead(OwnedRecord):
    """A sales opportunity about one customer. No owner means the lead is in the pool (公海)."""

    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the lead was captured with (the contact details themselves are identities of the
    # customer, encrypted there; a lead holds no personal data of its own beyond the name).
    name = models.CharField(_("name"), max_length=200, blank=True)
    company_name = models.CharField(_("company name"), max_length=200, blank=True)
    job_title = models.CharField(_("job title"), max_length=100, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    company_size = models.CharField(
        _("company size"), max_length=16, choices=Company.Size.choices, blank=True
    )
    language = models.CharField(_("language"), max_length=16, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW
    )
    unqualified_reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=LeadSource.choices)
    # UTM parameters, referrer, form or conversation the lead came from.
    source_detail = models.JSONField(default=dict, blank=True)
    # Rule-based score (huike.sales.scoring) and the band its thresholds put it in.
    score = models.IntegerField(_("score"), default=0)
    score_band = models.CharField(
        _("qualification"), max_length=8, choices=ScoreBand.choices, blank=True
    )
    score_updated_at = models.DateTimeField(null=True, blank=True)
    # Predictive score (probability of winning, 0-1) and its top factors; null when off.
    predicted_score = models.FloatField(null=True, blank=True)
    predicted_factors = models.JSONField(default=list, blank=True)
    assignment_rule = models.ForeignKey(
        "AssignmentRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # First-contact SLA of the rule that assigned it; reminders and escalation work off these.
    first_contact_due_at = models.DateTimeField(null=True, blank=True)
    first_contacted_at = models.DateTimeField(null=True, blank=True)
    sla_reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    returned_to_pool_count = models.PositiveIntegerField(default=0)
    deal = models.ForeignKey(
        "Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [_public_id_unique("lead")]
        indexes = [
            models.Index(fields=["workspace", "status", "-created_at"], name="lead_ws_status_idx"),
            models.Index(fields=["workspace", "owner", "status"], name="lead_ws_owner_idx"),
            # The pool: unassigned leads, best first.
            models.Index(
                fields=["workspace", "-score", "-created_at"],
                name="lead_ws_pool_idx",
                condition=Q(owner__isnull=True),
            ),
            models.Index(fields=["workspace", "customer"], name="lead_ws_customer_idx"),
            models.Index(
                fields=["workspace", "first_contact_due_at"],
                name="lead_ws_sla_idx",
                condition=Q(first_contacted_at__isnull=True),
            ),
        ]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")

    def __str__(self) -> str:
        return self.name or self.company_name or str(self.public_id)

    @property
    def is_in_pool(self) -> bool:
        return self.owner_id is None


class LeadHistory(models.Model):
    """What happened to a lead's ownership and status, with who did it."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Captured")
        ASSIGNED = "assigned", _("Assigned")
        CLAIMED = "claimed", _("Claimed from the pool")
        RELEASED = "released", _("Released to the pool")
        RETURNED = "returned", _("Returned to the pool (not followed up)")
        STATUS = "status", _("Status changed")
        QUALIFIED = "qualified", _("Score threshold reached")
        REMINDED = "reminded", _("First-contact reminder sent")
        ESCALATED = "escalated", _("Escalated to the manager")
        CONVERTED = "converted", _("Converted")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["lead", "-created_at"], name="leadhistory_lead_idx")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.kind}"


class LeadSettings(models.Model):
    """The workspace's lead-pool and qualification settings (one row, made on first use)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    # Open (not converted, not unqualified) leads one rep may hold; claims beyond it refused.
    claim_limit = models.PositiveIntegerField(_("leads a rep may hold"), default=200)
    # An owned lead with no follow-up (activity, status change) for this long goes back to the
    # pool; 0 turns the return off.
    follow_up_hours = models.PositiveIntegerField(_("return to pool after (hours)"), default=72)
    mql_threshold = models.IntegerField(_("MQL at score"), default=50)
    sql_threshold = models.IntegerField(_("SQL at score"), default=100)
    predictive_enabled = models.BooleanField(_("use the predictive score"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"lead settings of {self.workspace_id}"


class RepClaimLimit(models.Model):
    """One rep's own claim limit: the open leads this member may hold instead of the
    workspace's LeadSettings.claim_limit, both for claims from the pool and for assignment
    rules without a capacity of their own (a part-time rep, a new hire, a team lead)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="+")
    claim_limit = models.PositiveIntegerField(_("leads this rep may hold"))
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"claim limit of {self.membership_id}: {self.claim_limit}"


class WebForm(models.Model):
    """An embeddable lead-capture form: a <script> with `public_key` renders it on any site."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    public_key = models.CharField(max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    # The fields the form asks for, in order: [{"name": "email", "required": true}, ...].
    fields = models.JSONField(default=list)
    success_message = models.CharField(_("thank-you message"), max_length=300, blank=True)
    # Origins allowed to embed and post the form; empty allows any.
    allowed_origins = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    submission_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [_public_id_unique("webform")]
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


class ScoringRule(models.Model):
    """Points for an attribute of the lead or for an event on its customer's timeline."""

    class Kind(models.TextChoices):
        ATTRIBUTE = "attribute", _("Attribute")
        EVENT = "event", _("Event")

    class Operator(models.TextChoices):
        EQUALS = "eq", _("is")
        IN = "in", _("is one of")
        CONTAINS = "contains", _("contains")
        AT_LEAST = "gte", _("at least")
        AT_MOST = "lte", _("at most")
        PRESENT = "present", _("is filled in")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices)
    # attribute rules: the lead field (industry, region, company_size, language, source,
    # job_title, or "custom.<key>"), the operator and the value compared with.
    field = models.CharField(_("field"), max_length=100, blank=True)
    operator = models.CharField(_("operator"), max_length=16, choices=Operator.choices, blank=True)
    value = models.JSONField(_("value"), null=True, blank=True)
    # event rules: the event kind ("page.viewed", "email.clicked", "message.received"...).
    event_kind = models.CharField(_("event"), max_length=100, blank=True)
    points = models.IntegerField(_("points"))
    # Event points lose half their weight every this many days; 0 keeps them forever.
    half_life_days = models.PositiveIntegerField(_("half-life (days)"), default=0)
    # An event rule counts at most this many occurrences; 0 means no limit.
    max_occurrences = models.PositiveIntegerField(_("counted at most"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [_public_id_unique("scoringrule")]
        indexes = [
            models.Index(fields=["workspace", "kind", "event_kind"], name="scoringrule_kind_idx")
        ]
        ordering = ["position", "id"]
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")

    def __str__(self) -> str:
        return self.name


class ScoreChange(models.Model):
    """One change of a lead's score and why: the score history shown on the lead."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_changes")
    rule = models.ForeignKey(
        ScoringRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The timeline event that earned the points (customers.Event id); with the rule it makes a
    # replayed event count once.
    event_id = models.BigIntegerField(null=True, blank=True)
    points = models.IntegerField()
    score_after = models.IntegerField()
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "rule", "event_id"],
                name="scorechange_unique_event",
                condition=Q(event_id__isnull=False),
            )
        ]
        indexes = [models.Index(fields=["lead", "-created_at"], name="scorechange_lead_idx")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.points:+d} ({self.reason})"


class PredictiveModel(models.Model):
    """A lead-win model trained on the workspace's own won/lost history."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    trained_at = models.DateTimeField(default=now)
    samples = models.PositiveIntegerField()
    won_samples = models.PositiveIntegerField()
    # Measured on held-out leads the model did not see.
    accuracy = models.FloatField()
    roc_auc = models.FloatField(null=True, blank=True)
    features = models.JSONField(default=list)
    # The fitted model's parameters as plain numbers (no pickles: nothing executable is stored).
    parameters = models.JSONField(default=dict)
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-trained_at"], name="predmodel_ws_idx")]

    def __str__(self) -> str:
        return f"model of {self.workspace_id} at {self.trained_at:%Y-%m-%d}"


# ---------------------------------------------------------------------------------------------
# Assignment
# ---------------------------------------------------------------------------------------------


class AssignmentStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_LOAD = "least_load", _("Least open leads (with capacity)")
    OWNER = "owner", _("A named owner")


class AssignmentRule(models.Model):
    """Evaluated in `position` order; the first whose conditions match assigns the lead."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # {"regions": [...], "sources": [...], "industries": [...], "languages": [...],
    #  "min_score": int | None, "max_score": int | None}; an empty list matches anything.
    conditions = models.JSONField(default=dict, blank=True)
    strategy = models.CharField(_("strategy"), max_length=16, choices=AssignmentStrategy.choices)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The reps a round-robin or least-load rule shares out to: these members, or (if none)
    # the members of `team`.
    members = models.ManyToManyField(Membership, blank=True, related_name="+")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Open leads a rep may hold under least-load; null: the workspace claim limit.
    capacity = models.PositiveIntegerField(_("capacity per rep"), null=True, blank=True)
    # First contact expected within this many minutes of assignment; null: no SLA.
    sla_minutes = models.PositiveIntegerField(
        _("first contact within (minutes)"), null=True, blank=True
    )
    last_assigned = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [_public_id_unique("assignmentrule")]
        ordering = ["position", "id"]
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------


class Product(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _public_id_unique("product"),
            models.UniqueConstraint(fields=["workspace", "sku"], name="product_unique_sku"),
        ]
        indexes = [models.Index(fields=["workspace", "name"], name="product_ws_name_idx")]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


# ---------------------------------------------------------------------------------------------
# Deals
# ---------------------------------------------------------------------------------------------


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    OMITTED = "omitted", _("Omitted")


class Deal(OwnedRecord):
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="+")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    # Mirrors the stage's kind, so lists and reports filter without a join.
    status = models.CharField(
        _("status"), max_length=8, choices=StageKind.choices, default=StageKind.OPEN
    )
    amount = models.DecimalField(_("amount"), default=Decimal("0"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    forecast_category = models.CharField(
        _("forecast category"),
        max_length=16,
        choices=ForecastCategory.choices,
        default=ForecastCategory.PIPELINE,
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The main contact; more contacts with their roles in DealContact.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    lost_reason = models.CharField(_("lost reason"), max_length=300, blank=True)
    stage_entered_at = models.DateTimeField(default=now)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [_public_id_unique("deal")]
        indexes = [
            # A kanban column: the stage's deals, newest first, paginated by keyset.
            models.Index(
                fields=["workspace", "stage", "-created_at", "-id"], name="deal_ws_stage_idx"
            ),
            models.Index(fields=["workspace", "pipeline", "status"], name="deal_ws_pipeline_idx"),
            models.Index(fields=["workspace", "owner", "status"], name="deal_ws_owner_idx"),
            # Won per month (forecast, attainment, the statistical forecast's history): the
            # columns they add up are in the index, so PostgreSQL answers from it alone
            # (trailing key columns rather than INCLUDE, which SQLite does not have).
            models.Index(
                fields=[
                    "workspace",
                    "status",
                    "closed_at",
                    "currency",
                    "owner",
                    "team",
                    "pipeline",
                    "amount",
                ],
                name="deal_ws_closed_idx",
            ),
            models.Index(fields=["workspace", "customer"], name="deal_ws_customer_idx"),
            # The funnel: a pipeline's deals created in a period, per stage (index-only).
            models.Index(
                fields=[
                    "workspace",
                    "pipeline",
                    "created_at",
                    "stage",
                    "status",
                    "currency",
                    "amount",
                    "id",
                ],
                name="deal_ws_funnel_idx",
            ),
            # The forecast: open deals by expected close date (index-only).
            models.Index(
                fields=[
                    "workspace",
                    "expected_close_date",
                    "currency",
                    "stage",
                    "forecast_category",
                    "owner",
                    "team",
                    "amount",
                ],
                name="deal_ws_forecast_idx",
                condition=Q(status="open"),
            ),
        ]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")

    def __str__(self) -> str:
        return self.name


class DealContact(models.Model):
    class Role(models.TextChoices):
        DECISION_MAKER = "decision_maker", _("Decision maker")
        CHAMPION = "champion", _("Champion")
        INFLUENCER = "influencer", _("Influencer")
        USER = "user", _("User")
        FINANCE = "finance", _("Finance")
        OTHER = "other", _("Other")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contacts")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.OTHER)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deal", "customer"], name="dealcontact_unique")
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.customer_id} ({self.role})"


class DealProduct(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="products")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.quantity} x {self.product_id}"


class DealStageChange(models.Model):
    """Every move of a deal between stages; `seconds_in_from` is the time spent in the stage it
    left (funnel: average time per stage)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    seconds_in_from = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["deal", "changed_at"], name="dealstage_deal_idx"),
            # Also the funnel's: the moves of a pipeline since a date (index-only).
            models.Index(
                fields=[
                    "workspace",
                    "pipeline",
                    "changed_at",
                    "deal",
                    "from_stage",
                    "to_stage",
                    "seconds_in_from",
                ],
                name="dealstage_pipeline_idx",
            ),
        ]
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.from_stage_id} -> {self.to_stage_id}"


class FunnelDay(models.Model):
    """The funnel of one pipeline's deals created on one day (in the workspace's time zone),
    added up, so that a funnel over years reads a row a day instead of every deal and move;
    rows with `is_month` add up a whole month (`day` is its first), so that it reads a row a
    month for the months wholly inside the period and a row a day for the rest. Kept by
    huike.sales.funnel; `sums` holds per-stage counts and seconds and the won/lost totals
    per currency (see funnel.FunnelSums)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    is_month = models.BooleanField(default=False)
    deals = models.PositiveIntegerField(default=0)
    sums = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "is_month", "day"], name="funnelday_unique_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id} {self.day}{' (month)' if self.is_month else ''}: {self.deals}"


class FunnelRollup(models.Model):
    """What a pipeline's FunnelDay rows were added up for: the time zone that made the days and
    the stages' order and kinds that made "reached". When either changes the rows are not used
    until they are rebuilt."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    pipeline = models.OneToOneField(Pipeline, on_delete=models.CASCADE, related_name="+")
    basis = models.JSONField(default=dict)
    built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.pipeline_id}: {self.built_at}"


class FunnelOwnerDay(models.Model):
    """A FunnelDay (a day's or, with `is_month`, a month's) cut by the owner and the team of
    its deals, as they were when added up: what a role limited by record rules reads, adding
    up the rows of the owners and teams it may see (huike.sales.funnel). Owner and team are
    plain ids, not foreign keys: a report maps an id that no longer exists to none, as
    SET_NULL did to the deals."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    is_month = models.BooleanField(default=False)
    owner_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    # May be negative: a member or team deleted leaves the deals' rows under its old id while
    # their later changes are taken off under none (both keys are seen by the same people).
    deals = models.IntegerField(default=0)
    sums = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["pipeline", "day"], name="funnelownerday_day_idx")]

    def __str__(self) -> str:
        return f"{self.pipeline_id} {self.day} {self.owner_id}/{self.team_id}: {self.deals}"


class FunnelDelta(models.Model):
    """What one change of a deal (created, moved, amount, currency or owner changed, deleted)
    did to its day's FunnelDay and FunnelOwnerDay: the sums after the change less the sums
    before, per owner and team, written in the change's own transaction. A report adds them
    to the stored days; the refresh job folds them in and removes them."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    owner_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    deals = models.IntegerField(default=0)
    sums = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["pipeline", "day"], name="funneldelta_pipeline_idx")]

    def __str__(self) -> str:
        return f"{self.pipeline_id} {self.day}: {self.deals:+d}"


class ForecastMonth(models.Model):
    """What a pipeline's deals add to the forecast, per month and per everything the forecast
    groups, filters or weighs them by: open deals by the month of their expected close date,
    stage (for its probability, read when the report is), owner, team, currency and forecast
    category; won deals by the month they were won in (the workspace's time zone), owner,
    team and currency. Kept by huike.sales.forecast_rollup beside the funnel's FunnelDay rows
    and under the same FunnelRollup state: rows with `is_delta` are what one change of a deal
    did (written in its transaction, folded in by the refresh job); the others are the
    folded sums, one row per key. Owner and team are plain ids, not foreign keys: a report
    maps an id that no longer exists to none, as SET_NULL did to the deals."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=StageKind.choices)
    month = models.DateField()
    stage_id = models.BigIntegerField(null=True)  # open deals only
    owner_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    currency = models.CharField(max_length=3)
    category = models.CharField(max_length=20, blank=True)  # open deals only
    deals = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))
    is_delta = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "currency", "month"], name="forecastmonth_month_idx"),
            models.Index(
                fields=["pipeline"],
                name="forecastmonth_delta_idx",
                condition=models.Q(is_delta=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id} {self.status} {self.month}: {self.deals}"


# ---------------------------------------------------------------------------------------------
# Activities and tasks
# ---------------------------------------------------------------------------------------------


class Activity(models.Model):
    """A call, meeting, visit or note logged on a deal, a lead and/or a customer; it is also an
    event on the customer's timeline."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        MEETING = "meeting", _("Meeting")
        VISIT = "visit", _("Visit")
        EMAIL = "email", _("Email")
        NOTE = "note", _("Note")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("notes"), blank=True)
    occurred_at = models.DateTimeField(_("when"), default=now)
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    author = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [_public_id_unique("activity")]
        indexes = [
            models.Index(fields=["deal", "-occurred_at"], name="activity_deal_idx"),
            models.Index(fields=["lead", "-occurred_at"], name="activity_lead_idx"),
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return self.subject


class TaskPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Task(OwnedRecord):
    """A to-do on a lead, deal or customer. `owner` is the assignee (record rules apply)."""

    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    # When the reminder goes out (in-app and email); null: at the due time.
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(
        _("priority"), max_length=8, choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [_public_id_unique("task")]
        indexes = [
            models.Index(
                fields=["workspace", "owner", "status", "due_at"], name="task_ws_owner_idx"
            ),
            # The reminder job: open tasks whose reminder has not gone out, by the moment it
            # is due (the reminder time, else the due time: huike.sales.tasks_service).
            models.Index(
                Coalesce("remind_at", "due_at"),
                name="task_reminder_idx",
                condition=Q(status="open", reminded_at__isnull=True),
            ),
        ]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        """Open and past its due moment (the same instant in every time zone; which *day* a
        task falls on is the workspace's business, see huike.sales.tasks_service.my_day)."""
        return self.status == TaskStatus.OPEN and self.due_at is not None and self.due_at < now()


class Notification(models.Model):
    """An in-app notice to one member (a task reminder, an SLA warning, an escalation)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    # What it is about ("sales.task:42"), with kind it keeps a retried job from notifying twice.
    subject_key = models.CharField(max_length=80)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            _public_id_unique("notification"),
            models.UniqueConstraint(
                fields=["recipient", "kind", "subject_key"], name="notification_unique_subject"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_idx")
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CONFIRMED = "confirmed", _("Confirmed")
    SHIPPED = "shipped", _("Shipped")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class PaymentStatus(models.TextChoices):
    UNPAID = "unpaid", _("Unpaid")
    PAID = "paid", _("Paid")
    REFUNDED = "refunded", _("Refunded")


class OrderSource(models.TextChoices):
    DEAL = "deal", _("Won deal")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    MANUAL = "manual", _("Entered by hand")


class Order(OwnedRecord):
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    # The shop's or ERP's order number: upserts and imports are idempotent by it.
    external_id = models.CharField(_("external order id"), max_length=100, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=OrderSource.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    payment_status = models.CharField(
        _("payment"), max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    total = models.DecimalField(_("total"), default=Decimal("0"), max_digits=14, decimal_places=2)
    ordered_at = models.DateTimeField(_("ordered at"), default=now)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # Set in the transaction that records the order.paid event: a retried sync never counts
    # the same payment twice in the customer's profile.
    paid_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _public_id_unique("order"),
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                name="order_unique_external_id",
                condition=~Q(external_id=""),
            ),
            models.UniqueConstraint(
                fields=["workspace", "deal"],
                name="order_unique_deal",
                condition=Q(deal__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-ordered_at", "-id"], name="order_ws_list_idx"),
            models.Index(fields=["workspace", "customer"], name="order_ws_customer_idx"),
        ]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return self.external_id or str(self.public_id)


class OrderLine(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=200)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=2)
    line_total = models.DecimalField(_("line total"), max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


class SalesTarget(models.Model):
    """A quota for one month: a rep's (membership) or a team's."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(_("month"))  # the first day of the month
    amount = models.DecimalField(_("target"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _public_id_unique("salestarget"),
            models.CheckConstraint(
                condition=Q(membership__isnull=False) ^ Q(team__isnull=False),
                name="salestarget_rep_or_team",
            ),
            models.UniqueConstraint(
                fields=["workspace", "membership", "month"],
                name="salestarget_unique_rep",
                condition=Q(membership__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["workspace", "team", "month"],
                name="salestarget_unique_team",
                condition=Q(team__isnull=False),
            ),
        ]
        ordering = ["month", "id"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.amount}"
