"""WeChat's callback crypto against published vectors (WeCom's documentation, wechatpy's tests)
and the edges of its 32-byte PKCS#7 padding."""

import base64
import datetime as dt
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huike.channels.base import SignatureError
from huike.channels.providers.wechat import crypto
from huike.channels.providers.wechat.payload import parse_xml

FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "wechat" / "fixtures"
VECTORS = json.loads((FIXTURES / "vectors.json").read_text())
DOC = VECTORS["wecom_doc"]
WECHATPY = VECTORS["wechatpy"]
KEY = DOC["encoding_aes_key"]
RECEIVE_ID = DOC["receive_id"]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def at(timestamp: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)


def raw_encrypt(frame: bytes, key: str = KEY) -> str:
    """AES-CBC over a frame exactly as given (its padding included), to build the ciphertexts
    a well-behaved encoder would never produce."""
    aes_key = base64.b64decode(key + "=")
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(frame) + encryptor.finalize()).decode()


def frame_with_pad(pad: int, message: bytes = b"hello") -> bytes:
    body = b"R" * 16 + struct.pack(">I", len(message)) + message + RECEIVE_ID.encode()
    # Grow the message so body + pad fills whole AES blocks.
    while (len(body) + pad) % 16:
        message += b"x"
        body = b"R" * 16 + struct.pack(">I", len(message)) + message + RECEIVE_ID.encode()
    return body + bytes([pad]) * pad


# --- published vectors ---------------------------------------------------------------------
def test_wecom_doc_url_vector_signs_and_decrypts():
    # given the WeCom documentation's URL-verification example
    vector = DOC["verify_url"]

    # when
    signature = crypto.signature(
        DOC["token"], vector["timestamp"], vector["nonce"], vector["echostr"]
    )
    plaintext = crypto.decrypt(KEY, vector["echostr"], RECEIVE_ID)

    # then
    assert signature == vector["msg_signature"]
    assert plaintext == vector["plaintext"].encode()


def test_wecom_doc_callback_vector_signs_and_decrypts():
    # given the documentation's encrypted callback
    vector = DOC["callback"]
    ciphertext = parse_xml(fixture(vector["body_file"]))["Encrypt"]

    # when
    signature = crypto.signature(DOC["token"], vector["timestamp"], vector["nonce"], ciphertext)
    plaintext = crypto.decrypt(KEY, ciphertext, RECEIVE_ID)

    # then
    assert signature == vector["msg_signature"]
    assert plaintext == fixture(vector["plaintext_file"])


def test_wechatpy_vectors_sign_and_decrypt():
    key, receive_id = WECHATPY["encoding_aes_key"], WECHATPY["receive_id"]
    url, message = WECHATPY["verify_url"], WECHATPY["decrypt"]

    assert (
        crypto.signature(WECHATPY["token"], url["timestamp"], url["nonce"], url["echostr"])
        == url["msg_signature"]
    )
    assert crypto.decrypt(key, url["echostr"], receive_id) == b"5927782489442352469"
    assert (
        crypto.signature(
            WECHATPY["token"], message["timestamp"], message["nonce"], message["encrypt"]
        )
        == message["msg_signature"]
    )
    fields = parse_xml(crypto.decrypt(key, message["encrypt"], receive_id))
    assert fields["Content"] == "test"
    assert fields["FromUserName"] == "messense"


def test_encrypt_reproduces_wechatpy_vector_byte_for_byte():
    # given wechatpy's encryption example with its fixed random prefix
    vector = WECHATPY["encrypt"]
    plaintext = fixture(vector["plaintext_file"])

    # when
    ciphertext = crypto.encrypt(
        WECHATPY["encoding_aes_key"],
        plaintext,
        WECHATPY["receive_id"],
        random_prefix=vector["random_prefix"].encode(),
    )

    # then
    assert ciphertext == vector["encrypt"]
    assert (
        crypto.signature(WECHATPY["token"], vector["timestamp"], vector["nonce"], ciphertext)
        == vector["msg_signature"]
    )


def test_encrypt_then_decrypt_round_trips_unicode():
    message = "<xml><Content><![CDATA[你好 👋]]></Content></xml>".encode()

    ciphertext = crypto.encrypt(KEY, message, RECEIVE_ID)

    assert crypto.decrypt(KEY, ciphertext, RECEIVE_ID) == message
    # Padding goes to 32-byte blocks.
    assert len(base64.b64decode(ciphertext)) % 32 == 0


# --- refusals ------------------------------------------------------------------------------
def test_decrypt_refuses_wrong_receive_id():
    ciphertext = crypto.encrypt(KEY, b"<xml/>", RECEIVE_ID)

    with pytest.raises(crypto.CryptoError, match="receive id"):
        crypto.decrypt(KEY, ciphertext, "wx0000000000000000")


def test_decrypt_refuses_tampered_ciphertext():
    # given a ciphertext with one bit flipped in its last block (garbles padding and id)
    data = bytearray(base64.b64decode(crypto.encrypt(KEY, b"<xml>hello</xml>", RECEIVE_ID)))
    data[-20] ^= 0x01
    tampered = base64.b64encode(bytes(data)).decode()

    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(KEY, tampered, RECEIVE_ID)


def test_decrypt_with_another_key_fails():
    ciphertext = crypto.encrypt(KEY, b"<xml/>", RECEIVE_ID)

    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(WECHATPY["encoding_aes_key"], ciphertext, RECEIVE_ID)


@pytest.mark.parametrize("ciphertext", ["not base64!", "", base64.b64encode(b"short").decode()])
def test_decrypt_refuses_malformed_ciphertext(ciphertext):
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(KEY, ciphertext, RECEIVE_ID)


@pytest.mark.parametrize("key", ["tooshort", KEY + "A", KEY[:-1] + "!"])
def test_aes_key_refuses_malformed_encoding_aes_key(key):
    with pytest.raises(crypto.CryptoError):
        crypto.aes_key(key)


# --- padding -------------------------------------------------------------------------------
@pytest.mark.parametrize("pad", range(1, 33))
def test_decrypt_accepts_every_pad_value_from_1_to_32(pad):
    frame = frame_with_pad(pad)
    message_length = struct.unpack(">I", frame[16:20])[0]

    plaintext = crypto.decrypt(KEY, raw_encrypt(frame), RECEIVE_ID)

    assert plaintext == frame[20 : 20 + message_length]
    assert plaintext.startswith(b"hello")


@pytest.mark.parametrize("pad", [0, 33, 48, 255])
def test_decrypt_refuses_pad_values_outside_1_to_32(pad):
    # given a frame whose last byte claims a pad of `pad`
    body = frame_with_pad(16)[:-16]
    frame = body + bytes([pad]) * 16
    frame += bytes([pad]) * ((-len(frame)) % 16)

    with pytest.raises(crypto.CryptoError, match="padding"):
        crypto.decrypt(KEY, raw_encrypt(frame), RECEIVE_ID)


def test_decrypt_refuses_inconsistent_padding_bytes():
    frame = bytearray(frame_with_pad(8))
    frame[-5] = 7

    with pytest.raises(crypto.CryptoError, match="padding"):
        crypto.decrypt(KEY, raw_encrypt(bytes(frame)), RECEIVE_ID)


def test_decrypt_refuses_a_length_beyond_the_frame():
    message = b"hello"
    body = b"R" * 16 + struct.pack(">I", 4096) + message + RECEIVE_ID.encode()
    pad = 32 - len(body) % 32

    with pytest.raises(crypto.CryptoError, match="length"):
        crypto.decrypt(KEY, raw_encrypt(body + bytes([pad]) * pad), RECEIVE_ID)


# --- signed query --------------------------------------------------------------------------
def signed_query(token="tok3n", timestamp="1700000000", nonce="815", *parts):
    return {
        "signature": crypto.signature(token, timestamp, nonce, *parts),
        "timestamp": timestamp,
        "nonce": nonce,
    }


def test_signed_query_inside_the_window_passes():
    query = signed_query()

    crypto.check_signed_query(
        query, token="tok3n", received_at=at("1700000299"), signature_param="signature"
    )


def test_signed_query_with_a_wrong_token_is_refused():
    query = signed_query(token="someone-else")

    with pytest.raises(SignatureError) as caught:
        crypto.check_signed_query(
            query, token="tok3n", received_at=at("1700000000"), signature_param="signature"
        )
    assert caught.value.status == 403


@pytest.mark.parametrize("received", ["1700000301", "1699999699"])
def test_signed_query_outside_the_window_is_refused(received):
    query = signed_query()

    with pytest.raises(SignatureError, match="window") as caught:
        crypto.check_signed_query(
            query, token="tok3n", received_at=at(received), signature_param="signature"
        )
    assert caught.value.status == 403


def test_signed_query_without_a_signature_is_refused_as_unauthenticated():
    query = signed_query()
    del query["signature"]

    with pytest.raises(SignatureError) as caught:
        crypto.check_signed_query(
            query, token="tok3n", received_at=at("1700000000"), signature_param="signature"
        )
    assert caught.value.status == 401


def test_signed_query_with_no_configured_token_is_refused():
    # An empty token would let anyone compute the signature.
    query = signed_query(token="")

    with pytest.raises(SignatureError) as caught:
        crypto.check_signed_query(
            query, token="", received_at=at("1700000000"), signature_param="signature"
        )
    assert caught.value.status == 401


def test_signed_query_with_non_ascii_signature_is_refused_not_crashed():
    query = {**signed_query(), "signature": "签名"}

    with pytest.raises(SignatureError):
        crypto.check_signed_query(
            query, token="tok3n", received_at=at("1700000000"), signature_param="signature"
        )


# --- XML ---------------------------------------------------------------------------------
def test_parse_xml_refuses_entity_declarations():
    with pytest.raises(ValueError, match="not acceptable XML"):
        parse_xml(fixture("oa_entity_expansion.xml"))


def test_parse_xml_refuses_external_entities():
    body = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><Content>&x;</Content></xml>"
    )

    with pytest.raises(ValueError, match="not acceptable XML"):
        parse_xml(body)


def test_parse_xml_refuses_another_root_and_garbage():
    with pytest.raises(ValueError, match="root"):
        parse_xml(b"<html><body/></html>")
    with pytest.raises(ValueError, match="not acceptable XML"):
        parse_xml(b"{not xml")
