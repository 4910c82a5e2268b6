"""WeCom (企业微信) self-built app: encrypted callbacks for external contacts (客户联系),
welcome messages within the 20-second WelcomeCode, and single-customer mass messages."""

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    EVENT_CONTACT_ADDED,
    EVENT_CONTACT_REMOVED,
    EVENT_CONTACT_UPDATED,
    EVENT_OTHER,
    ChannelContext,
    ConfigField,
    ConnectionTest,
    InboundEvent,
    InboundItem,
    IncomingDelivery,
    OutboundMessage,
    Provider,
    SendContext,
    Sender,
    SendRefused,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.http import api_base_url
from huike.channels.providers.wechat.client import PlatformApi
from huike.channels.providers.wechat.crypto import (
    CryptoError,
    check_signed_query,
    decrypt,
    open_envelope,
)
from huike.channels.providers.wechat.fields import (
    api_base_url_field,
    callback_config_errors,
    encoding_aes_key_field,
    token_field,
)
from huike.channels.providers.wechat.payload import created_at, parse_xml
from huike.core.tasks import PermanentError

DEFAULT_API_BASE_URL = "https://qyapi.weixin.qq.com"
# WeCom's limits on 企业群发: a customer receives at most 4 mass messages per calendar month,
# and at most 1 per day from one member.
MASS_MESSAGES_PER_MONTH = 4
MASS_MESSAGES_PER_DAY = 1
# errcodes: 40014 invalid access_token, 42001 access_token expired. (40001 is a wrong
# secret on WeCom, which a new token does not cure.)
TOKEN_ERRCODES = frozenset({40014, 42001})
# -1 system busy, 45009 API called too often.
RETRYABLE_ERRCODES = frozenset({-1, 45009})

Fields = Mapping[str, str]


class WeComProvider(Provider):
    kind = "wecom"
    label = gettext_lazy("WeCom")
    description = gettext_lazy(
        "Customers your staff add on WeCom (with live-code attribution) and the welcome message."
    )
    default_api_base_url = DEFAULT_API_BASE_URL
    config_fields = (
        ConfigField("corp_id", gettext_lazy("Corp ID")),
        ConfigField(
            "agent_id",
            gettext_lazy("AgentId"),
            widget="number",
            help_text=gettext_lazy("The AgentId of the self-built app."),
        ),
        ConfigField(
            "secret",
            gettext_lazy("Secret"),
            secret=True,
            widget="password",
            help_text=gettext_lazy(
                "The Secret of the self-built app that may call Customer Contact APIs."
            ),
        ),
        token_field(),
        encoding_aes_key_field(required=True),
        api_base_url_field(DEFAULT_API_BASE_URL),
    )

    # --- webhooks ---------------------------------------------------------------------------
    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        if request.method != "GET" or "echostr" not in request.query:
            return None
        # base64 has no spaces: a space is a "+" that reached us un-escaped.
        echostr = request.query["echostr"].replace(" ", "+")
        check_signed_query(
            request.query,
            token=channel.get("token"),
            received_at=request.received_at,
            signature_param="msg_signature",
            signed=(echostr,),
        )
        try:
            plaintext = decrypt(channel.get("encoding_aes_key"), echostr, channel.get("corp_id"))
        except CryptoError as error:
            raise SignatureError(f"cannot decrypt echostr: {error}") from error
        # WeCom compares the answer byte for byte: no quotes, newline or BOM.
        return WebhookResponse(200, plaintext)

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        self._plaintext(channel, request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        body = self._plaintext(channel, request)
        fields = parse_xml(body)
        # Events carry no MsgId; a retried event decrypts to the same XML.
        key = fields.get("MsgId") or hashlib.sha256(body).hexdigest()
        return [IncomingDelivery(key, body, "application/xml")]

    def _plaintext(self, channel: ChannelContext, request: WebhookRequest) -> bytes:
        return open_envelope(
            request,
            token=channel.get("token"),
            encoding_aes_key=channel.get("encoding_aes_key"),
            receive_id=channel.get("corp_id"),
        )

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        fields = parse_xml(delivery.body)
        # Messages to the app come from members (staff), never from customers: not ours.
        if fields.get("MsgType") != "event" or fields.get("Event") != "change_external_contact":
            return []
        handler = CONTACT_CHANGES.get(fields.get("ChangeType", ""))
        if handler is None:
            return []
        external_userid = fields.get("ExternalUserID", "")
        if not external_userid:
            raise ValueError("ExternalUserID is missing")
        kind, properties = handler(fields)
        return [
            InboundEvent(
                sender=Sender(f"wecom_external_userid:{channel.get('corp_id')}", external_userid),
                kind=kind,
                external_id=delivery.dedupe_key,
                occurred_at=created_at(fields),
                properties={"change_type": fields["ChangeType"], **properties},
                staff_external_id=fields.get("UserID", ""),
                welcome_code=fields.get("WelcomeCode", "") if kind == EVENT_CONTACT_ADDED else "",
            )
        ]

    # --- sending ----------------------------------------------------------------------------
    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        super().check_send(channel, message, context)
        if not context.is_bulk:
            return
        if context.sent_this_month >= MASS_MESSAGES_PER_MONTH:
            raise SendRefused(
                _(
                    "WeCom lets a customer receive at most %(limit)d mass messages a month, "
                    "and this customer has had them all this month."
                )
                % {"limit": MASS_MESSAGES_PER_MONTH}
            )
        if context.sent_today >= MASS_MESSAGES_PER_DAY:
            raise SendRefused(
                _(
                    "WeCom lets a customer receive at most %(limit)d mass message a day; "
                    "try again tomorrow."
                )
                % {"limit": MASS_MESSAGES_PER_DAY}
            )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        if not message.text:
            raise PermanentError(_("WeCom messages to customers need text."))
        api = _api(channel)
        welcome_code = str(message.properties.get("welcome_code") or "")
        if welcome_code:
            # The WelcomeCode dies 20 s after the contact was added: one request, on the
            # cached token.
            api.post(
                "/cgi-bin/externalcontact/send_welcome_msg",
                {"welcome_code": welcome_code, "text": {"content": message.text}},
            )
            return SendResult()
        payload: dict[str, Any] = {
            "chat_type": "single",
            "external_userid": [message.to],
            "text": {"content": message.text},
        }
        sender = str(message.properties.get("sender") or "")
        if sender:
            payload["sender"] = sender
        data = api.post("/cgi-bin/externalcontact/add_msg_template", payload)
        if message.to in (data.get("fail_list") or []):
            raise PermanentError(
                _("WeCom cannot send to this customer: no member of yours may message them.")
            )
        return SendResult(provider_message_id=str(data.get("msgid") or ""))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        try:
            _api(channel).refresh_token()
        except PermanentError as error:
            return ConnectionTest(
                False,
                _("WeCom did not accept the Corp ID and Secret: %(error)s") % {"error": error},
            )
        return ConnectionTest(True, _("Connected: WeCom issued an access token."))

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        errors = callback_config_errors(config, id_field="corp_id")
        agent_id = config.get("agent_id", "")
        if agent_id and not agent_id.isdigit():
            errors["agent_id"] = _("The AgentId is a number.")
        return errors


def _api(channel: ChannelContext) -> PlatformApi:
    corp_id = channel.get("corp_id")
    return PlatformApi(
        platform="WeCom",
        base_url=api_base_url(channel, DEFAULT_API_BASE_URL),
        token_path="/cgi-bin/gettoken",
        token_params={"corpid": corp_id, "corpsecret": channel.get("secret")},
        # One token per app secret: keyed by the app, not only the corp.
        cache_key=f"huike.channels.wechat.token:wecom:{corp_id}:{channel.get('agent_id')}",
        token_errcodes=TOKEN_ERRCODES,
        retryable_errcodes=RETRYABLE_ERRCODES,
    )


# --- change_external_contact: ChangeType → (timeline kind, properties) ------------------------
def _added(fields: Fields) -> tuple[str, dict[str, Any]]:
    return EVENT_CONTACT_ADDED, _present(fields, state="State")


def _edited(fields: Fields) -> tuple[str, dict[str, Any]]:
    return EVENT_CONTACT_UPDATED, _present(fields, state="State")


def _removed(fields: Fields) -> tuple[str, dict[str, Any]]:
    # Source DELETE_BY_TRANSFER: the customer moved to another member, not gone.
    return EVENT_CONTACT_REMOVED, _present(fields, source="Source")


def _transfer_failed(fields: Fields) -> tuple[str, dict[str, Any]]:
    # FailReason customer_refused | customer_limit_exceed.
    return EVENT_OTHER, _present(fields, fail_reason="FailReason")


def _present(fields: Fields, **names: str) -> dict[str, Any]:
    return {name: fields[tag] for name, tag in names.items() if fields.get(tag)}


CONTACT_CHANGES: dict[str, Callable[[Fields], tuple[str, dict[str, Any]]]] = {
    "add_external_contact": _added,
    "add_half_external_contact": _added,
    "edit_external_contact": _edited,
    "del_external_contact": _removed,
    "del_follow_user": _removed,
    "transfer_fail": _transfer_failed,
}
