"""Registrants and links as organizers read them: the rows of the mail merge and of the API's
registrant list, and one link's status with its history (``links show``, the API). One builder
each, shared by the CLI and the API."""

from __future__ import annotations

from typing import Any

from .records import SendRecord
from .signing import link_fingerprint
from .state import AppState
from .times import iso_utc


def registrant_rows(state: AppState, meeting_id: str, offset: int = 0,
                    limit: int | None = None) -> list[dict[str, str]]:
    """Registrants with their current links, in order of first issue: all of them (the mail
    merge), or a page of the API's list."""
    meetings = state.meetings
    registrants = meetings.registrants(meeting_id, offset, limit)
    joined = state.presence.attendance(meeting_id).registrants
    return [{"email": r.email, "name": r.name, "display_name": r.display_name,
             "status": r.status(joined=bool(r.id in joined and joined[r.id].joins)),
             "registrant_id": r.zoom_registrant_id,
             "link": meetings.link_url(meeting_id, r.id, r.version)}
            for r in registrants]


def link_status(state: AppState, meeting_id: str, email: str) -> dict[str, Any]:
    """Status and history of one link. Times are ISO 8601 UTC, like every time joingate
    writes for a machine."""
    meetings = state.meetings
    registrant = meetings.registrant(meeting_id, email)
    seen = state.presence.attendance(meeting_id).registrants.get(registrant.id)
    joined = bool(seen and seen.joins)
    flags = list(seen.flags) if seen else []
    if registrant.refused:
        flags.append("second_device")
    if registrant.moves:
        flags.append("moved")
    send = state.store.send_records(meeting_id, [registrant.id]).get(registrant.id)
    return {
        "meeting": meeting_id,
        "email": registrant.email,
        "name": registrant.name,
        "display_name": registrant.display_name,
        "status": registrant.status(joined),
        "link": meetings.link_url(meeting_id, registrant.id, registrant.version),
        "link_id": link_fingerprint(meeting_id, registrant.id),
        "opens": registrant.opens,
        "claims": registrant.claims,
        "refused": registrant.refused,
        "devices": len(registrant.devices),
        "flags": flags,
        "evidence": seen.evidence if seen else [],
        "history": [{"kind": entry.kind, "at": iso_utc(entry.at), "ip": entry.ip,
                     "user_agent": entry.user_agent}
                    for entry in meetings.history(meeting_id, registrant.id)],
        # The mailed link: the state of the link now valid ("" when it was never sent), and
        # the latest send whatever its version.
        "sent": send.state_for(registrant.version) if send else "",
        "send": send_view(send) if send else None,
    }


def send_view(record: SendRecord) -> dict[str, Any]:
    """A registrant's latest send as ``links show`` and the API print it (``at``: unix
    seconds)."""
    return {"state": record.state, "at": record.at, "message_id": record.message_id,
            "version": record.version, "reply": record.reply, "tries": record.tries}
