"""Liveness and readiness for load balancers and systemd."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .errors import StorageUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers; says nothing about Redis."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Redis answers and accepts a write: 200. Otherwise 503 with why, in a short ``reason``
    (``down``, ``timeout``, ``loading``, ``oom``, ``misconf``, ``readonly``, ``masterdown``,
    ``busy``, ...) and a fixed sentence; no address, no secret."""
    try:
        current_app.extensions["joingate"].store.ping()
    except StorageUnavailable as exc:
        return (jsonify(status="unavailable", reason=exc.reason, message=str(exc)), 503,
                {"Retry-After": "5"})
    return jsonify(status="ready")
