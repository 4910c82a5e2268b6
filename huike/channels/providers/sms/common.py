"""What the SMS vendors share: the vendor interface, phone numbers, opt-out keywords and the
`callback_token` check for vendors whose callbacks carry no signature."""

import datetime as dt
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from huike.channels.base import (
    EVENT_OPTED_IN,
    EVENT_OPTED_OUT,
    ChannelContext,
    ConnectionTest,
    InboundEvent,
    InboundItem,
    InboundMessage,
    IncomingDelivery,
    OutboundMessage,
    Sender,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)

# Carriers and the vendors' own reply handling treat these as unsubscribe / resubscribe
# (CN: TD/T/退订/N; US CTIA: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT; START, UNSTOP, YES).
OPT_OUT_KEYWORDS = frozenset(
    {"td", "t", "退订", "n", "stop", "stopall", "unsubscribe", "cancel", "end", "quit"}
)
OPT_IN_KEYWORDS = frozenset({"start", "unstop", "yes"})

# Aliyun and Tencent report times in Beijing time without a zone (China has no DST).
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class Vendor:
    """One SMS vendor's API and callbacks; the `sms` provider dispatches on `provider`."""

    name: ClassVar[str]
    # Config keys this vendor cannot work without.
    required: ClassVar[tuple[str, ...]] = ()
    default_api_base_url: ClassVar[str] = ""
    # Chinese vendors only send approved templates, never free text.
    sends_templates: ClassVar[bool] = False

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        raise NotImplementedError

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        raise NotImplementedError

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        raise NotImplementedError

    def acknowledge(self) -> WebhookResponse:
        raise NotImplementedError

    def parse(self, delivery: StoredDelivery) -> list[InboundItem]:
        raise NotImplementedError


def verify_callback_token(channel: ChannelContext, request: WebhookRequest) -> None:
    """Aliyun and Tencent callbacks are unsigned: the webhook URL carries the channel's
    secret `callback_token` as `?token=`."""
    expected = channel.get("callback_token")
    given = request.query.get("token", "")
    if not expected or not given:
        raise SignatureError("callback token missing", status=401)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("callback token does not match")


def json_items(body: bytes) -> list[Mapping[str, Any]]:
    """The objects of a JSON callback body: an array of them or a single one."""
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ValueError("the callback body is not JSON") from error
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise ValueError("the callback body is not a JSON object or an array of objects")
    return items


def json_delivery(
    key: str, item: Mapping[str, Any], vendor: str, callback: str
) -> IncomingDelivery:
    return IncomingDelivery(
        dedupe_key=key,
        body=json.dumps(item, ensure_ascii=False, sort_keys=True).encode(),
        content_type="application/json",
        meta={"vendor": vendor, "callback": callback},
    )


def to_e164(number: str, country_code: str = "86") -> str:
    """E.164 of a number as vendors report it: `+8613800000000`, `008613800000000`, a
    mainland mobile `13800000000`, or a national number with its country code given apart
    (Tencent's `nationcode`). Without a country code, digits that are not a mainland mobile
    already start with one (Aliyun reports international numbers so)."""
    digits = re.sub(r"[^\d+]", "", number)
    if digits.startswith("+"):
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    code = country_code.lstrip("+") or "86"
    if code == "86":
        is_mainland_mobile = len(digits) == 11 and digits.startswith("1")
        return ("+86" + digits) if is_mainland_mobile else ("+" + digits)
    # Drop the national trunk prefix (0 in most countries) after a country code.
    return f"+{code}{digits.lstrip('0')}"


def china_time(value: str, default: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TIME)
    except (TypeError, ValueError):
        return default


def keyword_event(text: str) -> str:
    """EVENT_OPTED_OUT / EVENT_OPTED_IN when the whole reply is such a keyword, else ""."""
    word = text.strip().lower()
    if word in OPT_OUT_KEYWORDS:
        return EVENT_OPTED_OUT
    if word in OPT_IN_KEYWORDS:
        return EVENT_OPTED_IN
    return ""


def reply_items(message: InboundMessage) -> list[InboundItem]:
    """The message, and the opt-out / opt-in it also is when it is only a keyword."""
    items: list[InboundItem] = [message]
    event = keyword_event(message.text)
    if event:
        items.append(
            InboundEvent(
                sender=message.sender,
                kind=event,
                external_id=f"{message.external_id}:{event}",
                occurred_at=message.sent_at,
                properties={"keyword": message.text.strip()},
            )
        )
    return items


def phone_sender(number: str) -> Sender:
    return Sender("phone", number)


def template_of(channel: ChannelContext, message: OutboundMessage, config_key: str) -> str:
    return message.template or channel.get(config_key)
