"""Settings both WeChat providers share: the callback Token and EncodingAESKey, the API base
URL, and the checks WeChat applies to them when an admin saves its server configuration."""

import re
from collections.abc import Mapping

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels.base import ConfigField

# WeChat's own rule for the Token: 3-32 letters or digits.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9]{3,32}")
# 43 base64 characters: 32 bytes of key once WeChat's missing "=" is added.
ENCODING_AES_KEY_PATTERN = re.compile(r"[A-Za-z0-9+/]{43}")
# App and corp ids scope identities (`wechat_openid:<appid>`), whose scopes are limited so.
SCOPE_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,60}")


def token_field() -> ConfigField:
    return ConfigField(
        "token",
        gettext_lazy("Token"),
        secret=True,
        widget="password",
        help_text=gettext_lazy("The Token of the server configuration: 3 to 32 letters or digits."),
    )


def encoding_aes_key_field(*, required: bool) -> ConfigField:
    help_text = (
        gettext_lazy("The EncodingAESKey of the server configuration: 43 characters.")
        if required
        else gettext_lazy(
            "The EncodingAESKey of the server configuration (43 characters); "
            "leave empty for plain-text mode."
        )
    )
    return ConfigField(
        "encoding_aes_key",
        gettext_lazy("EncodingAESKey"),
        secret=True,
        required=required,
        widget="password",
        help_text=help_text,
    )


def api_base_url_field(default: str) -> ConfigField:
    return ConfigField(
        "api_base_url",
        gettext_lazy("API base URL"),
        required=False,
        default=default,
        widget="url",
        help_text=gettext_lazy("Change only to go through a proxy."),
    )


def callback_config_errors(config: Mapping[str, str], *, id_field: str) -> dict[str, str]:
    """Errors for the Token, EncodingAESKey and app/corp id WeChat would not accept; empty
    values are left to the framework's required-field check."""
    errors: dict[str, str] = {}
    app_id = config.get(id_field, "")
    if app_id and not SCOPE_PATTERN.fullmatch(app_id):
        errors[id_field] = _(
            "Use the ID exactly as WeChat shows it: letters, digits, dots, dashes or "
            "underscores, at most 60."
        )
    token = config.get("token", "")
    if token and not TOKEN_PATTERN.fullmatch(token):
        errors["token"] = _("The Token must be 3 to 32 letters or digits.")
    key = config.get("encoding_aes_key", "")
    if key and not ENCODING_AES_KEY_PATTERN.fullmatch(key):
        errors["encoding_aes_key"] = _(
            "The EncodingAESKey must be exactly 43 characters (letters, digits, + or /)."
        )
    return errors
