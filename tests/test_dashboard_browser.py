"""The organizer's dashboard in a real browser (Debian's Chromium, driven by Playwright), against
joingate on a real HTTP server on loopback: sign in; a registrant's claim in another browser
appears on the meeting page without a reload, and after a reload with JavaScript off; a reset
lets the refused device in; a form without its CSRF token is refused; a read session has no
action button and no link; the timeline of a known event sequence has the right bars; the pages
fit a phone and break no Content-Security-Policy rule. The README's screenshots come from here
(docs/dashboard.png, docs/dashboard-timeline.png)."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dashboard_events import (
    EXPECTED_BARS,
    EXPECTED_REFUSED,
    EXPECTED_ROWS,
    EXPECTED_SHARED_OVERLAPS,
    REFUSED_EMAIL,
    REGISTRANTS,
    deliveries,
)
from helpers import MEETING_ID, make_app
from stack import free_port
from webhook_events import signed
from werkzeug.serving import make_server

from joingate.roster import RegistrantInput

DOCS = Path(__file__).resolve().parent.parent / "docs"
SVG = "{http://www.w3.org/2000/svg}"
LIVE_WAIT = 15_000          # ms: the page polls every 2 s



class Served:
    """joingate on loopback on the real clock (the gate's events carry Redis's time), with a
    manage and a read token."""

    def __init__(self, start: float) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.app = make_app("memory://", time.time, PUBLIC_URL=self.base)
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.state = self.app.extensions["joingate"]
        self.state.meetings.add(MEETING_ID, topic="Evening ceramics", start=int(start),
                                duration=90, pwd="Q0x3")
        self.manage_token, _ = self.state.tokens.create("organizer", "manage")
        self.read_token, _ = self.state.tokens.create("assistant", "read")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def link(self, email: str) -> str:
        registrant = self.state.meetings.registrant(MEETING_ID, email)
        return self.state.meetings.link_url(MEETING_ID, registrant.id, registrant.version)

    def rid(self, email: str) -> str:
        return self.state.meetings.registrant(MEETING_ID, email).id

    def deliver(self, body: dict) -> None:
        raw, headers = signed(body, int(time.time()))
        answer = self.app.test_client().post("/webhooks/zoom", data=raw, headers=headers)
        assert answer.status_code == 200


@pytest.fixture
def served():
    """A meeting starting in five minutes (its links open now) with four registrants."""
    site = Served(time.time() + 5 * 60)
    site.state.meetings.issue_links(MEETING_ID, [
        RegistrantInput("dora@example.org", "Dora Maar"),
        RegistrantInput("eve@example.org", "Eve Arnold"),
        RegistrantInput("fay@example.org", "Fay Godwin"),
        RegistrantInput("gus@example.org", "Gus Van Sant")])
    yield site
    site.server.shutdown()


@pytest.fixture
def sequence():
    """The meeting started 45 minutes ago, with dashboard_events.SEQUENCE delivered and Carol's
    link refused on a second device (done by the test, in a browser)."""
    start = time.time() - 45 * 60
    site = Served(start)
    site.state.meetings.issue_links(MEETING_ID, REGISTRANTS)
    for body in deliveries(start):
        site.deliver(body)
    yield site
    site.server.shutdown()


def zoom_stub(context) -> list[str]:
    """Nothing leaves the machine: the Zoom web client is answered by a stub page."""
    landed: list[str] = []

    def fulfil(route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>zoom stub</p>")

    context.route("https://app.zoom.us/**", fulfil)
    return landed


def watched(page) -> list[str]:
    """Console messages that report a Content-Security-Policy violation."""
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return violations


def sign_in(browser, site: Served, token: str, **options):
    context = browser.new_context(**options)
    page = context.new_page()
    violations = watched(page)
    page.goto(f"{site.base}/organizer/")
    assert page.url.endswith("/organizer/sign-in")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{site.base}/organizer/")
    return page, violations


def claim(browser, link: str):
    """A registrant's browser opens the link and presses Join; returns its page and where it
    landed."""
    context = browser.new_context()
    landed = zoom_stub(context)
    page = context.new_page()
    page.goto(link)
    page.click("button")
    return page, landed


def test_a_claim_appears_live_and_without_javascript_after_a_reload(browser, served):
    from playwright.sync_api import expect

    page, violations = sign_in(browser, served, served.manage_token)
    page.click("text=Evening ceramics")
    page.wait_for_url(f"**/organizer/meetings/{MEETING_ID}")
    row = page.locator(f"tr[data-rid='{served.rid('dora@example.org')}']")
    expect(row.locator("[data-field=status]")).to_have_text("issued")
    expect(page.locator("[data-count=claimed]")).to_have_text("0")
    page.evaluate("window.notReloaded = true")

    registrant, landed = claim(browser, served.link("dora@example.org"))
    registrant.wait_for_url("https://app.zoom.us/**")
    assert landed

    expect(row.locator("[data-field=status]")).to_have_text("claimed", timeout=LIVE_WAIT)
    expect(page.locator("[data-count=claimed]")).to_have_text("1")
    expect(page.locator("#activity")).to_contain_text("dora@example.org claimed the link")
    assert page.evaluate("window.notReloaded") is True
    assert violations == []

    plain, _ = sign_in(browser, served, served.manage_token, java_script_enabled=False)
    plain.goto(f"{served.base}/organizer/meetings/{MEETING_ID}")
    plain_row = plain.locator(f"tr[data-rid='{served.rid('dora@example.org')}']")
    assert plain_row.locator("[data-field=status]").inner_text() == "claimed"
    assert plain.locator("[data-count=claimed]").inner_text() == "1"
    assert "Reload the page to see what changed" in plain.inner_text("#live-status")


def test_a_reset_lets_the_refused_device_in(browser, served):
    from playwright.sync_api import expect

    page, violations = sign_in(browser, served, served.manage_token)
    page.goto(f"{served.base}/organizer/meetings/{MEETING_ID}")
    rid = served.rid("eve@example.org")
    first, landed = claim(browser, served.link("eve@example.org"))
    first.wait_for_url("https://app.zoom.us/**")

    second_context = browser.new_context()
    second_landed = zoom_stub(second_context)
    second = second_context.new_page()
    second.goto(served.link("eve@example.org"))
    assert "already in use in another browser" in second.inner_text("main")
    row = page.locator(f"tr[data-rid='{rid}']")
    expect(row.locator("[data-field=refused]")).to_have_text("1", timeout=LIVE_WAIT)
    expect(row.locator("[data-field=flags]")).to_contain_text("second device")

    page.click(f"#reset-{rid}")
    page.wait_for_url(f"**/registrants/{rid}?done=reset")
    assert "Device binding freed" in page.inner_text("main")
    assert "device binding reset" in page.inner_text("main")
    assert "by dashboard:" in page.inner_text("main")

    second.goto(served.link("eve@example.org"))
    second.click("button")
    second.wait_for_url("https://app.zoom.us/**")
    assert second_landed and landed
    assert violations == []


def test_a_form_without_its_csrf_token_is_refused(browser, served):
    page, _ = sign_in(browser, served, served.manage_token)
    rid = served.rid("fay@example.org")
    first, _landed = claim(browser, served.link("fay@example.org"))
    first.wait_for_url("https://app.zoom.us/**")
    page.goto(f"{served.base}/organizer/meetings/{MEETING_ID}")
    page.evaluate(f"document.querySelector('#reset-{rid}').form"
                  ".querySelector('input[name=csrf]').remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click(f"#reset-{rid}")
    assert answer.value.status == 403
    assert "Refused" in page.inner_text("h1")
    assert served.state.meetings.registrant(MEETING_ID, "fay@example.org").devices


def test_a_read_session_has_no_action_button_and_no_link(browser, served):
    page, violations = sign_in(browser, served, served.read_token)
    page.goto(f"{served.base}/organizer/meetings/{MEETING_ID}")
    assert page.locator("tr[data-rid]").count() == 4
    assert page.locator("form[method=post]").count() == 1          # sign out
    assert page.locator("button").all_inner_texts() == ["Sign out", "Filter"]
    assert "Read only" in page.inner_text("header")
    for path in (f"/organizer/meetings/{MEETING_ID}",
                 f"/organizer/meetings/{MEETING_ID}/registrants/{served.rid('gus@example.org')}",
                 f"/organizer/meetings/{MEETING_ID}/timeline"):
        page.goto(served.base + path)
        html = page.content()
        assert "/j/" not in html and served.read_token not in html, path
        assert page.locator("form[method=post]").count() == 1, path
    assert violations == []


def test_the_timeline_draws_the_known_sequence(browser, sequence):
    carol = sequence.link(REFUSED_EMAIL)
    first, _ = claim(browser, carol)
    first.wait_for_url("https://app.zoom.us/**")
    second = browser.new_context().new_page()
    second.goto(carol)                      # refused: the link is bound to the first browser
    assert "already in use in another browser" in second.inner_text("main")

    page, violations = sign_in(browser, sequence, sequence.manage_token,
                               viewport={"width": 1280, "height": 900})
    page.goto(f"{sequence.base}/organizer/meetings/{MEETING_ID}")
    page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)
    page.goto(f"{sequence.base}/organizer/meetings/{MEETING_ID}/timeline")
    svg = page.locator("svg.timeline")
    assert svg.locator("rect.stay").count() == EXPECTED_BARS
    assert svg.locator("rect.overlap.shared").count() == EXPECTED_SHARED_OVERLAPS
    assert svg.locator("path.refused").count() == EXPECTED_REFUSED
    assert svg.locator("text.label").evaluate_all(          # each label's text, not its <title>
        "labels => labels.map(label => label.firstChild.textContent)") == EXPECTED_ROWS
    page.locator("section").first.screenshot(path=str(DOCS / "dashboard-timeline.png"))

    with page.expect_download() as download:
        page.click("text=Download SVG")
    drawing = ET.parse(download.value.path()).getroot()
    assert sum("stay" in (rect.get("class") or "").split()
               for rect in drawing.iter(f"{SVG}rect")) == EXPECTED_BARS
    assert violations == []


def test_the_dashboard_fits_a_phone(browser, sequence):
    page, _ = sign_in(browser, sequence, sequence.manage_token,
                      viewport={"width": 360, "height": 640}, is_mobile=True)
    for path in ("/organizer/", f"/organizer/meetings/{MEETING_ID}",
                 f"/organizer/meetings/{MEETING_ID}/timeline",
                 f"/organizer/meetings/{MEETING_ID}/add"):
        page.goto(sequence.base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    page.goto(f"{sequence.base}/organizer/meetings/{MEETING_ID}")
    button = page.locator("button[id^=reset-]").first.bounding_box()
    assert button["x"] >= 0 and button["x"] + button["width"] <= 360
    assert button["height"] >= 36            # a finger's target


def test_the_keyboard_reaches_the_roster_actions(browser, served):
    page, _ = sign_in(browser, served, served.manage_token)
    page.goto(f"{served.base}/organizer/meetings/{MEETING_ID}")
    reached = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.name "
                                  "|| document.activeElement.textContent"))
    assert {"q", "status", "flag", "present", f"reset-{served.rid('dora@example.org')}"} <= reached
    for control in ("q", "status", "flag", "present"):
        assert page.locator(f"label[for={control}]").count() == 1
