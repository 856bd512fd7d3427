"""Identity you can act on: a corpus of realistic participant event sequences, each delivered
through the signed webhook endpoint and read back through the report, on both stores.

Every verdict follows the README's report contract: attribution by the strongest evidence a stay
carries (Zoom registrant_id or customer_key > a signed-in user's email > the display name);
one signed-in Zoom user on several devices is one person; ``shared`` when two or more people
are on one registration for more than SHARED_GRACE seconds in total on evidence nobody can
type, ``shared_suspected`` when a typed name is needed to see it; staff and host by identity
only; a stay no registrant explains is ``unmatched``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from helpers import MEETING_ID, START
from webhook_events import participant, sample, signed

from joingate.roster import RegistrantInput

HOOK = "/webhooks/zoom"
HOST_ID = "z8yAAAABBBBCCCCdddd"          # object.host_id of the samples
STAFF_ID = "TAuser0000000001x"
OTHER_INSTANCE = "5555BBBjBBBBBjBjBjjBjj=="

REGISTRANTS = [
    RegistrantInput("ana.lima@example.org", "Ana Lima", "ZR-ANA-0000000001"),
    RegistrantInput("ana2@example.org", "Ana Lima", "ZR-ANA2-000000002"),   # "Ana Lima (2)"
    RegistrantInput("carol@example.org", "Carol Victim"),                    # webclient only
    RegistrantInput("ben@example.org", "Ben Okafor"),                        # webclient only
    RegistrantInput("dan@example.org", "Dan Reyes", "ZR-DAN-0000000004"),
]
EMAILS = {"ana": "ana.lima@example.org", "ana2": "ana2@example.org",
          "carol": "carol@example.org", "ben": "ben@example.org", "dan": "dan@example.org"}


def at(minute: float) -> str:
    moment = START + timedelta(minutes=minute)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def j(user_id: str, name: str, minute: float, **ids: str) -> tuple[str, str, str, float, dict]:
    return ("joined", user_id, name, minute, ids)


def lv(user_id: str, name: str, minute: float, **ids: str) -> tuple[str, str, str, float, dict]:
    return ("left", user_id, name, minute, ids)


def loop_beside(steady: tuple, friend: str, name: str, start: float, cycles: int,
                **ids: str) -> list:
    """A steady stay plus a friend who reconnects every 100 s (each stay 90 s)."""
    events = [steady]
    for n in range(cycles):
        begin = start + n * 100 / 60
        events += [j(f"{friend}{n}", name, begin, **ids), lv(f"{friend}{n}", name, begin + 1.5, **ids)]
    return events


ANA = {"registrant_id": "ZR-ANA-0000000001"}
ANA2 = {"registrant_id": "ZR-ANA2-000000002"}
DAN = {"registrant_id": "ZR-DAN-0000000004"}


@dataclass
class Case:
    id: str
    events: list
    expect: dict[str, dict[str, Any]] = field(default_factory=dict)   # who -> report fields
    unmatched: list[str] = field(default_factory=list)                 # user names, sorted
    report_at: float = 60          # minutes after the start
    started: bool = True           # deliver meeting.started first
    late_registrant: RegistrantInput | None = None
    ended_at: float | None = None


CASES = [
    # Impersonation: a typed name never makes anyone "shared"; at most "shared_suspected".
    Case("impersonation-webclient", [j("1", "Carol Victim", 1), j("2", "Carol Victim", 2)],
         {"carol": {"flags": ["shared_suspected"], "joins": 2, "people": 2}}),
    Case("impersonation-of-a-strong-registrant",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 2)],
         {"dan": {"flags": ["shared_suspected"], "joins": 2}}),
    Case("renamed-impersonator-keeps-the-first-name",
         [j("1", "Carol Victim", 1), j("2", "Eve", 2), lv("2", "Carol Victim", 40)],
         {"carol": {"flags": [], "joins": 1}}, unmatched=["Eve"]),
    Case("impersonator-first-then-the-registrant",
         [j("2", "Carol Victim", 1), j("1", "Carol Victim", 5)],
         {"carol": {"flags": ["shared_suspected"], "joins": 2}}),
    Case("strong-identifier-naming-nobody-falls-back-to-the-name",
         [j("1", "Carol Victim", 1, registrant_id="ZR-UNKNOWN-000000")],
         {"carol": {"flags": [], "joins": 1}}),
    # Staff and host by identity, never by name.
    Case("staff-name-typed-by-an-outsider-is-unmatched", [j("1", "Teaching Assistant", 1)],
         unmatched=["Teaching Assistant"]),
    Case("staff-by-zoom-user-id", [j("1", "TA", 1, pid=STAFF_ID)]),
    Case("staff-by-signed-in-email",
         [j("1", "Whoever", 1, pid="SignedIn00000000002", email="TA@example.org")]),
    Case("staff-email-typed-by-a-guest-is-not-staff",
         [j("1", "Whoever", 1, email="ta@example.org")], unmatched=["Whoever"]),
    Case("host-by-id", [j("1", "The Teacher", 0, pid=HOST_ID)]),
    Case("host-typing-a-registrant-name-counts-for-nobody",
         [j("1", "Carol Victim", 0, pid=HOST_ID), j("2", "Carol Victim", 1)],
         {"carol": {"flags": [], "joins": 1}}),
    Case("staff-typing-a-registrant-name-counts-for-nobody",
         [j("1", "Ben Okafor", 0, pid=STAFF_ID), j("2", "Ben Okafor", 1)],
         {"ben": {"flags": [], "joins": 1}}),
    # The registrant's own identity beats a name.
    Case("signed-in-email-beats-the-name",
         [j("1", "Ana Lima", 1, pid="AnaTwoUser00000000002", email="ana2@example.org")],
         {"ana": {"joins": 0, "flags": []}, "ana2": {"joins": 1, "flags": []}}),
    Case("registrant-id-beats-the-name", [j("1", "Ana Lima", 1, **ANA2)],
         {"ana": {"joins": 0}, "ana2": {"joins": 1, "flags": []}}),
    Case("both-anas-in-with-their-own-links",
         [j("1", "Ana Lima", 1, **ANA), j("2", "Ana Lima", 1, **ANA2)],
         {"ana": {"joins": 1, "flags": []}, "ana2": {"joins": 1, "flags": []}}),
    Case("customer-key-beats-the-name",
         [j("1", "Ben Okafor", 1, customer_key="@carol")],
         {"carol": {"joins": 1}, "ben": {"joins": 0}}),
    Case("customer-key-is-strong",
         [j("1", "Anything", 1, customer_key="@ben"), j("2", "Else", 2, customer_key="@ben")],
         {"ben": {"flags": ["shared"], "joins": 2}}),
    # A later or weaker event never moves a stay; delivery order does not matter.
    Case("rename-after-the-join-does-not-move-the-stay",
         [j("1", "Ana Lima (2)", 1), lv("1", "Ana Lima", 30)],
         {"ana": {"joins": 0}, "ana2": {"joins": 1}}),
    Case("rename-delivered-before-the-join",
         [lv("1", "Ana Lima", 30), j("1", "Ana Lima (2)", 1)],
         {"ana": {"joins": 0}, "ana2": {"joins": 1, "present": 0}}),
    Case("a-strong-identifier-arriving-later-wins",
         [j("1", "Ana Lima", 1), lv("1", "Ana Lima", 30, **ANA2)],
         {"ana": {"joins": 0}, "ana2": {"joins": 1}}),
    # Companion mode: one signed-in Zoom user on several devices is one person.
    Case("companion-mode-signed-in-email",
         [j("1", "Ana phone", 1, pid="AnaUser000000000001", email="ana.lima@example.org"),
          j("2", "Ana laptop", 2, pid="AnaUser000000000001", email="ana.lima@example.org")],
         {"ana": {"flags": [], "max_concurrent": 2, "people": 1, "joins": 2}}),
    Case("companion-mode-registrant-link",
         [j("1", "Ana Lima", 1, pid="AnaUser000000000001", **ANA),
          j("2", "Ana Lima", 2, pid="AnaUser000000000001", **ANA)],
         {"ana": {"flags": [], "max_concurrent": 2, "people": 1}}),
    Case("two-signed-in-users-on-one-registrant-link",
         [j("1", "Ana Lima", 1, pid="AnaUser000000000001", **ANA),
          j("2", "Friend", 2, pid="FriendUser0000000009", **ANA)],
         {"ana": {"flags": ["shared"], "people": 2}}),
    Case("strong-plus-medium-is-shared",
         [j("1", "Dan Reyes", 1, **DAN),
          j("2", "Dan tablet", 2, pid="SomeoneElse000000007", email="dan@example.org")],
         {"dan": {"flags": ["shared"]}}),
    # Sharing over time, not pair by pair.
    Case("reconnect-loop-beside-a-steady-stay-strong",
         loop_beside(j("0", "Dan Reyes", 1, **DAN), "f", "Dan Reyes", 2, 12, **DAN),
         {"dan": {"flags": ["shared"], "max_concurrent": 2}}),
    Case("reconnect-loop-beside-a-steady-stay-names",
         loop_beside(j("0", "Ben Okafor", 1), "f", "Ben Okafor", 2, 12),
         {"ben": {"flags": ["shared_suspected"]}}),
    Case("short-loop-within-the-grace",
         loop_beside(j("0", "Dan Reyes", 1, **DAN), "f", "Dan Reyes", 2, 1, **DAN),
         {"dan": {"flags": [], "joins": 2}}),
    Case("overlap-at-the-grace-is-not-shared",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 2, **DAN), lv("2", "Dan Reyes", 4, **DAN),
          lv("1", "Dan Reyes", 50, **DAN)],
         {"dan": {"flags": [], "max_concurrent": 2}}),
    Case("overlap-over-the-grace-is-shared",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 2, **DAN),
          lv("2", "Dan Reyes", 4.05, **DAN), lv("1", "Dan Reyes", 50, **DAN)],
         {"dan": {"flags": ["shared"]}}),
    # Dropped connections are not sharing, however often they happen.
    Case("one-ghost-overlap",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 20, **DAN), lv("1", "Dan Reyes", 21.5, **DAN)],
         {"dan": {"flags": [], "present": 1, "max_concurrent": 2}}),
    Case("three-ghost-overlaps-in-one-class",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 10, **DAN), lv("1", "Dan Reyes", 11.2, **DAN),
          j("3", "Dan Reyes", 20, **DAN), lv("2", "Dan Reyes", 21.2, **DAN),
          j("4", "Dan Reyes", 30, **DAN), lv("3", "Dan Reyes", 31.2, **DAN)],
         {"dan": {"flags": [], "joins": 4, "present": 1}}),
    Case("ghost-overlap-by-name-delivered-late",
         [j("1", "Ben Okafor", 1), j("2", "Ben Okafor", 20), lv("1", "Ben Okafor", 21)],
         {"ben": {"flags": [], "present": 1}}),
    # Robust stays.
    Case("same-stay-key-joined-twice",
         [j("1", "Dan Reyes", 1, **DAN), lv("1", "Dan Reyes", 10, **DAN), j("1", "Dan Reyes", 12, **DAN)],
         {"dan": {"joins": 2, "max_concurrent": 1, "present": 1, "minutes": 57.0}}),
    Case("same-stay-key-joined-twice-out-of-order",
         [j("1", "Dan Reyes", 12, **DAN), lv("1", "Dan Reyes", 10, **DAN), j("1", "Dan Reyes", 1, **DAN)],
         {"dan": {"joins": 2, "max_concurrent": 1, "present": 1, "minutes": 57.0}}),
    Case("leave-without-join-counts-from-the-start",
         [lv("1", "Dan Reyes", 20, **DAN)],
         {"dan": {"joins": 1, "max_concurrent": 1, "present": 0, "minutes": 20.0,
                  "status": "joined"}}),
    Case("guest-known-only-by-a-leave-is-unmatched", [lv("9", "Mystery Guest", 20)],
         unmatched=["Mystery Guest"]),
    Case("leave-before-join-same-stay",
         [lv("1", "Dan Reyes", 30, **DAN), j("1", "Dan Reyes", 5, **DAN)],
         {"dan": {"joins": 1, "present": 0, "minutes": 25.0}}),
    Case("duplicate-deliveries-count-once",
         [j("1", "Dan Reyes", 1, **DAN)] * 3 + [lv("1", "Dan Reyes", 31, **DAN)] * 2,
         {"dan": {"joins": 1, "minutes": 30.0, "max_concurrent": 1}}),
    Case("registrant-imported-after-the-meeting",
         [j("1", "Late Person", 1, registrant_id="ZR-LATE-000000009"),
          lv("1", "Late Person", 50, registrant_id="ZR-LATE-000000009")],
         {"late": {"joins": 1, "minutes": 49.0}},
         late_registrant=RegistrantInput("late@example.org", "Someone Late",
                                         "ZR-LATE-000000009")),
    Case("guest-email-without-sign-in-is-not-evidence",
         [j("1", "Anon", 1, email="dan@example.org")], {"dan": {"joins": 0}},
         unmatched=["Anon"]),
    Case("meeting-end-stops-the-count",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 58, **DAN)],
         {"dan": {"flags": [], "present": 0}}, ended_at=59, report_at=120),
    Case("overlaps-in-two-instances-do-not-add-up",
         [j("1", "Dan Reyes", 1, **DAN), j("2", "Dan Reyes", 2, **DAN), lv("2", "Dan Reyes", 3.5, **DAN),
          ("joined", "3", "Dan Reyes", 70, {**DAN, "uuid": OTHER_INSTANCE}),
          ("joined", "4", "Dan Reyes", 71, {**DAN, "uuid": OTHER_INSTANCE}),
          ("left", "4", "Dan Reyes", 72.5, {**DAN, "uuid": OTHER_INSTANCE})],
         {"dan": {"flags": [], "joins": 4}}, report_at=100),
    Case("two-name-only-people-briefly-together",
         [j("1", "Ben Okafor", 1), j("2", "Ben Okafor", 2), lv("2", "Ben Okafor", 3)],
         {"ben": {"flags": [], "people": 2}}),
]


@pytest.fixture
def corpus_app(app, service, clock):
    service.meetings.add(MEETING_ID, topic="Ceramics", start=START, duration=90,
                         staff=[STAFF_ID, "ta@example.org"])
    service.meetings.issue_links(MEETING_ID, REGISTRANTS)
    return app


def _deliver(client, clock, body) -> None:
    raw, headers = signed(body, int(clock()))
    answer = client.post(HOOK, data=raw, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_event_sequence(corpus_app, service, clock, case):
    client = corpus_app.test_client()
    if case.started:
        started = sample("meeting_started")
        started["payload"]["object"]["start_time"] = at(0)
        _deliver(client, clock, started)
    for kind, user_id, name, minute, ids in case.events:
        ids = dict(ids)
        if "customer_key" in ids and ids["customer_key"].startswith("@"):
            ids["customer_key"] = service.meetings.registrant(
                MEETING_ID, EMAILS[ids["customer_key"][1:]]).id
        uuid = ids.pop("uuid", "4444AAAiAAAAAiAiAiiAii==")
        _deliver(client, clock, participant(kind, user_id=user_id, name=name, at=at(minute),
                                            uuid=uuid, **ids))
    if case.ended_at is not None:
        ended = sample("meeting_ended")
        ended["payload"]["object"]["end_time"] = at(case.ended_at)
        _deliver(client, clock, ended)
    if case.late_registrant:
        service.meetings.issue_links(MEETING_ID, [case.late_registrant])
    clock.set(START + timedelta(minutes=case.report_at))
    report = service.presence.report(MEETING_ID)
    rows = {row["email"]: row for row in report["registrants"]}
    for who, fields in case.expect.items():
        email = EMAILS.get(who, f"{who}@example.org")
        row = rows[email]
        got = {name: row[name] for name in fields}
        assert got == fields, (who, row)
        for flag in row["flags"]:
            if flag.startswith("shared"):
                assert any(evidence["flag"] == flag for evidence in row["evidence"])
    assert sorted(row["user_name"] for row in report["unmatched"]) == sorted(case.unmatched)
    for email, row in rows.items():          # nobody else is flagged by accident
        who = next((w for w, e in EMAILS.items() if e == email), email)
        if who not in case.expect:
            assert row["flags"] == [], (email, row)


def test_the_corpus_has_at_least_forty_sequences():
    assert len(CASES) >= 40
