"""The development backend: logs each message instead of sending it. For local work and
demos only — nothing reaches a phone, and it takes no callbacks."""

import logging
import uuid

from huike.channels.base import (
    ChannelContext,
    ConnectionTest,
    InboundItem,
    IncomingDelivery,
    OutboundMessage,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.providers.sms.common import Vendor

logger = logging.getLogger("huike.channels.sms.console")


class Console(Vendor):
    name = "console"

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info(
            "SMS NOT SENT (console backend, development only) "
            "to=%s template=%s params=%s text=%s id=%s",
            message.to,
            message.template,
            dict(message.template_params),
            message.text,
            message_id,
        )
        return SendResult(provider_message_id=message_id)

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        from django.utils.translation import gettext as _

        return ConnectionTest(
            True, _("Console backend (development only): messages are logged, never sent.")
        )

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        raise SignatureError("the console backend takes no callbacks", status=401)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        raise ValueError("the console backend takes no callbacks")

    def acknowledge(self) -> WebhookResponse:
        return WebhookResponse(200, b"")

    def parse(self, delivery: StoredDelivery) -> list[InboundItem]:
        raise ValueError("the console backend takes no callbacks")
