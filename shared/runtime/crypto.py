"""Encryption at rest: AES-256-GCM under root keys with ids.

A record is ``vk1.<key id>.<base64url(nonce || ciphertext+tag)>``. The key id in the
record lets a new default key be added while records written under an older key
still decrypt. Each record is bound to its owner by the associated data (for a
token: the connection's user id and provider id), so a ciphertext copied under
another user's key fails to decrypt instead of leaking across users.

Root key values are arbitrary strings (Arcade's ``security.root_keys``); the
256-bit AES key is derived from each with HKDF-SHA256, salted per key id.

The webhook keys (``security.webhook_keys``, :data:`WEBHOOK_KEYS`) have the same shape and
their own family: another HKDF ``info`` and the record prefix ``vkw1``, so a webhook record is
never taken for a root-key record of the same key id, nor the other way round.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import ConfigError, ValetkeyError

_VERSION = "vk1"
_TOKEN_INFO = b"valetkey token encryption v1"
_NONCE_BYTES = 12
# Arcade's engine.env ships this value; it is refused outside development mode.
DEVELOPMENT_KEY_VALUE = "default-key-value"


class DecryptionError(ValetkeyError):
    """A record could not be decrypted: unknown key id, tampering, or the wrong owner."""

    code = "decryption_failed"


@dataclass(frozen=True)
class RootKey:
    id: str
    value: str
    default: bool = False


@dataclass(frozen=True)
class KeyFamily:
    """Which keys a cipher holds: where they are configured, its record prefix and HKDF info."""

    section: str
    version: str
    info: bytes
    noun: str


ROOT_KEYS = KeyFamily("security.root_keys", _VERSION, _TOKEN_INFO, "root key")
WEBHOOK_KEYS = KeyFamily(
    "security.webhook_keys", "vkw1", b"valetkey webhook secret encryption v1", "webhook key"
)


def _derive(key: RootKey, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=f"valetkey:{key.id}".encode(), info=info)
    return hkdf.derive(key.value.encode())


class Cipher:
    """Encrypts with the default key; decrypts with whichever key a record names.

    Args:
        keys: The configured keys; exactly one must be the default.
        family: Root keys (tokens and every other secret) or webhook keys (endpoint secrets).
    """

    def __init__(self, keys: list[RootKey], family: KeyFamily = ROOT_KEYS) -> None:
        defaults = [k for k in keys if k.default] or keys[:1]
        if not keys or len(defaults) != 1:
            raise ConfigError(f"exactly one {family.noun} must be the default", key=family.section)
        for key in keys:
            if "." in key.id or not key.id:
                raise ConfigError(
                    f"key id {key.id!r} must be non-empty and contain no '.'", key=family.section
                )
        self.family = family
        self._aead = {k.id: AESGCM(_derive(k, family.info)) for k in keys}
        self.default_key_id = defaults[0].id

    @property
    def key_ids(self) -> list[str]:
        """The ids of every configured key, the default among them."""
        return list(self._aead)

    def encrypt(self, plaintext: bytes, *, aad: bytes, key_id: str | None = None) -> str:
        """Encrypt ``plaintext`` bound to ``aad`` under the default key (or the key named)."""
        key_id = key_id or self.default_key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[key_id].encrypt(nonce, plaintext, aad)
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{self.family.version}.{key_id}.{body}"

    def decrypt(self, record: str | bytes, *, aad: bytes) -> bytes:
        """Decrypt a record made by :meth:`encrypt` with the same ``aad``.

        Raises:
            DecryptionError: Malformed record, unknown key id, wrong ``aad`` or tampering.
        """
        text = record.decode() if isinstance(record, bytes) else record
        try:
            version, key_id, body = text.split(".", 2)
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError as exc:
            raise DecryptionError("malformed encrypted record") from exc
        aead = self._aead.get(key_id)
        if version != self.family.version:
            raise DecryptionError(
                f"record sealed under another key family ({version}), not {self.family.section}"
            )
        if aead is None:
            raise DecryptionError(f"record encrypted under unknown key id {key_id!r}")
        try:
            return aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise DecryptionError("record failed authentication") from exc

    def encrypt_json(self, value: Any, *, aad: bytes) -> str:
        """Encrypt a JSON-serialisable value."""
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode(), aad=aad)

    def decrypt_json(self, record: str | bytes, *, aad: bytes) -> Any:
        """Decrypt a record made by :meth:`encrypt_json`."""
        return json.loads(self.decrypt(record, aad=aad))

    @staticmethod
    def key_id_of(record: str | bytes) -> str:
        """The id of the key a record was written under (for re-encryption sweeps)."""
        text = record.decode() if isinstance(record, bytes) else record
        return text.split(".", 2)[1]

    def is_current(self, record: str | bytes) -> bool:
        """Written by this family under its default key (a re-encryption sweep skips it)."""
        text = record.decode() if isinstance(record, bytes) else record
        return text.startswith(f"{self.family.version}.{self.default_key_id}.")

    @staticmethod
    def family_of(record: str | bytes) -> str:
        """The record's prefix: ``vk1`` (root keys) or ``vkw1`` (webhook keys)."""
        text = record.decode() if isinstance(record, bytes) else record
        return text.split(".", 1)[0]


def check_root_keys(keys: list[RootKey], *, development: bool, family: KeyFamily = ROOT_KEYS) -> None:
    """Refuse to run without a usable key unless in development mode.

    Raises:
        ConfigError: No key, an empty key, or Arcade's shipped default key outside development.
    """
    if not keys:
        raise ConfigError(
            f"no {family.noun} configured; add one (a long random string) or set api.development: true",
            key=family.section,
        )
    for index, key in enumerate(keys):
        where = f"{family.section}[{index}].value"
        if not key.value:
            raise ConfigError(f"{family.noun} value is empty", key=where)
        if not development and (key.value == DEVELOPMENT_KEY_VALUE or len(key.value) < 16):
            raise ConfigError(
                "the development default or a key shorter than 16 characters is refused outside "
                "development mode",
                key=where,
            )
