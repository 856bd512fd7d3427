"""Registrant input (the organizer's CSV, API bodies): pure parsing and checking.

Every fault is collected with its line number before anything is written, so that a bad file is
refused whole and leaves nothing half-imported behind.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidInput
from .zoom.urls import check_join_url

MAX_NAME = 64          # Zoom shows display names up to 64 characters
MAX_EMAIL = 254
MAX_ZOOM_ID = 64
MAX_ROWS = 100_000
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class RegistrantInput:
    email: str
    name: str
    zoom_registrant_id: str = ""
    join_url: str = ""


# Terminal escape sequences (ECMA-48), removed whole so that what they wrapped stays readable:
# OSC ... BEL/ST (titles, hyperlinks), CSI ... final byte (colours, cursor moves, clearing the
# screen), and two-character ESC sequences. Both the 7-bit (ESC [) and the 8-bit (U+009B) forms.
TERMINAL_ESCAPE_RE = re.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -~]?")


def clean_name(value: str) -> str:
    """A name fit for a page, a URL, a CSV and a terminal: terminal escape sequences removed
    whole, white space (CR/LF included) folded to single spaces, other control characters
    dropped."""
    value = TERMINAL_ESCAPE_RE.sub("", value)
    value = "".join(" " if ch.isspace() else ch for ch in value
                    if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(value.split())


def check_registrant(fields: dict[str, str], join_domain: str) -> tuple[RegistrantInput | None,
                                                                          list[dict]]:
    """Check one registrant's fields (``email``, ``name`` or ``first_name``/``last_name``,
    optional ``registrant_id``, ``join_url``). Returns the input or the list of faults."""
    faults = []
    email = (fields.get("email") or "").strip()
    if not email:
        faults.append({"field": "email", "message": "email is empty"})
    elif len(email) > MAX_EMAIL or not EMAIL_RE.match(email) or not email.isprintable():
        faults.append({"field": "email", "message": f"{email[:80]!r} is not an email address"})
    name = clean_name(fields.get("name") or "")
    if not name:
        name = clean_name(f"{fields.get('first_name') or ''} {fields.get('last_name') or ''}")
    if not name:
        faults.append({"field": "name", "message": "name (or first_name/last_name) is empty"})
    elif len(name) > 200:
        faults.append({"field": "name", "message": "name is longer than 200 characters"})
    zoom_id = (fields.get("registrant_id") or "").strip()
    if len(zoom_id) > MAX_ZOOM_ID or any(ch.isspace() for ch in zoom_id):
        faults.append({"field": "registrant_id", "message": "registrant_id is not a Zoom id"})
    join_url = (fields.get("join_url") or "").strip()
    if join_url:
        try:
            check_join_url(join_url, join_domain)
        except InvalidInput as exc:
            faults.append({"field": "join_url", "message": exc.message})
    if faults:
        return None, faults
    return RegistrantInput(email, name[:MAX_NAME].strip(), zoom_id, join_url), []


@dataclass(frozen=True)
class CsvRoster:
    """A checked registrant CSV: its header, and per data row (in file order) the raw fields,
    the checked input and the line it ends on (the header is line 1)."""

    header: list[str]
    rows: list[dict[str, str]]
    inputs: list[RegistrantInput]
    lines: list[int]


def read_csv(text: str, join_domain: str) -> CsvRoster:
    """Parse a registrant CSV. Raises InvalidInput whose details name every bad line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InvalidInput(f"line 1: not a CSV header ({exc})") from None
    reader.fieldnames = header
    if "email" not in header:
        raise InvalidInput("line 1: the header has no 'email' column",
                           [{"line": 1, "field": "email", "message": "column missing"}])
    if "name" not in header and not {"first_name", "last_name"} & set(header):
        raise InvalidInput("line 1: the header needs 'name' or 'first_name'/'last_name'",
                           [{"line": 1, "field": "name", "message": "column missing"}])
    rows, inputs, lines, faults = [], [], [], []
    try:
        for row in reader:
            line = reader.line_num
            if len(rows) >= MAX_ROWS:
                raise InvalidInput(f"more than {MAX_ROWS} rows; split the file")
            if None in row:
                faults.append({"line": line, "message": "more fields than the header has"})
                continue
            raw = {key: (value or "") for key, value in row.items()}
            checked, row_faults = check_registrant(raw, join_domain)
            faults.extend({"line": line, **fault} for fault in row_faults)
            if checked:
                rows.append(raw)
                inputs.append(checked)
                lines.append(line)
    except csv.Error as exc:
        faults.append({"line": reader.line_num, "message": f"not valid CSV: {exc}"})
    if faults:
        first = faults[0]
        raise InvalidInput(f"{len(faults)} problem(s); line {first['line']}: {first['message']}",
                           faults)
    return CsvRoster(header, rows, inputs, lines)
