"""``/j/<token>``: the registrant's link. GET and HEAD show a page and bind nothing (mail scanners
fetch links before their owners click); POST claims the link for this device and redirects once
to Zoom with 303.

The whole claim, top to bottom, in :meth:`Gate.answer`: verify the token
(:mod:`joingate.signing`), read the device cookie, run ``gate.lua`` through :meth:`Store.gate`
(one round trip: state, window, binding, bind, count, log), then redirect
(:mod:`joingate.zoom.urls`) or render the page of the outcome (:class:`joingate.pages.Pages`).
No Flask: the lean front (:mod:`joingate.fastgate`) hands it every GET, HEAD and POST of a link
and writes the answer, the log line and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.http import dump_cookie
from werkzeug.urls import iri_to_uri

from .errors import BadLink
from .pages import Answer, Pages, format_time, new_nonce
from .records import GateOutcome, GateResult
from .signing import LinkRef, link_fingerprint, new_device_id
from .state import AppState
from .throttle import over_limit
from .zoom.urls import redirect_url

DEVICE_COOKIE = "jg_device"
DEVICE_COOKIE_AGE = 400 * 86400  # the longest lifetime browsers allow
MAX_HEADER_TEXT = 256

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
# asks of it.
REDIRECT_HEADERS = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                    ("Content-Type", "text/html; charset=utf-8"))


def clean_header_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """A user agent or IP fit for the history: no tabs or control characters, bounded length."""
    value = value[:limit]
    if value.isprintable():       # nearly always: no character to replace
        return value
    return "".join(ch if ch.isprintable() else " " for ch in value)


@dataclass(slots=True)
class Visit:
    """One request for a link, as the gate needs it, and what the gate learnt of it (the
    front logs ``link_id`` and ``outcome`` even when the answer is an error)."""

    mode: str                      # open (GET, HEAD) or claim (POST)
    token: str
    device_cookie: str | None
    ip: str
    user_agent: str
    link_id: str = ""              # a short hash naming the link, once the token verified
    outcome: str = ""              # a GateOutcome value, invalid or rate_limited


class Gate:
    """The claim path of one app (its state and pages)."""

    def __init__(self, state: AppState, pages: Pages) -> None:
        self.state = state
        self.pages = pages

    def answer(self, visit: Visit) -> Answer:
        """Open (GET/HEAD: records the open, nothing else) or claim (POST: 303 to Zoom for the
        first device and for the bound device again; a refusal page otherwise; needs no form
        field). Raises StorageUnavailable when Redis does not answer: never a redirect
        unchecked."""
        state = self.state
        try:
            ref = state.signer.read_link_token(visit.token)
        except BadLink:
            return self._invalid_token(visit)
        visit.link_id = link_fingerprint(ref.meeting_id, ref.registrant_id)
        presented = state.signer.read_device_cookie(visit.device_cookie) or ""
        result = state.store.gate(
            visit.mode, ref.meeting_id, ref.registrant_id, ref.version, state.clock(), presented,
            presented or new_device_id(), clean_header_text(visit.ip, 64),
            clean_header_text(visit.user_agent))
        visit.outcome = result.outcome.value
        if result.outcome.redirects:
            return self._redirect(ref, result)
        page, status = PAGES[result.outcome]
        return self.page(page, status, meeting=result.meeting,
                         display_name=result.display_name,
                         superseded=result.outcome is GateOutcome.SUPERSEDED,
                         at=format_time(result.at) if result.at else None)

    def page(self, page: str, status: int, **context: object) -> Answer:
        """One of the registrant's pages (pages.PAGES) with its own CSP nonce."""
        nonce = new_nonce()
        body = self.pages.render(page, nonce, **context)
        return Answer(status, self.pages.headers(len(body), nonce), body)

    def _invalid_token(self, visit: Visit) -> Answer:
        """The invalid page: 404, or 429 once this client address has sent more than
        INVALID_TOKEN_LIMIT invalid tokens in the window. Valid links are never limited."""
        config = self.state.config
        visit.outcome = "invalid"
        if over_limit(self.state.store, "badtok", visit.ip, config["INVALID_TOKEN_LIMIT"],
                      config["INVALID_TOKEN_WINDOW"]):
            visit.outcome = "rate_limited"
            answer = self.page("invalid", 429)
            answer.headers.append(("Retry-After", str(config["INVALID_TOKEN_WINDOW"])))
            return answer
        return self.page("invalid", 404)

    def _redirect(self, ref: LinkRef, result: GateResult) -> Answer:
        """303 to Zoom with the device cookie (HttpOnly, SameSite=Lax, Secure exactly when
        PUBLIC_URL is https://)."""
        assert result.meeting is not None
        config = self.state.config
        url = redirect_url(target=result.meeting.target, web_host=config["ZOOM_WEB_HOST"],
                           join_domain=config["ZOOM_JOIN_DOMAIN"], meeting_id=ref.meeting_id,
                           pwd=result.meeting.pwd, display_name=result.display_name,
                           join_url=result.join_url)
        cookie = dump_cookie(DEVICE_COOKIE, self.state.signer.device_cookie(result.device_id),
                             max_age=DEVICE_COOKIE_AGE, path="/j/", httponly=True,
                             samesite="Lax", secure=config["PUBLIC_URL"].startswith("https://"))
        return Answer(303, [("Location", iri_to_uri(url)), *REDIRECT_HEADERS,
                            ("Set-Cookie", cookie), ("Content-Length", "0")])
