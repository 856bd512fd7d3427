"""What an operator sees: request ids, one JSON log line per request, Prometheus metrics.

Logs never carry a token, secret, passcode or join URL: a link is named by a short hash of its
meeting and registrant (``link_id``), and query strings are not logged. Two nets catch what
other code would log: Flask's log of a 500 names the path as the request log does
(``redacted_path``), and :class:`RedactingFilter` rewrites any ``/j/<token>`` in a log line to
``/j/-`` (on Werkzeug's logger, which writes ``joingate serve``'s access log, on the app's
logger, and on the handlers of configure_logging and gunicorn.conf.py). Metrics use
prometheus-client; under gunicorn ``PROMETHEUS_MULTIPROC_DIR`` (set by gunicorn.conf.py) makes
every worker's counts add up at ``/metrics``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter

access_log = logging.getLogger("joingate.access")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
REQUEST_ID_HEADER = "X-Request-ID"
# Metric labels come from fixed sets only: a label made from request text (any method string,
# any path) grows /metrics without bound.
METHOD_LABELS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The app's metrics, in a registry of its own (several apps may live in one test run)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.claims = Counter("joingate_claims", "Link claims (POST) by outcome", ["outcome"],
                              registry=r)
        self.opens = Counter("joingate_opens", "Link opens (GET/HEAD) by outcome", ["outcome"],
                             registry=r)
        self.webhooks = Counter("joingate_webhook_events", "Zoom deliveries by event and outcome",
                                ["event", "outcome"], registry=r)
        self.violations = Counter("joingate_violations", "Violations recorded by the worker",
                                  ["kind"], registry=r)
        self.redis_errors = Counter("joingate_redis_errors", "Requests that found Redis down",
                                    registry=r)
        self.latency = Histogram("joingate_request_seconds", "Request latency by route",
                                 ["route", "method"], registry=r,
                                 buckets=(.002, .005, .01, .02, .04, .08, .16, .32, .64, 1.28,
                                          2.56, 5.12))
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, metric: str, *labels: str) -> Any:
        """The labelled child of ``metric`` (an attribute name), made once per label set:
        ``labels()`` validates and locks on every call, a dict look-up does not."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = getattr(self, metric).labels(*labels)
        return found

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def metrics() -> Metrics:
    return metrics_of(current_app)


def metrics_of(app: Flask) -> Metrics:
    return app.extensions["joingate_metrics"]


# "/j/" and what follows up to white space or a quote, also percent-encoded ("%2Fj%2F..."),
# which routes to the gate as well; a link id or "invalid" (what redacted_path writes) is kept.
LINK_PATH_RE = re.compile(r"(?:/|%2[fF])(?:j|%6[aA])(?:/|%2[fF])([^\s\"'<>]*)")
LINK_ID_RE = re.compile(r"[0-9a-f]{10}|invalid|-")
# A URL's path and query may be a secret (an alert receiver's); its origin is not.
URL_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s'\"?#]+)[^\s'\"]*")


def redact_links(text: str) -> str:
    """``text`` with every ``/j/<token>`` (and what follows it) as ``/j/-``."""
    return LINK_PATH_RE.sub(lambda match: match.group(0) if LINK_ID_RE.fullmatch(match.group(1))
                            else "/j/-", text)


def redact_urls(text: str) -> str:
    """``text`` with every URL cut to its origin (``https://host:port/…``), and urllib3's
    ``url: /path?query`` cut too."""
    text = URL_RE.sub(lambda match: match.group(1) + "/\u2026", text)
    return re.sub(r"\burl: \S+", "url: \u2026", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback with :func:`redact_links`. On a logger it sees
    what is logged on that logger itself; on a handler, everything the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_links(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:
            # Formatters print exc_text when there is no exc_info: the traceback, redacted.
            record.exc_text = redact_links(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def add_redacting_filter(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(existing, RedactingFilter) for existing in target.filters):
        target.addFilter(RedactingFilter())


def redacted_path() -> str:
    """The request path fit for a log: a link's token is replaced by its link id."""
    path = request.path
    if path.startswith("/j/"):
        return "/j/" + g.get("link_id", "invalid")
    return path[:200]


def request_id_for(incoming: str) -> str:
    """The id of a request: the caller's ``X-Request-ID`` when it is well formed (nginx sends
    its own), a new one otherwise."""
    return incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


def log_request(request_id: str, method: str, path: str, status: int, elapsed: float, ip: str,
                outcome: str) -> None:
    """The one JSON line per request (Flask's routes and the lean front alike); ``path`` is
    already redacted. The record is made here, not by ``Logger.info``: the line names no source
    file, so the walk up the stack that finds the caller is not paid on every request."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    access_log.handle(access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "request", (), None, "log_request", {
            "event": "request", "request_id": request_id, "method": method, "path": path,
            "status": status, "duration_ms": round(elapsed * 1000, 2), "ip": ip,
            "outcome": outcome}))


def latency_labels() -> tuple[str, str]:
    """``(route, method)`` of the request: its URL rule (``unmatched`` when none) and its
    method, or ``other`` for a method outside METHOD_LABELS."""
    route = request.url_rule.rule if request.url_rule else "unmatched"
    return route, request.method if request.method in METHOD_LABELS else "other"


def init_app(app: Flask) -> None:
    app.extensions["joingate_metrics"] = Metrics()
    # Werkzeug's access log (joingate serve) writes each request line, token included.
    add_redacting_filter(logging.getLogger("werkzeug"))
    add_redacting_filter(app.logger)

    def log_exception(exc_info: Any) -> None:
        """Flask's log of a 500, which would name the request path, token included."""
        app.logger.error("Exception on %s [%s]", redacted_path(), request.method[:20],
                         exc_info=exc_info)

    app.log_exception = log_exception  # type: ignore[method-assign]

    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))

    @app.after_request
    def finish_request(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics().latency.labels(*latency_labels()).observe(elapsed)
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        log_request(g.get("request_id", ""), request.method[:20], redacted_path(),
                    response.status_code, elapsed, request.remote_addr or "",
                    g.get("outcome", ""))
        return response

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        """Prometheus exposition. Blocked by nginx; with METRICS_TOKEN it also needs
        ``Authorization: Bearer <token>``."""
        token = app.config["JOINGATE"].metrics_token
        if token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return Response("unauthorized\n", status=401, mimetype="text/plain")
        return Response(metrics().exposition(), mimetype=CONTENT_TYPE_LATEST)


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's JsonFormatter with the same output, cheaper for a line per request:
    the time text is made once a second, and one JSON encoder is kept rather than made per line.
    gunicorn.conf.py and :func:`configure_logging` use it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        encoder = self.json_encoder or json.JSONEncoder
        self._encoder = encoder(default=self.json_default, indent=self.json_indent,
                                ensure_ascii=self.json_ensure_ascii)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:       # one tuple: threads never see half of it
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        return self.default_msec_format % (text, record.msecs)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        return self._encoder.encode(log_data)


JSON_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_LOG_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for joingate's loggers (gunicorn.conf.py, the worker)."""
    handler = logging.StreamHandler()
    add_redacting_filter(handler)
    handler.setFormatter(JsonLineFormatter(JSON_LOG_FORMAT, rename_fields=JSON_LOG_RENAMES))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a log call, with the request id when there is a request."""
    from flask import has_request_context

    if has_request_context():
        fields.setdefault("request_id", g.get("request_id", ""))
    return fields
