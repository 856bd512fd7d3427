"""The worker: violations become signed alerts at a real HTTP receiver, with retries; a receiver
that hangs never slows the webhook endpoint; the deny policy revokes and asks Zoom to deny."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import pytest
from alert_receiver import Receiver
from helpers import MEETING_ID, START, make_app, path_of
from webhook_events import participant, signed

from joingate.roster import RegistrantInput
from joingate.worker import BACKOFF, Worker

ALERT_SECRET = "alert-secret"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


class RecordingZoom:
    """Stands in for the Zoom API client behind the ZoomActions seam (issue: Zoom API client)."""

    def __init__(self) -> None:
        self.denied: list[tuple[str, str, str]] = []

    def deny_registrant(self, meeting_id: str, zoom_registrant_id: str, email: str) -> None:
        self.denied.append((meeting_id, zoom_registrant_id, email))


@pytest.fixture
def alerting(app, store_url, clock, receiver):
    """An app with alerts to the receiver and SHARED_GRACE=0, its worker running in a thread."""
    alert_app = make_app(store_url, clock, like=app, SHARED_GRACE=0,
                         ALERT_WEBHOOK_URL=receiver.url, ALERT_SECRET=ALERT_SECRET)
    service = alert_app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Ceramics", start=START, duration=90)
    service.meetings.issue_links(MEETING_ID, [RegistrantInput("ana.lima@example.org", "Ana Lima",
                                                     "x4VbQ7o0TtqZp1rXlN3WkA")])
    clock.set(START + timedelta(minutes=2, seconds=30))   # after the joins below
    zoom = RecordingZoom()
    worker = Worker(service, zoom=zoom)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.05), daemon=True)
    thread.start()
    yield alert_app, zoom
    stop.set()
    thread.join(10)


def deliver(client, clock, body):
    raw, headers = signed(body, int(clock()))
    return client.post("/webhooks/zoom", data=raw, headers=headers)


def two_stays(client, clock):
    for user_id, at in (("101", "2026-12-01T18:01:00Z"), ("102", "2026-12-01T18:02:00Z")):
        body = participant("joined", user_id=user_id, name="Ana Lima", at=at,
                           registrant_id="x4VbQ7o0TtqZp1rXlN3WkA")
        assert deliver(client, clock, body).status_code == 200


def test_shared_alert_reaches_the_receiver_signed_within_2_s(alerting, clock, receiver):
    app, _ = alerting
    two_stays(app.test_client(), clock)
    assert receiver.wait_for(1, timeout=2.0)
    headers, body = receiver.requests[0]
    expected = hmac.new(ALERT_SECRET.encode(),
                        headers["x-joingate-timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["x-joingate-signature"] == "v1=" + expected
    alert = json.loads(body)
    assert alert["kind"] == "shared" and alert["meeting"] == MEETING_ID
    assert alert["registrant"]["email"] == "ana.lima@example.org"
    assert {stay["user_name"] for person in alert["evidence"]["people"]
            for stay in person["stays"]} == {"Ana Lima"}
    assert [person["via"] for person in alert["evidence"]["people"]] == ["registrant_id"] * 2
    time.sleep(0.3)
    assert len(receiver.requests) == 1, "one violation, one alert"


def test_endpoint_answers_while_the_receiver_hangs(alerting, clock, receiver):
    app, _ = alerting
    receiver.mode = "hang"
    client = app.test_client()
    two_stays(client, clock)
    assert receiver.wait_for(1, timeout=2.0)
    started = time.monotonic()
    for n in range(20):
        body = participant("joined", user_id=f"9{n}", name=f"Guest {n}",
                           at="2026-12-01T18:05:00Z")
        assert deliver(client, clock, body).status_code == 200
    assert time.monotonic() - started < 3.0


def test_a_failing_receiver_is_retried(alerting, clock, receiver):
    app, _ = alerting
    receiver.mode = "fail"
    two_stays(app.test_client(), clock)
    assert receiver.wait_for(1, timeout=2.0)
    receiver.mode = "ok"
    time.sleep(0.3)
    assert len(receiver.requests) == 1, "the retry waits for its back-off"
    clock.advance(BACKOFF[0] + 1)
    assert receiver.wait_for(2, timeout=2.0)
    assert json.loads(receiver.requests[1][1])["id"] == json.loads(receiver.requests[0][1])["id"]


def test_second_device_and_unmatched_are_alerted(alerting, clock, receiver):
    app, _ = alerting
    link = app.extensions["joingate"].meetings.issue_links(
        MEETING_ID, [RegistrantInput("ben@example.org", "Ben")])[0]
    app.test_client().post(path_of(link))
    assert app.test_client().post(path_of(link)).status_code == 409
    deliver(app.test_client(), clock, participant("joined", user_id="77", name="Gate Crasher",
                                                  at="2026-12-01T18:03:00Z"))
    assert receiver.wait_for(2, timeout=2.0)
    kinds = sorted(json.loads(body)["kind"] for _, body in receiver.requests)
    assert kinds == ["second_device", "unmatched"]


def test_deny_policy_revokes_the_link_and_denies_at_zoom_once(alerting, clock, receiver):
    app, zoom = alerting
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Ceramics", start=START, duration=90, policy="deny")
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("ana.lima@example.org",
                                                            "Ana Lima")])[0]
    two_stays(app.test_client(), clock)
    deadline = time.monotonic() + 2
    while not zoom.denied and time.monotonic() < deadline:
        time.sleep(0.02)
    assert zoom.denied == [(MEETING_ID, "x4VbQ7o0TtqZp1rXlN3WkA", "ana.lima@example.org")]
    assert app.test_client().post(path_of(link)).status_code == 410
    body = participant("joined", user_id="103", name="Ana Lima", at="2026-12-01T18:04:00Z",
                       registrant_id="x4VbQ7o0TtqZp1rXlN3WkA")
    deliver(app.test_client(), clock, body)
    time.sleep(0.3)
    assert len(zoom.denied) == 1


def test_default_grace_check_fires_when_the_grace_runs_out(app, store_url, clock, receiver):
    alert_app = make_app(store_url, clock, like=app, ALERT_WEBHOOK_URL=receiver.url)
    service = alert_app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Ceramics", start=START, duration=90)
    service.meetings.issue_links(MEETING_ID, [RegistrantInput("ben@example.org", "Ben Okafor",
                                                              "Ben0Zoom0Registrant0Id")])
    clock.set(START + timedelta(minutes=2))
    for user_id in ("1", "2"):
        deliver(alert_app.test_client(), clock, participant(
            "joined", user_id=user_id, name="Ben Okafor", at="2026-12-01T18:02:00Z",
            registrant_id="Ben0Zoom0Registrant0Id"))
    worker = Worker(service)
    worker.tick()
    assert service.store.violations(MEETING_ID) == []   # within the grace: nothing yet
    clock.advance(121)                                   # no further event arrives
    worker.tick()
    assert [v["kind"] for v in service.store.violations(MEETING_ID)] == ["shared"]
    worker.send_due()
    assert receiver.wait_for(1, timeout=2.0)
