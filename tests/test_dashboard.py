"""The organizer's dashboard (/organizer/) through Flask's test client, on both stores: sign-in
with a CLI-made token, the session cookie, expiry, sign-out and revocation; CSRF on every form;
wrong tokens limited like the API's; the roster's counts, filters, search and pages; the live
update; actions recorded with who did them; adding registrants by CSV; downloads; the timeline
SVG of a known event sequence; template overrides; the Content-Security-Policy; and that a
``read`` session sees everything but never a link or a token and cannot act."""

from __future__ import annotations

import csv
import io
import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from dashboard_events import (
    EXPECTED_BARS,
    EXPECTED_REFUSED,
    EXPECTED_ROWS,
    EXPECTED_SHARED_OVERLAPS,
    REFUSED_EMAIL,
    REGISTRANTS,
    deliveries,
)
from helpers import MEETING_ID, PUBLIC_URL, make_app, path_of
from webhook_events import participant, signed

from joingate.exports import write_report_csv
from joingate.roster import RegistrantInput

ORG = "/organizer"
MEETING = f"{ORG}/meetings/{MEETING_ID}"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SVG = "{http://www.w3.org/2000/svg}"


def csrf_of(response) -> str:
    found = CSRF.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1)


def sign_in(app, token: str):
    """A test client signed in with ``token``, and its session's CSRF token."""
    client = app.test_client()
    form = client.get(f"{ORG}/sign-in")
    answer = client.post(f"{ORG}/sign-in", data={"csrf": csrf_of(form), "token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == f"{ORG}/"
    return client, csrf_of(client.get(f"{ORG}/"))


@pytest.fixture
def manager(app, service):
    token, record = service.tokens.create("organizer", "manage")
    client, csrf = sign_in(app, token)
    return client, csrf, record


@pytest.fixture
def reader(app, service):
    token, _record = service.tokens.create("assistant", "read")
    client, csrf = sign_in(app, token)
    return client, csrf, token


@pytest.fixture
def roster(service, meeting):
    return service.meetings.issue_links(meeting, [
        RegistrantInput("ana.lima@example.org", "Ana Lima"),
        RegistrantInput("ben@example.org", "Ben Okafor")])


def device(app):
    """A browser of its own: a test client with its own cookie jar (its own device)."""
    return app.test_client()


def set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


# Sign-in, the session, sign-out

def test_a_cli_token_signs_in_without_admin_token_and_the_cookie_is_strict(app, runner,
                                                                           service, meeting):
    made = runner(["tokens", "create", "--name", "organizer", "--scope", "manage"])
    token = made.stdout.split()[0]
    assert not service.config["ADMIN_TOKEN"]
    assert app.test_client().get("/api/v1/meetings").status_code == 401     # a token exists
    client = app.test_client()
    form = client.get(f"{ORG}/sign-in")
    answer = client.post(f"{ORG}/sign-in", data={"csrf": csrf_of(form), "token": token})
    assert answer.status_code == 303
    cookie = set_cookies(answer)["jg_organizer"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/organizer/", "Secure"):
        assert attribute in cookie, cookie
    page = client.get(f"{ORG}/")
    assert page.status_code == 200 and "Evening ceramics, week 3" in page.get_data(as_text=True)
    assert token not in page.get_data(as_text=True)
    assert "jg_device" not in set_cookies(answer) and "__Host-jg_device" not in set_cookies(answer)


def test_the_cookie_is_not_secure_on_plain_http(store_url, clock, app):
    plain = make_app(store_url, clock, like=app, PUBLIC_URL="http://127.0.0.1:8000")
    token, _ = plain.extensions["joingate"].tokens.create("o", "read")
    client = plain.test_client()
    answer = client.post(f"{ORG}/sign-in", data={"csrf": csrf_of(client.get(f"{ORG}/sign-in")),
                                                 "token": token})
    cookie = set_cookies(answer)["jg_organizer"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


def test_the_admin_token_signs_in_too(store_url, clock, app):
    admin = make_app(store_url, clock, like=app, ADMIN_TOKEN="admin-token-for-tests")
    client, _csrf = sign_in(admin, "admin-token-for-tests")
    assert client.get(f"{ORG}/").status_code == 200


def test_pages_need_a_session(client, meeting):
    for path in (f"{ORG}/", MEETING, f"{MEETING}/timeline", f"{MEETING}/report.csv"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["Location"] == f"{ORG}/sign-in"
    live = client.get(f"{MEETING}/live")
    assert live.status_code == 401 and live.get_json()["error"] == "signed_out"


def test_wrong_tokens_are_refused_then_limited_like_the_api(store_url, clock, app):
    limited = make_app(store_url, clock, like=app, API_BAD_TOKEN_LIMIT=3)
    client = limited.test_client()
    statuses = []
    for n in range(5):
        form = client.get(f"{ORG}/sign-in")
        answer = client.post(f"{ORG}/sign-in", data={"csrf": csrf_of(form), "token": f"guess{n}"})
        statuses.append(answer.status_code)
        assert "jg_organizer" not in set_cookies(answer)
        assert f"guess{n}" not in answer.get_data(as_text=True)
    assert statuses == [401, 401, 401, 429, 429]
    assert answer.headers["Retry-After"] == "60"


def test_sign_out_ends_the_session_for_good(app, manager):
    client, csrf, _ = manager
    stolen = client.get_cookie("jg_organizer", path="/organizer/").value
    answer = client.post(f"{ORG}/sign-out", data={"csrf": csrf})
    assert answer.status_code == 303
    assert "Max-Age=0" in set_cookies(answer)["jg_organizer"]
    replay = app.test_client()
    replay.set_cookie("jg_organizer", stolen, path="/organizer/")
    assert replay.get(f"{ORG}/").headers["Location"] == f"{ORG}/sign-in?expired=1"


def test_sign_out_needs_the_csrf_token(manager):
    client, _csrf, _ = manager
    assert client.post(f"{ORG}/sign-out").status_code == 403
    assert client.get(f"{ORG}/").status_code == 200


@pytest.mark.parametrize("idle,steps,alive", [
    (59 * 60, 1, True),           # an hour's idle limit not reached
    (61 * 60, 1, False),          # an hour without a request
    (50 * 60, 14, True),          # busy for 11 h 40
    (50 * 60, 15, False),         # busy, but more than 12 hours after sign-in
], ids=["idle-59min", "idle-61min", "busy-11h40", "busy-12h30"])
def test_sessions_expire(manager, clock, idle, steps, alive):
    client, _csrf, _ = manager
    for step in range(steps):
        clock.advance(idle)
        answer = client.get(f"{ORG}/")
        if step < steps - 1:
            assert answer.status_code == 200
    assert (answer.status_code == 200) is alive
    if not alive:
        assert answer.headers["Location"] == f"{ORG}/sign-in?expired=1"


def test_revoking_the_token_ends_its_sessions(manager, runner):
    client, _csrf, record = manager
    assert runner(["tokens", "revoke", record["id"]]).exit_code == 0
    assert client.get(f"{ORG}/").status_code == 303


# CSRF

@pytest.mark.parametrize("form", [{}, {"csrf": ""}, {"csrf": "forged"}],
                         ids=["missing", "empty", "wrong"])
def test_csrf_missing_or_wrong_is_refused_and_nothing_changes(app, service, manager, roster,
                                                              form):
    client, _csrf, _ = manager
    ana = device(app)
    assert ana.post(path_of(roster[0])).status_code == 303
    for action in ("reset", "revoke", "reissue"):
        answer = client.post(f"{MEETING}/registrants/{roster[0].registrant_id}/{action}",
                             data={**form, "confirm": "yes"})
        assert answer.status_code == 403 and "CSRF" in answer.get_data(as_text=True)
    answer = client.post(f"{MEETING}/add", data={**form, "csv_text": "email,name\nx@y.org,X"})
    assert answer.status_code == 403
    registrant = service.meetings.registrant(MEETING_ID, "ana.lima@example.org")
    assert registrant.devices and not registrant.revoked and registrant.version == 1
    assert service.meetings.registrant_count(MEETING_ID) == 2


def test_sign_in_without_its_form_value_is_refused(app, service):
    token, _ = service.tokens.create("o", "manage")
    client = app.test_client()
    client.get(f"{ORG}/sign-in")                       # the cookie, but no value sent
    answer = client.post(f"{ORG}/sign-in", data={"token": token})
    assert answer.status_code == 403 and "jg_organizer" not in set_cookies(answer)
    fresh = app.test_client()                          # a value, but no cookie
    answer = fresh.post(f"{ORG}/sign-in", data={"csrf": "x" * 32, "token": token})
    assert answer.status_code == 403 and "jg_organizer" not in set_cookies(answer)


# Actions

def feed(service) -> list:
    return [event for event, _email in service.meetings.events_page(MEETING_ID, "0-0", 1000)]


def test_reset_lets_the_refused_device_in_and_the_feed_names_the_dashboard(app, service,
                                                                          manager, roster):
    client, csrf, record = manager
    ana, other = device(app), device(app)
    assert ana.post(path_of(roster[0])).status_code == 303
    assert other.post(path_of(roster[0])).status_code == 409
    rid = roster[0].registrant_id
    answer = client.post(f"{MEETING}/registrants/{rid}/reset", data={"csrf": csrf})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{MEETING}/registrants/{rid}?done=reset"
    assert other.post(path_of(roster[0])).status_code == 303
    resets = [event for event in feed(service) if event.kind == "reset"]
    assert [(event.registrant, event.user_agent) for event in resets] == [
        (rid, f"dashboard:{record['id']}")]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Device binding freed" in page and f"by dashboard:{record['id']}" in page


@pytest.mark.parametrize("action", ["revoke", "reissue"])
def test_what_cannot_be_undone_asks_first(app, service, manager, roster, action):
    client, csrf, record = manager
    rid = roster[0].registrant_id
    asked = client.post(f"{MEETING}/registrants/{rid}/{action}", data={"csrf": csrf})
    assert asked.status_code == 200 and "cannot be undone" in asked.get_data(as_text=True)
    assert 'name="confirm" value="yes"' in asked.get_data(as_text=True)
    before = service.meetings.registrant(MEETING_ID, "ana.lima@example.org")
    assert not before.revoked and before.version == 1
    done = client.post(f"{MEETING}/registrants/{rid}/{action}",
                       data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 303
    after = service.meetings.registrant(MEETING_ID, "ana.lima@example.org")
    assert after.revoked if action == "revoke" else (after.version == 2 and not after.revoked)
    assert device(app).get(path_of(roster[0])).status_code == 410
    events = [event for event in feed(service) if event.kind == action]
    assert [event.user_agent for event in events] == [f"dashboard:{record['id']}"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    if action == "reissue":                  # a manage session sees the new link to send
        new_link = service.meetings.link_url(MEETING_ID, rid, 2)
        assert new_link in page and roster[0].url not in page
        assert device(app).get(new_link.removeprefix(PUBLIC_URL)).status_code == 200


def test_actions_on_what_does_not_exist_are_404(manager, roster):
    client, csrf, _ = manager
    rid = roster[0].registrant_id
    for path in (f"{MEETING}/registrants/{'0' * 16}/reset", f"{MEETING}/registrants/{rid}/delete",
                 f"{ORG}/meetings/123456789/registrants/{rid}/reset",
                 f"{MEETING}/registrants/..%2f/reset"):
        assert client.post(path, data={"csrf": csrf}).status_code == 404, path
    assert client.get(f"{ORG}/meetings/123456789").status_code == 404
    assert client.get(f"{ORG}/meetings/not-a-meeting").status_code == 404


# The roster

def deliver(app, clock, body) -> None:
    raw, headers = signed(body, int(clock()))
    answer = app.test_client().post("/webhooks/zoom", data=raw, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-rid="([0-9a-f]{16})"', html)


def test_counts_filters_search_and_pages(app, service, clock, manager, meeting):
    client, _csrf, _ = manager
    links = service.meetings.issue_links(meeting, [
        RegistrantInput(f"student{n:03}@example.org", f"Student {n:03}") for n in range(250)])
    for link in links[:7]:
        assert device(app).post(path_of(link)).status_code == 303       # 7 claimed
    assert device(app).post(path_of(links[0])).status_code == 409       # 1 refused: flagged
    assert device(app).get(path_of(links[7])).status_code == 200        # 1 opened
    service.meetings.manage_link("revoke", meeting, "student249@example.org")
    deliver(app, clock, participant("joined", user_id="u1", name="Student 001",
                                    at="2026-12-01T17:45:00Z"))     # in the room now
    deliver(app, clock, participant("joined", user_id="u2", name="Somebody",
                                    at="2026-12-01T17:46:00Z"))     # unmatched

    page = client.get(MEETING).get_data(as_text=True)
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert counts == {"registered": "250", "claimed": "7", "present": "1", "flagged": "1",
                      "unmatched": "1"}
    assert len(rows_of(page)) == 100 and "Showing 1–100 of 250" in page
    unmatched = re.search(r'<ul id="unmatched">(.*?)</ul>', page, re.S).group(1)
    assert "“Somebody” joined" in unmatched and "Student" not in unmatched
    second = client.get(f"{MEETING}?page=2").get_data(as_text=True)
    assert rows_of(second) == [link.registrant_id for link in links[100:200]]
    third = client.get(f"{MEETING}?page=3").get_data(as_text=True)
    assert len(rows_of(third)) == 50 and 'rel="next"' not in third

    def found(query: str) -> list[str]:
        answer = client.get(f"{MEETING}?{query}")
        assert answer.status_code == 200
        return rows_of(answer.get_data(as_text=True))

    ids = {n: link.registrant_id for n, link in enumerate(links)}
    assert found("q=student042") == [ids[42]]
    assert found("q=STUDENT%20042") == [ids[42]]                       # the name, any case
    assert found("status=claimed") == [ids[n] for n in (0, 2, 3, 4, 5, 6)]
    assert found("status=joined") == [ids[1]]
    assert found("status=opened") == [ids[7]]
    assert found("status=revoked") == [ids[249]]
    assert found("flag=any") == found("flag=second_device") == [ids[0]]
    assert found("flag=shared") == []
    assert found("present=1") == [ids[1]]
    assert found("status=claimed&q=student00") == [ids[n] for n in (0, 2, 3, 4, 5, 6)]
    assert found("q=nobody") == []
    for bad in ("page=0", "page=x", "status=bogus", "flag=bogus"):
        answer = client.get(f"{MEETING}?{bad}")
        assert answer.status_code == 400, bad
        assert client.get(f"{MEETING}/live?{bad}").status_code == 400, bad


def test_each_flag_shows_its_evidence(app, service, clock, manager, meeting):
    client, _csrf, _ = manager
    service.meetings.issue_links(meeting, [RegistrantInput("dan@example.org", "Dan Reyes",
                                                           "ZR-DAN-0000000004")])
    for user_id, minute in (("d1", 1), ("d2", 2)):
        deliver(app, clock, participant("joined", user_id=user_id, name=f"Dan {user_id}",
                                        at=f"2026-12-01T18:0{minute}:00Z",
                                        registrant_id="ZR-DAN-0000000004"))
    clock.advance(30 * 60)
    page = client.get(f"{MEETING}?flag=shared").get_data(as_text=True)
    assert len(rows_of(page)) == 1 and 'class="flag flag-shared"' in page
    assert "strong evidence (registrant id)" in page and "“Dan d2” joined" in page


def test_the_live_update_answers_unchanged_until_something_happens(app, manager, roster):
    client, _csrf, _ = manager
    first = client.get(f"{MEETING}/live")
    assert first.status_code == 200 and first.get_json()["changed"] is True
    stamp = first.get_json()["stamp"]
    same = client.get(f"{MEETING}/live?since={stamp}").get_json()
    assert same == {"changed": False, "stamp": stamp}
    assert device(app).post(path_of(roster[1])).status_code == 303
    moved = client.get(f"{MEETING}/live?since={stamp}").get_json()
    assert moved["changed"] is True and moved["stamp"] != stamp
    assert 'data-count="claimed">1<' in moved["counts"]
    row = re.search(rf'<tr data-rid="{roster[1].registrant_id}".*?</tr>', moved["rows"], re.S)
    assert 'data-field="status">claimed<' in row.group(0)
    assert "claimed the link" in moved["activity"] and "ben@example.org" in moved["activity"]
    assert client.get(f"{ORG}/meetings/123456789/live?since={stamp}").status_code == 404


def test_the_kept_roster_follows_the_feed_and_rereads_everyone_in_time(
        app, service, manager, roster, runner, monkeypatch):
    """The process keeps each meeting's roster: what the feed records (a CLI revoke) shows on
    the next view; a registrant the feed does not name (added by the API or the CLI) once the
    registrants are read again (ROSTER_REREAD, here 0 s instead of 30)."""
    from joingate import dashboard

    client, _csrf, _ = manager
    assert len(rows_of(client.get(MEETING).get_data(as_text=True))) == 2
    assert runner(["links", "revoke", MEETING_ID, "ben@example.org"]).exit_code == 0
    page = client.get(MEETING).get_data(as_text=True)
    row = re.search(rf'<tr data-rid="{roster[1].registrant_id}".*?</tr>', page, re.S).group(0)
    assert 'data-field="status">revoked<' in row
    service.meetings.issue_links(MEETING_ID, [RegistrantInput("cy@example.org", "Cy")])
    assert device(app).get(path_of(roster[0])).status_code == 200       # the feed moves
    assert len(rows_of(client.get(MEETING).get_data(as_text=True))) == 2
    monkeypatch.setattr(dashboard, "ROSTER_REREAD", 0.0)
    assert device(app).get(path_of(roster[0])).status_code == 200
    assert len(rows_of(client.get(MEETING).get_data(as_text=True))) == 3


# Adding registrants

def test_add_registrants_by_paste_and_upload_with_the_cli_rules(app, service, manager,
                                                                 meeting, runner):
    client, csrf, record = manager
    pasted = client.post(f"{MEETING}/add", data={
        "csrf": csrf, "csv_text": "email,first_name,last_name\nana@example.org,Ana,Lima\n"
                                  "ben@example.org,Ben,Okafor\n"})
    assert pasted.status_code == 200 and "Added 2 new registrants" in pasted.get_data(as_text=True)
    assert service.meetings.registrant(MEETING_ID, "ana@example.org").name == "Ana Lima"
    export = runner(["links", "export", MEETING_ID]).stdout
    uploaded = client.post(f"{MEETING}/add", data={
        "csrf": csrf, "csv_file": (io.BytesIO("\ufeffemail,name\nana@example.org,Ana Lima\n"
                                              "cy@example.org,Cy Twombly\n".encode()), "r.csv")},
        content_type="multipart/form-data")
    assert "Added 1 new registrant;" in uploaded.get_data(as_text=True)
    assert "1 already there" in uploaded.get_data(as_text=True)
    again = runner(["links", "export", MEETING_ID]).stdout
    assert again.startswith(export.strip())                      # the same links as before
    imports = [event for event in feed(service) if event.kind == "import"]
    assert [event.user_agent for event in imports] == [f"dashboard:{record['id']}"] * 2


@pytest.mark.parametrize("data,named", [
    ({"csv_text": "email,name\nok@example.org,Ok\nnot-an-email,X\n,Y\n"},
     ["line 3: email:", "line 4: email: email is empty"]),
    ({"csv_text": "mail,name\nok@example.org,Ok\n"}, ["line 1: the header has no 'email'"]),
    ({"csv_text": "email,name\nok@example.org,Ok,extra\n"},
     ["line 2: 3 fields, but the header has 2 columns"]),
    ({"csv_text": "email,name\nok@example.org,Ok,\nx@example.org,X,https://evil.example/\n"},
     ["line 3: 3 fields, but the header has 2"]),   # a trailing empty field is fine
    ({"csv_text": ""}, ["Paste the CSV or choose a file"]),
    ({"csv_file": b"email,name\nok@example.org,Ok\nx@example.org,Caf\xe9\n"},
     ["not UTF-8 text (line 3)"]),
    ({"csv_text": "email,name\nz@example.org,Z\n", "csv_file": b"email,name\n"},
     ["not both"]),
], ids=["bad-lines", "no-email-column", "extra-field", "each-line", "empty", "not-utf8",
        "both"])
def test_a_bad_csv_is_refused_whole_naming_each_bad_line(service, manager, meeting, data,
                                                         named):
    client, csrf, _ = manager
    if "csv_file" in data:                      # a fresh upload for each run
        data = {**data, "csv_file": (io.BytesIO(data["csv_file"]), "registrants.csv")}
    answer = client.post(f"{MEETING}/add", data={"csrf": csrf, **data},
                         content_type="multipart/form-data")
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    for words in named:
        assert words.replace("'", "&#39;") in text, (words, text[-2000:])
    assert service.meetings.registrant_count(MEETING_ID) == 0


# Downloads

def test_the_report_and_mail_merge_downloads(service, manager, roster, runner):
    client, _csrf, _ = manager
    report = client.get(f"{MEETING}/report.csv")
    expected = io.StringIO()
    write_report_csv(service.presence.report(MEETING_ID), expected)
    assert report.status_code == 200 and report.get_data(as_text=True) == expected.getvalue()
    assert report.headers["Content-Disposition"] == (
        f'attachment; filename="report-{MEETING_ID}.csv"')
    links = client.get(f"{MEETING}/links.csv")
    assert links.get_data(as_text=True) == runner(["links", "export", MEETING_ID]).stdout
    rows = list(csv.DictReader(io.StringIO(links.get_data(as_text=True))))
    assert [row["link"] for row in rows] == [link.url for link in roster]


# The timeline

@pytest.fixture
def known_sequence(app, service, clock, manager):
    """The meeting started 45 minutes ago (real time: the gate's events carry Redis's clock),
    with dashboard_events.SEQUENCE delivered and Carol's link refused on a second device."""
    clock.now = time.time()
    start = clock.now - 45 * 60
    service.meetings.add(MEETING_ID, topic="Ceramics", start=int(start), duration=90)
    links = {link.email: link for link in service.meetings.issue_links(MEETING_ID, REGISTRANTS)}
    for body in deliveries(start):
        deliver(app, clock, body)
    carol = links[REFUSED_EMAIL]
    assert device(app).post(path_of(carol)).status_code == 303
    assert device(app).post(path_of(carol)).status_code == 409
    clock.now = time.time() + 5
    return manager[0]


def classes(element) -> set[str]:
    return set(element.get("class", "").split())


def test_the_timeline_svg_draws_the_known_sequence(known_sequence):
    client = known_sequence
    answer = client.get(f"{MEETING}/timeline/1.svg")
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="timeline-{MEETING_ID}-1.svg"')
    svg = ET.fromstring(answer.get_data())
    rects = list(svg.iter(f"{SVG}rect"))
    stays = [rect for rect in rects if "stay" in classes(rect)]
    overlaps = [rect for rect in rects if "overlap" in classes(rect)]
    refused = [path for path in svg.iter(f"{SVG}path") if "refused" in classes(path)]
    labels = [text.text for text in svg.iter(f"{SVG}text") if "label" in classes(text)]
    assert len(stays) == EXPECTED_BARS
    assert [classes(rect) - {"overlap"} for rect in overlaps] == [{"shared"}] * \
        EXPECTED_SHARED_OVERLAPS
    assert len(refused) == EXPECTED_REFUSED
    assert labels == EXPECTED_ROWS
    assert sum("still-in" in classes(rect) for rect in stays) == 1          # Ana, rejoined
    assert sum("unmatched" in classes(rect) for rect in stays) == 1         # Mallory
    # The overlap spans Ben's two rows from minute 5 to 15: Ben's first stay is minutes 2 to 40.
    overlap, = overlaps
    first = next(rect for rect in stays if "(38.0 min)" in rect.find(f"{SVG}title").text)
    per_minute = float(first.get("width")) / 38
    assert float(overlap.get("x")) == pytest.approx(float(first.get("x")) + 3 * per_minute,
                                                    abs=0.2)
    assert float(overlap.get("width")) == pytest.approx(10 * per_minute, abs=0.2)
    inline = client.get(f"{MEETING}/timeline").get_data(as_text=True)
    assert inline.count('class="stay') == EXPECTED_BARS and "<svg" in inline
    assert 'href="/organizer/meetings/85746065432/timeline/1.svg"' in inline
    assert client.get(f"{MEETING}/timeline/2.svg").status_code == 404


def test_a_meeting_without_instances_says_so(manager, meeting):
    client, _csrf, _ = manager
    page = client.get(f"{MEETING}/timeline").get_data(as_text=True)
    assert "No meeting instance recorded yet" in page
    assert client.get(f"{MEETING}/timeline/1.svg").status_code == 404


# A read session

class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[str] = []
        self.buttons = 0

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self.posts.append(attributes.get("action") or "")
        if tag == "button":
            self.buttons += 1


def test_a_read_session_sees_everything_but_no_link_no_token_no_action(app, service,
                                                                       known_sequence, reader):
    client, csrf, token = reader
    links = service.meetings.registrants(MEETING_ID)
    rid = links[0].id
    pages = [f"{ORG}/", MEETING, f"{MEETING}?page=1&flag=any", f"{MEETING}/live",
             f"{MEETING}/registrants/{rid}", f"{MEETING}/timeline", f"{MEETING}/timeline/1.svg",
             f"{MEETING}/report.csv"]
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, path
        text = answer.get_data(as_text=True)
        assert "/j/" not in text and token not in text and "jg_" not in text, path
        forms = Forms()
        forms.feed(text)
        assert forms.posts in ([], [f"{ORG}/sign-out"]) and forms.buttons <= 1 + text.count(
            'type="submit">Filter'), (path, forms.posts)
    meeting_page = client.get(MEETING).get_data(as_text=True)
    assert 'data-scope="read"' in meeting_page and "Read only" in meeting_page
    assert "Download the mail merge" not in meeting_page and "Add registrants" not in meeting_page
    for path in (f"{MEETING}/links.csv", f"{MEETING}/add"):
        assert client.get(path).status_code == 403, path
    carol = service.meetings.registrant(MEETING_ID, REFUSED_EMAIL)
    for action in ("reset", "revoke", "reissue"):
        answer = client.post(f"{MEETING}/registrants/{carol.id}/{action}",
                             data={"csrf": csrf, "confirm": "yes"})
        assert answer.status_code == 403 and "/j/" not in answer.get_data(as_text=True)
    assert client.post(f"{MEETING}/add", data={"csrf": csrf, "csv_text": "email,name\na@b.co,A"}
                       ).status_code == 403
    after = service.meetings.registrant(MEETING_ID, REFUSED_EMAIL)
    assert after == carol and service.meetings.registrant_count(MEETING_ID) == 3


def test_redis_down_is_503_never_500_and_the_dashboard_resumes(own_redis, clock):
    down = make_app(own_redis.url, clock, REDIS_TIMEOUT=0.5)
    state = down.extensions["joingate"]
    state.meetings.add(MEETING_ID, topic="T", start=1_800_000_000, duration=60)
    token, _ = state.tokens.create("o", "manage")
    client, csrf = sign_in(down, token)
    own_redis.stop()
    for answer in (client.get(f"{ORG}/"), client.get(MEETING), client.get(f"{MEETING}/live"),
                   client.post(f"{MEETING}/add", data={"csrf": csrf, "csv_text": "email,name"}),
                   app_sign_in(down, token)):
        assert answer.status_code == 503, answer.request.path
        assert "Location" not in answer.headers and answer.headers["Retry-After"] == "5"
    own_redis.start()
    assert client.get(MEETING).status_code == 200


def app_sign_in(app, token: str):
    """The sign-in POST alone (its form value and cookie made up: Redis is down)."""
    client = app.test_client()
    client.set_cookie("jg_organizer_signin", "v" * 32, path="/organizer/")
    return client.post(f"{ORG}/sign-in", data={"csrf": "v" * 32, "token": token})


# Templates, headers

class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.found.append((tag, dict(attrs)))


def test_every_script_and_style_carries_the_nonce_and_nothing_inline_else(manager, roster):
    client, _csrf, _ = manager
    answer = client.get(MEETING)
    policy = answer.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy).group(1)
    assert f"style-src 'nonce-{nonce}'" in policy and "default-src 'none'" in policy
    assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    tags = Tags()
    tags.feed(answer.get_data(as_text=True))
    scripts = [attrs for tag, attrs in tags.found if tag in ("script", "style")]
    assert len(scripts) == 2 and all(attrs.get("nonce") == nonce for attrs in scripts)
    for tag, attrs in tags.found:
        assert "style" not in attrs and not any(name.startswith("on") for name in attrs), tag
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_organizer_templates_can_be_overridden_and_a_broken_one_falls_back(
        store_url, clock, app, service, tmp_path, caplog):
    folder = tmp_path / "brand" / "organizer"
    folder.mkdir(parents=True)
    (folder / "meetings.html").write_text(
        '{% extends "organizer/base.html" %}{% block content %}<h1>Atelier Nord</h1>'
        '{% for m in meetings %}<p>{{ m.topic }}</p>{% endfor %}{% endblock %}')
    (folder / "sign_in.html").write_text("{% extends 'organizer/base.html' %}{% block content %}"
                                         "{{ broken( }}{% endblock %}")
    branded = make_app(store_url, clock, like=app, TEMPLATE_DIR=str(tmp_path / "brand"))
    state = branded.extensions["joingate"]
    state.meetings.add(MEETING_ID, topic="Glaze week", start=1_800_000_000, duration=60)
    token, _ = state.tokens.create("o", "manage")
    client, _csrf = sign_in(branded, token)                 # sign-in: built-in page
    page = client.get(f"{ORG}/").get_data(as_text=True)
    assert "<h1>Atelier Nord</h1>" in page and "<p>Glaze week</p>" in page
    assert any("organizer/sign_in.html failed" in record.getMessage()
               for record in caplog.records)


def test_the_gate_keeps_its_own_cookie_and_pages(app, manager, roster):
    client, _csrf, _ = manager
    claim = client.post(path_of(roster[0]))
    cookie = set_cookies(claim)["__Host-jg_device"]
    assert "Path=/;" in cookie and "SameSite=Lax" in cookie
    assert "form-action 'self' https://app.zoom.us" in client.get(
        path_of(roster[1])).headers["Content-Security-Policy"]
