"""JOINGATE_REDIS_WAIT_REPLICAS: no 303 before that many replicas hold the claim; 503 (no redirect,
the device cookie kept) when they do not acknowledge within JOINGATE_REDIS_WAIT_MS. Real
redis-server primary and replica on loopback; the settings' checks at start-up."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis as redis_lib
from helpers import MEETING_ID, make_app, path_of, started
from stack import RedisServer, replica_of, wait_for_replicas

from joingate.config import load_config
from joingate.errors import ConfigError
from joingate.records import GateOutcome
from joingate.roster import RegistrantInput

WAIT_MS = 300


class Pair:
    def __init__(self, primary: RedisServer, replica: RedisServer) -> None:
        self.primary, self.replica = primary, replica

    def stall_replica(self) -> None:
        os.kill(self.replica.process.pid, signal.SIGSTOP)

    def resume_replica(self) -> None:
        os.kill(self.replica.process.pid, signal.SIGCONT)
        self.caught_up()

    def caught_up(self) -> None:
        """Until the replica is online and holds everything written so far (after a full
        sync, or a stall, that can take longer than WAIT_MS on a loaded machine): a write,
        then WAIT for it."""
        wait_for_replicas(self.primary.port, 1)
        primary = redis_lib.Redis(port=self.primary.port)
        primary.set("caught-up-marker", "1")
        assert primary.execute_command("WAIT", 1, 10_000) == 1


@pytest.fixture
def pair(tmp_path) -> Iterator[Pair]:
    (tmp_path / "primary").mkdir()
    primary = started(RedisServer(tmp_path / "primary"))
    try:
        replica = replica_of(tmp_path / "replica", primary)
    except BaseException:
        primary.stop()
        raise
    pair = Pair(primary, replica)
    yield pair
    if replica.process is not None:
        os.kill(replica.process.pid, signal.SIGCONT)
    replica.stop()
    primary.stop()


@pytest.fixture
def waiting(pair, clock):
    """An app that waits for 1 replica, a meeting open now, three links."""
    clock.now = datetime.now(UTC).timestamp()
    app = make_app(pair.primary.url, clock, REDIS_WAIT_REPLICAS=1, REDIS_WAIT_MS=WAIT_MS)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Replicated", start=datetime.now(UTC),
                         duration=60)
    links = service.meetings.issue_links(MEETING_ID, [
        RegistrantInput(f"r{n}@example.org", f"R {n}") for n in range(3)])
    # The claims' own WAITs are then about the claims alone (in CI the first claim once got
    # 503: the replica was still taking the meeting and the links when it waited 300 ms).
    pair.caught_up()
    return app, links


def registrant_on(server: RedisServer, link) -> dict[str, str]:
    return redis_lib.Redis(port=server.port, decode_responses=True).hgetall(
        f"jg:{{m:{MEETING_ID}}}:r:{link.registrant_id}")


def claims_metric(app, outcome: str) -> float:
    metrics = app.extensions["joingate_metrics"]
    return metrics.registry.get_sample_value("joingate_claims_total", {"outcome": outcome}) or 0


def test_a_claim_is_answered_once_the_replica_holds_it(pair, waiting):
    app, links = waiting
    primary = redis_lib.Redis(port=pair.primary.port, decode_responses=True)
    client = app.test_client()

    def calls(command: str) -> int:
        return int(primary.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))

    for n, link in enumerate(links):
        response = client.post(path_of(link))
        assert response.status_code == 303
        device = app.extensions["joingate"].signer.read_device_cookie(
            client.get_cookie("__Host-jg_device", path="/").value)
        # Read from the replica right after the 303: WAIT made it hold the binding already.
        assert registrant_on(pair.replica, link).get("devices") == device
        if n == 0:
            primary.config_resetstat()     # the first claim also loaded the script
    assert client.post(path_of(links[0])).status_code == 303        # a rejoin waits too
    assert calls("wait") == calls("evalsha") == 3
    client.get(path_of(links[1]))                                   # an open does not wait
    assert (calls("wait"), calls("evalsha")) == (3, 4)


def test_a_stalled_replica_gives_503_with_the_device_cookie_then_the_device_rejoins(
        pair, waiting, caplog):
    app, links = waiting
    client = app.test_client()
    pair.stall_replica()
    try:
        response = client.post(path_of(links[0]))
        assert response.status_code == 503
        assert "Location" not in response.headers
        assert b"cannot check your link" in response.data
        cookie = client.get_cookie("__Host-jg_device", path="/")
        assert cookie is not None and cookie.http_only
        # The primary bound that device; the browser holds its cookie.
        device = app.extensions["joingate"].signer.read_device_cookie(cookie.value)
        assert registrant_on(pair.primary, links[0]).get("devices") == device
        assert claims_metric(app, "not_replicated") == 1
        logged = [r for r in caplog.records if getattr(r, "event", "") == "claim_not_replicated"]
        assert len(logged) == 1 and logged[0].link_id and logged[0].acknowledged == 0
    finally:
        pair.resume_replica()
    again = client.post(path_of(links[0]))
    assert again.status_code == 303 and again.headers["Location"].startswith("https://")
    assert registrant_on(pair.replica, links[0]).get("devices") == device
    assert app.test_client().post(path_of(links[0])).status_code == 409   # another device


def test_a_rejoin_waits_and_refusals_and_opens_are_answered_without_replicas(pair, waiting):
    app, links = waiting
    owner = app.test_client()
    assert owner.post(path_of(links[0])).status_code == 303
    pair.replica.stop(kill=True)                      # no replica at all: WAIT answers 0 at once
    assert owner.post(path_of(links[0])).status_code == 503           # rejoin: not acknowledged
    stranger = app.test_client()
    assert stranger.post(path_of(links[0])).status_code == 409        # a refusal promises nothing
    assert stranger.get(path_of(links[1])).status_code == 200         # an open binds nothing
    fresh = stranger.post(path_of(links[1]))
    assert fresh.status_code == 503 and "Location" not in fresh.headers
    assert claims_metric(app, "not_replicated") == 2


def test_a_flushed_script_is_reloaded_on_the_waiting_path(pair, waiting):
    app, links = waiting
    redis_lib.Redis(port=pair.primary.port).script_flush()
    assert app.test_client().post(path_of(links[0])).status_code == 303
    redis_lib.Redis(port=pair.primary.port).script_flush()
    assert app.test_client().post(path_of(links[1])).status_code == 303


def test_a_resent_claim_is_answered_as_the_first_and_binds_once(service, link, meeting):
    """redis-py resends a command once after a lost connection; the first send may have run."""
    store = service.store
    answers = [store.gate("claim", meeting, link.registrant_id, link.version, service.clock(),
                          "", "d" * 24, "203.0.113.7", "UA") for _ in range(2)]
    assert [(a.outcome, a.device_id) for a in answers] == [(GateOutcome.CLAIMED, "d" * 24)] * 2
    registrant = store.registrant(meeting, link.registrant_id)
    assert registrant is not None
    assert registrant.devices == ("d" * 24,) and registrant.claims == 1
    other = store.gate("claim", meeting, link.registrant_id, link.version, service.clock(),
                       "", "e" * 24, "203.0.113.8", "UA")
    assert other.outcome is GateOutcome.USED_ELSEWHERE


BASE = {"JOINGATE_SECRET_KEY": "k" * 40, "JOINGATE_REDIS_URL": "redis://127.0.0.1:6379/0"}


@pytest.mark.parametrize("environ, named", [
    ({"JOINGATE_REDIS_WAIT_REPLICAS": "1",
      "JOINGATE_REDIS_URL": "redis+cluster://127.0.0.1:7000"}, "cannot work on Redis Cluster"),
    ({"JOINGATE_REDIS_WAIT_REPLICAS": "1", "JOINGATE_REDIS_URL": "memory://"},
     "memory:// has none"),
    ({"JOINGATE_REDIS_WAIT_MS": "0"}, "JOINGATE_REDIS_WAIT_MS must be at least 1"),
    ({"JOINGATE_REDIS_WAIT_REPLICAS": "-1"}, "JOINGATE_REDIS_WAIT_REPLICAS must not be negative"),
    ({"JOINGATE_REDIS_WAIT_REPLICAS": "one"}, "JOINGATE_REDIS_WAIT_REPLICAS"),
    ({"JOINGATE_REDIS_WAIT_REPLICAS": "1", "JOINGATE_REDIS_WAIT_MS": "2000"},
     "must be shorter than JOINGATE_REDIS_TIMEOUT"),
], ids=["cluster", "memory", "wait-0", "negative", "not-a-number", "longer-than-timeout"])
def test_wrong_wait_settings_stop_the_start_naming_the_variable(environ, named):
    with pytest.raises(ConfigError, match=named):
        load_config({**BASE, **environ})


def test_wait_settings_default_to_no_wait():
    config = load_config({**BASE, "JOINGATE_REDIS_URL": "redis+cluster://127.0.0.1:7000"})
    assert config["REDIS_WAIT_REPLICAS"] == 0 and config["REDIS_WAIT_MS"] == 500
