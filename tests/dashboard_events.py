"""A known sequence of Zoom deliveries for the dashboard's attendance timeline, and what the
timeline must draw for it (tests/test_dashboard.py, tests/test_dashboard_browser.py).

- Ana joins, drops and rejoins (a new stay, still in): one row, two bars.
- Ben is in from minute 2 to 40; someone else on Ben's own Zoom link (strong evidence) is in
  from minute 5 to 15: two rows, one bar each, ten minutes together (shared): one overlap.
- Mallory, whom no registration explains: one row, one bar.
- Carol's link is claimed on one device and refused on another (the test does that at the
  gate): one row with one refused mark and no bar.
"""

from __future__ import annotations

from typing import Any

from webhook_events import participant, sample

from joingate.roster import RegistrantInput
from joingate.times import iso_utc

REGISTRANTS = [RegistrantInput("ana@example.org", "Ana Lima", "ZR-ANA-0000000001"),
               RegistrantInput("ben@example.org", "Ben Okafor", "ZR-BEN-0000000002"),
               RegistrantInput("carol@example.org", "Carol Diaz")]
ANA = {"registrant_id": "ZR-ANA-0000000001"}
BEN = {"registrant_id": "ZR-BEN-0000000002"}
REFUSED_EMAIL = "carol@example.org"

# (kind, Zoom user_id, display name, minutes after the start, identifiers)
SEQUENCE: list[tuple[str, str, str, float, dict[str, str]]] = [
    ("joined", "a1", "Ana Lima", 1, ANA), ("left", "a1", "Ana Lima", 20, ANA),
    ("joined", "a2", "Ana Lima", 21, ANA),
    ("joined", "b1", "Ben Okafor", 2, BEN), ("joined", "b2", "Ben O", 5, BEN),
    ("left", "b2", "Ben O", 15, BEN), ("left", "b1", "Ben Okafor", 40, BEN),
    ("joined", "m1", "Mallory", 3, {}), ("left", "m1", "Mallory", 8, {}),
]

EXPECTED_ROWS = ["Ana Lima", "Ben Okafor (1)", "Ben Okafor (2)", "Carol Diaz",
                 "Unmatched: Mallory"]
EXPECTED_BARS = 5
EXPECTED_SHARED_OVERLAPS = 1
EXPECTED_REFUSED = 1


def deliveries(start: float) -> list[dict[str, Any]]:
    """meeting.started at ``start``, then SEQUENCE, as Zoom's bodies."""
    started = sample("meeting_started")
    started["payload"]["object"]["start_time"] = iso_utc(start)
    return [started] + [participant(kind, user_id=user_id, name=name,
                                    at=iso_utc(start + minute * 60), **ids)
                        for kind, user_id, name, minute, ids in SEQUENCE]
