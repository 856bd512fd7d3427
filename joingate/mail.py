"""The message that carries a registrant's link: templates, their context, the headers.

Pure: no Redis, no network; ``now`` is passed in. The three templates (``email/subject.txt``,
``email/body.txt``, ``email/body.html``) are searched in ``TEMPLATE_DIR`` first, like the pages,
and rendered in a sandboxed Jinja environment: an organizer's template can read the context below
and nothing else (no attributes of Python objects, no files). The context never holds the Zoom
URL, the meeting number or the passcode: only the joingate link.

A mail is written in the meeting's ``language`` (there is no browser to ask: English when the
meeting has none), its sentences from the pages' catalogs (``_()`` and ``{% trans %}``, with the
organizer's ``TEMPLATE_DIR/translations`` merged as for pages), its times by Babel in that
language and in the meeting's ``timezone`` (UTC when unset).

Context of every template:

``name``          the registrant's name as imported
``display_name``  the name joingate gives Zoom (unique in the meeting)
``email``         the registrant's address
``link``          the registrant's joingate link (``PUBLIC_URL/j/<token>``)
``topic``         the meeting's topic
``start``         the start, as text in the mail's language and the meeting's zone
                  (``Tuesday, December 1, 2026, 6:00 PM (UTC)``)
``start_iso``     the start in RFC 3339 (``2026-12-01T18:00:00Z``)
``opens``         when the link starts working, as text like ``start``
``duration``      minutes
``support``       the meeting's support contact (may be empty)
``lang``          the mail's language as a BCP 47 tag (``pt-BR``), for ``<html lang>``
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from types import TracebackType
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateProblem
from .i18n import Catalogs, PageLanguage
from .i18n import install as install_gettext
from .pages import OrganizerTemplateLoader
from .records import Meeting, Registrant
from .roster import smtp_address
from .times import iso_utc

SUBJECT, TEXT, HTML = "email/subject.txt", "email/body.txt", "email/body.html"
TEMPLATES = (SUBJECT, TEXT, HTML)
# The one-time code that moves a link to a new device (joingate/moving.py); its context:
# name, code, minutes (how long it works), lifetime (the same as text in the mail's language),
# topic, support, asked_at (text, in the mail's language and the meeting's zone), device (the
# user agent that asked), lang.
MOVE_TEMPLATES = ("email/move_subject.txt", "email/move_body.txt", "email/move_body.html")
MAX_SUBJECT = 200

# CRLF line ends and no 8-bit bodies (quoted-printable or base64 instead): a message any relay
# takes, 8BITMIME or not.
MAIL_POLICY = email.policy.SMTP.clone(cte_type="7bit")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def _line_of(exc: BaseException, filename: str | None) -> int | None:
    """The template line an error was raised on: Jinja rewrites tracebacks so that a frame of
    the template's file carries the template's line."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _problem(name: str, exc: BaseException, filename: str | None) -> TemplateProblem:
    line = _line_of(exc, filename)
    where = filename or name
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    detail: dict[str, Any] = {"field": where, "message": message}
    if line is not None:
        detail["line"] = line
    place = f"{where}, line {line}" if line is not None else where
    return TemplateProblem(f"email template {place}: {message}; nothing was sent", [detail])


class MailTemplates:
    """Three templates (subject, plain text, HTML: ``names``), compiled once. Raises
    TemplateProblem (file and line) when one does not compile; :meth:`render` raises it when
    one fails on a context."""

    def __init__(self, builtin_dir: str, organizer_dir: str = "",
                 names: tuple[str, str, str] = TEMPLATES) -> None:
        self.names = names
        loaders: list[Any] = [OrganizerTemplateLoader(organizer_dir)] if organizer_dir else []
        loaders.append(FileSystemLoader(builtin_dir))
        self.environment = SandboxedEnvironment(
            loader=ChoiceLoader(loaders), undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False))
        # gettext reads the mail's own language from the render context's ``i18n``.
        install_gettext(self.environment)
        self.templates: dict[str, Template] = {}
        for name in names:
            try:
                self.templates[name] = self.environment.get_template(name)
            except TemplateSyntaxError as exc:
                raise _problem(name, exc, exc.filename) from None
            except TemplateError as exc:
                raise _problem(name, exc, None) from None

    def render(self, context: dict[str, Any]) -> RenderedMail:
        """The three parts for ``context`` (its ``i18n``: the mail's :class:`PageLanguage`;
        English without it)."""
        parts = {}
        for name, template in self.templates.items():
            try:
                parts[name] = template.render(context)
            except Exception as exc:  # noqa: BLE001 - any failure of an organizer's template
                raise _problem(name, exc, template.filename) from None
        subject_name, text_name, html_name = self.names
        # A subject is one line: folding keeps a template's line breaks out of the header.
        subject = " ".join(parts[subject_name].split())[:MAX_SUBJECT]
        if not subject:
            raise TemplateProblem(f"email template {subject_name} renders an empty subject",
                                  [{"field": subject_name, "message": "the subject is empty"}])
        return RenderedMail(subject, parts[text_name], parts[html_name])


def mail_language(catalogs: Catalogs, meeting: Meeting) -> PageLanguage:
    """The language and zone of a meeting's mails: its ``language`` when a catalog serves it,
    else English (no browser to ask); times in its ``timezone``."""
    return catalogs.speak(meeting.language, meeting.timezone)


def mail_context(meeting: Meeting, registrant: Registrant, link: str,
                 language: PageLanguage) -> dict[str, Any]:
    """The documented context (see the module's docstring) of one registrant's message, in
    ``language`` (:func:`mail_language`)."""
    return {"i18n": language,
            "lang": language.tag,
            "name": registrant.name,
            "display_name": registrant.display_name,
            "email": registrant.email,
            "link": link,
            "topic": meeting.topic,
            "start": language.time(meeting.start).text,
            "start_iso": iso_utc(meeting.start),
            "opens": language.time(meeting.opens_at).text,
            "duration": meeting.duration,
            "support": meeting.support}


def domain_of(mail_from: str) -> str:
    """The domain of a From setting (``Name <a@example.org>`` -> ``example.org``)."""
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def new_message_id(mail_from: str) -> str:
    """A Message-ID in the sender's domain; random, carries nothing about the registrant."""
    return make_msgid("jg", domain=smtp_address("x@" + domain_of(mail_from)).partition("@")[2])


def build_message(rendered: RenderedMail, *, mail_from: str, reply_to: str, to_name: str,
                  to_address: str, message_id: str, now: float) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML) with the headers real mail
    needs: From, To (a UTF-8 name encoded per RFC 2047), Subject, Date, Message-ID, and
    Auto-Submitted so that vacation responders stay quiet. ``mail_from`` may be empty (a
    preview without settings): the message then has no From."""
    message = EmailMessage(policy=MAIL_POLICY)
    if mail_from:
        message["From"] = mail_from
    message["To"] = Address(display_name=to_name, addr_spec=smtp_address(to_address))
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(datetime.fromtimestamp(now, tz=UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF line ends only, 7-bit."""
    return message.as_bytes(policy=MAIL_POLICY)
