"""`joingate zoom harden` against the fake Zoom on loopback (a real HTTP server): the table on an
open meeting, --apply (the PATCH body Zoom received, then a verifying read), an already hardened
meeting, settings Zoom keeps, Zoom's errors (429 with Retry-After, 404), no credentials. The
client's token cache lives in Redis: every test runs on the embedded store and on redis-server."""

from __future__ import annotations

import re
import time

import pytest
from fake_zoom_api import FakeZoom
from helpers import MEETING_ID, make_app

from joingate.zoom.client import ZoomClient, ZoomError

HARDENED = {"approval_type": 1, "registrants_confirmation_email": False,
            "allow_multiple_devices": False, "meeting_authentication": True}


@pytest.fixture
def fake():
    server = FakeZoom()
    server.add_meeting(MEETING_ID)
    yield server
    server.close()


@pytest.fixture
def zoom_app(app, store_url, clock, fake):
    return make_app(store_url, clock, like=app, **fake.settings())


@pytest.fixture
def zrunner(zoom_app):
    from click.testing import CliRunner

    from joingate.cli import main

    def invoke(args, app=zoom_app):
        return CliRunner().invoke(main, args, obj=app, catch_exceptions=False)
    return invoke


def row(output: str, setting: str) -> str:
    """The table line of ``setting`` (its first line)."""
    found = [line for line in output.splitlines() if line.startswith(setting + " ")]
    assert len(found) == 1, f"no single row {setting!r} in:\n{output}"
    return found[0]


def cells(line: str) -> list[str]:
    """The setting, now, wanted and state cells of a row (columns are 2+ spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def api_calls(fake: FakeZoom) -> list[tuple[str, str]]:
    return [(method, path) for method, path in fake.calls]


def test_open_meeting_lists_every_setting_and_exits_1(fake, zrunner):
    result = zrunner(["zoom", "harden", MEETING_ID])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert cells(row(out, "approval_type"))[:4] == [
        "approval_type", "2 (no registration)", "1 (manual approval)", "OPEN"]
    assert cells(row(out, "registrants_confirmation_email"))[:4] == [
        "registrants_confirmation_email", "on", "off", "OPEN"]
    assert cells(row(out, "allow_multiple_devices"))[:4] == [
        "allow_multiple_devices", "on", "off", "OPEN"]
    assert cells(row(out, "meeting_authentication"))[:4] == [
        "meeting_authentication", "off", "on", "OPEN"]
    assert cells(row(out, "passcode")) == ["passcode", "set", "-", "info"]
    assert cells(row(out, "waiting_room")) == ["waiting_room", "off", "-", "info"]
    assert "plain" not in out and "Q0x3enc" not in out          # never the passcode itself
    text = " ".join(out.split())                                # the why lines, unwrapped
    assert "Zoom's confirmation email carries the registrant's join link" in text
    assert "every registrant needs a Zoom account" in text       # what authentication costs
    assert "4 setting(s) open" in out and f"zoom harden {MEETING_ID} --apply" in out
    assert api_calls(fake) == [("GET", f"/v2/meetings/{MEETING_ID}")]   # read only
    assert fake.patches == []


def test_apply_patches_the_open_settings_then_verifies_and_exits_0(fake, zrunner):
    result = zrunner(["zoom", "harden", MEETING_ID, "--apply"])
    assert result.exit_code == 0, result.output
    assert fake.patches == [(MEETING_ID, {"settings": HARDENED})]
    assert api_calls(fake) == [("GET", f"/v2/meetings/{MEETING_ID}"),
                               ("PATCH", f"/v2/meetings/{MEETING_ID}"),
                               ("GET", f"/v2/meetings/{MEETING_ID}")]     # re-read verified
    stored = fake.meetings[MEETING_ID]["settings"]
    assert {name: stored[name] for name in HARDENED} == HARDENED
    for setting in HARDENED:
        assert cells(row(result.stdout, setting))[3] == "ok"
    assert f"meeting {MEETING_ID} is hardened" in result.stdout
    again = zrunner(["zoom", "harden", MEETING_ID])
    assert again.exit_code == 0 and len(fake.patches) == 1


def test_apply_sends_only_what_is_still_open(fake, zrunner):
    fake.meetings[MEETING_ID]["settings"].update(approval_type=1, allow_multiple_devices=False)
    result = zrunner(["zoom", "harden", MEETING_ID, "--apply"])
    assert result.exit_code == 0, result.output
    assert fake.patches == [(MEETING_ID, {"settings": {"registrants_confirmation_email": False,
                                                       "meeting_authentication": True}})]


def test_already_hardened_meeting_exits_0_without_a_patch(fake, zrunner):
    fake.meetings[MEETING_ID]["settings"].update(HARDENED)
    for args in (["zoom", "harden", MEETING_ID], ["zoom", "harden", MEETING_ID, "--apply"]):
        result = zrunner(args)
        assert result.exit_code == 0, result.output
        assert f"meeting {MEETING_ID} is hardened" in result.stdout
    assert fake.patches == []
    assert {method for method, _ in fake.calls} == {"GET"}


def test_a_setting_zoom_keeps_is_reported_open_after_apply(fake, zrunner):
    fake.locked_settings.add("meeting_authentication")      # e.g. locked by an account admin
    result = zrunner(["zoom", "harden", MEETING_ID, "--apply"])
    assert result.exit_code == 1
    assert fake.patches == [(MEETING_ID, {"settings": HARDENED})]
    assert cells(row(result.stdout, "meeting_authentication"))[:4] == [
        "meeting_authentication", "off", "on", "OPEN"]
    assert "still open after the change" in result.stdout
    assert cells(row(result.stdout, "approval_type"))[3] == "ok"


def test_registration_on_an_instant_meeting_is_explained(fake, zrunner):
    fake.meetings[MEETING_ID]["type"] = 1
    result = zrunner(["zoom", "harden", MEETING_ID])
    assert result.exit_code == 1
    assert "this one is type 1" in " ".join(result.stdout.split())


def test_429_with_retry_after_is_waited_out(fake, zrunner):
    fake.faults.append((429, {"Retry-After": "1"}, {"code": 429, "message": "Too many"}))
    started = time.monotonic()
    result = zrunner(["zoom", "harden", MEETING_ID])
    assert time.monotonic() - started >= 1.0
    assert result.exit_code == 1 and "approval_type" in result.stdout   # the table, after all
    assert api_calls(fake) == [("GET", f"/v2/meetings/{MEETING_ID}")] * 2


def test_unknown_meeting_is_zooms_404_message_and_exit_1(fake, zrunner):
    result = zrunner(["zoom", "harden", "99999999999", "--apply"])
    assert result.exit_code == 1
    assert "Zoom answered 404: Meeting does not exist (code 3001)" in result.stderr
    assert fake.patches == []


def test_without_credentials_nothing_is_sent_and_the_message_names_them(
        app, store_url, clock, fake, zrunner):
    bare = make_app(store_url, clock, like=app, ZOOM_API_URL=fake.api_url,
                    ZOOM_OAUTH_URL=fake.oauth_url, ZOOM_CLIENT_ID="fake-client")
    result = zrunner(["zoom", "harden", MEETING_ID, "--apply"], app=bare)
    assert result.exit_code == 1
    assert ("Zoom credentials are not set: JOINGATE_ZOOM_ACCOUNT_ID, "
            "JOINGATE_ZOOM_CLIENT_SECRET") in result.stderr
    assert "Zoom answered" not in result.output
    assert fake.oauth_calls == 0 and fake.calls == []


# The fake's meeting update behaves as Zoom's: unknown fields ignored, wrong types refused.

def test_meeting_update_ignores_unknown_fields_and_refuses_wrong_types(zoom_app, fake):
    service = zoom_app.extensions["joingate"]
    client = ZoomClient(service.config, service.store)
    client.update_meeting_settings(MEETING_ID, {"approval_type": 0, "no_such_setting": 7})
    assert fake.meetings[MEETING_ID]["settings"]["approval_type"] == 0
    assert "no_such_setting" not in fake.meetings[MEETING_ID]["settings"]
    for bad in ({"approval_type": "manual"}, {"approval_type": 5},
                {"allow_multiple_devices": "false"}, {"meeting_authentication": 1}):
        with pytest.raises(ZoomError) as caught:
            client.update_meeting_settings(MEETING_ID, bad)
        assert caught.value.status == 400 and caught.value.code == 300
    assert fake.meetings[MEETING_ID]["settings"]["approval_type"] == 0      # unchanged
    assert fake.meetings[MEETING_ID]["settings"]["allow_multiple_devices"] is True
