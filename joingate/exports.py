"""CSV for people: the attendance report and the mail-merge export, written once for the CLI and
the API alike."""

from __future__ import annotations

import csv
from typing import Any, Iterable, TextIO

REPORT_COLUMNS = ["email", "name", "status", "claims", "joins", "max_concurrent", "minutes",
                  "flags"]
SENT_COLUMN = "sent"      # the mailed link's state (joingate/sender.py)
LINK_COLUMNS = ["email", "name", "display_name", "status", "registrant_id", "link"]


def write_report_csv(report: dict[str, Any], out: TextIO) -> None:
    """One row per registrant, then one per unmatched participant (status ``unmatched``). A
    last column ``sent`` is written when the rows carry it (every report joingate builds does,
    when it has registrants)."""
    sent = any(SENT_COLUMN in row for row in report["registrants"])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS + [SENT_COLUMN] * sent)
    for row in report["registrants"]:
        writer.writerow([row["email"], row["name"], row["status"], row["claims"], row["joins"],
                         row["max_concurrent"], row.get("minutes", 0), " ".join(row["flags"]),
                         *[row.get(SENT_COLUMN, "")] * sent])
    for row in report["unmatched"]:
        writer.writerow(["", row["user_name"], "unmatched", "", "", "", "", "unmatched",
                         *[""] * sent])


def write_links_csv(rows: Iterable[dict[str, str]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=LINK_COLUMNS, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
