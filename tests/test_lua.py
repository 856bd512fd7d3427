"""The Lua scripts, driven directly: each documented outcome of gate, manage, instance,
participant and upsert, with the value it returns and the Redis state it leaves.

Each script is called as the store registered it (``store.scripts[name](keys=..., args=...)``),
with KEYS and ARGV in the order its header documents; every test runs on fakeredis and on a real
redis-server (the ``service`` fixture is parametrized on both).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis as redis_lib
from helpers import ID_KEY, MEETING_ID, NOW, START

from joingate.attendance import HANDOVER
from joingate.roster import RegistrantInput
from joingate.signing import registrant_id_for
from joingate.store import (
    FOLD_FEED_EVERY,
    FOLD_INTERVALS,
    FOLD_MEMBERS,
    GATE_MEETING_FIELDS,
    LINK_FEED_BUDGET,
    LINK_OVERFLOW_CAP,
    STAYS_PER_INSTANCE,
    STAYS_PER_PARTICIPANT,
    STAYS_PER_REGISTRANT,
    TIMES_PER_STAY,
    Store,
    user_agent_id,
)

EMAIL = "ana.lima@example.org"
RID = registrant_id_for(EMAIL, ID_KEY)
JOIN_URL = "https://us06web.zoom.us/j/85746065432?pwd=enc0ded"
IP = "203.0.113.7"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
OPENS_AT = int((START - timedelta(minutes=15)).timestamp())                # open_before 15 min
CLOSES_AT = int((START + timedelta(minutes=90 + 60)).timestamp())          # + close_after 1 h
OTHER_MEETING = "123456789"                                                  # never added


@pytest.fixture
def store(service) -> Store:
    return service.store


@pytest.fixture
def ana(store: Store, meeting: str) -> str:
    """Ana Lima, issued in the meeting (version 1, unbound): her registrant id."""
    store.upsert_registrants(meeting, [(RID, EMAIL, "Ana Lima", "", JOIN_URL)])
    return RID


def expire_at(store: Store, meeting_id: str = MEETING_ID) -> int:
    return int(store.redis.hget(store.keys.meeting(meeting_id), "expire_at"))


def meeting_keys(store: Store, meeting_id: str = MEETING_ID) -> dict[str, Any]:
    """Every key of a meeting with its type and content: to show that nothing was written."""
    r = store.redis
    found: dict[str, Any] = {}
    for key in r.keys(f"{store.keys.prefix}:{{m:{meeting_id}}}:*"):
        kind = r.type(key)
        found[key] = {"hash": r.hgetall, "stream": r.xrange, "set": r.smembers,
                      "zset": lambda name: r.zrange(name, 0, -1, withscores=True),
                      "list": lambda name: r.lrange(name, 0, -1),
                      "string": r.get}[kind](key)
    return found


def events(store: Store, meeting_id: str = MEETING_ID) -> list[dict[str, str]]:
    return [fields for _, fields in store.redis.xrange(store.keys.events(meeting_id))]


def registrant(store: Store, rid: str = RID) -> dict[str, str]:
    return store.redis.hgetall(store.keys.registrant(MEETING_ID, rid))


def assert_expire_at_meeting(store: Store, *keys: str) -> None:
    for key in keys:
        assert store.redis.expiretime(key) == expire_at(store), key


# gate.lua

def gate(store: Store, mode: str, *, at: datetime = NOW, version: int = 1, presented: str = "",
         new: str = "dev-new", user_agent: str = UA, meeting_id: str = MEETING_ID,
         rid: str = RID) -> list:
    k = store.keys
    return store.scripts["gate"](
        keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id),
              k.user_agents(meeting_id), k.overflow(meeting_id, rid)],
        args=[mode, version, repr(at.timestamp()), presented, new, IP, user_agent,
              LINK_FEED_BUDGET, user_agent_id(user_agent), LINK_OVERFLOW_CAP])


def gate_meeting(store: Store) -> list:
    """The meeting fields gate.lua returns, read straight from the meeting hash."""
    return store.redis.hmget(store.keys.meeting(MEETING_ID), GATE_MEETING_FIELDS)


def logged(kind: str, user_agent: str = UA) -> dict[str, str]:
    return {"kind": kind, "registrant": RID, "ip": IP, "ua": user_agent_id(user_agent)}


@pytest.mark.parametrize("mode", ["open", "claim"])
@pytest.mark.parametrize("missing", ["meeting", "registrant"])
def test_gate_unknown_writes_nothing(store, meeting, mode, missing):
    meeting_id = OTHER_MEETING if missing == "meeting" else MEETING_ID
    if missing == "meeting":       # a registrant hash without its meeting hash
        store.redis.hset(store.keys.registrant(OTHER_MEETING, RID),
                         mapping={"ver": "1", "display": "Ana Lima"})
    before = meeting_keys(store, meeting_id)
    assert gate(store, mode, meeting_id=meeting_id) == ["unknown", "", [], []]
    assert meeting_keys(store, meeting_id) == before


@pytest.mark.parametrize("mode", ["open", "claim"])
@pytest.mark.parametrize("state, outcome, detail", [
    ({"ver": "2"}, "superseded", "2"),
    ({"revoked": "1"}, "revoked", ""),
], ids=["superseded", "revoked"])
def test_gate_refuses_a_dead_link_and_writes_nothing(store, ana, mode, state, outcome, detail):
    store.redis.hset(store.keys.registrant(MEETING_ID, ana), mapping=state)
    before = meeting_keys(store)
    assert gate(store, mode) == [outcome, detail, gate_meeting(store), ["Ana Lima", JOIN_URL]]
    assert meeting_keys(store) == before


@pytest.mark.parametrize("mode", ["open", "claim"])
def test_gate_expired_after_the_window_writes_nothing(store, ana, mode):
    before = meeting_keys(store)
    late = datetime.fromtimestamp(CLOSES_AT + 1, NOW.tzinfo)
    assert gate(store, mode, at=late) == ["expired", str(CLOSES_AT), gate_meeting(store),
                                          ["Ana Lima", JOIN_URL]]
    assert meeting_keys(store) == before


@pytest.mark.parametrize("mode, counted, kinds", [
    ("open", {"opens": "1"}, ["open"]),
    ("claim", {}, []),
], ids=["open-is-recorded", "claim-writes-nothing"])
def test_gate_too_early(store, ana, mode, counted, kinds):
    before = registrant(store)
    early = datetime.fromtimestamp(OPENS_AT - 1, NOW.tzinfo)
    assert gate(store, mode, at=early) == ["too_early", str(OPENS_AT), gate_meeting(store),
                                           ["Ana Lima", JOIN_URL]]
    assert registrant(store) == {**before, **counted}
    assert events(store) == [logged(kind) for kind in kinds]


@pytest.mark.parametrize("devices, presented, max_devices", [
    ("", "", 1),
    ("dev-a", "dev-a", 1),
    ("dev-a", "", 2),
], ids=["unbound", "bound-here-and-full", "room-for-a-second-device"])
def test_gate_confirm_records_the_open_and_binds_nothing(store, service, ana, devices,
                                                         presented, max_devices):
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                        max_devices=max_devices)
    if devices:
        store.redis.hset(store.keys.registrant(MEETING_ID, ana), "devices", devices)
    before = registrant(store)
    assert gate(store, "open", presented=presented) == [
        "confirm", "", gate_meeting(store), ["Ana Lima", JOIN_URL]]
    assert registrant(store) == {**before, "opens": "1"}
    assert events(store) == [logged("open")]
    k = store.keys
    assert store.redis.hgetall(k.user_agents(MEETING_ID)) == {user_agent_id(UA): UA}
    assert_expire_at_meeting(store, k.registrant(MEETING_ID, ana), k.events(MEETING_ID),
                             k.user_agents(MEETING_ID))


@pytest.mark.parametrize("mode, presented, rejoin, counted, kind, detail", [
    ("open", "", 1, {"opens": "1", "refused": "1"}, "refused_open", ""),
    ("open", "dev-b", 1, {"opens": "1", "refused": "1"}, "refused_open", ""),
    ("open", "dev-a", 0, {"opens": "1"}, "open", "here"),
    ("claim", "", 1, {"refused": "1"}, "refused", ""),
    ("claim", "dev-b", 1, {"refused": "1"}, "refused", ""),
    ("claim", "dev-a", 0, {"refused": "1"}, "refused", "here"),
], ids=["open-new-browser", "open-other-device", "open-bound-here-rejoin-off",
        "claim-refused-new-browser", "claim-refused-other-device", "claim-refused-rejoin-off"])
def test_gate_used_elsewhere_keeps_the_binding(store, service, ana, mode, presented, rejoin,
                                               counted, kind, detail):
    """A link bound elsewhere and full is refused; the browser that holds it, on a meeting
    without rejoin, gets the same outcome with detail "here" (its open is its own, not a
    refused one; its claim is refused)."""
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                        rejoin=rejoin)
    store.redis.hset(store.keys.registrant(MEETING_ID, ana), "devices", "dev-a")
    before = registrant(store)
    assert gate(store, mode, presented=presented) == [
        "used_elsewhere", detail, gate_meeting(store), ["Ana Lima", JOIN_URL]]
    assert registrant(store) == {**before, **counted}
    assert registrant(store)["devices"] == "dev-a"
    assert events(store) == [logged(kind)]
    assert_expire_at_meeting(store, store.keys.registrant(MEETING_ID, ana),
                             store.keys.events(MEETING_ID))


@pytest.mark.parametrize("devices, max_devices, user_agent, bound", [
    ("", 1, UA, "dev-new"),
    ("dev-a", 2, UA, "dev-a dev-new"),
    ("", 1, "", "dev-new"),
], ids=["first-device", "second-of-two", "no-user-agent"])
def test_gate_claimed_binds_the_new_device(store, service, ana, devices, max_devices,
                                           user_agent, bound):
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                        max_devices=max_devices)
    if devices:
        store.redis.hset(store.keys.registrant(MEETING_ID, ana), "devices", devices)
    before = registrant(store)
    assert gate(store, "claim", new="dev-new", user_agent=user_agent) == [
        "claimed", "dev-new", gate_meeting(store), ["Ana Lima", JOIN_URL]]
    assert registrant(store) == {**before, "devices": bound, "claims": "1",
                                 "first_claim": str(int(NOW.timestamp()))}
    assert events(store) == [logged("claim", user_agent)]
    k = store.keys
    assert store.redis.hgetall(k.user_agents(MEETING_ID)) == (
        {user_agent_id(UA): UA} if user_agent else {})
    assert_expire_at_meeting(store, k.registrant(MEETING_ID, ana), k.events(MEETING_ID))


def test_gate_rejoined_from_the_bound_device(store, ana):
    key = store.keys.registrant(MEETING_ID, ana)
    store.redis.hset(key, mapping={"devices": "dev-a", "claims": "1", "first_claim": "1"})
    before = registrant(store)
    assert gate(store, "claim", presented="dev-a") == [
        "rejoined", "dev-a", gate_meeting(store), ["Ana Lima", JOIN_URL]]
    assert registrant(store) == {**before, "claims": "2"}
    assert events(store) == [logged("rejoin")]
    assert_expire_at_meeting(store, key, store.keys.events(MEETING_ID))


# manage.lua

def manage(store: Store, action: str, *, meeting_id: str = MEETING_ID, rid: str = RID,
           actor: str = "api") -> Any:
    k = store.keys
    return store.scripts["manage"](
        keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id)],
        args=[action, actor])


# Reset and reissue (not revoke: the worker's) give the link a fresh feed budget: it counts
# from the counters as they are (kept whole for the report), and move events start again.
FRESH_BUDGET = {"feed_base": "5", "refused_base": "4"}


@pytest.mark.parametrize("action, version, changed, removed", [
    ("revoke", 1, {"revoked": "1"}, ()),
    ("reset", 1, FRESH_BUDGET, ("devices", "move_logs")),
    ("reissue", 2, {"ver": "2", **FRESH_BUDGET}, ("devices", "revoked", "move_logs")),
], ids=["revoke", "reset", "reissue"])
def test_manage_changes_the_link_and_logs_it(store, ana, action, version, changed, removed):
    key = store.keys.registrant(MEETING_ID, ana)
    store.redis.hset(key, mapping={"devices": "dev-a", "revoked": "0", "opens": "3",
                                   "claims": "2", "refused": "4", "move_logs": "7"})
    before = registrant(store)
    assert manage(store, action) == version
    expected = {name: value for name, value in {**before, **changed}.items()
                if name not in removed}
    assert registrant(store) == expected
    assert events(store) == [{"kind": action, "registrant": ana, "ip": "", "ua": "api"}]
    assert_expire_at_meeting(store, key, store.keys.events(MEETING_ID))


@pytest.mark.parametrize("meeting_id, rid, action, error", [
    (OTHER_MEETING, RID, "revoke", "NOTFOUND"),
    (MEETING_ID, registrant_id_for("nobody@example.org", ID_KEY), "revoke", "NOTFOUND"),
    (MEETING_ID, RID, "delete", "BADACTION"),
], ids=["no-meeting", "no-registrant", "bad-action"])
def test_manage_refuses_and_writes_nothing(store, ana, meeting_id, rid, action, error):
    before = meeting_keys(store), meeting_keys(store, OTHER_MEETING)
    with pytest.raises(redis_lib.exceptions.ResponseError, match=error):
        manage(store, action, meeting_id=meeting_id, rid=rid)
    assert (meeting_keys(store), meeting_keys(store, OTHER_MEETING)) == before


# instance.lua

def instance(store: Store, kind: str, uuid: str, at: str, meeting_id: str = MEETING_ID) -> Any:
    k = store.keys
    return store.scripts["instance"](
        keys=[k.meeting(meeting_id), k.instances(meeting_id), k.ended(meeting_id)],
        args=[kind, uuid, at])


@pytest.mark.parametrize("calls, started, ended", [
    ([("started", "100")], {"I1": "100"}, {}),
    ([("started", "100"), ("started", "150")], {"I1": "150"}, {}),
    ([("started", "100"), ("ended", "200")], {"I1": "100"}, {"I1": "200"}),
    ([("ended", "200")], {"I1": "200"}, {"I1": "200"}),
], ids=["started", "started-again", "ended", "ended-without-start"])
def test_instance_opens_and_closes(store, meeting, calls, started, ended):
    for kind, at in calls:
        assert instance(store, kind, "I1", at) == 1
    k = store.keys
    assert store.redis.hgetall(k.instances(MEETING_ID)) == started
    assert store.redis.hgetall(k.ended(MEETING_ID)) == ended
    assert_expire_at_meeting(store, k.instances(MEETING_ID),
                             *([k.ended(MEETING_ID)] if ended else []))


@pytest.mark.parametrize("kind", ["started", "ended"])
def test_instance_of_an_unknown_meeting_writes_nothing(store, kind):
    assert instance(store, kind, "I1", "100", meeting_id=OTHER_MEETING) == 0
    assert meeting_keys(store, OTHER_MEETING) == {}


# participant.lua

JOIN_TS = int((START + timedelta(minutes=1)).timestamp())


def participant(store: Store, **given: Any) -> Any:
    """Run participant.lua with the KEYS/ARGV its header documents (defaults: a participant
    nobody knows joining instance I1)."""
    a = dict(meeting_id=MEETING_ID, digest="digest-1", kind="joined", stay_key="user-1",
             instance="I1", at=JOIN_TS, now=NOW.timestamp(), user_name="Someone",
             participant_uuid="PU-1", registrant_id="", customer_key="", email="",
             zoom_user_id="", host=0)
    a.update(given)
    k, mid = store.keys, a["meeting_id"]
    return store.scripts["participant"](
        keys=[k.meeting(mid), k.seen(mid), k.stays(mid, a["instance"]), k.instances(mid),
              k.events(mid), k.stay_counts(mid, a["instance"]), k.displays(mid), k.checks(mid)],
        args=[a["digest"], a["kind"], a["stay_key"], a["instance"], str(a["at"]),
              str(a["now"]), a["user_name"], a["participant_uuid"],
              a["registrant_id"], a["customer_key"], a["email"], a["zoom_user_id"], a["host"],
              STAYS_PER_PARTICIPANT, STAYS_PER_INSTANCE, TIMES_PER_STAY, FOLD_INTERVALS,
              FOLD_MEMBERS, HANDOVER, FOLD_FEED_EVERY, STAYS_PER_REGISTRANT])


def stays(store: Store, uuid: str = "I1") -> dict[str, dict]:
    raw = store.redis.hgetall(store.keys.stays(MEETING_ID, uuid))
    return {key: json.loads(value) for key, value in raw.items()}


def test_participant_of_an_unknown_meeting_writes_nothing(store):
    assert participant(store, meeting_id=OTHER_MEETING) == "unknown_meeting"
    assert meeting_keys(store, OTHER_MEETING) == {}


def test_participant_duplicate_delivery_writes_nothing(store, meeting):
    assert participant(store) == "recorded"
    before = meeting_keys(store)
    assert participant(store) == "duplicate"
    assert meeting_keys(store) == before


def test_participant_joined_records_every_identifier_and_attributes_nothing(store, meeting):
    assert participant(store, user_name="Ana Lima", registrant_id="ZR-1", customer_key="ck",
                       email="ana@example.org", zoom_user_id="U-1", host=1) == "recorded"
    assert stays(store) == {"user-1": {"j": [JOIN_TS], "n": "Ana Lima", "nt": JOIN_TS,
                                       "zr": "ZR-1", "ck": "ck", "em": "ana@example.org",
                                       "id": "U-1", "pu": "PU-1", "h": 1}}
    assert store.redis.hget(store.keys.instances(MEETING_ID), "I1") == repr(NOW.timestamp())
    assert events(store) == [{"kind": "joined", "at": str(JOIN_TS), "instance": "I1",
                              "stay": "user-1", "name": "Ana Lima", "participant": "PU-1"}]
    k = store.keys
    assert_expire_at_meeting(store, k.seen(MEETING_ID), k.stays(MEETING_ID, "I1"),
                             k.instances(MEETING_ID), k.events(MEETING_ID))


def test_participant_second_join_of_a_stay_keeps_the_first(store, meeting):
    participant(store)
    participant(store, digest="d2", kind="left", at=JOIN_TS + 60)
    participant(store, digest="d3", at=JOIN_TS + 120)
    assert stays(store)["user-1"]["j"] == [JOIN_TS, JOIN_TS + 120]
    assert stays(store)["user-1"]["l"] == [JOIN_TS + 60]


@pytest.mark.parametrize("order", [["join", "rename"], ["rename", "join"]],
                         ids=["in-order", "rename-first"])
def test_participant_the_earliest_name_is_kept_whatever_the_order(store, meeting, order):
    deliveries = {"join": dict(digest="d1", user_name="Ana Lima (2)", at=JOIN_TS),
                  "rename": dict(digest="d2", kind="left", user_name="Ana Lima",
                                 at=JOIN_TS + 600)}
    for name in order:
        participant(store, **deliveries[name])
    stay = stays(store)["user-1"]
    assert (stay["n"], stay["nt"], stay["rn"]) == ("Ana Lima (2)", JOIN_TS, "Ana Lima")


def test_participant_a_later_identifier_fills_an_empty_one_and_never_replaces(store, meeting):
    participant(store, registrant_id="")
    participant(store, digest="d2", kind="left", at=JOIN_TS + 60, registrant_id="ZR-2")
    participant(store, digest="d3", at=JOIN_TS + 90, registrant_id="ZR-3")
    assert stays(store)["user-1"]["zr"] == "ZR-2"


# upsert.lua

def upsert(store: Store, rows: list[tuple[str, str]], meeting_id: str = MEETING_ID,
           zoom_id: str = "", join_url: str = "") -> list:
    """Call upsert.lua once with ``(email, name)`` rows."""
    k = store.keys
    ids = [registrant_id_for(email, ID_KEY) for email, _ in rows]
    return store.scripts["upsert"](
        keys=[k.meeting(meeting_id), k.displays(meeting_id), k.zoom_ids(meeting_id),
              k.roster(meeting_id), k.name_suffixes(meeting_id)]
        + [k.registrant(meeting_id, rid) for rid in ids],
        args=[value for rid, (email, name) in zip(ids, rows)
              for value in (rid, email, name, zoom_id, join_url)])


def displays_by_email(store: Store) -> dict[str, str]:
    return {registrant.email: registrant.display_name
            for registrant in store.registrants(MEETING_ID)}


def assert_display_index_is_exact(store: Store) -> None:
    """The display-name index holds each registrant's display, mapped to it, and nothing else."""
    index = store.redis.hgetall(store.keys.displays(MEETING_ID))
    assert index == {r.display_name: r.id for r in store.registrants(MEETING_ID)}


def test_upsert_refuses_an_unknown_meeting_and_writes_nothing(store):
    with pytest.raises(redis_lib.exceptions.ResponseError, match="NOMEETING"):
        upsert(store, [(EMAIL, "Ana Lima")], meeting_id=OTHER_MEETING)
    assert meeting_keys(store, OTHER_MEETING) == {}


def test_upsert_creates_a_registrant(store, meeting):
    bea = registrant_id_for("bea@example.org", ID_KEY)
    assert upsert(store, [(EMAIL, "Ana Lima"), ("bea@example.org", "Bea")],
                  zoom_id="", join_url=JOIN_URL) == [1, "Ana Lima", 1, 1, "Bea", 1]
    assert registrant(store) == {"email": EMAIL, "ver": "1", "name": "Ana Lima",
                                 "display": "Ana Lima", "join_url": JOIN_URL}
    k, r = store.keys, store.redis
    assert r.lrange(k.roster(MEETING_ID), 0, -1) == [RID, bea]       # in order of first issue
    assert r.hgetall(k.displays(MEETING_ID)) == {"Ana Lima": RID, "Bea": bea}
    assert_expire_at_meeting(store, k.registrant(MEETING_ID, RID), k.displays(MEETING_ID),
                             k.roster(MEETING_ID))


@pytest.mark.parametrize("again, version", [
    ((EMAIL, "Ana Lima", "ZR-ANA", JOIN_URL), 1),
    ((EMAIL, "Ana Lima", "", ""), 1),
    ((EMAIL, "Ana Lima", "", ""), 3),
], ids=["same-row", "empty-zoom-id-and-url-keep-them", "returns-the-current-version"])
def test_upsert_again_changes_nothing(store, meeting, again, version):
    store.upsert_registrants(meeting, [(RID, EMAIL, "Ana Lima", "ZR-ANA", JOIN_URL)])
    store.redis.hset(store.keys.registrant(meeting, RID), "ver", version)
    before = meeting_keys(store)
    email, name, zoom_id, join_url = again
    assert upsert(store, [(email, name)], zoom_id=zoom_id, join_url=join_url) == [
        version, "Ana Lima", 0]
    assert meeting_keys(store) == before


def test_upsert_rename_releases_the_old_display_name(store, meeting):
    upsert(store, [(EMAIL, "Ana Lima")])
    assert upsert(store, [(EMAIL, "Ana L.")]) == [1, "Ana L.", 0]
    assert registrant(store)["name"] == "Ana L."
    assert store.redis.hgetall(store.keys.displays(MEETING_ID)) == {"Ana L.": RID}


def test_upsert_moves_the_zoom_registrant_id(store, meeting):
    upsert(store, [(EMAIL, "Ana Lima")], zoom_id="ZR-OLD")
    assert upsert(store, [(EMAIL, "Ana Lima")], zoom_id="ZR-NEW") == [1, "Ana Lima", 0]
    assert registrant(store)["zid"] == "ZR-NEW"
    k = store.keys
    assert store.redis.hgetall(k.zoom_ids(MEETING_ID)) == {"ZR-NEW": RID}
    assert_expire_at_meeting(store, k.zoom_ids(MEETING_ID))


FORGET_COUNTER = "forget the suffix counter"   # as a meeting written before the counter existed


@pytest.mark.parametrize("calls, expected", [
    ([[("a@x.org", "Ana"), ("b@x.org", "Ana"), ("c@x.org", "Ana")]],
     {"a@x.org": "Ana", "b@x.org": "Ana (2)", "c@x.org": "Ana (3)"}),
    ([[("a@x.org", "Guest (2)"), ("b@x.org", "Guest"), ("c@x.org", "Guest")]],
     {"a@x.org": "Guest (2)", "b@x.org": "Guest", "c@x.org": "Guest (3)"}),
    ([[("a@x.org", "Guest"), ("b@x.org", "Guest")], [("c@x.org", "Guest (2)")]],
     {"a@x.org": "Guest", "b@x.org": "Guest (2)", "c@x.org": "Guest (2) (2)"}),
    ([[("a@x.org", "Guest"), ("b@x.org", "Guest")], [("b@x.org", "Bob")],
      [("b@x.org", "Guest")]],
     {"a@x.org": "Guest", "b@x.org": "Guest (3)"}),
    ([[("a@x.org", "Guest"), ("b@x.org", "Guest")], [("a@x.org", "Ann")],
      [("a@x.org", "Guest")]],
     {"a@x.org": "Guest", "b@x.org": "Guest (2)"}),
    ([[("a@x.org", "Guest"), ("b@x.org", "Guest"), ("c@x.org", "Guest")], FORGET_COUNTER,
      [("d@x.org", "Guest"), ("e@x.org", "Guest")]],
     {"a@x.org": "Guest", "b@x.org": "Guest (2)", "c@x.org": "Guest (3)",
      "d@x.org": "Guest (4)", "e@x.org": "Guest (5)"}),
    ([[("a@x.org", "Guest"), ("b@x.org", "Guest"), ("c@x.org", "Guest")], [("b@x.org", "Bo")],
      FORGET_COUNTER, [("d@x.org", "Guest")]],
     {"a@x.org": "Guest", "b@x.org": "Bo", "c@x.org": "Guest (3)", "d@x.org": "Guest (2)"}),
], ids=["same-name", "suffixed-name-given-first", "suffixed-name-given-after",
        "renamed-back-gets-a-new-suffix", "renamed-back-takes-the-free-name",
        "meeting-from-before-the-counter", "before-the-counter-reuses-a-free-suffix"])
def test_upsert_gives_unique_display_names(store, meeting, calls, expected):
    for call in calls:
        if call == FORGET_COUNTER:
            store.redis.delete(store.keys.name_suffixes(MEETING_ID))
        else:
            upsert(store, call)
    assert displays_by_email(store) == expected
    assert_display_index_is_exact(store)


def test_upsert_suffix_counter_expires_with_the_meeting(store, service, meeting):
    upsert(store, [("a@x.org", "Guest"), ("b@x.org", "Guest")])
    key = store.keys.name_suffixes(MEETING_ID)
    assert store.redis.hgetall(key) == {"Guest": "2"}
    assert_expire_at_meeting(store, key)
    service.meetings.add(MEETING_ID, topic="Moved", start=START + timedelta(days=7), duration=90)
    assert_expire_at_meeting(store, key)


def test_3000_guests_get_distinct_names_that_stay_on_reissue(service, store, meeting):
    people = [RegistrantInput(f"guest{n}@example.org", "Guest") for n in range(3000)]
    first = {link.email: link.display_name for link in service.meetings.issue_links(meeting, people)}
    assert sorted(first.values()) == sorted(["Guest"] + [f"Guest ({n})" for n in range(2, 3001)])
    again = service.meetings.issue_links(meeting, list(reversed(people)))
    assert {link.email: link.display_name for link in again} == first
    assert not any(link.created for link in again)
    assert_display_index_is_exact(store)


def test_gate_outcome_enum_is_gate_lua_documented_outcomes():
    """GateOutcome's values are exactly the outcomes gate.lua's header documents and returns."""
    from importlib import resources

    from joingate.records import GateOutcome

    source = resources.files("joingate.lua").joinpath("gate.lua").read_text(encoding="utf-8")
    header = source.split("outcome (detail) is one of:", 1)[1].split("-- Writes:", 1)[0]
    documented = set(re.findall(r"^--   (\w+)", header, re.M))   # not the continued lines
    returned = set(re.findall(r"return \{'(\w+)'", source))
    assert documented == returned == {outcome.value for outcome in GateOutcome}
