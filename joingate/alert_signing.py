"""Signing of the alerts the worker POSTs to ``ALERT_WEBHOOK_URL``: what a receiver checks.
Pure functions, no Flask, no Redis."""

from __future__ import annotations

import hashlib
import hmac

ALERT_SIGNATURE_HEADER = "X-Joingate-Signature"
ALERT_TIMESTAMP_HEADER = "X-Joingate-Timestamp"
# The alert's id, in both headers: the same on every delivery of one alert (a retry, a worker
# restarted after a crash), so that the receiver can drop duplicates.
ALERT_ID_HEADER = "X-Joingate-Alert-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def alert_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``{timestamp}.{body}``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()
