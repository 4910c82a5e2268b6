"""System checks for the personal-data master keys (registered in CoreConfig.ready)."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from huike.core.crypto import master_key_decode, master_key_id, master_key_setting_name

# Not a Django built-in tag: `check --tag security` (and tests filtering by tag) stay free of
# database access, while every command's startup checks (which run all tags) include it.
DATA_KEYS_TAG = "huike_data_keys"

GENERATE_HINT = (
    "Generate one with: python -c 'import base64, secrets; "
    "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'"
)


def check_master_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every configured master key must be usable: a malformed one fails every command early
    rather than the first request that touches personal data."""
    keys: list[str] = list(getattr(settings, "HUIKE_MASTER_KEYS", []))
    if not keys:
        return [
            Error(
                "No personal-data master key is configured.",
                hint=(
                    "Set HUIKE_MASTER_KEY (required unless the database is the embedded "
                    "SQLite one). " + GENERATE_HINT
                ),
                id="huike.crypto.E001",
            )
        ]
    messages: list[CheckMessage] = []
    for position, value in enumerate(keys):
        try:
            master_key_decode(value)
        except ValueError:
            messages.append(
                Error(
                    f"{master_key_setting_name(position)} is not 32 bytes of base64url.",
                    hint=GENERATE_HINT,
                    id="huike.crypto.E002",
                )
            )
    return messages


def check_data_key_masters(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every master key that wraps a data key in the database must be configured; otherwise
    the personal data of those workspaces cannot be read, which should stop a deployment with
    a wrong or missing HUIKE_MASTER_KEY_PREVIOUS at startup rather than at the first read.

    One `SELECT DISTINCT master_key_id`; nothing is reported when the database is not
    reachable or not migrated yet (migrate itself runs the checks before creating the table).
    """
    configured: set[str] = set()
    for value in getattr(settings, "HUIKE_MASTER_KEYS", []):
        try:
            configured.add(master_key_id(master_key_decode(value)))
        except ValueError:
            continue  # huike.crypto.E002 reports it
    if not configured:
        return []  # huike.crypto.E001 reports it
    from huike.core.models import DataKey

    connection = connections[DEFAULT_DB_ALIAS]
    try:
        # A savepoint, so a missing table does not break a surrounding transaction.
        with transaction.atomic(using=connection.alias):
            used = set(
                DataKey.objects.using(connection.alias)
                .order_by()
                .values_list("master_key_id", flat=True)
                .distinct()
            )
    except DatabaseError:
        return []
    missing = sorted(used - configured)
    if not missing:
        return []
    return [
        Error(
            f"Data keys are wrapped by master keys {', '.join(missing)}, which are neither "
            "HUIKE_MASTER_KEY nor in HUIKE_MASTER_KEY_PREVIOUS; their personal data cannot be "
            "read.",
            hint=(
                "Set the master key those data keys were wrapped with (HUIKE_MASTER_KEY, or "
                "HUIKE_MASTER_KEY_PREVIOUS while `huike keys rewrap` runs). `huike keys "
                "status` lists the data keys per master key."
            ),
            id="huike.crypto.E003",
        )
    ]


def check_master_key_source(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Deploy check: a generated key file sits beside the database it protects, so a copy of
    the var/ directory (or a backup of it) carries both."""
    if getattr(settings, "HUIKE_MASTER_KEY_SOURCE", "environment") != "file":
        return []
    return [
        Warning(
            "The personal-data master key was generated into var/master_key instead of "
            "coming from the environment.",
            hint=(
                "Set HUIKE_MASTER_KEY (keep the generated value: "
                "HUIKE_MASTER_KEY=$(cat var/master_key)) and store it apart from database "
                "backups; see docs/operations.md, 'Personal data keys and key rotation'."
            ),
            id="huike.crypto.W001",
        )
    ]


def check_site_url(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Deploy check: every e-mailed link (password reset, invitation) is built from SITE_URL,
    never from the request's Host header, so production must name its public https address."""
    site_url = str(getattr(settings, "SITE_URL", ""))
    local = any(host in site_url for host in ("//127.0.0.1", "//localhost", "//[::1]"))
    if site_url.startswith("https://") and not local:
        return []
    return [
        Warning(
            f"SITE_URL is {site_url!r}; links in e-mails would point there.",
            hint="Set SITE_URL to the public https address, e.g. https://crm.example.com.",
            id="huike.W002",
        )
    ]
