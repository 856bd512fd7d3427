"""Registrant input (the organizer's CSV, API bodies): pure parsing and checking.

Every fault is collected with its line number before anything is written, so that a bad file is
refused whole and leaves nothing half-imported behind.
"""

from __future__ import annotations

import codecs
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
# What a mail server takes without SMTPUTF8: a dot-atom before the @, host names after it.
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
MAILBOX_RE = re.compile(rf"^{ATOM}(\.{ATOM})*$")
HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def mail_address_problem(address: str) -> str | None:
    """Why ``address`` cannot be mailed (a sentence), or None when it can. Stricter than the
    import's EMAIL_RE, which keeps addresses as registrants typed them: a mailbox name of
    ASCII atoms (joingate does not use SMTPUTF8), a domain of host names (IDNA allowed)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "has no mailbox name and domain around an @"
    if len(address) > MAX_EMAIL:
        return f"is longer than {MAX_EMAIL} characters"
    if not local.isascii():
        return ("has non-ASCII characters before the @ (needs SMTPUTF8, which joingate does "
                "not use)")
    if len(local) > 64 or not MAILBOX_RE.match(local):
        return ("is not a plain mailbox name before the @ (spaces, quotes, brackets or dots "
                "out of place)")
    try:
        labels = domain.encode("idna").decode("ascii").split(".")
    except UnicodeError:
        return f"has a domain that is not a host name: {domain[:80]!r}"
    if len(labels) < 2 or not all(HOST_LABEL_RE.match(label) for label in labels):
        return f"has a domain that is not a host name: {domain[:80]!r}"
    return None


def smtp_address(address: str) -> str:
    """The address as SMTP carries it: the domain in IDNA (ASCII). Check it with
    :func:`mail_address_problem` first."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


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


def email_lookalike(email: str) -> str:
    """Why ``email`` could pass for another address, or "". Registrants are found by their
    email in NFKC, lower-cased: an address that NFKC changes (the Kelvin sign in ``\u212aate@``
    that lower-cases to ``kate@``, full-width letters) or a non-ASCII domain (homographs) would
    let one person's registration stand for another's, so such addresses are refused."""
    _local, _, domain = email.rpartition("@")
    if not domain.isascii():
        return "has a domain with non-ASCII characters; write it in ASCII (xn--...)"
    if unicodedata.normalize("NFKC", email) != email:
        return "contains characters that stand for others (write it as plain text)"
    return ""


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
    elif email_lookalike(email):
        faults.append({"field": "email", "message": f"{email[:80]!r} {email_lookalike(email)}"})
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
    """A checked registrant CSV: its header as written (every column, kept for the output), and
    per data row (in file order) the raw fields by that header, the checked input and the line
    it ends on (the header is line 1)."""

    header: list[str]
    rows: list[dict[str, str]]
    inputs: list[RegistrantInput]
    lines: list[int]


# Header matching: case, spacing, "_"/"-"/space and a BOM do not matter ("First Name" is
# first_name: Zoom's registrant export reads as it stands); a few common other names are aliases.
COLUMN_ALIASES = {
    "email": "email", "email_address": "email", "e_mail": "email", "e_mail_address": "email",
    "name": "name", "full_name": "name",
    "first_name": "first_name", "firstname": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name",
    "registrant_id": "registrant_id", "join_url": "join_url",
}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
HEADER_SEARCH_LINES = 30     # how far down a misplaced header is looked for, to say so
MAX_FAULT_LINES = 50         # bad lines named one by one; the rest are counted


def column_key(name: str) -> str:
    """The canonical key of a header cell: ``'\ufeff First  Name'`` and ``'first-name'`` are
    ``first_name``; ``'E-mail'`` is ``email``. A column with no known meaning keeps its
    normalized name (an extra column: kept in the output, not checked)."""
    key = re.sub(r"[\s_\-]+", "_", name.replace("\ufeff", "").strip().casefold()).strip("_")
    return COLUMN_ALIASES.get(key, key)


def decode_csv(data: bytes) -> str:
    """The text of an uploaded CSV file: UTF-8 (a BOM is dropped), or UTF-16 when it starts with
    a UTF-16 BOM (Excel's "Unicode Text"). Raises InvalidInput naming the first line that is not
    UTF-8, with what to do about it."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidInput("the file starts like UTF-16 text but is not") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"line {line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); it looks "
            "saved in a legacy encoding: in Excel save it as 'CSV UTF-8', in LibreOffice choose "
            "the character set UTF-8") from None


def _header_cells(first_line: str, delimiter: str) -> list[str]:
    try:
        return [cell.strip() for cell in next(csv.reader([first_line], delimiter=delimiter), [])]
    except csv.Error:
        return []


def sniff_delimiter(text: str) -> str:
    """The delimiter of ``text`` (comma, semicolon or tab), from its first line: the one under
    which the header has an email column, else the one that splits it into most columns
    (comma on a tie). European Excel writes semicolons; "Unicode Text" writes tabs."""
    first_line = text.split("\n", 1)[0]

    def score(delimiter: str) -> tuple[bool, int]:
        cells = _header_cells(first_line, delimiter)
        return "email" in map(column_key, cells), len(cells)

    return max(DELIMITERS, key=score)     # max keeps the first (comma) among equals


def _header_fault(header: list[str], keys: list[str], text: str, delimiter: str) -> str:
    """Why ``header`` cannot be read: the columns found, what is missing and the likely cause."""
    found = ", ".join(repr(name) for name in header[:12]) + (", ..." if len(header) > 12 else "")
    if "email" not in keys:
        missing = "the header has no 'email' column"
    else:
        missing = "the header needs 'name' or 'first_name'/'last_name'"
    sentence = f"line 1: {missing}; the columns found are {found or 'none'}"
    return f"{sentence}. {_guess_cause(header, keys, text, delimiter)}"


def _guess_cause(header: list[str], keys: list[str], text: str, delimiter: str) -> str:
    """The likeliest reason a header is unusable, as a sentence that says what to do."""
    if len(header) == 1:
        for other, word in {**DELIMITERS, "|": "'|'"}.items():
            if other in header[0] and other != delimiter:
                if text.lstrip().startswith('"'):
                    return (f"The file looks {word}-separated, with each whole line in quotes "
                            "(one field): save it again as plain CSV")
                return (f"The file looks {word}-separated; joingate reads comma, semicolon "
                        "or tab separated files")
    if any(EMAIL_RE.match(name) for name in header):
        return ("Line 1 looks like a registrant, not a header: add a first line such as "
                "'email,first_name,last_name'")
    for number, line in enumerate(text.split("\n", HEADER_SEARCH_LINES)[1:-1], start=2):
        cells = _header_cells(line, sniff_delimiter(line))
        if "email" in map(column_key, cells) and len(cells) > 1:
            return (f"Line {number} looks like the header: delete the {number - 1} line(s) "
                    "above it (Zoom's reports start with a summary of the meeting)")
    if "email" not in keys:
        second = _header_cells(text.split("\n", 2)[1] if "\n" in text else "", delimiter)
        near = [name for name, value in zip(header, second) if EMAIL_RE.match(value.strip())]
        near += [name for name in header if "mail" in name.casefold()]
        if near:
            return f"If {near[0]!r} holds the email addresses, name that column 'email'"
    else:
        others = [name for name, key in zip(header, keys) if key != "email"]
        near = [name for name in others if "name" in name.casefold()] or others[:1]
        if near:
            return (f"If {near[0]!r} holds the names, name that column 'name' (or use "
                    "'first_name' and 'last_name')")
    return ("Needed: a column 'email', and 'name' or 'first_name'/'last_name' (case and "
            "spacing do not matter; Zoom's export headers 'First Name', 'Last Name', 'Email' "
            "are read)")


def _columns(header: list[str], text: str, delimiter: str) -> dict[str, str]:
    """The canonical key -> the header cell that holds it. Raises InvalidInput when a required
    column is missing or two columns mean the same thing."""
    keys = [column_key(name) for name in header]
    columns: dict[str, str] = {}
    for name, key in zip(header, keys):
        if key in COLUMN_ALIASES.values() and key in columns:
            raise InvalidInput(f"line 1: the columns {columns[key]!r} and {name!r} both mean "
                               f"{key}; keep one")
        columns.setdefault(key, name)
    if "email" not in columns or not {"name", "first_name", "last_name"} & set(columns):
        raise InvalidInput(_header_fault(header, keys, text, delimiter))
    return columns


def read_csv(data: str | bytes, join_domain: str) -> CsvRoster:
    """Parse a registrant CSV (bytes are decoded with :func:`decode_csv`): comma, semicolon or
    tab separated (sniffed), header matched by :func:`column_key`, blank lines skipped.
    Raises InvalidInput: for a header it cannot use, one sentence naming the columns found and
    the likely cause; for bad rows, details naming every bad line (a file with any bad line is
    refused whole)."""
    text = decode_csv(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    if not text.strip():
        raise InvalidInput("the file is empty; its first line must be a header such as "
                           "'email,first_name,last_name'")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise InvalidInput(f"line 1: not a CSV header ({exc})") from None
    columns = _columns(header, text, delimiter)
    rows, inputs, lines, faults = [], [], [], []
    data_lines = 0
    while True:
        before = reader.line_num
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            data_lines += 1
            faults.append({"line": reader.line_num, "message": f"not valid CSV: {exc}"})
            if reader.line_num == before:
                break                   # nothing consumed: the reader cannot go on
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue                    # a blank line (Excel writes ";;;" rows), not a person
        data_lines += 1
        if data_lines > MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS} rows; split the file")
        if any(cell.strip() for cell in cells[len(header):]):
            faults.append({"line": line, "message": f"{len(cells)} fields, but the header has "
                                                    f"{len(header)} columns"})
            continue
        raw = {name: (cells[n] if n < len(cells) else "") for n, name in enumerate(header)}
        checked, row_faults = check_registrant(
            {key: raw[name] for key, name in columns.items()}, join_domain)
        faults.extend({"line": line, **fault} for fault in row_faults)
        if checked:
            rows.append(raw)
            inputs.append(checked)
            lines.append(line)
    if faults:
        bad = len({fault["line"] for fault in faults})
        raise InvalidInput(f"{bad} of {data_lines} line(s) are bad; the file is refused whole "
                           "and nothing was imported", faults)
    return CsvRoster(header, rows, inputs, lines)


def fault_lines(details: list[dict], limit: int = MAX_FAULT_LINES) -> list[str]:
    """The faults of an InvalidInput as text, one line per input line (its faults joined), in
    order, each once; past ``limit`` lines, one more that counts the rest."""
    by_line: dict[int | None, list[str]] = {}
    for detail in details:
        field = f"{detail['field']}: " if "field" in detail else ""
        by_line.setdefault(detail.get("line"), []).append(field + detail["message"])
    texts = [(f"line {line}: " if line is not None else "") + "; ".join(messages)
             for line, messages in by_line.items()]
    if len(texts) > limit:
        texts[limit:] = [f"and {len(texts) - limit} more bad line(s)"]
    return texts
