"""``POST /webhooks/zoom``: Zoom's deliveries. Verified over the raw bytes before anything is
parsed; recorded in one Redis round trip; answered well within Zoom's 3 seconds. Anything slow
(alerts, Zoom API calls) is left to the worker.

Answers: 200 recorded, duplicate or ignored; 401 unverifiable (Zoom does not retry a 4xx, and a
forgery should not be retried); 400 a verified body joingate cannot read; 503 our own fault
(no secret configured, Redis down: Zoom retries later).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from .errors import BadWebhook, InvalidInput
from .observability import log_fields, metrics
from .pages import json_error
from .state import AppState
from .zoom.events import (
    URL_VALIDATION,
    ZOOM_SIGNATURE_HEADER,
    ZOOM_TIMESTAMP_HEADER,
    parse_body,
    read_event,
    url_validation_answer,
    verify_zoom_signature,
)

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("joingate.webhooks")


@bp.post("/webhooks/zoom")
def zoom_webhook() -> ResponseReturnValue:
    state: AppState = current_app.extensions["joingate"]
    secret = state.config.zoom_webhook_secret
    if not secret:
        return json_error(503, "not_configured", "JOINGATE_ZOOM_WEBHOOK_SECRET is not set")
    body = request.get_data(cache=False)
    try:
        verify_zoom_signature(secret, body, request.headers.get(ZOOM_SIGNATURE_HEADER),
                              request.headers.get(ZOOM_TIMESTAMP_HEADER), state.clock(),
                              state.config.zoom_webhook_tolerance)
    except BadWebhook as exc:
        log.warning("zoom webhook refused: %s", exc, extra=log_fields(event="webhook_refused"))
        metrics().webhooks.labels("unverified", "refused").inc()
        return json_error(401, "unauthorized", str(exc))
    try:
        data = parse_body(body)
        if isinstance(data, dict) and data.get("event") == URL_VALIDATION:
            payload = data.get("payload")
            plain = payload.get("plainToken") if isinstance(payload, dict) else None
            if not isinstance(plain, str) or not plain or len(plain) > 256:
                raise InvalidInput("payload.plainToken missing")
            metrics().webhooks.labels(URL_VALIDATION, "answered").inc()
            return jsonify(url_validation_answer(secret, plain))
        event = read_event(data)
        name = str(data.get("event"))[:80] if event is None else data["event"]
        status = "ignored" if event is None else state.presence.record(event)
    except InvalidInput as exc:
        log.warning("zoom webhook unreadable: %s", exc.message,
                    extra=log_fields(event="webhook_unreadable"))
        metrics().webhooks.labels("unreadable", "bad_request").inc()
        return json_error(400, "bad_request", exc.message)
    metrics().webhooks.labels(name if event is not None else "other", status).inc()
    log.info("zoom webhook %s", status,
             extra=log_fields(event="webhook", zoom_event=name, outcome=status))
    return jsonify(status=status)
