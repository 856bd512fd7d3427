"""Same-name registrants: how long issuing them takes, and how long Redis is blocked.

    python3 bench/upsert_names.py [--guests 3000] [--students 8000]

Starts its own redis-server on loopback (tests/stack.py's RedisServer: no persistence), then,
through ``Service.issue_links`` (one ``upsert.lua`` call per 500 rows), issues links to
``--guests`` registrants all named "Guest" in one meeting, ``--students`` all named "Student"
in another, and, for reference, ``--guests`` registrants of distinct names. Prints, for each, the seconds the call took and the longest single Redis command
(the longest ``upsert.lua`` call: every other client waits that long), read from SLOWLOG.
Issue 13 finding 2 measured 3,000 "Guest" rows at 6.5 s before the fix.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stack import RedisServer  # noqa: E402

SECRET = "bench-secret-key-bench-secret-key"


def issue_same_name(service, redis_client, meeting_id: str, name: str, count: int,
                    distinct: bool = False) -> tuple[float, float]:
    """Issue ``count`` links named ``name`` (``name 1``, ``name 2``... when ``distinct``) in a
    new meeting: (seconds, longest Redis command in ms)."""
    from joingate.roster import RegistrantInput

    service.add_meeting(meeting_id, topic=f"{count} x {name}",
                        start=datetime.now(UTC) + timedelta(days=1), duration=60)
    people = [RegistrantInput(f"{name.lower()}{n}@example.org", f"{name} {n}" if distinct else name)
              for n in range(count)]
    redis_client.slowlog_reset()
    began = time.perf_counter()
    links = service.issue_links(meeting_id, people)
    seconds = time.perf_counter() - began
    longest_us = max(entry["duration"] for entry in redis_client.slowlog_get(10_000))
    displays = {link.display_name for link in links}
    if len(displays) != count:
        raise RuntimeError(f"{count - len(displays)} display names given twice")
    return seconds, longest_us / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guests", type=int, default=3000)
    parser.add_argument("--students", type=int, default=8000)
    options = parser.parse_args()

    from joingate import create_app

    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            # A generous timeout: the point is to measure a slow script, not to answer 503.
            app = create_app({"SECRET_KEY": SECRET, "REDIS_URL": server.url,
                              "REDIS_TIMEOUT": 600}, environ={})
            service = app.extensions["joingate"]
            redis_client = service.store.redis
            redis_client.config_set("slowlog-log-slower-than", 0)
            redis_client.config_set("slowlog-max-len", 10_000)
            for meeting_id, name, count, distinct in (
                    ("85746065431", "Guest", options.guests, False),
                    ("85746065432", "Student", options.students, False),
                    ("85746065433", "Member", options.guests, True)):
                seconds, longest_ms = issue_same_name(service, redis_client, meeting_id, name,
                                                      count, distinct)
                named = f"named '{name} <n>' (reference)" if distinct else f"named {name!r}"
                print(f"{count:>6,} registrants {named}: {seconds:.2f} s "
                      f"(longest Redis command {longest_ms:.1f} ms)", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
