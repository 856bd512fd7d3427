"""The organizer API: auth and scopes, meetings, registrants (one and bulk, idempotent), link
actions, report, export, event feed; and schemathesis (all checks) against the live app."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from helpers import MEETING_ID, make_app

ADMIN = "admin-token-for-tests"
API = "/api/v1"


@pytest.fixture
def api_app(app, store_url, clock):
    return make_app(store_url, clock, like=app, ADMIN_TOKEN=ADMIN)


@pytest.fixture
def api(api_app):
    """A client that sends the manage token."""
    client = api_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN}"
    return client


MEETING = {"id": MEETING_ID, "topic": "Evening ceramics", "start": "2026-12-01T18:00:00Z",
           "duration": 90, "passcode": "Q0x3"}


def test_meeting_create_read_update_list(api):
    created = api.post(f"{API}/meetings", json=MEETING)
    assert created.status_code == 201
    assert created.get_json()["start"] == "2026-12-01T18:00:00Z"
    assert created.get_json()["has_passcode"] is True and "passcode" not in created.get_json()
    assert api.post(f"{API}/meetings", json=MEETING).status_code == 409
    patched = api.patch(f"{API}/meetings/{MEETING_ID}", json={"topic": "Week 4",
                                                             "open_before": 30})
    assert patched.get_json()["topic"] == "Week 4" and patched.get_json()["open_before"] == 30
    assert patched.get_json()["duration"] == 90
    listed = api.get(f"{API}/meetings").get_json()["meetings"]
    assert [m["id"] for m in listed] == [MEETING_ID]
    assert api.get(f"{API}/meetings/123456789").status_code == 404


@pytest.mark.parametrize("body,field", [
    ({**MEETING, "duration": 0}, "duration"),
    ({**MEETING, "start": "tomorrow"}, None),
    ({**MEETING, "id": "abc"}, "id"),
    ({**MEETING, "extra": 1}, "(body)"),
    ({**MEETING, "topic": "   "}, "topic"),
], ids=["duration", "start", "id", "unknown-field", "blank-topic"])
def test_bad_meetings_get_422_naming_the_field(api, body, field):
    response = api.post(f"{API}/meetings", json=body)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["error"] == "invalid_input" and problem["message"]
    if field:
        assert problem["details"][0]["field"] == field


def test_not_json_is_400_or_415(api):
    assert api.post(f"{API}/meetings", data="{", content_type="application/json"
                    ).status_code == 400
    assert api.post(f"{API}/meetings", data="id=1").status_code == 415


def test_one_registrant_answers_with_the_link(api_app, api):
    api.post(f"{API}/meetings", json=MEETING)
    first = api.post(f"{API}/meetings/{MEETING_ID}/registrants",
                     json={"email": "ana@example.org", "first_name": "Ana", "last_name": "Lima"})
    assert first.status_code == 201 and first.get_json()["created"] is True
    again = api.post(f"{API}/meetings/{MEETING_ID}/registrants",
                     json={"email": "ana@example.org", "name": "Ana Lima"})
    assert again.status_code == 200 and again.get_json()["link"] == first.get_json()["link"]
    link = first.get_json()["link"].removeprefix("https://gate.example.org")
    assert api_app.test_client().post(link).status_code == 303


def test_bulk_5000_then_replay_creates_nothing(api, service):
    api.post(f"{API}/meetings", json=MEETING)
    people = [{"email": f"p{i}@example.org", "name": f"Person {i}"} for i in range(5000)]
    headers = {"Idempotency-Key": "order-2026-0001"}
    first = api.post(f"{API}/meetings/{MEETING_ID}/registrants/bulk",
                     json={"registrants": people}, headers=headers)
    assert first.status_code == 200
    answer = first.get_json()
    assert answer["created"] == 5000 and len(answer["registrants"]) == 5000
    assert len({row["link"] for row in answer["registrants"]}) == 5000
    events_before = service.store.redis.xlen(service.store.keys.events(MEETING_ID))
    replay = api.post(f"{API}/meetings/{MEETING_ID}/registrants/bulk",
                      json={"registrants": people}, headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == answer
    assert service.store.registrant_count(MEETING_ID) == 5000
    assert service.store.redis.xlen(service.store.keys.events(MEETING_ID)) == events_before
    other = api.post(f"{API}/meetings/{MEETING_ID}/registrants/bulk",
                     json={"registrants": people[:1]}, headers=headers)
    assert other.status_code == 409 and other.get_json()["error"] == "idempotency_key_reused"


def test_bulk_names_the_row_and_field_and_writes_nothing(api, service):
    api.post(f"{API}/meetings", json=MEETING)
    rows = [{"email": "ok@example.org", "name": "Ok"},
            {"email": "not-an-email", "name": "Bad"},
            {"email": "x@example.org", "name": "X", "join_url": "https://evil.example.com/w/1"}]
    response = api.post(f"{API}/meetings/{MEETING_ID}/registrants/bulk",
                        json={"registrants": rows})
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert {(d["index"], d["field"]) for d in details} == {
        (1, "registrants/1/email"), (2, "registrants/2/join_url")}
    assert service.store.registrant_count(MEETING_ID) == 0


def test_bulk_over_5000_is_refused(api):
    api.post(f"{API}/meetings", json=MEETING)
    people = [{"email": f"p{i}@example.org", "name": "P"} for i in range(5001)]
    assert api.post(f"{API}/meetings/{MEETING_ID}/registrants/bulk",
                    json={"registrants": people}).status_code == 422


def test_link_actions_status_list_report_export_and_feed(api_app, api):
    api.post(f"{API}/meetings", json=MEETING)
    issued = api.post(f"{API}/meetings/{MEETING_ID}/registrants/bulk", json={"registrants": [
        {"email": "ana@example.org", "name": "Ana"}, {"email": "ben@example.org", "name": "Ben"},
        {"email": "cy@example.org", "name": "Cy"}]}).get_json()["registrants"]
    gate = api_app.test_client()
    gate.post(issued[0]["link"].removeprefix("https://gate.example.org"))
    api_app.test_client().post(issued[0]["link"].removeprefix("https://gate.example.org"))

    status = api.get(f"{API}/meetings/{MEETING_ID}/registrants/ana@example.org").get_json()
    assert status["status"] == "claimed" and status["refused"] == 1
    reissued = api.post(f"{API}/meetings/{MEETING_ID}/registrants/ben@example.org/reissue")
    assert reissued.get_json()["link"] != issued[1]["link"]
    assert api.post(f"{API}/meetings/{MEETING_ID}/registrants/cy@example.org/revoke"
                    ).status_code == 200
    assert api.post(f"{API}/meetings/{MEETING_ID}/registrants/nobody@example.org/revoke"
                    ).status_code == 404

    page = api.get(f"{API}/meetings/{MEETING_ID}/registrants?limit=2").get_json()
    assert [r["email"] for r in page["registrants"]] == ["ana@example.org", "ben@example.org"]
    rest = api.get(f"{API}/meetings/{MEETING_ID}/registrants?cursor={page['next_cursor']}"
                   ).get_json()
    assert [r["status"] for r in rest["registrants"]] == ["revoked"]
    assert rest["next_cursor"] is None

    report = api.get(f"{API}/meetings/{MEETING_ID}/report").get_json()
    assert report["registrants"][0]["flags"] == ["second_device"]
    rows = list(csv.DictReader(io.StringIO(
        api.get(f"{API}/meetings/{MEETING_ID}/report.csv").get_data(as_text=True))))
    assert rows[2]["status"] == "revoked"
    export = api.get(f"{API}/meetings/{MEETING_ID}/links.csv")
    assert export.mimetype == "text/csv"
    assert reissued.get_json()["link"] in export.get_data(as_text=True)

    feed = api.get(f"{API}/meetings/{MEETING_ID}/events?limit=2").get_json()
    assert [e["kind"] for e in feed["events"]] == ["claim", "refused"]
    assert feed["events"][0]["email"] == "ana@example.org"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", feed["events"][0]["at"])
    more = api.get(f"{API}/meetings/{MEETING_ID}/events?cursor={feed['next_cursor']}").get_json()
    assert [e["kind"] for e in more["events"]] == ["reissue", "revoke"]
    idle = api.get(f"{API}/meetings/{MEETING_ID}/events?cursor={more['next_cursor']}").get_json()
    assert idle == {"events": [], "next_cursor": more["next_cursor"]}


def test_auth_scopes_and_tokens_never_in_clear(api_app, api, runner, service):
    anonymous = api_app.test_client()
    assert anonymous.get(f"{API}/meetings").status_code == 401
    assert anonymous.get(f"{API}/meetings", headers={"Authorization": "Bearer nope"}
                         ).status_code == 401
    assert anonymous.get(f"{API}/openapi.json").status_code == 200
    read_token, record = service.tokens.create("dashboard", "read")
    reader = api_app.test_client()
    reader.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {read_token}"
    assert reader.get(f"{API}/meetings").status_code == 200
    refused = reader.post(f"{API}/meetings", json=MEETING)
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    assert service.store.redis.keys("*") and not any(
        read_token in str(value) or ADMIN in str(value)
        for key in service.store.redis.keys("*") if service.store.redis.type(key) == "hash"
        for value in service.store.redis.hgetall(key).items())
    listed = runner(["tokens", "list"]).output
    assert record["id"] in listed and read_token not in listed
    assert runner(["tokens", "revoke", record["id"]]).exit_code == 0
    assert reader.get(f"{API}/meetings").status_code == 401


def test_repeated_bad_tokens_are_slowed_down(api_app, store_url, clock):
    client = make_app(store_url, clock, like=api_app, ADMIN_TOKEN=ADMIN,
                      API_BAD_TOKEN_LIMIT=3).test_client()
    statuses = [client.get(f"{API}/meetings", headers={"Authorization": f"Bearer guess{n}"}
                           ).status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert client.get(f"{API}/meetings", headers={"Authorization": "Bearer x"}
                      ).headers["Retry-After"] == "60"


def test_without_admin_token_cli_tokens_work_and_the_document_is_public(client, service):
    """Finding 18: the API answers tokens made by `joingate tokens create` on their own; with
    neither such a token nor JOINGATE_ADMIN_TOKEN there is no API (the contract)."""
    assert client.get(f"{API}/meetings").status_code == 404
    assert client.get(f"{API}/openapi.json").status_code == 404
    token, _ = service.tokens.create("shop", "manage")
    assert client.get(f"{API}/openapi.json").status_code == 200
    assert client.get(f"{API}/meetings").status_code == 401
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert client.post(f"{API}/meetings", json=MEETING).status_code == 201
    assert client.get(f"{API}/meetings").get_json()["meetings"][0]["id"] == MEETING["id"]


def test_a_read_token_never_sees_a_link(api, api_app, service):
    """Finding 13: a link takes a seat; read tokens see registrants and status, no link."""
    api.post(f"{API}/meetings", json=MEETING)
    issued = api.post(f"{API}/meetings/{MEETING['id']}/registrants",
                      json={"email": "ana@example.org", "name": "Ana"}).get_json()
    token, _ = service.tokens.create("dashboard", "read")
    reader = api_app.test_client()
    reader.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for path in (f"/meetings/{MEETING['id']}/registrants",
                 f"/meetings/{MEETING['id']}/registrants/ana@example.org"):
        answer = reader.get(API + path)
        assert answer.status_code == 200 and issued["link"] not in answer.get_data(as_text=True)
        assert "link" not in answer.get_data(as_text=True).replace("link_id", "")
    refused = reader.get(f"{API}/meetings/{MEETING['id']}/links.csv")
    assert refused.status_code == 403 and issued["link"] not in refused.get_data(as_text=True)
    assert issued["link"] in api.get(f"{API}/meetings/{MEETING['id']}/links.csv").get_data(
        as_text=True)


def test_patching_an_ended_meeting_open_again_needs_a_decision(api, clock, service):
    """Finding 10: a reused meeting number never revives old links silently."""
    from datetime import timedelta

    from helpers import START

    api.post(f"{API}/meetings", json=MEETING)
    old = api.post(f"{API}/meetings/{MEETING['id']}/registrants",
                   json={"email": "ana@example.org", "name": "Ana"}).get_json()["link"]
    clock.set(START + timedelta(days=2))                       # January's class is over
    later = {"start": (START + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    refused = api.patch(f"{API}/meetings/{MEETING['id']}", json=later)
    assert refused.status_code == 409 and refused.get_json()["error"] == "meeting_reused"
    assert api.patch(f"{API}/meetings/{MEETING['id']}",
                     json={**later, "keep_registrants": False}).status_code == 200
    clock.set(START + timedelta(days=30))
    assert api_app_client_post(api, old) == 404


def test_unsupported_method_is_405_with_allow(api):
    response = api.delete(f"{API}/meetings")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


@pytest.mark.slow
def test_schemathesis_finds_nothing(redis_server, tmp_path):
    """schemathesis, every check, against gunicorn on a real Redis. Examples per operation:
    JOINGATE_FUZZ_EXAMPLES (default 25); seed: JOINGATE_FUZZ_SEED (default fixed)."""
    from stack import gunicorn_env, start_gunicorn, stop

    command = [sys.executable, "-m", "schemathesis.cli"]     # the test extra installs it
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    env = gunicorn_env(redis_server.url, JOINGATE_ADMIN_TOKEN=ADMIN,
                       JOINGATE_API_BAD_TOKEN_LIMIT="1000000", JOINGATE_LOG_LEVEL="warning")
    process, port = start_gunicorn(env, workers=2)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        result = subprocess.run(
            [*command, "run", f"{base}/openapi.json", "--url", base, "--checks", "all",
             "-H", f"Authorization: Bearer {ADMIN}",
             "-n", os.environ.get("JOINGATE_FUZZ_EXAMPLES", "25"),
             "--seed", os.environ.get("JOINGATE_FUZZ_SEED", "20261127"), "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        stop(process)
    assert result.returncode == 0, result.stdout[-6000:]
    # Every generated case passed (a warning such as "missing test data" after DELETE is fine).
    assert "Failures:" not in result.stdout, result.stdout[-3000:]
    assert re.search(r"(\d+) generated, \1 passed", result.stdout), result.stdout[-3000:]


def api_app_client_post(api, link: str) -> int:
    return api.post(link.replace("https://gate.example.org", "")).status_code


def test_delete_a_meeting(api):
    api.post(f"{API}/meetings", json=MEETING)
    assert api.delete(f"{API}/meetings/{MEETING['id']}").status_code == 204
    assert api.get(f"{API}/meetings/{MEETING['id']}").status_code == 404
    assert api.delete(f"{API}/meetings/{MEETING['id']}").status_code == 404


def test_a_bare_list_is_refused_with_the_expected_shape_in_words(api):
    """Issue 17, item 5: the answer says what the body must look like, without regexes or an
    echo of the data."""
    api.post(f"{API}/meetings", json=MEETING)
    answer = api.post(f"{API}/meetings/{MEETING['id']}/registrants/bulk",
                      json=[{"email": "ana@example.org", "name": "Ana"}])
    problem = answer.get_json()
    assert answer.status_code == 422
    assert problem["details"][0]["message"].startswith(
        'must be a JSON object, like {"registrants": [')
    bad = api.post(f"{API}/meetings/{MEETING['id']}/registrants/bulk", json={"registrants": [
        {"email": "not an email", "name": "Ana"}]}).get_json()
    assert bad["details"][0] == {"field": "registrants/0/email", "index": 0,
                                 "message": "is not an email address (one @, printable ASCII, "
                                            "no spaces)"}
    assert "^" not in json.dumps(bad) and "not an email'" not in json.dumps(bad)


def test_5000_registrants_with_zoom_ids_and_join_urls_fit_in_one_bulk(api, service):
    """The promise "up to 5,000" holds with every optional field filled (~1.3 MiB)."""
    api.post(f"{API}/meetings", json=MEETING)
    rows = [{"email": f"person{n}@example.org", "first_name": "Person", "last_name": f"{n}",
             "registrant_id": f"Zr{n:020d}",
             "join_url": f"https://us06web.zoom.us/w/{MEETING_ID}?tk=Token.{n:040d}&pwd=Q0x3"}
            for n in range(5000)]
    body = json.dumps({"registrants": rows})
    assert len(body) > 1_048_576
    answer = api.post(f"{API}/meetings/{MEETING['id']}/registrants/bulk", data=body,
                      content_type="application/json")
    assert answer.status_code == 200 and answer.get_json()["created"] == 5000
    assert service.meetings.registrant_count(MEETING_ID) == 5000
