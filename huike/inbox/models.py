"""The unified inbox: conversations across every channel, their messages and internal notes,
who handles them (with the history of every assignment), agents' presence and capacity,
and canned replies.

A conversation is one thread with one customer on one channel: the customer's address
there (an identity), and for email the thread's root Message-ID. A resolved conversation
reopens when the customer writes again. Unread counts live on the conversation row (kept by
the writers), so a list never counts messages.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from huike.accounts.models import Membership, Team, Workspace


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    SNOOZED = "snoozed", _("Snoozed")
    RESOLVED = "resolved", _("Resolved")


class Conversation(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    # The customer's address on the channel, which replies go to: an identity keeps its row
    # through merges, so the sender of a message finds its conversation after one. Null when
    # the address was removed (replies are then refused).
    identity = models.ForeignKey(
        "customers.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Which conversation of this customer on this channel (the email thread's root id).
    thread_key = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=12, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.ManyToManyField(
        "customers.Tag", through="ConversationTag", related_name="+", blank=True
    )
    created_at = models.DateTimeField(default=now)
    last_message_at = models.DateTimeField(default=now)
    # The customer's last message: WeChat's 48-hour and WhatsApp's 24-hour windows.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=200, blank=True)
    # Customer messages since an agent last opened the conversation.
    unread_count = models.PositiveIntegerField(default=0)
    agent_last_read_at = models.DateTimeField(null=True, blank=True)
    first_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Set when an extension (sales, support) turned it into a lead or a ticket.
    linked_records = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "identity", "thread_key"],
                name="conversation_thread_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["workspace", "status", "-last_message_at"], name="conv_ws_status_idx"
            ),
            models.Index(
                fields=["workspace", "assignee", "status", "-last_message_at"],
                name="conv_ws_assignee_idx",
            ),
            models.Index(
                fields=["workspace", "team", "status", "-last_message_at"],
                name="conv_ws_team_idx",
            ),
            models.Index(
                fields=["workspace", "channel", "-last_message_at"], name="conv_ws_channel_idx"
            ),
            models.Index(fields=["workspace", "customer"], name="conv_ws_customer_idx"),
            models.Index(
                fields=["snoozed_until"],
                name="conv_snoozed_idx",
                condition=Q(status="snoozed"),
            ),
        ]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return str(self.public_id)


class ConversationTag(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey("customers.Tag", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "conversation", "tag"], name="conversation_tag_unique"
            )
        ]
        indexes = [models.Index(fields=["workspace", "tag"], name="conv_tag_ws_tag_idx")]

    def __str__(self) -> str:
        return f"{self.conversation_id}:{self.tag_id}"


class MessageDirection(models.TextChoices):
    INBOUND = "in", _("From the customer")
    OUTBOUND = "out", _("To the customer")
    NOTE = "note", _("Internal note")
    SYSTEM = "system", _("System")


class Message(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    direction = models.CharField(max_length=8, choices=MessageDirection.choices)
    # The member who wrote it (replies and notes).
    author = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_type = models.CharField(max_length=12, default="text")
    text = models.TextField(blank=True)
    # Sanitized HTML (inbound email) shown instead of the text when present.
    html = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    # [{"kind", "url", "media_id", "name", "mime_type", "size"}]
    attachments = models.JSONField(default=list, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # The platform's id of an inbound message.
    external_id = models.CharField(max_length=255, blank=True)
    inbound_delivery = models.ForeignKey(
        "channels.InboundDelivery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # An outbound message's way out, with its status (queued → sent → delivered → read).
    outbound_delivery = models.ForeignKey(
        "channels.OutboundDelivery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Members @mentioned in a note.
    mentions = models.ManyToManyField(Membership, related_name="+", blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "conversation", "created_at"], name="message_conv_idx"
            ),
            models.Index(fields=["outbound_delivery"], name="message_outbound_idx"),
        ]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return str(self.public_id)


class AssignmentReason(models.TextChoices):
    MANUAL = "manual", _("Assigned by hand")
    CLAIMED = "claimed", _("Taken by the agent")
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_OPEN = "least_open", _("Fewest open conversations")
    TRANSFER = "transfer", _("Transferred")
    UNASSIGNED = "unassigned", _("Unassigned")


class ConversationAssignment(models.Model):
    """One change of a conversation's assignee or team, kept for its history."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="assignments"
    )
    from_assignee = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_assignee = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=16, choices=AssignmentReason.choices)
    note = models.CharField(max_length=500, blank=True)
    by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "conversation", "created_at"], name="assignment_conv_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.reason}"


class AgentPresence(models.TextChoices):
    ONLINE = "online", _("Online")
    BUSY = "busy", _("Busy")
    OFFLINE = "offline", _("Offline")


class AgentState(models.Model):
    """An agent's availability for automatic assignment."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="+")
    presence = models.CharField(
        max_length=8, choices=AgentPresence.choices, default=AgentPresence.OFFLINE
    )
    # Open conversations at most; 0 means no limit.
    capacity = models.PositiveSmallIntegerField(_("capacity"), default=10)
    # Whether automatic assignment gives them conversations at all.
    auto_assign = models.BooleanField(_("take conversations automatically"), default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The round robin gives the next conversation to whoever waited longest.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "presence"], name="agent_ws_presence_idx")]

    def __str__(self) -> str:
        return f"{self.membership_id}: {self.presence}"


class AssignmentStrategy(models.TextChoices):
    MANUAL = "manual", _("Manual (agents take conversations)")
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_OPEN = "least_open", _("Fewest open conversations")


class InboxSettings(models.Model):
    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    strategy = models.CharField(
        _("assignment"),
        max_length=16,
        choices=AssignmentStrategy.choices,
        default=AssignmentStrategy.ROUND_ROBIN,
    )
    # Only agents seen online within this many seconds get conversations automatically.
    online_timeout_seconds = models.PositiveIntegerField(default=120)

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.strategy}"


class CannedReply(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Typed after "/" in the composer.
    shortcut = models.SlugField(_("shortcut"), max_length=40, allow_unicode=True)
    title = models.CharField(_("title"), max_length=100)
    body_zh_hans = models.TextField(_("text (Chinese)"), blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "shortcut"], name="canned_reply_shortcut_unique"
            )
        ]
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")

    def __str__(self) -> str:
        return self.shortcut


class RealtimeNotice(models.Model):
    """A realtime event written by a process that cannot reach the websockets itself (the
    worker, when the channel layer is the web process's in-memory one); the web process
    relays it to `group` and deletes it after a minute (huike.inbox.realtime)."""

    group = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=now, db_index=True)

    def __str__(self) -> str:
        return f"{self.group}: {self.payload.get('type', '')}"
