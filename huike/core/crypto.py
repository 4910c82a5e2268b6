"""Personal data at rest: per-workspace data keys wrapped by a master key, AES-256-GCM tokens
bound to their row and column, HMAC blind indexes for exact-match lookups, and key rotation.

Keys
- Master keys come from settings.HUIKE_MASTER_KEYS (HUIKE_MASTER_KEY, then the ones in
  HUIKE_MASTER_KEY_PREVIOUS): the first wraps new data keys, every one of them unwraps.
- Each workspace has random data keys per purpose ("encryption", "index") and version, stored
  only wrapped (DataKey). They are created on first use; writers use the newest version,
  readers whichever version a token names.

Token (bytes): format 0x01 | key version (4 bytes, big-endian) | nonce (12) | ciphertext + tag.
The associated data is the token header plus workspace id, table, column and row key (the
row's public UUID), so a token copied to another row, column or workspace, or altered in any
byte, does not decrypt.

Blind index: HMAC-SHA256(index key, kind + "\\0" + normalized value), 32 bytes. The same value
gives the same index within a workspace and kind, and nothing that can be compared elsewhere.
"""

import base64
import hashlib
import hmac
import re
import secrets
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Count, F, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.audit import AuditTarget, audit_record
from huike.core.errors import InvalidInputError
from huike.core.models import DataKey
from huike.core.normalize import normalize_identity

ENCRYPTION = DataKey.Purpose.ENCRYPTION.value
INDEX = DataKey.Purpose.INDEX.value

TOKEN_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format byte, key version
NONCE_BYTES = 12  # 96-bit random nonces: the size GCM is specified for
KEY_BYTES = 32  # AES-256 and HMAC-SHA256 keys

# Rows re-encrypted per transaction: long enough that round trips do not dominate, short
# enough that the row locks a batch takes are held for milliseconds and memory stays flat.
ROTATION_BATCH_SIZE = 500
# Writers that loaded their keys before a rotation began may still add rows under the old
# version while it runs; each further pass picks those up. Rows written after the last pass
# stay readable (retired keys still decrypt) and the next rotation moves them.
ROTATION_MAX_PASSES = 3
# How many failed rows a rotation report lists (all are counted).
ROTATION_FAILURES_LISTED = 100
# Unwrapped keys kept in memory: a process touches few (workspace, version) pairs at a time, and
# each entry is 32 bytes of key plus its lookup key.
UNWRAPPED_KEY_CACHE_SIZE = 4096

KEYS_ROTATED = "keys.rotated"
KEYS_REWRAPPED = "keys.rewrapped"
SYSTEM_ACTOR = "system"


class CryptoError(Exception):
    """Base of the errors below; none of them is something an end user caused."""


class DecryptionError(CryptoError):
    """A token that does not belong to this workspace, table, column and row, or was altered."""


class MasterKeyError(CryptoError):
    """The master key configuration cannot open (or wrap) a data key."""


# --- master keys ----------------------------------------------------------------------------
_MASTER_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}=?")


def master_key_decode(value: str) -> bytes:
    """The 32 bytes of a base64url master key; ValueError for anything else."""
    text = value.strip()
    if not _MASTER_KEY_PATTERN.fullmatch(text):
        raise ValueError("a master key is 32 bytes of base64url (43 characters and one =)")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=")


def master_key_id(key: bytes) -> str:
    """A short fingerprint naming a master key in DataKey rows and in `huike keys status`."""
    return hashlib.sha256(key).hexdigest()[:16]


def master_key_setting_name(position: int) -> str:
    if position == 0:
        return "HUIKE_MASTER_KEY"
    return f"HUIKE_MASTER_KEY_PREVIOUS[{position - 1}]"


@dataclass(frozen=True)
class MasterKeys:
    current_id: str
    current: bytes
    by_id: dict[str, bytes]


@lru_cache(maxsize=8)
def _master_keys_from(values: tuple[str, ...]) -> MasterKeys:
    if not values:
        raise MasterKeyError(_("No master key is configured: set HUIKE_MASTER_KEY."))
    by_id: dict[str, bytes] = {}
    for position, value in enumerate(values):
        try:
            key = master_key_decode(value)
        except ValueError:
            raise MasterKeyError(
                _("%(setting)s is not a master key: it must be 32 bytes of base64url.")
                % {"setting": master_key_setting_name(position)}
            ) from None
        by_id.setdefault(master_key_id(key), key)
    current = master_key_decode(values[0])
    return MasterKeys(current_id=master_key_id(current), current=current, by_id=by_id)


def master_keys() -> MasterKeys:
    """The configured master keys; MasterKeyError when there is none or one is malformed."""
    return _master_keys_from(tuple(getattr(settings, "HUIKE_MASTER_KEYS", ())))


def _wrap_aad(workspace_id: int, purpose: str, version: int) -> bytes:
    return f"huike-data-key\0{workspace_id}\0{purpose}\0{version}".encode()


@lru_cache(maxsize=UNWRAPPED_KEY_CACHE_SIZE)
def _unwrap(master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    # Keyed by the wrapped bytes (which carry a random nonce), so a key that is re-created or
    # re-wrapped is never confused with a cached one. InvalidTag is raised, never cached.
    return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)


def keys_cache_clear() -> None:
    """Forget unwrapped keys and parsed master keys held by this process."""
    _unwrap.cache_clear()
    _master_keys_from.cache_clear()


def _datakey_unwrap(row: DataKey) -> bytes:
    master = master_keys().by_id.get(row.master_key_id)
    names = {
        "purpose": row.purpose,
        "version": row.version,
        "workspace": row.workspace_id,
        "master": row.master_key_id,
    }
    if master is None:
        raise MasterKeyError(
            _(
                "The %(purpose)s key v%(version)s of workspace %(workspace)s is wrapped by "
                "master key %(master)s, which is neither HUIKE_MASTER_KEY nor in "
                "HUIKE_MASTER_KEY_PREVIOUS."
            )
            % names
        )
    aad = _wrap_aad(row.workspace_id, row.purpose, row.version)
    try:
        return _unwrap(master, bytes(row.wrapped_key), aad)
    except InvalidTag:
        raise MasterKeyError(
            _(
                "The %(purpose)s key v%(version)s of workspace %(workspace)s does not unwrap "
                "with master key %(master)s: the key row was altered or copied."
            )
            % names
        ) from None


def _datakey_wrap(
    *, workspace_id: int, purpose: str, version: int, key: bytes, masters: MasterKeys
) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _wrap_aad(workspace_id, purpose, version)
    return nonce + AESGCM(masters.current).encrypt(nonce, key, aad)


# --- one workspace's keys -------------------------------------------------------------------
def _pii_aad(header: bytes, workspace_id: int, table: str, column: str, row_key: str) -> bytes:
    for name, part in (("table", table), ("column", column), ("row_key", row_key)):
        # NUL separates the parts; an empty or NUL-carrying part would make two slots alike.
        if not part or "\0" in part:
            raise ValueError(f"{name} must be a non-empty string without NUL characters")
    return header + f"huike-pii\0{workspace_id}\0{table}\0{column}\0{row_key}".encode()


class WorkspaceKeys:
    """A snapshot of one workspace's data keys, loaded in one query.

    Take one per request or per batch and use it for every value of that unit of work: writes
    use the newest version present when it was loaded (creating version 1 on first use), reads
    load a version this snapshot has not seen (written after a rotation began) on demand.
    """

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self._rows: dict[tuple[str, int], DataKey] = {}
        # The snapshot's own unwrapped keys: a batch of thousands of values then costs no
        # master-key lookup per value (the process-wide cache still spares the unwrapping).
        self._unwrapped: dict[tuple[str, int], bytes] = {}
        self.reload()

    def reload(self) -> None:
        self._rows = {
            (row.purpose, row.version): row
            for row in DataKey.objects.filter(workspace_id=self.workspace_id)
        }
        self._unwrapped = {}

    def unwrap(self, row: DataKey) -> bytes:
        """The key of one of this workspace's rows; MasterKeyError if it cannot be opened."""
        slot = (row.purpose, row.version)
        key = self._unwrapped.get(slot)
        if key is None:
            key = self._unwrapped[slot] = _datakey_unwrap(row)
        return key

    def versions(self, purpose: str) -> list[DataKey]:
        """This workspace's keys of one purpose, oldest first."""
        return sorted(
            (row for (kind, _number), row in self._rows.items() if kind == purpose),
            key=lambda row: row.version,
        )

    def newest(self, purpose: str) -> DataKey | None:
        rows = self.versions(purpose)
        return rows[-1] if rows else None

    def has_unretired_older(self, purpose: str) -> bool:
        """True while a rotation of this purpose has begun and not finished."""
        return any(row.retired_at is None for row in self.versions(purpose)[:-1])

    def create_version(self, purpose: str, version: int) -> DataKey | None:
        """Insert a new random key version; None when another process inserted it first.

        The unique constraint decides the race: the loser's insert fails, and it reloads and
        uses the winner's key, so two processes never end with two different version 1 keys.
        """
        masters = master_keys()
        row = DataKey(
            workspace_id=self.workspace_id,
            purpose=purpose,
            version=version,
            master_key_id=masters.current_id,
            wrapped_key=_datakey_wrap(
                workspace_id=self.workspace_id,
                purpose=purpose,
                version=version,
                key=AESGCM.generate_key(bit_length=KEY_BYTES * 8),
                masters=masters,
            ),
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            self.reload()
            return None
        self._rows[(purpose, version)] = row
        return row

    def _current(self, purpose: str) -> tuple[int, bytes]:
        row = self.newest(purpose)
        if row is None:
            # Ours, or (when our insert lost the race) the one the other process created.
            row = self.create_version(purpose, 1) or self.newest(purpose)
        if row is None:
            raise CryptoError(
                f"no {purpose} key for workspace {self.workspace_id} after creating one"
            )
        return row.version, self.unwrap(row)

    def _version(self, purpose: str, version: int) -> bytes | None:
        row = self._rows.get((purpose, version))
        if row is None:
            self.reload()
            row = self._rows.get((purpose, version))
        return None if row is None else self.unwrap(row)

    def current_version(self, purpose: str) -> int | None:
        row = self.newest(purpose)
        return None if row is None else row.version

    def encrypt(self, *, table: str, column: str, row_key: str, plaintext: str) -> bytes:
        version, key = self._current(ENCRYPTION)
        header = _HEADER.pack(TOKEN_FORMAT, version)
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _pii_aad(header, self.workspace_id, table, column, row_key)
        return header + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad)

    def decrypt(self, *, table: str, column: str, row_key: str, token: bytes | memoryview) -> str:
        token = bytes(token)  # PostgreSQL hands bytea back as memoryview
        if len(token) < _HEADER.size + NONCE_BYTES + 16 or token[0] != TOKEN_FORMAT:
            raise DecryptionError(_("This is not a personal-data token."))
        header = token[: _HEADER.size]
        _format, version = _HEADER.unpack(header)
        key = self._version(ENCRYPTION, version)
        if key is None:
            raise DecryptionError(
                _("Workspace %(workspace)s has no encryption key v%(version)s.")
                % {"workspace": self.workspace_id, "version": version}
            )
        nonce = token[_HEADER.size : _HEADER.size + NONCE_BYTES]
        aad = _pii_aad(header, self.workspace_id, table, column, row_key)
        try:
            plaintext = AESGCM(key).decrypt(nonce, token[_HEADER.size + NONCE_BYTES :], aad)
        except InvalidTag:
            raise DecryptionError(
                _(
                    "The token does not decrypt: it belongs to another row, column or "
                    "workspace, or it was altered."
                )
            ) from None
        return plaintext.decode()

    def blind_index(self, *, kind: str, value: str, is_normalized: bool = False) -> bytes:
        """The index of `value` under the newest index key (what writers store).

        `is_normalized=True` is for callers that have just normalized the value themselves
        (an import does, to store E.164): parsing a phone number twice is most of the cost.
        """
        _version, key = self._current(INDEX)
        normalized = value if is_normalized else normalize_identity(kind, value)
        return _blind_index_with(key, kind, normalized)

    def blind_index_candidates(self, *, kind: str, value: str) -> list[bytes]:
        """The index under every index key not yet retired, newest first.

        Lookups match on all of them (`index__in=`), so an exact-match search keeps finding
        rows while `keys rotate --include-index` recomputes the index column.
        """
        normalized = normalize_identity(kind, value)
        rows = [row for row in reversed(self.versions(INDEX)) if row.retired_at is None]
        if not rows:
            return [self.blind_index(kind=kind, value=normalized, is_normalized=True)]
        return [_blind_index_with(self.unwrap(row), kind, normalized) for row in rows]


def _blind_index_with(key: bytes, kind: str, normalized: str) -> bytes:
    return hmac.new(key, f"{kind}\0{normalized}".encode(), hashlib.sha256).digest()


def workspace_keys(workspace_id: int) -> WorkspaceKeys:
    return WorkspaceKeys(workspace_id)


def pii_encrypt(
    *, workspace_id: int, table: str, column: str, row_key: str, plaintext: str
) -> bytes:
    """Encrypt one value for one slot (workspace, table, column, row's public UUID).

    Uses the workspace's newest encryption key, creating version 1 on first use. For many
    values, take one `workspace_keys()` and call its `encrypt` instead (one query in all).
    Raises MasterKeyError when the master key configuration cannot open the data key.
    """
    return workspace_keys(workspace_id).encrypt(
        table=table, column=column, row_key=row_key, plaintext=plaintext
    )


def pii_decrypt(
    *, workspace_id: int, table: str, column: str, row_key: str, token: bytes | memoryview
) -> str:
    """The plaintext of a token written for exactly this slot.

    Raises DecryptionError if the token was written for another row, column or workspace, or
    altered; MasterKeyError when the master key configuration cannot open the data key.
    """
    return workspace_keys(workspace_id).decrypt(
        table=table, column=column, row_key=row_key, token=token
    )


def blind_index(*, workspace_id: int, kind: str, value: str) -> bytes:
    """32-byte HMAC-SHA256 of the normalized value, for exact-match lookups and dedup.

    Raises InvalidInputError(field=kind) when the value does not normalize (e.g. not a phone).
    """
    return workspace_keys(workspace_id).blind_index(kind=kind, value=value)


# --- registry of encrypted columns ----------------------------------------------------------
@dataclass(frozen=True)
class EncryptedColumn:
    """A BinaryField holding tokens, the field whose value is the row key, and optionally the
    field holding the value's blind index with the identity kind it was computed for (fixed,
    or read from `kind_field` when one table holds identities of several kinds)."""

    model: type[models.Model]
    ciphertext_field: str
    row_key_field: str
    index_field: str | None = None
    kind: str | None = None
    kind_field: str | None = None
    workspace_field: str = "workspace"

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def column(self) -> str:
        column = _concrete_field(self.model, self.ciphertext_field).column
        assert column is not None  # concrete fields always have one
        return column

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"

    def rows(self, workspace_id: int) -> QuerySet[Any]:
        """The workspace's rows that hold a token in this column."""
        workspace_attname = _concrete_field(self.model, self.workspace_field).attname
        return self.model._default_manager.filter(
            **{workspace_attname: workspace_id, f"{self.ciphertext_field}__isnull": False}
        )

    def row_kind(self, row: models.Model) -> str:
        return str(getattr(row, self.kind_field)) if self.kind_field else str(self.kind)


def _concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    found = model._meta.get_field(name)
    if not isinstance(found, models.Field):
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return found


_COLUMNS: dict[tuple[str, str], EncryptedColumn] = {}


def register_encrypted_column(
    model: type[models.Model],
    ciphertext_field: str,
    row_key_field: str,
    index_field: str | None = None,
    kind: str | None = None,
    *,
    kind_field: str | None = None,
    workspace_field: str = "workspace",
) -> EncryptedColumn:
    """Declare a column of tokens so rotation and `huike keys status` know it.

    Call from AppConfig.ready(). Registering the same column again identically is harmless;
    differently, a ValueError (two parts would disagree about how it is encrypted).
    """
    if not isinstance(_concrete_field(model, ciphertext_field), models.BinaryField):
        raise ValueError(f"{model.__name__}.{ciphertext_field} must be a BinaryField")
    for name in (row_key_field, workspace_field, index_field, kind_field):
        if name is not None:
            _concrete_field(model, name)
    if index_field is not None and (kind is None) == (kind_field is None):
        raise ValueError("an indexed column needs exactly one of kind= and kind_field=")
    column = EncryptedColumn(
        model=model,
        ciphertext_field=ciphertext_field,
        row_key_field=row_key_field,
        index_field=index_field,
        kind=kind,
        kind_field=kind_field,
        workspace_field=workspace_field,
    )
    registry_key = (model._meta.label_lower, ciphertext_field)
    existing = _COLUMNS.get(registry_key)
    if existing is not None and existing != column:
        raise ValueError(f"{column.label} registered twice differently")
    _COLUMNS[registry_key] = column
    return column


def encrypted_columns() -> list[EncryptedColumn]:
    return sorted(_COLUMNS.values(), key=lambda column: column.label)


def encrypted_column(model: type[models.Model], ciphertext_field: str) -> EncryptedColumn:
    return _COLUMNS[(model._meta.label_lower, ciphertext_field)]


def _token_header(column: EncryptedColumn) -> Substr:
    return Substr(F(column.ciphertext_field), 1, _HEADER.size, output_field=models.BinaryField())


# --- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnVersions:
    label: str
    # Rows per encryption key version; None counts tokens too malformed to name a version.
    rows_by_version: dict[int | None, int]


@dataclass(frozen=True)
class WorkspaceKeyStatus:
    workspace_id: int
    keys: list[DataKey]
    columns: list[ColumnVersions]


def keys_status(*, workspace_ids: Sequence[int]) -> list[WorkspaceKeyStatus]:
    """Each workspace's key versions and, per registered column, its rows per key version.

    One query for the keys and one grouped query per column (a scan of the column).
    """
    keys: dict[int, list[DataKey]] = {workspace_id: [] for workspace_id in workspace_ids}
    for row in DataKey.objects.filter(workspace_id__in=workspace_ids).order_by(
        "workspace_id", "purpose", "version"
    ):
        keys[row.workspace_id].append(row)
    counts: dict[tuple[int, str], dict[int | None, int]] = {}
    columns = encrypted_columns()
    for column in columns:
        workspace_attname = _concrete_field(column.model, column.workspace_field).attname
        grouped = (
            column.model._default_manager.filter(
                **{
                    f"{workspace_attname}__in": workspace_ids,
                    f"{column.ciphertext_field}__isnull": False,
                }
            )
            .annotate(token_header=_token_header(column))
            .values(workspace_attname, "token_header")
            .annotate(rows=Count("pk"))
            .order_by()
        )
        for item in grouped:
            version = _header_version(bytes(item["token_header"] or b""))
            per_version = counts.setdefault((item[workspace_attname], column.label), {})
            per_version[version] = per_version.get(version, 0) + item["rows"]
    return [
        WorkspaceKeyStatus(
            workspace_id=workspace_id,
            keys=keys[workspace_id],
            columns=[
                ColumnVersions(
                    label=column.label,
                    rows_by_version=dict(
                        sorted(
                            counts.get((workspace_id, column.label), {}).items(),
                            key=lambda item: -1 if item[0] is None else item[0],
                        )
                    ),
                )
                for column in columns
            ],
        )
        for workspace_id in workspace_ids
    ]


def _header_version(header: bytes) -> int | None:
    if len(header) != _HEADER.size or header[0] != TOKEN_FORMAT:
        return None
    return int(_HEADER.unpack(header)[1])


# --- rotation -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowFailure:
    column: str
    pk: str
    reason: str


@dataclass(frozen=True)
class RotationProgress:
    """Handed to `on_batch` after each committed batch."""

    workspace_id: int
    column: str
    rows: int
    reencrypted: int


@dataclass
class WorkspaceRotation:
    workspace_id: int
    encryption_version: int | None = None
    index_version: int | None = None
    resumed: bool = False
    reindexed: bool = False
    reencrypted: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failures: list[RowFailure] = field(default_factory=list)
    retired: list[tuple[str, int]] = field(default_factory=list)  # (purpose, version)
    finished: bool = False

    @property
    def has_keys(self) -> bool:
        return self.encryption_version is not None


@dataclass
class RotationReport:
    workspaces: list[WorkspaceRotation]

    @property
    def failed(self) -> int:
        return sum(workspace.failed for workspace in self.workspaces)


@dataclass
class _Batch:
    rows: int
    last_pk: Any
    reencrypted: int
    failures: list[RowFailure]


def _rotate_batch(
    column: EncryptedColumn,
    *,
    keys: WorkspaceKeys,
    after_pk: Any,
    reindex: bool,
    batch_size: int,
) -> _Batch:
    """Re-encrypt the next rows of `column` (after `after_pk`) not on the newest version.

    One transaction; the batch's rows are locked (select_for_update) before they are read, so
    a concurrent writer either commits first (and we re-encrypt its value) or waits for us.
    Only the token (and index) columns are written, never the rest of the row.
    """
    version = keys.current_version(ENCRYPTION)
    assert version is not None
    current_header = _HEADER.pack(TOKEN_FORMAT, version)
    fields = [column.ciphertext_field]
    if reindex and column.index_field:
        fields.append(column.index_field)
    loaded = {"pk", column.ciphertext_field, column.row_key_field, *fields}
    if column.kind_field:
        loaded.add(column.kind_field)
    with transaction.atomic():
        queryset = (
            column.rows(keys.workspace_id)
            .annotate(huike_token_header=_token_header(column))
            .exclude(huike_token_header=current_header)
        )
        if after_pk is not None:
            queryset = queryset.filter(pk__gt=after_pk)
        rows = list(queryset.order_by("pk").only(*sorted(loaded)).select_for_update()[:batch_size])
        changed: list[models.Model] = []
        failures: list[RowFailure] = []
        for row in rows:
            row_key = str(getattr(row, column.row_key_field))
            try:
                plaintext = keys.decrypt(
                    table=column.table,
                    column=column.column,
                    row_key=row_key,
                    token=getattr(row, column.ciphertext_field),
                )
                if reindex and column.index_field:
                    index = keys.blind_index(kind=column.row_kind(row), value=plaintext)
                    setattr(row, column.index_field, index)
            except (DecryptionError, InvalidInputError) as error:
                failures.append(RowFailure(column.label, str(row.pk), str(error)))
                continue
            token = keys.encrypt(
                table=column.table, column=column.column, row_key=row_key, plaintext=plaintext
            )
            setattr(row, column.ciphertext_field, token)
            changed.append(row)
        if changed:
            column.model._default_manager.bulk_update(changed, fields, batch_size=batch_size)
    return _Batch(
        rows=len(rows),
        last_pk=rows[-1].pk if rows else after_pk,
        reencrypted=len(changed),
        failures=failures,
    )


def _rotation_start(keys: WorkspaceKeys, include_index: bool, report: WorkspaceRotation) -> bool:
    """Create the new key versions, unless an unfinished rotation is to be resumed.

    Returns whether index columns are to be recomputed. An unretired older version means a
    rotation began and did not finish; it is resumed with the versions it created. New
    encryption and index versions are created in one transaction, so every row a writer
    stores under the newest encryption version also carries an index under the newest index
    key.
    """
    encryption_pending = keys.has_unretired_older(ENCRYPTION)
    index_pending = keys.has_unretired_older(INDEX)
    new_index = include_index and not index_pending and keys.newest(INDEX) is not None
    # Starting an index rotation redoes every row, including rows an unfinished encryption
    # rotation already moved to the newest version without recomputing their index.
    new_encryption = not encryption_pending or new_index
    with transaction.atomic():
        for purpose, needed in ((ENCRYPTION, new_encryption), (INDEX, new_index)):
            newest = keys.newest(purpose)
            if needed and newest is not None:
                # None means a concurrent rotation created it: continue with that one.
                keys.create_version(purpose, newest.version + 1)
    keys.reload()
    report.resumed = encryption_pending or index_pending
    return keys.has_unretired_older(INDEX)


def _rotate_workspace(
    workspace_id: int,
    *,
    include_index: bool,
    batch_size: int,
    on_batch: Callable[[RotationProgress], None] | None,
) -> WorkspaceRotation:
    report = WorkspaceRotation(workspace_id=workspace_id)
    keys = workspace_keys(workspace_id)
    if keys.newest(ENCRYPTION) is None:
        return report  # nothing was ever encrypted here
    # Fail before creating anything when a master key is missing, not half-way through.
    for purpose in (ENCRYPTION, INDEX):
        for row in keys.versions(purpose):
            keys.unwrap(row)
    reindex = _rotation_start(keys, include_index, report)
    report.reindexed = reindex
    report.encryption_version = keys.current_version(ENCRYPTION)
    report.index_version = keys.current_version(INDEX)
    columns = encrypted_columns()
    report.reencrypted = {column.label: 0 for column in columns}
    for _pass in range(ROTATION_MAX_PASSES):
        moved = 0
        for column in columns:
            after_pk: Any = None
            while True:
                batch = _rotate_batch(
                    column, keys=keys, after_pk=after_pk, reindex=reindex, batch_size=batch_size
                )
                if batch.rows == 0:
                    break
                moved += batch.reencrypted
                report.reencrypted[column.label] += batch.reencrypted
                report.failed += len(batch.failures)
                room = ROTATION_FAILURES_LISTED - len(report.failures)
                report.failures.extend(batch.failures[: max(room, 0)])
                after_pk = batch.last_pk
                if on_batch is not None:
                    on_batch(
                        RotationProgress(workspace_id, column.label, batch.rows, batch.reencrypted)
                    )
                if batch.rows < batch_size:
                    break
        if report.failed:
            break  # old versions stay unretired: the rows that failed still need them
        if moved == 0:
            report.finished = True
            break
    with transaction.atomic():
        if report.finished:
            report.retired = _retire_older(keys, ENCRYPTION)
            if reindex:
                report.retired += _retire_older(keys, INDEX)
        audit_record(
            workspace_id=workspace_id,
            action=KEYS_ROTATED,
            actor_label=SYSTEM_ACTOR,
            target=AuditTarget("workspace", str(workspace_id)),
            data={
                "encryption_version": report.encryption_version,
                "index_version": report.index_version,
                "reindexed": reindex,
                "resumed": report.resumed,
                "reencrypted": sum(report.reencrypted.values()),
                "failed": report.failed,
                "finished": report.finished,
                "retired": [f"{purpose} v{version}" for purpose, version in report.retired],
            },
        )
    return report


def _retire_older(keys: WorkspaceKeys, purpose: str) -> list[tuple[str, int]]:
    newest = keys.newest(purpose)
    assert newest is not None
    older = DataKey.objects.filter(
        workspace_id=keys.workspace_id,
        purpose=purpose,
        version__lt=newest.version,
        retired_at__isnull=True,
    )
    versions = sorted(older.values_list("version", flat=True))
    older.update(retired_at=timezone.now())
    keys.reload()
    return [(purpose, version) for version in versions]


def keys_rotate(
    *,
    workspace_id: int | None = None,
    include_index: bool = False,
    batch_size: int = ROTATION_BATCH_SIZE,
    on_batch: Callable[[RotationProgress], None] | None = None,
) -> RotationReport:
    """New encryption key version per workspace (or one), every registered column moved to it.

    Without downtime: while it runs, writers use the newest version and readers decrypt any
    version a token names. Rows are re-encrypted in batches of `batch_size`, each its own
    transaction holding row locks only on that batch. When a pass finds nothing left on an
    older version, older versions are retired (kept for decryption, never used to write).

    Crash-safe: a run that stopped part-way left older versions unretired; the next run resumes
    with the versions it created instead of creating more, and moves the rows still on old
    versions. Rows that fail to decrypt are reported, not changed, and keep the old versions
    unretired. `include_index` also creates a new index key and recomputes index columns from
    the decrypted values (exact-match lookups use `blind_index_candidates` meanwhile).

    Audited per workspace as "keys.rotated" by the system actor. Raises MasterKeyError when a
    data key cannot be unwrapped.
    """
    if workspace_id is None:
        workspace_ids: Iterable[int] = (
            DataKey.objects.order_by("workspace_id")
            .values_list("workspace_id", flat=True)
            .distinct()
        )
    else:
        workspace_ids = [workspace_id]
    keys_cache_clear()
    try:
        return RotationReport(
            workspaces=[
                _rotate_workspace(
                    workspace,
                    include_index=include_index,
                    batch_size=batch_size,
                    on_batch=on_batch,
                )
                for workspace in list(workspace_ids)
            ]
        )
    finally:
        keys_cache_clear()


# Keys re-wrapped per transaction; the rows are tiny, this only bounds the lock set.
REWRAP_BATCH_SIZE = 200


def keys_rewrap() -> int:
    """Wrap every data key under the current master key (the master-key rotation).

    Unwraps with whichever configured master (current or HUIKE_MASTER_KEY_PREVIOUS) wrapped
    each key; the keys themselves do not change, so no data is re-encrypted. Batches are locked
    and committed one by one; running it again after a crash continues where it stopped.
    Returns the number of keys re-wrapped; audited as "keys.rewrapped" on the system chain.
    Raises MasterKeyError (before changing anything) if a key's master is not configured.
    """
    masters = master_keys()
    stale = DataKey.objects.exclude(master_key_id=masters.current_id)
    missing = sorted(set(stale.values_list("master_key_id", flat=True)) - set(masters.by_id))
    if missing:
        raise MasterKeyError(
            _(
                "Some data keys are wrapped by master keys %(ids)s, which are neither "
                "HUIKE_MASTER_KEY nor in HUIKE_MASTER_KEY_PREVIOUS; nothing was re-wrapped."
            )
            % {"ids": ", ".join(missing)}
        )
    count = 0
    while True:
        with transaction.atomic():
            batch = list(stale.order_by("pk").select_for_update()[:REWRAP_BATCH_SIZE])
            for row in batch:
                row.wrapped_key = _datakey_wrap(
                    workspace_id=row.workspace_id,
                    purpose=row.purpose,
                    version=row.version,
                    key=_datakey_unwrap(row),
                    masters=masters,
                )
                row.master_key_id = masters.current_id
                row.save(update_fields=["wrapped_key", "master_key_id"])
        count += len(batch)
        if len(batch) < REWRAP_BATCH_SIZE:
            break
    audit_record(
        workspace_id=None,
        action=KEYS_REWRAPPED,
        actor_label=SYSTEM_ACTOR,
        data={"rewrapped": count, "master_key_id": masters.current_id},
    )
    keys_cache_clear()
    return count
