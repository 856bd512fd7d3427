"""The deny policy acts only on evidence nobody can type: a real `joingate worker` process on a
real redis-server, Zoom's API played by the fake Zoom on loopback, alerts at a real receiver.

A participant who types a registrant's display name (or a staff member's name) makes at most
``shared_suspected`` or ``unmatched``: the organizer is alerted, nobody's link is revoked and
nothing is denied at Zoom. Two people on one registration seen through Zoom's registrant_id
are ``shared``: revoked and denied, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from alert_receiver import Receiver
from fake_zoom_api import FakeZoom
from helpers import MEETING_ID, SECRET, make_app, path_of
from webhook_events import participant, signed

from joingate.roster import RegistrantInput

CAROL_ZOOM_ID = "ZR-CAROL-00000001"
GRACE = 2


def zoom_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def stage(redis_server, tmp_path):
    """An app (wall clock) on a fresh real Redis, a fake Zoom, a receiver, and a running worker
    process; the meeting (policy deny, started now) with Carol, who claimed her link."""
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    fake, receiver = FakeZoom(), Receiver()
    fake.add_meeting(MEETING_ID)
    settings = {**fake.settings(), "ALERT_WEBHOOK_URL": receiver.url, "SHARED_GRACE": GRACE}
    app = make_app(redis_server.url, time.time, **settings)
    state = app.extensions["joingate"]
    state.meetings.add(MEETING_ID, topic="Ceramics", start=int(time.time()), duration=90,
                       policy="deny", staff=["ta@example.org"])
    carol = state.meetings.issue_links(MEETING_ID, [
        RegistrantInput("carol@example.org", "Carol Victim", CAROL_ZOOM_ID)])[0]
    browser = app.test_client()
    assert browser.post(path_of(carol)).status_code == 303
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update({f"JOINGATE_{name}": str(value) for name, value in settings.items()})
    env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=redis_server.url)
    worker = subprocess.Popen([sys.executable, "-c", "from joingate.cli import main; main()",
                               "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "worker.log", "w"))
    try:
        yield app, carol, browser, fake, receiver
    finally:
        worker.terminate()
        worker.wait(10)
        fake.close()
        receiver.close()


def deliver(app, body) -> None:
    raw, headers = signed(body, int(time.time()))
    assert app.test_client().post("/webhooks/zoom", data=raw, headers=headers).status_code == 200


def alerts(receiver) -> list[dict]:
    return [json.loads(body) for _, body in receiver.requests]


def wait_for_kinds(receiver, kinds: set[str], timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kinds <= {alert["kind"] for alert in alerts(receiver)}:
            break
        time.sleep(0.1)
    return alerts(receiver)


def test_a_typed_name_never_revokes_or_denies(stage):
    app, carol, browser, fake, receiver = stage
    now = time.time()
    deliver(app, participant("joined", user_id="1", name="Carol Victim", at=zoom_time(now - 1),
                             registrant_id=CAROL_ZOOM_ID))
    deliver(app, participant("joined", user_id="2", name="Carol Victim", at=zoom_time(now)))
    deliver(app, participant("joined", user_id="3", name="Teaching Assistant",
                             at=zoom_time(now)))
    got = wait_for_kinds(receiver, {"shared_suspected", "unmatched"})
    assert {alert["kind"] for alert in got} == {"shared_suspected", "unmatched"}
    suspected = next(alert for alert in got if alert["kind"] == "shared_suspected")
    assert suspected["registrant"]["email"] == "carol@example.org"
    assert sorted(person["via"] for person in suspected["evidence"]["people"]) == [
        "name", "registrant_id"]
    time.sleep(1.0)                                     # give a wrong revoke time to happen
    assert browser.post(path_of(carol)).status_code == 303      # her device still gets in
    assert fake.status_changes == []                             # nothing denied at Zoom
    report = app.extensions["joingate"].presence.report(MEETING_ID)
    assert report["registrants"][0]["flags"] == ["shared_suspected"]
    assert [row["user_name"] for row in report["unmatched"]] == ["Teaching Assistant"]


def test_two_people_on_the_registrant_link_are_revoked_and_denied_once(stage):
    app, carol, browser, fake, receiver = stage
    now = time.time()
    for user_id, pid in (("1", "CarolUser0000000001"), ("2", "FriendUser000000009")):
        deliver(app, participant("joined", user_id=user_id, name="Carol Victim",
                                 at=zoom_time(now), registrant_id=CAROL_ZOOM_ID, pid=pid))
    got = wait_for_kinds(receiver, {"shared"})
    assert [alert["kind"] for alert in got] == ["shared"]
    deadline = time.monotonic() + 10
    while not fake.status_changes and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [change["action"] for change in fake.status_changes] == ["deny"]
    assert fake.status_changes[0]["registrants"][0]["id"] == CAROL_ZOOM_ID
    assert browser.post(path_of(carol)).status_code == 410
    report = app.extensions["joingate"].presence.report(MEETING_ID)
    assert report["registrants"][0]["flags"] == ["shared"]
