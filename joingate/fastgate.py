"""The lean front: a bare WSGI callable in front of the Flask app. It answers the two hot routes
itself: the registrant's link, ``/j/<token>`` (:class:`joingate.gate.Gate`), and Zoom's
deliveries, ``/webhooks/zoom`` (:class:`joingate.webhooks.ZoomWebhooks`); every other request
goes to Flask untouched.

Why: the work these routes must do (verify the token or the signature, one Redis round trip,
render or redirect, the cookie, one log line, metrics) costs less than Flask's and Werkzeug's
per-request machinery (request and app contexts, routing, hooks, response objects), and these
are the routes under load when a class starts (docs/benchmarks.md).

What a link request gets here is what Flask gave it: the same status, headers and pages; the
request id (``X-Request-ID`` kept when well formed, made otherwise) and one JSON log line
(:func:`joingate.observability.log_request`, the link named by its id, never its token); the
``opens``/``claims`` counters and the latency histogram; 413 for a declared body over
MAX_BODY_BYTES; 503 with the unavailable page when Redis is down; 405 (with Allow) for other
methods and OPTIONS answered with the methods allowed; 500 with the invalid page, logged
without the token, for anything unexpected. ProxyFix (PROXY_HOPS) wraps this front, so the
client address is the one it trusts. Paths under ``/j/`` that are not one token (``/j/``,
``/j//x``, ``/j/<token>/more``) go to Flask. The webhook endpoint answers in JSON as Flask's
handlers did (405 with Allow, 413, 503 with Retry-After, 500).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

from flask import Flask
from werkzeug.exceptions import InternalServerError, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES, parse_cookie
from werkzeug.wsgi import get_content_length, get_input_stream

from .errors import StorageUnavailable
from .gate import DEVICE_COOKIE, Gate, Visit
from .observability import REQUEST_ID_HEADER, Metrics, log_request, request_id_for
from .pages import (STORAGE_RETRY_AFTER, Answer, declares_too_large, json_error_answer,
                    note_storage_unavailable, pages_of)
from .webhooks import WEBHOOK_PATH, Delivery, ZoomWebhooks

log = logging.getLogger("joingate.fastgate")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LINK_PREFIX = "/j/"
ROUTE = "/j/<path:token>"            # the latency histogram's route label, as Flask named it
MODES = {"GET": "open", "HEAD": "open", "POST": "claim"}
LINK_METHODS = "GET, POST, HEAD, OPTIONS"    # Allow, as Flask listed them
WEBHOOK_METHODS = "POST, OPTIONS"
# Werkzeug's status lines ("303 SEE OTHER"), made once.
STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}


class LeanFront:
    """WSGI: ``/j/<token>`` answered by the gate, ``/webhooks/zoom`` by the webhook endpoint,
    everything else by ``app`` (Flask)."""

    def __init__(self, app: Flask, gate: Gate, webhooks: ZoomWebhooks, metrics: Metrics) -> None:
        self.flask: WSGIApp = app.wsgi_app
        self.gate = gate
        self.webhooks = webhooks
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
        elif path == WEBHOOK_PATH:
            return self.webhook(environ, start_response)
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
            answer = self._link_answer(environ, method, visit)
        except StorageUnavailable as exc:
            note_storage_unavailable(self.metrics, method, _redacted(visit), exc, request_id)
            answer = self.gate.page("unavailable", 503)
            answer.headers.append(("Retry-After", STORAGE_RETRY_AFTER))
        except Exception:
            log.exception("unhandled error on %s %s", method, _redacted(visit),
                          extra={"event": "error", "request_id": request_id})
            answer = self.gate.page("invalid", 500)
        return self._send(start_response, answer, method, ROUTE if mode else None,
                          _redacted(visit), request_id, started, visit.ip, visit.outcome)

    def _link_answer(self, environ: dict[str, Any], method: str, visit: Visit) -> Answer:
        if method == "OPTIONS":
            return _options(LINK_METHODS)
        if not visit.mode:
            answer = self.gate.page("invalid", 405)
            answer.headers.append(("Allow", LINK_METHODS))
            return answer
        if declares_too_large(get_content_length(environ), self.max_body):
            return self.gate.page("invalid", 413)
        answer = self.gate.answer(visit)
        self.metrics.child("opens" if visit.mode == "open" else "claims", visit.outcome).inc()
        return answer

    def webhook(self, environ: dict[str, Any],
                start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer one request to the webhook endpoint (JSON, as every machine route)."""
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        try:
            answer = self._webhook_answer(environ, method, request_id)
        except StorageUnavailable as exc:
            note_storage_unavailable(self.metrics, method, WEBHOOK_PATH, exc, request_id)
            answer = json_error_answer(503, "unavailable",
                                       "storage is unavailable; try again shortly")
            answer.headers.append(("Retry-After", STORAGE_RETRY_AFTER))
        except Exception:
            log.exception("unhandled error on %s %s", method, WEBHOOK_PATH,
                          extra={"event": "error", "request_id": request_id})
            answer = json_error_answer(500, "internal_server_error",
                                       InternalServerError.description)
        return self._send(start_response, answer, method,
                          WEBHOOK_PATH if method == "POST" else None, WEBHOOK_PATH,
                          request_id, started, environ.get("REMOTE_ADDR") or "", "")

    def _webhook_answer(self, environ: dict[str, Any], method: str, request_id: str) -> Answer:
        if method == "OPTIONS":
            return _options(WEBHOOK_METHODS)
        if method != "POST":
            answer = json_error_answer(405, "method_not_allowed",
                                       MethodNotAllowed.description)
            answer.headers.append(("Allow", WEBHOOK_METHODS))
            return answer
        try:
            if declares_too_large(get_content_length(environ), self.max_body):
                raise RequestEntityTooLarge()
            body = get_input_stream(environ, max_content_length=self.max_body).read()
        except RequestEntityTooLarge as exc:       # declared, or found while reading
            return json_error_answer(413, "request_entity_too_large", exc.description)
        return self.webhooks.answer(Delivery(body, environ.get("HTTP_X_ZM_SIGNATURE"),
                                             environ.get("HTTP_X_ZM_REQUEST_TIMESTAMP"),
                                             request_id))

    def _send(self, start_response: Callable[..., Any], answer: Answer, method: str,
              route: str | None, path: str, request_id: str, started: float, ip: str,
              outcome: str) -> Iterable[bytes]:
        """Write the answer, observe its latency (``route`` None: a method the route does not
        take) and log its line."""
        answer.headers.append((REQUEST_ID_HEADER, request_id))
        start_response(STATUS_LINES[answer.status], answer.headers)
        elapsed = time.perf_counter() - started
        self.metrics.child("latency", route or "unmatched", method if route else "other"
                           ).observe(elapsed)
        log_request(request_id, method, path, answer.status, elapsed, ip, outcome)
        return [] if method == "HEAD" else [answer.body]


def _options(methods: str) -> Answer:
    """OPTIONS, as Flask answered it: the methods allowed, no body."""
    return Answer(200, [("Content-Type", "text/html; charset=utf-8"), ("Allow", methods),
                        ("Content-Length", "0")])


def _redacted(visit: Visit) -> str:
    """The path fit for a log: the link named by its id (``invalid`` until the token verified)."""
    return LINK_PREFIX + (visit.link_id or "invalid")


def init_app(app: Flask) -> None:
    """Put the lean front around the app's WSGI callable (before any ProxyFix, which must stay
    outermost)."""
    state, metrics = app.extensions["joingate"], app.extensions["joingate_metrics"]
    app.wsgi_app = LeanFront(app, Gate(state, pages_of(app)),  # type: ignore[method-assign]
                             ZoomWebhooks(state, metrics), metrics)
