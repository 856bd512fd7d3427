"""Typed records: what joingate stores, as the rest of the code sees it.

The store parses a Redis hash or JSON into one of these once, where it reads it; no module but
:mod:`joingate.store` knows how a field is named in Redis. Times are unix seconds (float or int).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class GateOutcome(enum.StrEnum):
    """What ``gate.lua`` decided for one open (GET/HEAD) or claim (POST). The values are the
    strings the script returns (a test checks them against the script's header)."""

    UNKNOWN = "unknown"                # no such meeting or registrant: the invalid page
    SUPERSEDED = "superseded"          # the token names an older version of the link
    REVOKED = "revoked"
    TOO_EARLY = "too_early"            # ``at`` is the opening time
    EXPIRED = "expired"                # ``at`` is the closing time
    CONFIRM = "confirm"                # an open that may claim: the confirm page
    USED_ELSEWHERE = "used_elsewhere"  # bound to another device (open or claim refused)
    CLAIMED = "claimed"                # first claim from this device: redirect
    REJOINED = "rejoined"              # the bound device again: redirect

    @property
    def redirects(self) -> bool:
        return self in (GateOutcome.CLAIMED, GateOutcome.REJOINED)


@dataclass(frozen=True, slots=True)
class Meeting:
    """One Zoom meeting behind the gate. ``open_before``/``close_after`` are seconds."""

    id: str
    topic: str
    start: int
    duration: int                  # minutes
    expire_at: int                 # every key of the meeting expires then
    pwd: str = ""
    # registrant: the registrant's own Zoom join_url where joingate has one (Zoom's events then
    # carry registrant_id: strong evidence), the web client for the others; webclient: always
    # the web client with the name (weak evidence).
    target: str = "registrant"
    open_before: int = 15 * 60     # links open 15 minutes before the start
    close_after: int = 60 * 60     # and close an hour after the scheduled end
    max_devices: int = 1
    rejoin: bool = True
    policy: str = "alert"          # alert | deny
    support: str = ""
    auto_submit: bool = False
    language: str = ""             # the pages' language (a catalog's); "": the browser's
    timezone: str = ""             # IANA zone the pages show times in; "": UTC
    max_moves: int = 2             # moves to a new device by emailed code (0: self-service off)

    @property
    def opens_at(self) -> int:
        return self.start - self.open_before

    @property
    def closes_at(self) -> int:
        return self.start + self.duration * 60 + self.close_after


@dataclass(frozen=True, slots=True)
class Registrant:
    """One person of a meeting and the state of their link."""

    id: str                        # joingate's registrant id (in the token)
    email: str
    name: str
    display_name: str              # unique within the meeting; what Zoom shows (``un``)
    version: int = 1               # bumped by reissue and revoke: older tokens are superseded
    zoom_registrant_id: str = ""
    join_url: str = ""
    revoked: bool = False
    devices: tuple[str, ...] = ()
    first_claim: int = 0
    opens: int = 0
    claims: int = 0
    refused: int = 0               # claims and opens refused because bound elsewhere
    moves: int = 0                 # moves to a new device by emailed code (joingate/moving.py)

    def status(self, joined: bool = False) -> str:
        """The report's status: revoked, joined, claimed, opened or issued."""
        if self.revoked:
            return "revoked"
        if joined:
            return "joined"
        if self.devices:
            return "claimed"
        if self.first_claim:
            return "issued"        # claimed once, then reissued or reset: waiting for a claim
        if self.opens:
            return "opened"
        return "issued"


# What a send run counts (SendRun.counts, the sender's summary): each registrant adds one to
# ``done`` and one to sent, skipped (sent or bounced before), bounced, failed, invalid (no
# mailable address) or revoked.
SEND_COUNTERS = ("sent", "skipped", "bounced", "failed", "invalid", "revoked", "done")


@dataclass(frozen=True, slots=True)
class SendRecord:
    """A registrant's latest send of their link. ``state``: ``sending`` (the SMTP transaction
    had begun when it was written: in flight, or its run stopped there), ``sent``, ``bounced``
    (5xx), ``failed`` (4xx or connection lost after every retry), ``invalid`` (no mailable
    address). ``version`` is the link version that was sent; ``reply`` the server's answer (or
    why)."""

    state: str
    at: float
    message_id: str
    version: int
    reply: str = ""
    tries: int = 0

    def state_for(self, version: int) -> str:
        """The state of the link now valid: "" when the record is of an older version (the
        link was reissued since, and the new one not sent)."""
        return self.state if self.version == version else ""


@dataclass(frozen=True, slots=True)
class SendRun:
    """The progress of a meeting's latest send run. ``by``: cli or api; ``job``: the worker's
    job id (api); ``state``: running, done, stopped or failed; ``error``: why it stopped;
    ``counts``: each of SEND_COUNTERS; ``finished`` is None while it runs."""

    id: str
    by: str = ""
    job: str = ""
    state: str = "running"
    total: int = 0
    started: float = 0.0
    updated: float = 0.0
    finished: float | None = None
    error: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEND_COUNTERS, 0))


@dataclass(frozen=True, slots=True)
class GateResult:
    """One request at the gate, decided: a page to show or a device to bind and redirect."""

    outcome: GateOutcome
    meeting: Meeting | None = None
    display_name: str = ""
    join_url: str = ""
    device_id: str = ""            # the bound device (claimed, rejoined)
    at: float = 0.0                # opening time (too_early) or closing time (expired)
    bound_here: bool = False       # used_elsewhere: this very browser holds the link, and the
                                   # meeting does not let a bound browser rejoin


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One open, claim, refusal or organizer action on a link."""

    kind: str
    at: float
    ip: str = ""
    user_agent: str = ""           # or the actor of an organizer action


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One entry of a meeting's event feed: a gate event (open, claim, rejoin, refused), an
    organizer action (revoke, reset, reissue: ``user_agent`` holds the actor) or a Zoom
    participant event (joined, left)."""

    id: str                        # the stream id: pass it back as the cursor
    kind: str
    at: float
    registrant: str = ""
    ip: str = ""
    user_agent: str = ""
    instance: str = ""
    user_name: str = ""
    participant_uuid: str = ""
    stay: str = ""


@dataclass(slots=True)
class Stay:
    """One participant's presence in one instance of a meeting, as Zoom's deliveries told it.

    A stay is keyed by Zoom's ``user_id`` (new on every rejoin). It keeps every identifier its
    deliveries carried, so that who it was is derived when the report is read, and every join
    and leave time (a second join of the same key opens a new interval)."""

    key: str
    instance: str
    joins: list[float] = field(default_factory=list)
    leaves: list[float] = field(default_factory=list)
    zoom_registrant_id: str = ""   # strong evidence (the registrant's own Zoom link)
    customer_key: str = ""         # strong evidence (set by us through the Meeting SDK)
    email: str = ""
    zoom_user_id: str = ""         # participant.id: a signed-in Zoom user (empty for guests)
    user_name: str = ""            # the name of the earliest delivery (later renames kept apart)
    renamed_to: str = ""           # the latest other name the stay carried, for the organizer
    participant_uuid: str = ""
    host: bool = False
    # None: one stay as Zoom told it. A number: a fold (participant.lua), a record that stands
    # for that many of Zoom's stays of one participant past its budget (0: a fold's second lane,
    # where two of them are there at once).
    folded: int | None = None


@dataclass(frozen=True, slots=True)
class FoldMember:
    """One of Zoom's stays that a fold follows one by one (participant.lua)."""

    key: str
    joins: tuple[float, ...]
    leaves: tuple[float, ...]
    zoom_user_id: str = ""


@dataclass(frozen=True, slots=True)
class Fold:
    """One participant's stays past its budget in one instance, as participant.lua keeps them
    (see its header): its newest stays one by one, and what it let go of the older ones as
    closed intervals. :mod:`joingate.folds` turns it into the stays the report reads."""

    key: str                        # '~1:' + who (who: 'zr:...', 'ck:...', 'id:...', 'n:...', '*')
    instance: str
    identity: Stay                  # the identifiers and names of the fold (no times)
    members: tuple[FoldMember, ...]
    union: tuple[tuple[float, float], ...] = ()      # presence of the stays let go
    cut: tuple[tuple[float, float], ...] = ()        # the same, cut by the handover rule
    second: tuple[tuple[float, float], ...] = ()     # two people at once, among those let go
    there_since: float | None = None                 # let go while still there: from then on
    spans_let_go: int = 0


@dataclass(frozen=True, slots=True)
class Instance:
    """One run of a meeting (Zoom's ``object.uuid``)."""

    uuid: str
    started: float
    ended: float | None = None
