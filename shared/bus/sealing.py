"""Sealed bus payloads: what crosses NATS request-reply is AES-256-GCM under the bus key.

A user with bus access (any NATS user, a capture of the traffic) learns nothing from a request
or a reply: a token, a refresh token, a client or worker secret only ever travels sealed. The
bus key (``security.bus_key``) is held by every service, the internet-facing gateway included;
it is not the root key, which decrypts the tokens at rest and which the gateway never holds.

A sealed payload is ``b"vks1" || nonce (12 bytes) || ciphertext+tag``, its associated data:

- a request: its subject and ``request``, so a payload replayed on another subject does not open;
- a reply: the request's subject, ``reply`` and the request's nonce, which is the request id:
  a reply opens only as the answer to the one request it was made for.

The request id is the request's own random nonce, carried inside the payload, so no header is
needed (nats-py parses a header block on every message that has one). A replica's own health
ping (``vk.health.<service>.<instance>``) stays unsealed: it carries no secret, and a pod's
probe holds no engine key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.bus import subjects
from shared.errors import SealError

MAGIC = b"vks1"
NONCE_BYTES = 12
_HEAD = len(MAGIC) + NONCE_BYTES
_REQUEST = b"\x00request"
_REPLY = b"\x00reply\x00"
_HEALTH = f"{subjects.HEALTH_PREFIX}."
_SERVICE_HEALTH_DOTS = subjects.HEALTH_PREFIX.count(".") + 1  # vk.health.<service>


def is_sealed(subject: str) -> bool:
    """Whether request-reply on ``subject`` is sealed: all but a replica's own health ping
    (``vk.health.<service>.<instance>``, a pod's probe); ``/v1/health``'s ping of each service
    (``vk.health.<service>``) is sealed, so a service with another bus key shows there."""
    return not subject.startswith(_HEALTH) or subject.count(".") == _SERVICE_HEALTH_DOTS


def _derive(key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"valetkey:bus", info=b"valetkey bus sealing v1")
    return hkdf.derive(key.encode())


class BusSeal:
    """Seals and opens request-reply payloads under one bus key (the AES-GCM object is built once).

    Args:
        key: ``security.bus_key``'s value; the AES key is derived from it with HKDF-SHA256.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: str) -> None:
        self._aead = AESGCM(_derive(key))

    def seal_request(self, subject: str, data: bytes) -> bytes:
        """A request on ``subject``; its nonce (``request_id``) binds the reply to it."""
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, subject.encode() + _REQUEST)

    def open_request(self, subject: str, payload: bytes) -> tuple[bytes, bytes]:
        """The request's plaintext and its id.

        Raises:
            SealError: Not sealed, sealed under another key, altered, or sealed for another subject.
        """
        nonce = self._nonce(payload, f"the request on {subject}")
        try:
            return self._aead.decrypt(nonce, payload[_HEAD:], subject.encode() + _REQUEST), nonce
        except InvalidTag as exc:
            raise SealError(_refused(f"the request on {subject}")) from exc

    def seal_reply(self, subject: str, request_id: bytes, data: bytes) -> bytes:
        """The reply to the request ``request_id`` on ``subject``."""
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, subject.encode() + _REPLY + request_id)

    def open_reply(self, subject: str, request_id: bytes, payload: bytes) -> bytes:
        """The plaintext of the reply to ``request_id``.

        Raises:
            SealError: Not sealed, sealed under another key, altered, or the reply to another request.
        """
        nonce = self._nonce(payload, f"the reply on {subject}")
        try:
            return self._aead.decrypt(nonce, payload[_HEAD:], subject.encode() + _REPLY + request_id)
        except InvalidTag as exc:
            raise SealError(_refused(f"the reply on {subject}")) from exc

    @staticmethod
    def request_id(sealed_request: bytes) -> bytes:
        """The id of a request made by :meth:`seal_request` (its nonce)."""
        return sealed_request[len(MAGIC) : _HEAD]

    @staticmethod
    def _nonce(payload: bytes, what: str) -> bytes:
        if len(payload) < _HEAD + 16 or not payload.startswith(MAGIC):
            raise SealError(f"{what} is not sealed; every service must seal with security.bus_key")
        return payload[len(MAGIC) : _HEAD]


def _refused(what: str) -> str:
    return (
        f"{what} does not open under this service's bus key: altered, moved from another subject or "
        "request, or sealed under another security.bus_key (every service must have the same one)"
    )
