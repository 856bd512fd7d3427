"""The organizer's and the registrant's operations, shared by the web app, the API and the CLI.

Nothing here knows about Flask or click: callers pass plain values (and ``now`` comes from the
service's clock, which tests may replace); errors are those of :mod:`joingate.errors`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from .attendance import sharing_evidence, summarize, zoom_time
from .errors import InvalidInput, NotFound
from .signing import LinkRef, Signer, link_fingerprint, new_device_id, registrant_id_for
from .roster import MAX_NAME, RegistrantInput, check_registrant, clean_name
from .store import GateResult, Store
from .zoom.events import InstanceEvent, ParticipantEvent, RegistrationEvent
from .zoom.urls import redirect_url

MEETING_ID_RE = re.compile(r"^[0-9]{6,15}$")
API_SCOPES = ("read", "manage")
API_TOKEN_TTL = 5 * 365 * 86400
TARGETS = ("webclient", "registrant")
POLICIES = ("alert", "deny")
MAX_HEADER_TEXT = 256

MEETING_DEFAULTS: dict[str, Any] = {
    "pwd": "",
    "target": "webclient",
    "open_before": 15 * 60,     # links open 15 minutes before the start
    "close_after": 60 * 60,     # and close an hour after the scheduled end
    "max_devices": 1,
    "rejoin": 1,
    "policy": "alert",
    "support": "",
    "auto_submit": 0,
}


@dataclass(frozen=True)
class IssuedLink:
    registrant_id: str
    email: str
    display_name: str
    version: int
    url: str
    created: bool


@dataclass(frozen=True)
class Decision:
    """What the gate does with one request: a page to show or a URL to redirect to."""

    outcome: str
    meeting_id: str
    meeting: dict[str, str]
    display_name: str = ""
    redirect: str = ""
    device_id: str = ""
    at: float = 0.0   # opening time (too_early) or closing time (expired)


RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
                     r"([Zz]|[+-]\d{2}:\d{2})?$")


def parse_start(value: str) -> int:
    """An ISO 8601 / RFC 3339 time with a zone (``2026-12-01T18:00:00Z``, ``...+01:00``) as
    unix seconds. A leap second counts as :59. Raises InvalidInput naming the problem."""
    match = RFC3339.match(value.strip())
    if not match:
        raise InvalidInput(f"start {value[:40]!r} is not an ISO 8601 time")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    zone = match.group(8)
    if zone is None:
        raise InvalidInput(f"start {value[:40]!r} has no time zone; add Z or an offset "
                           "like +01:00")
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        raise InvalidInput(f"start {value[:40]!r} is not a real date and time") from None
    offset = 0 if zone in "Zz" else (int(zone[1:3]) * 60 + int(zone[4:6])) * 60
    seconds = int((moment - datetime(1970, 1, 1)).total_seconds())
    return seconds - offset if zone[:1] != "-" else seconds + offset


def clean_header_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """A user agent or IP fit for the history: no tabs or control characters, bounded length."""
    return "".join(ch if ch.isprintable() else " " for ch in value)[:limit]


class Service:
    def __init__(self, config: dict[str, Any], store: Store, signer: Signer,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.signer = signer
        self.clock = clock

    @functools.cached_property
    def _registrant_id_key(self) -> str:
        return self.store.registrant_id_key()

    def registrant_id(self, email: str) -> str:
        """The id of ``email``'s registrant in any meeting (keyed: signing.registrant_id_for).
        The key is read from the store once per process."""
        return registrant_id_for(email, self._registrant_id_key)

    # Meetings

    def add_meeting(self, meeting_id: str, *, topic: str, start: datetime | int, duration: int,
                    staff: Iterable[str] | None = None, **options: Any) -> bool:
        """Create or update a meeting. Options left out (or None) keep the stored value, or take
        the default for a new meeting. ``staff``: names or emails of people in the meeting who
        are never flagged (None keeps the stored list). Returns True when it was created."""
        meeting_id = str(meeting_id).strip()
        if not MEETING_ID_RE.match(meeting_id):
            raise InvalidInput(f"meeting id {meeting_id!r} is not a Zoom meeting number")
        topic = clean_name(topic)
        if not topic or len(topic) > 300:
            raise InvalidInput("topic must be 1 to 300 characters")
        duration = int(duration)
        if not 1 <= duration <= 24 * 60 * 7:
            raise InvalidInput("duration must be 1 to 10080 minutes")
        unknown = set(options) - set(MEETING_DEFAULTS)
        if unknown:
            raise InvalidInput(f"unknown meeting option(s): {', '.join(sorted(unknown))}")
        try:
            stored = self.store.meeting(meeting_id)
        except NotFound:
            stored = {}
        fields: dict[str, Any] = {**MEETING_DEFAULTS, **stored}
        fields.update({name: value for name, value in options.items() if value is not None})
        if fields["target"] not in TARGETS:
            raise InvalidInput(f"target must be one of {', '.join(TARGETS)}")
        if fields["policy"] not in POLICIES:
            raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}")
        if int(float(fields["max_devices"])) < 1:
            raise InvalidInput("max_devices must be at least 1")
        if any(ch.isspace() for ch in str(fields["pwd"])) or len(str(fields["pwd"])) > 256:
            raise InvalidInput("passcode must be at most 256 characters without white space")
        for name in ("max_devices", "open_before", "close_after"):   # JSON may say 7.0
            fields[name] = int(float(fields[name]))
        start_ts = int(start.timestamp()) if isinstance(start, datetime) else int(start)
        closes_at = start_ts + duration * 60 + fields["close_after"]
        # A meeting added after it ended still keeps its data for the retention period.
        keep_until = max(closes_at, int(self.clock())) + self.config["RETENTION_DAYS"] * 86400
        fields.update(topic=topic, start=start_ts, duration=duration, expire_at=keep_until)
        fields["rejoin"] = int(bool(int(float(fields["rejoin"]))))
        fields["auto_submit"] = int(bool(int(float(fields["auto_submit"]))))
        staff_keys = None if staff is None else sorted(
            {clean_name(person).casefold() for person in staff if clean_name(person)})
        return self.store.save_meeting(meeting_id, fields, staff_keys)

    def meeting(self, meeting_id: str) -> dict[str, str]:
        return self.store.meeting(meeting_id)

    def meeting_view(self, meeting_id: str) -> dict[str, Any]:
        """A meeting as the API shows it (times as RFC 3339, windows in minutes, no passcode)."""
        fields = self.store.meeting(meeting_id)
        return {"id": meeting_id, "topic": fields["topic"],
                "start": utc_datetime(fields["start"]).isoformat().replace("+00:00", "Z"),
                "duration": int(float(fields["duration"])), "target": fields["target"],
                "open_before": int(float(fields["open_before"])) // 60,
                "close_after": int(float(fields["close_after"])) // 60,
                "max_devices": int(float(fields["max_devices"])),
                "rejoin": fields["rejoin"] == "1",
                "policy": fields["policy"], "support": fields.get("support", ""),
                "auto_submit": fields.get("auto_submit") == "1",
                "has_passcode": bool(fields.get("pwd")),
                "registrants": self.store.registrant_count(meeting_id)}

    def update_meeting(self, meeting_id: str, changes: dict[str, Any]) -> None:
        """Change some fields of an existing meeting (API PATCH); NotFound if there is none."""
        stored = self.store.meeting(meeting_id)
        self.add_meeting(
            meeting_id, topic=changes.get("topic", stored["topic"]),
            start=(parse_start(changes["start"]) if "start" in changes
                   else int(stored["start"])),
            duration=changes.get("duration", int(stored["duration"])),
            **meeting_options(changes))

    # Links

    def link_url(self, meeting_id: str, rid: str, version: int) -> str:
        token = self.signer.link_token(meeting_id, rid, version)
        return f"{self.config['PUBLIC_URL']}/j/{token}"

    def issue_links(self, meeting_id: str,
                    registrants: Iterable[RegistrantInput]) -> list[IssuedLink]:
        """Create or update registrants and return their links, in input order. The same email
        gives the same registrant and, while key and version are unchanged, the same link."""
        self.store.meeting(meeting_id)  # NotFound before anything is written
        registrants = list(registrants)
        rows = [(self.registrant_id(r.email), r.email.strip(),
                 clean_name(r.name)[:MAX_NAME].strip() or r.email.strip()[:MAX_NAME],
                 r.zoom_registrant_id, r.join_url) for r in registrants]
        results = self.store.upsert_registrants(meeting_id, rows)
        return [IssuedLink(rid, email, display, version,
                           self.link_url(meeting_id, rid, version), created)
                for (rid, email, *_), (version, display, created) in zip(rows, results)]

    def _rid(self, meeting_id: str, email: str) -> str:
        rid = self.registrant_id(email)
        self.store.registrant(meeting_id, rid)  # NotFound names the problem
        return rid

    def manage_link(self, action: str, meeting_id: str, email: str, actor: str = "cli") -> str:
        """Revoke, reset or reissue the link of ``email``; returns the link now valid."""
        return self.manage_registrant(action, meeting_id, self.registrant_id(email), actor)

    def manage_registrant(self, action: str, meeting_id: str, rid: str, actor: str) -> str:
        version = self.store.manage(action, meeting_id, rid, self.clock(), actor)
        return self.link_url(meeting_id, rid, version)

    def export_links(self, meeting_id: str, offset: int = 0,
                     limit: int | None = None) -> list[dict[str, str]]:
        """Registrants with their current links, in order of first issue: all of them (the
        mail merge), or a page of the API's list."""
        self.store.meeting(meeting_id)
        joined = self.attendance(meeting_id).registrants
        return [{"email": fields.get("email", ""), "name": fields.get("name", ""),
                 "display_name": fields.get("display", ""),
                 "status": registrant_status(fields, joined=rid in joined),
                 "registrant_id": fields.get("zid", ""),
                 "link": self.link_url(meeting_id, rid, int(fields.get("ver", 1)))}
                for rid, fields in self.store.registrants(meeting_id, offset, limit)]

    def link_status(self, meeting_id: str, email: str) -> dict[str, Any]:
        """Status and history of one link, for ``links show`` and the API."""
        rid = self._rid(meeting_id, email)
        fields = self.store.registrant(meeting_id, rid)
        joined = rid in self.attendance(meeting_id).registrants
        return {
            "meeting": meeting_id,
            "email": fields.get("email", ""),
            "name": fields.get("name", ""),
            "display_name": fields.get("display", ""),
            "status": registrant_status(fields, joined=joined),
            "link": self.link_url(meeting_id, rid, int(fields.get("ver", 1))),
            "link_id": link_fingerprint(meeting_id, rid),
            "opens": int(fields.get("opens", 0)),
            "claims": int(fields.get("claims", 0)),
            "refused": int(fields.get("refused", 0)),
            "devices": len(fields.get("devices", "").split()),
            "history": [dict(zip(("kind", "at", "ip", "user_agent"), entry + ["", "", "", ""]))
                        for entry in self.store.history(meeting_id, rid)],
        }

    # The gate

    def read_token(self, token: str) -> LinkRef:
        return self.signer.read_link_token(token)

    def open_link(self, ref: LinkRef, *, device_cookie: str | None, ip: str,
                  user_agent: str) -> Decision:
        """GET/HEAD: record the open and say which page to show. Binds nothing."""
        return self._gate("open", ref, device_cookie, ip, user_agent)

    def claim_link(self, ref: LinkRef, *, device_cookie: str | None, ip: str,
                   user_agent: str) -> Decision:
        """POST: bind the link to this device (first claim) or accept the bound device again;
        a ``claimed``/``rejoined`` decision carries the redirect URL and the device id."""
        return self._gate("claim", ref, device_cookie, ip, user_agent)

    def _gate(self, mode: str, ref: LinkRef, device_cookie: str | None, ip: str,
              user_agent: str) -> Decision:
        presented = self.signer.read_device_cookie(device_cookie) or ""
        result: GateResult = self.store.gate(
            mode, ref.meeting_id, ref.registrant_id, ref.version, self.clock(), presented,
            presented or new_device_id(), clean_header_text(ip, 64),
            clean_header_text(user_agent))
        decision = Decision(result.outcome, ref.meeting_id, result.meeting, result.display)
        if result.outcome in ("claimed", "rejoined"):
            meeting = result.meeting
            url = redirect_url(target=meeting.get("target", "webclient"),
                               web_host=self.config["ZOOM_WEB_HOST"],
                               join_domain=self.config["ZOOM_JOIN_DOMAIN"],
                               meeting_id=ref.meeting_id, pwd=meeting.get("pwd", ""),
                               display_name=result.display, join_url=result.join_url)
            return Decision(result.outcome, ref.meeting_id, meeting, result.display,
                            redirect=url, device_id=result.detail)
        if result.outcome in ("too_early", "expired"):
            return Decision(result.outcome, ref.meeting_id, result.meeting, result.display,
                            at=float(result.detail))
        return decision

    # Organizer API tokens: stored as sha256 digests only; the clear token is shown once.

    def create_api_token(self, name: str, scope: str) -> tuple[str, dict[str, Any]]:
        if scope not in API_SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(API_SCOPES)}")
        token = "jg_" + secrets.token_urlsafe(32)
        digest = token_digest(token)
        record = {"id": digest[:12], "name": clean_name(name)[:100], "scope": scope,
                  "created": int(self.clock())}
        self.store.save_api_token(digest, record, API_TOKEN_TTL)
        return token, record

    def api_tokens(self) -> list[dict[str, Any]]:
        records = list(self.store.api_token_records().values())
        if self.config["ADMIN_TOKEN"]:
            records.append({"id": token_digest(self.config["ADMIN_TOKEN"])[:12],
                            "name": "JOINGATE_ADMIN_TOKEN", "scope": "manage", "created": 0})
        return sorted(records, key=lambda record: record["created"])

    def revoke_api_token(self, token_id: str) -> None:
        for digest, record in self.store.api_token_records().items():
            if record["id"] == token_id:
                self.store.delete_api_token(digest)
                return
        raise NotFound(f"no API token {token_id}")

    def api_scope(self, token: str) -> str | None:
        """The scope of ``token`` (read or manage), or None when it is not a token of ours."""
        if not token or len(token) > 200:
            return None
        digest = token_digest(token)
        admin = self.config["ADMIN_TOKEN"]
        if admin and hmac.compare_digest(digest, token_digest(admin)):
            return "manage"
        record = self.store.api_token(digest)
        return record["scope"] if record else None

    # Webhooks

    def record_zoom_event(self, event: ParticipantEvent | InstanceEvent | RegistrationEvent
                          ) -> str:
        """Record one verified Zoom event; returns recorded, duplicate or ignored."""
        if isinstance(event, InstanceEvent):
            known = self.store.record_instance(event.meeting_id, event.instance, event.kind,
                                               event.at or self.clock())
            return "recorded" if known else "ignored"
        if isinstance(event, RegistrationEvent):
            return self._register_from_zoom(event)
        customer = event.customer_key.lower()
        status, _rid, _open = self.store.record_participant(
            event,
            customer_rid=customer if re.fullmatch(r"[0-9a-f]{16}", customer) else "",
            email_rid=self.registrant_id(event.email) if "@" in event.email else "",
            name_key=clean_name(event.user_name).casefold(),
            email_key=event.email.strip().casefold(),
            now=self.clock(), grace=self.config["SHARED_GRACE"])
        return "ignored" if status == "unknown_meeting" else status

    def _register_from_zoom(self, event: RegistrationEvent) -> str:
        fields = {"email": event.email, "first_name": event.first_name,
                  "last_name": event.last_name, "registrant_id": event.registrant_id,
                  "join_url": event.join_url}
        checked, faults = check_registrant(fields, self.config["ZOOM_JOIN_DOMAIN"])
        if checked is None:
            raise InvalidInput("registrant in the event is not usable", faults)
        try:
            self.issue_links(event.meeting_id, [checked])
        except NotFound:
            return "ignored"
        return "recorded"

    # Report

    def attendance(self, meeting_id: str):
        starts, ends, stays = self.store.attendance(meeting_id)
        return summarize(starts, ends, stays, self.clock(), self.config["SHARED_GRACE"])

    def sharing_check(self, meeting_id: str, instance: str,
                      rid: str) -> tuple[dict[str, Any] | None, int]:
        """Evidence that ``rid`` shares its registration in ``instance`` (or None), and how many
        of its stays there are open now (two or more: check again later)."""
        starts, ends, stays = self.store.attendance(meeting_id)
        own = [stay for stay in stays.get(instance, []) if stay.get("r") == rid]
        open_now = 0 if instance in ends else sum(
            1 for stay in own if "j" in stay and "l" not in stay and not stay.get("x"))
        found = sharing_evidence(own, ends.get(instance, self.clock()),
                                 self.config["SHARED_GRACE"])
        if found is None:
            return None, open_now
        first, second, overlap = found
        return {"instance": instance, "overlap_seconds": round(overlap, 1),
                "stays": [{"user_name": stay.get("n", ""), "participant_uuid": stay.get("u", ""),
                           "join_time": zoom_time(stay["j"])} for stay in (first, second)]
                }, open_now

    def report(self, meeting_id: str) -> dict[str, Any]:
        """The attendance report (contract JSON), derived from what is recorded now."""
        self.store.meeting(meeting_id)
        attendance = self.attendance(meeting_id)
        registrants = []
        for rid, fields in self.store.registrants(meeting_id):
            seen = attendance.registrants.get(rid)
            flags = []
            if seen and seen.shared:
                flags.append("shared")
            if int(fields.get("refused", 0)):
                flags.append("second_device")
            registrants.append({
                "email": fields.get("email", ""),
                "name": fields.get("name", ""),
                "status": registrant_status(fields, joined=bool(seen and seen.joins)),
                "claims": int(fields.get("claims", 0)),
                "joins": seen.joins if seen else 0,
                "max_concurrent": seen.max_concurrent if seen else 0,
                "minutes": round(seen.seconds / 60, 1) if seen else 0.0,
                "present": seen.present if seen else 0,
                "flags": flags,
            })
        return {"meeting": meeting_id, "registrants": registrants,
                "unmatched": attendance.unmatched}


def utc_datetime(ts: float | str) -> datetime:
    """Unix seconds as an aware UTC datetime, clamped to the years 1 to 9999 (a meeting may be
    entered with any RFC 3339 time, and a page must never fail to show it)."""
    seconds = min(max(float(ts), -62135596800.0), 253402300799.0)
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def meeting_options(fields: dict[str, Any]) -> dict[str, Any]:
    """API field names and units (minutes) to add_meeting's options (seconds)."""
    options: dict[str, Any] = {}
    for name in ("target", "max_devices", "policy", "support"):
        if name in fields:
            options[name] = fields[name]
    for name in ("rejoin", "auto_submit"):
        if name in fields:
            options[name] = int(bool(fields[name]))
    for name in ("open_before", "close_after"):
        if name in fields:
            options[name] = int(fields[name] * 60)
    if "passcode" in fields:
        options["pwd"] = fields["passcode"]
    if "staff" in fields:
        options["staff"] = fields["staff"]
    return options


def registrant_status(fields: dict[str, str], joined: bool = False) -> str:
    if fields.get("revoked") == "1":
        return "revoked"
    if joined:
        return "joined"
    if fields.get("first_claim"):
        return "claimed"
    if int(fields.get("opens", 0)):
        return "opened"
    return "issued"
