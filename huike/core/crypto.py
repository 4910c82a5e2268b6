"""Personal data at rest: per-workspace data keys wrapped by a master key, AES-256-GCM tokens
bound to their row and column, HMAC blind indexes for exact-match lookups, and the registry of
encrypted columns. Key status, rotation and re-wrapping are in huike.core.key_rotation.

Keys
- Master keys come from settings.HUIKE_MASTER_KEYS (HUIKE_MASTER_KEY, then the ones in
  HUIKE_MASTER_KEY_PREVIOUS): the first wraps new data keys, every one of them unwraps.
- Each workspace has random data keys per purpose ("encryption", "index") and version, stored
  only wrapped (DataKey). They are created on first use; writers use the newest version,
  readers whichever version a token names.

Token (bytes): format 0x01 | key version (4 bytes, big-endian) | nonce (12) | ciphertext + tag.
The associated data is the token header plus workspace id, logical table ("app_label.model"),
field name and row key (the
row's public UUID), so a token copied to another row, column or workspace, or altered in any
byte, does not decrypt.

Blind index (bytes): index key version (4 bytes, big-endian) | HMAC-SHA256(index key, kind +
"\\0" + normalized value). The same value gives the same index within a workspace, kind and
index key version, and nothing that can be compared elsewhere. The version prefix lets rotation
find every row whose index was computed under an older index key (whoever wrote it, and
whenever), and lookups match under every index key the workspace has, so no row goes unfound.
"""

import base64
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Case, F, QuerySet, When
from django.db.models.functions import Length, Substr
from django.db.models.lookups import Exact
from django.utils.translation import gettext as _

from huike.core.models import DataKey
from huike.core.normalize import DEFAULT_PHONE_REGION, normalize_identity

ENCRYPTION = DataKey.Purpose.ENCRYPTION.value
INDEX = DataKey.Purpose.INDEX.value

TOKEN_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format byte, key version
_INDEX_HEADER = struct.Struct(">I")  # index key version, in front of every blind index
INDEX_BYTES = _INDEX_HEADER.size + 32
NONCE_BYTES = 12  # 96-bit random nonces: the size GCM is specified for
KEY_BYTES = 32  # AES-256 and HMAC-SHA256 keys
# Unwrapped keys kept in memory: a process touches few (workspace, version) pairs at a time, and
# each entry is 32 bytes of key plus its lookup key.
UNWRAPPED_KEY_CACHE_SIZE = 4096


class CryptoError(Exception):
    """Base of the errors below; none of them is something an end user caused."""


class DecryptionError(CryptoError):
    """A token that does not belong to this workspace, table, column and row, or was altered."""


class MasterKeyError(CryptoError):
    """The master key configuration cannot open (or wrap) a data key."""


class PlaintextError(CryptoError, ValueError):
    """A value to encrypt that is not text UTF-8 can hold (not a str, or a lone surrogate)."""


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


def datakey_unwrap(row: DataKey) -> bytes:
    """The key a DataKey row wraps; MasterKeyError if no configured master key opens it."""
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


def datakey_wrap(
    *, workspace_id: int, purpose: str, version: int, key: bytes, masters: MasterKeys
) -> bytes:
    """`key` wrapped under the current master key, bound to its workspace, purpose and version."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _wrap_aad(workspace_id, purpose, version)
    return nonce + AESGCM(masters.current).encrypt(nonce, key, aad)


def token_header(version: int) -> bytes:
    """The first bytes of every token written under encryption key `version`."""
    return _HEADER.pack(TOKEN_FORMAT, version)


def token_header_version(header: bytes) -> int | None:
    """The encryption key version a token header names; None for a malformed header."""
    if len(header) != _HEADER.size or header[0] != TOKEN_FORMAT:
        return None
    return int(_HEADER.unpack(header)[1])


def index_header(version: int) -> bytes:
    """The first bytes of every blind index computed under index key `version`."""
    return _INDEX_HEADER.pack(version)


def index_header_version(header: bytes) -> int | None:
    """The index key version an index header names; None for a malformed one."""
    if len(header) != _INDEX_HEADER.size:
        return None
    return int(_INDEX_HEADER.unpack(header)[0])


def index_version(index: bytes | memoryview | None) -> int | None:
    """The index key version a stored blind index was computed under; None for a value that is
    not a versioned index (missing, or written before indexes carried their version)."""
    if index is None or len(index) != INDEX_BYTES:
        return None
    return int(_INDEX_HEADER.unpack(bytes(index)[: _INDEX_HEADER.size])[0])


def _plaintext_bytes(plaintext: object) -> bytes:
    if not isinstance(plaintext, str):
        raise PlaintextError(f"only text is encrypted, not {type(plaintext).__name__}")
    try:
        return plaintext.encode()
    except UnicodeEncodeError:
        # Lone surrogates (e.g. from a badly decoded file) have no UTF-8 form.
        raise PlaintextError("the text holds a lone surrogate, which UTF-8 cannot hold") from None


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
        self._sorted: dict[str, list[DataKey]] = {}
        self.reload()

    def reload(self) -> None:
        self._rows = {
            (row.purpose, row.version): row
            for row in DataKey.objects.filter(workspace_id=self.workspace_id)
        }
        self._unwrapped = {}
        self._sorted = {}

    def unwrap(self, row: DataKey) -> bytes:
        """The key of one of this workspace's rows; MasterKeyError if it cannot be opened."""
        slot = (row.purpose, row.version)
        key = self._unwrapped.get(slot)
        if key is None:
            key = self._unwrapped[slot] = datakey_unwrap(row)
        return key

    def versions(self, purpose: str) -> list[DataKey]:
        """This workspace's keys of one purpose, oldest first (a copy: callers may change it)."""
        rows = self._sorted.get(purpose)
        if rows is None:
            # Asked for once per value written or looked up: sorted once per snapshot.
            rows = self._sorted[purpose] = sorted(
                (row for (kind, _number), row in self._rows.items() if kind == purpose),
                key=lambda row: row.version,
            )
        return list(rows)

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
            wrapped_key=datakey_wrap(
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
        self._sorted.pop(purpose, None)
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
        header = token_header(version)
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _pii_aad(header, self.workspace_id, table, column, row_key)
        data = _plaintext_bytes(plaintext)
        return header + nonce + AESGCM(key).encrypt(nonce, data, aad)

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

    def blind_index(
        self,
        *,
        kind: str,
        value: str,
        is_normalized: bool = False,
        default_region: str = DEFAULT_PHONE_REGION,
    ) -> bytes:
        """The index of `value` under the newest index key (what writers store), prefixed with
        that key's version.

        `is_normalized=True` is for callers that have just normalized the value themselves
        (an import does, to store E.164): parsing a phone number twice is most of the cost.
        `default_region` reads phone numbers written without a country code.
        """
        version, key = self._current(INDEX)
        normalized = value if is_normalized else normalize_identity(kind, value, default_region)
        return _blind_index_with(version, key, kind, normalized)

    def blind_index_candidates(
        self,
        *,
        kind: str,
        value: str,
        is_normalized: bool = False,
        default_region: str = DEFAULT_PHONE_REGION,
    ) -> list[bytes]:
        """The index under every index key of the workspace, retired ones too, newest first.

        Lookups match on all of them (`index__in=`): a row whose index a writer computed under
        an older key (one holding keys loaded before a rotation, or saving an instance loaded
        before it) is still found until the next rotation brings its index up to date.
        `is_normalized` as for `blind_index`.
        """
        normalized = value if is_normalized else normalize_identity(kind, value, default_region)
        rows = list(reversed(self.versions(INDEX)))
        if not rows:
            return [self.blind_index(kind=kind, value=normalized, is_normalized=True)]
        return [_blind_index_with(row.version, self.unwrap(row), kind, normalized) for row in rows]


def _blind_index_with(version: int, key: bytes, kind: str, normalized: str) -> bytes:
    digest = hmac.new(key, f"{kind}\0{normalized}".encode(), hashlib.sha256).digest()
    return index_header(version) + digest


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


def blind_index(
    *, workspace_id: int, kind: str, value: str, default_region: str = DEFAULT_PHONE_REGION
) -> bytes:
    """The index key version and HMAC-SHA256 of the normalized value, for exact-match lookups
    and dedup (36 bytes).

    Raises InvalidInputError(field=kind) when the value does not normalize (e.g. not a phone).
    """
    return workspace_keys(workspace_id).blind_index(
        kind=kind, value=value, default_region=default_region
    )


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

    # The names bound into each token's associated data are logical ("app_label.model" and the
    # field name), not db_table/db_column: renaming a table or a column in a migration must
    # not make every token in it undecryptable. Renaming the model or the field would, so a
    # model that must be renamed keeps its old name here through a data migration that
    # re-encrypts.
    @property
    def table(self) -> str:
        return self.model._meta.label_lower

    @property
    def column(self) -> str:
        return _concrete_field(self.model, self.ciphertext_field).name

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def workspace_attname(self) -> str:
        return _concrete_field(self.model, self.workspace_field).attname

    def rows(self, workspace_id: int) -> QuerySet[Any]:
        """The workspace's rows that hold a token in this column."""
        return self.model._default_manager.filter(
            **{self.workspace_attname: workspace_id, f"{self.ciphertext_field}__isnull": False}
        )

    def header_expression(self) -> Substr:
        """The leading bytes of each row's token (format and key version), computed in SQL."""
        return Substr(F(self.ciphertext_field), 1, _HEADER.size, output_field=models.BinaryField())

    def index_header_expression(self) -> Case:
        """The leading bytes of each row's blind index (its index key version), in SQL; NULL
        for a missing index or one of another length (from before indexes had versions)."""
        assert self.index_field is not None
        return Case(
            When(
                Exact(Length(F(self.index_field)), INDEX_BYTES),
                then=Substr(F(self.index_field), 1, _INDEX_HEADER.size),
            ),
            default=None,
            output_field=models.BinaryField(),
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
