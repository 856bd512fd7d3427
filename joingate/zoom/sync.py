"""Keeping joingate and Zoom in step: import a meeting and its registrants, register people at
Zoom, and correct presence from Zoom's live participant list. Used by ``joingate zoom ...``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..attendance import is_open
from ..errors import NotFound
from ..i18n import is_timezone
from ..meetings import IssuedLink
from ..records import Stay
from ..roster import RegistrantInput, check_registrant, clean_name
from ..state import AppState
from ..times import iso_utc, parse_start, parse_zoom_time
from .client import ZoomClient, ZoomError
from .events import ParticipantEvent


@dataclass
class SyncResult:
    meeting_created: bool
    links: list[IssuedLink]
    skipped: list[str] = field(default_factory=list)


def sync_meeting(state: AppState, zoom: ZoomClient, meeting_id: str) -> SyncResult:
    """Read the meeting and every approved registrant from Zoom; create or update them here
    with their registrant_id and join_url, and issue links. Idempotent."""
    meeting = zoom.meeting(meeting_id)
    start = meeting.get("start_time") or next(
        (o.get("start_time") for o in meeting.get("occurrences") or [] if o.get("start_time")),
        None)
    if not start:
        raise ZoomError(0, 0, f"meeting {meeting_id} has no start time at Zoom")
    created = state.meetings.add(
        meeting_id, topic=meeting.get("topic") or f"Meeting {meeting_id}",
        start=parse_start(start), duration=int(meeting.get("duration") or 60),
        pwd=meeting.get("encrypted_password") or meeting.get("password") or None,
        timezone=_zoom_timezone(meeting))
    inputs, skipped = [], []
    for person in zoom.registrants(meeting_id):
        checked, faults = check_registrant(
            {"email": str(person.get("email") or ""),
             "first_name": str(person.get("first_name") or ""),
             "last_name": str(person.get("last_name") or ""),
             "registrant_id": str(person.get("id") or ""),
             "join_url": str(person.get("join_url") or "")},
            state.config.zoom_join_domain)
        if checked is None:
            skipped.append(f"{person.get('email')!r}: {faults[0]['message']}")
        else:
            inputs.append(checked)
    return SyncResult(created, state.meetings.issue_links(meeting_id, inputs), skipped)


def _zoom_timezone(meeting: dict[str, Any]) -> str | None:
    """Zoom's ``timezone`` of the meeting (an IANA name) for the pages; None (keep what is
    stored) when Zoom has none or names a zone this machine does not know."""
    name = str(meeting.get("timezone") or "")
    return name if is_timezone(name) else None


@dataclass
class RegisterResult:
    line: int
    email: str
    link: IssuedLink | None = None
    error: str = ""


def register_at_zoom(state: AppState, zoom: ZoomClient, meeting_id: str,
                     rows: list[tuple[int, RegistrantInput]]) -> list[RegisterResult]:
    """Register each person at Zoom (auto-approved), keep Zoom's registrant_id and join_url,
    and issue the gate link. A refused row is reported and does not stop the others; a person
    registered at Zoom before (a rerun) is not registered again."""
    state.meetings.get(meeting_id)
    results, ready = [], []
    for line, person in rows:
        try:
            known = state.meetings.registrant(meeting_id, person.email)
        except NotFound:
            known = None
        if known and known.zoom_registrant_id:
            ready.append((line, person))
            continue
        first, _, last = person.name.partition(" ")
        try:
            answer = zoom.add_registrant(meeting_id, person.email, first, last)
        except ZoomError as exc:
            results.append(RegisterResult(line, person.email, error=exc.message))
            continue
        # Zoom's answer is input like any other: checked as a CSV row would be.
        checked, faults = check_registrant(
            {"email": person.email, "name": person.name,
             "registrant_id": str(answer.get("registrant_id") or answer.get("id") or ""),
             "join_url": str(answer.get("join_url") or "")},
            state.config.zoom_join_domain)
        if checked is None:
            results.append(RegisterResult(line, person.email, error="Zoom's answer is not "
                                          f"usable: {faults[0]['message']}"))
            continue
        ready.append((line, checked))
    links = state.meetings.issue_links(meeting_id, [person for _, person in ready])
    results += [RegisterResult(line, person.email, link)
                for (line, person), link in zip(ready, links)]
    return sorted(results, key=lambda result: result.line)


def reconcile_live(state: AppState, zoom: ZoomClient, meeting_id: str) -> tuple[int, int]:
    """Correct presence from Zoom's live participant list (Business accounts and up): a
    participant Zoom shows but joingate has no open stay for gets one; an open stay Zoom no
    longer shows is closed now. Returns (added, closed)."""
    state.meetings.get(meeting_id)
    instance = str(zoom.live_meeting(meeting_id).get("uuid") or "")
    if not instance:
        return 0, 0
    live = [p for p in zoom.live_participants(meeting_id) if not p.get("leave_time")]
    open_stays = {stay.key: stay for stay in state.presence.stays(meeting_id, instance)
                  if is_open(stay)}
    now = state.clock()

    def same(person: dict[str, Any], stay: Stay) -> bool:
        uuid = str(person.get("participant_uuid") or "")
        zid = str(person.get("registrant_id") or "")
        return bool((uuid and uuid in (stay.participant_uuid, stay.key))
                    or (zid and zid == stay.zoom_registrant_id)
                    or (person.get("user_name")
                        and clean_name(str(person["user_name"])) == stay.user_name))

    added = closed = 0
    matched: set[str] = set()
    for person in live:
        hit = next((key for key, stay in open_stays.items()
                    if key not in matched and same(person, stay)), None)
        if hit:
            matched.add(hit)
            continue
        who = str(person.get("id") or person.get("participant_uuid") or person.get("user_name"))
        at = parse_zoom_time(person.get("join_time")) or now
        state.presence.record(_event("joined", meeting_id, instance, f"live:{who}", at, person))
        added += 1
    for key, stay in open_stays.items():
        if key in matched or stay.host:
            continue
        state.presence.record(_event("left", meeting_id, instance, key, now,
                                     {"user_name": stay.user_name,
                                      "participant_uuid": stay.participant_uuid}))
        closed += 1
    return added, closed


def _event(kind: str, meeting_id: str, instance: str, stay_key: str, at: float,
           person: dict[str, Any]) -> ParticipantEvent:
    """A participant event made from the live list, aimed at the stay ``stay_key``."""
    at_text = iso_utc(at)
    user_name = clean_name(str(person.get("user_name") or ""))
    if stay_key.startswith("name:"):
        user_id, user_name = "", stay_key[5:]
    else:
        user_id = stay_key
    return ParticipantEvent(
        kind=kind, meeting_id=meeting_id, instance=instance, at=at, at_text=at_text,
        user_id=user_id, user_name=user_name, participant_id="",
        participant_uuid=str(person.get("participant_uuid") or ""),
        email=str(person.get("email") or ""),
        registrant_id=str(person.get("registrant_id") or ""),
        customer_key=str(person.get("customer_key") or ""), is_host=False)
