"""What an operator sees: request ids, one JSON log line per request, Prometheus metrics.

Logs never carry a token, secret, passcode or join URL: a link is named by a short hash of its
meeting and registrant (``link_id``), and query strings are not logged. Metrics use
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
from pythonjsonlogger.json import JsonFormatter
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)

access_log = logging.getLogger("joingate.access")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
REQUEST_ID_HEADER = "X-Request-ID"


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
    return current_app.extensions["joingate_metrics"]


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


def init_app(app: Flask) -> None:
    app.extensions["joingate_metrics"] = Metrics()

    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))

    @app.after_request
    def finish_request(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics().latency.labels(route, request.method).observe(elapsed)
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        log_request(g.get("request_id", ""), request.method, redacted_path(),
                    response.status_code, elapsed, request.remote_addr or "",
                    g.get("outcome", ""))
        return response

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        """Prometheus exposition. Blocked by nginx; with METRICS_TOKEN it also needs
        ``Authorization: Bearer <token>``."""
        token = app.config["JOINGATE"]["METRICS_TOKEN"]
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
