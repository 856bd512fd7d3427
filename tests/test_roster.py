"""CSV parsing and registrant checks: pure functions."""

from __future__ import annotations

import pytest

from joingate.errors import InvalidInput
from joingate.roster import clean_name, read_csv


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
