"""Connecting and configuring channels, and message templates. Every function takes the
acting member (or API key) and checks its permission; the pages and the API are thin over
these."""

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor, parse_public_id
from huike.accounts.models import Membership, Team
from huike.channels.base import ConnectionTest, Provider
from huike.channels.config import channel_context, config_apply
from huike.channels.intake import contexts_clear
from huike.channels.models import Channel, ChannelKind, ChannelStaff, MessageTemplate
from huike.channels.permissions import ChannelAudit
from huike.channels.registry import provider_for
from huike.core.audit import AuditTarget, audit_record
from huike.core.errors import ConflictError, InvalidInputError, NotFoundError
from huike.core.tasks import PermanentError, RetryableError
from huike.customers.services import UNSET

NAME_MAX = 100


def access_channel(actor: Actor, public_id: uuid.UUID | str) -> Channel:
    actor.require("channels.view")
    found = Channel.objects.filter(
        workspace=actor.workspace,
        public_id=parse_public_id(public_id, _("No such channel.")),
    ).first()
    if found is None:
        raise NotFoundError(_("No such channel."))
    return found


def _audit(actor: Actor, action: str, channel: Channel, **data: Any) -> None:
    audit_record(
        workspace_id=actor.workspace.pk,
        action=action,
        actor_id=actor.user_id,
        actor_label=actor.label,
        target=AuditTarget("channel", str(channel.public_id)),
        data={"kind": channel.kind, "name": channel.name, **data},
    )


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInputError(_("A channel needs a name."), field="name")
    if len(name) > NAME_MAX:
        raise InvalidInputError(
            _("At most %(count)d characters.") % {"count": NAME_MAX}, field="name"
        )
    return name


def _provider(channel: Channel) -> Provider:
    try:
        return provider_for(channel.kind)
    except KeyError:
        raise ConflictError(
            _("Channels of kind %(kind)s are not available in this installation.")
            % {"kind": channel.kind}
        ) from None


def channel_create(
    *,
    actor: Actor,
    kind: str,
    name: str,
    config: Mapping[str, Any],
    team: Team | None = None,
) -> Channel:
    actor.require("channels.manage")
    if kind not in ChannelKind.values:
        raise InvalidInputError(_("Unknown channel kind %(kind)s.") % {"kind": kind}, field="kind")
    try:
        provider = provider_for(kind)
    except KeyError:
        raise InvalidInputError(
            _("Channels of kind %(kind)s are not available in this installation.") % {"kind": kind},
            field="kind",
        ) from None
    channel = Channel(
        workspace=actor.workspace,
        kind=kind,
        name=_clean_name(name),
        team=team,
        created_by=actor.membership,
    )
    config_apply(channel, provider, config)
    try:
        with transaction.atomic():
            channel.save()
            _audit(actor, ChannelAudit.CREATED, channel)
    except IntegrityError:
        raise ConflictError(_("A channel with this name exists already."), field="name") from None
    return channel


def channel_update(
    *,
    actor: Actor,
    channel: Channel,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    team: Team | None = UNSET,
) -> Channel:
    """Change what is given; a config replaces the stored one except for secrets left empty
    or masked, which keep their values."""
    actor.require("channels.manage")
    changed: list[str] = []
    if name is not None:
        channel.name = _clean_name(name)
        changed.append("name")
    if config is not None:
        config_apply(channel, _provider(channel), config)
        changed.append("config")
    if team is not UNSET:
        channel.team = team
        changed.append("team")
    try:
        with transaction.atomic():
            channel.save()
            _audit(actor, ChannelAudit.UPDATED, channel, changed=changed)
    except IntegrityError:
        raise ConflictError(_("A channel with this name exists already."), field="name") from None
    contexts_clear()
    return channel


def channel_set_active(*, actor: Actor, channel: Channel, active: bool) -> Channel:
    """Disabling stops intake (webhooks answer 404) and sending; the history stays."""
    actor.require("channels.manage")
    with transaction.atomic():
        channel.is_active = active
        channel.save(update_fields=["is_active", "updated_at"])
        _audit(actor, ChannelAudit.ENABLED if active else ChannelAudit.DISABLED, channel)
    contexts_clear()
    return channel


def channel_test(*, actor: Actor, channel: Channel) -> ConnectionTest:
    """Call the platform with the channel's credentials; the outcome is kept on the channel."""
    actor.require("channels.manage")
    provider = _provider(channel)
    try:
        result = provider.test_connection(channel_context(channel))
    except (RetryableError, PermanentError) as error:
        result = ConnectionTest(
            False, _("The platform could not be reached: %(error)s") % {"error": error}
        )
    channel.last_test_at = timezone.now()
    channel.last_test_ok = result.ok
    channel.last_test_message = str(result.message)[:500]
    channel.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
    return result


def channel_staff_link(
    *, actor: Actor, channel: Channel, external_id: str, membership: Membership
) -> ChannelStaff:
    actor.require("channels.manage")
    external_id = (external_id or "").strip()
    if not external_id:
        raise InvalidInputError(_("Give the platform's user id."), field="external_id")
    if membership.workspace_id != actor.workspace.pk:
        raise NotFoundError(_("No such member."))
    link, _created = ChannelStaff.objects.update_or_create(
        workspace=actor.workspace,
        channel=channel,
        external_id=external_id[:100],
        defaults={"membership": membership},
    )
    return link


def channel_staff_unlink(*, actor: Actor, channel: Channel, external_id: str) -> None:
    actor.require("channels.manage")
    ChannelStaff.objects.filter(
        workspace=actor.workspace, channel=channel, external_id=external_id
    ).delete()


# --- message templates -----------------------------------------------------------------------
TEMPLATE_FIELDS = (
    "name",
    "purpose",
    "channel_kind",
    "body_zh_hans",
    "body_en",
    "platform_template",
    "is_active",
)


def access_template(actor: Actor, public_id: uuid.UUID | str) -> MessageTemplate:
    found = MessageTemplate.objects.filter(
        workspace=actor.workspace,
        public_id=parse_public_id(public_id, _("No such template.")),
    ).first()
    if found is None:
        raise NotFoundError(_("No such template."))
    return found


def _template_apply(template: MessageTemplate, data: Mapping[str, Any]) -> None:
    for name in TEMPLATE_FIELDS:
        if name in data:
            setattr(template, name, data[name])
    template.name = (template.name or "").strip()
    if not template.name:
        raise InvalidInputError(_("A template needs a name."), field="name")
    if template.purpose not in MessageTemplate.Purpose.values:
        raise InvalidInputError(_("Unknown purpose."), field="purpose")
    if template.channel_kind and template.channel_kind not in ChannelKind.values:
        raise InvalidInputError(_("Unknown channel kind."), field="channel_kind")
    if not (template.body_zh_hans.strip() or template.body_en.strip()):
        raise InvalidInputError(_("Write the text in at least one language."), field="body_zh_hans")


def template_create(*, actor: Actor, data: Mapping[str, Any]) -> MessageTemplate:
    actor.require("templates.manage")
    template = MessageTemplate(workspace=actor.workspace, created_by=actor.membership)
    _template_apply(template, data)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ConflictError(_("A template with this name exists already."), field="name") from None
    return template


def template_update(
    *, actor: Actor, template: MessageTemplate, data: Mapping[str, Any]
) -> MessageTemplate:
    actor.require("templates.manage")
    _template_apply(template, data)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ConflictError(_("A template with this name exists already."), field="name") from None
    return template


def template_delete(*, actor: Actor, template: MessageTemplate) -> None:
    actor.require("templates.manage")
    template.delete()
