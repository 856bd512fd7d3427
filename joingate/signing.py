"""Signed link tokens and device cookies: pure functions of a key list, no Flask, no Redis.

A link token names a meeting, a registrant and the link's version, nothing else: it is signed, not
encrypted, so it carries no secret. The same inputs and key always give the identical string, which
is what lets ``links issue`` hand out the same link twice. Keys are a list, oldest first, newest
last: the newest signs, every one verifies (rotation through ``SECRET_KEY_FALLBACKS``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from .errors import BadLink

LINK_SALT = "joingate.link.v1"
DEVICE_SALT = "joingate.device.v1"
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class LinkRef:
    """What a verified token names."""

    meeting_id: str
    registrant_id: str
    version: int


class Signer:
    """Signs and verifies link tokens and device ids with one list of keys."""

    def __init__(self, secret_key: str, fallbacks: list[str] | tuple[str, ...] = ()) -> None:
        keys = [*fallbacks, secret_key]
        self._keys = keys
        self._links = URLSafeSerializer(keys, salt=LINK_SALT)
        self._devices = URLSafeSerializer(keys, salt=DEVICE_SALT)

    def fingerprints(self) -> list[str]:
        """A short fingerprint of each key, newest last: tells whether two processes sign with
        the same key without revealing it (an HMAC under the key of a fixed message)."""
        return [hmac.new(key.encode(), b"joingate key fingerprint", hashlib.sha256
                         ).hexdigest()[:16] for key in self._keys]

    def link_token(self, meeting_id: str, registrant_id: str, version: int) -> str:
        return self._links.dumps([meeting_id, registrant_id, version])

    def read_link_token(self, token: str) -> LinkRef:
        """Verify ``token``; raise BadLink for anything that is not a token we signed."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise BadLink("token missing or too long")
        try:
            value = self._links.loads(token)
        except BadData as exc:
            raise BadLink("signature or payload does not verify") from exc
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(part, str) and part for part in value[:2])
                or not isinstance(value[2], int) or isinstance(value[2], bool)):
            raise BadLink("payload has the wrong shape")
        return LinkRef(value[0], value[1], value[2])

    def device_cookie(self, device_id: str) -> str:
        return self._devices.dumps(device_id)

    def read_device_cookie(self, cookie: str | None) -> str | None:
        """The device id in ``cookie``, or None when there is none or it does not verify."""
        if not cookie or len(cookie) > MAX_TOKEN_LENGTH:
            return None
        try:
            value = self._devices.loads(cookie)
        except BadData:
            return None
        return value if isinstance(value, str) and value.isalnum() else None


def new_device_id() -> str:
    return secrets.token_hex(12)


def registrant_id_for(email: str, id_key: str) -> str:
    """A registrant's id within a meeting: HMAC-SHA256 of the normalised email under ``id_key``
    (hex; the store's registrant id key), 16 hex digits. Issuing again for the same address
    finds the same registrant without a lookup; the id in a token tells nothing about the email
    to anyone without the key (an unkeyed hash let a link's holder test candidate emails).
    ``id_key`` is not SECRET_KEY: it never rotates, so ids and links outlive a key rotation."""
    mac = hmac.new(bytes.fromhex(id_key), normalize_email(email).encode("utf-8", "surrogatepass"),
                   hashlib.sha256)
    return mac.hexdigest()[:16]


def normalize_email(email: str) -> str:
    """The email as registrants are told apart: NFKC, lower-cased (the roster refuses
    addresses that NFKC changes, so two addresses never fold into one)."""
    return unicodedata.normalize("NFKC", email.strip()).lower()


def link_fingerprint(meeting_id: str, registrant_id: str) -> str:
    """A short hash that identifies a link in logs without revealing it."""
    return hashlib.sha256(f"{meeting_id}:{registrant_id}".encode()).hexdigest()[:10]
