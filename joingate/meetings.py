"""The organizer's operations on meetings and links, shared by the CLI, the API and the worker.

Nothing here knows about Flask or click: callers pass plain values, ``now`` comes from the clock
given at construction (tests replace it), errors are those of :mod:`joingate.errors`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidInput, NotFound
from .i18n import BUILTIN_LANGUAGES, normalize_language, normalize_timezone
from .records import FeedEvent, HistoryEntry, Meeting, Registrant
from .roster import MAX_NAME, RegistrantInput, clean_name
from .signing import Signer, registrant_id_for
from .store import Store
from .times import iso_utc

MEETING_ID_RE = re.compile(r"^[0-9]{6,15}$")
TARGETS = ("webclient", "registrant")
POLICIES = ("alert", "deny")
LINK_ACTIONS = ("revoke", "reset", "restore", "reissue")
# add_meeting's options: Meeting's fields an organizer may set besides topic, start, duration.
MEETING_OPTIONS = frozenset({"pwd", "target", "open_before", "close_after", "max_devices",
                             "rejoin", "policy", "support", "auto_submit", "max_moves",
                             "language", "timezone"})
MAX_MOVES = 20          # the most moves by emailed code a meeting may allow (joingate/moving.py)


class MeetingReused(InvalidInput):
    """Adding an ended meeting again needs the organizer to say what becomes of its links."""


@dataclass(frozen=True)
class IssuedLink:
    registrant_id: str
    email: str
    display_name: str
    version: int
    url: str
    created: bool


# A staff member: an email (printable ASCII, one @), or a Zoom user id (``participant.id`` of a
# signed-in user: 16 to 64 of A-Z a-z 0-9 - _ with at least one digit, or any such id written
# ``id:...``). The API's schema uses the same pattern.
STAFF_PATTERN = (r"^(?:[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+"
                 r"|id:[A-Za-z0-9_-]{16,64}|(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{16,64})$")
STAFF = re.compile(STAFF_PATTERN)


def staff_key(value: str) -> str:
    """A staff member as matched: a casefolded email or Zoom user id. Raises InvalidInput for
    anything else: names are typed by anyone, so a name would let any participant pass as
    staff."""
    text = value.strip()
    if not STAFF.match(text):
        raise InvalidInput(f"staff {text[:60]!r} is not an email or a Zoom user id: staff are "
                           "recognised only by what a signed-in Zoom user carries, never by a "
                           "display name, which any participant can type")
    return text.removeprefix("id:").casefold()


class Meetings:
    """Meetings, registrants and their links."""

    def __init__(self, store: Store, signer: Signer, public_url: str, retention_days: int,
                 clock: Callable[[], float],
                 languages: Iterable[str] = BUILTIN_LANGUAGES) -> None:
        self.store = store
        self.signer = signer
        self.public_url = public_url
        self.retention_days = retention_days
        self.clock = clock
        self.languages = tuple(languages)   # the pages' catalogs: a meeting's language is one

    @functools.cached_property
    def _registrant_id_key(self) -> str:
        return self.store.registrant_id_key()

    def registrant_id(self, email: str) -> str:
        """The id of ``email``'s registrant in any meeting (keyed: signing.registrant_id_for).
        The key is read from the store once per process."""
        return registrant_id_for(email, self._registrant_id_key)

    # Meetings

    def add(self, meeting_id: str, *, topic: str, start: int | datetime, duration: int,
            staff: Iterable[str] | None = None, keep_registrants: bool | None = None,
            **options: Any) -> bool:
        """Create or update a meeting. Options left out (or None) keep the stored value, or take
        the default for a new meeting. ``staff``: emails or Zoom user ids of people in the
        meeting who are never flagged (None keeps the stored list). Returns True when created.

        Zoom reuses meeting numbers (recurring meetings): moving a meeting whose window has
        closed into a window that is still to come would make its old links work again. That
        takes a decision: ``keep_registrants`` True keeps them (the same cohort, the next
        session), False forgets them first (a new cohort: the old links answer 404); None
        raises :class:`MeetingReused`."""
        meeting_id = str(meeting_id).strip()
        if not MEETING_ID_RE.match(meeting_id):
            raise InvalidInput(f"meeting id {meeting_id!r} is not a Zoom meeting number")
        topic = clean_name(topic)
        if not topic or len(topic) > 300:
            raise InvalidInput("topic must be 1 to 300 characters")
        duration = int(duration)
        if not 1 <= duration <= 24 * 60 * 7:
            raise InvalidInput("duration must be 1 to 10080 minutes")
        unknown = set(options) - MEETING_OPTIONS
        if unknown:
            raise InvalidInput(f"unknown meeting option(s): {', '.join(sorted(unknown))}")
        changes = {name: value for name, value in options.items() if value is not None}
        for name in ("max_devices", "open_before", "close_after", "max_moves"):  # JSON: 7.0
            if name in changes:
                changes[name] = int(float(changes[name]))
        for name in ("rejoin", "auto_submit"):
            if name in changes:
                changes[name] = bool(int(float(changes[name])))
        if "pwd" in changes:
            changes["pwd"] = str(changes["pwd"])
        if "language" in changes:
            changes["language"] = normalize_language(changes["language"], self.languages)
        if "timezone" in changes:
            changes["timezone"] = normalize_timezone(changes["timezone"])
        if isinstance(start, datetime):
            start = int(start.timestamp())
        stored = self._stored(meeting_id)
        base = stored or Meeting(id=meeting_id, topic=topic, start=int(start),
                                 duration=duration, expire_at=0)
        meeting = dataclasses.replace(base, topic=topic, start=int(start), duration=duration,
                                      **changes)
        if meeting.target not in TARGETS:
            raise InvalidInput(f"target must be one of {', '.join(TARGETS)}")
        if meeting.policy not in POLICIES:
            raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}")
        if meeting.max_devices < 1:
            raise InvalidInput("max_devices must be at least 1")
        if not 0 <= meeting.max_moves <= MAX_MOVES:
            raise InvalidInput(f"max_moves must be 0 to {MAX_MOVES}")
        if any(ch.isspace() for ch in meeting.pwd) or len(meeting.pwd) > 256:
            raise InvalidInput("passcode must be at most 256 characters without white space")
        now = self.clock()
        if stored and stored.closes_at < now <= meeting.closes_at:
            if keep_registrants is None:
                raise MeetingReused(
                    f"meeting {meeting_id} ended {iso_utc(stored.closes_at)} and has "
                    f"{self.store.registrant_count(meeting_id)} registrant(s); adding it again "
                    "would make their old links work again. Keep them (the same people's next "
                    "session) or start a new cohort (their old links stop working)")
            if not keep_registrants:
                self.store.clear_cohort(meeting_id)
        # A meeting added after it ended still keeps its data for the retention period.
        keep_until = (max(meeting.closes_at, int(self.clock()))
                      + self.retention_days * 86400)
        meeting = dataclasses.replace(meeting, expire_at=keep_until)
        staff_keys = None if staff is None else sorted({staff_key(person) for person in staff})
        return self.store.save_meeting(meeting, staff_keys)

    def _stored(self, meeting_id: str) -> Meeting | None:
        try:
            return self.store.meeting(meeting_id)
        except NotFound:
            return None

    def get(self, meeting_id: str) -> Meeting:
        """The meeting; NotFound when there is none."""
        return self.store.meeting(meeting_id)

    def delete(self, meeting_id: str) -> None:
        """Forget the meeting, its registrants, links, history and attendance (its links
        answer 404 from now on); NotFound when there is none."""
        if not self.store.delete_meeting(meeting_id):
            raise NotFound(f"no meeting {meeting_id}")

    def ids(self) -> list[str]:
        """Every meeting that still exists."""
        return self.store.meeting_ids()

    def registrant_count(self, meeting_id: str) -> int:
        return self.store.registrant_count(meeting_id)

    # Links

    def link_url(self, meeting_id: str, rid: str, version: int) -> str:
        token = self.signer.link_token(meeting_id, rid, version)
        return f"{self.public_url}/j/{token}"

    def issue_links(self, meeting_id: str,
                    registrants: Iterable[RegistrantInput]) -> list[IssuedLink]:
        """Create or update registrants and return their links, in input order. The same email
        gives the same registrant and, while key and version are unchanged, the same link."""
        self.store.meeting(meeting_id)  # NotFound before anything is written
        rows = [(self.registrant_id(r.email), r.email.strip(),
                 clean_name(r.name)[:MAX_NAME].strip() or r.email.strip()[:MAX_NAME],
                 r.zoom_registrant_id, r.join_url) for r in registrants]
        results = self.store.upsert_registrants(meeting_id, rows)
        return [IssuedLink(rid, email, display, version,
                           self.link_url(meeting_id, rid, version), created)
                for (rid, email, *_), (version, display, created) in zip(rows, results)]

    def registrant(self, meeting_id: str, email: str) -> Registrant:
        """The registrant with ``email``; NotFound naming what was typed."""
        found = self.store.registrant(meeting_id, self.registrant_id(email))
        if found is None:
            self.store.meeting(meeting_id)   # "no meeting" when it is the meeting
            raise NotFound(f"no registrant {email!r} in meeting {meeting_id}")
        return found

    def registrant_by_id(self, meeting_id: str, rid: str) -> Registrant | None:
        return self.store.registrant(meeting_id, rid)

    def record_conflict(self, meeting_id: str, rid: str, what: str) -> None:
        """Put a refused change of a registrant (e.g. a Zoom registration under an address
        joingate knows) in the link's history and the meeting's feed, for the organizer."""
        self.store.record_event(meeting_id, rid, "conflict", what)

    def manage_link(self, action: str, meeting_id: str, email: str, actor: str = "cli") -> str:
        """Revoke, reset or reissue the link of ``email``; returns the link now valid."""
        return self.manage_registrant(action, meeting_id, self.registrant_id(email), actor)

    def manage_registrant(self, action: str, meeting_id: str, rid: str, actor: str) -> str:
        if action not in LINK_ACTIONS:
            raise InvalidInput(f"action must be one of {', '.join(LINK_ACTIONS)}")
        version = self.store.manage(action, meeting_id, rid, self.clock(), actor)
        return self.link_url(meeting_id, rid, version)

    def registrants(self, meeting_id: str, offset: int = 0,
                    limit: int | None = None) -> list[Registrant]:
        """Registrants in order of first issue: all, or a page."""
        self.store.meeting(meeting_id)
        return self.store.registrants(meeting_id, offset, limit)

    def history(self, meeting_id: str, rid: str) -> list[HistoryEntry]:
        """The link's opens, claims, refusals and organizer actions, oldest first."""
        return self.store.history(meeting_id, rid)

    def events_page(self, meeting_id: str, after: str,
                    limit: int) -> list[tuple[FeedEvent, str]]:
        """The meeting's event feed after stream id ``after``, each with its registrant's
        email (the API's ``/events``)."""
        self.store.meeting(meeting_id)
        return self.store.events_page(meeting_id, after, limit)
