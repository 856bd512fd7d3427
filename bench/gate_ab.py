"""Two versions of gate.lua side by side: ``python3 bench/gate_ab.py OLD.lua [NEW.lua]``.

Starts a redis-server on loopback, issues 200 links, loads both scripts into it and runs them in
turns, 30 blocks each (every block: an open and a claim of every link, pipelined), alternating
which goes first. Prints the median and fastest wall microseconds per call of each. NEW.lua
defaults to this checkout's joingate/lua/gate.lua; OLD.lua is e.g. ``git show main:joingate/lua/
gate.lua > /tmp/old.lua``. Both must take the same KEYS and ARGV.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stack import RedisServer  # noqa: E402

MEETING = "85746065432"


def main() -> None:
    from joingate import create_app
    from joingate.roster import RegistrantInput
    from joingate.store import LINK_FEED_BUDGET, LINK_OVERFLOW_CAP, user_agent_id

    sources = {"old": Path(sys.argv[1]).read_text(),
               "new": Path(sys.argv[2] if len(sys.argv) > 2
                           else ROOT / "joingate" / "lua" / "gate.lua").read_text()}
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            app = create_app({"SECRET_KEY": "bench-secret-key-of-thirty-two-characters",
                              "REDIS_URL": server.url}, environ={})
            state = app.extensions["joingate"]
            client, k = state.store.redis, state.store.keys
            state.meetings.add(MEETING, topic="A/B", start=datetime.now(UTC), duration=180)
            links = state.meetings.issue_links(MEETING, [
                RegistrantInput(f"m{n}@example.org", f"Member {n}") for n in range(200)])
            rids = [state.signer.read_link_token(link.url.rsplit("/", 1)[1]).registrant_id
                    for link in links]
            shas = {name: client.script_load(source) for name, source in sources.items()}

            def block(name: str) -> float:
                started = time.perf_counter()
                with client.pipeline(transaction=False) as pipe:
                    for n, rid in enumerate(rids):
                        keys = [k.meeting(MEETING), k.registrant(MEETING, rid), k.events(MEETING),
                                k.user_agents(MEETING), k.overflow(MEETING, rid)]
                        for mode in ("open", "claim"):
                            pipe.evalsha(shas[name], len(keys), *keys, mode, 1,
                                         repr(time.time()), f"d{n}", f"d{n}", "203.0.113.7",
                                         "UA/1", LINK_FEED_BUDGET, user_agent_id("UA/1"),
                                         LINK_OVERFLOW_CAP)
                    pipe.execute()
                return (time.perf_counter() - started) / (2 * len(rids)) * 1e6

            timings: dict[str, list[float]] = {"old": [], "new": []}
            for turn in range(30):
                for name in ("old", "new") if turn % 2 else ("new", "old"):
                    timings[name].append(block(name))
            for name, values in timings.items():
                print(f"{name}: median {statistics.median(values):.1f} us per call, "
                      f"fastest block {min(values):.1f} us (wall, pipelined)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
