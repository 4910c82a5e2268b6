"""Private files of imports and exports: uploaded sources (personal data) and written exports.

They live in a directory of their own, never under STATIC_ROOT or any URL: only the views
and endpoints that check who is asking hand them out. The directory is HUIKE_PRIVATE_DIR
(a setting or an environment variable), by default var/private/. With workers on several
machines it must be a volume they all mount (docs/import-export.md).

Files are created 0600 in 0700 directories, named by random ids, and deleted when their job
is done with them (imports: when the job finishes; exports: after EXPORT_RETENTION).
"""

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings


def private_dir() -> Path:
    configured = getattr(settings, "HUIKE_PRIVATE_DIR", None) or os.environ.get("HUIKE_PRIVATE_DIR")
    return Path(configured) if configured else Path(settings.VAR_DIR) / "private"


def private_path(name: str) -> Path:
    """The file of a stored name; names are ours ("imports/<random>.csv"), never a user's."""
    base = private_dir().resolve()
    path = (base / name).resolve()
    if base not in path.parents:
        raise ValueError("private file name escapes the private directory")
    return path


def private_name_new(folder: str, suffix: str) -> str:
    return f"{folder}/{secrets.token_hex(16)}.{suffix}"


def private_open_new(name: str) -> int:
    """A new file for `name`, readable by this user only; returns its descriptor."""
    path = private_path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def private_write(name: str, chunks: Iterable[bytes]) -> int:
    """Write `chunks` to a new private file; the number of bytes written."""
    size = 0
    with os.fdopen(private_open_new(name), "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            size += len(chunk)
    return size


def private_delete(name: str) -> None:
    if name:
        private_path(name).unlink(missing_ok=True)
