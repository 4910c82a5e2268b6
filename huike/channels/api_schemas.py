"""Request and response schemas of the channels and message-templates API.

A channel's secrets (app secrets, tokens, passwords) never leave the server: `config` shows
them as "********" when stored and "" when not, and sending that mask back keeps the value.
"""

import datetime as dt
import uuid
from typing import Any

from ninja import Schema
from pydantic import Field

from huike.channels.config import config_shown, webhook_url
from huike.channels.models import Channel, ChannelKind, MessageTemplate
from huike.channels.registry import provider_for
from huike.channels.templates_render import template_variables
from huike.customers.api_schemas import NamedRef


class ChannelIn(Schema):
    kind: str = Field(description="The channel kind.", examples=list(ChannelKind.values))
    name: str = Field(max_length=100)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The provider's settings by name (see docs/channels.md); api_base_url "
        "is accepted by every kind.",
    )
    team_id: uuid.UUID | None = None


class ChannelPatchIn(Schema):
    name: str | None = Field(default=None, max_length=100)
    config: dict[str, Any] | None = Field(
        default=None,
        description="Settings to change; those not named keep their values, and a secret "
        'sent as "" or "********" keeps its stored value.',
    )
    team_id: uuid.UUID | None = None


class ChannelQuery(Schema):
    kind: str | None = None
    active: bool | None = None


class ChannelOut(Schema):
    id: uuid.UUID
    kind: str
    name: str
    is_active: bool
    team: NamedRef | None
    config: dict[str, str] = Field(description='Settings; secrets shown as "********".')
    webhook_url: str | None = Field(
        description="The absolute URL to paste into the platform; null for kinds the "
        "platform does not call."
    )
    public_key: str | None = Field(description="The website chat snippet's key (webchat only).")
    last_received_at: dt.datetime | None
    last_test_at: dt.datetime | None
    last_test_ok: bool | None
    last_test_message: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Channel) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_config(obj: Channel) -> dict[str, str]:
        try:
            return config_shown(obj)
        except KeyError:
            # The installation lost this kind's provider: which fields are secret is unknown,
            # and the secrets are not in `settings`, so the plain part is all there is.
            return {name: str(value) for name, value in obj.settings.items()}

    @staticmethod
    def resolve_webhook_url(obj: Channel) -> str | None:
        try:
            receives = provider_for(obj.kind).receives_webhooks
        except KeyError:
            return None
        return webhook_url(obj) if receives else None

    @staticmethod
    def resolve_public_key(obj: Channel) -> str | None:
        return obj.public_key if obj.kind == ChannelKind.WEBCHAT else None


class ConnectionTestOut(Schema):
    ok: bool
    message: str


class MessageTemplateIn(Schema):
    name: str = Field(max_length=100)
    purpose: str = Field(
        default=MessageTemplate.Purpose.GENERAL, examples=list(MessageTemplate.Purpose.values)
    )
    channel_kind: str = Field(default="", description='A channel kind; "" for any channel.')
    body_zh_hans: str = ""
    body_en: str = ""
    platform_template: str = Field(default="", max_length=100)
    is_active: bool = True


class MessageTemplatePatchIn(Schema):
    name: str | None = Field(default=None, max_length=100)
    purpose: str | None = None
    channel_kind: str | None = None
    body_zh_hans: str | None = None
    body_en: str | None = None
    platform_template: str | None = Field(default=None, max_length=100)
    is_active: bool | None = None


class MessageTemplateOut(Schema):
    id: uuid.UUID
    name: str
    purpose: str
    channel_kind: str
    body_zh_hans: str
    body_en: str
    platform_template: str
    is_active: bool
    variables: list[str] = Field(description="The variables the texts use.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_id(obj: MessageTemplate) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_variables(obj: MessageTemplate) -> list[str]:
        return template_variables(f"{obj.body_zh_hans}\n{obj.body_en}")


class TemplateRenderIn(Schema):
    customer_id: uuid.UUID | None = Field(
        default=None, description="Render with this customer's values (name, custom fields)."
    )
    locale: str = Field(
        default="",
        max_length=10,
        description='"zh-hans" or "en"; default the customer\'s locale, else the request\'s.',
    )


class TemplateRenderOut(Schema):
    text: str
