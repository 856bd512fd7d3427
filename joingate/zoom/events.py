"""Zoom webhook deliveries: signature, timestamp, and the events joingate reads. Pure functions.

Order of checks, as for any webhook: headers present, signature over the *raw bytes* (constant-time
comparison), timestamp within the tolerance in both directions; only then is the JSON parsed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import BadWebhook, InvalidInput
from ..json_body import read_json
from ..roster import clean_name

ZOOM_SIGNATURE_HEADER = "x-zm-signature"
ZOOM_TIMESTAMP_HEADER = "x-zm-request-timestamp"
PARTICIPANT_EVENTS = {"meeting.participant_joined": "joined",
                      "meeting.participant_left": "left"}
INSTANCE_EVENTS = {"meeting.started": "started", "meeting.ended": "ended"}
REGISTRATION_CREATED = "meeting.registration_created"
URL_VALIDATION = "endpoint.url_validation"
MAX_FIELD = 256


def zoom_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` under the app's secret token."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_zoom_signature(secret: str, body: bytes, signature: str | None,
                          timestamp: str | None, now: float, tolerance: float) -> None:
    """Raise BadWebhook (with the reason) unless ``body`` was signed by Zoom with ``secret``
    at a time within ``tolerance`` seconds of ``now``, either way."""
    if not signature:
        raise BadWebhook("missing x-zm-signature")
    if not timestamp:
        raise BadWebhook("missing x-zm-request-timestamp")
    # isdigit alone admits '²' and other Unicode digits, which int() or encode() then reject.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise BadWebhook("timestamp is not unix seconds")
    expected = zoom_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise BadWebhook("signature does not match")
    if abs(now - int(timestamp)) > tolerance:
        raise BadWebhook("timestamp outside the tolerance")


def url_validation_answer(secret: str, plain_token: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": digest}


# Times are clamped to 1970-01-01 .. 9999-12-31T23:59:59Z when read: a time outside it (a
# signed event may say 0001-01-01T00:00:00+01:00) could not be written back as a date, and
# every report of the meeting would fail until its data expired.
EARLIEST_TIME = 0.0
LATEST_TIME = 253402300799.0


def clamp_time(seconds: float) -> float:
    """Unix seconds within EARLIEST_TIME .. LATEST_TIME."""
    return min(max(seconds, EARLIEST_TIME), LATEST_TIME)


def parse_time(value: Any) -> float | None:
    """Zoom's ISO-8601 UTC time as unix seconds, clamped (clamp_time); None when absent or
    unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return clamp_time(moment.timestamp())
    except (OverflowError, ValueError):
        return EARLIEST_TIME if moment.year < 1970 else LATEST_TIME


def _text(mapping: dict, name: str) -> str:
    """A text field of the event as sent (ids and emails are compared, never altered), at most
    MAX_FIELD characters."""
    value = mapping.get(name)
    if value is None:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidInput(f"{name} has the wrong type")
    return str(value)[:MAX_FIELD]


def _name(mapping: dict, name: str) -> str:
    """A person's typed name from the event, cleaned as every name joingate keeps (no terminal
    escapes, no control characters, white space folded: clean_name)."""
    value = mapping.get(name)
    if value is not None and (not isinstance(value, (str, int)) or isinstance(value, bool)):
        raise InvalidInput(f"{name} has the wrong type")
    return clean_name(str(value if value is not None else "")[:MAX_FIELD * 4])[:MAX_FIELD]


@dataclass(frozen=True)
class ParticipantEvent:
    kind: str              # joined | left
    meeting_id: str
    instance: str          # object.uuid: one run of the meeting
    at: float              # join_time or leave_time (unix seconds)
    at_text: str           # as Zoom sent it
    user_id: str
    user_name: str
    participant_id: str    # participant.id: empty for guests
    participant_uuid: str
    email: str
    registrant_id: str
    customer_key: str
    is_host: bool

    @property
    def stay_key(self) -> str:
        """One stay in the meeting: Zoom's ``user_id`` is new on every rejoin."""
        return self.user_id or self.participant_uuid or f"name:{self.user_name}"

    def digest(self) -> str:
        """What makes a delivery the same delivery: event, instance, ids and time."""
        parts = [self.kind, self.meeting_id, self.instance, self.user_id, self.participant_uuid,
                 self.participant_id, self.registrant_id, self.user_name, self.at_text]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class InstanceEvent:
    kind: str              # started | ended
    meeting_id: str
    instance: str
    at: float


@dataclass(frozen=True)
class RegistrationEvent:
    meeting_id: str
    email: str
    first_name: str
    last_name: str
    registrant_id: str
    join_url: str


def read_event(data: Any) -> ParticipantEvent | InstanceEvent | RegistrationEvent | None:
    """The event joingate acts on, or None for any other (verified) event.
    Raises InvalidInput when a known event lacks what it needs."""
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise InvalidInput("body is not a Zoom event")
    event = data["event"]
    if event not in PARTICIPANT_EVENTS and event not in INSTANCE_EVENTS \
            and event != REGISTRATION_CREATED:
        return None
    payload = data.get("payload")
    obj = payload.get("object") if isinstance(payload, dict) else None
    if not isinstance(obj, dict):
        raise InvalidInput("payload.object missing")
    meeting_id = _text(obj, "id")
    if not meeting_id.isdigit():
        raise InvalidInput("object.id is not a meeting number")
    if event == REGISTRATION_CREATED:
        registrant = obj.get("registrant")
        if not isinstance(registrant, dict):
            raise InvalidInput("object.registrant missing")
        return RegistrationEvent(meeting_id, _text(registrant, "email"),
                                 _name(registrant, "first_name"), _name(registrant, "last_name"),
                                 _text(registrant, "id"), _text(registrant, "join_url"))
    instance = _text(obj, "uuid")
    if not instance:
        raise InvalidInput("object.uuid missing")
    if event in INSTANCE_EVENTS:
        kind = INSTANCE_EVENTS[event]
        at = parse_time(obj.get("end_time" if kind == "ended" else "start_time"))
        event_ts = data.get("event_ts")
        if at is None and isinstance(event_ts, (int, float)) and not isinstance(event_ts, bool):
            at = clamp_time(event_ts / 1000)
        return InstanceEvent(kind, meeting_id, instance, at or 0.0)
    participant = obj.get("participant")
    if not isinstance(participant, dict):
        raise InvalidInput("object.participant missing")
    kind = PARTICIPANT_EVENTS[event]
    at_text = _text(participant, "join_time" if kind == "joined" else "leave_time")
    at = parse_time(at_text)
    if at is None:
        raise InvalidInput(f"participant.{'join' if kind == 'joined' else 'leave'}_time missing")
    # A signed-in user's Zoom user id: ``id`` (``participant_user_id`` in some payloads).
    participant_id = _text(participant, "id") or _text(participant, "participant_user_id")
    host_id = _text(obj, "host_id")
    return ParticipantEvent(
        kind=kind, meeting_id=meeting_id, instance=instance, at=at, at_text=at_text,
        user_id=_text(participant, "user_id"), user_name=_name(participant, "user_name"),
        participant_id=participant_id, participant_uuid=_text(participant, "participant_uuid"),
        email=_text(participant, "email"), registrant_id=_text(participant, "registrant_id"),
        customer_key=_text(participant, "customer_key"),
        is_host=bool(participant_id) and participant_id == host_id)


def parse_body(body: bytes) -> Any:
    """A verified delivery's JSON (json_body.read_json); a lone surrogate becomes U+FFFD, so
    the event is still recorded (Zoom does not resend what we refuse)."""
    return read_json(body, replace_lone_surrogates=True)
