"""joingate/signing.py: link tokens, device cookies, key rotation. Plain unit tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from helpers import ID_KEY, MEETING_ID, SECRET
from itsdangerous import BadData, URLSafeSerializer

from joingate.errors import BadLink
from joingate.signing import (
    DEVICE_SALT,
    LINK_SALT,
    MAX_TOKEN_LENGTH,
    LinkRef,
    SignedStrings,
    Signer,
    link_fingerprint,
    new_device_id,
    normalize_email,
    registrant_id_for,
)

REGISTRANT = "0123456789abcdef"
DEVICE = "a1b2c3d4e5f6a7b8c9d0e1f2"
SIGNER = Signer(SECRET)
# A registrant id too long for a token even after itsdangerous compresses the payload.
INCOMPRESSIBLE = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(16))

TOO_LONG = "token missing or too long"
DOES_NOT_VERIFY = "signature or payload does not verify"
WRONG_SHAPE = "payload has the wrong shape"


def is_hex(text: str, length: int) -> bool:
    return len(text) == length and set(text) <= set("0123456789abcdef")


def token() -> str:
    return SIGNER.link_token(MEETING_ID, REGISTRANT, 1)


def signed_payload(value: Any, salt: str = LINK_SALT, key: str = SECRET) -> str:
    """``value`` signed exactly as a link token is (or as a device cookie, with DEVICE_SALT):
    a valid signature over a payload of any shape."""
    return URLSafeSerializer(key, salt=salt).dumps(value)


def with_other_signature(text: str) -> str:
    """``text`` with the first character of its signature changed."""
    head, _, signature = text.rpartition(".")
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_link_token_round_trip():
    assert SIGNER.read_link_token(token()) == LinkRef(MEETING_ID, REGISTRANT, 1)


def test_same_inputs_give_the_identical_token():
    again = Signer(SECRET).link_token(MEETING_ID, REGISTRANT, 1)
    assert again == token()
    assert Signer(SECRET).link_token(MEETING_ID, REGISTRANT, 2) != token()


def test_the_token_carries_only_meeting_registrant_and_version():
    payload = token().split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert json.loads(decoded) == [MEETING_ID, REGISTRANT, 1]
    assert SECRET not in token()


@pytest.mark.parametrize("make,reason", [
    (lambda: "", TOO_LONG),
    (lambda: "x" * (MAX_TOKEN_LENGTH + 1), TOO_LONG),
    (lambda: SIGNER.link_token(MEETING_ID, INCOMPRESSIBLE, 1), TOO_LONG),
    (lambda: with_other_signature(token()), DOES_NOT_VERIFY),
    (lambda: token().replace("WyI4", "WyI5", 1), DOES_NOT_VERIFY),
    (lambda: token()[:-5], DOES_NOT_VERIFY),
    (lambda: token()[: len(token()) // 2], DOES_NOT_VERIFY),
    (lambda: token().split(".")[0], DOES_NOT_VERIFY),
    (lambda: Signer("another-key").link_token(MEETING_ID, REGISTRANT, 1), DOES_NOT_VERIFY),
    (lambda: signed_payload([MEETING_ID, REGISTRANT, 1], salt="another.purpose"),
     DOES_NOT_VERIFY),
    (lambda: SIGNER.device_cookie(DEVICE), DOES_NOT_VERIFY),
    (lambda: "not-a-token", DOES_NOT_VERIFY),
    (lambda: "x" * MAX_TOKEN_LENGTH, DOES_NOT_VERIFY),
], ids=["empty", "too-long", "signed-but-too-long", "tampered-signature", "tampered-payload",
        "truncated-5", "truncated-half", "no-signature", "foreign-key", "wrong-salt",
        "device-cookie-as-link", "garbage", "garbage-at-the-limit"])
def test_bad_tokens_raise_bad_link(make: Callable[[], str], reason: str):
    with pytest.raises(BadLink, match=reason):
        SIGNER.read_link_token(make())


@pytest.mark.parametrize("payload", [
    {"meeting": MEETING_ID, "registrant": REGISTRANT, "version": 1},
    "85746065432",
    [MEETING_ID, REGISTRANT],
    [MEETING_ID, REGISTRANT, 1, "extra"],
    ["", REGISTRANT, 1],
    [MEETING_ID, "", 1],
    [85746065432, REGISTRANT, 1],
    [MEETING_ID, None, 1],
    [MEETING_ID, REGISTRANT, "1"],
    [MEETING_ID, REGISTRANT, 1.0],
    [MEETING_ID, REGISTRANT, True],
    [MEETING_ID, REGISTRANT, None],
], ids=["object", "string", "two-parts", "four-parts", "empty-meeting", "empty-registrant",
        "meeting-int", "registrant-null", "version-string", "version-float", "version-bool",
        "version-null"])
def test_signed_payloads_of_the_wrong_shape_raise_bad_link(payload: Any):
    with pytest.raises(BadLink, match=WRONG_SHAPE):
        SIGNER.read_link_token(signed_payload(payload))


def test_a_fallback_key_verifies_and_the_newest_signs():
    old = Signer("key-2025").link_token(MEETING_ID, REGISTRANT, 1)
    older = Signer("key-2024").link_token(MEETING_ID, REGISTRANT, 1)
    rotated = Signer("key-2026", ["key-2024", "key-2025"])
    assert rotated.read_link_token(old) == LinkRef(MEETING_ID, REGISTRANT, 1)
    assert rotated.read_link_token(older) == LinkRef(MEETING_ID, REGISTRANT, 1)
    new = rotated.link_token(MEETING_ID, REGISTRANT, 1)
    assert new == Signer("key-2026").link_token(MEETING_ID, REGISTRANT, 1)
    with pytest.raises(BadLink):
        Signer("key-2025").read_link_token(new)
    with pytest.raises(BadLink):
        Signer("key-2026").read_link_token(old)            # the fallback dropped


def test_a_fallback_key_verifies_device_cookies_too():
    cookie = Signer("key-2025").device_cookie(DEVICE)
    assert Signer("key-2026", ["key-2025"]).read_device_cookie(cookie) == DEVICE
    assert Signer("key-2026").read_device_cookie(cookie) is None


def test_device_cookie_round_trip():
    assert SIGNER.read_device_cookie(SIGNER.device_cookie(DEVICE)) == DEVICE


def test_new_device_ids_are_distinct_and_survive_the_cookie():
    first, second = new_device_id(), new_device_id()
    assert first != second and is_hex(first, 24)
    assert SIGNER.read_device_cookie(SIGNER.device_cookie(first)) == first


@pytest.mark.parametrize("make", [
    lambda: None,
    lambda: "",
    lambda: "x" * (MAX_TOKEN_LENGTH + 1),
    lambda: with_other_signature(SIGNER.device_cookie(DEVICE)),
    lambda: SIGNER.device_cookie(DEVICE)[:-2],
    lambda: Signer("another-key").device_cookie(DEVICE),
    lambda: token(),
    lambda: "plain-id",
    lambda: signed_payload(["a", "b"], salt=DEVICE_SALT),
    lambda: signed_payload(12345, salt=DEVICE_SALT),
    lambda: signed_payload("", salt=DEVICE_SALT),
    lambda: signed_payload("ab-cd", salt=DEVICE_SALT),
    lambda: signed_payload("ab cd", salt=DEVICE_SALT),
], ids=["none", "empty", "too-long", "tampered", "truncated", "foreign-key",
        "link-token-as-cookie", "garbage", "list", "int", "empty-id", "dash", "space"])
def test_bad_device_cookies_read_as_none(make: Callable[[], str | None]):
    assert SIGNER.read_device_cookie(make()) is None


def test_link_fingerprint_carries_no_registrant_id():
    fingerprint = link_fingerprint(MEETING_ID, REGISTRANT)
    assert is_hex(fingerprint, 10)
    assert REGISTRANT not in fingerprint and MEETING_ID not in fingerprint
    assert fingerprint == link_fingerprint(MEETING_ID, REGISTRANT)
    assert fingerprint != link_fingerprint(MEETING_ID, "fedcba9876543210")
    assert fingerprint != link_fingerprint("99999999999", REGISTRANT)


@pytest.mark.parametrize("email", ["Ana.Lima@Example.org", "  ana.lima@example.org\t",
                                   "ANA.LIMA@EXAMPLE.ORG"], ids=["mixed-case", "spaces", "upper"])
def test_registrant_id_is_the_same_for_the_normalised_email(email: str):
    assert normalize_email(email) == "ana.lima@example.org"
    assert registrant_id_for(email, ID_KEY) == registrant_id_for("ana.lima@example.org",
                                                                 ID_KEY)


def test_registrant_id_is_16_hex_and_differs_by_address():
    rid = registrant_id_for("ana.lima@example.org", ID_KEY)
    assert is_hex(rid, 16)
    assert rid != registrant_id_for("ben@example.org", ID_KEY)


# The request path's shortcut (SignedStrings) against itsdangerous itself: the same strings
# written, the same strings accepted, the same values read.

def _mutations(token: str):
    """Every one-character change, deletion and insertion of ``token`` (a sample of them)."""
    alphabet = "Aa0_-.=~ \u00e9"
    for index in range(0, len(token) + 1):
        yield token[:index] + token[index + 1:]
        for char in alphabet:
            yield token[:index] + char + token[index + 1:]
            yield token[:index] + char + token[index:]


def _verdict(serializer: Any, token: str) -> tuple[str, Any]:
    try:
        return "ok", serializer.loads(token)
    except BadData as exc:
        return "bad", type(exc).__name__


@pytest.mark.parametrize("salt", [LINK_SALT, DEVICE_SALT])
def test_signed_strings_accept_and_refuse_exactly_what_itsdangerous_does(salt: str):
    keys = ["an-older-key-of-at-least-32-characters!", SECRET]
    fast, reference = SignedStrings(keys, salt), URLSafeSerializer(keys, salt=salt)
    old = URLSafeSerializer(keys[:1], salt=salt)
    values = [[MEETING_ID, REGISTRANT, 3], [MEETING_ID, INCOMPRESSIBLE, 1], DEVICE,
              {"x": [1, 2]}, "é" * 40, "a" * 300]            # the last two compress
    tokens = [signer.dumps(value) for value in values for signer in (reference, old)]
    assert any(token.startswith(".") for token in tokens)       # itsdangerous compressed some
    checked = 0
    for token in tokens:
        assert fast.loads(token) == reference.loads(token)
        for changed in _mutations(token):
            assert _verdict(fast, changed) == _verdict(reference, changed), changed
            checked += 1
    assert checked > 10_000


def test_signed_strings_write_device_ids_as_itsdangerous_does():
    """Random ids: the very string itsdangerous writes. Any id: a string itsdangerous reads
    back (24 zeros it would compress; the plain form it reads too)."""
    keys = ["an-older-key-of-at-least-32-characters!", SECRET]
    fast, reference = SignedStrings(keys, DEVICE_SALT), URLSafeSerializer(keys, salt=DEVICE_SALT)
    for device in [new_device_id() for _ in range(2000)]:
        assert fast.dumps_device_id(device) == reference.dumps(device)
    for device in ["0" * 24, "ab" * 12, "ABC", "", "é"]:
        assert reference.loads(fast.dumps_device_id(device)) == device
    assert reference.dumps("0" * 24).startswith(".")
    assert SIGNER.read_device_cookie(SIGNER.device_cookie(DEVICE)) == DEVICE


@pytest.mark.parametrize("raw", [b'\xef\xbb\xbf["m","r",1]', '["m","r",1]'.encode("utf-16"),
                                 b'["\xed\xa0\x80","r",1]', b'["m",'],
                         ids=["bom", "utf-16", "encoded-surrogate", "truncated"])
def test_signed_payloads_itsdangerous_cannot_read_are_refused_by_the_shortcut_too(raw: bytes):
    """Signed with the right key (only the key's holder can), but not UTF-8 JSON as
    itsdangerous reads it: both refuse (json.loads alone would guess the encoding)."""
    key = hashlib.sha1(LINK_SALT.encode() + b"signer" + SECRET.encode()).digest()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=")
    token = (payload + b"." + base64.urlsafe_b64encode(
        hmac.new(key, payload, hashlib.sha1).digest()).rstrip(b"=")).decode()
    with pytest.raises(BadData):
        URLSafeSerializer([SECRET], salt=LINK_SALT).loads(token)
    with pytest.raises(BadData):
        SignedStrings([SECRET], LINK_SALT).loads(token)
    with pytest.raises(BadLink):
        SIGNER.read_link_token(token)
