"""Keeping joingate and Zoom in step: import a meeting and its registrants, register people at
Zoom, and correct presence from Zoom's live participant list. Used by ``joingate zoom ...``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..roster import RegistrantInput, check_registrant, clean_name
from ..service import IssuedLink, Service, parse_start
from .client import ZoomClient, ZoomError
from .events import ParticipantEvent, parse_time


@dataclass
class SyncResult:
    meeting_created: bool
    links: list[IssuedLink]
    skipped: list[str] = field(default_factory=list)


def sync_meeting(service: Service, zoom: ZoomClient, meeting_id: str) -> SyncResult:
    """Read the meeting and every approved registrant from Zoom; create or update them here
    with their registrant_id and join_url, and issue links. Idempotent."""
    meeting = zoom.meeting(meeting_id)
    start = meeting.get("start_time") or next(
        (o.get("start_time") for o in meeting.get("occurrences") or [] if o.get("start_time")),
        None)
    if not start:
        raise ZoomError(0, 0, f"meeting {meeting_id} has no start time at Zoom")
    created = service.add_meeting(
        meeting_id, topic=meeting.get("topic") or f"Meeting {meeting_id}",
        start=parse_start(start), duration=int(meeting.get("duration") or 60),
        pwd=meeting.get("encrypted_password") or meeting.get("password") or None)
    inputs, skipped = [], []
    for person in zoom.registrants(meeting_id):
        checked, faults = check_registrant(
            {"email": str(person.get("email") or ""),
             "first_name": str(person.get("first_name") or ""),
             "last_name": str(person.get("last_name") or ""),
             "registrant_id": str(person.get("id") or ""),
             "join_url": str(person.get("join_url") or "")},
            service.config["ZOOM_JOIN_DOMAIN"])
        if checked is None:
            skipped.append(f"{person.get('email')!r}: {faults[0]['message']}")
        else:
            inputs.append(checked)
    return SyncResult(created, service.issue_links(meeting_id, inputs), skipped)


@dataclass
class RegisterResult:
    line: int
    email: str
    link: IssuedLink | None = None
    error: str = ""


def register_at_zoom(service: Service, zoom: ZoomClient, meeting_id: str,
                     rows: list[tuple[int, RegistrantInput]]) -> list[RegisterResult]:
    """Register each person at Zoom (auto-approved), keep Zoom's registrant_id and join_url,
    and issue the gate link. A refused row is reported and does not stop the others; a person
    registered at Zoom before (a rerun) is not registered again."""
    service.meeting(meeting_id)
    results, ready = [], []
    for line, person in rows:
        known = service.store.registrant_or_none(meeting_id, service.registrant_id(person.email))
        if known and known.get("zid"):
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
            service.config["ZOOM_JOIN_DOMAIN"])
        if checked is None:
            results.append(RegisterResult(line, person.email, error="Zoom's answer is not "
                                          f"usable: {faults[0]['message']}"))
            continue
        ready.append((line, checked))
    links = service.issue_links(meeting_id, [person for _, person in ready])
    results += [RegisterResult(line, person.email, link)
                for (line, person), link in zip(ready, links)]
    return sorted(results, key=lambda result: result.line)


def reconcile_live(service: Service, zoom: ZoomClient, meeting_id: str) -> tuple[int, int]:
    """Correct presence from Zoom's live participant list (Business accounts and up): a
    participant Zoom shows but joingate has no open stay for gets one; an open stay Zoom no
    longer shows is closed now. Returns (added, closed)."""
    service.meeting(meeting_id)
    instance = str(zoom.live_meeting(meeting_id).get("uuid") or "")
    if not instance:
        return 0, 0
    live = [p for p in zoom.live_participants(meeting_id) if not p.get("leave_time")]
    stays = service.store.stays_of(meeting_id, instance)
    open_stays = {key: stay for key, stay in stays.items()
                  if "j" in stay and "l" not in stay}
    now = service.clock()

    def same(person: dict[str, Any], stay: dict[str, Any], key: str) -> bool:
        uuid = str(person.get("participant_uuid") or "")
        zid = str(person.get("registrant_id") or "")
        return bool((uuid and uuid in (stay.get("u"), key))
                    or (zid and stay.get("r") and service.store.zoom_id_of(
                        meeting_id, stay["r"]) == zid)
                    or (person.get("user_name")
                        and clean_name(str(person["user_name"])) == stay.get("n")))

    added = closed = 0
    matched: set[str] = set()
    for person in live:
        hit = next((key for key, stay in open_stays.items()
                    if key not in matched and same(person, stay, key)), None)
        if hit:
            matched.add(hit)
            continue
        who = str(person.get("id") or person.get("participant_uuid") or person.get("user_name"))
        at = parse_time(person.get("join_time")) or now
        service.record_zoom_event(_event("joined", meeting_id, instance, f"live:{who}", at,
                                         person))
        added += 1
    for key, stay in open_stays.items():
        if key in matched or stay.get("x"):
            continue
        service.record_zoom_event(_event("left", meeting_id, instance, key, now,
                                         {"user_name": stay.get("n", ""),
                                          "participant_uuid": stay.get("u", "")}))
        closed += 1
    return added, closed


def _event(kind: str, meeting_id: str, instance: str, stay_key: str, at: float,
           person: dict[str, Any]) -> ParticipantEvent:
    """A participant event made from the live list, aimed at the stay ``stay_key``."""
    from datetime import datetime, timezone

    at_text = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
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
