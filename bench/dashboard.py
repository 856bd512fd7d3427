"""The dashboard's meeting page with 5,000 registrants: ``python3 bench/dashboard.py``.

Starts a redis-server on loopback (tests/stack.py), fills one meeting with 5,000 registrants of
whom 2,000 claimed their link, 100 were refused on a second device and 1,500 are in the Zoom
meeting (with 50 shared registrations and 20 participants nobody explains), signs in with a
manage token, then times each request through the app in-process (Flask's test client: the
page's own work, Redis round trips included, no HTTP server in front). Prints the median and
the slowest of ``RUNS`` requests per page, and the median CPU time the process spent (the
machine is shared: wall time grows with other processes' load, CPU time much less).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from stack import RedisServer  # noqa: E402

MEETING = "85746065432"
REGISTRANTS = 5000
CLAIMED = 2000
REFUSED = 100
IN_ZOOM = 1500
SHARED = 50
STRANGERS = 20
RUNS = 15


def timed(client, path: str, before=None, runs: int = RUNS) -> tuple[float, float, float, int]:
    """Median wall seconds, slowest wall seconds and median CPU seconds (of this process: the
    app's own work) of ``runs`` GETs of ``path`` (``before`` runs, untimed, ahead of each), and
    the body's size."""
    wall, cpu, size = [], [], 0
    for run in range(runs):
        if before:
            before(run)
        started, used = time.perf_counter(), time.process_time()
        answer = client.get(path)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        assert answer.status_code == 200, (path, answer.status_code)
        size = len(answer.get_data())
    return statistics.median(wall), max(wall), statistics.median(cpu), size


def main() -> None:
    from joingate import create_app
    from joingate.roster import RegistrantInput
    from joingate.zoom.events import ParticipantEvent

    server = RedisServer(Path(tempfile.mkdtemp(prefix="joingate-dashboard-")))
    server.start()
    try:
        app = create_app({"SECRET_KEY": "bench-key-" + "x" * 32, "REDIS_URL": server.url},
                         environ={})
        state = app.extensions["joingate"]
        now = time.time()
        start = now - 30 * 60
        state.meetings.add(MEETING, topic="Bench class", start=int(start), duration=120)
        links = state.meetings.issue_links(MEETING, [
            RegistrantInput(f"student{n:04}@example.org", f"Student {n:04}")
            for n in range(REGISTRANTS)])
        for n, link in enumerate(links[:CLAIMED]):
            state.store.gate("claim", MEETING, link.registrant_id, 1, now, "", f"dev{n}",
                             "203.0.113.7", "Mozilla/5.0 (bench)")
        for n, link in enumerate(links[:REFUSED]):
            state.store.gate("claim", MEETING, link.registrant_id, 1, now, "", f"other{n}",
                             "198.51.100.9", "Mozilla/5.0 (other)")
        people = [(f"u{n}", f"Student {n:04}") for n in range(IN_ZOOM)]
        people += [(f"s{n}", f"Student {n:04}") for n in range(SHARED)]
        people += [(f"x{n}", f"Stranger {n}") for n in range(STRANGERS)]
        for user_id, name in people:
            state.presence.record(ParticipantEvent(
                kind="joined", meeting_id=MEETING, instance="bench-instance==", at=start + 60,
                at_text="", user_id=user_id, user_name=name, participant_id="",
                participant_uuid=f"P{user_id}", email="", registrant_id="", customer_key="",
                is_host=False))
        token, _ = state.tokens.create("bench", "manage")
        client = app.test_client()
        form = client.get("/organizer/sign-in").get_data(as_text=True)
        check = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        assert client.post("/organizer/sign-in", data={"csrf": check, "token": token}
                           ).status_code == 303
        page = f"/organizer/meetings/{MEETING}"
        print(f"meeting with {REGISTRANTS} registrants, {CLAIMED} claimed, {REFUSED} refused, "
              f"{IN_ZOOM + SHARED + STRANGERS} stays in Zoom; redis-server on loopback; "
              f"{RUNS} requests each")
        print(f"{'request':<52} {'median ms':>10} {'max ms':>8} {'CPU ms':>7} {'KiB':>5}")

        rosters = app.extensions["joingate_dashboard_rosters"]

        def first_view(run: int) -> None:
            """No roster kept in the process: every registrant is read (a page's first view)."""
            rosters.clear()

        def new_event(run: int) -> None:
            """An open of some link: a new event in the feed; the kept roster is patched."""
            state.store.gate("open", MEETING, links[-1 - run].registrant_id, 1, time.time(),
                             "", "", "203.0.113.8", "Mozilla/5.0 (scanner)")

        def quiet(run: int) -> None:
            time.sleep(0.01)

        client.get(page)
        unchanged = f"{page}/live?since={client.get(f'{page}/live').get_json()['stamp']}"
        for name, path, before in (
                ("meeting page, first view (all registrants read)", page, first_view),
                ("meeting page 50, first view", f"{page}?page=50", first_view),
                ("meeting page, search, first view", f"{page}?q=student4321", first_view),
                ("live update, nothing changed", unchanged, quiet),
                ("meeting page after an event (roster patched)", page, new_event),
                ("live update after an event (roster patched)", f"{page}/live", new_event),
                ("meeting page, nothing new (roster reused)", page, None),
                ("meeting page, flagged only (roster reused)", f"{page}?flag=any", None),
                ("one registrant's history", f"{page}/registrants/{links[7].registrant_id}",
                 None),
                (f"timeline ({IN_ZOOM + SHARED + STRANGERS} stays, SVG inline)",
                 f"{page}/timeline", None),
                ("meetings list", "/organizer/", None)):
            median, slowest, cpu, size = timed(client, path, before)
            print(f"{name:<52} {median * 1000:10.1f} {slowest * 1000:8.1f} {cpu * 1000:7.1f} "
                  f"{size / 1024:5.0f}")
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} (2 cores)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
