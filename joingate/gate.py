"""``/j/<token>``: the registrant's link. GET and HEAD show a page and bind nothing (mail scanners
fetch links before their owners click); POST claims the link for this device and redirects once
to Zoom with 303."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, request

from .errors import BadLink, NotReplicated, StorageUnavailable
from .signing import LinkRef, link_fingerprint
from .observability import log_fields, metrics
from .pages import format_time, render_page
from .service import Decision, Service

bp = Blueprint("gate", __name__)
log = logging.getLogger("joingate.gate")

DEVICE_COOKIE = "jg_device"
DEVICE_COOKIE_AGE = 400 * 86400  # the longest lifetime browsers allow

# Outcome of gate.lua -> (page, status). claimed/rejoined redirect instead.
REFUSALS = {
    "unknown": ("invalid", 404),
    "superseded": ("revoked", 410),
    "revoked": ("revoked", 410),
    "expired": ("expired", 410),
    "too_early": ("too_early", 200),
    "used_elsewhere": ("used_elsewhere", 409),
    "confirm": ("confirm", 200),
}


def _service() -> Service:
    return current_app.extensions["joingate"]


def _request_facts() -> dict[str, str | None]:
    return {"device_cookie": request.cookies.get(DEVICE_COOKIE),
            "ip": request.remote_addr or "",
            "user_agent": request.headers.get("User-Agent", "")}


def _read_token(service: Service, token: str) -> LinkRef | Response:
    """The verified link, or the invalid page: 404, or 429 once this client address has sent
    more than INVALID_TOKEN_LIMIT invalid tokens in the window. Valid links are never limited."""
    try:
        ref = service.read_token(token)
    except BadLink:
        g.outcome = "invalid"
        limit = service.config["INVALID_TOKEN_LIMIT"]
        if limit:
            try:
                count = service.store.count_invalid_token(
                    request.remote_addr or "", service.config["INVALID_TOKEN_WINDOW"])
            except StorageUnavailable:
                count = 0   # the 404 does not depend on Redis
            if count > limit:
                g.outcome = "rate_limited"
                response = render_page("invalid", 429)
                response.headers["Retry-After"] = str(service.config["INVALID_TOKEN_WINDOW"])
                return response
        return render_page("invalid", 404)
    g.link_id = link_fingerprint(ref.meeting_id, ref.registrant_id)
    return ref


def _decide(token: str, mode: str) -> Decision | Response:
    """Verify the token and run the gate in ``mode`` (open or claim); count the outcome."""
    service = _service()
    counter = metrics().opens if mode == "open" else metrics().claims
    ref = _read_token(service, token)
    if isinstance(ref, Response):
        counter.labels(g.outcome).inc()
        return ref
    gate = service.open_link if mode == "open" else service.claim_link
    decision = gate(ref, **_request_facts())
    g.outcome = decision.outcome
    counter.labels(decision.outcome).inc()
    return decision


@bp.route("/j/<path:token>", methods=["GET"])
def open_link(token: str) -> Response:
    """Show the confirm page, or the page of the link's state. Records the open, nothing else."""
    decision = _decide(token, "open")
    return decision if isinstance(decision, Response) else _page(decision)


@bp.route("/j/<path:token>", methods=["POST"])
def claim_link(token: str) -> Response:
    """Claim: 303 to Zoom for the first device and for the bound device again; a refusal page
    otherwise. Needs no form field."""
    decision = _decide(token, "claim")
    if isinstance(decision, Response):
        return decision
    if not decision.redirect:
        return _page(decision)
    # A redirect has no body: no Content-Security-Policy or nonce to make, only what the
    # contract asks of it.
    response = Response(status=303, headers={"Location": decision.redirect,
                                             "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})
    return _with_device_cookie(response, decision.device_id)


def _with_device_cookie(response: Response, device_id: str) -> Response:
    service = _service()
    response.set_cookie(DEVICE_COOKIE, service.signer.device_cookie(device_id),
                        max_age=DEVICE_COOKIE_AGE, path="/j/", httponly=True, samesite="Lax",
                        secure=service.config["PUBLIC_URL"].startswith("https://"))
    return response


@bp.errorhandler(NotReplicated)
def claim_not_replicated(exc: NotReplicated) -> Response:
    """REDIS_WAIT_REPLICAS: the primary bound the link, too few replicas acknowledged it in
    time. 503 with the unavailable page, no redirect. The device cookie goes with it, so that
    this browser's next try is the bound device again (a rejoin, or a fresh claim of the same
    device if a failover lost the binding), never a second device refused with 409."""
    g.outcome = "not_replicated"
    metrics().claims.labels("not_replicated").inc()
    log.warning("claim not replicated: %d of %d replicas acknowledged; answered 503",
                exc.acknowledged, exc.wanted,
                extra=log_fields(event="claim_not_replicated", link_id=g.get("link_id", ""),
                                 acknowledged=exc.acknowledged, wanted=exc.wanted))
    response = render_page("unavailable", 503)
    response.headers["Retry-After"] = "2"
    return _with_device_cookie(response, exc.device_id)


def _page(decision: Decision) -> Response:
    page, status = REFUSALS[decision.outcome]
    return render_page(page, status, meeting=decision.meeting,
                       display_name=decision.display_name,
                       superseded=decision.outcome == "superseded",
                       at=format_time(decision.at) if decision.at else None)
