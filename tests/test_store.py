"""Redis state: TTLs on every key, hash tags, and Redis being down."""

from __future__ import annotations

import redis as redis_lib
from helpers import MEETING_ID, START, make_app, path_of

from joingate.roster import RegistrantInput


def test_every_key_has_a_ttl_and_the_meeting_hash_tag(app, client, service, link):
    client.get(path_of(link))
    client.post(path_of(link))
    r = service.store.redis
    keys = [k for k in r.keys("jg:*") if k not in ("jg:meetings", "jg:idkey")]
    assert r.ttl("jg:idkey") > 0       # the registrant id key: one for all meetings
    assert len(keys) >= 5      # meeting, registrant, displays, roster, events
    for key in keys:
        assert key.startswith(f"jg:{{m:{MEETING_ID}}}:"), key
        assert r.ttl(key) > 0, key
    expire_at = service.meetings.get(MEETING_ID).expire_at
    assert abs(r.expiretime(keys[0]) - expire_at) <= 1


def test_moving_the_meeting_moves_every_expiry(service, link, meeting):
    from datetime import timedelta

    service.meetings.add(meeting, topic="Moved", start=START + timedelta(days=7), duration=90)
    r = service.store.redis
    expire_at = service.meetings.get(MEETING_ID).expire_at
    for key in r.keys(f"jg:{{m:{MEETING_ID}}}:*"):
        assert abs(r.expiretime(key) - expire_at) <= 1, key


def test_display_names_are_unique_and_deterministic(service, meeting):
    people = [RegistrantInput(f"ana{i}@example.org", "Ana Lima") for i in range(3)]
    first = [link.display_name for link in service.meetings.issue_links(meeting, people)]
    assert first == ["Ana Lima", "Ana Lima (2)", "Ana Lima (3)"]
    again = [link.display_name for link in service.meetings.issue_links(meeting, people)]
    assert again == first


def test_issuing_again_gives_the_identical_link(service, meeting):
    person = [RegistrantInput("Ana.Lima@Example.org", "Ana Lima")]
    one = service.meetings.issue_links(meeting, person)[0]
    two = service.meetings.issue_links(meeting, [RegistrantInput("ana.lima@example.org ", "Ana Lima")])[0]
    assert one.url == two.url and one.created and not two.created
    assert len(service.store.registrants(meeting)) == 1


def test_redis_down_gives_503_and_no_redirect_then_recovers(own_redis, clock):
    app = make_app(own_redis.url, clock, REDIS_TIMEOUT=0.5)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="T", start=START, duration=60)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("a@example.org", "A")])[0]
    client = app.test_client()
    own_redis.stop()
    for response in (client.get(path_of(link)), client.post(path_of(link)),
                     client.head(path_of(link))):
        assert response.status_code == 503
        assert "Location" not in response.headers
    assert b"cannot check your link" in client.post(path_of(link)).data
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    own_redis.start()
    assert client.get("/readyz").status_code == 200
    assert client.post(path_of(link)).status_code == 303


def test_unknown_meeting_issue_writes_nothing(service):
    import pytest

    from joingate.errors import NotFound

    with pytest.raises(NotFound):
        service.meetings.issue_links("123456789", [RegistrantInput("a@example.org", "A")])
    assert service.store.redis.keys("jg:{m:123456789}*") == []


def test_sentinel_url_follows_the_master(own_redis, tmp_path, clock):
    import subprocess

    from stack import free_port, wait_for_port

    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor jgmaster 127.0.0.1 {own_redis.port} 1\n")
    sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        app = make_app(f"redis+sentinel://127.0.0.1:{port}/jgmaster", clock)
        service = app.extensions["joingate"]
        service.meetings.add(MEETING_ID, topic="T", start=START, duration=60)
        link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("s@example.org", "S")])[0]
        assert app.test_client().post(path_of(link)).status_code == 303
        direct = redis_lib.Redis(port=own_redis.port, decode_responses=True)
        assert direct.hget(f"jg:{{m:{MEETING_ID}}}:r:{link.registrant_id}", "devices")
    finally:
        sentinel.terminate()
        sentinel.wait(10)


def test_gate_script_returns_the_meeting_fields_store_reads():
    import re
    from importlib import resources

    from joingate.store import GATE_MEETING_FIELDS

    script = resources.files("joingate.lua").joinpath("gate.lua").read_text()
    call = re.search(r"redis\.call\('HMGET', meeting_key,([^)]*)\)", script).group(1)
    assert tuple(re.findall(r"'(\w+)'", call)) == GATE_MEETING_FIELDS


def test_a_roster_stored_as_a_sorted_set_is_read_and_turned_into_a_list(service, meeting):
    """The roster is a list now (about 110 bytes less per registrant); one written by an
    earlier version (a sorted set) still lists its registrants in order, and the next issue
    turns it into the list without losing or reordering anyone."""
    first = service.meetings.issue_links(meeting, [RegistrantInput("a@example.org", "A"),
                                                   RegistrantInput("b@example.org", "B")])
    r = service.store.redis
    roster = service.store.keys.roster(MEETING_ID)
    assert r.type(roster) == "list"
    ids = r.lrange(roster, 0, -1)
    r.delete(roster)
    r.zadd(roster, {rid: n + 1 for n, rid in enumerate(ids)})
    assert [x.email for x in service.store.registrants(MEETING_ID)] == ["a@example.org",
                                                                       "b@example.org"]
    assert service.store.registrant_count(MEETING_ID) == 2
    service.meetings.issue_links(meeting, [RegistrantInput("c@example.org", "C"),
                                           RegistrantInput("a@example.org", "A")])
    assert r.type(roster) == "list"
    assert [x.email for x in service.store.registrants(MEETING_ID, 1, 5)] == [
        "b@example.org", "c@example.org"]
    assert service.store.registrant_count(MEETING_ID) == 3 and len(first) == 2


def test_a_meeting_read_from_the_gate_is_the_meeting_it_names():
    """gate.lua's meeting fields are parsed once per distinct reply: two meetings with the same
    fields are still two meetings."""
    from joingate.store import GATE_MEETING_FIELDS, gate_meeting

    fields = tuple({"start": "1796148000", "duration": "60", "topic": "T",
                    "max_devices": "2"}.get(name) for name in GATE_MEETING_FIELDS)
    first, second = gate_meeting("111", fields), gate_meeting("222", fields)
    assert (first.id, second.id) == ("111", "222")
    assert first.max_devices == second.max_devices == 2 and first.topic == "T"
    assert gate_meeting("111", fields) is first
