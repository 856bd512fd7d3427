"""CSV for people: the attendance report and the mail-merge export, written once for the CLI and
the API alike.

Every CSV joingate writes goes through :func:`spreadsheet_cell`: names come from anyone (Zoom's
public registration form, participants' typed display names, API callers), and a spreadsheet
runs a cell that begins with ``= + - @``, a tab or a line break as a formula (OWASP "CSV
Injection"). Such a cell is prefixed with ``'``, which spreadsheets show as text; links and
ordinary emails begin with none of these and pass unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

REPORT_COLUMNS = ["email", "name", "status", "claims", "joins", "max_concurrent", "minutes",
                  "flags"]
SENT_COLUMN = "sent"      # the mailed link's state (joingate/sender.py)
LINK_COLUMNS = ["email", "name", "display_name", "status", "registrant_id", "link"]
# OWASP's list, plus a line feed (a CR in an input file reaches us as one).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` fit for a spreadsheet: text that a spreadsheet would read as a formula gets a
    leading ``'``; anything else (numbers included) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SpreadsheetWriter:
    """``csv.writer`` whose every cell passes through :func:`spreadsheet_cell`."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_cell(value) for value in row])


class SpreadsheetDictWriter(csv.DictWriter):
    """``csv.DictWriter`` (header included) whose every cell passes through
    :func:`spreadsheet_cell`."""

    def __init__(self, out: TextIO, fieldnames: list[str], **options: Any) -> None:
        super().__init__(out, fieldnames=fieldnames, lineterminator="\n", **options)

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: spreadsheet_cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)


def write_report_csv(report: dict[str, Any], out: TextIO) -> None:
    """One row per registrant, then one per unmatched participant (status ``unmatched``). A
    last column ``sent`` is written when the rows carry it (every report joingate builds does,
    when it has registrants)."""
    sent = any(SENT_COLUMN in row for row in report["registrants"])
    writer = SpreadsheetWriter(out)
    writer.writerow(REPORT_COLUMNS + [SENT_COLUMN] * sent)
    for row in report["registrants"]:
        writer.writerow([row["email"], row["name"], row["status"], row["claims"], row["joins"],
                         row["max_concurrent"], row.get("minutes", 0), " ".join(row["flags"]),
                         *[row.get(SENT_COLUMN, "")] * sent])
    for row in report["unmatched"]:
        writer.writerow(["", row["user_name"], "unmatched", "", "", "", "", "unmatched",
                         *[""] * sent])


def write_links_csv(rows: Iterable[dict[str, str]], out: TextIO) -> None:
    writer = SpreadsheetDictWriter(out, LINK_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
