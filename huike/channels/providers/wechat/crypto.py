"""WeChat's callback signatures and AES message encryption, shared by Official Accounts (safe
mode) and WeCom.

Signatures are sha1 over the sorted (token, timestamp, nonce[, Encrypt]); messages are
AES-256-CBC with IV = key[:16] over `random(16) ‖ len(4, big-endian) ‖ msg ‖ receive_id`,
PKCS#7-padded to a multiple of 32 bytes (not AES's 16), so a pad byte of 1..32 is valid.
"""

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huike.channels.base import SignatureError, WebhookRequest
from huike.channels.providers.wechat.payload import parse_xml

ENCODING_AES_KEY_LENGTH = 43
# WeChat pads to this block size (twice AES's), see the module docstring.
PAD_BLOCK_BYTES = 32
RANDOM_PREFIX_BYTES = 16
LENGTH_BYTES = 4
# A signed callback older or newer than this is refused as a replay; WeChat retries within
# seconds and servers keep their clocks in sync, so five minutes leaves room for skew only.
TIMESTAMP_WINDOW_SECONDS = 300


class CryptoError(ValueError):
    """A ciphertext that does not decrypt to a well-formed frame for our receive id."""


def signature(token: str, timestamp: str, nonce: str, *parts: str) -> str:
    joined = "".join(sorted((token, timestamp, nonce, *parts))).encode()
    # sha1 is what WeChat signs with; the choice is the platform's, not ours.
    return hashlib.sha1(joined).hexdigest()  # noqa: S324


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise CryptoError("the EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as error:
        raise CryptoError("the EncodingAESKey is not base64") from error
    return key


def decrypt(encoding_aes_key: str, ciphertext: str, receive_id: str) -> bytes:
    """The message inside `ciphertext` (base64), checked to be addressed to `receive_id`."""
    key = aes_key(encoding_aes_key)
    try:
        data = base64.b64decode(ciphertext, validate=True)
    except binascii.Error as error:
        raise CryptoError("the ciphertext is not base64") from error
    if not data or len(data) % 16:
        raise CryptoError("the ciphertext is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    frame = decryptor.update(data) + decryptor.finalize()
    frame = _unpad(frame)
    header = RANDOM_PREFIX_BYTES + LENGTH_BYTES
    if len(frame) < header:
        raise CryptoError("the frame is too short")
    (length,) = struct.unpack(">I", frame[RANDOM_PREFIX_BYTES:header])
    if header + length > len(frame):
        raise CryptoError("the message length exceeds the frame")
    message, found_id = frame[header : header + length], frame[header + length :]
    if not hmac.compare_digest(found_id, receive_id.encode()):
        raise CryptoError("the message is addressed to another receive id")
    return message


def encrypt(
    encoding_aes_key: str, message: bytes, receive_id: str, *, random_prefix: bytes | None = None
) -> str:
    """The base64 `Encrypt` value WeChat would send; `random_prefix` fixes the 16 random bytes
    (to reproduce published examples)."""
    key = aes_key(encoding_aes_key)
    prefix = os.urandom(RANDOM_PREFIX_BYTES) if random_prefix is None else random_prefix
    if len(prefix) != RANDOM_PREFIX_BYTES:
        raise CryptoError("the random prefix must be 16 bytes")
    frame = prefix + struct.pack(">I", len(message)) + message + receive_id.encode()
    pad = PAD_BLOCK_BYTES - len(frame) % PAD_BLOCK_BYTES
    frame += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(frame) + encryptor.finalize()).decode()


def _unpad(frame: bytes) -> bytes:
    pad = frame[-1]
    if not 1 <= pad <= PAD_BLOCK_BYTES or pad > len(frame):
        raise CryptoError("bad padding")
    if frame[-pad:] != bytes([pad]) * pad:
        raise CryptoError("bad padding")
    return frame[:-pad]


def check_signed_query(
    query: Mapping[str, str],
    *,
    token: str,
    received_at: dt.datetime,
    signature_param: str,
    signed: tuple[str, ...] = (),
) -> None:
    """Raise SignatureError unless `query[signature_param]` signs (token, timestamp, nonce,
    *signed) and the timestamp is inside the replay window around `received_at`."""
    if not token:
        # An empty token would make every signature computable by anyone.
        raise SignatureError("the channel has no Token configured", status=401)
    given = query.get(signature_param, "")
    timestamp = query.get("timestamp", "")
    nonce = query.get("nonce", "")
    if not given or not timestamp or not nonce:
        raise SignatureError(f"{signature_param}, timestamp or nonce missing", status=401)
    expected = signature(token, timestamp, nonce, *signed)
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise SignatureError(f"{signature_param} does not match")
    try:
        signed_at = int(timestamp)
    except ValueError as error:
        raise SignatureError("timestamp is not a number") from error
    if abs(received_at.timestamp() - signed_at) > TIMESTAMP_WINDOW_SECONDS:
        raise SignatureError("timestamp outside the replay window")


def open_envelope(
    request: WebhookRequest, *, token: str, encoding_aes_key: str, receive_id: str
) -> bytes:
    """The plaintext XML of an encrypted callback `<xml><Encrypt>…</Encrypt></xml>`, after
    checking `msg_signature` over the ciphertext; SignatureError for anything else."""
    if not encoding_aes_key:
        raise SignatureError("an encrypted callback, but no EncodingAESKey is configured")
    try:
        envelope = parse_xml(request.body)
    except ValueError as error:
        raise SignatureError(f"unreadable envelope: {error}") from error
    ciphertext = envelope.get("Encrypt", "")
    if not ciphertext:
        raise SignatureError("the envelope has no Encrypt", status=401)
    check_signed_query(
        request.query,
        token=token,
        received_at=request.received_at,
        signature_param="msg_signature",
        signed=(ciphertext,),
    )
    try:
        return decrypt(encoding_aes_key, ciphertext, receive_id)
    except CryptoError as error:
        raise SignatureError(f"cannot decrypt: {error}") from error
