"""Channels: the accounts a workspace connects on each platform, the inbound log of what the
platforms delivered, and the outbound log of what we sent.

Secrets of a channel (app secrets, tokens, passwords) and the raw bodies of deliveries (they
hold people's messages and numbers) are held only as tokens of huike.core.crypto, bound to the
row's public_id; registered in apps.py.
"""

import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from huike.accounts.models import Membership, Team, Workspace


class ChannelKind(models.TextChoices):
    WECHAT_OA = "wechat_oa", _("WeChat Official Account")
    WECOM = "wecom", _("WeCom")
    WEIBO = "weibo", _("Weibo")
    DOUYIN = "douyin", _("Douyin")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    LINKEDIN = "linkedin", _("LinkedIn")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WEBCHAT = "webchat", _("Website chat")


def _public_key() -> str:
    return secrets.token_urlsafe(18)


class Channel(models.Model):
    """One connected account on one platform (several of a kind are allowed)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    # The settings that are not secret (app id, SMTP host, api_base_url…).
    settings = models.JSONField(default=dict, blank=True)
    # The secret settings as one encrypted JSON object, and the names of those it holds (so a
    # list can show "stored" without decrypting every channel).
    secrets_token = models.BinaryField(null=True, blank=True)
    secret_names = models.JSONField(default=list, blank=True)
    # Public: the website chat snippet carries it; it opens nothing on its own.
    public_key = models.CharField(max_length=32, unique=True, default=_public_key, editable=False)
    # Conversations of this channel start in this team's queue.
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Where polling (IMAP) continues from.
    poll_cursor = models.CharField(max_length=200, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=500, blank=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="channel_ws_name_unique")
        ]
        indexes = [models.Index(fields=["workspace", "kind"], name="channel_ws_kind_idx")]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return self.name


class ChannelStaff(models.Model):
    """A staff account on the platform (a WeCom UserID) linked to a Huike member: customers
    that staff member adds are owned by the member."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="staff")
    external_id = models.CharField(_("platform user id"), max_length=100)
    membership = models.ForeignKey(
        Membership, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "external_id"], name="channel_staff_unique"
            )
        ]
        verbose_name = _("linked staff account")
        verbose_name_plural = _("linked staff accounts")

    def __str__(self) -> str:
        return self.external_id


class InboundDelivery(models.Model):
    """One delivery a platform made, stored before it is acknowledged, processed after.

    Unique per channel by the platform's id of it: a retried delivery is dropped at the
    insert, so a platform retry produces nothing new.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    dedupe_key = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=now)
    content_type = models.CharField(max_length=100, blank=True)
    body_token = models.BinaryField()
    meta = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    items = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "dedupe_key"], name="inbound_dedupe_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                name="inbound_pending_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["workspace", "channel", "-received_at"], name="inbound_ws_channel_idx"
            ),
        ]
        verbose_name = _("inbound delivery")
        verbose_name_plural = _("inbound deliveries")

    def __str__(self) -> str:
        return self.dedupe_key


class OutboundDelivery(models.Model):
    """One message we send on a channel, from queued to delivered, read or failed."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    # A receipt never moves a delivery backwards (a late "delivered" after "read").
    STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The address it goes to: the value of this identity of the customer.
    identity = models.ForeignKey(
        "customers.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # {"text", "html", "subject", "attachments", "template", "template_params", "properties"}
    content = models.JSONField(default=dict)
    purpose = models.CharField(max_length=40, default="reply")
    is_bulk = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "channel", "provider_message_id"],
                name="outbound_provider_id_idx",
                condition=~Q(provider_message_id=""),
            ),
            models.Index(
                fields=["workspace", "channel", "identity", "-created_at"],
                name="outbound_recipient_idx",
            ),
            models.Index(
                fields=["next_attempt_at"], name="outbound_queued_idx", condition=Q(status="queued")
            ),
        ]
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")

    def __str__(self) -> str:
        return str(self.public_id)


class MessageTemplate(models.Model):
    """A message with variables (`{{customer.name}}`…) in zh-Hans and English, used for
    replies, the WeCom welcome message, birthday greetings and campaigns."""

    class Purpose(models.TextChoices):
        GENERAL = "general", _("General")
        WELCOME = "welcome", _("Welcome")
        BIRTHDAY = "birthday", _("Birthday")
        AWAY = "away", _("Away (no agent online)")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    purpose = models.CharField(
        _("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.GENERAL
    )
    # Empty: any channel.
    channel_kind = models.CharField(
        _("channel kind"), max_length=20, choices=ChannelKind.choices, blank=True
    )
    body_zh_hans = models.TextField(_("text (Chinese)"), blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    # A platform template this maps to (WhatsApp template name, SMS template code).
    platform_template = models.CharField(_("platform template"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="template_ws_name_unique")
        ]
        indexes = [models.Index(fields=["workspace", "purpose"], name="template_ws_purpose_idx")]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")

    def __str__(self) -> str:
        return self.name
