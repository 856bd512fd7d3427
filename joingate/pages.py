"""The registrant's pages: which template, which status, which headers, chosen in one place.

Every page is a template the organizer may override through ``TEMPLATE_DIR``. Pages are rendered
in Jinja's SandboxedEnvironment with no globals and only the documented context (PAGE_CONTEXT in
the README): an organizer template reaches no setting, secret, request or Python object, and
one that fails for any reason gives way to the built-in page. Pages work without JavaScript and
carry a Content-Security-Policy whose ``form-action`` admits the Zoom hosts, since browsers
apply it to the redirect that follows the claim form.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import math
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, g, request, url_for
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from werkzeug.exceptions import HTTPException

from .config import Settings
from .contact import contact_parts
from .errors import StorageUnavailable
from .i18n import ENGLISH, PageLanguage, PageTime, choose_language, seconds_until
from .i18n import install as install_gettext
from .records import Meeting
from .zoom.urls import redirect_origins

log = logging.getLogger("joingate.pages")

PAGES = ("confirm", "too_early", "used_elsewhere", "revoked", "expired", "invalid",
         "unavailable", "move_sent", "move_refused")


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
    first; they may extend or include the built-in ones)."""

    def __init__(self, builtin_dir: str, organizer_dir: str = "") -> None:
        self.builtin = sandbox(FileSystemLoader(builtin_dir))
        self.organizer = sandbox(ChoiceLoader([OrganizerTemplateLoader(organizer_dir),
                                               FileSystemLoader(builtin_dir)])
                                 ) if organizer_dir else None

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


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _zoom_origins(config: Settings) -> str:
    """The CSP sources of every redirect a claim may make (zoom.urls.redirect_origins: the same
    settings, the same rule as the join URL check; ``https://*.zoom.us`` alone would not admit
    the bare ``https://zoom.us``)."""
    return " ".join(redirect_origins(config.zoom_web_host, config.zoom_join_domain))


def render_page(page: str, status: int, **context: Any) -> Response:
    """Render one of PAGES with ``status`` and the headers every page carries, in the page's
    language and the meeting's time zone (:func:`page_language`)."""
    assert page in PAGES, page
    meeting: Meeting | None = context.pop("meeting", None)
    language = page_language(meeting)
    context = {name: _localized(value, language) for name, value in context.items()}
    for name, value in _page_extras(page, status, context).items():
        context.setdefault(name, value)
    view = _meeting_view(meeting, language)
    if page == "used_elsewhere":
        context.setdefault("move_url", view["move_url"])
    context.update(page=page, status=status, i18n=language, nonce=_nonce(), meeting=view)
    body = current_app.extensions["joingate_pages"].render(page, context)
    response = Response(body, status=status, mimetype="text/html")
    return with_page_headers(response)


def _move_url(meeting: Meeting | None) -> str:
    """Where the 409 page's "Use this device instead" button posts: "" (no button) unless
    codes can be mailed and the meeting allows moves (joingate/moving.py)."""
    from .moving import self_service_ready

    token = (request.view_args or {}).get("token")
    allowed = meeting is not None and meeting.max_moves > 0
    if not token or not allowed or not self_service_ready(current_app.config["JOINGATE"]):
        return ""
    return url_for("move.request_move", token=token)


def with_page_headers(response: Response) -> Response:
    config = current_app.config["JOINGATE"]
    nonce = _nonce()
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        f"img-src 'self' data:; form-action 'self' {_zoom_origins(config)}; "
        "base-uri 'none'; frame-ancestors 'none'")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def format_time(ts: float | str | None) -> PageTime | None:
    """A moment for a page (``.iso``, ``.text``; ``{{ at }}`` writes a ``<time>``). Written in
    English and UTC here; :func:`render_page` rewrites it in the page's language and zone."""
    if ts in (None, ""):
        return None
    assert ts is not None
    return ENGLISH.time(ts)


# What a page says depends on (issue 19): its language, the meeting's zone, the meeting's
# options, the support contact. Kept apart from the rendering above.

MAX_REFRESH = 86400   # too_early reloads itself only when the link opens within a day


def page_language(meeting: Meeting | None) -> PageLanguage:
    """The page's language: the meeting's, else the browser's ``Accept-Language`` (best first)
    where a catalog serves it, else English; its times in the meeting's zone."""
    catalogs = current_app.extensions["joingate"].catalogs
    accepted = [value for value, quality in request.accept_languages if quality > 0]
    identifier = choose_language(meeting.language if meeting else "", accepted,
                                 catalogs.languages)
    return PageLanguage(identifier, catalogs.translations(identifier),
                        meeting.timezone if meeting else "")


def _localized(value: Any, language: PageLanguage) -> Any:
    return language.time(value.ts) if isinstance(value, PageTime) else value


def _meeting_view(meeting: Meeting | None,
                  language: PageLanguage = ENGLISH) -> dict[str, Any]:
    """What a page may show of the meeting (never the passcode): topic, start, the support
    contact (``support_parts``: tappable pieces; the server's ``SUPPORT`` when the meeting has
    none or is unknown), and the options its promises depend on: ``rejoin``, ``max_devices``,
    ``move_url`` (the self-service move's form action; "" when moves are off)."""
    support = (meeting.support if meeting else "") or current_app.config["JOINGATE"].support
    view: dict[str, Any] = {"support": support, "support_parts": contact_parts(support),
                            "topic": "", "start": None, "auto_submit": False, "rejoin": True,
                            "max_devices": 1, "language": language.identifier,
                            "timezone": "", "move_url": ""}
    if meeting is not None:
        view.update(topic=meeting.topic, start=language.time(meeting.start),
                    auto_submit=meeting.auto_submit, rejoin=meeting.rejoin,
                    max_devices=meeting.max_devices, timezone=meeting.timezone or "UTC",
                    move_url=_self_service_move(meeting))
    return view


def _self_service_move(meeting: Meeting) -> str:
    """Where a registrant moves their link to this browser without the organizer (the 409
    page's "Use this device instead" button, :func:`_move_url`); "" when the page offers none."""
    return _move_url(meeting)


def _page_extras(page: str, status: int, context: dict[str, Any]) -> dict[str, Any]:
    """Context every built-in page may use: ``retry_url`` (a GET of the same link, never a
    re-POST), ``refresh_after`` (too_early: seconds until the link opens, when within a day),
    ``retry_minutes`` (429: how long invalid links stay refused), ``signed`` and
    ``bound_here`` (False unless the gate says otherwise)."""
    state = current_app.extensions["joingate"]
    extras: dict[str, Any] = {"retry_url": request.script_root + request.path,
                              "signed": False, "bound_here": False, "refresh_after": None}
    opens = context.get("at")
    if page == "too_early" and isinstance(opens, PageTime):
        wait = seconds_until(opens.ts, state.clock())
        extras["refresh_after"] = wait if wait <= MAX_REFRESH else None
    if status == 429:
        extras["retry_minutes"] = max(1, math.ceil(state.config.invalid_token_window / 60))
    return extras


def json_error(status: int, code: str, message: str, details: list | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """The one error shape of every machine route: ``{"error", "message", "details"}``."""
    response = Response(json.dumps({"error": code, "message": message,
                                     "details": details or []}, ensure_ascii=False),
                        status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/readyz", "/healthz"))


class ChunkedBodyLimit:
    """WSGI middleware: a body sent without a length (``Transfer-Encoding: chunked``) is read
    here, at most one byte past ``limit``, and handed on with its ``Content-Length``; so the one
    413 check below sees it as it sees any other body. (Werkzeug alone would cut such a body to
    the limit without a word.)"""

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
    """The page templates (sandboxed, with gettext: :func:`joingate.i18n.install`), and the
    error handlers: one place turns errors into pages (or JSON for machine routes)."""
    app.extensions["joingate_pages"] = PageTemplates(builtin_template_dir(),
                                                     app.config["JOINGATE"].template_dir)
    app.wsgi_app = ChunkedBodyLimit(  # type: ignore[method-assign]
        app.wsgi_app, app.config["MAX_CONTENT_LENGTH"] or 0)

    @app.before_request
    def refuse_large_bodies() -> None:
        # Werkzeug enforces MAX_CONTENT_LENGTH only when a body is read; the claim never reads
        # its body, so a declared length over the limit is refused here, before any work.
        if (request.content_length or 0) > (app.config["MAX_CONTENT_LENGTH"] or 0) > 0:
            abort(413)

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(exc: StorageUnavailable) -> Response:
        from .observability import log_fields, metrics, redacted_path

        metrics().redis_errors.inc()
        log.warning("storage unavailable on %s %s: %s", request.method, redacted_path(), exc,
                    extra=log_fields(event="redis_unavailable"))
        if wants_json():
            response = json_error(503, "unavailable", "storage is unavailable; try again "
                                  "shortly")
        else:
            response = render_page("unavailable", 503)
        response.headers["Retry-After"] = "5"
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
            return render_page("invalid", exc.code or 404)
        return Response(exc.get_body(), status=exc.code or 500,
                        headers=list(exc.get_headers()))
