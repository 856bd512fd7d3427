"""The registrant's pages: which template, which status, which headers, chosen in one place.

Every page is a template the organizer may override through ``TEMPLATE_DIR``. Pages are rendered
in Jinja's SandboxedEnvironment with no globals and only the documented context (PAGE_CONTEXT in
the README): an organizer template reaches no setting, secret, request or Python object, and
one that fails for any reason gives way to the built-in page. Pages work without JavaScript and
carry a Content-Security-Policy whose ``form-action`` admits the Zoom hosts, since browsers
apply it to the redirect that follows the claim form.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from typing import Any, Callable, Iterable

from flask import Flask, Response, abort, current_app, g, request
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from werkzeug.exceptions import HTTPException

from .errors import StorageUnavailable
from .service import utc_datetime
from .zoom.urls import redirect_origins

log = logging.getLogger("joingate.pages")

PAGES = ("confirm", "too_early", "used_elsewhere", "revoked", "expired", "invalid",
         "unavailable")


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
    HTML autoescaped, and no globals at all (Jinja's ``cycler``, ``lipsum``, ``range``...;
    Flask's ``config``, ``request``, ``url_for`` are never added)."""
    environment = SandboxedEnvironment(loader=loader, autoescape=True)
    environment.globals.clear()
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


def _zoom_origins(config: dict[str, Any]) -> str:
    """The CSP sources of every redirect a claim may make (zoom.urls.redirect_origins: the same
    settings, the same rule as the join URL check; ``https://*.zoom.us`` alone would not admit
    the bare ``https://zoom.us``)."""
    return " ".join(redirect_origins(config["ZOOM_WEB_HOST"], config["ZOOM_JOIN_DOMAIN"]))


def render_page(page: str, status: int, **context: Any) -> Response:
    """Render one of PAGES with ``status`` and the headers every page carries."""
    assert page in PAGES, page
    meeting = context.pop("meeting", None) or {}
    context.update(page=page, meeting=_meeting_view(meeting), nonce=_nonce())
    body = current_app.extensions["joingate_pages"].render(page, context)
    response = Response(body, status=status, mimetype="text/html")
    return with_page_headers(response)


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


def format_time(ts: float | str | None) -> dict[str, str]:
    if ts in (None, ""):
        return {"iso": "", "text": ""}
    moment = utc_datetime(ts)
    return {"iso": moment.isoformat().replace("+00:00", "Z"),
            "text": moment.strftime("%A %d %B %Y, %H:%M UTC")}


def _meeting_view(fields: dict[str, str]) -> dict[str, Any]:
    return {"topic": fields.get("topic", ""), "support": fields.get("support", ""),
            "start": format_time(fields.get("start")),
            "auto_submit": fields.get("auto_submit") == "1"}


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
    """The page templates, and the error handlers: one place turns errors into pages (or JSON
    for machine routes)."""
    app.extensions["joingate_pages"] = PageTemplates(
        app.template_folder, app.config["JOINGATE"]["TEMPLATE_DIR"])  # type: ignore[arg-type]
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
            response = Response('{"error": "unavailable", "message": "storage is unavailable; '
                                'try again shortly", "details": []}', status=503,
                                mimetype="application/json")
        else:
            response = render_page("unavailable", 503)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if wants_json():
            import json

            response = Response(json.dumps({"error": exc.name.lower().replace(" ", "_"),
                                            "message": exc.description, "details": []}),
                                status=exc.code, mimetype="application/json")
            for name, value in exc.get_headers():
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value   # Allow on 405, Retry-After, ...
            return response
        if exc.code == 404 or request.path.startswith("/j/"):
            return render_page("invalid", exc.code or 404)
        return exc.get_response()
