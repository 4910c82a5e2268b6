"""A channel's settings: split into plain and secret (encrypted) parts on the way in, joined
into the ChannelContext a provider reads on the way out."""

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from huike.channels.base import ChannelContext, Provider
from huike.channels.models import Channel
from huike.channels.registry import provider_for
from huike.core.crypto import encrypted_column, pii_decrypt, pii_encrypt
from huike.core.errors import InvalidInputError

# Every provider takes it: private deployments, proxies, our tests.
API_BASE_URL = "api_base_url"
SECRET_MASK = "********"


def channel_provider(channel: Channel) -> Provider:
    return provider_for(channel.kind)


def webhook_url(channel: Channel) -> str:
    path = reverse("hooks:webhook", args=[channel.kind, channel.public_id])
    return settings.SITE_URL.rstrip("/") + path


def channel_secrets(channel: Channel) -> dict[str, str]:
    if not channel.secrets_token:
        return {}
    column = encrypted_column(Channel, "secrets_token")
    plain = pii_decrypt(
        workspace_id=channel.workspace_id,
        table=column.table,
        column=column.column,
        row_key=str(channel.public_id),
        token=channel.secrets_token,
    )
    found: dict[str, str] = json.loads(plain)
    return found


def channel_context(channel: Channel) -> ChannelContext:
    provider = channel_provider(channel)
    config: dict[str, str] = {
        field.name: field.default for field in provider.config_fields if field.default
    }
    config.setdefault(API_BASE_URL, provider.default_api_base_url)
    config.update({name: str(value) for name, value in channel.settings.items()})
    config.update(channel_secrets(channel))
    return ChannelContext(
        channel_id=channel.pk,
        public_id=str(channel.public_id),
        workspace_id=channel.workspace_id,
        kind=channel.kind,
        name=channel.name,
        config=config,
        webhook_url=webhook_url(channel),
    )


def config_apply(channel: Channel, provider: Provider, given: Mapping[str, Any]) -> None:
    """Validate `given` for `provider` and store it on `channel` (not saved): plain fields in
    `settings`, secret ones encrypted. A secret left empty or sent back masked keeps its stored
    value, so an edit form never has to show it. Raises InvalidInputError naming the field."""
    fields = {field.name: field for field in provider.config_fields}
    unknown = sorted(set(given) - set(fields) - {API_BASE_URL})
    if unknown:
        raise InvalidInputError(
            _("Unknown setting %(name)s for this channel kind.") % {"name": unknown[0]},
            field=f"config.{unknown[0]}",
        )
    stored_secrets = channel_secrets(channel) if channel.pk else {}
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, field in fields.items():
        raw = given.get(name)
        value = "" if raw is None else str(raw).strip()
        if field.widget == "bool":
            value = "true" if value.lower() in {"1", "true", "on", "yes"} else ""
        if field.secret:
            if value in ("", SECRET_MASK):
                value = stored_secrets.get(name, "")
            if value:
                secret[name] = value
        elif value:
            plain[name] = value
        if field.required and not value and not field.default:
            raise InvalidInputError(
                _("%(label)s is required.") % {"label": field.label}, field=f"config.{name}"
            )
    base_url = str(given.get(API_BASE_URL) or "").strip()
    if base_url:
        if not base_url.startswith(("https://", "http://")):
            raise InvalidInputError(
                _("The API base URL must start with https:// or http://."),
                field=f"config.{API_BASE_URL}",
            )
        plain[API_BASE_URL] = base_url.rstrip("/")
    errors = provider.validate_config({**plain, **secret})
    if errors:
        name, message = sorted(errors.items())[0]
        raise InvalidInputError(str(message), field=f"config.{name}")
    channel.settings = plain
    channel.secret_names = sorted(secret)
    column = encrypted_column(Channel, "secrets_token")
    channel.secrets_token = (
        pii_encrypt(
            workspace_id=channel.workspace_id,
            table=column.table,
            column=column.column,
            row_key=str(channel.public_id),
            plaintext=json.dumps(secret, sort_keys=True),
        )
        if secret
        else None
    )


def config_shown(channel: Channel) -> dict[str, str]:
    """The configuration as the API and the edit form show it: secrets masked."""
    provider = channel_provider(channel)
    stored = set(channel.secret_names)
    shown = {name: str(value) for name, value in channel.settings.items()}
    for field in provider.config_fields:
        if field.secret:
            shown[field.name] = SECRET_MASK if field.name in stored else ""
    return shown
