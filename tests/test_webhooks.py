"""Zoom's webhooks: verification, url_validation, dedupe, ordering, matching, the report."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from helpers import MEETING_ID, START, make_app
from webhook_events import WEBHOOK_SECRET, participant, sample, signed

from joingate.roster import RegistrantInput
from joingate.views import link_status

HOOK = "/webhooks/zoom"


def deliver(client, clock, body, **headers):
    raw, sent = signed(body, int(clock()), **headers)
    return client.post(HOOK, data=raw, headers=sent)


@pytest.fixture
def people(service, meeting):
    """Ana (Zoom registrant id), Ben (no Zoom id), and the report's clock at 18:30."""
    service.meetings.issue_links(meeting, [
        RegistrantInput("ana.lima@example.org", "Ana Lima", "x4VbQ7o0TtqZp1rXlN3WkA"),
        RegistrantInput("ben@example.org", "Ben Okafor"),
    ])
    return meeting


def report_row(service, email):
    report = service.presence.report(MEETING_ID)
    return next(row for row in report["registrants"] if row["email"] == email)


def test_url_validation_answers_with_the_hmac_of_the_plain_token(client, clock):
    response = deliver(client, clock, sample("url_validation"))
    assert response.status_code == 200
    expected = hmac.new(WEBHOOK_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw",
                        hashlib.sha256).hexdigest()
    assert response.get_json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                                   "encryptedToken": expected}


@pytest.mark.parametrize("headers", [
    {"x_zm_signature": ""},
    {"x_zm_request_timestamp": ""},
    {"x_zm_signature": "v0=" + "0" * 64},
    {"x_zm_signature": "v0=deadbeef"},
    {"x_zm_signature": "garbage"},
    {"x_zm_request_timestamp": "1x"},
], ids=["no-signature", "no-timestamp", "wrong-signature", "short-signature", "no-prefix",
        "bad-timestamp"])
def test_unverifiable_deliveries_get_401_and_change_nothing(client, clock, service, people,
                                                            headers):
    before = sorted(service.store.redis.keys("*"))
    body = participant("joined", user_id="1", name="Ana Lima", at="2026-12-01T18:01:00Z")
    response = deliver(client, clock, body, **headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert sorted(service.store.redis.keys("*")) == before


@pytest.mark.parametrize("skew", [-301, 301], ids=["stale", "future"])
def test_timestamp_outside_the_tolerance_is_401(client, clock, service, people, skew):
    body = participant("joined", user_id="1", name="Ana Lima", at="2026-12-01T18:01:00Z")
    raw, headers = signed(body, int(clock()) + skew)
    assert client.post(HOOK, data=raw, headers=headers).status_code == 401
    assert report_row(service, "ana.lima@example.org")["joins"] == 0


def test_tampered_body_is_401(client, clock, people, service):
    body = participant("joined", user_id="1", name="Ana Lima", at="2026-12-01T18:01:00Z")
    raw, headers = signed(body, int(clock()))
    raw = raw.replace(b"Ana Lima", b"Ana Lime")
    assert client.post(HOOK, data=raw, headers=headers).status_code == 401


def test_emoji_names_verify_over_raw_bytes(client, clock, service, meeting):
    service.meetings.issue_links(meeting, [RegistrantInput("zoe@example.org", "Zoë 🎨 Çelik")])
    body = participant("joined", user_id="7", name="Zoë 🎨 Çelik", at="2026-12-01T18:01:00Z")
    raw, headers = signed(body, int(clock()))
    assert "🎨".encode() in raw
    assert client.post(HOOK, data=raw, headers=headers).get_json() == {"status": "recorded"}
    assert report_row(service, "zoe@example.org")["status"] == "joined"


def test_overlapping_stays_are_shared_with_zero_grace(app, store_url, clock, people):
    strict = make_app(store_url, clock, like=app, SHARED_GRACE=0)
    client, service = strict.test_client(), strict.extensions["joingate"]
    for user_id, at in (("101", "2026-12-01T18:01:00Z"), ("102", "2026-12-01T18:02:00Z")):
        body = participant("joined", user_id=user_id, name="Someone",
                           registrant_id="x4VbQ7o0TtqZp1rXlN3WkA", at=at)
        assert deliver(client, clock, body).status_code == 200
    clock.set(START + timedelta(minutes=5))
    row = report_row(service, "ana.lima@example.org")
    assert row["flags"] == ["shared"] and row["max_concurrent"] == 2 and row["joins"] == 2
    assert row["present"] == 2


def test_default_grace_forgives_a_short_overlap(client, clock, service, people):
    stays = [("joined", "101", "2026-12-01T18:01:00Z"), ("joined", "102", "2026-12-01T18:10:00Z"),
             ("left", "101", "2026-12-01T18:11:30Z")]
    for kind, user_id, at in stays:
        deliver(client, clock, participant(kind, user_id=user_id, name="Ana Lima", at=at))
    clock.set(START + timedelta(minutes=30))
    row = report_row(service, "ana.lima@example.org")
    assert row["flags"] == [] and row["max_concurrent"] == 2 and row["joins"] == 2


def test_a_long_overlap_seen_by_name_is_suspected_with_the_default_grace(client, clock, service,
                                                                       people):
    for user_id, at in (("101", "2026-12-01T18:01:00Z"), ("102", "2026-12-01T18:02:00Z")):
        deliver(client, clock, participant("joined", user_id=user_id, name="Ben Okafor", at=at))
    clock.set(START + timedelta(minutes=3, seconds=30))   # overlap 90 s: within the grace
    assert report_row(service, "ben@example.org")["flags"] == []
    clock.set(START + timedelta(minutes=4, seconds=30))   # overlap 150 s, names only
    assert report_row(service, "ben@example.org")["flags"] == ["shared_suspected"]


def test_join_leave_join_is_not_shared(client, clock, service, people):
    for kind, user_id, at in (("joined", "1", "2026-12-01T18:01:00Z"),
                              ("left", "1", "2026-12-01T18:20:00Z"),
                              ("joined", "2", "2026-12-01T18:21:00Z")):
        deliver(client, clock, participant(kind, user_id=user_id, name="Ben Okafor", at=at))
    clock.set(START + timedelta(minutes=40))
    row = report_row(service, "ben@example.org")
    assert row["flags"] == [] and row["joins"] == 2 and row["max_concurrent"] == 1
    assert row["present"] == 1 and row["minutes"] == pytest.approx(19 + 19, abs=0.1)


def test_late_leave_after_the_rejoin_keeps_the_new_stay(client, clock, service, people):
    # The old client died at 18:20; Zoom delivers its leave after the rejoin at 18:20:30.
    for kind, user_id, at in (("joined", "1", "2026-12-01T18:01:00Z"),
                              ("joined", "2", "2026-12-01T18:20:30Z"),
                              ("left", "1", "2026-12-01T18:20:00Z")):
        deliver(client, clock, participant(kind, user_id=user_id, name="Ana Lima",
                                           registrant_id="x4VbQ7o0TtqZp1rXlN3WkA", at=at))
    clock.set(START + timedelta(minutes=40))
    row = report_row(service, "ana.lima@example.org")
    assert row["flags"] == [] and row["present"] == 1 and row["max_concurrent"] == 1


def test_the_same_delivery_three_times_counts_once(client, clock, service, people):
    body = participant("joined", user_id="1", name="Ben Okafor", at="2026-12-01T18:01:00Z")
    statuses = [deliver(client, clock, body).get_json()["status"] for _ in range(3)]
    assert statuses == ["recorded", "duplicate", "duplicate"]
    clock.set(START + timedelta(minutes=10))
    row = report_row(service, "ben@example.org")
    assert row["joins"] == 1 and row["max_concurrent"] == 1


def test_unknown_name_without_registrant_id_is_unmatched(client, clock, service, people):
    deliver(client, clock, participant("joined", user_id="9", name="Mystery Guest",
                                       at="2026-12-01T18:05:00Z", participant_uuid="PU-9"))
    report = service.presence.report(MEETING_ID)
    assert report["unmatched"] == [{"user_name": "Mystery Guest", "participant_uuid": "PU-9",
                                    "join_time": "2026-12-01T18:05:00Z"}]


def test_host_and_staff_are_never_unmatched_or_flagged(client, clock, service, people):
    service.meetings.add(MEETING_ID, topic="T", start=START, duration=90,
                         staff=["KDcuGIm1QgePTO8WbOqwIQ", "co-host@example.org"])
    host = participant("joined", user_id="50", name="The Teacher", at="2026-12-01T17:58:00Z",
                       pid="z8yAAAABBBBCCCCdddd")
    assistant = participant("joined", user_id="51", name="teaching assistant",
                            at="2026-12-01T17:59:00Z", pid="KDcuGIm1QgePTO8WbOqwIQ")
    cohost = participant("joined", user_id="52", name="Somebody", email="Co-Host@example.org",
                         at="2026-12-01T17:59:30Z", pid="Xy12AbCdEfGhIjKlMnOpQr")
    for body in (host, assistant, cohost):
        assert deliver(client, clock, body).status_code == 200
    assert service.presence.report(MEETING_ID)["unmatched"] == []


@pytest.mark.parametrize("fields", [
    {"registrant_id": "x4VbQ7o0TtqZp1rXlN3WkA", "name": "Typed Something Else"},
    {"name": "Ana Lima"},
    {"name": "Ana on iPad", "email": "ANA.LIMA@example.org", "pid": "Xy12AbCdEfGhIjKlMnOpQr"},
], ids=["registrant-id", "display-name", "signed-in-email"])
def test_matching_order(client, clock, service, people, fields):
    body = participant("joined", user_id="1", at="2026-12-01T18:01:00Z", **fields)
    deliver(client, clock, body)
    assert report_row(service, "ana.lima@example.org")["joins"] == 1
    assert service.presence.report(MEETING_ID)["unmatched"] == []


def test_customer_key_matches_the_registrant(client, clock, service, people):
    body = participant("joined", user_id="1", name="Anything", at="2026-12-01T18:01:00Z",
                       customer_key=service.meetings.registrant_id("ben@example.org"))
    deliver(client, clock, body)
    assert report_row(service, "ben@example.org")["joins"] == 1


def test_meeting_ended_closes_open_stays(client, clock, service, people):
    deliver(client, clock, sample("meeting_started"))
    deliver(client, clock, participant("joined", user_id="1", name="Ben Okafor",
                                       at="2026-12-01T18:00:00Z"))
    ended = sample("meeting_ended")
    ended["payload"]["object"]["end_time"] = "2026-12-01T19:00:00Z"
    deliver(client, clock, ended)
    clock.set(START + timedelta(hours=5))
    row = report_row(service, "ben@example.org")
    assert row["minutes"] == 60 and row["present"] == 0


def test_registration_created_issues_a_link(client, clock, service, people, runner):
    assert deliver(client, clock, sample("registration_created")).get_json() == {
        "status": "recorded"}
    status = link_status(service, MEETING_ID, "ana.lima@example.org")
    stored = service.store.registrant(MEETING_ID,
                                      service.meetings.registrant_id("ana.lima@example.org"))
    assert stored.join_url.startswith("https://us06web.zoom.us/w/85746065432?tk=")
    assert status["link"].startswith("https://gate.example.org/j/")


def test_unknown_meeting_and_unknown_event_are_ignored(client, clock, people):
    other = participant("joined", user_id="1", name="X", at="2026-12-01T18:01:00Z")
    other["payload"]["object"]["id"] = "111111111"
    assert deliver(client, clock, other).get_json() == {"status": "ignored"}
    body = {"event": "meeting.participant_admitted", "event_ts": 1, "payload": {}}
    assert deliver(client, clock, body).get_json() == {"status": "ignored"}


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"event": 5}',
                                 b'{"event":"meeting.participant_joined","payload":{}}',
                                 b'{"event":"meeting.participant_joined","payload":{"object":'
                                 b'{"id":"85746065432","uuid":"u","participant":{"user_id":[1]}}}}',
                                 b'{"event":"endpoint.url_validation","payload":{}}',
                                 "{\"event\": \"\ud800\"}".encode("utf-8", "surrogatepass")],
                         ids=["broken", "list", "event-int", "no-object", "bad-types",
                              "no-plain-token", "bad-utf8"])
def test_verified_but_unreadable_bodies_get_400(client, clock, people, raw):
    response = deliver(client, clock, raw)
    assert response.status_code == 400 and response.get_json()["error"] == "bad_request"


def test_without_a_secret_the_endpoint_answers_503(app, store_url, clock):
    bare = make_app(store_url, clock, like=app, ZOOM_WEBHOOK_SECRET="")
    raw, headers = signed(sample("url_validation"), int(clock()))
    assert bare.test_client().post(HOOK, data=raw, headers=headers).status_code == 503


def test_oversized_body_is_413(app, store_url, clock):
    small = make_app(store_url, clock, like=app, MAX_BODY_BYTES=1000)
    raw, headers = signed(b"{" + b" " * 2000 + b"}", int(clock()))
    response = small.test_client().post(HOOK, data=raw, headers=headers)
    assert response.status_code == 413 and response.is_json


def test_redis_down_is_503_so_zoom_retries(own_redis, clock):
    app = make_app(own_redis.url, clock, REDIS_TIMEOUT=0.5)
    app.extensions["joingate"].meetings.add(MEETING_ID, topic="T", start=START, duration=60)
    own_redis.stop()
    body = participant("joined", user_id="1", name="A", at="2026-12-01T18:01:00Z")
    response = deliver(app.test_client(), clock, body)
    assert response.status_code == 503 and response.get_json()["error"] == "unavailable"


@pytest.mark.parametrize("change", [
    {"first_name": "Mallory", "last_name": "Other"},
    {"id": "SomeOtherZoomRegistrant"},
    {"join_url": "https://us06web.zoom.us/w/85746065432?tk=stolen&pwd=x"},
], ids=["name", "zoom-registrant-id", "join-url"])
def test_a_registration_never_rewrites_a_known_registrant(client, clock, service, people,
                                                          change):
    """Finding 9: a registration_created for a known address changes nothing of who that
    registrant is; the conflict is shown to the organizer (links show, the feed)."""
    assert deliver(client, clock, sample("registration_created")).get_json() == {
        "status": "recorded"}                       # Ana's own registration: fills her join_url
    before = service.meetings.registrant(MEETING_ID, "ana.lima@example.org")
    body = sample("registration_created")
    body["payload"]["object"]["registrant"].update(change)
    assert deliver(client, clock, body).get_json() == {"status": "conflict"}
    assert service.meetings.registrant(MEETING_ID, "ana.lima@example.org") == before
    history = link_status(service, MEETING_ID, "ana.lima@example.org")["history"]
    assert history[-1]["kind"] == "conflict" and "zoom registration_created" in \
        history[-1]["user_agent"]


def test_a_lookalike_address_in_a_registration_is_refused(client, clock, service, people):
    before = service.meetings.registrant(MEETING_ID, "ana.lima@example.org")
    body = sample("registration_created")
    body["payload"]["object"]["registrant"].update(email="\uff41na.lima@example.org",
                                                   first_name="Mallory")   # full-width a
    assert deliver(client, clock, body).status_code == 400
    assert service.meetings.registrant(MEETING_ID, "ana.lima@example.org") == before
