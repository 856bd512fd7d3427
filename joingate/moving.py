"""Moving a link to a new device by an emailed code: the registrant's own ``links reset``.

A registrant whose link is bound to another device (the 409 page) may ask, from the new device,
for a one-time code (POST only: mail scanners never press buttons). The worker mails it to the
registrant's address; entered on that same device within CODE_LIFETIME seconds, it moves the
binding there: the device used before is refused from then on (with ``max_devices`` 1; with
more, it may take a free place again like any device). Codes are CODE_DIGITS digits from
``secrets``, never stored in clear (an HMAC keyed with SECRET_KEY, bound to the meeting, the
registrant and the asking device), single use, compared in constant time, and each try is
counted before the comparison, so MAX_TRIES wrong tries lock the code even when sent at once. A
meeting allows ``max_moves`` moves per registrant (default 2; 0 turns this off), and a
registrant may ask for MAX_REQUESTS codes per meeting (mail bombing). Every request, mailing,
refusal and move is in the link's history and the event feed; the report flags ``moved``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from .config import Settings
from .mail import (
    MOVE_TEMPLATES,
    MailTemplates,
    build_message,
    mail_language,
    message_bytes,
    new_message_id,
)
from .pages import builtin_template_dir
from .roster import mail_address_problem, smtp_address
from .signing import LinkRef, new_device_id
from .smtp import Bounced, SmtpConnection, SmtpTarget
from .state import AppState

log = logging.getLogger("joingate.moving")

CODE_DIGITS = 6
CODE_LIFETIME = 600            # seconds a code works
MAX_TRIES = 5                  # wrong codes before a code is locked (also in move.lua)
MAX_REQUESTS = 10              # codes one registrant may ask for per meeting
JOB_KIND = "move_code"


def mask_email(email: str) -> str:
    """``ana.lima@example.org`` -> ``a***@example.org``: enough to recognise, not to harvest."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else ""


def code_digest(secret: str, meeting_id: str, rid: str, device: str, code: str) -> str:
    """What is stored of a code: HMAC-SHA256 keyed with SECRET_KEY (a leaked Redis does not
    give six digits away to a brute force), bound to this link and the device that asked."""
    message = "\t".join(("move", meeting_id, rid, device, code)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def self_service_ready(config: Settings) -> bool:
    """Codes can be mailed: SMTP_URL and MAIL_FROM are set."""
    return bool(config.smtp_url and config.mail_from)


@dataclass(frozen=True)
class MoveAsked:
    """``outcome`` of move.lua's request (ok, unknown, superseded, revoked, expired, unbound,
    bound_here, off, limit, too_many), or no_address (the registrant's address cannot be
    mailed); ``device``: the asking browser's device id (new when it had none: the caller sets
    the cookie)."""

    outcome: str
    masked_email: str
    device: str
    new_device: bool


def ask_for_code(state: AppState, ref: LinkRef, *, presented_device: str, ip: str,
                 user_agent: str) -> MoveAsked:
    """Record the request and queue the code's mail for the worker (nothing is mailed here).
    ``presented_device``: the device id of the browser's signed cookie ("" none); ``ip`` and
    ``user_agent`` as the history keeps them (:func:`joingate.gate.client_facts`)."""
    device = presented_device or new_device_id()
    request_id = secrets.token_hex(8)
    now = state.clock()
    outcome, email = state.store.move(
        "request", ref.meeting_id, ref.registrant_id, now, ip, user_agent, ref.version,
        presented_device, device, request_id, CODE_LIFETIME, MAX_REQUESTS)
    if outcome == "ok" and mail_address_problem(email or ""):
        state.store.move("log", ref.meeting_id, ref.registrant_id, now, ip, user_agent,
                         "move_code_failed", "the address cannot be mailed")
        outcome = "no_address"
    if outcome == "ok":
        state.store.enqueue(f"move:{ref.meeting_id}:{request_id}", {
            "kind": JOB_KIND, "meeting": ref.meeting_id, "registrant": ref.registrant_id,
            "request": request_id, "device": device, "user_agent": user_agent, "asked": now,
            "attempts": 0}, now)
    return MoveAsked(outcome, mask_email(email or ""), device, not presented_device)


@dataclass(frozen=True)
class MoveTried:
    """``outcome``: moved, wrong (``tries_left`` more), locked, malformed (not CODE_DIGITS
    digits: not counted), none (no code, or it expired), other_device, waiting (not mailed
    yet), limit (moves used up meanwhile)."""

    outcome: str
    tries_left: int = 0


def try_code(state: AppState, ref: LinkRef, code: str, *, presented_device: str, ip: str,
             user_agent: str) -> MoveTried:
    """Check ``code`` from this browser (``presented_device``: its signed cookie's device id,
    "" none); on a match move the binding to it."""
    code = "".join(code.split())
    if not (code.isascii() and code.isdigit() and len(code) == CODE_DIGITS):
        return MoveTried("malformed", MAX_TRIES)
    device, store, now = presented_device, state.store, state.clock()
    mid, rid = ref.meeting_id, ref.registrant_id
    if not device:
        store.move("log", mid, rid, now, ip, user_agent, "move_refused", "other_device")
        return MoveTried("other_device")
    outcome, digest, tries = store.move("attempt", mid, rid, now, ip, user_agent, device)
    if outcome != "ok":
        if outcome != "unknown":
            store.move("log", mid, rid, now, ip, user_agent, "move_refused", outcome)
        return MoveTried("none" if outcome == "unknown" else outcome)
    expected = code_digest(state.config.secret_key, mid, rid, device, code)
    if not hmac.compare_digest(digest, expected):
        left = MAX_TRIES - int(tries)
        store.move("log", mid, rid, now, ip, user_agent, "move_refused",
                   "wrong_code" if left else "wrong_code_locked")
        return MoveTried("wrong" if left else "locked", left)
    (moved,) = store.move("apply", mid, rid, now, ip, user_agent, device, digest)
    if moved != "moved":
        store.move("log", mid, rid, now, ip, user_agent, "move_refused", moved)
    return MoveTried(moved)


def run_move_code_job(state: AppState, job: dict[str, Any]) -> None:
    """The worker's part: make the code, store its digest, mail it. A request replaced or
    expired since is dropped; a bounce is logged (``move_code_failed``); an unreachable server
    (MailUnavailable, TryLater) raises for the worker's retries (each makes a new code)."""
    config, store = state.config, state.store
    mid, rid = job["meeting"], job["registrant"]
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    digest = code_digest(config.secret_key, mid, rid, job["device"], code)
    now = state.clock()
    answer = store.move("code", mid, rid, now, "", "joingate-worker", job["request"], digest)
    if not int(answer[0]):
        log.info("meeting %s: a move code request was replaced or expired; not mailed", mid)
        return
    email, name = answer[1], answer[2]
    problem = mail_address_problem(email)
    if problem or not self_service_ready(config):
        store.move("log", mid, rid, now, "", "joingate-worker", "move_code_failed",
                   f"the address {problem}" if problem else "mail is not configured")
        return
    meeting = state.meetings.get(mid)
    templates = MailTemplates(builtin_template_dir(), config.template_dir, MOVE_TEMPLATES)
    language = mail_language(state.catalogs, meeting)
    rendered = templates.render({
        "i18n": language, "lang": language.tag,
        "name": name, "code": code, "minutes": CODE_LIFETIME // 60,
        "lifetime": language.duration(CODE_LIFETIME),
        "topic": meeting.topic, "support": meeting.support,
        "asked_at": language.time(job.get("asked", now)).text,
        "device": job.get("user_agent", "")[:120]})
    message = build_message(rendered, mail_from=config.mail_from,
                            reply_to=config.mail_reply_to, to_name=name, to_address=email,
                            message_id=new_message_id(config.mail_from), now=now)
    connection = SmtpConnection(SmtpTarget.parse(config.smtp_url))
    try:
        connection.open()
        connection.send(smtp_address(parseaddr(config.mail_from)[1]), smtp_address(email),
                        message_bytes(message))
    except Bounced as exc:
        store.move("log", mid, rid, state.clock(), "", "joingate-worker", "move_code_failed",
                   exc.reply)
        return
    finally:
        connection.close()
    store.move("log", mid, rid, state.clock(), "", "joingate-worker", "move_code_sent", "")
