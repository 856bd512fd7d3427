"""The lean front: a bare WSGI callable in front of the Flask app. It answers the registrant's
link, ``/j/<token>``, itself, through :class:`joingate.gate.Gate`, and hands every other request
to Flask untouched.

Why: the gate's own work (verify the token, one Redis round trip, render or redirect, the cookie,
one log line, metrics) costs less than Flask's and Werkzeug's per-request machinery (request
and app contexts, routing, hooks, response objects); the class start is the load that matters
(docs/benchmarks.md).

What a link request gets here is what Flask gave it: the same status, headers and pages; the
request id (``X-Request-ID`` kept when well formed, made otherwise) and one JSON log line
(:func:`joingate.observability.log_request`, the link named by its id, never its token); the
``opens``/``claims`` counters and the latency histogram; 413 for a declared body over
MAX_BODY_BYTES; 503 with the unavailable page when Redis is down; 405 for other methods;
500 with the invalid page, logged without the token, for anything unexpected; OPTIONS
answered with the methods allowed. ProxyFix
(PROXY_HOPS) wraps this front, so the client address is the one it trusts. Paths under ``/j/``
that are not one token (``/j/``, ``/j//x``, ``/j/<token>/more``) go to Flask.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES, parse_cookie
from werkzeug.wsgi import get_content_length

from .errors import StorageUnavailable
from .gate import DEVICE_COOKIE, Answer, Gate, Visit
from .observability import REQUEST_ID_HEADER, Metrics, log_request, request_id_for
from .pages import STORAGE_RETRY_AFTER, declares_too_large, note_storage_unavailable, pages_of

log = logging.getLogger("joingate.fastgate")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LINK_PREFIX = "/j/"
ROUTE = "/j/<path:token>"            # the latency histogram's route label, as Flask named it
MODES = {"GET": "open", "HEAD": "open", "POST": "claim"}
ALLOW = "GET, POST, HEAD, OPTIONS"  # as Flask listed them
# Werkzeug's status lines ("303 SEE OTHER"), made once.
STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}


class LeanFront:
    """WSGI: ``/j/<token>`` answered by the gate, everything else by ``app`` (Flask)."""

    def __init__(self, app: Flask, gate: Gate, metrics: Metrics) -> None:
        self.flask: WSGIApp = app.wsgi_app
        self.gate = gate
        self.metrics = metrics
        self.max_body: int | None = app.config["MAX_CONTENT_LENGTH"]

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(LINK_PREFIX):
            # PATH_INFO is bytes read as latin-1; Werkzeug reads them again as UTF-8.
            token = path[len(LINK_PREFIX):].encode("latin-1").decode("utf-8", "replace")
            if token and "/" not in token:
                return self.link(environ, start_response, token)
        return self.flask(environ, start_response)

    def link(self, environ: dict[str, Any], start_response: Callable[..., Any],
             token: str) -> Iterable[bytes]:
        """Answer one request for a link: see the module's docstring for what it keeps."""
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        mode = MODES.get(method)
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        cookies = environ.get("HTTP_COOKIE")
        visit = Visit(mode or "", token, parse_cookie(cookies).get(DEVICE_COOKIE)
                      if cookies else None, environ.get("REMOTE_ADDR") or "",
                      environ.get("HTTP_USER_AGENT", ""))
        try:
            answer = self._answer(environ, method, visit)
        except StorageUnavailable as exc:
            note_storage_unavailable(self.metrics, method, _redacted(visit), exc, request_id)
            answer = self.gate.page("unavailable", 503)
            answer.headers.append(("Retry-After", STORAGE_RETRY_AFTER))
        except Exception:
            log.exception("unhandled error on %s %s", method, _redacted(visit),
                          extra={"event": "error", "request_id": request_id})
            answer = self.gate.page("invalid", 500)
        answer.headers.append((REQUEST_ID_HEADER, request_id))
        start_response(STATUS_LINES[answer.status], answer.headers)
        elapsed = time.perf_counter() - started
        self.metrics.child("latency", ROUTE, method if mode else "other").observe(elapsed)
        log_request(request_id, method, _redacted(visit), answer.status, elapsed, visit.ip,
                    visit.outcome)
        return [] if method == "HEAD" else [answer.body]

    def _answer(self, environ: dict[str, Any], method: str, visit: Visit) -> Answer:
        if method == "OPTIONS":
            return Answer(200, [("Content-Type", "text/html; charset=utf-8"), ("Allow", ALLOW),
                                ("Content-Length", "0")])
        if not visit.mode:
            answer = self.gate.page("invalid", 405)
            answer.headers.append(("Allow", ALLOW))
            return answer
        if declares_too_large(get_content_length(environ), self.max_body):
            return self.gate.page("invalid", 413)
        answer = self.gate.answer(visit)
        self.metrics.child("opens" if visit.mode == "open" else "claims", visit.outcome).inc()
        return answer


def _redacted(visit: Visit) -> str:
    """The path fit for a log: the link named by its id (``invalid`` until the token verified)."""
    return LINK_PREFIX + (visit.link_id or "invalid")


def init_app(app: Flask) -> None:
    """Put the lean front around the app's WSGI callable (before any ProxyFix, which must stay
    outermost)."""
    gate = Gate(app.extensions["joingate"], pages_of(app))
    app.wsgi_app = LeanFront(app, gate, app.extensions["joingate_metrics"])  # type: ignore
