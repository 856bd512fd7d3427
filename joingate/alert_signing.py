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


def alert_setting_warnings(url: str, secret: str) -> list[str]:
    """What an operator should hear at worker start about ALERT_WEBHOOK_URL and ALERT_SECRET
    (empty when alerts are off, or signed and sent over https). Names no URL path or query."""
    if not url:
        return []
    warnings = []
    if not secret:
        warnings.append("JOINGATE_ALERT_SECRET is empty: alerts go unsigned, and a receiver "
                        "cannot tell them from forgeries")
    if url.startswith("http://"):
        warnings.append("JOINGATE_ALERT_WEBHOOK_URL is plain http: alerts (names, emails) cross "
                        "the network unencrypted")
    return warnings
