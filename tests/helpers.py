"""Constants and helpers the test modules share (fixtures live in conftest.py).

``MEETING_ID`` is the sample meeting; ``NOW`` is the tests' clock at start (links open at 17:45,
15 minutes before ``START``); ``make_app`` builds an app on a store URL, ``path_of`` turns an
issued link into the path the test client requests.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from stack import MissingServer, RedisCluster, RedisServer
from webhook_events import WEBHOOK_SECRET

from joingate import create_app

MEETING_ID = "85746065432"
SECRET = "test-secret-key-of-at-least-32-characters"
PUBLIC_URL = "https://gate.example.org"
ID_KEY = "5a" * 32     # a registrant id key (hex) for tests that derive ids without a store
NOW = datetime(2026, 12, 1, 17, 50, tzinfo=UTC)   # links opened at 17:45
START = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


class Clock:
    """The service's clock; tests move it."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += seconds


def started(server: Any) -> Any:
    """Start a server of stack.py; in CI a missing binary fails, elsewhere it skips."""
    try:
        server.start()
    except MissingServer as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    return server


def store_for(request: pytest.FixtureRequest, kind: str) -> str:
    """An empty store of ``kind`` ("memory", "redis" or "cluster") for the requesting test."""
    if kind == "memory":
        return "memory://"
    if kind == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        return cluster.url
    server: RedisServer = request.getfixturevalue("redis_server")
    redis_lib.Redis.from_url(server.url).flushdb()
    return server.url


def make_app(store_url: str, clock: Clock, *, like: Flask | None = None, **config: Any) -> Flask:
    """An app on ``store_url``; ``like``: another app whose store (even an embedded one) it shares."""
    settings = {"SECRET_KEY": SECRET, "REDIS_URL": store_url, "PUBLIC_URL": PUBLIC_URL,
                "ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET, **config}
    client = like.extensions["joingate"].store.redis if like is not None else None
    return create_app(settings, environ={}, clock=clock, redis_client=client)


def path_of(link: Any) -> str:
    """The path of an issued link (its URL without ``PUBLIC_URL``)."""
    return link.url.removeprefix(PUBLIC_URL)
