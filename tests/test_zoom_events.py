"""joingate/zoom/events.py: Zoom's webhook signature, url_validation, and the events joingate
reads. Plain unit tests; the samples are tests/zoom_samples/*.json."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import MEETING_ID, NOW
from webhook_events import WEBHOOK_SECRET, sample

from joingate.errors import BadWebhook, InvalidInput
from joingate.zoom.events import (
    MAX_FIELD,
    InstanceEvent,
    ParticipantEvent,
    RegistrationEvent,
    parse_body,
    parse_time,
    read_event,
    url_validation_answer,
    verify_zoom_signature,
    zoom_signature,
)

BODY = b'{"event":"meeting.participant_joined","payload":{"object":{"user_name":"Zo\xc3\xab"}}}'
NOW_TS = int(NOW.timestamp())
TOLERANCE = 300.0
UUID = "4444AAAiAAAAAiAiAiiAii=="


def signature_header(*, timestamp: str | None = None, body: bytes = BODY,
                     secret: str = WEBHOOK_SECRET, version: str = "v0",
                     prefix: str = "v0=") -> tuple[str, str]:
    """A valid ``(x-zm-signature, x-zm-request-timestamp)`` pair for BODY sent at NOW, computed
    here with hmac (not with the code under test). Each part can be overridden: the timestamp
    (signed and sent), the body that is signed, the secret, the version in the signed message and
    the header's prefix."""
    timestamp = str(NOW_TS) if timestamp is None else timestamp
    message = f"{version}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return prefix + digest, timestamp


def verify(signature: str | None, timestamp: str | None, body: bytes = BODY) -> None:
    verify_zoom_signature(WEBHOOK_SECRET, body, signature, timestamp, NOW_TS, TOLERANCE)


def unix(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- signature ---------------------------------------------------------------------------------

def test_zoom_signature_matches_a_vector_computed_with_openssl():
    # printf 'v0:1764612000:{"event":"x"}' | openssl dgst -sha256 -hmac zoom-secret-token
    assert zoom_signature("zoom-secret-token", "1764612000", b'{"event":"x"}') == (
        "v0=2b1ec49a2163a1685ac1d8efb87d1d87ee389797cd296d3f4d05042e6966fbb2")


def test_zoom_signature_is_what_the_helper_builds():
    assert zoom_signature(WEBHOOK_SECRET, str(NOW_TS), BODY) == signature_header()[0]


@pytest.mark.parametrize("signature,timestamp", [
    signature_header(),
    signature_header(timestamp=str(NOW_TS - 300)),
    signature_header(timestamp=str(NOW_TS + 300)),
    (" " + signature_header()[0] + "\n", str(NOW_TS)),
], ids=["now", "at-the-stale-edge", "at-the-future-edge", "padded-signature"])
def test_valid_signatures_verify(signature: str, timestamp: str):
    assert verify(signature, timestamp) is None


@pytest.mark.parametrize("signature,timestamp,reason", [
    (None, str(NOW_TS), "missing x-zm-signature"),
    ("", str(NOW_TS), "missing x-zm-signature"),
    (signature_header()[0], None, "missing x-zm-request-timestamp"),
    (signature_header()[0], "", "missing x-zm-request-timestamp"),
    (*signature_header(timestamp="1x"), "timestamp is not unix seconds"),
    (*signature_header(timestamp="-60"), "timestamp is not unix seconds"),
    (*signature_header(timestamp=f"{NOW_TS}.5"), "timestamp is not unix seconds"),
    (*signature_header(timestamp=f" {NOW_TS}"), "timestamp is not unix seconds"),
    (*signature_header(timestamp="1" * 13), "timestamp is not unix seconds"),
    (*signature_header(prefix="v1="), "signature does not match"),
    (*signature_header(prefix=""), "signature does not match"),
    (*signature_header(version="v1"), "signature does not match"),
    ("v0=" + "0" * 64, str(NOW_TS), "signature does not match"),
    ("v0=deadbeef", str(NOW_TS), "signature does not match"),
    ("v0=" + "é" * 64, str(NOW_TS), "signature does not match"),
    ("v0=\ud800", str(NOW_TS), "signature does not match"),
    (*signature_header(secret="another-secret"), "signature does not match"),
    (*signature_header(body=BODY.replace(b"Zo", b"Jo")), "signature does not match"),
    (signature_header(timestamp=str(NOW_TS - 1))[0], str(NOW_TS), "signature does not match"),
    (*signature_header(timestamp=str(NOW_TS - 301)), "timestamp outside the tolerance"),
    (*signature_header(timestamp=str(NOW_TS + 301)), "timestamp outside the tolerance"),
], ids=["no-signature", "empty-signature", "no-timestamp", "empty-timestamp",
        "timestamp-not-a-number", "timestamp-negative", "timestamp-fraction", "timestamp-space",
        "timestamp-13-digits", "wrong-prefix", "no-prefix", "wrong-message-version",
        "wrong-digest", "short-digest", "non-ascii-digest", "lone-surrogate", "wrong-secret",
        "tampered-body", "other-timestamp-signed", "stale", "future"])
def test_each_reason_of_rejection(signature: str | None, timestamp: str | None, reason: str):
    with pytest.raises(BadWebhook, match=reason):
        verify(signature, timestamp)


def test_emoji_body_verifies_over_its_raw_bytes():
    body = '{"user_name":"Zoë 🎨 Çelik"}'.encode()
    signature, timestamp = signature_header(body=body)
    assert verify(signature, timestamp, body) is None
    with pytest.raises(BadWebhook, match="signature does not match"):
        verify(signature, timestamp, '{"user_name": "Zoë 🎨 Çelik"}'.encode())


# --- url_validation ----------------------------------------------------------------------------

def test_url_validation_answer_matches_the_rfc_4231_vector():
    # RFC 4231, test case 2: HMAC-SHA256, key "Jefe".
    assert url_validation_answer("Jefe", "what do ya want for nothing?") == {
        "plainToken": "what do ya want for nothing?",
        "encryptedToken": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"}


def test_url_validation_answer_for_the_sample():
    plain = sample("url_validation")["payload"]["plainToken"]
    expected = hmac.new(WEBHOOK_SECRET.encode(), plain.encode(), hashlib.sha256).hexdigest()
    assert url_validation_answer(WEBHOOK_SECRET, plain) == {"plainToken": plain,
                                                            "encryptedToken": expected}


# --- parse_time --------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("2026-12-01T18:01:07Z", unix("2026-12-01T18:01:07")),
    ("2026-12-01T18:01:07+00:00", unix("2026-12-01T18:01:07")),
    ("2026-12-01T19:01:07+01:00", unix("2026-12-01T18:01:07")),
    ("2026-12-01T18:01:07.250Z", unix("2026-12-01T18:01:07") + 0.25),
    ("2026-12-01T18:01:07", unix("2026-12-01T18:01:07")),
], ids=["zulu", "utc-offset", "plus-one", "fraction", "naive-is-utc"])
def test_parse_time_reads_iso_8601(value: str, expected: float):
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", [None, "", 1764612067, 1764612067.0, ["2026-12-01T18:01:07Z"],
                                   "yesterday", "2026-13-01T18:01:07Z", "2026-12-01T25:00:00Z"],
                         ids=["none", "empty", "int", "float", "list", "words", "month-13",
                              "hour-25"])
def test_parse_time_is_none_for_anything_else(value: Any):
    assert parse_time(value) is None


# --- read_event: the samples -------------------------------------------------------------------

def test_read_event_participant_joined():
    event = read_event(sample("participant_joined"))
    assert event == ParticipantEvent(
        kind="joined", meeting_id=MEETING_ID, instance=UUID,
        at=unix("2026-12-01T18:01:07"), at_text="2026-12-01T18:01:07Z", user_id="16778240",
        user_name="Ana Lima", participant_id="",
        participant_uuid="A1B2C3D4-0000-4000-8000-00000000A1B2", email="ana.lima@example.org",
        registrant_id="x4VbQ7o0TtqZp1rXlN3WkA", customer_key="", is_host=False)
    assert event.stay_key == "16778240"


def test_read_event_participant_left():
    event = read_event(sample("participant_left"))
    assert isinstance(event, ParticipantEvent)
    assert (event.kind, event.meeting_id, event.instance) == ("left", MEETING_ID, UUID)
    assert event.at == unix("2026-12-01T19:29:40") and event.at_text == "2026-12-01T19:29:40Z"
    assert event.user_id == "16778240" and event.registrant_id == "x4VbQ7o0TtqZp1rXlN3WkA"


def test_read_event_meeting_started_and_ended():
    assert read_event(sample("meeting_started")) == InstanceEvent(
        "started", MEETING_ID, UUID, unix("2026-12-01T18:00:00"))
    assert read_event(sample("meeting_ended")) == InstanceEvent(
        "ended", MEETING_ID, UUID, unix("2026-12-01T19:31:02"))


def test_read_event_registration_created_reads_a_numeric_meeting_id():
    body = sample("registration_created")
    assert body["payload"]["object"]["id"] == int(MEETING_ID)
    assert read_event(body) == RegistrationEvent(
        meeting_id=MEETING_ID, email="ana.lima@example.org", first_name="Ana", last_name="Lima",
        registrant_id="x4VbQ7o0TtqZp1rXlN3WkA",
        join_url="https://us06web.zoom.us/w/85746065432?tk=Zx9aQeW1c2_Example.Token"
                 "&pwd=Q0x3ZmFrZUVuY29kZWQ")


def test_read_event_ignores_url_validation_and_other_events():
    assert read_event(sample("url_validation")) is None
    assert read_event({"event": "meeting.participant_admitted", "payload": {}}) is None


# --- read_event: details -----------------------------------------------------------------------

def test_an_instance_event_without_its_time_falls_back_to_event_ts_then_zero():
    started = sample("meeting_started")
    del started["payload"]["object"]["start_time"]
    assert read_event(started).at == 1764612001.0
    started["event_ts"] = True
    assert read_event(started).at == 0.0
    del started["event_ts"]
    assert read_event(started).at == 0.0


def test_the_host_is_the_participant_whose_id_is_the_host_id():
    body = sample("participant_joined")
    body["payload"]["object"]["participant"]["id"] = "z8yAAAABBBBCCCCdddd"
    assert read_event(body).is_host is True
    body["payload"]["object"]["host_id"] = ""
    body["payload"]["object"]["participant"]["id"] = ""
    assert read_event(body).is_host is False


@pytest.mark.parametrize("fields,stay_key", [
    ({"user_id": "16778240"}, "16778240"),
    ({"user_id": ""}, "A1B2C3D4-0000-4000-8000-00000000A1B2"),
    ({"user_id": "", "participant_uuid": ""}, "name:Ana Lima"),
], ids=["user-id", "participant-uuid", "name"])
def test_stay_key_prefers_user_id_then_participant_uuid_then_name(fields: dict, stay_key: str):
    body = sample("participant_joined")
    body["payload"]["object"]["participant"].update(fields)
    assert read_event(body).stay_key == stay_key


def test_digest_is_the_same_for_the_same_delivery_and_differs_by_time():
    first = read_event(sample("participant_joined")).digest()
    assert first == read_event(sample("participant_joined")).digest()
    assert len(first) == 16 and set(first) <= set("0123456789abcdef")
    later = sample("participant_joined")
    later["payload"]["object"]["participant"]["join_time"] = "2026-12-01T18:01:08Z"
    assert read_event(later).digest() != first


def test_numbers_become_text_and_long_fields_are_cut():
    body = sample("participant_joined")
    body["payload"]["object"]["participant"].update(user_id=16778240, user_name="N" * 1000)
    event = read_event(body)
    assert event.user_id == "16778240" and event.user_name == "N" * MAX_FIELD


def edited(name: str, path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    """The sample ``name`` with the field at dotted ``path`` set to ``value`` (or deleted)."""
    body = sample(name)
    *parents, last = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    if delete:
        del target[last]
    else:
        target[last] = value
    return body


def without(path: str, name: str = "participant_joined") -> dict[str, Any]:
    return edited(name, path, delete=True)


def replaced(path: str, value: Any, name: str = "participant_joined") -> dict[str, Any]:
    return edited(name, path, value)


@pytest.mark.parametrize("body,reason", [
    ([], "body is not a Zoom event"),
    ("meeting.participant_joined", "body is not a Zoom event"),
    (without("event"), "body is not a Zoom event"),
    (replaced("event", 5), "body is not a Zoom event"),
    (without("payload"), "payload.object missing"),
    (replaced("payload", []), "payload.object missing"),
    (replaced("payload.object", "x"), "payload.object missing"),
    (without("payload.object.id"), "object.id is not a meeting number"),
    (replaced("payload.object.id", "85746065432; DROP"), "object.id is not a meeting number"),
    (replaced("payload.object.id", [1]), "id has the wrong type"),
    (without("payload.object.uuid"), "object.uuid missing"),
    (without("payload.object.uuid", "meeting_started"), "object.uuid missing"),
    (without("payload.object.participant"), "object.participant missing"),
    (without("payload.object.participant.join_time"), "participant.join_time missing"),
    (replaced("payload.object.participant.join_time", "soon"), "participant.join_time missing"),
    (without("payload.object.participant.leave_time", "participant_left"),
     "participant.leave_time missing"),
    (replaced("payload.object.participant.user_id", [1]), "user_id has the wrong type"),
    (replaced("payload.object.participant.user_name", {"a": 1}), "user_name has the wrong type"),
    (replaced("payload.object.participant.registrant_id", True),
     "registrant_id has the wrong type"),
    (replaced("payload.object.participant.email", 1.5), "email has the wrong type"),
    (without("payload.object.registrant", "registration_created"), "object.registrant missing"),
    (replaced("payload.object.registrant.email", ["a@b"], "registration_created"),
     "email has the wrong type"),
], ids=["list", "string", "no-event", "event-int", "no-payload", "payload-list", "object-text",
        "no-meeting-id", "meeting-id-not-digits", "meeting-id-list", "no-uuid",
        "instance-without-uuid", "no-participant", "no-join-time", "unreadable-join-time",
        "no-leave-time", "user-id-list", "user-name-object", "registrant-id-bool",
        "email-float", "no-registrant", "registrant-email-list"])
def test_read_event_refuses_malformed_events(body: Any, reason: str):
    with pytest.raises(InvalidInput, match=reason):
        read_event(body)


# --- parse_body --------------------------------------------------------------------------------

def test_parse_body_reads_utf8_json():
    assert parse_body('{"user_name":"Zoë"}'.encode()) == {"user_name": "Zoë"}


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe{}", b'{"a": "\xed\xa0\x80"}'],
                         ids=["broken", "empty", "not-utf8", "surrogate"])
def test_parse_body_refuses_what_is_not_json(raw: bytes):
    with pytest.raises(InvalidInput, match="body is not valid JSON"):
        parse_body(raw)
