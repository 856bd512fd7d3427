"""Redis that answers but will not serve: out of memory (maxmemory, noeviction), writes refused
after a persistence error (MISCONF), a read-only replica, a long script (BUSY), a replica that
lost its primary (MASTERDOWN), a data set still loading (LOADING), scripts flushed (NOSCRIPT,
recovered). Every gate route, the webhook endpoint and the API answer 503 (never 500, never a
redirect), /readyz says why, the worker backs off and logs; once Redis serves again, so does
joingate. Each against a real redis-server made to refuse in that way."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib
from helpers import MEETING_ID, make_app, path_of, started, store_for
from redis.backoff import NoBackoff
from redis.retry import Retry
from stack import RedisServer, free_port, replica_of, wait_for_port
from webhook_events import participant, signed

from joingate.errors import StorageUnavailable
from joingate.roster import RegistrantInput
from joingate.store import translated, unavailable_reason
from joingate.worker import Worker

ADMIN = "refusals-admin-token"


def open_meeting(url: str, clock, **config):
    """An app on ``url`` with the API on, a meeting open now and two links."""
    clock.now = datetime.now(UTC).timestamp()
    app = make_app(url, clock, ADMIN_TOKEN=ADMIN, **config)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Refusals", start=datetime.now(UTC),
                         duration=60)
    links = service.meetings.issue_links(MEETING_ID, [
        RegistrantInput(f"x{n}@example.org", f"X {n}") for n in range(2)])
    return app, links


def answers(app, clock, link) -> dict[str, tuple[int, dict, bytes]]:
    """Every route that needs Redis, once: name -> (status, headers, body)."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {ADMIN}"}
    raw, headers = signed(participant("joined", user_id="9", name="Guest",
                                      at="2026-12-01T18:01:00Z"), int(clock()))
    calls: dict[str, Callable] = {
        "GET /j/": lambda: client.get(path_of(link)),
        "HEAD /j/": lambda: client.head(path_of(link)),
        "POST /j/": lambda: client.post(path_of(link)),
        "POST /webhooks/zoom": lambda: client.post("/webhooks/zoom", data=raw, headers=headers),
        "POST /api/v1/.../registrants": lambda: client.post(
            f"/api/v1/meetings/{MEETING_ID}/registrants", headers=auth,
            json={"email": "new@example.org", "first_name": "New", "last_name": "One"}),
        "GET /api/v1/meetings/<id>": lambda: client.get(f"/api/v1/meetings/{MEETING_ID}",
                                                        headers=auth),
        "GET /readyz": lambda: client.get("/readyz"),
    }
    found = {}
    for name, call in calls.items():
        response = call()
        found[name] = (response.status_code, dict(response.headers), response.data)
    return found


def assert_refused(found: dict, reason: str, reads_work: bool = False) -> None:
    """503 everywhere (reads may still work where Redis serves reads), never 500, no redirect;
    /readyz names the reason and nothing secret."""
    for name, (status, headers, body) in found.items():
        allowed = {200, 503} if reads_work and name.startswith("GET /api") else {503}
        assert status in allowed, (name, status, body[:200])
        assert "Location" not in headers, name
        if status == 503:
            assert headers.get("Retry-After"), name
    for name in ("GET /j/", "POST /j/"):
        assert b"cannot check your link" in found[name][2], name
    status, _, body = found["GET /readyz"]
    import json

    ready = json.loads(body)
    assert ready["status"] == "unavailable" and ready["reason"] == reason, ready
    for secret in ("test-secret-key", ADMIN, "zoom-secret-token", "127.0.0.1"):
        assert secret not in ready["message"]


def assert_serving(app, clock, link) -> None:
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    claim = client.post(path_of(link))
    assert claim.status_code == 303 and claim.headers["Location"].startswith("https://")


@pytest.fixture
def own_dir_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server that snapshots (save 3600 1, stop-writes-on-bgsave-error yes, Redis's
    default) and may move its dir (CONFIG SET dir is a protected config)."""
    (tmp_path / "data").mkdir()
    server = started(RedisServer(tmp_path / "data", extra=(
        "--appendonly", "no", "--save", "3600 1", "--enable-protected-configs", "yes",
        "--shutdown-on-sigterm", "nosave")))
    yield server
    server.stop()


def test_out_of_memory_with_noeviction(own_redis, clock):
    app, links = open_meeting(own_redis.url, clock)
    direct = redis_lib.Redis(port=own_redis.port)
    direct.config_set("maxmemory-policy", "noeviction")
    with direct.pipeline(transaction=False) as pipe:
        for n in range(2000):
            pipe.set(f"ballast:{n}", "x" * 1000)
        pipe.execute()
    direct.config_set("maxmemory", int(direct.info("memory")["used_memory"]) // 2)
    try:
        assert_refused(answers(app, clock, links[0]), "oom", reads_work=True)
    finally:
        direct.config_set("maxmemory", 0)
    assert_serving(app, clock, links[0])


def test_writes_refused_after_a_failed_snapshot_misconf(own_dir_redis, clock, tmp_path):
    app, links = open_meeting(own_dir_redis.url, clock)
    direct = redis_lib.Redis(port=own_dir_redis.port, decode_responses=True)
    doomed = Path(tempfile.mkdtemp(dir=tmp_path))
    direct.config_set("dir", str(doomed))
    shutil.rmtree(doomed)                      # the disk "fails": the snapshot cannot be written

    def bgsave_status(expected: str) -> None:
        try:
            direct.bgsave()
        except redis_lib.exceptions.ResponseError:
            pass                               # a snapshot may still be running
        deadline = time.monotonic() + 10
        while direct.info("persistence")["rdb_last_bgsave_status"] != expected:
            assert time.monotonic() < deadline, "BGSAVE status did not change"
            time.sleep(0.05)

    bgsave_status("err")
    assert_refused(answers(app, clock, links[0]), "misconf", reads_work=True)
    direct.config_set("dir", str(tmp_path))    # the disk is back; the next snapshot works
    bgsave_status("ok")
    assert_serving(app, clock, links[0])


def test_app_pointed_at_a_replica_readonly(tmp_path, clock):
    (tmp_path / "primary").mkdir()
    primary = started(RedisServer(tmp_path / "primary"))
    replica = replica_of(tmp_path / "replica", primary)
    try:
        writer, links = open_meeting(primary.url, clock)
        redis_lib.Redis(port=primary.port).execute_command("WAIT", 1, 2000)
        app = make_app(replica.url, clock, ADMIN_TOKEN=ADMIN)
        assert_refused(answers(app, clock, links[0]), "readonly", reads_work=True)
        assert answers(app, clock, links[0])["GET /api/v1/meetings/<id>"][0] == 200
    finally:
        replica.stop()
        primary.stop()


def test_a_long_script_from_another_connection_busy(own_redis, clock):
    app, links = open_meeting(own_redis.url, clock)
    direct = redis_lib.Redis(port=own_redis.port)
    direct.config_set("busy-reply-threshold", 100)
    started_at = threading.Event()

    def long_script() -> None:
        hog = redis_lib.Redis(port=own_redis.port, socket_timeout=60)
        started_at.set()
        try:   # a read-only loop of up to 30 s; SCRIPT KILL ends it
            hog.eval("local t = redis.call('TIME') while true do local n = redis.call('TIME') "
                     "if tonumber(n[1]) > tonumber(t[1]) + 30 then break end end return 1", 0)
        except redis_lib.exceptions.ResponseError:
            pass

    hog = threading.Thread(target=long_script, daemon=True)
    hog.start()
    started_at.wait(5)
    deadline = time.monotonic() + 5
    while True:                                  # until Redis says BUSY to others
        try:
            direct.ping()
        except redis_lib.exceptions.ResponseError as exc:
            assert str(exc).startswith("BUSY")
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        assert_refused(answers(app, clock, links[0]), "busy")
    finally:
        direct.script_kill()
        hog.join(10)
    assert_serving(app, clock, links[0])


def test_a_replica_that_lost_its_primary_masterdown(tmp_path, clock):
    (tmp_path / "replica").mkdir()
    orphan = started(RedisServer(tmp_path / "replica", extra=(
        "--appendonly", "no", "--replicaof", "127.0.0.1", str(free_port()),
        "--replica-serve-stale-data", "no")))
    try:
        writer, links = open_meeting("memory://", clock)      # tokens only: signed, not stored
        app = make_app(orphan.url, clock, ADMIN_TOKEN=ADMIN)
        assert_refused(answers(app, clock, links[0]), "masterdown")
    finally:
        orphan.stop()


def test_a_data_set_still_loading(tmp_path, clock):
    (tmp_path / "data").mkdir()
    server = started(RedisServer(tmp_path / "data"))
    app, links = open_meeting(server.url, clock)
    direct = redis_lib.Redis(port=server.port)
    with direct.pipeline(transaction=False) as pipe:
        for n in range(12_000):
            pipe.set(f"ballast:{n}", "x")
        pipe.execute()
    direct.save()
    server.stop()
    # The same data set, loaded 250 us per key (Redis's own test knob): about 3 s of LOADING.
    server.extra = ("--appendonly", "no", "--key-load-delay", "250",
                    "--loading-process-events-interval-bytes", "1024")
    binary = shutil.which("redis-server")
    server.process = subprocess.Popen(
        [binary, "--port", str(server.port), "--bind", "127.0.0.1", "--dir",
         str(server.directory), "--dbfilename", "dump.rdb", *server.extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(server.port)
        probe = redis_lib.Redis(port=server.port, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis_lib.exceptions.BusyLoadingError):
            probe.ping()
        found = answers(app, clock, links[0])
        assert_refused(found, "loading")
        with pytest.raises(redis_lib.exceptions.BusyLoadingError):
            probe.ping()                         # still loading: the answers were LOADING's
        deadline = time.monotonic() + 30
        while True:
            try:
                probe.ping()
                break
            except redis_lib.exceptions.BusyLoadingError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert_serving(app, clock, links[1])
    finally:
        server.stop()


def test_flushed_scripts_are_reloaded_noscript(app, clock, service):
    """SCRIPT FLUSH (or a Redis restarted without them) between calls: every script is loaded
    again by the call that finds it missing. On fakeredis and on a real redis-server."""
    clock.now = datetime.now(UTC).timestamp()
    service.meetings.add(MEETING_ID, topic="Flush", start=datetime.now(UTC),
                         duration=60)
    links = service.meetings.issue_links(MEETING_ID, [RegistrantInput("f@example.org", "F")])
    client = app.test_client()
    service.store.redis.script_flush()
    assert client.get(path_of(links[0])).status_code == 200
    service.store.redis.script_flush()
    assert client.post(path_of(links[0])).status_code == 303
    service.store.redis.script_flush()
    raw, headers = signed(participant("joined", user_id="9", name="Guest",
                                      at="2026-12-01T18:01:00Z"), int(clock()))
    assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 200
    service.store.redis.script_flush()
    added = service.meetings.issue_links(MEETING_ID, [RegistrantInput("g@example.org", "G")])
    assert added[0].created


@pytest.mark.parametrize("error, reason", [
    (redis_lib.exceptions.ResponseError("BUSY Redis is busy running a script. You can only "
                                        "call SCRIPT KILL or SHUTDOWN NOSAVE."), "busy"),
    (redis_lib.exceptions.ResponseError("MISCONF Errors writing to the AOF file: No space left "
                                        "on device"), "misconf"),
    (redis_lib.exceptions.ResponseError("NOREPLICAS Not enough good replicas to write."),
     "noreplicas"),
    (redis_lib.exceptions.ResponseError("Command # 1 (PING) of pipeline caused error: BUSY "
                                        "Redis is busy running a script."), "busy"),
    (redis_lib.exceptions.ResponseError(
        "ERR Error running script (call to f_0c1b): @user_script:12: @user_script: 12: -OOM "
        "command not allowed when used memory > 'maxmemory'."), "oom"),
    (redis_lib.exceptions.OutOfMemoryError("command not allowed when used memory"), "oom"),
    (redis_lib.exceptions.ReadOnlyError("You can't write against a read only replica."),
     "readonly"),
    (redis_lib.exceptions.NoScriptError("No matching script."), "noscript"),
    (redis_lib.exceptions.TimeoutError("Timeout reading from socket"), "timeout"),
], ids=["busy", "misconf-aof", "noreplicas", "busy-in-a-pipeline", "oom-in-a-redis-6-script",
        "oom", "readonly", "noscript", "timeout"])
def test_each_refusal_is_translated_to_storage_unavailable(error, reason):
    """The forms real servers produce above, plus those this Redis cannot be made to send (an
    AOF write error, min-replicas-to-write, Redis 6's script errors)."""

    @translated
    def call() -> None:
        raise error

    with pytest.raises(StorageUnavailable) as caught:
        call()
    assert caught.value.reason == reason == unavailable_reason(error)


def test_a_bug_is_not_hidden_as_unavailable():
    @translated
    def call() -> None:
        raise redis_lib.exceptions.ResponseError(
            "WRONGTYPE Operation against a key holding the wrong kind of value")

    with pytest.raises(redis_lib.exceptions.ResponseError):
        call()


def test_the_worker_backs_off_and_logs_while_redis_is_out_of_memory(own_redis, clock, caplog):
    app, links = open_meeting(own_redis.url, clock)
    service = app.extensions["joingate"]
    assert app.test_client().post(path_of(links[0])).status_code == 303
    assert app.test_client().post(path_of(links[0])).status_code == 409   # a violation to record
    direct = redis_lib.Redis(port=own_redis.port)
    direct.config_set("maxmemory-policy", "noeviction")
    direct.config_set("maxmemory", 1)           # far below what Redis uses: every write refused
    stop = threading.Event()
    worker = threading.Thread(target=Worker(service).run, args=(stop, 0.05), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while len([r for r in caplog.records if getattr(r, "event", "") == "worker_backoff"]) < 2:
            assert time.monotonic() < deadline, "the worker did not log its back-off"
            time.sleep(0.05)
        backoffs = [r for r in caplog.records if getattr(r, "event", "") == "worker_backoff"]
        assert {r.reason for r in backoffs} == {"oom"}
        assert "next try in 1 s" in backoffs[0].getMessage()
        assert "next try in 2 s" in backoffs[1].getMessage()
        assert worker.is_alive() and service.store.violations(MEETING_ID) == []
        direct.config_set("maxmemory", 0)
        deadline = time.monotonic() + 10
        while not service.store.violations(MEETING_ID):
            assert time.monotonic() < deadline, "the worker did not resume"
            time.sleep(0.1)
        assert [v["kind"] for v in service.store.violations(MEETING_ID)] == ["second_device"]
    finally:
        direct.config_set("maxmemory", 0)
        stop.set()
        worker.join(20)


def test_readyz_answers_on_each_kind_of_store(request, clock):
    """The readiness probe's one round trip works on the embedded store, one Redis and a
    Redis Cluster (whose pipelines refuse keyless commands)."""
    for kind in ("memory", "redis", "cluster"):
        app = make_app(store_for(request, kind), clock)
        answer = app.test_client().get("/readyz")
        assert (answer.status_code, answer.get_json()) == (200, {"status": "ready"}), kind
