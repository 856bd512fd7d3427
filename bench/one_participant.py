"""What one Zoom participant can store (a follow-up of security finding 4):
``python3 bench/one_participant.py``.

Starts a redis-server on loopback (tests/stack.py) and makes a meeting of ``OTHERS`` registrants
who each open and claim their link and join the class once (their evidence); registrant 1 also
has a friend in on the same registration (two people on one registrant link: ``shared``). Then
ONE participant joins and leaves ``EVENTS / 2`` times under one name (``NAME``; by default the
display name of registrant 2, as someone holding the web client URL can type), each time with a
new Zoom ``user_id`` as Zoom gives on every rejoin; then an outsider joins (``unmatched``).
Every delivery goes through ``Presence.record`` (the webhook's one round trip). Prints:

- the Redis bytes the flood added (MEMORY USAGE of every key, after minus before), in total and
  per event;
- the sizes of the meeting's keys: the event feed, the seen deliveries, the stays;
- the others' claims still in the feed;
- what the report says about the others (every one of them joined; registrant 1 shared), how
  long the report takes, and what one worker pass finds (the outsider, the sharing) and how long
  it takes.

In-process against the store, so the figures are storage, not speed (but for the report's and
the worker's seconds, and the microseconds Redis spent in participant.lua per delivery). ``EVENTS`` (default 20000) and ``NAME`` come from the environment.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stack import RedisServer  # noqa: E402

EVENTS = int(os.environ.get("EVENTS", "20000"))
OTHERS = 1000
MEETING = "85746065432"
INSTANCE = "bench-instance=="
SECRET = "bench-secret-key-of-thirty-two-characters"
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")


def used(client) -> int:
    """The bytes of every key (MEMORY USAGE, every element counted): used_memory moves with the
    allocator's own bookkeeping by more than a bounded flood adds."""
    return sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(count=1000))


def main() -> None:
    from joingate import create_app
    from joingate.roster import RegistrantInput
    from joingate.worker import Worker
    from joingate.zoom.events import InstanceEvent, ParticipantEvent

    def event(kind: str, at: float, user_id: str, name: str, registrant_id: str = ""
              ) -> ParticipantEvent:
        return ParticipantEvent(
            kind=kind, meeting_id=MEETING, instance=INSTANCE, at=at,
            at_text=datetime.fromtimestamp(at, UTC).isoformat(), user_id=user_id,
            user_name=name, participant_id="", participant_uuid=f"PU-{user_id}", email="",
            registrant_id=registrant_id, customer_key="", is_host=False)

    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            start = int(time.time()) - 6 * 3600
            app = create_app({"SECRET_KEY": SECRET, "REDIS_URL": server.url}, environ={})
            state = app.extensions["joingate"]
            store, client = state.store, state.store.redis
            state.meetings.add(MEETING, topic="Storage", start=datetime.fromtimestamp(start, UTC),
                               duration=360)
            links = state.meetings.issue_links(MEETING, [
                RegistrantInput(f"m{n}@example.org", f"Member {n}",
                                "ZR-SHARED-00001" if n == 1 else "")
                for n in range(OTHERS)])
            refs = [state.signer.read_link_token(link.url.rsplit("/", 1)[1]) for link in links]
            state.presence.record(InstanceEvent("started", MEETING, INSTANCE, start))
            for n, ref in enumerate(refs):
                for mode in ("open", "claim"):
                    store.gate(mode, MEETING, ref.registrant_id, ref.version, time.time(), "",
                               f"device{n}", "203.0.113.7", UA)
                state.presence.record(event("joined", start + 60 + n // 20, f"member{n}",
                                            links[n].display_name,
                                            "ZR-SHARED-00001" if n == 1 else ""))
            state.presence.record(event("joined", start + 120, "friend", "Friend",
                                        "ZR-SHARED-00001"))
            name = os.environ.get("NAME") or links[2].display_name
            before = used(client)
            client.config_resetstat()
            started = time.perf_counter()
            for n in range(EVENTS // 2):      # Zoom's times are whole seconds
                at = start + 300 + 2 * n
                state.presence.record(event("joined", at, f"flood{n}", name))
                state.presence.record(event("left", at + 1, f"flood{n}", name))
            seconds = time.perf_counter() - started
            grown = used(client) - before
            script = client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
            state.presence.record(event("joined", start + 300 + EVENTS + 60, "outsider",
                                        "Eve Outsider"))
            k = store.keys
            instances, stays = store.attendance(MEETING)
            print(f"{EVENTS:,} participant events of one name ({name!r}), a new Zoom user_id "
                  f"on each join ({EVENTS / seconds:,.0f} events/s in-process, {script:,.0f} us "
                  "of Redis each)")
            print(f"  Redis grew by            {grown:>12,} bytes ({grown / EVENTS:,.0f} per event)")
            print(f"  meeting feed entries     {client.xlen(k.events(MEETING)):>12,}")
            print(f"  seen deliveries          {client.scard(k.seen(MEETING)):>12,}")
            print(f"  stays the report reads   {len(stays):>12,}")
            claims = sum(1 for _, fields in client.xrange(k.events(MEETING))
                         if fields.get("kind") == "claim")
            print(f"  others' claims still in the feed {claims:,} of {OTHERS:,}")
            began = time.perf_counter()
            report = state.presence.report(MEETING)
            report_seconds = time.perf_counter() - began
            rows = {row["email"]: row for row in report["registrants"]}
            joined = sum(1 for n in range(3, OTHERS) if rows[f"m{n}@example.org"]["joins"] >= 1)
            print(f"  report: {report_seconds:.2f} s; others (not 1, 2) who joined "
                  f"{joined:,} of {OTHERS - 3:,}; registrant 1 flags "
                  f"{rows['m1@example.org']['flags']}; registrant 2 joins "
                  f"{rows['m2@example.org']['joins']:,}, flags {rows['m2@example.org']['flags']}; "
                  f"unmatched rows {len(report['unmatched']):,}"
                  f" (the outsider among them: "
                  f"{any(row['user_name'] == 'Eve Outsider' for row in report['unmatched'])})")
            worker = Worker(state)
            began = time.perf_counter()
            while worker.read_events(MEETING):
                pass
            worker.run_checks(MEETING)
            worker_seconds = time.perf_counter() - began
            found = store.violations(MEETING)
            kinds = sorted({row["kind"] for row in found})
            print(f"  worker pass: {worker_seconds:.2f} s; violations {len(found):,} ({kinds}); "
                  f"the outsider: "
                  f"{any(row['kind'] == 'unmatched' and row['evidence'].get('user_name') == 'Eve Outsider' for row in found)}"
                  f"; registrant 1 shared: "
                  f"{any(row['kind'] == 'shared' and row['registrant'] and row['registrant']['email'] == 'm1@example.org' for row in found)}")
            worker.pool.shutdown(wait=False)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
