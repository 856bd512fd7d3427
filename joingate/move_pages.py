"""``/j/<token>/move`` and ``/j/<token>/move/confirm`` (POST only): a registrant moves their link
to the device in hand by a code mailed to them (joingate/moving.py). A GET of these addresses is
the gate's (``<token>/move`` is no token: 404): a scanner that follows a form's address changes
nothing.

After the right code the binding is this device's, and the answer is a 307 back to
``POST /j/<token>``: the browser repeats the POST there, and the claim itself (one path for every
claim) sends it to Zoom with 303.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, url_for

from .errors import NotFound
from .gate import PAGES, client_facts, link_ref, presented_device, set_device_cookie
from .moving import CODE_DIGITS, CODE_LIFETIME, ask_for_code, self_service_ready, try_code
from .pages import render_page
from .records import GateOutcome, Meeting
from .signing import LinkRef
from .state import AppState

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
LINK_PAGES = {outcome.value: PAGES[outcome] for outcome in (
    GateOutcome.UNKNOWN, GateOutcome.SUPERSEDED, GateOutcome.REVOKED, GateOutcome.EXPIRED)}


def _state() -> AppState:
    return current_app.extensions["joingate"]


def _meeting(state: AppState, ref: LinkRef) -> Meeting | None:
    """The link's meeting for the page (topic, support); None when the link names nobody."""
    if state.meetings.registrant_by_id(ref.meeting_id, ref.registrant_id) is None:
        return None
    try:
        return state.meetings.get(ref.meeting_id)
    except NotFound:
        return None


def _refused(reason: str, token: str, meeting: Meeting | None) -> Response:
    status, title, message, again = REFUSALS[reason]
    return render_page("move_refused", status, meeting=meeting, title=title, message=message,
                       again_url=url_for("move.request_move", token=token) if again else "")


def _code_page(token: str, meeting: Meeting | None, status: int, masked_email: str = "",
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
    state = _state()
    ref = link_ref(state, token)
    if isinstance(ref, Response):
        return ref
    meeting = _meeting(state, ref)
    if not self_service_ready(state.config):
        return _refused("off", token, meeting)
    ip, user_agent = client_facts()
    asked = ask_for_code(state, ref, presented_device=presented_device(state), ip=ip,
                         user_agent=user_agent)
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
        set_device_cookie(state, response, asked.device)
    return response


@bp.route("/j/<path:token>/move/confirm", methods=["POST"])
def confirm_move(token: str) -> Response:
    """Check the code; the right one moves the link here and hands over to the claim (307)."""
    state = _state()
    ref = link_ref(state, token)
    if isinstance(ref, Response):
        return ref
    ip, user_agent = client_facts()
    tried = try_code(state, ref, request.form.get("code", ""),
                     presented_device=presented_device(state), ip=ip, user_agent=user_agent)
    if tried.outcome == "moved":
        return Response(status=307, headers={"Location": f"/j/{token}",
                                             "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})
    meeting = _meeting(state, ref)
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
