"""Shared fixtures, and only fixtures: real servers on loopback (redis-server), the app on each
store, a clock. The constants and helpers they use are in helpers.py.

Every test that takes ``app`` runs twice: on the embedded store (fakeredis) and on a real
redis-server that the suite starts on a free loopback port.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import MEETING_ID, NOW, SECRET, START, Clock, make_app, started, store_for
from stack import RedisCluster, RedisServer
from webhook_events import WEBHOOK_SECRET

from joingate.cli import main as cli_main
from joingate.roster import RegistrantInput


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


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The embedded store and a real redis-server (modules may add "cluster")."""
    return store_for(request, request.param)


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
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                        pwd="enc0ded", support="help@example.org")
    return MEETING_ID


@pytest.fixture
def link(service, meeting):
    """One issued link for Ana Lima: returns the IssuedLink; its path is ``path_of(link)``."""
    return service.meetings.issue_links(meeting, [RegistrantInput("ana.lima@example.org", "Ana Lima")])[0]


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
    for secret in (SECRET, WEBHOOK_SECRET, "enc0ded", "alert-secret", "/j/WyI"):
        assert secret not in text, f"{secret!r} appears in the logs"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven by Playwright (nothing downloaded): every browser
    test's browser. In CI a missing chromium fails; elsewhere it skips."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()
