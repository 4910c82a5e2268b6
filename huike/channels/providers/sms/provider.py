"""The `sms` channel: one provider, a vendor backend per `provider` setting (Aliyun, Tencent
Cloud, Twilio, or the console for development)."""

from collections.abc import Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    ChannelContext,
    ConfigField,
    ConnectionTest,
    InboundItem,
    IncomingDelivery,
    OutboundMessage,
    Provider,
    SendContext,
    SendRefused,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.providers.sms.aliyun import Aliyun
from huike.channels.providers.sms.common import E164, Vendor
from huike.channels.providers.sms.console import Console
from huike.channels.providers.sms.tencent import Tencent
from huike.channels.providers.sms.twilio import Twilio

VENDORS: dict[str, Vendor] = {
    vendor.name: vendor for vendor in (Aliyun(), Tencent(), Twilio(), Console())
}


def _vendor_field(
    name: str, label: Promise, *, secret: bool = False, help_text: Promise | str = ""
) -> ConfigField:
    """A setting only some vendors need: optional here, checked by `validate_config`."""
    return ConfigField(
        name,
        label,
        secret=secret,
        required=False,
        widget="password" if secret else "text",
        help_text=help_text,
    )


class SmsProvider(Provider):
    kind = "sms"
    label = gettext_lazy("SMS")
    description = gettext_lazy(
        "Text messages by Aliyun, Tencent Cloud or Twilio, with receipts and STOP/TD opt-out."
    )
    receives_webhooks = True
    config_fields = (
        ConfigField(
            "provider",
            gettext_lazy("SMS vendor"),
            default="aliyun",
            help_text=gettext_lazy(
                "aliyun, tencent, twilio, or console (development only: messages are logged, "
                "never sent)."
            ),
        ),
        # Aliyun
        _vendor_field("access_key_id", gettext_lazy("Aliyun AccessKey ID")),
        _vendor_field("access_key_secret", gettext_lazy("Aliyun AccessKey secret"), secret=True),
        _vendor_field("template_code", gettext_lazy("Aliyun default template code")),
        # Tencent Cloud
        _vendor_field("secret_id", gettext_lazy("Tencent Cloud SecretId")),
        _vendor_field("secret_key", gettext_lazy("Tencent Cloud SecretKey"), secret=True),
        _vendor_field("sdk_app_id", gettext_lazy("Tencent Cloud SmsSdkAppId")),
        _vendor_field("template_id", gettext_lazy("Tencent Cloud default template ID")),
        # Both Chinese vendors
        _vendor_field(
            "sign_name",
            gettext_lazy("Sign name"),
            help_text=gettext_lazy(
                "The approved signature (签名) shown as 【…】 (Aliyun, Tencent)."
            ),
        ),
        # Twilio
        _vendor_field("account_sid", gettext_lazy("Twilio Account SID")),
        _vendor_field("auth_token", gettext_lazy("Twilio Auth Token"), secret=True),
        _vendor_field(
            "from_number",
            gettext_lazy("Twilio sender"),
            help_text=gettext_lazy(
                "A number in E.164 (+14155550100) or a Messaging Service SID (MG…)."
            ),
        ),
        # All
        _vendor_field(
            "callback_token",
            gettext_lazy("Callback token"),
            secret=True,
            help_text=gettext_lazy(
                "Aliyun and Tencent callbacks are unsigned: add ?token=<this value> to the "
                "webhook URL you enter in their console."
            ),
        ),
        ConfigField(
            "api_base_url",
            gettext_lazy("API base URL"),
            required=False,
            widget="url",
            help_text=gettext_lazy(
                "Empty for the vendor's public API (dysmsapi.aliyuncs.com, "
                "sms.tencentcloudapi.com, api.twilio.com)."
            ),
        ),
    )

    def _vendor(self, channel: ChannelContext) -> Vendor:
        return VENDORS[channel.get("provider", "aliyun")]

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        vendor = VENDORS.get(channel.get("provider", "aliyun"))
        if vendor is None:
            raise SignatureError("unknown SMS vendor", status=401)
        vendor.verify(channel, request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        return self._vendor(channel).deliveries(channel, request)

    def acknowledge(
        self, channel: ChannelContext, request: WebhookRequest, stored: int
    ) -> WebhookResponse:
        return self._vendor(channel).acknowledge()

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        # The vendor that delivered it, even if the channel has moved to another since.
        vendor = VENDORS.get(delivery.meta.get("vendor", ""))
        if vendor is None:
            raise ValueError("the delivery names no known SMS vendor")
        return vendor.parse(delivery)

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        from django.utils.translation import gettext as _

        super().check_send(channel, message, context)
        vendor = self._vendor(channel)
        default_template = {"aliyun": "template_code", "tencent": "template_id"}.get(
            vendor.name, ""
        )
        if vendor.sends_templates and not (message.template or channel.get(default_template)):
            raise SendRefused(
                _("This SMS vendor only sends approved templates: choose a template.")
            )
        if not E164.match(message.to):
            raise SendRefused(
                _("The recipient's number is not in international format (+8613800000000).")
            )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        return self._vendor(channel).send(channel, message)

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        return self._vendor(channel).test_connection(channel)

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        from django.utils.translation import gettext as _

        vendor = VENDORS.get(config.get("provider", ""))
        if vendor is None:
            return {"provider": _("Choose aliyun, tencent, twilio or console.")}
        errors = {
            name: _("Required for this SMS vendor.")
            for name in vendor.required
            if not config.get(name)
        }
        sender = config.get("from_number", "")
        if (
            vendor.name == "twilio"
            and sender
            and not (E164.match(sender) or sender.startswith("MG"))
        ):
            errors["from_number"] = _(
                "Enter a number in E.164 (+14155550100) or a Messaging Service SID."
            )
        if vendor.name == "tencent" and config.get("sdk_app_id", "").strip("0123456789"):
            errors["sdk_app_id"] = _("The SmsSdkAppId is a number.")
        return errors
