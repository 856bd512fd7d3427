"""What one valid link can store (security finding 4): ``python3 bench/one_link.py``.

Starts a redis-server on loopback (tests/stack.py), makes a meeting of ``OTHERS`` registrants who
each open and claim their link once (their evidence), then opens ONE link ``OPENS`` times, each
time with a new random user agent of 200 characters (what a script holding one forwarded link
can send; valid links are never refused). Prints:

- the Redis bytes those opens added (``used_memory`` after minus before), in total and per open;
- the sizes of the meeting's keys: the event feed, the user-agent table, the link's history;
- how much of the other registrants' evidence is still there: their claims in the meeting's
  feed and in their own history (``links show``);
- bytes per registrant with its link, one open, one claim and one stay (as bench/run.py).

Runs in-process against the store (``Store.gate``, the claim path's one round trip), so the
figures are storage, not speed. Takes about a minute.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stack import RedisServer  # noqa: E402

OPENS = int(os.environ.get("OPENS", "50000"))
OTHERS = 1000
MEETING = "85746065432"
SECRET = "bench-secret-key-of-thirty-two-characters"
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")


def used(client) -> int:
    return int(client.info("memory")["used_memory"])


def main() -> None:
    from joingate import create_app
    from joingate.roster import RegistrantInput
    from joingate.zoom.events import ParticipantEvent

    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            app = create_app({"SECRET_KEY": SECRET, "REDIS_URL": server.url}, environ={})
            state = app.extensions["joingate"]
            store, client = state.store, state.store.redis
            base = used(client)
            state.meetings.add(MEETING, topic="Storage", start=datetime.now(UTC), duration=60)
            links = state.meetings.issue_links(MEETING, [
                RegistrantInput(f"m{n}@example.org", f"Member {n}") for n in range(OTHERS + 1)])
            refs = [state.signer.read_link_token(link.url.rsplit("/", 1)[1]) for link in links]
            for n, ref in enumerate(refs[1:], 1):
                for mode in ("open", "claim"):
                    store.gate(mode, MEETING, ref.registrant_id, ref.version, time.time(), "",
                               f"device{n}", "203.0.113.7", UA)
                state.presence.record(ParticipantEvent(
                    kind="joined", meeting_id=MEETING, instance="mem", at=time.time(),
                    at_text="2026-12-01T18:01:00Z", user_id=str(n),
                    user_name=links[n].display_name, participant_id="",
                    participant_uuid=f"PU-{n}", email="", registrant_id="", customer_key="",
                    is_host=False))
            per_registrant = (used(client) - base) / OTHERS
            one = refs[0]
            before = used(client)
            started = time.perf_counter()
            for _ in range(OPENS):
                store.gate("open", MEETING, one.registrant_id, one.version, time.time(), "",
                           "x", "198.51.100.9", "Bot/" + secrets.token_hex(98))
            seconds = time.perf_counter() - started
            grown = used(client) - before
            k = store.keys
            feed = client.xlen(k.events(MEETING))
            table = client.hlen(k.user_agents(MEETING))
            feed_claims = sum(1 for _, fields in client.xrange(k.events(MEETING))
                              if fields.get("kind") == "claim")
            history_claims = sum(
                1 for ref in refs[1:]
                if any(entry.kind == "claim" for entry in store.history(MEETING, ref.registrant_id)))
            own = store.history(MEETING, one.registrant_id)
            print(f"{OPENS:,} opens of one link, each with a new 200-character user agent "
                  f"({OPENS / seconds:,.0f} opens/s in-process)")
            print(f"  Redis grew by            {grown:>12,} bytes ({grown / OPENS:,.0f} per open)")
            print(f"  meeting feed entries     {feed:>12,}")
            print(f"  user-agent table entries {table:>12,}")
            print(f"  the link's own history   {len(own):>12,} entries")
            print(f"  other registrants' claims still in the feed    {feed_claims:,} of {OTHERS:,}")
            print(f"  other registrants' claims still in their history {history_claims:,} of "
                  f"{OTHERS:,}")
            print(f"bytes per registrant (link, open, claim, one stay): {per_registrant:,.0f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
