"""Constants and helpers the test modules share (fixtures live in conftest.py).

``MEETING_ID`` is the sample meeting; ``NOW`` is the tests' clock at start (links open at 17:45,
15 minutes before ``START``); ``make_app`` builds an app on a store URL, ``path_of`` turns an
issued link into the path the test client requests, ``run_worker`` delivers queued jobs;
``zoom_stub`` and ``csp_violations`` watch a Playwright browser context and page.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from stack import MissingServer, RedisCluster, RedisServer, free_port
from webhook_events import WEBHOOK_SECRET
from werkzeug.serving import make_server

from joingate import create_app
from joingate.worker import Worker

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


@contextmanager
def serving(**config: Any) -> Iterator[tuple[Flask, str]]:
    """joingate on a real HTTP server on loopback (embedded store, the clock at NOW, PUBLIC_URL
    its own address): yields (app, base URL); stopped on leaving."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app("memory://", Clock(NOW), PUBLIC_URL=base, **config)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield app, base
    finally:
        server.shutdown()


def path_of(link: Any) -> str:
    """The path of an issued link (its URL without ``PUBLIC_URL``)."""
    return link.url.removeprefix(PUBLIC_URL)


def run_worker(service: Any, kind: str, timeout: float = 30.0) -> None:
    """Run a worker on ``service`` until no job of ``kind`` ("send_links", "move_code") is
    queued (each tick hands due jobs to its threads); fails after ``timeout`` seconds."""
    worker = Worker(service)
    deadline = time.monotonic() + timeout
    try:
        while service.store.queued_jobs(kind):
            assert time.monotonic() < deadline, f"{kind} jobs still queued after {timeout} s"
            worker.tick()
            time.sleep(0.02)
    finally:
        worker.pool.shutdown(wait=True)


def zoom_stub(context: Any) -> list[str]:
    """Nothing leaves the machine: the Zoom web client is answered by a stub page in this
    Playwright browser context. Returns the list of URLs it answered (filled as they come)."""
    landed: list[str] = []

    def fulfil(route: Any) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>zoom stub</p>")

    context.route("https://app.zoom.us/**", fulfil)
    return landed


def csp_violations(page: Any) -> list[str]:
    """The console messages of a Playwright page that report a Content-Security-Policy
    violation (filled as they come)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text)
            if "Content Security Policy" in message.text else None)
    return found
