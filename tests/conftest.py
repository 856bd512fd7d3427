"""Shared fixtures: real servers on loopback (redis-server), the app on each store, a clock.

Every test that takes ``app`` runs twice: on the embedded store (fakeredis) and on a real
redis-server that the suite starts on a free loopback port.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import redis as redis_lib
from click.testing import CliRunner

from joingate import create_app
from stack import MissingServer, RedisCluster, RedisServer
from stack import free_port, wait_for_port  # noqa: F401 - tests import them from here
from joingate.cli import main as cli_main
from joingate.roster import RegistrantInput

MEETING_ID = "85746065432"
SECRET = "test-secret-key-of-at-least-32-characters"
NOW = datetime(2026, 12, 1, 17, 50, tzinfo=timezone.utc)   # links opened at 17:45
START = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)


def started(server):
    """Start a server of stack.py; in CI a missing binary fails, elsewhere it skips."""
    try:
        server.start()
    except MissingServer as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = started(RedisServer(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        started(cluster)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may stop, kill and restart; it runs as
    production should (appendonly yes, appendfsync always), so its data survives a restart."""
    server = started(RedisServer(tmp_path, extra=("--appendonly", "yes",
                                                  "--appendfsync", "always")))
    yield server
    server.stop()


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


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def store_for(request: pytest.FixtureRequest, kind: str) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        return cluster.url
    server: RedisServer = request.getfixturevalue("redis_server")
    redis_lib.Redis.from_url(server.url).flushdb()
    return server.url


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The embedded store and a real redis-server (modules may add "cluster")."""
    return store_for(request, request.param)


def make_app(store_url: str, clock: Clock, *, like=None, **config):
    """An app on ``store_url``; ``like``: another app whose store (even an embedded one) it shares."""
    settings = {"SECRET_KEY": SECRET, "REDIS_URL": store_url,
                "PUBLIC_URL": "https://gate.example.org",
                "ZOOM_WEBHOOK_SECRET": "zoom-secret-token", **config}
    client = like.extensions["joingate"].store.redis if like is not None else None
    return create_app(settings, environ={}, clock=clock, redis_client=client)


@pytest.fixture
def app(store_url: str, clock: Clock):
    return make_app(store_url, clock)


@pytest.fixture
def service(app):
    return app.extensions["joingate"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Invoke the CLI against ``app`` (same store): ``runner(["links", "show", ...])``."""
    cli = CliRunner()

    def invoke(args: list[str], input: str | None = None):
        return cli.invoke(cli_main, args, obj=app, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def meeting(service) -> str:
    """A meeting starting at START (links open 15 minutes before), passcode 'enc0ded'."""
    service.add_meeting(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                        pwd="enc0ded", support="help@example.org")
    return MEETING_ID


@pytest.fixture
def link(service, meeting):
    """One issued link for Ana Lima: returns the IssuedLink; its path is ``path_of(link)``."""
    return service.issue_links(meeting, [RegistrantInput("ana.lima@example.org", "Ana Lima")])[0]


def path_of(link) -> str:
    return link.url.removeprefix("https://gate.example.org")


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: nothing joingate, Werkzeug or gunicorn logged in this process (message,
    fields and traceback) carries a link token, a secret or the passcode. (Tokens are base64
    of a JSON list: they start with 'WyI'.) Subprocesses (joingate serve, gunicorn, the worker
    command) are checked by the tests that start them: test_security_findings.py (finding 3),
    test_deploy.py."""
    caplog.set_level("INFO")
    yield
    formatter = logging.Formatter()
    text = "\n".join(
        f"{record.getMessage()} {record.__dict__} "
        f"{formatter.formatException(record.exc_info) if record.exc_info else ''}"
        for record in caplog.records
        if record.name.startswith(("joingate", "werkzeug", "gunicorn")))
    for secret in (SECRET, "zoom-secret-token", "enc0ded", "alert-secret", "/j/WyI"):
        assert secret not in text, f"{secret!r} appears in the logs"
