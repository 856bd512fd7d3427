"""``/j/<token>``: the registrant's link. GET and HEAD show a page and bind nothing (mail scanners
fetch links before their owners click); POST claims the link for this device and redirects once
to Zoom with 303."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from .errors import BadLink, StorageUnavailable
from .signing import LinkRef, link_fingerprint
from .observability import metrics
from .pages import format_time, render_page
from .service import Decision, Service

bp = Blueprint("gate", __name__)

DEVICE_COOKIE = "jg_device"
# Over https the device cookie is a __Host- cookie: browsers accept it only with Secure,
# Path=/ and no Domain, so no sibling subdomain can plant a device id before the registrant
# claims. Cost: it goes with every request to the gate's host (it is HttpOnly, SameSite=Lax and
# holds only a signed device id). Over http (development) browsers refuse the prefix.
SECURE_DEVICE_COOKIE = "__Host-jg_device"
DEVICE_COOKIE_AGE = 400 * 86400  # the longest lifetime browsers allow


def device_cookie_name(public_url: str) -> tuple[str, str]:
    """The device cookie's name and path for PUBLIC_URL: ``__Host-jg_device`` on ``/`` over
    https; ``jg_device`` on ``/j/`` over http. A cookie of the other name is never read."""
    if public_url.startswith("https://"):
        return SECURE_DEVICE_COOKIE, "/"
    return DEVICE_COOKIE, "/j/"

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
    name, _ = device_cookie_name(_service().config["PUBLIC_URL"])
    return {"device_cookie": request.cookies.get(name),
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
    service = _service()
    name, path = device_cookie_name(service.config["PUBLIC_URL"])
    response.set_cookie(name, service.signer.device_cookie(decision.device_id),
                        max_age=DEVICE_COOKIE_AGE, path=path, httponly=True, samesite="Lax",
                        secure=name == SECURE_DEVICE_COOKIE)
    return response


def _page(decision: Decision) -> Response:
    page, status = REFUSALS[decision.outcome]
    return render_page(page, status, meeting=decision.meeting,
                       display_name=decision.display_name,
                       superseded=decision.outcome == "superseded",
                       at=format_time(decision.at) if decision.at else None)
