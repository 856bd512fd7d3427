"""The cost of each part of a claim, one at a time, against a redis-server this script starts on
loopback: ``python3 bench/parts.py``. Prints client CPU and wall time per call, and the time
Redis itself spent in gate.lua (INFO commandstats)."""

from __future__ import annotations

import io
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stack import RedisServer, replica_of  # noqa: E402

CALLS = 2000


def measure(name: str, call) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(CALLS):
        call(n)
    print(f"{name:<40} CPU {(time.process_time() - cpu) / CALLS * 1e6:7.1f} us   "
          f"wall {(time.perf_counter() - wall) / CALLS * 1e6:7.1f} us")


def main() -> None:
    from joingate import create_app
    from joingate.observability import (
        JSON_LOG_FORMAT,
        JSON_LOG_RENAMES,
        JsonLineFormatter,
        log_request,
    )
    from joingate.roster import RegistrantInput

    server = RedisServer(Path(tempfile.mkdtemp(prefix="joingate-parts-")))
    server.start()
    try:
        app = create_app({"SECRET_KEY": "k" * 32, "REDIS_URL": server.url}, environ={})
        service = app.extensions["joingate"]
        service.meetings.add("85746065432", topic="T", start=datetime.now(UTC),
                            duration=60)
        links = service.meetings.issue_links("85746065432", [RegistrantInput(f"p{n}@x.org", f"P {n}")
                                                    for n in range(CALLS)])
        tokens = [link.url.rsplit("/", 1)[1] for link in links]
        refs = [service.signer.read_link_token(token) for token in tokens]
        service.store.redis.config_resetstat()
        measure("claim round trip (store.gate)", lambda n: service.store.gate(
            "claim", "85746065432", refs[n].registrant_id, 1, time.time(), "", f"dev{n}",
            "203.0.113.7", "Mozilla/5.0"))
        stats = service.store.redis.info("commandstats").get("cmdstat_evalsha", {})
        print(f"{'  inside Redis (gate.lua)':<40} {stats.get('usec_per_call', 0):7.1f} us")
        # With a replica attached: the claim answered once the primary has it (WAIT 0), and
        # once the replica has it too (REDIS_WAIT_REPLICAS=1: EVALSHA and WAIT in one send).
        # Blocks of 100 calls alternate between the two, so that both see the same machine.
        replica = replica_of(server.directory / "replica", server)
        try:
            stores, fresh = {}, {}
            for replicas in (0, 1):
                waiting = create_app({"SECRET_KEY": "k" * 32, "REDIS_URL": server.url,
                                      "REDIS_WAIT_REPLICAS": replicas},
                                     environ={}).extensions["joingate"]
                stores[replicas] = waiting.store
                fresh[replicas] = [waiting.signer.read_link_token(link.url.rsplit("/", 1)[1])
                                   for link in waiting.meetings.issue_links("85746065432", [
                                       RegistrantInput(f"w{replicas}-{n}@x.org", f"W {n}")
                                       for n in range(CALLS)])]
            walls: dict[int, list[float]] = {0: [], 1: []}
            for block in range(2 * CALLS // 100):
                replicas = block % 2
                for _ in range(100):
                    n = len(walls[replicas])
                    began = time.perf_counter()
                    stores[replicas].gate("claim", "85746065432",
                                          fresh[replicas][n].registrant_id, 1, time.time(), "",
                                          f"wdev{replicas}-{n}", "203.0.113.7", "Mozilla/5.0")
                    walls[replicas].append(time.perf_counter() - began)
            for replicas in (0, 1):
                ordered = sorted(walls[replicas])
                print(f"{f'  replica attached, WAIT {replicas}':<40} median "
                      f"{ordered[len(ordered) // 2] * 1e6:7.1f} us   p99 "
                      f"{ordered[len(ordered) * 99 // 100] * 1e6:7.1f} us")
        finally:
            replica.stop()
        measure("Redis PING round trip", lambda n: service.store.redis.ping())
        measure("verify a link token", lambda n: service.signer.read_link_token(tokens[n]))
        measure("sign a device cookie", lambda n: service.signer.device_cookie("ab" * 12))
        access = logging.getLogger("joingate.access")   # the request line, as gunicorn logs it
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(JsonLineFormatter(JSON_LOG_FORMAT, rename_fields=JSON_LOG_RENAMES))
        access.addHandler(handler)
        access.propagate = False
        access.setLevel("INFO")
        measure("one JSON request log line", lambda n: log_request(
            "r" * 32, "POST", "/j/0123456789", 303, 0.001, "203.0.113.7", "claimed"))
        client = app.test_client()
        paths = [link.url.split("8000", 1)[1] for link in service.meetings.issue_links(
            "85746065432", [RegistrantInput(f"q{n}@x.org", f"Q {n}") for n in range(CALLS)])]
        measure("whole claim (Werkzeug test client)", lambda n: client.post(
            paths[n], headers={"Cookie": ""}))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
