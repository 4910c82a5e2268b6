"""The `email` channel: SMTP out, IMAP polling and/or a Mailgun route in."""

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    ChannelContext,
    ConfigField,
    ConnectionTest,
    InboundItem,
    IncomingDelivery,
    OutboundMessage,
    PollResult,
    Provider,
    SendResult,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.providers.email import imap, mailgun, smtp
from huike.channels.providers.email.parse import dedupe_key_of, parse_email
from huike.core.tasks import PermanentError, RetryableError

SECURITY_CHOICES = ("ssl", "starttls", "none")


class EmailProvider(Provider):
    kind = "email"
    label = gettext_lazy("Email")
    description = gettext_lazy(
        "A mailbox: mail read by IMAP or a Mailgun route, replies sent by SMTP in the thread."
    )
    receives_webhooks = True
    polls = True
    config_fields = (
        ConfigField("from_address", gettext_lazy("From address"), widget="email"),
        ConfigField("from_name", gettext_lazy("From name"), required=False),
        ConfigField("smtp_host", gettext_lazy("SMTP server")),
        ConfigField(
            "smtp_port", gettext_lazy("SMTP port"), default=smtp.DEFAULT_SMTP_PORT, widget="number"
        ),
        ConfigField(
            "smtp_security",
            gettext_lazy("SMTP security"),
            default="ssl",
            help_text=gettext_lazy(
                "ssl (TLS from the first byte, usually port 465), starttls (usually 587) or none."
            ),
        ),
        ConfigField("smtp_username", gettext_lazy("SMTP user name"), required=False),
        ConfigField(
            "smtp_password",
            gettext_lazy("SMTP password"),
            secret=True,
            required=False,
            widget="password",
        ),
        ConfigField(
            "trusted_authserv_id",
            gettext_lazy("Trusted receiving server"),
            required=False,
            help_text=gettext_lazy(
                "The authserv-id in the Authentication-Results header your receiving mail "
                "server adds (e.g. mx.google.com). Mail whose From domain it did not "
                "authenticate (DMARC, or aligned DKIM or SPF) is marked as from an unverified "
                "sender. Empty: senders are not checked."
            ),
        ),
        ConfigField(
            "imap_host",
            gettext_lazy("IMAP server"),
            required=False,
            help_text=gettext_lazy("Leave empty to receive mail only through the inbound webhook."),
        ),
        ConfigField(
            "imap_port",
            gettext_lazy("IMAP port"),
            required=False,
            default=imap.DEFAULT_IMAP_PORT,
            widget="number",
        ),
        ConfigField(
            "imap_security",
            gettext_lazy("IMAP security"),
            required=False,
            default="ssl",
            help_text=gettext_lazy("ssl (usually port 993), starttls (usually 143) or none."),
        ),
        ConfigField("imap_username", gettext_lazy("IMAP user name"), required=False),
        ConfigField(
            "imap_password",
            gettext_lazy("IMAP password"),
            secret=True,
            required=False,
            widget="password",
        ),
        ConfigField(
            "imap_folder", gettext_lazy("IMAP folder"), required=False, default=imap.DEFAULT_FOLDER
        ),
        ConfigField(
            "inbound_signing_key",
            gettext_lazy("Inbound webhook signing key"),
            secret=True,
            required=False,
            widget="password",
            help_text=gettext_lazy(
                "The Mailgun HTTP webhook signing key, when a Mailgun route forwards mail "
                "(raw MIME) to this channel's webhook URL."
            ),
        ),
        ConfigField("api_base_url", gettext_lazy("API base URL"), required=False, widget="url"),
    )

    # --- inbound webhook (Mailgun route) ---------------------------------------------------
    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        mailgun.verify_mailgun(channel.get("inbound_signing_key"), request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        raw = mailgun.field_bytes(mailgun.form_fields(request), "body-mime")
        if not raw.strip():
            raise ValueError("no body-mime field: point the Mailgun route at the MIME URL")
        return [
            IncomingDelivery(
                dedupe_key=dedupe_key_of(raw),
                body=raw,
                content_type="message/rfc822",
                meta={"source": "mailgun"},
            )
        ]

    def acknowledge(
        self, channel: ChannelContext, request: WebhookRequest, stored: int
    ) -> WebhookResponse:
        # Mailgun retries anything but a 2xx (406 would tell it to give up).
        return WebhookResponse(200, b"OK")

    # --- inbound, both paths -----------------------------------------------------------------
    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        return [
            parse_email(
                delivery.body,
                dedupe_key=delivery.dedupe_key,
                received_at=delivery.received_at,
                trusted_authserv_id=channel.get("trusted_authserv_id", ""),
            )
        ]

    def poll(self, channel: ChannelContext, cursor: str) -> PollResult:
        if not channel.get("imap_host"):
            return PollResult(deliveries=[], cursor=cursor)
        return imap.poll_mailbox(channel, cursor)

    # --- outbound ----------------------------------------------------------------------------
    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        return smtp.send_email(channel, message)

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        from django.utils.translation import gettext as _

        try:
            smtp.check_login(channel)
        except (RetryableError, PermanentError) as error:
            return ConnectionTest(
                False, _("Could not log in to the SMTP server: %(error)s") % {"error": error}
            )
        if not channel.get("imap_host"):
            return ConnectionTest(True, _("Logged in to the SMTP server."))
        try:
            imap.check_login(channel)
        except (RetryableError, PermanentError) as error:
            return ConnectionTest(
                False, _("Could not log in to the IMAP server: %(error)s") % {"error": error}
            )
        return ConnectionTest(True, _("Logged in to the SMTP and IMAP servers."))

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        from django.utils.translation import gettext as _

        errors: dict[str, str] = {}
        try:
            validate_email(config.get("from_address", ""))
        except ValidationError:
            errors["from_address"] = _("Enter a valid email address.")
        for name in ("smtp_security", "imap_security"):
            if config.get(name) and config[name] not in SECURITY_CHOICES:
                errors[name] = _("Choose ssl, starttls or none.")
        for name in ("smtp_port", "imap_port"):
            value = config.get(name, "")
            if value and not (value.isdigit() and 0 < int(value) < 65536):
                errors[name] = _("Enter a port number between 1 and 65535.")
        if config.get("imap_host") and not config.get("imap_username"):
            errors["imap_username"] = _("An IMAP server needs a user name.")
        return errors
