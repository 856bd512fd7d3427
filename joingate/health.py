"""Liveness and readiness for load balancers and systemd."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers; says nothing about Redis."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Redis answers and accepts a write; 503 (through the error handler) otherwise."""
    current_app.extensions["joingate"].store.ping()
    return jsonify(status="ready")
