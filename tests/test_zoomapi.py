"""The Zoom API client against a fake Zoom on loopback: OAuth shared through Redis, retries,
rate limits, sync of 1,200 registrants, registration at Zoom, denial, live reconciliation."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fake_zoom_api import FakeZoom
from helpers import MEETING_ID, START, make_app

from joingate.roster import RegistrantInput
from joingate.zoom.client import ZoomClient, ZoomError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake():
    server = FakeZoom()
    server.add_meeting(MEETING_ID)
    yield server
    server.close()


@pytest.fixture
def zoom_app(app, store_url, clock, fake):
    return make_app(store_url, clock, like=app, **fake.settings())


@pytest.fixture
def zservice(zoom_app):
    return zoom_app.extensions["joingate"]


@pytest.fixture
def zoom_client(zservice):
    return ZoomClient(zservice.config, zservice.store)


@pytest.fixture
def zrunner(zoom_app):
    from click.testing import CliRunner

    from joingate.cli import main

    def invoke(args, input=None):
        return CliRunner().invoke(main, args, obj=zoom_app, input=input, catch_exceptions=False)
    return invoke


def snapshot(service) -> dict:
    r = service.store.redis
    return {key: r.hgetall(key) for key in r.keys(f"jg:{{m:{MEETING_ID}}}:*")
            if r.type(key) == "hash"}


def test_sync_1200_registrants_over_pages_then_nothing_new(fake, zservice, zrunner):
    fake.add_registrants(MEETING_ID, 1200)
    first = zrunner(["zoom", "sync", MEETING_ID])
    assert first.exit_code == 0, first.output
    rows = list(csv.DictReader(io.StringIO(first.stdout)))
    assert len(rows) == 1200 and all(row["link"].startswith("https://gate.example.org/j/")
                                     for row in rows)
    assert "1200 registrant(s), 1200 new" in first.stderr
    pages = [call for call in fake.calls if call[1].endswith("/registrants")]
    assert len(pages) == 4                                     # 300 a page
    meeting = zservice.meetings.get(MEETING_ID)
    assert meeting.pwd == "Q0x3enc" and meeting.topic == "Evening ceramics"
    person = zservice.store.registrant(
        MEETING_ID, zservice.meetings.registrant_id("person7@example.org"))
    assert person.zoom_registrant_id and person.join_url.startswith("https://us06web.zoom.us/w/")
    before = snapshot(zservice)
    second = zrunner(["zoom", "sync", MEETING_ID])
    assert "1200 registrant(s), 0 new" in second.stderr
    assert [row["link"] for row in csv.DictReader(io.StringIO(second.stdout))] == \
        [row["link"] for row in rows]
    assert snapshot(zservice) == before


def test_two_processes_asking_at_once_cause_one_oauth_call(redis_server, fake):
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    fake.oauth_delay = 0.5                     # a slow token endpoint widens the race
    script = ("import sys; sys.path.insert(0, 'tests'); import helpers, json, os; "
              "app = helpers.make_app(os.environ['URL'], helpers.Clock(helpers.NOW), "
              "**json.loads(os.environ['ZOOM'])); "
              "from joingate.zoom.client import ZoomClient; s = app.extensions['joingate']; "
              "print(ZoomClient(s.config, s.store).token())")
    import json
    env = {**os.environ, "URL": redis_server.url, "ZOOM": json.dumps(fake.settings())}
    processes = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
    tokens = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert fake.oauth_calls == 1
    assert tokens == ["token-1", "token-1"]


def test_429_with_retry_after_is_waited_out(zoom_client, fake):
    fake.faults.append((429, {"Retry-After": "2"}, {"code": 429, "message": "Too many"}))
    started = time.monotonic()
    assert zoom_client.meeting(MEETING_ID)["topic"] == "Evening ceramics"
    assert time.monotonic() - started >= 2.0
    assert [path for _, path in fake.calls] == [f"/v2/meetings/{MEETING_ID}"] * 2


def test_500_twice_then_200_succeeds(zoom_client, fake):
    fake.faults += [(500, {}, {"message": "oops"}), (500, {}, {"message": "oops again"})]
    assert zoom_client.meeting(MEETING_ID)["id"] == int(MEETING_ID)
    assert len(fake.calls) == 3


def test_invalid_token_answer_refreshes_once_and_retries(zoom_client, fake):
    zoom_client.meeting(MEETING_ID)
    fake.faults.append((401, {}, {"code": 124, "message": "Invalid access token."}))
    assert zoom_client.meeting(MEETING_ID)["id"] == int(MEETING_ID)
    assert fake.oauth_calls == 2


def test_token_is_fetched_again_a_minute_before_expiry(zservice, fake):
    fake.token_lifetime = 61                  # cached for 1 s (61 - the 60 s margin)
    client = ZoomClient(zservice.config, zservice.store)
    client.meeting(MEETING_ID)
    client.meeting(MEETING_ID)
    assert fake.oauth_calls == 1
    time.sleep(1.2)
    client.meeting(MEETING_ID)
    assert fake.oauth_calls == 2


def test_zoom_errors_carry_code_and_message(zoom_client):
    with pytest.raises(ZoomError) as caught:
        zoom_client.meeting("999999999")
    assert caught.value.status == 404 and caught.value.code == 3001
    assert "Meeting does not exist" in str(caught.value)


def test_rate_limit_per_endpoint_class_waits(zservice, fake):
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    config = dataclasses.replace(zservice.config,
                                 zoom_rate_limits={"light": 2, "medium": 2, "heavy": 1})
    client = ZoomClient(config, zservice.store, sleep=sleep)
    for _ in range(5):
        client.meeting(MEETING_ID)
    assert waits, "five light calls at 2 per second must wait"
    assert len(fake.calls) == 5


def test_register_reports_refused_rows_and_never_registers_twice(fake, zservice, zrunner,
                                                                 tmp_path):
    zservice.meetings.add(MEETING_ID, topic="T", start=START, duration=90)
    path = tmp_path / "people.csv"
    path.write_text("email,first_name,last_name\nana@example.org,Ana,Lima\n"
                    "refuse-me@example.org,Re,Fused\nben@example.org,Ben,Okafor\n")
    result = zrunner(["zoom", "register", MEETING_ID, str(path)])
    assert result.exit_code == 1
    assert "line 3: refuse-me@example.org: Zoom refused: Registration refused" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["email"] for row in rows] == ["ana@example.org", "ben@example.org"]
    ana = zservice.store.registrant(MEETING_ID,
                                    zservice.meetings.registrant_id("ana@example.org"))
    assert ana.zoom_registrant_id and ana.join_url.startswith("https://us06web.zoom.us/")
    posts = sum(1 for method, _ in fake.calls if method == "POST")
    again = zrunner(["zoom", "register", MEETING_ID, str(path)])
    assert sum(1 for method, _ in fake.calls if method == "POST") == posts + 1  # refused row only
    assert [row["link"] for row in csv.DictReader(io.StringIO(again.stdout))] == \
        [row["link"] for row in rows]


def test_shared_under_deny_policy_denies_at_zoom_once(zoom_app, store_url, clock, fake):
    from webhook_events import participant, signed

    from joingate.worker import Worker

    strict = make_app(store_url, clock, like=zoom_app, SHARED_GRACE=0, **fake.settings())
    service = strict.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="T", start=START, duration=90, policy="deny")
    service.meetings.issue_links(MEETING_ID, [RegistrantInput("ana@example.org", "Ana Lima", "zid-ana")])
    clock.set(START + timedelta(minutes=3))
    for user_id in ("1", "2"):
        raw, headers = signed(participant("joined", user_id=user_id, name="Ana Lima",
                                          registrant_id="zid-ana", at="2026-12-01T18:01:00Z"),
                              int(clock()))
        strict.test_client().post("/webhooks/zoom", data=raw, headers=headers)
    worker = Worker(service, zoom=ZoomClient(service.config, service.store))
    for _ in range(3):
        worker.tick()
        time.sleep(0.2)
    assert fake.status_changes == [{"meeting": MEETING_ID, "action": "deny",
                                    "registrants": [{"id": "zid-ana",
                                                     "email": "ana@example.org"}]}]


def test_reset_with_approve_approves_at_zoom(zservice, zrunner, fake):
    zservice.meetings.add(MEETING_ID, topic="T", start=START, duration=90)
    zservice.meetings.issue_links(MEETING_ID, [RegistrantInput("ana@example.org", "Ana", "zid-ana")])
    result = zrunner(["links", "reset", MEETING_ID, "ana@example.org", "--approve"])
    assert result.exit_code == 0, result.output
    assert fake.status_changes[-1]["action"] == "approve"


def test_reconcile_adds_missed_joins_and_closes_missed_leaves(zservice, zrunner, fake, clock):

    zservice.meetings.add(MEETING_ID, topic="T", start=START, duration=90)
    zservice.meetings.issue_links(MEETING_ID, [RegistrantInput("ana@example.org", "Ana Lima", "zid-ana"),
                                      RegistrantInput("ben@example.org", "Ben Okafor")])
    uuid = "4444AAAiAAAAAiAiAiiAii=="
    # Webhooks saw Ben join, and never his leave; they missed Ana entirely.
    zservice.presence.record(_joined(uuid, "7", "Ben Okafor"))
    fake.live[MEETING_ID] = {"uuid": uuid, "participants": [
        {"id": "live-ana", "user_name": "Ana Lima", "registrant_id": "zid-ana",
         "participant_uuid": "PU-ana", "join_time": "2026-12-01T18:02:00Z"}]}
    clock.set(START + timedelta(minutes=30))
    result = zrunner(["zoom", "reconcile", MEETING_ID])
    assert "1 participant(s) added, 1 stay(s) closed" in result.output
    rows = {row["email"]: row for row in zservice.presence.report(MEETING_ID)["registrants"]}
    assert rows["ana@example.org"]["present"] == 1 and rows["ana@example.org"]["joins"] == 1
    assert rows["ben@example.org"]["present"] == 0
    again = zrunner(["zoom", "reconcile", MEETING_ID])
    assert "0 participant(s) added, 0 stay(s) closed" in again.output


def _joined(uuid: str, user_id: str, name: str):
    from webhook_events import participant

    from joingate.zoom.events import read_event

    return read_event(participant("joined", user_id=user_id, name=name, uuid=uuid,
                                  at="2026-12-01T18:01:00Z"))
