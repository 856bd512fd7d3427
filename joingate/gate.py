"""``/j/<token>``: the registrant's link. GET and HEAD show a page and bind nothing (mail scanners
fetch links before their owners click); POST claims the link for this device and redirects once
to Zoom with 303.

The whole claim, top to bottom, in :meth:`Gate.answer`: verify the token
(:mod:`joingate.signing`), read the device cookie, run ``gate.lua`` through :meth:`Store.gate`
(one round trip: state, window, binding, bind, count, log), then redirect
(:mod:`joingate.zoom.urls`) or render the page of the outcome (:class:`joingate.pages.Pages`).
:class:`Gate` needs no Flask: the lean front (:mod:`joingate.fastgate`) hands it every GET,
HEAD and POST of ``/j/<token>``; the Flask routes below hand it what the front passes on (a
token with a slash in it), and the helpers below them serve the routes beside the claim
(joingate/move_pages.py). One claim path, two doors.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.http import dump_cookie

from .errors import BadLink, NotReplicated, StorageUnavailable
from .observability import Metrics, metrics_of
from .pages import Answer, PageRequest, Pages, format_time, pages_of, request_facts, to_response
from .records import GateOutcome, GateResult
from .signing import LinkRef, link_fingerprint, new_device_id
from .state import AppState
from .throttle import over_limit
from .zoom.urls import as_uri, redirect_url

bp = Blueprint("gate", __name__)
log = logging.getLogger("joingate.gate")

DEVICE_COOKIE = "jg_device"
# Over https the device cookie is a __Host- cookie: browsers accept it only with Secure,
# Path=/ and no Domain, so no sibling subdomain can plant a device id before the registrant
# claims. Cost: it goes with every request to the gate's host (it is HttpOnly, SameSite=Lax and
# holds only a signed device id). Over http (development) browsers refuse the prefix.
SECURE_DEVICE_COOKIE = "__Host-jg_device"
DEVICE_COOKIE_AGE = 400 * 86400  # the longest lifetime browsers allow
MAX_HEADER_TEXT = 256
NOT_REPLICATED_RETRY_AFTER = "2"


# The page and status of every outcome that does not redirect.
PAGES: dict[GateOutcome, tuple[str, int]] = {
    GateOutcome.UNKNOWN: ("invalid", 404),
    GateOutcome.SUPERSEDED: ("revoked", 410),
    GateOutcome.REVOKED: ("revoked", 410),
    GateOutcome.EXPIRED: ("expired", 410),
    GateOutcome.TOO_EARLY: ("too_early", 200),
    GateOutcome.USED_ELSEWHERE: ("used_elsewhere", 409),
    GateOutcome.CONFIRM: ("confirm", 200),
}
# A redirect has no body: no Content-Security-Policy or nonce to make, only what the contract
# asks of it (and the Content-Type Flask's responses carry).
REDIRECT_HEADERS = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                    ("Content-Type", "text/html; charset=utf-8"))


def device_cookie_name(public_url: str) -> tuple[str, str]:
    """The device cookie's name and path for PUBLIC_URL: ``__Host-jg_device`` on ``/`` over
    https (the prefix demands Path=/, whatever PUBLIC_URL's path); ``jg_device`` on
    :func:`cookie_path` over http. A cookie of the other name is never read."""
    if public_url.startswith("https://"):
        return SECURE_DEVICE_COOKIE, "/"
    return DEVICE_COOKIE, cookie_path(public_url)


def cookie_path(public_url: str) -> str:
    """The device cookie's path over http: where the browser sees the links, ``/j/`` under
    PUBLIC_URL's own path (a gate served under ``http://example.org/gate`` binds ``/gate/j/``),
    so the same browser sends it back behind a sub-path proxy."""
    return urlsplit(public_url).path.rstrip("/") + "/j/"


def clean_header_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """A user agent or IP fit for the history: no tabs or control characters, bounded length."""
    value = value[:limit]
    if value.isprintable():       # nearly always: no character to replace
        return value
    return "".join(ch if ch.isprintable() else " " for ch in value)


def read_device(state: AppState, cookies: Mapping[str, str]) -> str:
    """The device id of the browser's signed device cookie (named by
    :func:`device_cookie_name`) among ``cookies``; "" when it has none (or one that does not
    verify)."""
    name, _ = device_cookie_name(state.config.public_url)
    return state.signer.read_device_cookie(cookies.get(name)) or ""


def device_cookie(state: AppState, device_id: str) -> str:
    """The ``Set-Cookie`` value that binds a browser to ``device_id``: signed, HttpOnly,
    SameSite=Lax, named and placed by :func:`device_cookie_name` (``__Host-``, Secure, Path=/
    over https; the links' path under PUBLIC_URL over http). Werkzeug's ``dump_cookie`` writes
    it; what follows the value changes once a second (Expires), so it is written once a
    second (a signed value is never quoted)."""
    name, path = device_cookie_name(state.config.public_url)
    value = state.signer.device_cookie(device_id)
    if not COOKIE_VALUE.fullmatch(value):           # never for a signed value: kept exact
        return dump_cookie(name, value, max_age=DEVICE_COOKIE_AGE, path=path, httponly=True,
                           samesite="Lax", secure=name == SECURE_DEVICE_COOKIE)
    return f"{name}={value}{_cookie_attributes(name, path, int(time.time()))}"


COOKIE_VALUE = re.compile(r"[A-Za-z0-9_.\-]+")       # what dump_cookie writes as it is


@functools.lru_cache(maxsize=4)
def _cookie_attributes(name: str, path: str, second: int) -> str:
    """What ``dump_cookie`` writes after the device cookie's value when it is set during
    ``second`` (its Expires is that second plus the cookie's age)."""
    return dump_cookie(name, "v", max_age=DEVICE_COOKIE_AGE, expires=second + DEVICE_COOKIE_AGE,
                       path=path, httponly=True, samesite="Lax",
                       secure=name == SECURE_DEVICE_COOKIE)[len(name) + 2:]


@dataclass(slots=True)
class Visit:
    """One request for a link, as the gate needs it, and what the gate learnt of it (the
    front logs ``link_id`` and ``outcome`` even when the answer is an error)."""

    mode: str                      # open (GET, HEAD) or claim (POST); "" for the move routes
    token: str
    cookies: Mapping[str, str]
    ip: str                        # the client address as the server sees it (ProxyFix'd)
    user_agent: str
    facts: PageRequest             # what the pages take from the request
    request_id: str = ""
    link_id: str = ""              # a short hash naming the link, once the token verified
    outcome: str = ""              # a GateOutcome value, invalid, rate_limited, not_replicated


class Gate:
    """The claim path of one app (its state, pages and metrics)."""

    def __init__(self, state: AppState, pages: Pages, metrics: Metrics) -> None:
        self.state = state
        self.pages = pages
        self.metrics = metrics
        self.cookie_name, _ = device_cookie_name(state.config.public_url)

    def answer(self, visit: Visit) -> Answer:
        """Open (GET/HEAD: records the open, nothing else) or claim (POST: 303 to Zoom for the
        first device and for the bound device again; a refusal page otherwise; needs no form
        field); counts the outcome. Raises StorageUnavailable when Redis does not answer:
        never a redirect unchecked."""
        answer = self._answer(visit)
        self.metrics.child("opens" if visit.mode == "open" else "claims", visit.outcome).inc()
        return answer

    def _answer(self, visit: Visit) -> Answer:
        ref = self.read_link(visit)
        if isinstance(ref, Answer):
            return ref
        visit.link_id = link_fingerprint(ref.meeting_id, ref.registrant_id)
        state = self.state
        presented = read_device(state, visit.cookies)
        proposed = presented or new_device_id()
        try:
            result = state.store.gate(
                visit.mode, ref.meeting_id, ref.registrant_id, ref.version, state.clock(),
                presented, proposed, clean_header_text(visit.ip, 64),
                clean_header_text(visit.user_agent))
        except NotReplicated as exc:
            return self._not_replicated(visit, exc)
        except StorageUnavailable as exc:
            if visit.mode == "claim" and not presented:
                # The script may have bound ``proposed`` before the reply was lost (a timeout):
                # the 503 hands this browser that device, so its retry is that device again.
                exc.device_cookie = device_cookie(state, proposed)
            raise
        visit.outcome = result.outcome.value
        if result.outcome.redirects:
            return self._redirect(ref, result)
        page, status = PAGES[result.outcome]
        # signed: the token's signature held (an unknown one is a genuine link whose class is
        # gone)
        return self.pages.answer(page, status, visit.facts, meeting=result.meeting,
                                 display_name=result.display_name,
                                 superseded=result.outcome is GateOutcome.SUPERSEDED,
                                 at=format_time(result.at) if result.at else None,
                                 signed=True, bound_here=result.bound_here)

    def read_link(self, visit: Visit) -> LinkRef | Answer:
        """The link ``visit.token`` names, or the invalid page to answer with: 404, or 429
        once this client address has sent more than INVALID_TOKEN_LIMIT invalid tokens in the
        window. Valid links are never limited."""
        try:
            return self.state.signer.read_link_token(visit.token)
        except BadLink:
            pass
        config = self.state.config
        visit.outcome = "invalid"
        if over_limit(self.state.store, "badtok", visit.ip, config.invalid_token_limit,
                      config.invalid_token_window):
            visit.outcome = "rate_limited"
            answer = self.pages.answer("invalid", 429, visit.facts)
            answer.headers.append(("Retry-After", str(config.invalid_token_window)))
            return answer
        return self.pages.answer("invalid", 404, visit.facts)

    def _redirect(self, ref: LinkRef, result: GateResult) -> Answer:
        """303 to Zoom with the device cookie."""
        assert result.meeting is not None
        config = self.state.config
        url = redirect_url(target=result.meeting.target, web_host=config.zoom_web_host,
                           join_domain=config.zoom_join_domain, meeting_id=ref.meeting_id,
                           pwd=result.meeting.pwd, display_name=result.display_name,
                           join_url=result.join_url)
        return Answer(303, [("Location", as_uri(url)), *REDIRECT_HEADERS,
                            ("Set-Cookie", device_cookie(self.state, result.device_id)),
                            ("Content-Length", "0")])

    def _not_replicated(self, visit: Visit, exc: NotReplicated) -> Answer:
        """REDIS_WAIT_REPLICAS: the primary bound the link, too few replicas acknowledged it in
        time. 503 with the unavailable page, no redirect. The device cookie goes with it, so
        that this browser's next try is the bound device again (a rejoin, or a fresh claim of
        the same device if a failover lost the binding), never a second device refused with
        409."""
        visit.outcome = "not_replicated"
        log.warning("claim not replicated: %d of %d replicas acknowledged; answered 503",
                    exc.acknowledged, exc.wanted,
                    extra={"event": "claim_not_replicated", "request_id": visit.request_id,
                           "link_id": visit.link_id, "acknowledged": exc.acknowledged,
                           "wanted": exc.wanted})
        answer = self.pages.answer("unavailable", 503, visit.facts)
        answer.headers += [("Retry-After", NOT_REPLICATED_RETRY_AFTER),
                           ("Set-Cookie", device_cookie(self.state, exc.device_id))]
        return answer


def gate_of(app: Flask) -> Gate:
    return app.extensions["joingate_gate"]


def init_app(app: Flask) -> None:
    """The app's gate (pages and metrics first), and its Flask routes."""
    app.extensions["joingate_gate"] = Gate(app.extensions["joingate"], pages_of(app),
                                           metrics_of(app))
    app.register_blueprint(bp)


# Flask's door: what the lean front passes on (``/j/<token>`` whose token holds a slash, such as
# a GET of a move route's address), answered by the same Gate as the front's.

@bp.route("/j/<path:token>", methods=["GET"])
def open_link(token: str) -> Response:
    """Show the confirm page, or the page of the link's state. Records the open, nothing else."""
    return _gate("open", token)


@bp.route("/j/<path:token>", methods=["POST"])
def claim_link(token: str) -> Response:
    """Claim: 303 to Zoom for the first device and for the bound device again; a refusal page
    otherwise. Needs no form field."""
    return _gate("claim", token)


def _gate(mode: str, token: str) -> Response:
    visit = request_visit(mode, token)
    try:
        return to_response(gate_of(current_app).answer(visit))
    finally:
        _note(visit)


def request_visit(mode: str, token: str) -> Visit:
    """The Flask request being answered, as a :class:`Visit` of the link ``token``."""
    return Visit(mode, token, request.cookies, request.remote_addr or "",
                 request.headers.get("User-Agent", ""), request_facts(),
                 g.get("request_id", ""))


def _note(visit: Visit) -> None:
    """Give the request log what the gate learnt (observability.redacted_path, the outcome)."""
    if visit.link_id:
        g.link_id = visit.link_id
    if visit.outcome:
        g.outcome = visit.outcome


# The request's parts, for the routes beside the claim (joingate/move_pages.py)

def link_ref(state: AppState, token: str) -> LinkRef | Response:
    """The link ``token`` names, or the invalid page to answer with (404; 429 once this client
    address has sent more than INVALID_TOKEN_LIMIT invalid tokens in the window)."""
    visit = request_visit("", token)
    found = gate_of(current_app).read_link(visit)
    if isinstance(found, Answer):
        g.outcome = visit.outcome
        return to_response(found)
    return found


def presented_device(state: AppState) -> str:
    """The device id of this browser's signed device cookie; "" when it has none (or one that
    does not verify)."""
    return read_device(state, request.cookies)


def client_facts() -> tuple[str, str]:
    """This request's client IP and user agent, as the link's history keeps them."""
    return (clean_header_text(request.remote_addr or "", 64),
            clean_header_text(request.headers.get("User-Agent", "")))


def set_device_cookie(state: AppState, response: Response, device_id: str) -> None:
    """Bind this browser to ``device_id`` (:func:`device_cookie`)."""
    response.headers.add("Set-Cookie", device_cookie(state, device_id))
