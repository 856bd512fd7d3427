"""The lean front: a bare WSGI callable in front of the Flask app. It answers the two hot routes
itself: the registrant's link, ``/j/<token>`` (:class:`joingate.gate.Gate`), and Zoom's
deliveries, ``/webhooks/zoom`` (:class:`joingate.webhooks.ZoomWebhooks`); every other request
goes to Flask untouched.

Why: the work these routes must do (verify the token or the signature, one Redis round trip,
render or redirect, the cookie, one log line, metrics) costs less than Flask's and Werkzeug's
per-request machinery (request and app contexts, routing, hooks, response objects), and these
are the routes under load when a class starts (docs/benchmarks.md).

What a link request gets here is what Flask gives it: the same status, headers and pages (in
the page's language: the meeting's, else the ``Accept-Language`` header's); the request id
(``X-Request-ID`` kept when well formed, made otherwise) and one JSON log line
(:func:`joingate.observability.log_request`, the link named by its id, never its token); the
``opens``/``claims`` counters and the latency histogram, with Flask's labels; 413 for a body
over MAX_BODY_BYTES (a chunked one is measured by :class:`joingate.pages.ChunkedBodyLimit`
around this front); 503 with the unavailable page when Redis is down; 405 (with Allow) for
other methods and OPTIONS answered with the methods allowed; 500 with the invalid page for
anything unexpected, logged as Flask logs it (``Exception on /j/<link id> [METHOD]``). ProxyFix
(PROXY_HOPS) wraps this front, so the client address is the one it trusts. Paths under ``/j/``
that are not one token (``/j/``, ``/j//x``, ``/j/<token>/move``) go to Flask, which routes them
as before (its gate routes call the same :class:`~joingate.gate.Gate`). The webhook endpoint
answers in JSON as Flask's handlers do (405 with Allow, 413, 503 with Retry-After, 500).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.exceptions import InternalServerError, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES, parse_cookie
from werkzeug.wsgi import get_content_length, get_input_stream

from .errors import StorageUnavailable
from .gate import Gate, Visit, gate_of
from .observability import (
    METHOD_LABELS,
    REQUEST_ID_HEADER,
    Metrics,
    log_request,
    metrics_of,
    request_id_for,
)
from .pages import (
    STORAGE_RETRY_AFTER,
    Answer,
    PageRequest,
    declares_too_large,
    json_error_answer,
    note_storage_unavailable,
)
from .webhooks import WEBHOOK_PATH, Delivery, ZoomWebhooks

log = logging.getLogger("joingate.fastgate")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LINK_PREFIX = "/j/"
ROUTE = "/j/<path:token>"            # the latency histogram's route label, as Flask names it
MODES = {"GET": "open", "HEAD": "open", "POST": "claim"}
LINK_METHODS = "GET, POST, HEAD, OPTIONS"    # Allow, as Flask lists them
WEBHOOK_METHODS = "POST, OPTIONS"
# Werkzeug's status lines ("303 SEE OTHER"), made once.
STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}
NO_COOKIES: dict[str, str] = {}


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
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        cookie_header = environ.get("HTTP_COOKIE")
        cookies = parse_cookie(cookie_header) if cookie_header else NO_COOKIES
        script_root = environ.get("SCRIPT_NAME", "").encode("latin-1").decode(
            "utf-8", "replace").rstrip("/")
        visit = Visit(MODES.get(method, ""), token, cookies,
                      environ.get("REMOTE_ADDR") or "", environ.get("HTTP_USER_AGENT", ""),
                      PageRequest(script_root, LINK_PREFIX + token,
                                  environ.get("HTTP_ACCEPT_LANGUAGE", ""), token),
                      request_id)
        try:
            answer = self._link_answer(environ, method, visit)
        except StorageUnavailable as exc:
            note_storage_unavailable(self.metrics, method, _redacted(visit), exc, request_id)
            answer = self.gate.pages.answer("unavailable", 503, visit.facts)
            answer.headers.append(("Retry-After", STORAGE_RETRY_AFTER))
            if exc.device_cookie:
                answer.headers.append(("Set-Cookie", exc.device_cookie))
        except Exception:
            log.exception("Exception on %s [%s]", _redacted(visit), method[:20],
                          extra={"event": "error", "request_id": request_id})
            answer = self.gate.pages.answer("invalid", 500, visit.facts)
        return self._send(start_response, answer, method, ROUTE if method in MODES or
                          method == "OPTIONS" else None, _redacted(visit), request_id, started,
                          visit.ip, visit.outcome)

    def _link_answer(self, environ: dict[str, Any], method: str, visit: Visit) -> Answer:
        if method == "OPTIONS":
            return _options(LINK_METHODS)
        if not visit.mode:
            answer = self.gate.pages.answer("invalid", 405, visit.facts)
            answer.headers.append(("Allow", LINK_METHODS))
            return answer
        if declares_too_large(get_content_length(environ), self.max_body):
            return self.gate.pages.answer("invalid", 413, visit.facts)
        return self.gate.answer(visit)

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
            log.exception("Exception on %s [%s]", WEBHOOK_PATH, method[:20],
                          extra={"event": "error", "request_id": request_id})
            answer = json_error_answer(500, "internal_server_error",
                                       InternalServerError.description)
        return self._send(start_response, answer, method,
                          WEBHOOK_PATH if method in ("POST", "OPTIONS") else None, WEBHOOK_PATH,
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
            return json_error_answer(413, "request_entity_too_large", exc.description or "")
        return self.webhooks.answer(Delivery(body, environ.get("HTTP_X_ZM_SIGNATURE"),
                                             environ.get("HTTP_X_ZM_REQUEST_TIMESTAMP"),
                                             request_id))

    def _send(self, start_response: Callable[..., Any], answer: Answer, method: str,
              route: str | None, path: str, request_id: str, started: float, ip: str,
              outcome: str) -> Iterable[bytes]:
        """Write the answer, observe its latency with Flask's labels (``route`` None: a method
        the route does not take, ``unmatched``) and log its line."""
        answer.headers.append((REQUEST_ID_HEADER, request_id))
        start_response(STATUS_LINES[answer.status], answer.headers)
        elapsed = time.perf_counter() - started
        self.metrics.child("latency", route or "unmatched",
                           method if method in METHOD_LABELS else "other").observe(elapsed)
        log_request(request_id, method[:20], path, answer.status, elapsed, ip, outcome)
        return [] if method == "HEAD" else [answer.body]


def _options(methods: str) -> Answer:
    """OPTIONS, as Flask answers it: the methods allowed, no body."""
    return Answer(200, [("Content-Type", "text/html; charset=utf-8"), ("Allow", methods),
                        ("Content-Length", "0")])


def _redacted(visit: Visit) -> str:
    """The path fit for a log: the link named by its id (``invalid`` until the token verified)."""
    return LINK_PREFIX + (visit.link_id or "invalid")


def init_app(app: Flask) -> None:
    """Put the lean front around the app's WSGI callable (the gate and the metrics first;
    create_app puts ChunkedBodyLimit and ProxyFix around it)."""
    state, metrics = app.extensions["joingate"], metrics_of(app)
    app.wsgi_app = LeanFront(app, gate_of(app),  # type: ignore[method-assign]
                             ZoomWebhooks(state, metrics), metrics)
