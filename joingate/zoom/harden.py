"""``joingate zoom harden``: the Zoom meeting settings that close the holes the gate cannot close
itself, read through Zoom's API (``GET /meetings/{id}``) and, on request, set
(``PATCH /meetings/{id}`` with a ``settings`` object, then read again to verify).

What each setting does and costs is in :data:`REQUIRED` (and docs/security.md). Deciding is pure
(:func:`review`, :func:`settings_to_apply`); only :func:`harden` talks to Zoom.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .client import ZoomClient

APPROVAL_TYPES = {0: "0 (automatic approval)", 1: "1 (manual approval)",
                  2: "2 (no registration)"}
REGISTRATION_TYPES = (2, 8)   # Zoom offers registration for scheduled meetings and recurring
                              # meetings with a fixed time only


@dataclass(frozen=True)
class Wanted:
    """One setting joingate asks for: Zoom's field in ``settings``, the value wanted, why."""

    field: str
    value: Any
    why: str


REQUIRED: tuple[Wanted, ...] = (
    Wanted("approval_type", 1,
           "Registration with manual approval: nobody gets a Zoom join link of their own "
           "unless you approve them (`joingate zoom register` approves the people it "
           "registers). Costs: people who register on Zoom's page wait for your approval."),
    Wanted("registrants_confirmation_email", False,
           "Zoom's confirmation email carries the registrant's join link (and the meeting ID "
           "and passcode): whoever receives it joins without the gate. Send the gate link "
           "instead. Costs: registrants get no mail from Zoom, only yours."),
    Wanted("allow_multiple_devices", False,
           "Zoom then admits a registrant's join link once concurrently: a forwarded link "
           "cannot be used while its owner is in. Costs: a registrant cannot be in on a "
           "phone and a laptop at once."),
    Wanted("meeting_authentication", True,
           "Only signed-in Zoom users may join: every participant then carries a Zoom user id "
           "and email (medium evidence at least) and no anonymous guest gets in. Costs: every "
           "registrant needs a Zoom account and must sign in to join."),
)


@dataclass(frozen=True)
class Row:
    """One line of the table. ``ok`` is None for an informational row (not counted)."""

    setting: str
    current: str
    wanted: str
    ok: bool | None
    why: str


def holds(settings: dict[str, Any], wanted: Wanted) -> bool:
    """Zoom reports exactly the wanted value (of the wanted JSON type: ``1`` is not ``true``)."""
    value = settings.get(wanted.field)
    return type(value) is type(wanted.value) and value == wanted.value


def show(field: str, value: Any) -> str:
    """A setting's value as the table shows it."""
    if value is None:
        return "(not reported)"
    if field == "approval_type":
        return APPROVAL_TYPES.get(value, str(value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def review(meeting: dict[str, Any]) -> list[Row]:
    """Rows for a meeting as ``GET /meetings/{id}`` answers it: each required setting (ok when
    Zoom reports exactly the wanted value; a setting Zoom does not report is open), then the
    passcode and the waiting room (informational). Pure."""
    settings = meeting.get("settings") or {}
    rows = []
    for wanted in REQUIRED:
        current = settings.get(wanted.field)
        why = wanted.why
        if wanted.field == "approval_type" and meeting.get("type") not in REGISTRATION_TYPES:
            why += (" Zoom offers registration only for scheduled meetings (type 2) and "
                    "recurring meetings with a fixed time (type 8); this one is type "
                    f"{meeting.get('type')}.")
        rows.append(Row(wanted.field, show(wanted.field, current),
                        show(wanted.field, wanted.value), holds(settings, wanted), why))
    has_passcode = bool(meeting.get("password") or meeting.get("encrypted_password"))
    rows.append(Row("passcode", "set" if has_passcode else "none", "", None,
                    "Set: people who know only the meeting ID cannot join. It is inside every "
                    "join link and Zoom's mails, so it does not stop a forwarded link."
                    if has_passcode else
                    "None: the meeting ID alone is enough to try to join; set a passcode "
                    "in Zoom."))
    waiting = settings.get("waiting_room")
    rows.append(Row("waiting_room", show("waiting_room", waiting), "", None,
                    "On: the host admits each participant and can hold back anyone joingate "
                    "reports unmatched. Costs: the host admits people one by one."
                    if waiting else
                    "Off: everyone who gets through Zoom's checks is in at once; a waiting "
                    "room lets the host admit people one by one."))
    return rows


def settings_to_apply(meeting: dict[str, Any]) -> dict[str, Any]:
    """The ``settings`` object that closes what is open: only the fields not yet as wanted."""
    settings = meeting.get("settings") or {}
    return {wanted.field: wanted.value for wanted in REQUIRED if not holds(settings, wanted)}


def open_rows(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.ok is False]


@dataclass(frozen=True)
class HardenResult:
    before: list[Row]
    applied: dict[str, Any]          # the settings sent with PATCH ({} when nothing was sent)
    after: list[Row] | None          # re-read after PATCH; None when nothing was sent

    @property
    def final(self) -> list[Row]:
        return self.after if self.after is not None else self.before

    @property
    def hardened(self) -> bool:
        return not open_rows(self.final)


def harden(zoom: ZoomClient, meeting_id: str, apply: bool) -> HardenResult:
    """Read the meeting's settings; with ``apply``, PATCH what is open and read them again, so
    that the result says what Zoom holds now (Zoom may keep a setting an account administrator
    locked). Raises ZoomError when Zoom refuses (404 unknown meeting, 400 bad field, ...)."""
    meeting = zoom.meeting(meeting_id)
    before = review(meeting)
    changes = settings_to_apply(meeting) if apply else {}
    if not changes:
        return HardenResult(before, {}, None)
    zoom.update_meeting_settings(meeting_id, changes)
    return HardenResult(before, changes, review(zoom.meeting(meeting_id)))


def render(rows: list[Row], width: int = 96) -> str:
    """A plain-text table: setting, now, wanted (``-`` for informational rows), state (ok, OPEN
    or info); under each row, indented, why it matters and what it costs."""
    head = ("setting", "now", "wanted", "state")
    cells = [(row.setting, row.current, row.wanted or "-",
              "info" if row.ok is None else "ok" if row.ok else "OPEN") for row in rows]
    widths = [max(len(line[i]) for line in [head, *cells]) for i in range(4)]
    lines = ["  ".join(text.ljust(w) for text, w in zip(head, widths)).rstrip()]
    for row, cell in zip(rows, cells):
        lines.append("  ".join(text.ljust(w) for text, w in zip(cell, widths)).rstrip())
        lines += textwrap.wrap(row.why, width, initial_indent="    ",
                               subsequent_indent="    ")
    return "\n".join(lines)


def report(result: HardenResult, meeting_id: str, echo: Callable[[str], None]) -> None:
    """Print the table (after the change, when one was made) and a one-line verdict."""
    if result.applied:
        echo(f"set at Zoom: {', '.join(f'{k}={show(k, v)}' for k, v in result.applied.items())}")
    echo(render(result.final))
    still_open = open_rows(result.final)
    if not still_open:
        echo(f"meeting {meeting_id} is hardened")
    elif result.applied:
        echo(f"still open after the change (Zoom kept them; an account administrator may have "
             f"locked them): {', '.join(row.setting for row in still_open)}")
    else:
        echo(f"{len(still_open)} setting(s) open: {', '.join(r.setting for r in still_open)}; "
             f"`joingate zoom harden {meeting_id} --apply` sets them")
