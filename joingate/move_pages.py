"""``/j/<token>/move`` and ``/j/<token>/move/confirm`` (POST only): a registrant moves their link
to the device in hand by a code mailed to them (joingate/moving.py). A GET of these addresses is
the gate's (``<token>/move`` is no token: 404): a scanner that follows a form's address changes
nothing.

After the right code the binding is this device's, and the answer is a 307 back to
``POST /j/<token>``: the browser repeats the POST there, and the claim itself (one path for every
claim) sends it to Zoom with 303.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, request, url_for

from .errors import NotFound
from .gate import PAGES, client_facts, link_ref, presented_device, set_device_cookie
from .i18n import N_, PageLanguage
from .moving import CODE_DIGITS, CODE_LIFETIME, ask_for_code, self_service_ready, try_code
from .pages import page_language, render_page
from .records import GateOutcome, Meeting
from .signing import LinkRef
from .state import AppState

bp = Blueprint("move", __name__)

# Why a move is refused: (status, title, message, offer a new code). English message ids of
# the catalogs (N_: extracted by babel.cfg); the page's language is applied in _refused.
CONTACT_FREES = N_("Please contact the organizer: they can free your link for this device.")
REFUSALS = {
    "off": (403, N_("Changing devices is not offered for this class"), CONTACT_FREES, False),
    "limit": (403, N_("This link has changed devices too often"), CONTACT_FREES, False),
    "too_many": (429, N_("Too many codes were asked for"), CONTACT_FREES, False),
    "no_address": (403, N_("We cannot mail you a code"),
                   N_("The address you registered with cannot receive mail from us. Please "
                      "contact the organizer: they can free your link for this device."), False),
    "locked": (403, N_("Too many wrong codes"),
               N_("That code no longer works. Ask for a new one: it goes to the same address."),
               True),
    "none": (410, N_("This code has expired"),
             N_("Codes work for a few minutes. Ask for a new one."), True),
    "other_device": (403, N_("Enter the code on the device that asked for it"),
                     N_("A code works only in the browser where \u201cUse this device "
                        "instead\u201d was pressed. Ask for a new one here if this is the "
                        "device you want."),
                     True),
}
# What the code page says above its form when a code was not taken.
MALFORMED = N_("Enter the %(digits)s digits from the mail.")
WAITING = N_("The code is on its way: wait for the mail, then enter it.")
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
    """The move_refused page: ``title`` and ``message`` in the page's language."""
    status, title, message, again = REFUSALS[reason]
    language = page_language(meeting)
    return render_page("move_refused", status, meeting=meeting, title=language.gettext(title),
                       message=language.gettext(message),
                       again_url=url_for("move.request_move", token=token) if again else "")


def _code_page(token: str, meeting: Meeting | None, status: int, masked_email: str = "",
               error: Callable[[PageLanguage], str] | None = None) -> Response:
    """The move_sent page; ``error`` writes why a code was not taken in the page's language.
    ``lifetime`` is how long a code works, written by Babel in that language."""
    language = page_language(meeting)
    return render_page("move_sent", status, meeting=meeting, masked_email=masked_email,
                       minutes=CODE_LIFETIME // 60, lifetime=language.duration(CODE_LIFETIME),
                       error=error(language) if error else "",
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
        return Response(status=303, headers={"Location": f"{request.script_root}/j/{token}",
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
        return Response(status=307, headers={"Location": f"{request.script_root}/j/{token}",
                                             "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})
    meeting = _meeting(state, ref)
    if tried.outcome == "malformed":
        return _code_page(token, meeting, 400, error=lambda language: language.gettext(
            MALFORMED) % {"digits": CODE_DIGITS})
    if tried.outcome == "wrong":
        left = tried.tries_left
        return _code_page(token, meeting, 403, error=lambda language: language.ngettext(
            "That code is not right. %(num)d try left.",
            "That code is not right. %(num)d tries left.", left) % {"num": left})
    if tried.outcome == "waiting":
        return _code_page(token, meeting, 409,
                          error=lambda language: language.gettext(WAITING))
    return _refused(tried.outcome, token, meeting)
