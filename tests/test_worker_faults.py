"""The worker under faults: SIGKILL in the middle of delivering alerts and Zoom actions (every
alert delivered at least once, a duplicate with the same body and Idempotency-Key, every
registrant denied at Zoom, nothing left behind), two workers at once (each alert sent once, each
Zoom action taken once), a worker killed between recording a violation and queueing its alert.
Real `joingate worker` processes, a real redis-server, the HTTP alert receiver and fake Zoom."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib
from alert_receiver import Receiver
from fake_zoom_api import FakeZoom
from helpers import MEETING_ID, make_app, path_of
from stack import ROOT, gunicorn_env, stop
from webhook_events import participant, signed

from joingate.roster import RegistrantInput
from joingate.worker import Worker

ALERT_SECRET = "alert-secret"
LEASE = 2


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def zoom():
    server = FakeZoom()
    server.add_meeting(MEETING_ID)
    yield server
    server.close()


def shared_registrations(url: str, clock, count: int) -> list[str]:
    """``count`` registrants of a deny-policy meeting, each seen twice in the meeting at once
    (two signed participant_joined deliveries): ``count`` sharing violations for the worker.
    Returns their Zoom registrant ids."""
    clock.now = time.time()
    app = make_app(url, clock, SHARED_GRACE=0)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Faults", start=datetime.now(UTC),
                         duration=60, policy="deny")
    zids = [f"zr{n:04d}AAAAAAAAAAAAAAAAA" for n in range(count)]
    service.meetings.issue_links(MEETING_ID, [
        RegistrantInput(f"s{n}@example.org", f"Sharer {n}", zid) for n, zid in enumerate(zids)])
    client = app.test_client()
    for n, zid in enumerate(zids):
        for copy, ago in ((1, 90), (2, 60)):
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - ago))
            raw, headers = signed(participant("joined", user_id=f"{n}{copy}", name=f"Sharer {n}",
                                              at=at, registrant_id=zid), int(time.time()))
            assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 200
    return zids


def start_worker(url: str, receiver: Receiver, zoom: FakeZoom, log: Path) -> subprocess.Popen:
    env = gunicorn_env(url, JOINGATE_ALERT_WEBHOOK_URL=receiver.url,
                       JOINGATE_ALERT_SECRET=ALERT_SECRET, JOINGATE_SHARED_GRACE="0",
                       JOINGATE_WORKER_LEASE=str(LEASE),
                       **{f"JOINGATE_{name}": value for name, value in zoom.settings().items()})
    return subprocess.Popen([sys.executable, "-m", "joingate.cli", "worker"], cwd=ROOT, env=env,
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)


def denied(zoom: FakeZoom) -> Counter:
    return Counter(person["id"] for change in list(zoom.status_changes)
                   if change["action"] == "deny" for person in change["registrants"])


def alerts_by_id(receiver: Receiver) -> dict[str, list[tuple[dict, bytes]]]:
    found: dict[str, list[tuple[dict, bytes]]] = {}
    for headers, body in list(receiver.requests):
        found.setdefault(json.loads(body)["id"], []).append((headers, body))
    return found


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def outbox_empty(url: str) -> bool:
    r = redis_lib.Redis.from_url(url)
    return r.hlen("jg:{outbox}:jobs") == 0 and r.zcard("jg:{outbox}:due") == 0


def test_sigkill_mid_delivery_loses_nothing_and_duplicates_keep_their_key(
        own_redis, clock, receiver, zoom, tmp_path):
    zids = shared_registrations(own_redis.url, clock, 12)
    receiver.delay = zoom.api_delay = 0.5      # each delivery is in flight for half a second
    log = tmp_path / "worker.log"
    worker = start_worker(own_redis.url, receiver, zoom, log)
    try:
        wait_until(lambda: len(receiver.requests) >= 3, 30, "no alert arrived")
        worker.send_signal(signal.SIGKILL)      # deliveries recorded, their answers not read
        worker.wait(10)
        at_kill = len(receiver.requests) + sum(denied(zoom).values())
        assert at_kill < 24, "the kill came after every delivery"
        worker = start_worker(own_redis.url, receiver, zoom, log)
        wait_until(lambda: len(alerts_by_id(receiver)) == 12 and set(denied(zoom)) == set(zids)
                   and outbox_empty(own_redis.url), 60, "not everything was delivered")
    finally:
        stop(worker)
    service = make_app(own_redis.url, clock).extensions["joingate"]
    violations = service.store.violations(MEETING_ID)
    assert len(violations) == 12 and {v["kind"] for v in violations} == {"shared"}
    alerts = alerts_by_id(receiver)
    assert set(alerts) == {v["id"] for v in violations}          # every alert, at least once
    for alert_id, copies in alerts.items():
        assert {body for _, body in copies} == {copies[0][1]}      # a duplicate is identical
        for headers, _ in copies:
            assert headers["idempotency-key"] == headers["x-joingate-alert-id"] == alert_id
    deliveries = len(receiver.requests) + sum(denied(zoom).values())
    assert deliveries > 24, "nothing was in flight at the kill: no redelivery was tested"
    registrants = service.store.registrants(MEETING_ID)
    assert len(registrants) == 12 and all(registrant.revoked for registrant in registrants)


def test_two_workers_at_once_send_each_alert_once_and_act_on_zoom_once(
        own_redis, clock, receiver, zoom, tmp_path):
    zids = shared_registrations(own_redis.url, clock, 20)
    receiver.delay = zoom.api_delay = 0.05
    workers = [start_worker(own_redis.url, receiver, zoom, tmp_path / f"worker{n}.log")
               for n in range(2)]
    try:
        wait_until(lambda: len(alerts_by_id(receiver)) == 20 and set(denied(zoom)) == set(zids)
                   and outbox_empty(own_redis.url), 60, "not everything was delivered")
        time.sleep(LEASE + 1)                   # a lease running out would show as a repeat
    finally:
        for worker in workers:
            stop(worker)
    assert all(count == 1 for count in denied(zoom).values()), denied(zoom)
    assert len(zoom.status_changes) == 20
    assert len(receiver.requests) == 20
    logs = "".join((tmp_path / f"worker{n}.log").read_text() for n in range(2))
    assert logs.count('"violation shared') == 20, "each violation recorded by one worker"


def test_a_worker_killed_between_recording_and_queueing_loses_no_alert(
        app, store_url, clock, receiver):
    alert_app = make_app(store_url, clock, like=app, ALERT_WEBHOOK_URL=receiver.url)
    service = alert_app.extensions["joingate"]
    clock.now = time.time()
    service.meetings.add(MEETING_ID, topic="Faults", start=datetime.now(UTC), duration=60)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("b@example.org", "B")])[0]
    assert alert_app.test_client().post(path_of(link)).status_code == 303
    assert alert_app.test_client().post(path_of(link)).status_code == 409   # second_device

    class Killed(BaseException):
        """The process dies here (SIGKILL cannot be aimed at one line)."""

    dying = Worker(service)
    dying.store = type("DiesOnEnqueue", (), {
        "__getattr__": lambda self, name: getattr(service.store, name),
        "enqueue": lambda self, *args, **kwargs: (_ for _ in ()).throw(Killed())})()
    with pytest.raises(Killed):
        dying.tick()
    assert [v["kind"] for v in service.store.violations(MEETING_ID)] == ["second_device"]
    assert receiver.requests == []
    restarted = Worker(service)
    restarted.tick()
    restarted.send_due()
    assert receiver.wait_for(1, timeout=5)
    alert = json.loads(receiver.requests[0][1])
    assert alert["kind"] == "second_device"
    assert alert["id"] == service.store.violations(MEETING_ID)[0]["id"]
    restarted.tick()                 # the same violation seen again: queued once, sent once
    time.sleep(0.3)
    assert len(receiver.requests) == 1


def test_a_leased_job_is_held_by_one_worker_until_its_lease_runs_out(service, clock):
    store = service.store
    now = clock()
    assert store.enqueue("alert:x", {"kind": "alert", "body": {}, "attempts": 0}, now, now)
    assert not store.enqueue("alert:x", {"kind": "alert", "body": {"n": 2}, "attempts": 0},
                             now, now)                       # queued already: kept
    assert [job_id for job_id, _ in store.lease_jobs("a", now, 10, 30)] == ["alert:x"]
    assert store.lease_jobs("b", now + 1, 10, 30) == []      # held by a
    assert store.renew_leases("a", ["alert:x"], now + 20, 30) == 1
    assert store.renew_leases("b", ["alert:x"], now + 20, 30) == 0
    assert store.lease_jobs("b", now + 31, 10, 30) == []     # a renewed it until now + 50
    taken = store.lease_jobs("b", now + 51, 10, 30)          # a stopped renewing (killed)
    assert [job_id for job_id, _ in taken] == ["alert:x"] and taken[0][1]["body"] == {}
    store.finish_job("alert:x", now + 52)
    assert store.lease_jobs("a", now + 200, 10, 30) == []
    assert not store.enqueue("alert:x", {"kind": "alert", "body": {}, "attempts": 0},
                             now + 60, now + 60)             # done: never queued again
