"""``/organizer/``: the organizer's dashboard. Server-rendered pages that work without JavaScript;
the meeting page polls a small JSON endpoint to stay live.

Who: an organizer signs in with an organizer API token (``joingate tokens create``, or
``JOINGATE_ADMIN_TOKEN``); ``manage`` acts, ``read`` sees but cannot act and is never shown a
link. The session (:mod:`joingate.organizer_sessions`) lives in Redis; its cookie is HttpOnly,
SameSite=Strict, ``Path=/organizer/``, and Secure when PUBLIC_URL is https. Every form carries the
session's CSRF token, compared in constant time; the sign-in form, before any session exists,
carries the value of a short-lived cookie of its own (double submit). Wrong tokens count against
the same per-address limit as the API's.

What: the meetings; a meeting's roster (status, opens, claims, refusals, present now, minutes,
flags with their evidence), filtered, searched and paged, with counts of the whole meeting at
the top and the latest activity; each registrant's history (``links show``); actions on a link
(reset, revoke, reissue: the last two ask to confirm, since they cannot be undone) recorded in
the event feed as ``dashboard:<token id>``; adding registrants by pasted or uploaded CSV (the
CLI's rules, :func:`joingate.roster.read_csv`); the mail-merge and report CSVs; an attendance
timeline per meeting instance (:mod:`joingate.timeline`), inline and as a file.

Live updates poll rather than stream: gunicorn's sync workers would each be held by an open
server-sent event stream. A poll first compares the feed's newest event id with the page's;
when nothing happened it answers ``{"changed": false}`` after a handful of small reads. Each
process keeps the last roster of each meeting and patches it from the feed (:func:`_snapshot`),
so polling, paging and filtering do not read every registrant again.

Templates live in ``templates/organizer/`` and may be overridden from ``TEMPLATE_DIR`` like the
registrant's pages; each gets plain values only (no objects, no functions), listed in
``docs/dashboard.md``.
"""

from __future__ import annotations

import hmac
import io
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from .errors import InvalidInput, NotFound
from .exports import write_links_csv, write_report_csv
from .meetings import LINK_ACTIONS, MEETING_ID_RE
from .organizer_sessions import SESSION_MAX, OrganizerSession, OrganizerSessions
from .records import FeedEvent, Registrant
from .roster import read_csv
from .state import AppState
from .throttle import over_limit
from .timeline import build_timeline, render_svg
from .times import iso_utc, page_time, parse_zoom_time, short_time
from .views import link_status, registrant_rows
from .worker import REFUSED

log = logging.getLogger("joingate.dashboard")

bp = Blueprint("dashboard", __name__, url_prefix="/organizer")

SESSION_COOKIE = "jg_organizer"
SIGN_IN_COOKIE = "jg_organizer_signin"
COOKIE_PATH = "/organizer/"
SIGN_IN_COOKIE_AGE = 30 * 60
PAGE_SIZE = 100
ROSTER_FRESH = 5.0          # seconds a computed roster serves while the feed has nothing new
ROSTER_REREAD = 30.0        # seconds before every registrant is read again
ROSTER_PATCH = 100          # at most this many new events are patched in, else all are read
ROSTER_MEETINGS = 20        # rosters kept per process
ACTIVITY = 15
MAX_QUERY = 200
MAX_FAULTS_SHOWN = 50
MAX_UNMATCHED_SHOWN = 100
RID_RE = re.compile(r"^[0-9a-f]{16}$")
STATUSES = ("issued", "opened", "claimed", "joined", "revoked")
FLAGS = ("shared", "shared_suspected", "second_device", "moved")
CANNOT_UNDO = {"revoke": "The link stops working at once. Restore (the same link) or reissue "
                         "(a new one) brings it back.",
               "reissue": "The current link stops working at once; the registrant needs the "
                          "new one."}
ACTION_LABELS = {"reset": "Reset device", "restore": "Restore", "revoke": "Revoke",
                 "reissue": "Reissue"}
DONE = {"reset": "Device binding freed: the next device to claim the link gets it.",
        "restore": "Link restored: no longer revoked, no device bound; the same link works.",
        "revoke": "Link revoked: it answers 410 from now on.",
        "reissue": "New link issued; the old one answers 410 from now on."}
# Endpoints reachable without a session.
OPEN_ENDPOINTS = frozenset({"dashboard.sign_in", "dashboard.sign_in_submit"})


# Plumbing: state, session, rendering, headers

def _state() -> AppState:
    return current_app.extensions["joingate"]


def _sessions() -> OrganizerSessions:
    return current_app.extensions["joingate_dashboard"]


def _organizer() -> OrganizerSession:
    return g.organizer


def _secure() -> bool:
    return _state().config.public_url.startswith("https://")


@bp.before_request
def require_session() -> BaseResponse | None:
    """Every page but sign-in needs a live session; every POST the session's CSRF token."""
    g.csp_nonce = secrets.token_urlsafe(16)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    session = _sessions().current(cookie)
    if session is None:
        if request.endpoint == "dashboard.live":
            refused = jsonify(error="signed_out", message="sign in again")
            refused.status_code = 401
            return refused
        target = url_for(".sign_in", expired=1) if cookie else url_for(".sign_in")
        response = redirect(target, 303)
        if cookie:
            _forget(response, SESSION_COOKIE)
        return response
    g.organizer = session
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf.encode()):
            return _message("Refused: this form did not come from your dashboard session",
                            "The form carried no valid CSRF token. Go back, reload the page "
                            "and try again.", 403)
    return None


@bp.after_request
def page_headers(response: Response) -> Response:
    """The dashboard's own policy: scripts and styles only with this response's nonce, fetches
    and forms only to this origin, never framed; nothing cached."""
    nonce = g.get("csp_nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Vary"] = "Cookie"
    return response


def _render(template: str, status: int = 200, **context: Any) -> Response:
    """Render ``organizer/<template>`` with the context every dashboard page gets (``nonce``,
    ``organizer``), in the pages' sandbox (:class:`joingate.pages.PageTemplates`: no Flask
    globals, no ``config``, no attribute that starts with ``_``). An organizer's override that
    fails falls back to the built-in template."""
    context.update(nonce=g.csp_nonce, organizer=_organizer_view())
    page = f"organizer/{template.removesuffix('.html')}"
    body = current_app.extensions["joingate_pages"].render(page, context)
    return Response(body, status=status, mimetype="text/html")


def _fragment(template: str, **context: Any) -> str:
    """A partial of the meeting page, for a live update (same templates, same fallback)."""
    return _render(template, **context).get_data(as_text=True)


def _organizer_view() -> dict[str, Any] | None:
    session: OrganizerSession | None = g.get("organizer")
    if session is None:
        return None
    return {"scope": session.scope, "may_manage": session.may_manage, "csrf": session.csrf,
            "token_id": session.token_id, "sign_out_url": url_for(".sign_out"),
            "home_url": url_for(".meetings")}


def _message(title: str, text: str, status: int, details: list[str] | None = None,
             back_url: str = "") -> Response:
    return _render("message.html", status, title=title, text=text, details=details or [],
                   back_url=back_url)


def _forget(response: BaseResponse, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=_secure(), httponly=True,
                           samesite="Strict")


def _require_manage() -> BaseResponse | None:
    if not _organizer().may_manage:
        return _message("This session may only read",
                        "Sign in with a token of scope manage to act on links.", 403)
    return None


@bp.errorhandler(NotFound)
def not_found(exc: NotFound) -> Response:
    return _message("Not found", str(exc), 404, back_url=url_for(".meetings"))


@bp.errorhandler(InvalidInput)
def invalid_input(exc: InvalidInput) -> Response:
    return _message("That did not work", exc.message, 422,
                    [_fault_line(fault) for fault in exc.details[:MAX_FAULTS_SHOWN]])


def _fault_line(fault: dict) -> str:
    where = f"line {fault['line']}: " if "line" in fault else ""
    field = f"{fault['field']}: " if fault.get("field") and "line" in fault else ""
    return f"{where}{field}{fault.get('message', '')}"


def _meeting_id(value: str) -> str:
    if not MEETING_ID_RE.match(value):
        raise NotFound(f"no meeting {value[:40]}")
    return value


def _registrant(meeting_id: str, rid: str) -> Registrant:
    found = _state().meetings.registrant_by_id(meeting_id, rid) if RID_RE.match(rid) else None
    if found is None:
        _state().meetings.get(meeting_id)       # "no meeting" when it is the meeting
        raise NotFound(f"no such registrant in meeting {meeting_id}")
    return found


# Sign-in and sign-out

@bp.get("/sign-in")
def sign_in() -> BaseResponse:
    if _sessions().current(request.cookies.get(SESSION_COOKIE)) is not None:
        return redirect(url_for(".meetings"), 303)
    note = ("Your session ended (signed out, expired, or its token was revoked). Sign in again."
            if request.args.get("expired") else "")
    return _sign_in_page(note, 200)


def _sign_in_page(error: str, status: int, retry_after: int = 0) -> Response:
    """The form, with a fresh double-submit value: the cookie and the hidden field match."""
    check = secrets.token_urlsafe(24)
    response = _render("sign_in.html", status, error=error, csrf=check,
                       action_url=url_for(".sign_in_submit"))
    response.set_cookie(SIGN_IN_COOKIE, check, max_age=SIGN_IN_COOKIE_AGE, path=COOKIE_PATH,
                        secure=_secure(), httponly=True, samesite="Strict")
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/sign-in")
def sign_in_submit() -> BaseResponse:
    """Sign in with an organizer token: 303 to the meetings with the session cookie; 401 (or
    429 once this address sent too many wrong tokens) with the form again."""
    state = _state()
    config = state.config
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = request.form.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode("utf-8", "replace"),
                                               expected.encode("utf-8", "replace")):
        return _sign_in_page("The sign-in form expired or your browser did not send its "
                             "cookie. Try again (cookies must be allowed for this site).", 403)
    begun = _sessions().begin(request.form.get("token", "").strip())
    if begun is None:
        window = config.invalid_token_window
        if over_limit(state.store, "badapi", request.remote_addr or "",
                      config.api_bad_token_limit, window):
            return _sign_in_page("Too many wrong tokens from this address; wait a minute and "
                                 "try again.", 429, retry_after=window)
        return _sign_in_page("That is not an organizer token of this joingate. Create one "
                             "with: joingate tokens create --name NAME --scope manage", 401)
    cookie, _session = begun
    response = redirect(url_for(".meetings"), 303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX, path=COOKIE_PATH,
                        secure=_secure(), httponly=True, samesite="Strict")
    _forget(response, SIGN_IN_COOKIE)
    return response


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    _sessions().end(_organizer())
    response = redirect(url_for(".sign_in"), 303)
    _forget(response, SESSION_COOKIE)
    return response


# Meetings

@bp.get("/")
def meetings() -> BaseResponse:
    meetings = _state().meetings
    found = [meetings.get(meeting_id) for meeting_id in meetings.ids()]
    rows = [{"id": meeting.id, "topic": meeting.topic, "start": _time(meeting.start, long=True),
             "registrants": meetings.registrant_count(meeting.id),
             "url": url_for(".meeting", meeting_id=meeting.id)}
            for meeting in sorted(found, key=lambda m: m.start, reverse=True)]
    return _render("meetings.html", meetings=rows)


def _time(ts: float, long: bool = False) -> dict[str, str]:
    return {"iso": iso_utc(ts), "text": page_time(ts) if long else short_time(ts)}


class RosterQuery:
    """The meeting page's filters, search and page number, read from the query string;
    InvalidInput names a bad one."""

    def __init__(self, args: Any) -> None:
        self.q = args.get("q", "").strip()[:MAX_QUERY]
        self.status = args.get("status", "")
        self.flag = args.get("flag", "")
        self.present = args.get("present", "") == "1"
        page = args.get("page", "1")
        if self.status not in ("", *STATUSES):
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        if self.flag not in ("", "any", *FLAGS):
            raise InvalidInput(f"flag must be any or one of {', '.join(FLAGS)}")
        if not (page.isascii() and page.isdigit() and 1 <= int(page) <= 1_000_000):
            raise InvalidInput("page must be a whole number from 1")
        self.page = int(page)

    def args(self, **changes: Any) -> dict[str, str]:
        values = {"q": self.q, "status": self.status, "flag": self.flag,
                  "present": "1" if self.present else "", "page": str(self.page)}
        values.update({key: str(value) for key, value in changes.items()})
        if values["page"] == "1":
            values["page"] = ""
        return {key: value for key, value in values.items() if value}

    def keeps(self, row: dict[str, Any]) -> bool:
        if self.status and row["status"] != self.status:
            return False
        if self.flag == "any" and not row["flags"]:
            return False
        if self.flag not in ("", "any") and self.flag not in row["flags"]:
            return False
        if self.present and not row["present"]:
            return False
        if self.q:
            needle = self.q.casefold()
            return any(needle in row[name].casefold()
                       for name in ("email", "name", "display_name"))
        return True


class BadQuery(Exception):
    """A filter, search or page the meeting page cannot read: 400 with the reason."""


def _query() -> RosterQuery:
    try:
        return RosterQuery(request.args)
    except InvalidInput as exc:
        raise BadQuery(exc.message) from None


@bp.errorhandler(BadQuery)
def bad_query(exc: BadQuery) -> Response:
    if request.endpoint == "dashboard.live":
        response = jsonify(error="bad_parameter", message=str(exc))
        response.status_code = 400
        return response
    return _message("That filter cannot be read", str(exc), 400,
                    back_url=request.path)


@dataclass(frozen=True)
class RosterSnapshot:
    """A meeting's registrants, every registrant's roster row and the meeting's counts, as
    computed when the feed's newest event was ``stamp``."""

    stamp: str
    computed: float                     # time.monotonic() of the computation
    read: float                         # time.monotonic() when every registrant was read
    registrants: tuple[Registrant, ...]
    rows: tuple[dict[str, Any], ...]    # shared between requests: copied before any change
    counts: dict[str, int]
    show_sent: bool
    unmatched: tuple[dict[str, Any], ...]   # participants no registration explains


def _snapshot(meeting_id: str, stamp: str) -> RosterSnapshot:
    """The roster of ``meeting_id`` when the feed's newest event is ``stamp``.

    Reading 5,000 registrants is most of a page's cost (docs/benchmarks.md), so this process
    keeps the last roster of each meeting: it serves as it is while the feed has nothing new
    for ROSTER_FRESH seconds; after that, or when the feed moved, the attendance and every row
    are derived again, but only the registrants the feed names since (opens, claims, refusals,
    actions) are read again, unless the registrants were all read ROSTER_REREAD seconds ago or
    more, or the feed cannot say what changed (an import, a long gap). So the gate's events,
    Zoom's participant events and the dashboard's own actions show at once; what the feed does
    not record (registrants added by the CLI, the API or Zoom's registration webhook) within
    ROSTER_REREAD seconds."""
    snapshots: dict[str, RosterSnapshot] = current_app.extensions["joingate_dashboard_rosters"]
    state = _state()
    now = time.monotonic()
    found = snapshots.get(meeting_id)
    if found and found.stamp == stamp and now - found.computed < ROSTER_FRESH:
        return found
    registrants: list[Registrant] | None = None
    if found and now - found.read < ROSTER_REREAD:
        changed = _changed_since(meeting_id, found.stamp)
        if changed is not None:
            registrants = [_reread(meeting_id, r) if r.id in changed else r
                           for r in found.registrants]
    read = now if registrants is None else found.read        # type: ignore[union-attr]
    if registrants is None:
        registrants = state.meetings.registrants(meeting_id)
    pairs, attendance = state.presence.report_rows(meeting_id, registrants)
    rows = tuple(_row(registrant, row) for registrant, row in pairs)
    counts = {"registered": len(rows),
              "claimed": sum(1 for row in rows if row["claims"]),
              "present": sum(1 for row in rows if row["present"]),
              "flagged": sum(1 for row in rows if row["flags"]),
              "unmatched": len(attendance.unmatched)}
    made = RosterSnapshot(stamp, now, read, tuple(registrants), rows, counts,
                          any(row.get("sent") for row in rows),
                          tuple({"user_name": row["user_name"],
                                 "join": _time(parse_zoom_time(row["join_time"]) or 0)}
                                for row in attendance.unmatched))
    if len(snapshots) >= ROSTER_MEETINGS and meeting_id not in snapshots:
        snapshots.pop(min(snapshots, key=lambda name: snapshots[name].computed), None)
    snapshots[meeting_id] = made
    return made


def _changed_since(meeting_id: str, stamp: str) -> set[str] | None:
    """The registrants whose record the feed's events after ``stamp`` changed, or None when
    the feed cannot tell (registrants were imported, or too much happened)."""
    _, events = _state().store.events_after(meeting_id, stamp, ROSTER_PATCH + 1)
    if len(events) > ROSTER_PATCH or any(event.kind == "import" for event in events):
        return None
    return {event.registrant for event in events if event.registrant and not event.instance}


def _reread(meeting_id: str, registrant: Registrant) -> Registrant:
    return _state().meetings.registrant_by_id(meeting_id, registrant.id) or registrant


def _roster(meeting_id: str, query: RosterQuery) -> dict[str, Any]:
    """What the meeting page and its live update show: counts of the whole meeting, the rows of
    the page asked for, the page's place, the latest activity and its stamp."""
    latest = _state().store.latest_events(meeting_id, ACTIVITY)
    stamp = latest[0][0].id if latest else "0-0"
    snapshot = _snapshot(meeting_id, stamp)
    matched = [row for row in snapshot.rows if query.keeps(row)]
    pages = max(1, -(-len(matched) // PAGE_SIZE))
    number = min(query.page, pages)
    first = (number - 1) * PAGE_SIZE
    rows = [dict(row) for row in matched[first:first + PAGE_SIZE]]
    may_manage = _organizer().may_manage
    for row in rows:
        row["url"] = url_for(".registrant", meeting_id=meeting_id, rid=row["rid"])
        row["actions"] = [{"name": action, "label": ACTION_LABELS[action],
                           "confirm": action in CANNOT_UNDO,
                           "url": url_for(".link_action", meeting_id=meeting_id,
                                          rid=row["rid"], action=action)}
                          for action in LINK_ACTIONS] if may_manage else []
    here = url_for(".meeting", meeting_id=meeting_id)
    page = {"number": number, "pages": pages, "matched": len(matched),
            "first": first + 1 if rows else 0, "last": first + len(rows),
            "prev_url": f"{here}?{urlencode(query.args(page=number - 1))}"
            if number > 1 else "",
            "next_url": f"{here}?{urlencode(query.args(page=number + 1))}"
            if number < pages else ""}
    return {"counts": snapshot.counts, "rows": rows, "page": page,
            "activity": [_activity(event, email) for event, email in latest],
            "stamp": stamp, "show_sent": snapshot.show_sent,
            "unmatched": snapshot.unmatched[:MAX_UNMATCHED_SHOWN]}


def _row(registrant: Registrant, row: dict[str, Any]) -> dict[str, Any]:
    """One roster row: the report's row (made for this request, so extended in place) with what
    only the registrant record holds. No link."""
    row.update(rid=registrant.id, display_name=registrant.display_name,
               opens=registrant.opens, refused=registrant.refused, sent=row.get("sent", ""))
    if row["evidence"]:
        row["evidence"] = [_evidence(item) for item in row["evidence"]]
    return row


def _evidence(item: dict[str, Any]) -> dict[str, Any]:
    """A flag's evidence as the page shows it: who was there together, for how long, on what
    evidence, with the Zoom identifiers of each stay."""
    return {"flag": item["flag"], "instance": item.get("instance", ""),
            "minutes": round(item.get("overlap_seconds", 0) / 60, 1),
            "people": [{"evidence": person.get("evidence", ""), "via": person.get("via", ""),
                        "stays": [dict(stay) for stay in person.get("stays", [])]}
                       for person in item.get("people", [])]}


FEED_TEXT = {"open": "opened the link", "claim": "claimed the link",
             "rejoin": "came back on the bound device",
             "refused": "was refused: the link is bound to another device",
             "refused_open": "opened the link on another device (refused)",
             "revoke": "link revoked", "reset": "device binding reset",
             "restore": "link restored", "conflict": "a registration was refused (conflict)",
             "moved": "moved to a new device",
             "reissue": "link reissued", "import": "registrants added",
             "joined": "joined Zoom", "left": "left Zoom"}


def _activity(event: FeedEvent, email: str) -> dict[str, Any]:
    organizer_action = event.kind in (*LINK_ACTIONS, "import")
    return {"kind": event.kind, "text": FEED_TEXT.get(event.kind, event.kind),
            "at": _time(event.at), "who": email or event.user_name,
            "actor": event.user_agent if organizer_action else ""}


def _meeting_view(meeting_id: str) -> dict[str, Any]:
    meeting = _state().meetings.get(meeting_id)
    may_manage = _organizer().may_manage
    return {"id": meeting.id, "topic": meeting.topic, "start": _time(meeting.start, long=True),
            "url": url_for(".meeting", meeting_id=meeting.id),
            "timeline_url": url_for(".timeline", meeting_id=meeting.id),
            "report_csv_url": url_for(".report_csv", meeting_id=meeting.id),
            "links_csv_url": url_for(".links_csv", meeting_id=meeting.id) if may_manage else "",
            "add_url": url_for(".add_registrants", meeting_id=meeting.id) if may_manage else ""}


@bp.get("/meetings/<meeting_id>")
def meeting(meeting_id: str) -> BaseResponse:
    meeting_id = _meeting_id(meeting_id)
    query = _query()
    view = _meeting_view(meeting_id)
    roster = _roster(meeting_id, query)
    live_url = f"{url_for('.live', meeting_id=meeting_id)}?{urlencode(query.args())}"
    return _render("meeting.html", meeting=view, live_url=live_url, **roster,
                   filters={"q": query.q, "status": query.status, "flag": query.flag,
                            "present": query.present, "statuses": list(STATUSES),
                            "flags": list(FLAGS)},
                   done=DONE.get(request.args.get("done", ""), ""))


@bp.get("/meetings/<meeting_id>/live")
def live(meeting_id: str) -> BaseResponse:
    """The meeting page's live update: ``{"changed": false, "stamp"}`` when the feed's newest
    event is still ``since``; else the counts, rows, page summary and activity as HTML
    fragments of the same templates, and the new stamp."""
    meeting_id = _meeting_id(meeting_id)
    state = _state()
    since = request.args.get("since", "")
    if since:
        latest = state.store.latest_events(meeting_id, 1)
        stamp = latest[0][0].id if latest else "0-0"
        if stamp == since:
            state.meetings.get(meeting_id)      # a meeting that is gone is 404, not "same"
            return jsonify(changed=False, stamp=stamp)
    query = _query()
    view = _meeting_view(meeting_id)
    roster = _roster(meeting_id, query)
    context = dict(meeting=view, **roster)
    return jsonify(changed=True, stamp=roster["stamp"],
                   counts=_fragment("_counts.html", **context),
                   rows=_fragment("_rows.html", **context),
                   summary=_fragment("_summary.html", **context),
                   activity=_fragment("_activity.html", **context),
                   unmatched=_fragment("_unmatched.html", **context))


# One registrant

@bp.get("/meetings/<meeting_id>/registrants/<rid>")
def registrant(meeting_id: str, rid: str) -> BaseResponse:
    meeting_id = _meeting_id(meeting_id)
    state = _state()
    found = _registrant(meeting_id, rid)
    status = link_status(state, meeting_id, found.email)
    may_manage = _organizer().may_manage
    latest = state.store.latest_events(meeting_id, 1)
    snapshot = _snapshot(meeting_id, latest[0][0].id if latest else "0-0")
    report_row = next((row for row in snapshot.rows if row["rid"] == found.id), None)
    person = {"rid": found.id, "email": status["email"], "name": status["name"],
              "display_name": status["display_name"], "status": status["status"],
              "opens": status["opens"], "claims": status["claims"],
              "refused": status["refused"], "devices": status["devices"],
              "link_id": status["link_id"],
              "link": status["link"] if may_manage else "",
              "flags": report_row["flags"] if report_row else [],
              "evidence": report_row["evidence"] if report_row else [],
              "actions": [{"name": action, "label": ACTION_LABELS[action],
                           "confirm": action in CANNOT_UNDO,
                           "url": url_for(".link_action", meeting_id=meeting_id, rid=found.id,
                                          action=action)}
                          for action in LINK_ACTIONS] if may_manage else []}
    history = [{"kind": entry["kind"], "text": FEED_TEXT.get(entry["kind"], entry["kind"]),
                "at": {"iso": entry["at"], "text": entry["at"].replace("T", " ")
                       .replace("Z", " UTC")},
                "ip": entry["ip"],
                "user_agent": "" if entry["kind"] in LINK_ACTIONS else entry["user_agent"],
                "actor": entry["user_agent"] if entry["kind"] in LINK_ACTIONS else ""}
               for entry in status["history"]]
    return _render("registrant.html", meeting=_meeting_view(meeting_id), person=person,
                   history=history, done=DONE.get(request.args.get("done", ""), ""))


@bp.post("/meetings/<meeting_id>/registrants/<rid>/<action>")
def link_action(meeting_id: str, rid: str, action: str) -> BaseResponse:
    """Reset, revoke or reissue one link, recorded in the feed as ``dashboard:<token id>``.
    Revoke and reissue cannot be undone: without ``confirm=yes`` they answer with a page that
    asks (and acts on nothing)."""
    refused = _require_manage()
    if refused:
        return refused
    meeting_id = _meeting_id(meeting_id)
    if action not in LINK_ACTIONS:
        raise NotFound(f"no action {action[:40]}")
    found = _registrant(meeting_id, rid)
    if action in CANNOT_UNDO and request.form.get("confirm") != "yes":
        return _render("confirm.html", meeting=_meeting_view(meeting_id),
                       person={"email": found.email, "name": found.name,
                               "display_name": found.display_name},
                       action={"name": action, "label": ACTION_LABELS[action],
                               "consequence": CANNOT_UNDO[action],
                               "url": url_for(".link_action", meeting_id=meeting_id,
                                              rid=found.id, action=action)},
                       cancel_url=url_for(".registrant", meeting_id=meeting_id, rid=found.id))
    _state().meetings.manage_registrant(action, meeting_id, found.id, _organizer().actor)
    log.info("dashboard %s by %s", action, _organizer().actor,
             extra={"event": "dashboard_action", "action": action, "meeting": meeting_id})
    return redirect(url_for(".registrant", meeting_id=meeting_id, rid=found.id, done=action),
                    303)


# Adding registrants

@bp.route("/meetings/<meeting_id>/add", methods=["GET", "POST"])
def add_registrants(meeting_id: str) -> BaseResponse:
    """Paste or upload a registrant CSV; the same rules as ``joingate links issue``: a file with
    a bad line is refused whole, each bad line named, nothing written."""
    refused = _require_manage()
    if refused:
        return refused
    meeting_id = _meeting_id(meeting_id)
    view = _meeting_view(meeting_id)
    if request.method == "GET":
        return _render("add.html", meeting=view, text="", faults=[], error="", result=None)
    state = _state()
    text = request.form.get("csv_text", "")
    upload = request.files.get("csv_file")
    if upload is not None and upload.filename:
        if text.strip():
            return _render("add.html", 422, meeting=view, text=text, faults=[], result=None,
                           error="Paste the CSV or choose a file, not both.")
        data = upload.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            return _render("add.html", 422, meeting=view, text="", faults=[], result=None,
                           error=f"Nothing was added. The file is not UTF-8 text (line {line}): "
                                 "save it as CSV UTF-8.")
    if not text.strip():
        return _render("add.html", 422, meeting=view, text="", faults=[], result=None,
                       error="Paste the CSV or choose a file.")
    try:
        roster = read_csv(text, state.config.zoom_join_domain)
    except InvalidInput as exc:
        return _render("add.html", 422, meeting=view, text=text, result=None,
                       error=f"Nothing was added. {exc.message}",
                       faults=[_fault_line(fault) for fault in exc.details[:MAX_FAULTS_SHOWN]])
    links = state.meetings.issue_links(meeting_id, roster.inputs)
    state.store.record_action(meeting_id, "import", _organizer().actor)
    created = sum(link.created for link in links)
    return _render("add.html", meeting=view, text="", faults=[], error="",
                   result={"created": created, "updated": len(links) - created})


# Downloads

def _csv(body: str, filename: str) -> Response:
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/meetings/<meeting_id>/report.csv")
def report_csv(meeting_id: str) -> BaseResponse:
    meeting_id = _meeting_id(meeting_id)
    out = io.StringIO()
    write_report_csv(_state().presence.report(meeting_id), out)
    return _csv(out.getvalue(), f"report-{meeting_id}.csv")


@bp.get("/meetings/<meeting_id>/links.csv")
def links_csv(meeting_id: str) -> BaseResponse:
    """The mail merge (every registrant's current link): manage sessions only."""
    refused = _require_manage()
    if refused:
        return refused
    meeting_id = _meeting_id(meeting_id)
    out = io.StringIO()
    write_links_csv(registrant_rows(_state(), meeting_id), out)
    return _csv(out.getvalue(), f"links-{meeting_id}.csv")


# The timeline

def _timelines(meeting_id: str) -> list[Any]:
    """Every instance's timeline, numbered by start time."""
    state = _state()
    meeting = state.meetings.get(meeting_id)
    registrants = state.meetings.registrants(meeting_id)
    instances, stays, attendance = state.presence.recorded(meeting_id, registrants)
    names = {r.id: r.display_name or r.name for r in registrants}
    refusals = _refusals(meeting_id) if any(r.refused for r in registrants) else []
    return [build_timeline(instance, number, attendance, stays, names, refusals,
                           state.clock(), meeting.open_before)
            for number, instance in enumerate(sorted(instances, key=lambda i: i.started), 1)]


def _refusals(meeting_id: str) -> list[FeedEvent]:
    """The refused opens and claims in the meeting's feed (the whole feed, a page at a time)."""
    found: list[FeedEvent] = []
    cursor = "0-0"
    while True:
        _, page = _state().store.events_after(meeting_id, cursor, 1000)
        found += [event for event in page if event.kind in REFUSED]
        if len(page) < 1000:
            return found
        cursor = page[-1].id


@bp.get("/meetings/<meeting_id>/timeline")
def timeline(meeting_id: str) -> BaseResponse:
    meeting_id = _meeting_id(meeting_id)
    drawn = [{"number": item.number, "instance": item.instance, "ended": item.ended,
              "start": _time(item.start), "end": _time(item.end), "people": len(item.rows),
              "bars": item.bars, "svg": Markup(render_svg(item)),
              "download_url": url_for(".timeline_svg", meeting_id=meeting_id,
                                      number=item.number)}
             for item in _timelines(meeting_id)]
    return _render("timeline.html", meeting=_meeting_view(meeting_id), timelines=drawn)


@bp.get("/meetings/<meeting_id>/timeline/<int:number>.svg")
def timeline_svg(meeting_id: str, number: int) -> BaseResponse:
    meeting_id = _meeting_id(meeting_id)
    drawn = _timelines(meeting_id)
    if not 1 <= number <= len(drawn):
        raise NotFound(f"meeting {meeting_id} has no instance {number}")
    response = Response(render_svg(drawn[number - 1], standalone=True),
                        mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="timeline-{meeting_id}-{number}.svg"')
    return response


def init_app(app: Flask) -> None:
    state: AppState = app.extensions["joingate"]
    app.extensions["joingate_dashboard"] = OrganizerSessions(state.store, state.tokens,
                                                             state.clock)
    app.extensions["joingate_dashboard_rosters"] = {}
    app.register_blueprint(bp)
