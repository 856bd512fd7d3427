"""``/j/<token>/move`` and ``/j/<token>/move/confirm`` (POST only): a registrant moves their link
to the device in hand by a code mailed to them (joingate/moving.py). A GET of these addresses is
the gate's (``<token>/move`` is no token: 404): a scanner that follows a form's address changes
nothing.

After the right code the binding is this device's, and the answer is a 307 back to
``POST /j/<token>``: the browser repeats the POST there, and the claim itself (one path for every
claim) sends it to Zoom with 303.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from .gate import DEVICE_COOKIE, DEVICE_COOKIE_AGE, _read_token, _request_facts, _service
from .moving import CODE_DIGITS, CODE_LIFETIME, ask_for_code, self_service_ready, try_code
from .pages import render_page
from .signing import LinkRef

bp = Blueprint("move", __name__)

# Why a move is refused: (status, title, message, offer a new code).
REFUSALS = {
    "off": (403, "Changing devices is not offered for this class",
            "Please contact the organizer: they can free your link for this device.", False),
    "limit": (403, "This link has changed devices too often",
              "Please contact the organizer: they can free your link for this device.", False),
    "too_many": (429, "Too many codes were asked for",
                 "Please contact the organizer: they can free your link for this device.",
                 False),
    "no_address": (403, "We cannot mail you a code",
                   "The address you registered with cannot receive mail from us. Please "
                   "contact the organizer: they can free your link for this device.", False),
    "locked": (403, "Too many wrong codes",
               "That code no longer works. Ask for a new one: it goes to the same address.",
               True),
    "none": (410, "This code has expired",
             "Codes work for a few minutes. Ask for a new one.", True),
    "other_device": (403, "Enter the code on the device that asked for it",
                     "A code works only in the browser where \u201cUse this device instead\u201d "
                     "was pressed. Ask for a new one here if this is the device you want.",
                     True),
}
# Link states that end the matter: the gate's own pages.
LINK_PAGES = {"unknown": ("invalid", 404), "superseded": ("revoked", 410),
              "revoked": ("revoked", 410), "expired": ("expired", 410)}


def _meeting(ref: LinkRef) -> dict[str, str]:
    store = _service().store
    return store.meeting(ref.meeting_id) if store.registrant_or_none(
        ref.meeting_id, ref.registrant_id) is not None else {}


def _refused(reason: str, token: str, meeting: dict[str, str]) -> Response:
    status, title, message, again = REFUSALS[reason]
    return render_page("move_refused", status, meeting=meeting, title=title, message=message,
                       again_url=url_for("move.request_move", token=token) if again else "")


def _code_page(token: str, meeting: dict[str, str], status: int, masked_email: str = "",
               error: str = "") -> Response:
    return render_page("move_sent", status, meeting=meeting, masked_email=masked_email,
                       minutes=CODE_LIFETIME // 60, error=error,
                       confirm_url=url_for("move.confirm_move", token=token),
                       again_url=url_for("move.request_move", token=token))


@bp.route("/j/<path:token>/move", methods=["POST"])
def request_move(token: str) -> Response:
    """Ask for a code from this device: the move_sent page (the code is mailed by the worker),
    the gate's page when the link itself is done, or 303 to the link when nothing needs
    moving (unbound, or bound to this very device)."""
    service = _service()
    ref = _read_token(service, token)
    if isinstance(ref, Response):
        return ref
    meeting = _meeting(ref)
    if not self_service_ready(service.config):
        return _refused("off", token, meeting)
    facts = _request_facts()
    asked = ask_for_code(service, ref, device_cookie=facts["device_cookie"],
                         ip=facts["ip"] or "", user_agent=facts["user_agent"] or "")
    if asked.outcome in LINK_PAGES:
        page, status = LINK_PAGES[asked.outcome]
        return render_page(page, status, meeting=meeting)
    if asked.outcome in ("unbound", "bound_here"):
        return Response(status=303, headers={"Location": f"/j/{token}",
                                             "Cache-Control": "no-store"})
    if asked.outcome != "ok":
        return _refused(asked.outcome, token, meeting)
    response = _code_page(token, meeting, 200, masked_email=asked.masked_email)
    if asked.new_device:
        response.set_cookie(DEVICE_COOKIE, service.signer.device_cookie(asked.device),
                            max_age=DEVICE_COOKIE_AGE, path="/j/", httponly=True,
                            samesite="Lax",
                            secure=service.config["PUBLIC_URL"].startswith("https://"))
    return response


@bp.route("/j/<path:token>/move/confirm", methods=["POST"])
def confirm_move(token: str) -> Response:
    """Check the code; the right one moves the link here and hands over to the claim (307)."""
    service = _service()
    ref = _read_token(service, token)
    if isinstance(ref, Response):
        return ref
    facts = _request_facts()
    tried = try_code(service, ref, request.form.get("code", ""),
                     device_cookie=facts["device_cookie"], ip=facts["ip"] or "",
                     user_agent=facts["user_agent"] or "")
    if tried.outcome == "moved":
        return Response(status=307, headers={"Location": f"/j/{token}",
                                             "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})
    meeting = _meeting(ref)
    if tried.outcome == "malformed":
        return _code_page(token, meeting, 400,
                          error=f"Enter the {CODE_DIGITS} digits from the mail.")
    if tried.outcome == "wrong":
        return _code_page(token, meeting, 403, error=f"That code is not right. {tried.tries_left}"
                          f" {'try' if tried.tries_left == 1 else 'tries'} left.")
    if tried.outcome == "waiting":
        return _code_page(token, meeting, 409, error="The code is on its way: wait for the "
                          "mail, then enter it.")
    return _refused(tried.outcome, token, meeting)
