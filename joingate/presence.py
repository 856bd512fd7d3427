"""Zoom's side: recording verified webhook events, and the attendance report derived from them.

Recording is one round trip per delivery (a Lua script) and attributes nothing; the report is
derived when it is read (:mod:`joingate.attendance`), so it is right within moments of the last
delivery, with no worker running, and a registrant imported after the meeting is still found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .attendance import Attendance, Roster, summarize
from .errors import InvalidInput, NotFound
from .meetings import Meetings
from .records import Instance, Registrant, Stay
from .roster import RegistrantInput, check_registrant
from .signing import normalize_email
from .store import Store
from .zoom.events import InstanceEvent, ParticipantEvent, RegistrationEvent

ZoomEvent = ParticipantEvent | InstanceEvent | RegistrationEvent


class Presence:
    """Who is in the meeting, who was, and what the organizer is told about it."""

    def __init__(self, store: Store, meetings: Meetings, join_domain: str, grace: float,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.meetings = meetings
        self.join_domain = join_domain
        self.grace = grace
        self.clock = clock

    def record(self, event: ZoomEvent) -> str:
        """Record one verified Zoom event; returns recorded, duplicate or ignored (a meeting
        joingate does not know)."""
        if isinstance(event, InstanceEvent):
            known = self.store.record_instance(event.meeting_id, event.instance, event.kind,
                                               event.at or self.clock())
            return "recorded" if known else "ignored"
        if isinstance(event, RegistrationEvent):
            return self._register(event)
        status = self.store.record_participant(event, self.clock())
        return "ignored" if status == "unknown_meeting" else status

    def _register(self, event: RegistrationEvent) -> str:
        fields = {"email": event.email, "first_name": event.first_name,
                  "last_name": event.last_name, "registrant_id": event.registrant_id,
                  "join_url": event.join_url}
        checked, faults = check_registrant(fields, self.join_domain)
        if checked is None:
            raise InvalidInput("registrant in the event is not usable", faults)
        try:
            known = self.meetings.registrant(event.meeting_id, checked.email)
        except NotFound:
            known = None
        if known is not None and _conflicts(known, checked):
            # Another registration under an address joingate knows: never rewrite who that
            # registrant is (name, Zoom id, join URL) from an event; show it to the organizer.
            self.meetings.record_conflict(
                event.meeting_id, known.id,
                f"zoom registration_created: name {checked.name!r}, registrant_id "
                f"{checked.zoom_registrant_id!r} (kept {known.name!r}, "
                f"{known.zoom_registrant_id!r})")
            return "conflict"
        try:
            self.meetings.issue_links(event.meeting_id, [checked])
        except NotFound:
            return "ignored"
        return "recorded"

    def attendance(self, meeting_id: str,
                   registrants: list[Registrant] | None = None) -> Attendance:
        """The meeting's attendance derived from what is recorded now."""
        return self.recorded(meeting_id, registrants)[2]

    def recorded(self, meeting_id: str, registrants: list[Registrant] | None = None
                 ) -> tuple[list[Instance], list[Stay], Attendance]:
        """The meeting's instances and stays as recorded, and the attendance derived from them
        now (the dashboard's timeline draws each instance)."""
        if registrants is None:
            registrants = self.store.registrants(meeting_id)
        instances, stays = self.store.attendance(meeting_id)
        return instances, stays, summarize(instances, stays,
                                           roster_of(registrants, self.store.staff(meeting_id)),
                                           self.clock(), self.grace)

    def stays(self, meeting_id: str, instance: str) -> list[Stay]:
        """Every stay of one instance (for the live reconciliation)."""
        _instances, stays = self.store.attendance(meeting_id)
        return [stay for stay in stays if stay.instance == instance]

    def joined(self, meeting_id: str, rid: str) -> bool:
        summary = self.attendance(meeting_id).registrants.get(rid)
        return bool(summary and summary.joins)

    def report(self, meeting_id: str) -> dict[str, Any]:
        """The attendance report (contract JSON, with ``minutes``, ``present``, ``people``,
        each flag's ``evidence`` and ``sent``, the state of the mailed link, besides)."""
        rows, attendance = self.report_rows(meeting_id)
        return {"meeting": meeting_id, "registrants": [row for _, row in rows],
                "unmatched": attendance.unmatched}

    def report_rows(self, meeting_id: str, registrants: list[Registrant] | None = None
                    ) -> tuple[list[tuple[Registrant, dict[str, Any]]], Attendance]:
        """Each registrant (in order of first issue) with its row of the report, and the
        attendance the rows come from: the dashboard shows the report beside what only the
        registrant record holds (opens, refusals), and passes ``registrants`` when it holds
        them already. NotFound when there is no meeting."""
        self.store.meeting(meeting_id)
        if registrants is None:
            registrants = self.store.registrants(meeting_id)
        attendance = self.attendance(meeting_id, registrants)
        sends = self.store.all_send_records(meeting_id)
        rows = []
        for registrant in registrants:
            seen = attendance.registrants.get(registrant.id)
            flags = list(seen.flags) if seen else []
            if registrant.refused:
                flags.append("second_device")
            if registrant.moves:
                flags.append("moved")
            send = sends.get(registrant.id)
            rows.append((registrant, {
                "email": registrant.email,
                "name": registrant.name,
                "status": registrant.status(joined=bool(seen and seen.joins)),
                "claims": registrant.claims,
                "joins": seen.joins if seen else 0,
                "max_concurrent": seen.max_concurrent if seen else 0,
                "people": seen.people if seen else 0,
                "minutes": round(seen.seconds / 60, 1) if seen else 0.0,
                "present": seen.present if seen else 0,
                "flags": flags,
                "evidence": seen.evidence if seen else [],
                # The mailed link now valid: sent, bounced, ... ("" when not mailed).
                "sent": send.state_for(registrant.version) if send else "",
            }))
        return rows, attendance


def _conflicts(known: Registrant, incoming: RegistrantInput) -> bool:
    """Whether a registration event would change who ``known`` is."""
    return (known.name != incoming.name
            or bool(known.zoom_registrant_id and incoming.zoom_registrant_id
                    and known.zoom_registrant_id != incoming.zoom_registrant_id)
            or bool(known.join_url and incoming.join_url and known.join_url != incoming.join_url))


def roster_of(registrants: list[Registrant], staff: set[str]) -> Roster:
    """The lookups attribution needs, from the meeting's registrants and staff."""
    return Roster(
        by_zoom_id={r.zoom_registrant_id: r.id for r in registrants if r.zoom_registrant_id},
        ids=frozenset(r.id for r in registrants),
        by_email={normalize_email(r.email): r.id for r in registrants if r.email},
        by_display={r.display_name.casefold(): r.id for r in registrants if r.display_name},
        staff=frozenset(person.casefold() for person in staff))
