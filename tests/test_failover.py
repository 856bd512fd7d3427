"""Redis Sentinel failover under load: a real primary, two replicas and three sentinels on
loopback, gunicorn workers on ``redis+sentinel://``; clients claim fresh links, rejoin, and try
links bound elsewhere from other devices, continuously; the primary is killed (SIGKILL); the
sentinels promote a replica; joingate follows without a restart.

Counted: acknowledged claims (303) whose binding the new primary does not have, links that two
devices were each given a 303 for, 500 answers, and the seconds from the kill until claims
succeed again. With REDIS_WAIT_REPLICAS=1 the first three must be 0. The same run without WAIT
reports (does not assert) what asynchronous replication lost.

One run of each in CI; ``JOINGATE_FAILOVER_RUNS=5`` repeats each that many times.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from helpers import MEETING_ID, make_app, path_of, started
from stack import SentinelGroup, gunicorn_env, start_gunicorn, stop

from joingate.roster import RegistrantInput

RUNS = int(os.environ.get("JOINGATE_FAILOVER_RUNS", "1"))
LINKS = 3000
POOL = 40                    # links bound before the load: rejoined and tried from other devices
CLAIMERS = 5
LOAD_BEFORE_KILL = 2.0       # seconds
LOAD_AFTER_BACK = 2.0        # seconds of load once claims succeed again
DEADLINE = 40.0              # seconds after the kill by which claims must succeed again
# The replication stream reaches each replica this late (a replica in another zone, a busy
# network); on bare loopback it arrives within a millisecond and the window a failover can
# lose is too small to see. What was still on the way when the primary died is lost.
REPLICATION_LAG = 0.1


@dataclass
class Outcome:
    wait_replicas: int
    statuses: Counter = field(default_factory=Counter)
    acknowledged: dict[int, str] = field(default_factory=dict)   # link -> device given 303
    double: set[int] = field(default_factory=set)      # links two devices each got a 303 for
    lost: list[int] = field(default_factory=list)
    rejoins_refused: int = 0
    killed_at: float = 0.0
    back_at: float = 0.0                                # first 303 of a request sent after kill
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def switch_seconds(self) -> float:
        return self.back_at - self.killed_at if self.back_at else float("inf")

    def line(self) -> str:
        return (f"failover with REDIS_WAIT_REPLICAS={self.wait_replicas}: "
                f"{len(self.acknowledged)} claims acknowledged, {len(self.lost)} lost, "
                f"{len(self.double)} links bound to two devices, "
                f"{self.rejoins_refused} rejoins refused, answers {dict(self.statuses)}, "
                f"claims again {self.switch_seconds:.1f} s after the kill")


def device_of(service, session: requests.Session) -> str:
    return service.signer.read_device_cookie(session.cookies.get("jg_device", path="/j/")) or ""


def failover_run(directory: Path, clock, wait_replicas: int) -> Outcome:
    group = started(SentinelGroup(directory, lag=REPLICATION_LAG))
    gunicorn = None
    outcome = Outcome(wait_replicas)
    try:
        clock.now = time.time()
        service = make_app(group.url, clock).extensions["joingate"]
        service.meetings.add(MEETING_ID, topic="Failover", start=datetime.now(UTC),
                             duration=60)
        links = service.meetings.issue_links(MEETING_ID, [
            RegistrantInput(f"f{n}@example.org", f"F {n}") for n in range(LINKS)])
        gunicorn, port = start_gunicorn(
            # Plain http: the device cookie is then not Secure, and requests sends it back
            # over http to 127.0.0.1 as a browser would over https.
            {**gunicorn_env(group.url, JOINGATE_REDIS_WAIT_REPLICAS=str(wait_replicas),
                            JOINGATE_REDIS_TIMEOUT="1"),
             "JOINGATE_PUBLIC_URL": "http://gate.example.org"},
            workers=3, log=directory / "gunicorn.log")
        base = f"http://127.0.0.1:{port}"
        stop_load = threading.Event()

        def claim(n: int, session: requests.Session, sent: float) -> int:
            """POST link ``n`` from ``session``; record the answer (0: none, the connection
            failed); returns its status."""
            try:
                status = session.post(base + path_of(links[n]), allow_redirects=False,
                                      timeout=30).status_code
            except requests.RequestException:
                status = 0
            with outcome.lock:
                outcome.statuses[status] += 1
                if status == 303:
                    device = device_of(service, session)
                    if outcome.acknowledged.setdefault(n, device) != device:
                        outcome.double.add(n)
                    if outcome.killed_at and sent > outcome.killed_at and not outcome.back_at:
                        outcome.back_at = time.time()
            return status

        # gunicorn listens before its workers have imported the app: wait for them.
        assert requests.get(base + "/readyz", timeout=60).status_code == 200
        # The pool: bound before the load, by devices that keep their sessions.
        owners = {n: requests.Session() for n in range(POOL)}
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda n: claim(n, owners[n], time.time()), owners)) == {303}
        fresh = itertools.count(POOL)

        def claimer() -> None:
            """Fresh links, each from a new browser that tries again after a 503 (with the
            cookie a 503 may carry), as a person presses the button again."""
            while not stop_load.is_set():
                n = next(fresh)
                if n >= LINKS:
                    return
                with requests.Session() as session:
                    while not stop_load.is_set():
                        if claim(n, session, time.time()) != 503:
                            break
                        time.sleep(0.05)

        def rejoiner() -> None:
            """The pool's owners come back; strangers try pool links from other devices."""
            chance = random.Random(7)
            while not stop_load.is_set():
                n = chance.randrange(POOL)
                status = claim(n, owners[n], time.time())
                if status == 409:
                    with outcome.lock:
                        outcome.rejoins_refused += 1
                with requests.Session() as stranger:
                    claim(n, stranger, time.time())
                time.sleep(0.01)

        threads = [threading.Thread(target=claimer) for _ in range(CLAIMERS)]
        threads.append(threading.Thread(target=rejoiner))
        for thread in threads:
            thread.start()
        try:
            time.sleep(LOAD_BEFORE_KILL)
            group.kill_primary()
            outcome.killed_at = time.time()
            deadline = outcome.killed_at + DEADLINE
            while not outcome.back_at and time.time() < deadline:
                time.sleep(0.05)
            if outcome.back_at:
                time.sleep(LOAD_AFTER_BACK)
        finally:
            stop_load.set()
            for thread in threads:
                thread.join(30)
        # What the new primary holds, read through the sentinels as the app does.
        reader = make_app(group.url, clock).extensions["joingate"]
        for n, device in sorted(outcome.acknowledged.items()):
            registrant = reader.store.registrant(MEETING_ID, links[n].registrant_id)
            bound = registrant.devices if registrant is not None else ()
            if device not in bound:
                outcome.lost.append(n)
            if len(bound) > 1:
                outcome.double.add(n)
        # What a lost binding means: the link is free again, and another device gets it too.
        for n in outcome.lost:
            with requests.Session() as stranger:
                claim(n, stranger, time.time())
    finally:
        if gunicorn is not None:
            stop(gunicorn)
        group.stop()
    return outcome


@pytest.mark.slow
@pytest.mark.parametrize("run", range(RUNS))
def test_failover_with_wait_loses_no_acknowledged_claim(tmp_path, clock, run, record_property):
    outcome = failover_run(tmp_path, clock, wait_replicas=1)
    print("\n" + outcome.line())
    record_property("failover", outcome.line())
    assert outcome.back_at, f"claims did not succeed again within {DEADLINE} s"
    assert outcome.statuses[500] == 0
    assert set(outcome.statuses) <= {303, 409, 503}, outcome.statuses
    assert outcome.lost == [] and outcome.double == set()
    assert outcome.rejoins_refused == 0
    assert len(outcome.acknowledged) > POOL        # claims were acknowledged under load
    assert outcome.statuses[503] > 0               # the switch was seen by the clients


@pytest.mark.slow
@pytest.mark.parametrize("run", range(RUNS))
def test_failover_without_wait_reports_what_it_loses(tmp_path, clock, run, record_property):
    """Asynchronous replication: a 303 may precede the replica's copy. Reported, not asserted
    (on loopback the window is small); what must hold without WAIT still holds."""
    outcome = failover_run(tmp_path, clock, wait_replicas=0)
    print("\n" + outcome.line())
    record_property("failover", outcome.line())
    assert outcome.back_at and outcome.statuses[500] == 0
