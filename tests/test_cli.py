"""The organizer's CLI, through click, on the same store as the app."""

from __future__ import annotations

import csv
import io
import json

import pytest

from helpers import MEETING_ID

GOOD_CSV = """email,first_name,last_name,company
ana.lima@example.org,Ana,Lima,Clay Co
jose@example.org,José,Ñúñez 🎨,
ana2@example.org,Ana,Lima,Other
"""


def rows_of(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def issue(runner, tmp_path, text: str, meeting: str = MEETING_ID):
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return runner(["links", "issue", meeting, str(path)])


def test_meeting_add_then_update(runner, service):
    result = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics", "--start",
                     "2026-12-01T19:00:00+01:00", "--duration", "90", "--passcode", "Q0x3"])
    assert result.exit_code == 0 and "added" in result.output
    stored = service.meetings.get(MEETING_ID)
    assert stored.start == 1796148000 and stored.pwd == "Q0x3"
    result = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics 2", "--start",
                     "2026-12-01T18:00:00Z", "--duration", "60"])
    assert "updated" in result.output
    stored = service.meetings.get(MEETING_ID)
    assert stored.topic == "Ceramics 2" and stored.pwd == "Q0x3"


@pytest.mark.parametrize("args,message", [
    (["--start", "2026-12-01T18:00:00"], "has no time zone"),
    (["--start", "tomorrow"], "not an ISO 8601 time"),
    (["--start", "2026-12-01T18:00:00Z", "--target", "elsewhere"], "Invalid value"),
], ids=["naive-time", "not-a-time", "bad-target"])
def test_meeting_add_refuses_bad_input(runner, args, message):
    result = runner(["meeting", "add", MEETING_ID, "--topic", "T", "--duration", "60", *args])
    assert result.exit_code != 0 and message in result.output


def test_links_issue_writes_every_column_plus_link(runner, tmp_path, meeting):
    result = issue(runner, tmp_path, GOOD_CSV)
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert [row["company"] for row in rows] == ["Clay Co", "", "Other"]
    assert all(row["link"].startswith("https://gate.example.org/j/") for row in rows)
    assert len({row["link"] for row in rows}) == 3
    again = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)
    assert [row["link"] for row in again] == [row["link"] for row in rows]


def test_links_issue_names_every_bad_line_and_writes_nothing(runner, tmp_path, meeting,
                                                             service):
    bad = ("email,name,join_url\n"
           "ok@example.org,Fine Person,\n"
           "not-an-email,Someone,\n"
           "x@example.org,,\n"
           "y@example.org,Evil,https://evil.example.com/w/1?tk=1\n")
    result = issue(runner, tmp_path, bad)
    assert result.exit_code == 1
    assert "line 3: email:" in result.stderr
    assert "line 4: name:" in result.stderr
    assert "line 5: join_url: join_url must be an https:// URL on zoom.us" in result.stderr
    assert result.stdout == ""
    assert service.store.registrants(MEETING_ID) == []


def test_links_issue_without_email_column(runner, tmp_path, meeting):
    result = issue(runner, tmp_path, "name\nAna\n")
    assert result.exit_code == 1 and "no 'email' column" in result.output


def test_links_issue_unknown_meeting(runner, tmp_path):
    result = issue(runner, tmp_path, GOOD_CSV, meeting="123456789")
    assert result.exit_code == 1 and "no meeting 123456789" in result.output


def test_links_show_lists_the_refused_attempt(app, runner, tmp_path, meeting):
    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    path = link.removeprefix("https://gate.example.org")
    app.test_client().post(path, headers={"User-Agent": "Phone A"})
    app.test_client().post(path, headers={"User-Agent": "Laptop B"},
                           environ_base={"REMOTE_ADDR": "203.0.113.9"})
    result = runner(["links", "show", MEETING_ID, "ana.lima@example.org"])
    assert result.exit_code == 0
    assert "claimed" in result.output and "refused 1" in result.output
    refused = [line for line in result.output.splitlines() if "Z  refused " in line]
    assert refused and "203.0.113.9" in refused[0] and "Laptop B" in refused[0]
    shown = json.loads(runner(["links", "show", MEETING_ID, "ana.lima@example.org",
                               "--json"]).output)
    assert [e["kind"] for e in shown["history"]] == ["claim", "refused"]


def test_revoke_and_reset_through_the_cli(app, runner, tmp_path, meeting):
    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[1]["link"]
    path = link.removeprefix("https://gate.example.org")
    app.test_client().post(path)
    assert app.test_client().post(path).status_code == 409
    assert runner(["links", "reset", MEETING_ID, "jose@example.org"]).exit_code == 0
    assert app.test_client().post(path).status_code == 303
    assert runner(["links", "revoke", MEETING_ID, "jose@example.org"]).exit_code == 0
    assert app.test_client().post(path).status_code == 410


def test_unknown_registrant_is_a_clear_error(runner, meeting):
    result = runner(["links", "revoke", MEETING_ID, "nobody@example.org"])
    assert result.exit_code == 1 and "no such meeting or registrant" in result.output


def test_report_json_and_csv(app, runner, tmp_path, meeting):
    links = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)
    app.test_client().get(links[1]["link"].removeprefix("https://gate.example.org"))
    app.test_client().post(links[0]["link"].removeprefix("https://gate.example.org"))
    report = json.loads(runner(["report", MEETING_ID, "--format", "json"]).output)
    assert report["meeting"] == MEETING_ID and report["unmatched"] == []
    assert [(r["email"], r["status"], r["claims"]) for r in report["registrants"]] == [
        ("ana.lima@example.org", "claimed", 1), ("jose@example.org", "opened", 0),
        ("ana2@example.org", "issued", 0)]
    rows = rows_of(runner(["report", MEETING_ID]).output)
    assert rows[0]["status"] == "claimed" and rows[2]["status"] == "issued"


def test_cli_without_configuration_names_the_variable(monkeypatch):
    from click.testing import CliRunner
    from joingate.cli import main

    monkeypatch.delenv("JOINGATE_SECRET_KEY", raising=False)
    monkeypatch.delenv("JOINGATE_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["report", MEETING_ID])
    assert result.exit_code == 1 and "JOINGATE_SECRET_KEY is not set" in result.output


def test_links_export_lists_current_links(runner, tmp_path, meeting):
    issued = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)
    runner(["links", "reissue", MEETING_ID, "jose@example.org"])
    exported = rows_of(runner(["links", "export", MEETING_ID]).output)
    assert [row["email"] for row in exported] == [row["email"] for row in issued]
    assert exported[0]["link"] == issued[0]["link"]
    assert exported[1]["link"] != issued[1]["link"]
    assert exported[2]["display_name"] == "Ana Lima (2)"
