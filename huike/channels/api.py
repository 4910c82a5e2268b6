"""API endpoints of channels (channels.view to read, channels.manage to change) and message
templates (templates.manage). Thin over huike.channels.services."""

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.accounts.models import Team
from huike.channels import services
from huike.channels.api_schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatchIn,
    ChannelQuery,
    ConnectionTestOut,
    MessageTemplateIn,
    MessageTemplateOut,
    MessageTemplatePatchIn,
    TemplateRenderIn,
    TemplateRenderOut,
)
from huike.channels.base import ConnectionTest
from huike.channels.config import API_BASE_URL, config_shown
from huike.channels.models import Channel, MessageTemplate
from huike.channels.registry import provider_for
from huike.channels.sending import template_text, template_values
from huike.channels.templates_render import TemplateValues, template_render
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers.access import access_customer
from huike.customers.services import UNSET

router = Router()
CHANNELS = ["Channels"]
TEMPLATES = ["Message templates"]


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _team(actor: Actor, team_id: uuid.UUID | None) -> Team | None:
    if team_id is None:
        return None
    return _referenced(lambda: lookup_team(actor.workspace, team_id), "team_id")


def _channel_out(channel: Channel) -> Channel:
    found: Channel = Channel.objects.select_related("team").get(pk=channel.pk)
    return found


# --- channels -------------------------------------------------------------------------------
@router.get("/channels", response=PageOut[ChannelOut], tags=CHANNELS, summary="List channels")
def channel_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[ChannelQuery]
) -> Page[Channel]:
    """The workspace's channels, oldest first; `?kind=` and `?active=` filter."""
    actor = request_actor(request)
    actor.require("channels.view")
    channels = Channel.objects.filter(workspace=actor.workspace).select_related("team")
    if query.kind:
        channels = channels.filter(kind=query.kind)
    if query.active is not None:
        channels = channels.filter(is_active=query.active)
    return paginate(channels, cursor=page.cursor, limit=page.limit)


@router.post("/channels", response={201: ChannelOut}, tags=CHANNELS, summary="Connect a channel")
def channel_create(request: HttpRequest, payload: ChannelIn) -> Status[Channel]:
    """Settings are checked as the platform needs them; an error names the field
    (`config.<name>`). Secrets are stored encrypted and come back masked."""
    actor = request_actor(request)
    actor.require("channels.manage")
    channel = services.channel_create(
        actor=actor,
        kind=payload.kind,
        name=payload.name,
        config=payload.config,
        team=_team(actor, payload.team_id),
    )
    return Status(201, _channel_out(channel))


@router.get("/channels/{channel_id}", response=ChannelOut, tags=CHANNELS, summary="Get a channel")
def channel_detail(request: HttpRequest, channel_id: uuid.UUID) -> Channel:
    return _channel_out(services.access_channel(request_actor(request), channel_id))


@router.patch(
    "/channels/{channel_id}", response=ChannelOut, tags=CHANNELS, summary="Change a channel"
)
def channel_update(request: HttpRequest, channel_id: uuid.UUID, payload: ChannelPatchIn) -> Channel:
    """Only what is sent changes; settings not named in `config` keep their values."""
    actor = request_actor(request)
    actor.require("channels.manage")
    channel = services.access_channel(actor, channel_id)
    sent = payload.model_fields_set
    if "name" in sent and payload.name is None:
        raise InvalidInputError(_("A channel needs a name."), field="name")
    config: dict[str, Any] | None = None
    if payload.config is not None:
        # The shown config carries secrets masked, which config_apply reads as "keep"; a
        # stored setting the provider no longer has is dropped rather than refused.
        known = {field.name for field in provider_for(channel.kind).config_fields}
        current = {
            name: value
            for name, value in config_shown(channel).items()
            if name in known or name == API_BASE_URL
        }
        config = {**current, **payload.config}
    services.channel_update(
        actor=actor,
        channel=channel,
        name=payload.name,
        config=config,
        team=_team(actor, payload.team_id) if "team_id" in sent else UNSET,
    )
    return _channel_out(channel)


@router.post(
    "/channels/{channel_id}/test",
    response=ConnectionTestOut,
    tags=CHANNELS,
    summary="Test a channel's connection",
)
def channel_test(request: HttpRequest, channel_id: uuid.UUID) -> ConnectionTest:
    """Calls the platform with the stored credentials; the result is also kept on the
    channel (last_test_*)."""
    actor = request_actor(request)
    actor.require("channels.manage")
    channel = services.access_channel(actor, channel_id)
    result = services.channel_test(actor=actor, channel=channel)
    return ConnectionTest(result.ok, str(result.message))


@router.post(
    "/channels/{channel_id}/disable",
    response=ChannelOut,
    tags=CHANNELS,
    summary="Disable a channel",
)
def channel_disable(request: HttpRequest, channel_id: uuid.UUID) -> Channel:
    """Webhooks answer 404 and nothing is sent until it is enabled; the history stays."""
    actor = request_actor(request)
    actor.require("channels.manage")
    channel = services.access_channel(actor, channel_id)
    services.channel_set_active(actor=actor, channel=channel, active=False)
    return _channel_out(channel)


@router.post(
    "/channels/{channel_id}/enable", response=ChannelOut, tags=CHANNELS, summary="Enable a channel"
)
def channel_enable(request: HttpRequest, channel_id: uuid.UUID) -> Channel:
    actor = request_actor(request)
    actor.require("channels.manage")
    channel = services.access_channel(actor, channel_id)
    services.channel_set_active(actor=actor, channel=channel, active=True)
    return _channel_out(channel)


# --- message templates -------------------------------------------------------------------------
def _template(actor: Actor, template_id: uuid.UUID) -> MessageTemplate:
    actor.require("templates.manage")
    return services.access_template(actor, template_id)


@router.get(
    "/message-templates",
    response=PageOut[MessageTemplateOut],
    tags=TEMPLATES,
    summary="List message templates",
)
def template_list(request: HttpRequest, page: Query[PageQuery]) -> Page[MessageTemplate]:
    actor = request_actor(request)
    actor.require("templates.manage")
    templates = MessageTemplate.objects.filter(workspace=actor.workspace)
    return paginate(templates, cursor=page.cursor, limit=page.limit)


@router.post(
    "/message-templates",
    response={201: MessageTemplateOut},
    tags=TEMPLATES,
    summary="Create a message template",
)
def template_create(request: HttpRequest, payload: MessageTemplateIn) -> Status[MessageTemplate]:
    actor = request_actor(request)
    template = services.template_create(actor=actor, data=payload.model_dump())
    return Status(201, template)


@router.get(
    "/message-templates/{template_id}",
    response=MessageTemplateOut,
    tags=TEMPLATES,
    summary="Get a message template",
)
def template_detail(request: HttpRequest, template_id: uuid.UUID) -> MessageTemplate:
    return _template(request_actor(request), template_id)


@router.patch(
    "/message-templates/{template_id}",
    response=MessageTemplateOut,
    tags=TEMPLATES,
    summary="Change a message template",
)
def template_update(
    request: HttpRequest, template_id: uuid.UUID, payload: MessageTemplatePatchIn
) -> MessageTemplate:
    actor = request_actor(request)
    template = _template(actor, template_id)
    data = {
        name: value
        for name, value in payload.model_dump(exclude_unset=True).items()
        if value is not None
    }
    return services.template_update(actor=actor, template=template, data=data)


@router.delete(
    "/message-templates/{template_id}",
    response={204: None},
    tags=TEMPLATES,
    summary="Delete a message template",
)
def template_delete(request: HttpRequest, template_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    services.template_delete(actor=actor, template=_template(actor, template_id))
    return Status(204, None)


@router.post(
    "/message-templates/{template_id}/render",
    response=TemplateRenderOut,
    tags=TEMPLATES,
    summary="Render a message template",
)
def template_render_one(
    request: HttpRequest, template_id: uuid.UUID, payload: TemplateRenderIn
) -> dict[str, str]:
    """The template's text in `locale` with the variables filled in: from the customer when
    one is named (and the caller may see them), else empty."""
    actor = request_actor(request)
    template = _template(actor, template_id)
    customer = None
    if payload.customer_id is not None:
        customer_id = payload.customer_id
        customer = _referenced(lambda: access_customer(actor, customer_id), "customer_id")
    base = template_values(
        customer=customer,
        channel=None,
        agent_name=actor.user.display_name if actor.user else "",
    )
    values = TemplateValues(
        values={**base.values, "workspace.name": actor.workspace.name},
        custom_fields=base.custom_fields,
    )
    locale = payload.locale or (customer.locale if customer else "")
    return {"text": template_render(template_text(template, locale), values)}
