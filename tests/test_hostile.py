"""Hostile input: property-based tests on tokens, CSV, webhook bodies and names, timestamps,
nesting depth, lone surrogates and event times. Never a 500, never a redirect to any host but
Zoom's, names escaped in pages and clean in headers and URLs.
Examples per property: JOINGATE_HYPOTHESIS_EXAMPLES (default 60)."""

from __future__ import annotations

import base64
import itertools
import json
import os
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from helpers import make_app, path_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_events import participant, signed

from joingate.errors import InvalidInput
from joingate.roster import RegistrantInput, read_csv

EXAMPLES = int(os.environ.get("JOINGATE_HYPOTHESIS_EXAMPLES", "60"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
GATE_STATUSES = {200, 303, 404, 409, 410, 429}
ZOOM_HOSTS = {"app.zoom.us"}
UNIQUE = itertools.count()

nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["<script>alert(1)</script>", "Ana\r\nSet-Cookie: x=1", "\u202eamiL anA",
                     "A" * 2048, "\x00\x01\x7f", "../../etc/passwd", "%0d%0aLocation: evil",
                     "😀" * 40, "O'Brien \"Quoted\" & <b>", "\ud7ff\ue000\uffff"]))


@PROPERTY
@given(token=st.one_of(st.text(max_size=600), st.binary(max_size=200).map(
    lambda raw: base64.urlsafe_b64encode(raw).decode())), method=st.sampled_from(
    ["GET", "POST", "HEAD"]))
def test_any_token_gets_a_page_never_a_500(client, link, token, method):
    path = "/j/" + token.replace("\x00", "")
    response = client.open(path, method=method)
    assert response.status_code in GATE_STATUSES | {405}
    if response.status_code == 303:
        assert urlsplit(response.headers["Location"]).hostname in ZOOM_HOSTS


@PROPERTY
@given(mutation=st.integers(min_value=0, max_value=200),
       char=st.characters(codec="utf-8"))   # a lone surrogate cannot be sent in a URL at all
def test_a_mutated_real_token_is_refused(client, link, mutation, char):
    token = link.url.rsplit("/j/", 1)[1]
    position = mutation % len(token)
    mangled = token[:position] + char + token[position + 1:]
    if mangled == token:
        return
    response = client.post("/j/" + mangled.replace("\x00", ""))
    assert response.status_code in {404, 429}
    assert "Location" not in response.headers


@PROPERTY
@given(name=nasty_text.filter(lambda text: any(not ch.isspace() and ch.isprintable()
                                               for ch in text)))
def test_names_are_escaped_in_pages_and_clean_in_the_redirect(app, service, meeting, name):
    email = f"n{next(UNIQUE)}@example.org"        # a fresh registrant for every example
    issued = service.meetings.issue_links(meeting, [RegistrantInput(email, name.replace("\x00", ""))])[0]
    client = app.test_client()
    page = client.get(path_of(issued)).get_data(as_text=True)
    assert "<script>alert" not in page and "<b>" not in page
    response = client.post(path_of(issued))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert urlsplit(location).hostname in ZOOM_HOSTS
    assert not any(ch in location for ch in "\r\n\x00 ")
    display = base64.b64decode(parse_qs(urlsplit(location).query)["un"][0]).decode()
    assert display == issued.display_name and len(display) <= 64 + len(" (99)")
    assert "\r" not in display and "\n" not in display


@PROPERTY
@given(text=st.one_of(st.text(max_size=2000), st.lists(st.lists(nasty_text, max_size=6),
                                                       max_size=8).map(
    lambda rows: "email,name,join_url\n" + "\n".join(",".join(row) for row in rows))))
def test_any_csv_is_read_or_refused_with_line_numbers(text):
    try:
        roster = read_csv(text, "zoom.us")
    except InvalidInput as exc:
        assert exc.message
        assert all("line" in detail for detail in exc.details) or not exc.details
        return
    assert len(roster.rows) == len(roster.inputs) == len(roster.lines)
    for item in roster.inputs:
        assert "@" in item.email and item.name and len(item.name) <= 64
        assert not item.join_url or urlsplit(item.join_url).hostname.endswith("zoom.us")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children,
                                                                      max_size=4),
    max_leaves=12)


@PROPERTY
@given(body=json_values)
def test_any_signed_json_gets_200_or_400(client, clock, meeting, body):
    raw, headers = signed(body, int(clock()))
    response = client.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code in {200, 400}


@PROPERTY
@given(field=st.sampled_from(["user_id", "user_name", "id", "participant_uuid", "email",
                              "registrant_id", "customer_key", "join_time"]),
       value=json_values, kind=st.sampled_from(["joined", "left"]))
def test_participant_events_with_any_field_value(client, clock, meeting, field, value, kind):
    body = participant(kind, user_id="1", name="Ana", at="2026-12-01T18:01:00Z")
    body["payload"]["object"]["participant"][field] = value
    raw, headers = signed(body, int(clock()))
    assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code in {200, 400}


@PROPERTY
@given(raw=st.binary(max_size=500))
def test_any_signed_bytes_get_200_or_400(client, clock, meeting, raw):
    body, headers = signed(raw, int(clock()))
    assert client.post("/webhooks/zoom", data=body, headers=headers).status_code in {200, 400}


@PROPERTY
@given(timestamp=st.one_of(
    st.text(alphabet="0123456789\u00b2\u00b3\u00b9\u00bc\u00bd\u00be", min_size=1,
            max_size=14),
    st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"),
            max_size=14)))
def test_any_timestamp_header_gets_401_or_200(client, clock, meeting, timestamp):
    body = participant("joined", user_id="1", name="Ana", at="2026-12-01T18:01:00Z")
    raw, headers = signed(body, int(clock()))
    headers["x-zm-request-timestamp"] = timestamp
    answer = client.post("/webhooks/zoom", data=raw, headers=headers)
    assert answer.status_code in {200, 401}


def _nest(depth: int, kind: str, leaf: str) -> str:
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    return opening * depth + leaf + closing * depth


ADMIN_HEADERS = {"Authorization": "Bearer hostile-admin-token"}


@PROPERTY
@given(depth=st.integers(min_value=1, max_value=3000), kind=st.sampled_from(["list", "dict"]),
       where=st.sampled_from(["webhook", "meetings", "patch", "registrant", "bulk"]))
def test_any_nesting_depth_gets_a_4xx_or_200_never_500(app, store_url, clock, meeting, depth,
                                                       kind, where):
    client = make_app(store_url, clock, like=app,
                      ADMIN_TOKEN="hostile-admin-token").test_client()
    deep = _nest(depth, kind, "1")
    if where == "webhook":
        raw, headers = signed(('{"event": "meeting.participant_joined", "payload": {"object": '
                               + deep + "}}").encode(), int(clock()))
        assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code in {200, 400}
        return
    path, method, body = {
        "meetings": ("/api/v1/meetings", "POST", '{"id": "123456789", "topic": ' + deep + "}"),
        "patch": (f"/api/v1/meetings/{meeting}", "PATCH", '{"support": ' + deep + "}"),
        "registrant": (f"/api/v1/meetings/{meeting}/registrants", "POST",
                       '{"email": "a@example.org", "name": ' + deep + "}"),
        "bulk": (f"/api/v1/meetings/{meeting}/registrants/bulk", "POST",
                 '{"registrants": [' + deep + "]}")}[where]
    answer = client.open(path, method=method, data=body, headers=ADMIN_HEADERS,
                         content_type="application/json")
    assert 400 <= answer.status_code < 500 and answer.is_json


with_surrogates = st.text(alphabet=st.one_of(st.characters(codec="utf-8"),
                                             st.characters(categories=["Cs"])),
                          min_size=1, max_size=40)


@PROPERTY
@given(name=with_surrogates, where=st.sampled_from(["registrant", "patch", "webhook"]))
def test_any_unicode_even_lone_surrogates_gets_a_4xx_or_is_recorded(app, store_url, clock,
                                                                    meeting, name, where):
    client = make_app(store_url, clock, like=app,
                      ADMIN_TOKEN="hostile-admin-token").test_client()
    text = json.dumps(name)                       # ASCII JSON: surrogates as \udXXX escapes
    if where == "webhook":
        body = participant("joined", user_id="1", name="placeholder", at="2026-12-01T18:01:00Z")
        raw = json.dumps(body).replace('"placeholder"', text).encode()
        raw, headers = signed(raw, int(clock()))
        assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code in {200, 400}
        return
    path, method, body = {
        "registrant": (f"/api/v1/meetings/{meeting}/registrants", "POST",
                       '{"email": "u@example.org", "name": ' + text + "}"),
        "patch": (f"/api/v1/meetings/{meeting}", "PATCH", '{"topic": ' + text + "}")}[where]
    answer = client.open(path, method=method, data=body, headers=ADMIN_HEADERS,
                         content_type="application/json")
    assert answer.status_code in {200, 201, 400, 422}


# Any wall-clock time of years 1 to 9999 with any offset: the instant may fall outside them.
zoom_times = st.builds(lambda moment, offset: moment.isoformat() + offset,
                       st.one_of(st.datetimes(), st.sampled_from([datetime.min, datetime.max])),
                       st.sampled_from(["Z", "+00:00", "+01:00", "+14:00", "-12:00", "-00:30"]))


@PROPERTY
@given(moment=zoom_times,
       kind=st.sampled_from(["joined", "left"]))
def test_any_event_time_is_recorded_and_every_report_answers(app, store_url, clock, meeting,
                                                             moment, kind):
    client = make_app(store_url, clock, like=app,
                      ADMIN_TOKEN="hostile-admin-token").test_client()
    body = participant(kind, user_id=f"t{next(UNIQUE)}", name="Anyone", at=moment)
    raw, headers = signed(body, int(clock()))
    assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 200
    for path in ("report", "report.csv", "links.csv", "registrants", "events"):
        answer = client.get(f"/api/v1/meetings/{meeting}/{path}", headers=ADMIN_HEADERS)
        assert answer.status_code == 200, path


def test_oversized_bodies_get_413(app, store_url, clock, link):
    small = make_app(store_url, clock, like=app, MAX_BODY_BYTES=10_000,
                     ADMIN_TOKEN="t").test_client()
    big = b"x" * 20_000
    assert small.post(path_of(link), data=big).status_code == 413
    hook = small.post("/webhooks/zoom", data=big, content_type="application/json")
    assert hook.status_code == 413 and hook.is_json
    api = small.post("/api/v1/meetings", data=big, content_type="application/json",
                     headers={"Authorization": "Bearer t"})
    assert api.status_code == 413 and api.get_json()["error"] == "request_entity_too_large"


def test_organizer_templates_cannot_reach_outside_their_folder(app, store_url, clock, link,
                                                                tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "confirm.html").symlink_to(secret)
    (folder / "invalid.html").write_text('{% include "../outside.txt" %}')
    organizer = make_app(store_url, clock, like=app, TEMPLATE_DIR=str(folder)).test_client()
    page = organizer.get(path_of(link))
    assert page.status_code == 200 and b"TOP-SECRET" not in page.data
    assert b'<form method="post"' in page.data              # the built-in page instead
    refused = organizer.get("/j/nope")
    assert refused.status_code == 404 and b"TOP-SECRET" not in refused.data
    assert b"not recognised" in refused.data        # a broken organizer page falls back
