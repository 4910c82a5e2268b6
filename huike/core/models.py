from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditChain(models.Model):
    """Head of one hash chain: one per workspace, plus the system chain (workspace is null).

    Appending locks this row, so entries of one chain get consecutive sequence numbers even
    with many writers.
    """

    key = models.CharField(max_length=64, unique=True)
    workspace = models.OneToOneField(
        "accounts.Workspace", null=True, blank=True, on_delete=models.PROTECT
    )
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seq}"


class AuditEntry(models.Model):
    """Append-only: a database trigger refuses UPDATE and DELETE (see migration 0002)."""

    chain = models.ForeignKey(AuditChain, on_delete=models.PROTECT, related_name="entries")
    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_entry_chain_seq_unique")
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="audit_ws_created_idx"),
            models.Index(fields=["workspace", "action", "-created_at"], name="audit_ws_action_idx"),
        ]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.action} #{self.seq}"


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, replayed for retries."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=128, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "principal", "key"], name="idempotency_unique_key"
            )
        ]
        indexes = [models.Index(fields=["workspace", "created_at"], name="idempotency_ws_created")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class PeriodicRun(models.Model):
    """One row per (periodic job, time slot): the unique constraint is what makes a periodic
    job enqueue once per slot however many workers run the scheduler."""

    name = models.CharField(max_length=128)
    slot = models.DateTimeField()
    task_result_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "slot"], name="periodic_run_unique_slot")
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot.isoformat()}"


class WorkerHeartbeat(models.Model):
    """A database-queue worker's sign of life, written every third of the stale period.

    A task RUNNING on a worker whose heartbeat is older than the stale period goes back to the
    queue (huike.core.tasks.tasks_recover_abandoned). System-wide, like the queue itself.
    """

    worker_id = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} @ {self.last_seen_at.isoformat()}"


class DataKey(models.Model):
    """One version of a workspace's data key for one purpose, stored only wrapped.

    The 32-byte key is random; `wrapped_key` is nonce + AES-256-GCM of it under the master key
    named by `master_key_id`, with the workspace, purpose and version as associated data, so a
    wrapped key copied to another workspace or version does not unwrap. Rows are never deleted
    by rotation: a retired version no longer encrypts but still decrypts (see huike.core.crypto).
    """

    class Purpose(models.TextChoices):
        ENCRYPTION = "encryption", _("encryption")
        INDEX = "index", _("blind index")

    # Deleting a workspace deletes its keys, which makes any copy of its encrypted data
    # (backups included) unreadable: crypto-shredding.
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    master_key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The unique constraint's index (workspace, purpose, version) also serves every lookup
        # of a workspace's keys, newest first; no second index is needed.
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "purpose", "version"], name="data_key_unique_version"
            )
        ]
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")

    def __str__(self) -> str:
        return f"{self.purpose} v{self.version} (workspace {self.workspace_id})"


class OutboxMessage(models.Model):
    """One domain event to hand to its subscribers, written in the transaction of the change
    it describes (huike.core.outbox). Rows are claimed by status, never by an id cursor: a row
    that commits late with a lower id is still pending and still found.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The one index that does not start with the workspace: the dispatcher claims the
            # oldest due messages of every workspace at once (like the task queue, it is
            # system-wide), so it looks rows up by status and due time only. The purge of old
            # done messages walks the same index (a done row's available_at precedes its
            # processed_at). Under Citus each shard has its own copy of the index.
            models.Index(fields=["status", "available_at"], name="outbox_claim_idx"),
            # A workspace's messages of one kind, newest first (operators, replays).
            models.Index(fields=["workspace", "kind", "-created_at"], name="outbox_ws_kind_idx"),
        ]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class OutboxDelivery(models.Model):
    """Subscriber `subscriber` has handled message `message`: written in the same transaction
    as the subscriber's effect, so a redelivered message never repeats that effect.

    Reached only through its message (which carries the workspace), so its unique constraint
    starts with the message.
    """

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "subscriber"], name="outbox_delivery_unique_subscriber"
            )
        ]
        verbose_name = _("outbox delivery")
        verbose_name_plural = _("outbox deliveries")

    def __str__(self) -> str:
        return f"{self.subscriber} <- #{self.message_id}"
