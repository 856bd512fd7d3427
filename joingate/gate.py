"""``/j/<token>``: the registrant's link. GET and HEAD show a page and bind nothing (mail scanners
fetch links before their owners click); POST claims the link for this device and redirects once
to Zoom with 303.

The whole claim, top to bottom: verify the token (:mod:`joingate.signing`), read the device
cookie, run ``gate.lua`` through :meth:`Store.gate` (one round trip: state, window, binding,
bind, count, log), then redirect (:mod:`joingate.zoom.urls`) or render the page of the outcome.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, request

from .errors import BadLink, NotReplicated
from .observability import log_fields, metrics
from .pages import format_time, render_page
from .records import GateOutcome, GateResult
from .signing import LinkRef, link_fingerprint, new_device_id
from .state import AppState
from .throttle import over_limit
from .zoom.urls import redirect_url

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
    return "".join(ch if ch.isprintable() else " " for ch in value)[:limit]


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
    state: AppState = current_app.extensions["joingate"]
    counter = metrics().opens if mode == "open" else metrics().claims
    ref = link_ref(state, token)
    if isinstance(ref, Response):
        counter.labels(g.outcome).inc()
        return ref
    g.link_id = link_fingerprint(ref.meeting_id, ref.registrant_id)
    result = _run(state, mode, ref)
    g.outcome = result.outcome.value
    counter.labels(result.outcome.value).inc()
    if result.outcome.redirects:
        return _redirect(state, ref, result)
    return _page(result)


def _run(state: AppState, mode: str, ref: LinkRef) -> GateResult:
    presented = presented_device(state)
    ip, user_agent = client_facts()
    return state.store.gate(
        mode, ref.meeting_id, ref.registrant_id, ref.version, state.clock(), presented,
        presented or new_device_id(), ip, user_agent)


# The request's parts, for the claim and for the routes beside it (joingate/move_pages.py)

def link_ref(state: AppState, token: str) -> LinkRef | Response:
    """The link ``token`` names, or the invalid page to answer with (404; 429 once this client
    address has sent more than INVALID_TOKEN_LIMIT invalid tokens in the window)."""
    try:
        return state.signer.read_link_token(token)
    except BadLink:
        return _invalid_token(state)


def presented_device(state: AppState) -> str:
    """The device id of this browser's signed device cookie; "" when it has none (or one that
    does not verify)."""
    name, _ = device_cookie_name(state.config.public_url)
    return state.signer.read_device_cookie(request.cookies.get(name)) or ""


def client_facts() -> tuple[str, str]:
    """This request's client IP and user agent, as the link's history keeps them."""
    return (clean_header_text(request.remote_addr or "", 64),
            clean_header_text(request.headers.get("User-Agent", "")))


def set_device_cookie(state: AppState, response: Response, device_id: str) -> None:
    """Bind this browser to ``device_id``: the signed cookie, HttpOnly, SameSite=Lax, named and
    placed by :func:`device_cookie_name` (``__Host-``, Secure, Path=/ over https; the links'
    path under PUBLIC_URL over http)."""
    name, path = device_cookie_name(state.config.public_url)
    response.set_cookie(name, state.signer.device_cookie(device_id),
                        max_age=DEVICE_COOKIE_AGE, path=path, httponly=True, samesite="Lax",
                        secure=name == SECURE_DEVICE_COOKIE)


def _invalid_token(state: AppState) -> Response:
    """The invalid page: 404, or 429 once this client address has sent more than
    INVALID_TOKEN_LIMIT invalid tokens in the window. Valid links are never limited."""
    config = state.config
    g.outcome = "invalid"
    if over_limit(state.store, "badtok", request.remote_addr or "",
                  config.invalid_token_limit, config.invalid_token_window):
        g.outcome = "rate_limited"
        response = render_page("invalid", 429)
        response.headers["Retry-After"] = str(config.invalid_token_window)
        return response
    return render_page("invalid", 404)


def _redirect(state: AppState, ref: LinkRef, result: GateResult) -> Response:
    """303 to Zoom with the device cookie. A redirect has no body: no Content-Security-Policy
    or nonce to make, only what the contract asks of it."""
    assert result.meeting is not None
    config = state.config
    url = redirect_url(target=result.meeting.target, web_host=config.zoom_web_host,
                       join_domain=config.zoom_join_domain, meeting_id=ref.meeting_id,
                       pwd=result.meeting.pwd, display_name=result.display_name,
                       join_url=result.join_url)
    response = Response(status=303, headers={"Location": url, "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})
    set_device_cookie(state, response, result.device_id)
    return response


def _page(result: GateResult) -> Response:
    page, status = PAGES[result.outcome]
    # signed: the token's signature held (an unknown one is a genuine link whose class is gone)
    return render_page(page, status, meeting=result.meeting,
                       display_name=result.display_name,
                       superseded=result.outcome is GateOutcome.SUPERSEDED,
                       at=format_time(result.at) if result.at else None,
                       signed=True, bound_here=result.bound_here)


@bp.errorhandler(NotReplicated)
def claim_not_replicated(exc: NotReplicated) -> Response:
    """REDIS_WAIT_REPLICAS: the primary bound the link, too few replicas acknowledged it in
    time. 503 with the unavailable page, no redirect. The device cookie goes with it, so that
    this browser's next try is the bound device again (a rejoin, or a fresh claim of the same
    device if a failover lost the binding), never a second device refused with 409."""
    state: AppState = current_app.extensions["joingate"]
    g.outcome = "not_replicated"
    metrics().claims.labels("not_replicated").inc()
    log.warning("claim not replicated: %d of %d replicas acknowledged; answered 503",
                exc.acknowledged, exc.wanted,
                extra=log_fields(event="claim_not_replicated", link_id=g.get("link_id", ""),
                                 acknowledged=exc.acknowledged, wanted=exc.wanted))
    response = render_page("unavailable", 503)
    response.headers["Retry-After"] = "2"
    set_device_cookie(state, response, exc.device_id)
    return response
