"""Signed link tokens and device cookies: pure functions of a key list, no Flask, no Redis.

A link token names a meeting, a registrant and the link's version, nothing else: it is signed, not
encrypted, so it carries no secret. The same inputs and key always give the identical string, which
is what lets ``links issue`` hand out the same link twice. Keys are a list, oldest first, newest
last: the newest signs, every one verifies (rotation through ``SECRET_KEY_FALLBACKS``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass

from itsdangerous import BadData, BadSignature, URLSafeSerializer

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


# What itsdangerous's URLSafeSerializer writes for a payload it did not compress: the payload's
# base64 (URL alphabet, no padding), ".", the 20-byte HMAC-SHA1's base64 (27 characters).
PLAIN_SIGNED = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{27})")
DEVICE_ID = re.compile(r"[0-9a-f]{24}")


class SignedStrings:
    """itsdangerous's URLSafeSerializer under one salt and key list (the format every token and
    cookie is in), with a shortcut for the request path: the keys derived once (itsdangerous
    derives the key and builds two signer objects on every call, and tries to compress every
    payload), verification by one HMAC per key on the raw string. The shortcut answers only
    where itsdangerous would answer the same (an uncompressed payload and a signature that
    verifies); everything else goes to itsdangerous itself, so what verifies is exactly what
    it accepts, and what is written is what it reads."""

    def __init__(self, keys: list[str], salt: str) -> None:
        self.serializer = URLSafeSerializer(keys, salt=salt)
        # django-concat, itsdangerous's default derivation; newest key first, as it tries them.
        # Each key's HMAC is keyed once and copied for every message.
        self._macs = [hmac.new(hashlib.sha1(salt.encode() + b"signer" + key.encode()).digest(),
                               digestmod=hashlib.sha1) for key in reversed(keys)]

    def dumps(self, value: object) -> str:
        return self.serializer.dumps(value)

    def dumps_device_id(self, device_id: str) -> str:
        """A device id (24 hex digits) signed in itsdangerous's plain form, which it reads like
        any other. For a random id it is what :meth:`dumps` writes; :meth:`dumps` would first
        try zlib on the 26 bytes of JSON (a third of a claim's signing cost), which shortens
        only a degenerate id such as 24 zeros."""
        if not DEVICE_ID.fullmatch(device_id):
            return self.dumps(device_id)
        payload = base64.urlsafe_b64encode(f'"{device_id}"'.encode()).rstrip(b"=")
        return (payload + b"." + base64.urlsafe_b64encode(
            _mac(self._macs[0], payload)).rstrip(b"=")).decode()

    def loads(self, signed: str) -> object:
        """The value ``signed`` carries; BadData (itsdangerous's) when it does not verify."""
        plain = PLAIN_SIGNED.fullmatch(signed)
        if plain is None:
            return self.serializer.loads(signed)
        payload = plain[1].encode()
        signature = base64.urlsafe_b64decode(plain[2] + "=")
        if not any(hmac.compare_digest(_mac(keyed, payload), signature)
                   for keyed in self._macs):
            # itsdangerous would compare the same bytes under the same keys, and refuse
            raise BadSignature("signature does not match")
        try:       # as itsdangerous reads it: base64, then strict UTF-8, then JSON
            return json.loads(base64.urlsafe_b64decode(
                payload + b"=" * (-len(payload) % 4)).decode("utf-8"))
        except (binascii.Error, ValueError):
            return self.serializer.loads(signed)   # it raises BadPayload, saying why


def _mac(keyed: hmac.HMAC, message: bytes) -> bytes:
    mac = keyed.copy()
    mac.update(message)
    return mac.digest()


class Signer:
    """Signs and verifies link tokens and device ids with one list of keys."""

    def __init__(self, secret_key: str, fallbacks: list[str] | tuple[str, ...] = ()) -> None:
        keys = [*fallbacks, secret_key]
        self._keys = keys
        self._links = SignedStrings(keys, LINK_SALT)
        self._devices = SignedStrings(keys, DEVICE_SALT)

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
        return self._devices.dumps_device_id(device_id)

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
