"""Shared fixtures: real servers on loopback (redis-server), the app on each store, a clock.

Every test that takes ``app`` runs twice: on the embedded store (fakeredis) and on a real
redis-server that the suite starts on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import redis as redis_lib
from click.testing import CliRunner

from joingate import create_app
from joingate.cli import main as cli_main
from joingate.roster import RegistrantInput

MEETING_ID = "85746065432"
SECRET = "test-secret-key"
NOW = datetime(2026, 12, 1, 17, 50, tzinfo=timezone.utc)   # links opened at 17:45
START = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port > 55000:
            port = 20000 + port % 30000
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free cluster port")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class RedisServer:
    """A redis-server process this suite started; stop/start keep the same port and files."""

    directory: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed (.ci/run installs it)")
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--daemonize", "no", *(self.extra or ("--appendonly", "no"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        client = redis_lib.Redis(port=self.port, socket_timeout=0.5)
        while True:
            try:
                client.ping()
                return
            except redis_lib.exceptions.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@dataclass
class RedisCluster:
    """Three redis-server masters in cluster mode on loopback, joined by redis-cli."""

    directory: Path
    servers: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self) -> None:
        for n in range(3):
            folder = self.directory / f"node{n}"
            folder.mkdir()
            server = RedisServer(folder, port=free_cluster_port(),
                                 extra=("--cluster-enabled", "yes",
                                                "--cluster-config-file", "nodes.conf",
                                                "--appendonly", "no"))
            server.start()
            self.servers.append(server)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *[f"127.0.0.1:{s.port}" for s in self.servers],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        for server in self.servers:
            client = redis_lib.Redis(port=server.port)
            while client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster did not come up")
                time.sleep(0.1)

    def flush(self) -> None:
        for server in self.servers:
            redis_lib.Redis(port=server.port).flushall()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may stop, kill and restart; it runs as
    production should (appendonly yes, appendfsync always), so its data survives a restart."""
    server = RedisServer(tmp_path, extra=("--appendonly", "yes", "--appendfsync", "always"))
    server.start()
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
    """Every test: nothing joingate logged carries a link token, a secret or the passcode.
    (Tokens are base64 of a JSON list: they start with 'WyI'.)"""
    caplog.set_level("INFO")
    yield
    text = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records
                     if record.name.startswith("joingate"))
    for secret in (SECRET, "zoom-secret-token", "enc0ded", "alert-secret", "/j/WyI"):
        assert secret not in text, f"{secret!r} appears in the logs"
