"""The pages in a real browser (Debian's Chromium, driven by Playwright): the confirm page's
button claims the link and the browser lands at Zoom (the Content-Security-Policy's form-action
admits the redirect), the device cookie brings the same browser back, another browser profile is
refused, the page fits a phone, and the organizer's auto-submit works under the CSP."""

from __future__ import annotations

import base64
import os
import shutil
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from joingate.views import link_status
from werkzeug.serving import make_server

from helpers import MEETING_ID, START, Clock, NOW, make_app
from joingate.roster import RegistrantInput

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def served():
    """joingate on a real HTTP server on loopback, with one meeting and two links."""
    # The port is known once the server listens; the app (whose links carry it) comes after.
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [], threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app = make_app("memory://", Clock(NOW), PUBLIC_URL=base)
    server.app = app
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                        pwd="Q0x3", support="help@example.org")
    links = service.meetings.issue_links(MEETING_ID, [RegistrantInput("ana@example.org", "Zoë Lima"),
                                             RegistrantInput("ben@example.org", "Ben")])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service, [link.url for link in links]
    server.shutdown()


def zoom_stub(context):
    """Nothing leaves the machine: the Zoom web client is answered by a stub page."""
    landed = []

    def fulfil(route):
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>zoom stub</p>")

    context.route("https://app.zoom.us/**", fulfil)
    return landed


def test_button_claims_and_the_browser_lands_at_zoom(browser, served):
    service, (ana, _) = served
    context = browser.new_context()
    landed = zoom_stub(context)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(ana)
    assert "You will join as" in page.inner_text("main") and "Zoë Lima" in page.inner_text("main")
    assert page.is_visible("text=Need help? Contact help@example.org.")
    page.click("button")
    page.wait_for_url("https://app.zoom.us/**")
    query = parse_qs(urlsplit(landed[0]).query)
    assert base64.b64decode(query["un"][0]).decode() == "Zoë Lima" and query["pwd"] == ["Q0x3"]
    assert violations == []

    # The same browser comes back (rejoin after a dropped connection).
    page.goto(ana)
    page.click("button")
    page.wait_for_url("https://app.zoom.us/**")
    assert len(landed) == 2

    # Another browser profile is another device.
    other = browser.new_context()
    zoom_stub(other)
    stranger = other.new_page()
    stranger.goto(ana)
    assert "already in use on another device" in stranger.inner_text("main")
    assert link_status(service, MEETING_ID, "ana@example.org")["claims"] == 2


def test_the_page_fits_a_phone(browser, served):
    _, (_, ben) = served
    context = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    page = context.new_page()
    page.goto(ben)
    box = page.locator("button").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_auto_submit_runs_under_the_csp(browser, served):
    service, (_, ben) = served
    service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                        auto_submit=1)
    context = browser.new_context()
    landed = zoom_stub(context)
    page = context.new_page()
    page.goto(ben)
    page.wait_for_url("https://app.zoom.us/**")
    assert landed and "/wc/85746065432/join" in landed[0]
