"""CSV parsing and registrant checks: pure functions."""

from __future__ import annotations

import pytest

from joingate.errors import InvalidInput
from joingate.roster import check_registrant, clean_name, column_key, fault_lines, read_csv


def test_reads_bom_and_first_last_name():
    roster = read_csv("\ufeffemail,first_name,last_name\na@x.org,Ana,Lima\n", "zoom.us")
    assert roster.header == ["email", "first_name", "last_name"] and roster.lines == [2]
    assert roster.inputs[0].name == "Ana Lima" and roster.inputs[0].email == "a@x.org"


@pytest.mark.parametrize("raw,clean", [
    ("Ana\r\nLima", "Ana Lima"), ("  Ana \t Lima ", "Ana Lima"), ("A\x00na\x07", "Ana"),
    ("\u202eamiL anA", "\u202eamiL anA"),
], ids=["crlf", "spaces", "controls", "rtl-mark-kept"])
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


def test_long_names_are_cut_to_zoom_length():
    roster = read_csv(f"email,name\na@x.org,{'N' * 150}\n", "zoom.us")
    assert len(roster.inputs[0].name) == 64


@pytest.mark.parametrize("row,field", [
    ("a@x.org,Ana,http://us06web.zoom.us/w/1", "join_url"),
    ("a@x.org,Ana,https://zoom.us.evil.com/w/1", "join_url"),
    ("a@x.org,Ana,https://user@us06web.zoom.us/w/1", "join_url"),
    ("a@x.org,Ana,javascript:alert(1)", "join_url"),
    ("a@x.org,,", "name"),
    ("@x.org,Ana,", "email"),
    (f"a@x.org,{'N' * 201},", "name"),
], ids=["http", "lookalike-host", "userinfo", "javascript", "no-name", "bad-email", "2kb-name"])
def test_bad_rows_are_named(row, field):
    with pytest.raises(InvalidInput) as caught:
        read_csv(f"email,name,join_url\n{row}\n", "zoom.us")
    assert caught.value.details[0]["line"] == 2
    assert caught.value.details[0]["field"] == field


def test_extra_fields_and_broken_quotes():
    with pytest.raises(InvalidInput) as caught:
        read_csv('email,name\na@x.org,Ana,extra\nb@x.org,"Bo\n', "zoom.us")
    lines = [d["line"] for d in caught.value.details]
    assert lines[0] == 2 and len(lines) == 2


# Real files: Zoom's export, European Excel, tabs; headers as people write them.

ZOOM_EXPORT_HEADER = ("First Name,Last Name,Email,City,Country/Region,Zip/Postal Code,"
                      "State/Province,Phone,Industry,Organization,Job Title,"
                      "Purchasing Time Frame,Role in Purchase Process,No of Employees,"
                      "Questions & Comments,Registration Time,Approval Status")


def test_zoom_registrant_export_is_read_with_every_column_kept():
    text = (ZOOM_EXPORT_HEADER + "\n"
            "Ana,Lima,ana.lima@example.org,Lisboa,Portugal,1000-001,,,,Clay Co,,,,,"
            "\"Can I bring a friend?\",\"Nov 20, 2026 09:14:02\",approved\n")
    roster = read_csv(text, "zoom.us")
    assert roster.header == ZOOM_EXPORT_HEADER.split(",")
    assert roster.inputs[0].email == "ana.lima@example.org"
    assert roster.inputs[0].name == "Ana Lima"
    assert roster.rows[0]["Registration Time"] == "Nov 20, 2026 09:14:02"
    assert roster.rows[0]["Approval Status"] == "approved"


@pytest.mark.parametrize("header,key", [
    ("Email", "email"), (" EMAIL ", "email"), ("E-mail", "email"), ("Email Address", "email"),
    ("\ufeffemail", "email"), ("First Name", "first_name"), ("first  name", "first_name"),
    ("FIRST_NAME", "first_name"), ("LastName", "last_name"), ("Full Name", "name"),
    ("Join URL", "join_url"), ("Registrant ID", "registrant_id"),
    ("Questions & Comments", "questions_&_comments"),
], ids=lambda value: repr(value))
def test_column_key(header, key):
    assert column_key(header) == key


@pytest.mark.parametrize("text,name", [
    ("Email,Name\na@x.org,Ana Lima\n", "Ana Lima"),
    (" EMAIL ; Full Name \na@x.org;Ana Lima\n", "Ana Lima"),
    ("e-mail\tfirst name\tLAST_NAME\na@x.org\tAna\tLima\n", "Ana Lima"),
], ids=["capitalized", "spaced-semicolon", "tab-mixed"])
def test_headers_match_whatever_their_case_and_spacing(text, name):
    roster = read_csv(text, "zoom.us")
    assert [(item.email, item.name) for item in roster.inputs] == [("a@x.org", name)]


def test_european_excel_semicolon_file_with_bom():
    # Excel "CSV UTF-8" on a European locale: BOM, semicolons, CRLF, and ";;" rows at the end.
    data = ("\ufeffemail;first_name;last_name;empresa\r\n"
            "ana.lima@example.org;Ana;Lima;Barro, Lda\r\n"
            "jose@example.org;José;Ñúñez;\r\n"
            ";;;\r\n;;;\r\n").encode("utf-8")
    roster = read_csv(data, "zoom.us")
    assert roster.header == ["email", "first_name", "last_name", "empresa"]
    assert [item.name for item in roster.inputs] == ["Ana Lima", "José Ñúñez"]
    assert roster.rows[0]["empresa"] == "Barro, Lda" and roster.lines == [2, 3]


def test_tab_separated_utf16_file():
    # Excel's "Unicode Text": UTF-16 with a BOM, tabs.
    data = "Email\tFirst Name\tLast Name\r\nana@x.org\tAna\tLima\r\n".encode("utf-16")
    roster = read_csv(data, "zoom.us")
    assert roster.header == ["Email", "First Name", "Last Name"]
    assert roster.inputs[0].name == "Ana Lima"


def test_a_file_not_in_utf8_names_its_line_and_says_what_to_do():
    data = "email;name\r\na@x.org;Ana\r\nj@x.org;José\r\n".encode("cp1252")
    with pytest.raises(InvalidInput) as caught:
        read_csv(data, "zoom.us")
    assert caught.value.message.startswith("line 3: the file is not UTF-8 text (byte 0xe9)")
    assert "CSV UTF-8" in caught.value.message


@pytest.mark.parametrize("text,expected", [
    ("Mail,Name\na@x.org,Ana\n",
     ["no 'email' column", "the columns found are 'Mail', 'Name'",
      "If 'Mail' holds the email addresses"]),
    ("Nome,Correio\nAna,a@x.org\n",
     ["the columns found are 'Nome', 'Correio'", "If 'Correio' holds the email addresses"]),
    ('"email;first_name;last_name"\n"a@x.org;Ana;Lima"\n',
     ["the columns found are 'email;first_name;last_name'", "looks semicolon-separated",
      "each whole line in quotes"]),
    ("a@x.org,Ana Lima\n",
     ["the columns found are 'a@x.org', 'Ana Lima'", "looks like a registrant, not a header"]),
    ("Registration Report\nTopic,ID\nCeramics,857 4606 5433\n\nFirst Name,Last Name,Email\n"
     "Ana,Lima,a@x.org\n",
     ["the columns found are 'Registration Report'", "Line 5 looks like the header: delete the "
                                                     "4 line(s) above it"]),
    ("email,company\na@x.org,Clay\n",
     ["needs 'name' or 'first_name'/'last_name'", "the columns found are 'email', 'company'"]),
    ("Email,Nome Completo\na@x.org,Ana\n",
     ["the columns found are 'Email', 'Nome Completo'", "If 'Nome Completo' holds the names"]),
    ("Email,E-mail,Name\na@x.org,a@x.org,Ana\n", ["the columns 'Email' and 'E-mail' both mean "
                                                  "email"]),
    ("\n\n", ["the file is empty"]),
], ids=["mail", "email-values", "quoted-semicolon-lines", "no-header", "zoom-report-preamble", "no-name",
        "foreign-name-column", "two-email-columns", "empty"])
def test_an_unusable_header_names_the_columns_found_and_the_cause(text, expected):
    with pytest.raises(InvalidInput) as caught:
        read_csv(text, "zoom.us")
    for fragment in expected:
        assert fragment in caught.value.message
    assert caught.value.details == []


def test_every_bad_line_is_named_and_blank_lines_are_skipped():
    lines = ["email,name"] + [f"bad{n},Someone" for n in range(120)] + ["", "ok@x.org,Ok", ",,"]
    with pytest.raises(InvalidInput) as caught:
        read_csv("\n".join(lines) + "\n", "zoom.us")
    assert [detail["line"] for detail in caught.value.details] == list(range(2, 122))
    assert caught.value.message.startswith("120 of 121 line(s) are bad; the file is refused")


def test_fault_lines_name_each_line_once_up_to_the_cap():
    details = [{"line": 2, "field": "email", "message": "email is empty"},
               {"line": 2, "field": "name", "message": "name is empty"},
               *({"line": n, "message": "not valid CSV"} for n in range(3, 63))]
    texts = fault_lines(details)
    assert texts[0] == "line 2: email: email is empty; name: name is empty"
    assert texts[1:50] == [f"line {n}: not valid CSV" for n in range(3, 52)]
    assert texts[50:] == ["and 11 more bad line(s)"]
    assert fault_lines(details[:3]) == ["line 2: email: email is empty; name: name is empty",
                                        "line 3: not valid CSV"]


def test_trailing_empty_fields_are_not_extra_fields():
    roster = read_csv("email,name\na@x.org,Ana,,\n", "zoom.us")
    assert roster.rows == [{"email": "a@x.org", "name": "Ana"}]


@pytest.mark.parametrize("email, reason", [
    ("\u212aate@example.org", "stand for others"),        # Kelvin sign: lower() gives kate@
    ("\uff4bate@example.org", "stand for others"),        # full-width k
    ("kate@ex\u00e4mple.org", "non-ASCII"),               # a homograph domain
], ids=["kelvin-sign", "full-width", "unicode-domain"])
def test_lookalike_emails_are_refused(email, reason):
    """Finding 9: an address that folds into another person's cannot be registered."""
    checked, faults = check_registrant({"email": email, "name": "K"}, "zoom.us")
    assert checked is None and reason in faults[0]["message"]


def test_distinct_real_addresses_stay_distinct():
    from helpers import ID_KEY

    from joingate.signing import registrant_id_for

    assert registrant_id_for("Kate@Example.org", ID_KEY) == registrant_id_for("kate@example.org",
                                                                            ID_KEY)
    assert registrant_id_for("stra\u00dfe@example.org", ID_KEY) != registrant_id_for(
        "strasse@example.org", ID_KEY)
    assert check_registrant({"email": "jos\u00e9@example.org", "name": "J"}, "zoom.us")[0]
