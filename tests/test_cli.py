"""The organizer's CLI, through click, on the same store as the app."""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers import MEETING_ID

from joingate.errors import NotFound

GOOD_CSV = """email,first_name,last_name,company
ana.lima@example.org,Ana,Lima,Clay Co
jose@example.org,José,Ñúñez 🎨,
ana2@example.org,Ana,Lima,Other
"""


def rows_of(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def issue(runner, tmp_path, text: str | bytes, meeting: str = MEETING_ID):
    """``links issue`` of a file holding ``text`` (UTF-8) or exactly ``bytes``."""
    path = tmp_path / "people.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return runner(["links", "issue", meeting, str(path)])


def stored(service) -> list[tuple[str, str]]:
    return [(registrant.email, registrant.name) for registrant in
            service.store.registrants(MEETING_ID)]


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


@pytest.mark.parametrize("start", [
    "2026-12-01 18:00Z", "2026-12-01T18:00Z", "2026-12-01 19:00 +01:00", "2026-12-01 19:00+0100",
    "2026-12-01 18:00 UTC", "2026-12-01t18:00:00.5z",
])
def test_meeting_add_reads_the_start_as_people_write_it(runner, service, start):
    result = runner(["meeting", "add", MEETING_ID, "--topic", "T", "--start", start,
                     "--duration", "60"])
    assert result.exit_code == 0, result.output
    assert service.meetings.get(MEETING_ID).start == 1796148000      # 2026-12-01T18:00:00Z


@pytest.mark.parametrize("typed", ["857 4606 5432", "857-4606-5432", " 85746065432 "])
def test_meeting_number_as_zoom_shows_it(runner, tmp_path, service, typed):
    result = runner(["meeting", "add", typed, "--topic", "T", "--start", "2026-12-01T18:00Z",
                     "--duration", "60"])
    assert result.exit_code == 0 and result.stdout == "meeting 85746065432 added\n"
    assert service.meetings.get("85746065432").topic == "T"
    issued = issue(runner, tmp_path, "email,name\na@example.org,Ana\n", meeting=typed)
    assert issued.exit_code == 0 and len(rows_of(issued.stdout)) == 1


def test_meeting_add_refuses_a_class_already_over_unless_allowed(runner, service):
    args = ["meeting", "add", MEETING_ID, "--topic", "T", "--start", "2020-12-01T18:00Z",
            "--duration", "90"]
    result = runner(args)
    assert result.exit_code == 1
    assert result.stderr == ("Error: the class would have ended at 2020-12-01 19:30 UTC, in the "
                             "past: its links would answer 'class is over'. Check the date and "
                             "its year, or add --allow-past to add it anyway\n")
    with pytest.raises(NotFound):
        service.meetings.get(MEETING_ID)
    assert runner([*args, "--allow-past"]).exit_code == 0
    assert service.meetings.get(MEETING_ID).start == 1606845600


def test_meeting_add_accepts_a_class_in_progress(runner, service):
    # The clock says 17:50; the class started at 17:30 and runs an hour: its links still work.
    result = runner(["meeting", "add", MEETING_ID, "--topic", "T", "--start",
                     "2026-12-01 17:30Z", "--duration", "60"])
    assert result.exit_code == 0 and service.meetings.get(MEETING_ID).start == 1796146200


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
    assert [result.stderr.count(f"line {n}:") for n in (2, 3, 4, 5)] == [0, 1, 1, 1]
    assert result.stdout == ""
    assert service.store.registrants(MEETING_ID) == []


def test_links_issue_without_email_column(runner, tmp_path, meeting):
    result = issue(runner, tmp_path, "name\nAna\n")
    assert result.exit_code == 1 and "no 'email' column" in result.output


ZOOM_EXPORT = (
    "First Name,Last Name,Email,City,Country/Region,Zip/Postal Code,State/Province,Phone,"
    "Industry,Organization,Job Title,Purchasing Time Frame,Role in Purchase Process,"
    "No of Employees,Questions & Comments,Registration Time,Approval Status\n"
    "Ana,Lima,ana.lima@example.org,Lisboa,Portugal,1000-001,,,,Clay Co,,,,,"
    "\"Can I bring clay?\",\"Nov 20, 2026 09:14:02\",approved\n"
    "José,Ñúñez,jose@example.org,Porto,Portugal,,,,,,,,,,,\"Nov 21, 2026 18:02:40\",approved\n")


@pytest.mark.parametrize("data", [
    ZOOM_EXPORT,
    ZOOM_EXPORT.replace(",", ";").replace("Nov 20; 2026", "Nov 20, 2026")
    .replace("Nov 21; 2026", "Nov 21, 2026").replace("\n", "\r\n").encode("utf-8-sig"),
    ZOOM_EXPORT.replace(",", "\t").replace("Nov 20\t 2026", "Nov 20, 2026")
    .replace("Nov 21\t 2026", "Nov 21, 2026").replace('"', ""),
], ids=["zoom-export", "semicolon-excel-bom", "tab"])
def test_links_issue_reads_real_files_and_keeps_every_column(runner, tmp_path, meeting, service,
                                                             data):
    result = issue(runner, tmp_path, data)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("2 link(s) issued: 2 new, 0 renamed, 0 unchanged, 0 refused\ntarget registrant")
    out = list(csv.reader(io.StringIO(result.stdout)))
    assert out[0] == [*ZOOM_EXPORT.split("\n", 1)[0].split(","), "link"]
    rows = rows_of(result.stdout)
    assert [(row["Email"], row["City"], row["Registration Time"]) for row in rows] == [
        ("ana.lima@example.org", "Lisboa", "Nov 20, 2026 09:14:02"),
        ("jose@example.org", "Porto", "Nov 21, 2026 18:02:40")]
    assert rows[0]["Questions & Comments"] == "Can I bring clay?"
    assert all(row["link"].startswith("https://gate.example.org/j/") for row in rows)
    assert stored(service) == [("ana.lima@example.org", "Ana Lima"),
                               ("jose@example.org", "José Ñúñez")]


def test_european_excel_semicolon_file_with_bom(runner, tmp_path, meeting, service):
    data = ("\ufeffemail;first_name;last_name\r\n"
            "ana.lima@example.org;Ana;Lima\r\njose@example.org;José;Ñúñez\r\n;;\r\n")
    result = issue(runner, tmp_path, data.encode("utf-8"))
    assert result.exit_code == 0, result.stderr
    rows = rows_of(result.stdout)
    assert [(row["email"], row["first_name"], row["last_name"]) for row in rows] == [
        ("ana.lima@example.org", "Ana", "Lima"), ("jose@example.org", "José", "Ñúñez")]
    assert list(rows[0]) == ["email", "first_name", "last_name", "link"]
    assert stored(service) == [("ana.lima@example.org", "Ana Lima"),
                               ("jose@example.org", "José Ñúñez")]


@pytest.mark.parametrize("data,expected", [
    ("Mail;Nombre\na@x.org;Ana\n",
     "Error: line 1: the header has no 'email' column; the columns found are 'Mail', 'Nombre'. "
     "If 'Mail' holds the email addresses, name that column 'email'\n"),
    ('"email;first_name;last_name"\n"a@x.org;Ana;Lima"\n',
     "Error: line 1: the header has no 'email' column; the columns found are "
     "'email;first_name;last_name'. The file looks semicolon-separated, with each whole line "
     "in quotes (one field): save it again as plain CSV\n"),
    ("email;name\r\na@x.org;Jos\xe9\r\n".encode("cp1252"),
     "Error: line 2: the file is not UTF-8 text (byte 0xe9); it looks saved in a legacy "
     "encoding: in Excel save it as 'CSV UTF-8', in LibreOffice choose the character set "
     "UTF-8\n"),
], ids=["wrong-headers", "quoted-semicolon-lines", "windows-1252"])
def test_links_issue_refuses_a_file_it_cannot_read_with_one_sentence(runner, tmp_path, meeting,
                                                                     service, data, expected):
    result = issue(runner, tmp_path, data)
    assert result.exit_code == 1
    assert result.stderr == expected
    assert result.stdout == "" and stored(service) == []


def test_links_issue_names_each_of_many_bad_lines_once(runner, tmp_path, meeting, service):
    text = "email,name\nok@example.org,Fine\n" + "".join(
        f"person{n}.example.org,Someone {n}\n" for n in range(60))
    result = issue(runner, tmp_path, text)
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[:50] == [f"error: line {n}: email: 'person{n - 3}.example.org' is not an email "
                           "address" for n in range(3, 53)]
    assert errors[50:] == ["error: and 10 more bad line(s)",
                           "Error: 60 of 61 line(s) are bad; the file is refused whole and "
                           "nothing was imported"]
    assert result.stdout == "" and stored(service) == []


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


def test_reset_of_a_revoked_link_says_the_truth_and_restore_undoes_the_revoke(
        app, runner, tmp_path, meeting):
    """Finding 11: `links reset` after a revoke (the deny policy's) no longer claims the link
    works; `--restore` makes the same link work again."""
    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    path = link.removeprefix("https://gate.example.org")
    assert app.test_client().post(path).status_code == 303
    runner(["links", "revoke", MEETING_ID, "ana.lima@example.org"])
    reset = runner(["links", "reset", MEETING_ID, "ana.lima@example.org"])
    assert "still answers 410" in reset.stdout and "works again" not in reset.stdout.split(":")[0]
    assert app.test_client().post(path).status_code == 410
    restored = runner(["links", "reset", MEETING_ID, "ana.lima@example.org", "--restore"])
    assert restored.exit_code == 0 and "the same link works again" in restored.stdout
    assert app.test_client().post(path).status_code == 303


def test_reset_approve_checks_zoom_credentials_before_changing_anything(
        app, runner, tmp_path, meeting, service):
    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    runner(["links", "revoke", MEETING_ID, "ana.lima@example.org"])
    result = runner(["links", "reset", MEETING_ID, "ana.lima@example.org", "--approve"])
    assert result.exit_code == 1 and "Zoom credentials are not set" in result.stderr
    assert service.meetings.registrant(MEETING_ID, "ana.lima@example.org").revoked
    assert app.test_client().post(link.removeprefix("https://gate.example.org")
                                  ).status_code == 410


def test_adding_an_ended_meeting_again_needs_a_decision(app, runner, tmp_path, meeting, clock,
                                                        service):
    """Finding 10: Zoom reuses meeting numbers; January's links never redirect in February
    unless the organizer keeps the cohort."""
    from datetime import timedelta

    from helpers import START

    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    path = link.removeprefix("https://gate.example.org")
    clock.set(START + timedelta(days=3))
    february = ["meeting", "add", MEETING_ID, "--topic", "Ceramics II", "--start",
                (START + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ"), "--duration", "90"]
    refused = runner(february)
    assert refused.exit_code == 1
    assert "--keep-registrants or --new-cohort" in refused.stderr
    assert service.meetings.get(MEETING_ID).topic != "Ceramics II"
    assert runner(february + ["--new-cohort"]).exit_code == 0
    clock.set(START + timedelta(days=31))
    assert app.test_client().post(path).status_code == 404
    assert service.store.registrants(MEETING_ID) == []


def test_adding_an_ended_meeting_and_keeping_its_registrants(app, runner, tmp_path, meeting,
                                                             clock):
    from datetime import timedelta

    from helpers import START

    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    clock.set(START + timedelta(days=3))
    result = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics II", "--start",
                     (START + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "--duration", "90", "--keep-registrants"])
    assert result.exit_code == 0
    clock.set(START + timedelta(days=31))
    assert app.test_client().post(link.removeprefix("https://gate.example.org")
                                  ).status_code == 303


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8000", "http://localhost:8000",
                                        "http://[::1]:8000"])
def test_links_for_a_loopback_public_url_are_refused(app, store_url, clock, tmp_path,
                                                     public_url):
    """A mail merge of http://127.0.0.1:8000 links reaches nobody: refused, naming the
    setting (issue 17, item 6); --allow-loopback issues them on purpose."""
    from click.testing import CliRunner
    from helpers import START, make_app

    from joingate.cli import main

    local = make_app(store_url, clock, like=app, PUBLIC_URL=public_url)
    local.extensions["joingate"].meetings.add(MEETING_ID, topic="T", start=START, duration=60)
    path = tmp_path / "people.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    refused = CliRunner().invoke(main, ["links", "issue", MEETING_ID, str(path)], obj=local)
    assert refused.exit_code == 1 and "JOINGATE_PUBLIC_URL is " + public_url in refused.stderr
    assert refused.stdout == ""
    assert local.extensions["joingate"].store.registrants(MEETING_ID) == []
    allowed = CliRunner().invoke(main, ["links", "issue", MEETING_ID, str(path),
                                        "--allow-loopback"], obj=local)
    assert allowed.exit_code == 0 and public_url + "/j/" in allowed.stdout


def test_meeting_list_show_and_delete(app, runner, tmp_path, meeting, service):
    """Issue 17, item 11: meetings can be listed, shown and deleted from the CLI."""
    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    listed = runner(["meeting", "list"])
    assert listed.exit_code == 0 and MEETING_ID in listed.stdout
    count = len(rows_of(issue(runner, tmp_path, GOOD_CSV).stdout))
    assert f"{count} registrant(s)" in listed.stdout
    shown = runner(["meeting", "show", "857 4606 5432"]).stdout
    assert "start:" in shown and "2026-12-01T18:00:00Z" in shown and "passcode:" in shown
    assert "enc0ded" not in shown
    kept = runner(["meeting", "delete", MEETING_ID], input="n\n")
    assert kept.exit_code == 1 and service.meetings.get(MEETING_ID)
    gone = runner(["meeting", "delete", MEETING_ID, "--yes"])
    assert gone.exit_code == 0 and f"{count} registrant(s)" in gone.stdout
    assert service.store.redis.keys(f"jg:{{m:{MEETING_ID}}}:*") == []
    assert MEETING_ID not in runner(["meeting", "list"]).stdout
    assert app.test_client().post(link.removeprefix("https://gate.example.org")
                                  ).status_code == 404
    missing = runner(["meeting", "show", MEETING_ID])
    assert missing.exit_code == 1 and "no meeting" in missing.stderr


def test_renames_and_repeated_emails_are_warned_and_summed_up(runner, tmp_path, meeting,
                                                              service):
    """Issue 17, item 4: a re-import that renames someone, or a file that names one email
    twice, is said out loud; the summary counts new, renamed, unchanged."""
    first = issue(runner, tmp_path, "email,name\nana@example.org,Ana Lima\nben@example.org,Ben\n")
    assert "2 new, 0 renamed, 0 unchanged, 0 refused" in first.stderr
    again = issue(runner, tmp_path, "email,name\nana@example.org,Ana Souza\nben@example.org,Ben\n"
                  "ana@example.org,Ana Maria Souza\n")
    assert again.exit_code == 0
    assert ("warning: line 4: ana@example.org is also on line 2 with the name 'Ana Souza'; "
            "the last, 'Ana Maria Souza', is kept") in again.stderr
    assert ("warning: ana@example.org is renamed from 'Ana Lima' to 'Ana Maria Souza'"
            in again.stderr)
    assert "0 new, 1 renamed, 1 unchanged, 0 refused" in again.stderr
    assert service.meetings.registrant(MEETING_ID, "ana@example.org").name == "Ana Maria Souza"


def test_links_signed_with_a_key_the_server_does_not_know_are_refused(app, store_url, clock,
                                                                    tmp_path, meeting):
    """Issue 17, item 7: a CLI with another SECRET_KEY than the server (another .env) would
    mail links that answer 404; the server announces its keys' fingerprints at start and the
    CLI refuses to issue under a key it does not know."""
    from click.testing import CliRunner
    from helpers import make_app

    from joingate.cli import main

    app.extensions["joingate"].announce_keys()                  # what wsgi.py / serve do
    laptop = make_app(store_url, clock, like=app, SECRET_KEY="another-key-" + "x" * 32)
    path = tmp_path / "people.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    refused = CliRunner().invoke(main, ["links", "issue", MEETING_ID, str(path)], obj=laptop)
    assert refused.exit_code == 1 and "not a key the server verifies links with" in \
        refused.stderr
    assert refused.stdout == "" and laptop.extensions["joingate"].store.registrants(
        MEETING_ID) == []
    assert "another-key" not in refused.stderr
    same = CliRunner().invoke(main, ["links", "issue", MEETING_ID, str(path)], obj=app)
    assert same.exit_code == 0


def test_after_a_reissue_the_status_is_issued_and_unknown_names_say_what_was_typed(
        app, runner, tmp_path, meeting):
    """Issue 17, item 9: a reissued link is waiting for a claim (issued, not claimed with 0
    devices); an unknown email or meeting is named as typed, not by an internal hash."""
    link = rows_of(issue(runner, tmp_path, GOOD_CSV).stdout)[0]["link"]
    assert app.test_client().post(link.removeprefix("https://gate.example.org")
                                  ).status_code == 303
    runner(["links", "reissue", MEETING_ID, "ana.lima@example.org"])
    shown = json.loads(runner(["links", "show", MEETING_ID, "ana.lima@example.org",
                               "--json"]).stdout)
    assert shown["status"] == "issued" and shown["devices"] == 0
    unknown = runner(["links", "show", MEETING_ID, "nobody@example.org"])
    assert unknown.exit_code == 1 and "'nobody@example.org'" in unknown.stderr
    no_meeting = runner(["links", "show", "999999999", "ana.lima@example.org"])
    assert no_meeting.exit_code == 1 and "no meeting 999999999" in no_meeting.stderr


def test_redis_down_names_the_url_without_its_password_and_the_reason(tmp_path):
    """Issue 17, item 10: not just 'ConnectionError'."""
    import os
    import subprocess
    import sys

    from stack import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update(JOINGATE_SECRET_KEY="k" * 40,
               JOINGATE_REDIS_URL=f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0",
               JOINGATE_REDIS_TIMEOUT="0.5")
    result = subprocess.run([sys.executable, "-m", "joingate.cli", "meeting", "list"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "Redis did not answer" in result.stderr and "127.0.0.1" in result.stderr
    assert "s3cret-pass" not in result.stderr and ":***@" in result.stderr
