"""The registrant's pages: which template, which status, which headers, chosen in one place.

Every page is a template the organizer may override through ``TEMPLATE_DIR``. Pages work without
JavaScript and carry a Content-Security-Policy whose ``form-action`` admits the Zoom hosts, since
browsers apply it to the redirect that follows the claim form.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, g, request
from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound
from werkzeug.exceptions import HTTPException

from .errors import StorageUnavailable
from .records import Meeting
from .times import iso_utc, page_time

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


PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
STORAGE_RETRY_AFTER = "5"         # seconds, on every 503 for Redis being down
# The headers every page carries besides its Content-Security-Policy.
PAGE_HEADERS = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                ("X-Content-Type-Options", "nosniff"))


def new_nonce() -> str:
    """A fresh CSP nonce: one per response that has a page."""
    return secrets.token_urlsafe(16)


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = new_nonce()
    return g.csp_nonce


def _zoom_origins(config: dict[str, Any]) -> str:
    web = urlsplit(config["ZOOM_WEB_HOST"])
    return f"{web.scheme}://{web.netloc} https://*.{config['ZOOM_JOIN_DOMAIN']}"


class Pages:
    """The registrant's pages of one app: its templates (the organizer's first, compiled once
    by Jinja and kept) and the headers every page carries, built once but for the nonce.

    :meth:`render` is the one way a page is made, for Flask's error handlers
    (:func:`render_page`) and for the lean front of ``/j/`` (:mod:`joingate.fastgate`) alike.
    It needs no request or app context."""

    def __init__(self, app: Flask) -> None:
        self.environment = app.jinja_env
        self.builtin_folder = app.template_folder
        config = app.config["JOINGATE"]
        self._csp_tail = (f"; img-src 'self' data:; form-action 'self' {_zoom_origins(config)}; "
                          "base-uri 'none'; frame-ancestors 'none'")
        for page in PAGES:            # compile now, not on a registrant's first request
            try:
                self.environment.get_template(f"{page}.html")
            except TemplateError:
                pass                  # a broken organizer page: render() falls back and logs

    def render(self, page: str, nonce: str, **context: Any) -> bytes:
        """The HTML of one of PAGES, encoded. The template sees ``page``, ``nonce``, the
        meeting's view (never its passcode) and ``context``; an organizer's template that
        fails is logged and the built-in page is used instead."""
        assert page in PAGES, page
        meeting: Meeting | None = context.pop("meeting", None)
        context.update(page=page, meeting=_meeting_view(meeting), nonce=nonce)
        try:
            body = self.environment.get_template(f"{page}.html").render(context)
        except TemplateError as exc:
            # An organizer's broken template must not turn a class start into 500s.
            log.error("template %s.html failed (%s); using the built-in page", page, exc)
            builtin = self.environment.overlay(loader=FileSystemLoader(self.builtin_folder))
            body = builtin.get_template(f"{page}.html").render(context)
        return body.encode()

    def headers(self, length: int, nonce: str) -> list[tuple[str, str]]:
        """The headers of a page of ``length`` bytes whose inline style and script carry
        ``nonce``."""
        return [("Content-Type", PAGE_CONTENT_TYPE), ("Content-Length", str(length)),
                ("Content-Security-Policy", self.csp(nonce)), *PAGE_HEADERS]

    def csp(self, nonce: str) -> str:
        """The Content-Security-Policy of a page: its ``form-action`` admits the Zoom hosts,
        since browsers apply it to the redirect that follows the claim form."""
        return (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'"
                f"{self._csp_tail}")


def pages_of(app: Flask) -> Pages:
    return app.extensions["joingate_pages"]


def render_page(page: str, status: int, **context: Any) -> Response:
    """Render one of PAGES with ``status`` and the headers every page carries (in a request)."""
    pages = pages_of(current_app)
    nonce = _nonce()
    body = pages.render(page, nonce, **context)
    return Response(body, status=status, headers=pages.headers(len(body), nonce))


def with_page_headers(response: Response) -> Response:
    """Give a Flask response the headers every page carries."""
    pages = pages_of(current_app)
    response.headers["Content-Security-Policy"] = pages.csp(_nonce())
    for name, value in PAGE_HEADERS:
        response.headers[name] = value
    return response


def format_time(ts: float | str | None) -> dict[str, str]:
    if ts in (None, ""):
        return {"iso": "", "text": ""}
    assert ts is not None
    return {"iso": iso_utc(ts), "text": page_time(ts)}


def _meeting_view(meeting: Meeting | None) -> dict[str, Any]:
    """What a page may show of the meeting (never the passcode)."""
    if meeting is None:
        return {"topic": "", "support": "", "start": format_time(None), "auto_submit": False}
    return {"topic": meeting.topic, "support": meeting.support,
            "start": format_time(meeting.start), "auto_submit": meeting.auto_submit}


@dataclass(slots=True)
class Answer:
    """A response made without Flask (the lean front's routes): status, headers, body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_error_body(code: str, message: str, details: list | None = None) -> bytes:
    """The one error shape of every machine route: ``{"error", "message", "details"}``."""
    return json.dumps({"error": code, "message": message, "details": details or []},
                      ensure_ascii=False).encode()


def json_error_answer(status: int, code: str, message: str,
                      details: list | None = None) -> Answer:
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


def init_app(app: Flask) -> None:
    """The app's pages, and its error handlers: one place turns errors into pages (or JSON
    for machine routes)."""
    app.extensions["joingate_pages"] = Pages(app)

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
            return render_page("invalid", exc.code or 404)
        return exc.get_response()
