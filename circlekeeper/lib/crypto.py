"""Encryption at rest: AES-GCM field encryption, key wrapping, typed values and blind indexes.

Pure Python on top of `cryptography`; knows nothing about Django or the apps (see SECURITY.md 6-10).
Every failure to decrypt raises DecryptionError: a survivor's record must never show garbage or blanks.
"""

import hashlib
import hmac
import json
import os
import struct
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE = 32
FORMAT_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER = struct.Struct(">BI")  # format version, key version
_MAX_KEY_VERSION = 2**32 - 1

# Domain labels keep the associated data (and HMAC input) of different uses apart, so nothing produced
# for one purpose can ever be accepted for another, even under a misconfigured shared key.
_FIELD_DOMAIN = "circlekeeper/field/v1"
_WRAP_DOMAIN = "circlekeeper/key-wrap/v1"
_INDEX_DOMAIN = "circlekeeper/blind-index/v1"


class DecryptionError(Exception):
    """A ciphertext, wrapped key or encoded value could not be read back."""


@dataclass(frozen=True)
class Context:
    """Where a ciphertext lives; bound as associated data so a copied ciphertext fails to decrypt."""

    organization_id: int
    model: str
    field: str
    row_id: str  # ints and UUIDs are stored as str(pk)

    def __post_init__(self) -> None:
        # An unsaved row (pk None -> "None", or "") would produce ciphertext that no real row can ever
        # decrypt, so refuse it here rather than lose data later.
        if isinstance(self.organization_id, bool) or not isinstance(self.organization_id, int):
            raise TypeError("organization_id must be an int")
        for name in ("model", "field", "row_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"context {name} must be a non-empty str, got {value!r}")
        if self.row_id == "None":
            raise ValueError(
                "context row_id is 'None': the row must be saved before its fields are encrypted"
            )


def generate_key() -> bytes:
    return os.urandom(KEY_SIZE)


def _check_key(key: bytes, what: str) -> None:
    # AES-GCM would also accept 16/24-byte keys; insisting on 32 catches a wrapped key or a
    # truncated secret being passed where a raw key belongs.
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes")


def _length_prefixed(*parts: bytes | str) -> bytes:
    """Unambiguous concatenation: ("ab", "c") and ("a", "bc") encode differently."""
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else part
        out += struct.pack(">I", len(raw)) + raw
    return bytes(out)


# --- Key wrapping -------------------------------------------------------------------------------


def wrap_key(master_key: bytes, data_key: bytes, *, label: str) -> bytes:
    """Encrypt a data or index key under the master key; `label` (e.g. "org:42:data:v3") is bound to it."""
    _check_key(master_key, "master key")
    _check_key(data_key, "data key")
    nonce = os.urandom(_NONCE_SIZE)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, _length_prefixed(_WRAP_DOMAIN, label))


def unwrap_key(master_key: bytes, wrapped: bytes, *, label: str) -> bytes:
    _check_key(master_key, "master key")
    if len(wrapped) < _NONCE_SIZE + _TAG_SIZE:
        raise DecryptionError("malformed wrapped key: too short")
    nonce, body = wrapped[:_NONCE_SIZE], wrapped[_NONCE_SIZE:]
    try:
        return AESGCM(master_key).decrypt(nonce, body, _length_prefixed(_WRAP_DOMAIN, label))
    except InvalidTag:
        raise DecryptionError(
            f"cannot unwrap key {label!r}: wrong master key or label, or the wrapped key was tampered with"
        ) from None


# --- Field encryption ---------------------------------------------------------------------------


def _associated_data(header: bytes, context: Context) -> bytes:
    # The header is included so the key version cannot be swapped without detection.
    return _length_prefixed(
        _FIELD_DOMAIN,
        header,
        str(context.organization_id),
        context.model,
        context.field,
        context.row_id,
    )


def encrypt(key: bytes, version: int, plaintext: bytes, context: Context) -> bytes:
    """Token = format version (1 byte) | key version (4 bytes, big-endian) | nonce (12) | ciphertext+tag."""
    _check_key(key, "data key")
    if not 0 <= version <= _MAX_KEY_VERSION:
        raise ValueError(f"key version out of range: {version}")
    header = _HEADER.pack(FORMAT_VERSION, version)
    nonce = os.urandom(_NONCE_SIZE)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, _associated_data(header, context))


def _parse_header(token: bytes) -> int:
    if len(token) < _HEADER.size + _NONCE_SIZE + _TAG_SIZE:
        raise DecryptionError("malformed ciphertext: too short")
    format_version, key_version = _HEADER.unpack_from(token)
    if format_version != FORMAT_VERSION:
        raise DecryptionError(f"unsupported format version {format_version}")
    return int(key_version)


def token_key_version(token: bytes) -> int:
    """The key version a token was encrypted under, without decrypting (used by key rotation)."""
    return _parse_header(token)


def decrypt(keys: Mapping[int, bytes], token: bytes, context: Context) -> bytes:
    """Decrypt with whichever of `keys` (key version -> key) the token names."""
    version = _parse_header(token)
    if version not in keys:
        raise DecryptionError(f"unknown key version {version}")
    header = token[: _HEADER.size]
    nonce = token[_HEADER.size : _HEADER.size + _NONCE_SIZE]
    body = token[_HEADER.size + _NONCE_SIZE :]
    try:
        return AESGCM(keys[version]).decrypt(nonce, body, _associated_data(header, context))
    except InvalidTag:
        raise DecryptionError(
            "ciphertext does not belong to this context (organization/model/field/row), "
            "was encrypted under another key, or was tampered with"
        ) from None


# --- Typed values -------------------------------------------------------------------------------

_NONE, _STR, _INT, _BOOL, _DATE, _JSON = b"N", b"S", b"I", b"B", b"D", b"J"


def encode_value(value: object) -> bytes:
    """One type tag byte + payload, so 0, "", None, False and [] stay distinct after decryption."""
    # bool before int (bool is an int) and datetime refused (it is a date, and would lose its time).
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return _BOOL + (b"1" if value else b"0")
    if isinstance(value, int):
        # Signed bytes rather than decimal text: no int-to-str digit limit on huge values.
        return _INT + value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    if isinstance(value, str):
        return _STR + value.encode("utf-8")
    if isinstance(value, date) and not isinstance(value, datetime):
        return _DATE + value.isoformat().encode("ascii")
    if isinstance(value, dict | list):
        payload = json.dumps(value, ensure_ascii=False, allow_nan=False)
        # JSON silently turns tuples into lists and int keys into strings; refuse instead of
        # handing back something different from what was saved.
        if json.loads(payload) != value:
            raise TypeError("value does not survive a JSON round trip (tuples, non-str keys?)")
        return _JSON + payload.encode("utf-8")
    raise TypeError(f"cannot encode values of type {type(value).__name__}")


def decode_value(data: bytes) -> object:
    if not data:
        raise DecryptionError("malformed value: empty")
    tag, payload = data[:1], data[1:]
    try:
        if tag == _NONE and not payload:
            return None
        if tag == _BOOL and payload in (b"0", b"1"):
            return payload == b"1"
        if tag == _INT and payload:
            return int.from_bytes(payload, "big", signed=True)
        if tag == _STR:
            return payload.decode("utf-8")
        if tag == _DATE:
            return date.fromisoformat(payload.decode("ascii"))
        if tag == _JSON:
            result = json.loads(payload.decode("utf-8"))
            if isinstance(result, dict | list):
                return result
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DecryptionError(f"malformed value: {exc}") from None
    raise DecryptionError(f"malformed value: bad type tag {tag!r} or payload")


# --- Blind index --------------------------------------------------------------------------------

# Removed inside a word ("O'Brien" = "OBrien", "J.R." = "JR"); other punctuation separates words
# ("Mary-Jane" = "Mary Jane", "Garcia,Jose" = "Garcia Jose").
_JOINING_PUNCTUATION = frozenset(".'\u2019\u02bc`")


def _collapse_whitespace(value: str) -> str:
    return " ".join(value.split())


def _normalize_name(value: str) -> str:
    value = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", value).casefold())
    chars = []
    for ch in value:
        if unicodedata.combining(ch):  # accents: "José" = "Jose"
            continue
        if ch in _JOINING_PUNCTUATION:
            continue
        chars.append(" " if unicodedata.category(ch).startswith("P") else ch)
    return _collapse_whitespace(unicodedata.normalize("NFC", "".join(chars)))


def _normalize_phone(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip().lstrip("(").lstrip()
    digits = "".join(str(unicodedata.decimal(ch)) for ch in value if ch.isdecimal())
    # "+1 415 555 0100", "1-415-555-0100" and "(415) 555-0100" are the same US number.
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return "+" + digits if value.startswith("+") else digits


def _normalize_email(value: str) -> str:
    return value.strip().casefold()


def _normalize_date(value: str) -> str:
    return date.fromisoformat(value.strip()).isoformat()  # raises ValueError on anything else


def _normalize_text(value: str) -> str:
    return _collapse_whitespace(unicodedata.normalize("NFKC", value).casefold())


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "name": _normalize_name,
    "phone": _normalize_phone,
    "email": _normalize_email,
    "date": _normalize_date,
    "text": _normalize_text,
}


def normalize_for_index(kind: str, value: str | date) -> str:
    """Normalize a value so that the same fact written differently gets the same blind index.

    kind is one of "name", "phone", "email", "date" (ISO string or a date), "text".
    """
    try:
        normalizer = _NORMALIZERS[kind]
    except KeyError:
        raise ValueError(f"unknown normalization kind {kind!r}") from None
    return normalizer(str(value))


def blind_index(index_key: bytes, purpose: str, normalized_parts: Sequence[str]) -> str:
    """Hex HMAC-SHA256 of already-normalized parts, for equality lookups on encrypted fields.

    The caller normalizes each part with normalize_for_index, so parts of different kinds combine:
        blind_index(key, "name_dob", [normalize_for_index("name", name), normalize_for_index("date", dob)])
    `purpose` separates indexes, so the same value indexed for two purposes gives unrelated digests.
    """
    _check_key(index_key, "index key")
    if isinstance(normalized_parts, str):  # a str is a Sequence[str] of characters: almost surely a bug
        raise TypeError("normalized_parts must be a sequence of str, not a str")
    if not normalized_parts or any(not part for part in normalized_parts):
        # An empty value would match every other empty value ("everyone without a phone is the same
        # person"); callers store no index instead.
        raise ValueError("blind index of an empty value; store no index instead")
    message = _length_prefixed(_INDEX_DOMAIN, purpose, *normalized_parts)
    return hmac.new(index_key, message, hashlib.sha256).hexdigest()


__all__ = [
    "KEY_SIZE",
    "Context",
    "DecryptionError",
    "blind_index",
    "decode_value",
    "decrypt",
    "encode_value",
    "encrypt",
    "generate_key",
    "normalize_for_index",
    "token_key_version",
    "unwrap_key",
    "wrap_key",
]
