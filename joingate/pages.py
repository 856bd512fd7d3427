"""The registrant's pages: which template, which status, which headers, chosen in one place.

Every page is a template the organizer may override through ``TEMPLATE_DIR``. Pages are rendered
in Jinja's SandboxedEnvironment with no globals and only the documented context (PAGE_CONTEXT in
the README): an organizer template reaches no setting, secret, request or Python object, and
one that fails for any reason gives way to the built-in page. Pages work without JavaScript and
carry a Content-Security-Policy whose ``form-action`` admits the Zoom hosts, since browsers
apply it to the redirect that follows the claim form.

:class:`Pages` makes every page without Flask: the lean front of ``/j/<token>``
(:mod:`joingate.fastgate`) hands it the request's facts (:class:`PageRequest`), and Flask's
routes and error handlers reach it through :func:`render_page`, which reads the same facts from
the request. One way a page is made, whichever front answers.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header
from werkzeug.routing import Map

from .config import Settings
from .contact import contact_parts
from .errors import StorageUnavailable
from .i18n import ENGLISH, PageLanguage, PageTime, seconds_until
from .i18n import install as install_gettext
from .records import Meeting
from .state import AppState
from .zoom.urls import redirect_origins

log = logging.getLogger("joingate.pages")

PAGES = ("confirm", "too_early", "used_elsewhere", "revoked", "expired", "invalid",
         "unavailable", "move_sent", "move_refused")
PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
STORAGE_RETRY_AFTER = "5"         # seconds, on every 503 for Redis being down
# The headers every page carries besides its Content-Security-Policy.
PAGE_HEADERS = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                ("X-Content-Type-Options", "nosniff"))


def builtin_template_dir() -> str:
    """The built-in templates: ``joingate/_templates`` in an installed wheel (mapped from the
    repository's ``templates/``), or ``templates/`` beside the package in a checkout."""
    spec = importlib.util.find_spec("joingate._templates")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location, "base.html").is_file():
                return str(location)
    return str(Path(__file__).resolve().parent.parent / "templates")


class OrganizerTemplateLoader(FileSystemLoader):
    """Templates from the organizer's folder, never from outside it (no ``..``, no link that
    leads out of the folder)."""

    def get_source(self, environment, template):  # type: ignore[no-untyped-def]
        source, filename, uptodate = super().get_source(environment, template)
        root = os.path.realpath(self.searchpath[0])
        if os.path.commonpath([root, os.path.realpath(filename)]) != root:
            raise TemplateNotFound(template)
        return source, filename, uptodate


def sandbox(loader: BaseLoader) -> SandboxedEnvironment:
    """A page environment: sandboxed (no attribute that starts with ``_``, no unsafe method),
    HTML autoescaped, and no globals but gettext's (Jinja's ``cycler``, ``lipsum``,
    ``range``... removed; Flask's ``config``, ``request``, ``url_for`` are never added)."""
    environment = SandboxedEnvironment(loader=loader, autoescape=True)
    environment.globals.clear()
    install_gettext(environment)   # gettext reads only the page's own language (context i18n)
    return environment


class PageTemplates:
    """The pages' templates: the built-in ones, and the organizer's (``TEMPLATE_DIR``, searched
    first; they may extend or include the built-in ones). Jinja compiles each once and keeps
    it."""

    def __init__(self, builtin_dir: str, organizer_dir: str = "") -> None:
        self.builtin = sandbox(FileSystemLoader(builtin_dir))
        self.organizer = sandbox(ChoiceLoader([OrganizerTemplateLoader(organizer_dir),
                                               FileSystemLoader(builtin_dir)])
                                 ) if organizer_dir else None
        # Whether the organizer's folder holds a page of its own (any ``*.html`` at its top:
        # a page, base.html, or something a page of theirs includes). Read at start, as Jinja
        # keeps each template it found.
        self.organizer_pages = bool(organizer_dir) and any(Path(organizer_dir).glob("*.html"))

    def render(self, page: str, context: dict[str, Any]) -> str:
        """``page``.html with ``context``: the organizer's version when there is one that
        renders, else the built-in one."""
        if self.organizer is not None:
            try:
                return self.organizer.get_template(f"{page}.html").render(context)
            except Exception as exc:  # noqa: BLE001 - any failure of theirs: our page instead
                # An organizer's broken template must not turn a class start into 500s.
                log.error("template %s.html failed (%s); using the built-in page", page,
                          type(exc).__name__)
        return self.builtin.get_template(f"{page}.html").render(context)

    def compile_all(self) -> None:
        """Compile every page now, not on a registrant's first request (a page that does not
        compile is left to :meth:`render`, which falls back and logs)."""
        for environment in (self.builtin, self.organizer):
            for page in PAGES:
                try:
                    if environment is not None:
                        environment.get_template(f"{page}.html")
                except Exception:  # noqa: BLE001, S110 - render() says what is wrong
                    pass


def new_nonce() -> str:
    """A fresh CSP nonce: one per response that has a page."""
    return secrets.token_urlsafe(16)


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = new_nonce()
    return g.csp_nonce


def _zoom_origins(config: Settings) -> str:
    """The CSP sources of every redirect a claim may make (zoom.urls.redirect_origins: the same
    settings, the same rule as the join URL check; ``https://*.zoom.us`` alone would not admit
    the bare ``https://zoom.us``)."""
    return " ".join(redirect_origins(config.zoom_web_host, config.zoom_join_domain))


@dataclass(slots=True)
class PageRequest:
    """What a page takes from the request it answers: ``script_root`` and ``path`` (the retry
    link, a GET of the same address), the browser's ``Accept-Language`` header (the page's
    language when the meeting has none) and, on a link's own routes, its ``token`` (the 409
    page's "Use this device instead" form posts to the link's move route)."""

    script_root: str = ""
    path: str = "/"
    accept_language: str = ""
    token: str = ""


@dataclass(slots=True)
class Answer:
    """A response made without Flask (the lean front's routes): status, headers, body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@functools.lru_cache(maxsize=512)
def accepted_languages(header: str) -> tuple[str, ...]:
    """The languages an ``Accept-Language`` header accepts, best first (quality 0 left out).
    Remembered per header: browsers send a handful of distinct ones, and parsing it costs more
    than the rest of choosing a page's language."""
    return tuple(value for value, quality in parse_accept_header(header or None, LanguageAccept)
                 if quality > 0)


class Pages:
    """The registrant's pages of one app: its templates (compiled at start), its state (the
    settings, catalogs and clock a page depends on) and the headers every page carries, built
    once but for the nonce. Needs no request or app context."""

    def __init__(self, templates: PageTemplates, state: AppState, url_map: Map) -> None:
        self.templates = templates
        self.state = state
        self.url_map = url_map            # the move route's address, built as url_for does
        self._csp_tail = (f"; img-src 'self' data:; form-action 'self' "
                          f"{_zoom_origins(state.config)}; base-uri 'none'; "
                          "frame-ancestors 'none'")
        # Built-in pages rendered once per meeting, language and outcome with markers where
        # the per-request values go (PageSkeleton); none when the organizer has pages of
        # their own (their templates are rendered every time).
        self._skeletons: dict[Any, PageSkeleton | None] | None = (
            None if templates.organizer_pages or state.catalogs.formats_values else {})
        self._anonymous_skeletons = 0      # of them, pages without a meeting (see _skeleton)
        templates.compile_all()

    def answer(self, page: str, status: int, facts: PageRequest, nonce: str | None = None,
               **context: Any) -> Answer:
        """One of PAGES with ``status`` and the headers every page carries; ``nonce`` the
        response's CSP nonce (a fresh one when None)."""
        nonce = nonce or new_nonce()
        body = self.render(page, status, facts, nonce, **context).encode()
        return Answer(status, [("Content-Type", PAGE_CONTENT_TYPE),
                               ("Content-Length", str(len(body))),
                               ("Content-Security-Policy", self.csp(nonce)), *PAGE_HEADERS],
                      body)

    def render(self, page: str, status: int, facts: PageRequest, nonce: str,
               **context: Any) -> str:
        """The HTML of one of PAGES, in the page's language and the meeting's time zone
        (:meth:`language`). The template sees ``page``, ``status``, ``i18n``, ``nonce``, the
        meeting's view (never its passcode), the extras of :meth:`_extras` and ``context``.

        A built-in page of SKELETON_PAGES is rendered once per everything it depends on but
        the request's own values (:class:`PageSkeleton`), and those values are written into
        it: the same text as rendering it again, in 13 us of CPU instead of 295 (confirm)."""
        assert page in PAGES, page
        if self._skeletons is not None and page in SKELETON_PAGES:
            skeleton, values = self._skeleton(page, status, facts, nonce, context)
            if skeleton is not None:
                return skeleton.fill(values)
        return self._render(page, status, facts, nonce, **context)

    def _skeleton(self, page: str, status: int, facts: PageRequest, nonce: str,
                  context: dict[str, Any]) -> tuple[PageSkeleton | None, tuple[str, ...]]:
        """The page's skeleton (made on first use; None when the page cannot have one) and
        this request's values for its slots (SLOTS' order)."""
        assert self._skeletons is not None
        display_name = context.get("display_name")
        if not isinstance(display_name, str | None) or not URL_SAFE.fullmatch(facts.token):
            return None, ()
        values = (nonce, display_name or "", facts.path, facts.token)
        meeting = context.get("meeting")
        key = (page, status, meeting, self.language(meeting, facts.accept_language),
               facts.script_root, "display_name" in context,
               tuple(bool(value) for value in values),
               tuple(sorted((name, value) for name, value in context.items()
                            if name not in ("meeting", "display_name"))))
        try:
            skeleton = self._skeletons[key]
        except KeyError:
            # Full: rendered every time, as without skeletons; nothing is evicted, so requests
            # that anyone can send (another Accept-Language, a junk token) never make a
            # registrant's page be rendered twice over again. Pages without a meeting have a
            # budget of their own.
            if len(self._skeletons) >= MAX_SKELETONS or (
                    meeting is None and self._anonymous_skeletons >= MAX_ANONYMOUS_SKELETONS):
                return None, ()
            self._anonymous_skeletons += meeting is None
            skeleton = self._skeletons[key] = self._make_skeleton(page, status, facts,
                                                                  context, values)
        except TypeError:             # a value the key cannot hold (Flask's error handlers)
            return None, ()
        return skeleton, values

    def _make_skeleton(self, page: str, status: int, facts: PageRequest,
                       context: dict[str, Any], values: tuple[str, ...]) -> PageSkeleton | None:
        """Render the page twice, with two sets of markers in its slots (the second full of
        characters HTML escapes), and keep the first split at its markers when writing the
        second set into it gives exactly the second page: every slot is then written as the
        template writes it (escaped, once, whatever the value) and nothing else depends on
        it but whether it is empty (part of the key). None otherwise: rendered every time."""
        pages = []
        for markers in SLOT_MARKERS:
            used = tuple(marker if value else "" for marker, value in zip(markers, values))
            page_context = dict(context)
            if "display_name" in context:
                page_context["display_name"] = used[1] or context["display_name"]
            pages.append((used, self._render(
                page, status, PageRequest(facts.script_root, used[2] or facts.path,
                                          facts.accept_language, used[3] or facts.token),
                used[0] or "", **page_context)))
        (first, html), (second, expected) = pages
        skeleton = PageSkeleton.split(html, first)
        if skeleton is None or skeleton.fill(second) != expected:
            log.info("page %s (%d) is rendered for every request: its per-request values "
                     "are not written as plain escaped text", page, status)
            return None
        return skeleton

    def _render(self, page: str, status: int, facts: PageRequest, nonce: str,
                **context: Any) -> str:
        """:meth:`render` without the skeletons: the template, every time."""
        meeting: Meeting | None = context.pop("meeting", None)
        language = self.language(meeting, facts.accept_language)
        context = {name: _localized(value, language) for name, value in context.items()}
        for name, value in self._extras(page, status, facts, context).items():
            context.setdefault(name, value)
        view = self._meeting_view(meeting, language, facts)
        if page == "used_elsewhere":
            context.setdefault("move_url", view["move_url"])
        context.update(page=page, status=status, i18n=language, nonce=nonce, meeting=view)
        return self.templates.render(page, context)

    def csp(self, nonce: str) -> str:
        """The Content-Security-Policy of a page: its ``form-action`` admits the Zoom hosts,
        since browsers apply it to the redirect that follows the claim form."""
        return (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'"
                f"{self._csp_tail}")

    def language(self, meeting: Meeting | None, accept_language: str) -> PageLanguage:
        """The page's language: the meeting's, else the browser's ``Accept-Language`` (best
        first) where a catalog serves it, else English; its times in the meeting's zone."""
        return self.state.catalogs.speak(meeting.language if meeting else "",
                                         meeting.timezone if meeting else "",
                                         accepted_languages(accept_language))

    def _meeting_view(self, meeting: Meeting | None, language: PageLanguage,
                      facts: PageRequest) -> dict[str, Any]:
        """What a page may show of the meeting (never the passcode): topic, start, the support
        contact (``support_parts``: tappable pieces; the server's ``SUPPORT`` when the meeting
        has none or is unknown), and the options its promises depend on: ``rejoin``,
        ``max_devices``, ``move_url`` (the self-service move's form action; "" when moves are
        off)."""
        support = (meeting.support if meeting else "") or self.state.config.support
        view: dict[str, Any] = {"support": support, "support_parts": contact_parts(support),
                                "topic": "", "start": None, "auto_submit": False,
                                "rejoin": True, "max_devices": 1,
                                "language": language.identifier, "timezone": "",
                                "move_url": ""}
        if meeting is not None:
            view.update(topic=meeting.topic, start=language.time(meeting.start),
                        auto_submit=meeting.auto_submit, rejoin=meeting.rejoin,
                        max_devices=meeting.max_devices, timezone=meeting.timezone or "UTC",
                        move_url=self._move_url(meeting, facts))
        return view

    def _move_url(self, meeting: Meeting, facts: PageRequest) -> str:
        """Where the 409 page's "Use this device instead" button posts: "" (no button) unless
        codes can be mailed and the meeting allows moves (joingate/moving.py)."""
        from .moving import self_service_ready

        if not facts.token or meeting.max_moves <= 0 or not self_service_ready(
                self.state.config):
            return ""
        adapter = self.url_map.bind("", script_name=facts.script_root or "/")
        return adapter.build("move.request_move", {"token": facts.token})

    def _extras(self, page: str, status: int, facts: PageRequest,
                context: dict[str, Any]) -> dict[str, Any]:
        """Context every built-in page may use: ``retry_url`` (a GET of the same link, never a
        re-POST), ``refresh_after`` (too_early: seconds until the link opens, when within a
        day), ``retry_minutes`` (429: how long invalid links stay refused), ``signed`` and
        ``bound_here`` (False unless the gate says otherwise)."""
        extras: dict[str, Any] = {"retry_url": facts.script_root + facts.path,
                                  "signed": False, "bound_here": False, "refresh_after": None}
        opens = context.get("at")
        if page == "too_early" and isinstance(opens, PageTime):
            wait = seconds_until(opens.ts, self.state.clock())
            extras["refresh_after"] = wait if wait <= MAX_REFRESH else None
        if status == 429:
            extras["retry_minutes"] = max(
                1, math.ceil(self.state.config.invalid_token_window / 60))
        return extras


# The pages that keep a skeleton: too_early's reload delay follows the clock, and the move pages
# are not on the path a class start loads.
SKELETON_PAGES = frozenset(PAGES) - {"too_early", "move_sent", "move_refused"}
MAX_SKELETONS = 1024     # per process; a page is ~6 KB: a meeting has a few (outcome x language)
MAX_ANONYMOUS_SKELETONS = 128    # of them, pages without a meeting (invalid, unavailable)
# A page's per-request values, in this order: the CSP nonce, the registrant's display name, the
# request's path (the retry link) and the link's token (the move route's address). The second
# set of markers is full of what HTML escapes; a token is URL-safe (a page of any other token is
# rendered every time), so its markers are too.
SLOTS = ("nonce", "display_name", "path", "token")
SLOT_MARKERS = (
    ("\ue000jg-nonce-a\ue001", "\ue000jg-name-a\ue001", "\ue000jg-path-a\ue001",
     "Jg0Token0Marker0A"),
    ("\ue000jg<nonce>&\"b\ue001", "\ue000jg<b>'name'&amp;\ue001", "\ue000jg/<path>\"b\ue001",
     "Jg0Token0Marker0B"),
)
URL_SAFE = re.compile(r"[A-Za-z0-9_.\-]*")


@dataclass(frozen=True, slots=True)
class PageSkeleton:
    """A rendered page cut at its per-request values: ``parts`` of text between ``slots``
    (indexes into SLOTS' values). :meth:`fill` writes each value HTML-escaped, as the template's
    ``{{ value }}`` does."""

    parts: tuple[str, ...]
    slots: tuple[int, ...]

    @classmethod
    def split(cls, html: str, markers: tuple[str, ...]) -> PageSkeleton | None:
        """``html`` cut at ``markers`` (a page rendered with them in its slots); None when a
        marker shows up changed (a filter applied to it), so cannot be found whole."""
        used = {marker: index for index, marker in enumerate(markers) if marker}
        if not used:
            return cls((html,), ())
        pieces = re.split("(" + "|".join(map(re.escape, used)) + ")", html)
        if "\ue000" in "".join(pieces[::2]):      # a marker the template changed
            return None
        return cls(tuple(pieces[::2]), tuple(used[marker] for marker in pieces[1::2]))

    def fill(self, values: tuple[str, ...]) -> str:
        """The page with ``values`` (SLOTS' order) in its slots."""
        escaped = [str(escape(value)) for value in values]
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:]):
            out += (escaped[slot], part)
        return "".join(out)


def pages_of(app: Flask) -> Pages:
    return app.extensions["joingate_registrant_pages"]


def page_language(meeting: Meeting | None) -> PageLanguage:
    """The language of a page for the Flask request being answered (:meth:`Pages.language`)."""
    return pages_of(current_app).language(meeting, request.headers.get("Accept-Language", ""))


def request_facts() -> PageRequest:
    """The page facts of the Flask request being answered."""
    return PageRequest(request.script_root, request.path,
                       request.headers.get("Accept-Language", ""),
                       str((request.view_args or {}).get("token", "")))


def render_page(page: str, status: int, **context: Any) -> Response:
    """Render one of PAGES with ``status`` and the headers every page carries, in the page's
    language and the meeting's time zone (:meth:`Pages.language`), for the Flask request being
    answered."""
    return to_response(pages_of(current_app).answer(page, status, request_facts(), _nonce(),
                                                    **context))


def to_response(answer: Answer) -> Response:
    """An :class:`Answer` as a Flask response (the same status, headers and body)."""
    return Response(answer.body, status=answer.status, headers=answer.headers)


def with_page_headers(response: Response) -> Response:
    """Give a Flask response the headers every page carries."""
    response.headers["Content-Security-Policy"] = pages_of(current_app).csp(_nonce())
    for name, value in PAGE_HEADERS:
        response.headers[name] = value
    return response


def format_time(ts: float | str | None) -> PageTime | None:
    """A moment for a page (``.iso``, ``.text``; ``{{ at }}`` writes a ``<time>``). Written in
    English and UTC here; :meth:`Pages.render` rewrites it in the page's language and zone."""
    if ts in (None, ""):
        return None
    assert ts is not None
    return ENGLISH.time(ts)


# What a page says depends on (issue 19): its language, the meeting's zone, the meeting's
# options, the support contact (Pages above).

MAX_REFRESH = 86400   # too_early reloads itself only when the link opens within a day


def _localized(value: Any, language: PageLanguage) -> Any:
    return language.time(value.ts) if isinstance(value, PageTime) else value


# Machine routes' answers

def json_error_body(code: str, message: str, details: list | None = None) -> bytes:
    """The one error shape of every machine route: ``{"error", "message", "details"}``."""
    return json.dumps({"error": code, "message": message, "details": details or []},
                      ensure_ascii=False).encode()


def json_error_answer(status: int, code: str, message: str,
                      details: list | None = None) -> Answer:
    """:func:`json_error_body` as an :class:`Answer`."""
    body = json_error_body(code, message, details)
    return Answer(status, [("Content-Type", "application/json"),
                           ("Content-Length", str(len(body)))], body)


def json_answer(payload: dict[str, Any]) -> Answer:
    """200 with ``payload`` as Flask's ``jsonify`` writes it (sorted keys, compact, a newline)."""
    body = (json.dumps(payload, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
            + "\n").encode()
    return Answer(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                  body)


def json_error(status: int, code: str, message: str, details: list | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """:func:`json_error_body` as a Flask response."""
    response = Response(json_error_body(code, message, details), status=status,
                        mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/readyz", "/healthz"))


def declares_too_large(content_length: int | None, limit: int | None) -> bool:
    """True when a request declares a body over ``limit`` (MAX_BODY_BYTES; 0: no limit).
    Werkzeug enforces the limit only when a body is read; the claim never reads its body, so
    a declared length over it is refused before any work."""
    return (content_length or 0) > (limit or 0) > 0


def note_storage_unavailable(metrics: Any, method: str, path: str, exc: Exception,
                             request_id: str) -> None:
    """Count and log a request that found Redis down; ``path`` is already redacted."""
    metrics.redis_errors.inc()
    log.warning("storage unavailable on %s %s: %s", method, path, exc,
                extra={"event": "redis_unavailable", "request_id": request_id})


class ChunkedBodyLimit:
    """WSGI middleware: a body sent without a length (``Transfer-Encoding: chunked``) is read
    here, at most one byte past ``limit``, and handed on with its ``Content-Length``; so the one
    413 check (:func:`declares_too_large`) sees it as it sees any other body. (Werkzeug alone
    would cut such a body to the limit without a word.)"""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (self.limit > 0 and not environ.get("CONTENT_LENGTH")
                and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
            stream, wanted, parts = environ["wsgi.input"], self.limit + 1, []
            while wanted > 0:
                part = stream.read(min(wanted, 65536))
                if not part:
                    break
                parts.append(part)
                wanted -= len(part)
            body = b"".join(parts)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]   # werkzeug ignores a length beside it
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    """The pages (sandboxed templates with gettext: :func:`joingate.i18n.install`), and the
    error handlers: one place turns errors into pages (or JSON for machine routes). The
    ChunkedBodyLimit goes around the whole WSGI stack in create_app (the lean front too)."""
    templates = PageTemplates(builtin_template_dir(), app.config["JOINGATE"].template_dir)
    app.extensions["joingate_pages"] = templates          # the dashboard's pages use them too
    app.extensions["joingate_registrant_pages"] = Pages(templates, app.extensions["joingate"],
                                                        app.url_map)

    @app.before_request
    def refuse_large_bodies() -> None:
        if declares_too_large(request.content_length, app.config["MAX_CONTENT_LENGTH"]):
            abort(413)

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(exc: StorageUnavailable) -> Response:
        from .observability import metrics, redacted_path

        note_storage_unavailable(metrics(), request.method, redacted_path(), exc,
                                 g.get("request_id", ""))
        if wants_json():
            response = json_error(503, "unavailable", "storage is unavailable; try again "
                                  "shortly")
        else:
            response = render_page("unavailable", 503)
        response.headers["Retry-After"] = STORAGE_RETRY_AFTER
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if wants_json():
            response = json_error(exc.code or 500, exc.name.lower().replace(" ", "_"),
                                  exc.description or "")
            for name, value in exc.get_headers():
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value   # Allow on 405, Retry-After, ...
            return response
        if exc.code == 404 or request.path.startswith("/j/"):
            page = render_page("invalid", exc.code or 404)
            for name, value in exc.get_headers():
                if name == "Allow":      # on 405, as the lean front's: the methods it takes
                    page.headers[name] = value
            return page
        return Response(exc.get_body(), status=exc.code or 500,
                        headers=list(exc.get_headers()))
