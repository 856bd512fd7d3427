"""``POST /webhooks/zoom``: Zoom's deliveries. Verified over the raw bytes before anything is
parsed; recorded in one Redis round trip; answered well within Zoom's 3 seconds. Anything slow
(alerts, Zoom API calls) is left to the worker.

Answers: 200 recorded, duplicate or ignored; 401 unverifiable (Zoom does not retry a 4xx, and a
forgery should not be retried); 400 a verified body joingate cannot read; 503 our own fault
(no secret configured, Redis down: Zoom retries later).

No Flask: the lean front (:mod:`joingate.fastgate`) reads the request, hands it to
:meth:`ZoomWebhooks.answer` and writes the answer, the request's log line and its metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .errors import BadWebhook, InvalidInput
from .observability import Metrics
from .pages import Answer, json_answer, json_error_answer
from .state import AppState
from .zoom.events import (
    URL_VALIDATION,
    parse_body,
    read_event,
    url_validation_answer,
    verify_zoom_signature,
)

log = logging.getLogger("joingate.webhooks")

WEBHOOK_PATH = "/webhooks/zoom"


@dataclass(slots=True)
class Delivery:
    """One POST to the webhook endpoint: its raw body and Zoom's two headers."""

    body: bytes
    signature: str | None
    timestamp: str | None
    request_id: str


class ZoomWebhooks:
    """The webhook endpoint of one app (its state and metrics)."""

    def __init__(self, state: AppState, metrics: Metrics) -> None:
        self.state = state
        self.metrics = metrics

    def answer(self, delivery: Delivery) -> Answer:
        """Verify, then read and record one delivery. Raises StorageUnavailable when Redis
        does not answer (the front answers 503: Zoom retries)."""
        state = self.state
        secret = state.config.zoom_webhook_secret
        if not secret:
            return json_error_answer(503, "not_configured",
                                     "JOINGATE_ZOOM_WEBHOOK_SECRET is not set")
        extra = {"request_id": delivery.request_id}
        try:
            verify_zoom_signature(secret, delivery.body, delivery.signature, delivery.timestamp,
                                  state.clock(), state.config.zoom_webhook_tolerance)
        except BadWebhook as exc:
            log.warning("zoom webhook refused: %s", exc,
                        extra={**extra, "event": "webhook_refused"})
            self._count("unverified", "refused")
            return json_error_answer(401, "unauthorized", str(exc))
        try:
            data = parse_body(delivery.body)
            if isinstance(data, dict) and data.get("event") == URL_VALIDATION:
                payload = data.get("payload")
                plain = payload.get("plainToken") if isinstance(payload, dict) else None
                if not isinstance(plain, str) or not plain or len(plain) > 256:
                    raise InvalidInput("payload.plainToken missing")
                self._count(URL_VALIDATION, "answered")
                return json_answer(url_validation_answer(secret, plain))
            event = read_event(data)
            name = str(data.get("event"))[:80] if event is None else data["event"]
            # A registration the roster refuses is unreadable too: 400, never 500.
            status = "ignored" if event is None else state.presence.record(event)
        except InvalidInput as exc:
            log.warning("zoom webhook unreadable: %s", exc.message,
                        extra={**extra, "event": "webhook_unreadable"})
            self._count("unreadable", "bad_request")
            return json_error_answer(400, "bad_request", exc.message)
        self._count(name if event is not None else "other", status)
        log.info("zoom webhook %s", status,
                 extra={**extra, "event": "webhook", "zoom_event": name, "outcome": status})
        return json_answer({"status": status})

    def _count(self, event: str, outcome: str) -> None:
        self.metrics.child("webhooks", event, outcome).inc()
