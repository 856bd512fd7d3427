"""joingate/exports.py: the report CSV and the mail-merge CSV. Plain unit tests that read what the
writers wrote with the csv module."""

from __future__ import annotations

import csv
import io
from typing import Any

from helpers import MEETING_ID

from joingate.exports import write_links_csv, write_report_csv

REPORT_HEADER = ["email", "name", "status", "claims", "joins", "max_concurrent", "minutes",
                 "flags"]
LINKS_HEADER = ["email", "name", "display_name", "status", "registrant_id", "link"]


def registrant(email: str, name: str, status: str, **fields: Any) -> dict[str, Any]:
    """A report row as Service.report builds it."""
    row = {"email": email, "name": name, "status": status, "claims": 0, "joins": 0,
           "max_concurrent": 0, "minutes": 0.0, "present": 0, "flags": []}
    row.update(fields)
    return row


def report_text(report: dict[str, Any]) -> str:
    out = io.StringIO()
    write_report_csv(report, out)
    return out.getvalue()


def links_text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    write_links_csv(rows, out)
    return out.getvalue()


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_report_csv_has_the_columns_and_one_row_per_registrant():
    report = {"meeting": MEETING_ID, "unmatched": [], "registrants": [
        registrant("ana.lima@example.org", "Ana Lima", "joined", claims=2, joins=3,
                   max_concurrent=2, minutes=41.5, present=1, flags=["shared", "second_device"]),
        registrant("ben@example.org", "Ben Okafor", "claimed", claims=1),
        registrant("cy@example.org", "Cy", "issued"),
    ]}
    assert parsed(report_text(report)) == [
        REPORT_HEADER,
        ["ana.lima@example.org", "Ana Lima", "joined", "2", "3", "2", "41.5",
         "shared second_device"],
        ["ben@example.org", "Ben Okafor", "claimed", "1", "0", "0", "0.0", ""],
        ["cy@example.org", "Cy", "issued", "0", "0", "0", "0.0", ""],
    ]


def test_report_csv_without_minutes_writes_zero():
    row = registrant("ana@example.org", "Ana", "opened")
    del row["minutes"]
    rows = parsed(report_text({"meeting": MEETING_ID, "registrants": [row], "unmatched": []}))
    assert rows[1] == ["ana@example.org", "Ana", "opened", "0", "0", "0", "0", ""]


def test_report_csv_lists_unmatched_participants_after_the_registrants():
    report = {"meeting": MEETING_ID,
              "registrants": [registrant("ana@example.org", "Ana", "joined", joins=1)],
              "unmatched": [{"user_name": "iPhone de Maria", "participant_uuid": "PU-1",
                             "join_time": "2026-12-01T18:03:00Z"},
                            {"user_name": "Zoë 🎨", "participant_uuid": "PU-2",
                             "join_time": "2026-12-01T18:04:00Z"}]}
    rows = parsed(report_text(report))
    assert rows[1][0] == "ana@example.org"
    assert rows[2:] == [["", "iPhone de Maria", "unmatched", "", "", "", "", "unmatched"],
                        ["", "Zoë 🎨", "unmatched", "", "", "", "", "unmatched"]]
    assert all(len(row) == len(REPORT_HEADER) for row in rows)


def test_an_empty_report_is_the_header_alone_with_unix_line_ends():
    text = report_text({"meeting": MEETING_ID, "registrants": [], "unmatched": []})
    assert text == ",".join(REPORT_HEADER) + "\n"


def test_report_csv_quotes_commas_and_quotes():
    name = 'Lima, Ana "Nana"'
    text = report_text({"meeting": MEETING_ID, "unmatched": [],
                        "registrants": [registrant("ana@example.org", name, "issued")]})
    assert '"Lima, Ana ""Nana"""' in text
    assert parsed(text)[1][:3] == ["ana@example.org", name, "issued"]


def link_row(email: str, name: str, **fields: str) -> dict[str, str]:
    """A row as Service.export_links builds it."""
    row = {"email": email, "name": name, "display_name": name, "status": "issued",
           "registrant_id": "", "link": f"https://gate.example.org/j/token-of-{email}"}
    row.update(fields)
    return row


def test_links_csv_has_the_columns_and_one_row_per_registrant_in_order():
    rows = [link_row("ana@example.org", "Ana Lima", registrant_id="x4VbQ7o0TtqZp1rXlN3WkA",
                     status="claimed"),
            link_row("ana2@example.org", "Ana Lima", display_name="Ana Lima (2)"),
            link_row("jose@example.org", "José Ñúñez 🎨")]
    text = links_text(rows)
    assert text.startswith(",".join(LINKS_HEADER) + "\n") and "\r" not in text
    assert list(csv.DictReader(io.StringIO(text))) == rows
    assert parsed(text)[1] == ["ana@example.org", "Ana Lima", "Ana Lima", "claimed",
                               "x4VbQ7o0TtqZp1rXlN3WkA",
                               "https://gate.example.org/j/token-of-ana@example.org"]


def test_links_csv_leaves_out_other_keys_and_fills_missing_ones():
    row = link_row("ana@example.org", "Ana", company="Clay Co", internal="x")
    del row["registrant_id"]
    assert parsed(links_text([row])) == [
        LINKS_HEADER,
        ["ana@example.org", "Ana", "Ana", "issued", "",
         "https://gate.example.org/j/token-of-ana@example.org"]]


def test_links_csv_of_no_rows_is_the_header_alone():
    assert links_text([]) == ",".join(LINKS_HEADER) + "\n"


def test_links_csv_quotes_commas_and_quotes():
    row = link_row("ana@example.org", 'Lima, Ana "Nana"')
    assert list(csv.DictReader(io.StringIO(links_text([row])))) == [row]
