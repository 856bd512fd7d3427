"""The pages in a real browser (Debian's Chromium, driven by Playwright): the confirm page's
button claims the link and the browser lands at Zoom (the Content-Security-Policy's form-action
admits the redirect), the device cookie brings the same browser back, another browser profile is
refused, the page fits a phone, and the organizer's auto-submit works under the CSP. Then every
page under axe-core (WCAG 2.2 AA) in two languages at two sizes, the keyboard claim and its
focus ring, font scaling, the registrant's local time and too_early's reload."""

from __future__ import annotations

import base64
import dataclasses
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from helpers import MEETING_ID, NOW, START, Clock, make_app, serving
from page_cases import (
    CLOSES,
    EMAIL,
    EXPECTED_STATUS,
    OPENS,
    PAGE_CASES,
    Options,
    World,
    applies,
    set_server_support,
)
from stack import free_port
from werkzeug.serving import make_server

from joingate.roster import RegistrantInput
from joingate.views import link_status


@pytest.fixture
def served():
    """joingate on a real HTTP server on loopback, with one meeting and two links."""
    with serving() as (app, _base):
        service = app.extensions["joingate"]
        service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                             pwd="Q0x3", support="help@example.org")
        links = service.meetings.issue_links(MEETING_ID, [
            RegistrantInput("ana@example.org", "Zoë Lima"), RegistrantInput("ben@example.org", "Ben")])
        yield service, [link.url for link in links]


def test_a_second_browser_that_only_opens_a_bound_link_is_a_second_device(browser, served):
    """The refused open is recorded: links show counts it, the report flags second_device."""
    service, (ana, _) = served
    first = browser.new_context()
    zoom_stub(first)
    page = first.new_page()
    page.goto(ana)
    page.click("button[type=submit]")
    page.wait_for_url("https://app.zoom.us/**")
    assert service.presence.report(MEETING_ID)["registrants"][0]["flags"] == []
    second = browser.new_context().new_page()
    response = second.goto(ana)                       # opens only: no button pressed
    assert response.status == 409
    status = link_status(service, MEETING_ID, "ana@example.org")
    assert status["refused"] == 1 and status["claims"] == 1
    assert [entry["kind"] for entry in status["history"]] == ["open", "claim", "refused_open"]
    assert "HeadlessChrome" in status["history"][-1]["user_agent"]
    row = service.presence.report(MEETING_ID)["registrants"][0]
    assert row["flags"] == ["second_device"]


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
    assert page.is_visible("text=Contact the organizer: help@example.org.")
    assert page.get_attribute("a[href^='mailto:']", "href") == "mailto:help@example.org"
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
    assert "already in use in another browser" in stranger.inner_text("main")
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


# Every page, as registrants meet it: axe-core (WCAG 2.2 AA) in two languages at desktop and
# phone sizes, light and dark; the keyboard claim; text that follows the user's font size; the
# registrant's own local time; too_early's reload; screenshots for the README.

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
VIEWS = {"desktop": {"viewport": {"width": 1280, "height": 800}, "color_scheme": "dark"},
         "phone": {"viewport": {"width": 360, "height": 640}, "is_mobile": True,
                   "has_touch": True, "device_scale_factor": 2, "color_scheme": "light"}}
LANGUAGES = {"en": "en-GB", "pt": "pt-BR"}
A11Y_OPTIONS = Options(rejoin=False, max_devices=1, contact="mixed", timezone="Europe/Lisbon")
# The move pages (changing devices by a mailed code), reached by pressing their buttons.
MOVE_PAGES = {"move_sent": 200, "move_code_error": 400, "move_refused": 403}
PAGES_SEEN = list(PAGE_CASES) + ["unavailable", *MOVE_PAGES]
MEETING_PAGES = {"confirm", "too_early", "used_elsewhere", "used_here", "revoked", "superseded",
                 "expired", *MOVE_PAGES}


@pytest.fixture
def axe_path() -> Path:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail("axe-core is not installed (.ci/run runs npm ci --prefix tests)")
        pytest.skip("axe-core is not installed: npm ci --prefix tests")
    return AXE


@dataclass
class Site:
    world: World
    base: str           # joingate
    down: str           # joingate whose Redis does not answer
    zoom: str           # the stand-in for the Zoom web client (ZOOM_WEB_HOST)
    landed: list[str]   # paths the browser reached there


@pytest.fixture
def site():
    """joingate on a real HTTP server (the world's app); a second one whose Redis is a closed
    port, so that every request there finds storage down (the unavailable page); and a local
    stand-in for the Zoom web client as ZOOM_WEB_HOST (a keyboard-started navigation is not
    always seen by Playwright's request routing, so no route stands in for Zoom here)."""
    clock = Clock(NOW)
    landed: list[str] = []

    def zoom(environ, start_response):
        landed.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<p>zoom stub</p>"]

    zoom_server = make_server("127.0.0.1", 0, zoom, threaded=True)
    zoom_base = f"http://127.0.0.1:{zoom_server.server_port}"
    app = make_app("memory://", clock, PUBLIC_URL="http://127.0.0.1:0", ZOOM_WEB_HOST=zoom_base)
    down = make_app(f"redis://127.0.0.1:{free_port()}/0", clock, REDIS_TIMEOUT=0.5,
                    SUPPORT=A11Y_OPTIONS.support)
    servers = [zoom_server] + [make_server("127.0.0.1", 0, each, threaded=True)
                               for each in (app, down)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Site(World(app, clock), *[f"http://127.0.0.1:{server.server_port}"
                                    for server in servers[1:]], zoom_base, landed)
    for server in servers:
        server.shutdown()


def set_mail(app, on: bool) -> None:
    """Mail settings on or off from now on (the self-service move needs them; nothing is mailed
    here: no worker runs). Like set_server_support, a changed copy of the frozen settings."""
    state = app.extensions["joingate"]
    state.config = dataclasses.replace(state.config,
                                       smtp_url="smtp://127.0.0.1:9" if on else "",
                                       mail_from="classes@example.org" if on else "")
    app.config["JOINGATE"] = state.config


def open_move_page(world: World, page, case_url: str, case, name: str) -> int:
    """From the 409 page press "Use this device instead" (move_sent); then a code too short
    (move_code_error: the page's alert), or a code from a browser that lost its cookie
    (move_refused: "Send a new code"). Returns the status of the page shown."""
    set_mail(world.app, True)
    try:
        world.fill(case)
        page.goto(case_url)
        with page.expect_navigation() as shown:
            page.click("form[action$='/move'] button")
        if name != "move_sent":
            if name == "move_refused":
                page.context.clear_cookies()
            page.fill("input[name=code]", "12" if name == "move_code_error" else "123456")
            with page.expect_navigation() as shown:
                page.click("button.button")
    finally:
        set_mail(world.app, False)
    return shown.value.status


def open_variant(site: Site, page, name: str) -> None:
    """Bring the gate to show page variant ``name`` (as PAGE_CASES does) and open it in the
    browser ``page``. The world's clock is moved where the variant needs it; the caller
    resets it."""
    world, base, down = site.world, site.base, site.down
    world.service.store.redis.delete(f"{world.service.store.keys.prefix}:badtok:127.0.0.1")
    case = world.case(A11Y_OPTIONS, topic="Evening ceramics, week 3")
    url = base + case.path
    if name == "too_early":
        world.at(OPENS - timedelta(minutes=5))
    elif name == "expired":
        world.at(CLOSES + timedelta(seconds=1))
    elif name == "used_elsewhere":
        world.fill(case)
    elif name == "used_here":
        page.goto(url)
        page.click("button")
        page.wait_for_url(f"{site.zoom}/**")
    elif name == "revoked":
        world.service.meetings.manage_link("revoke", case.meeting_id, EMAIL)
    elif name == "superseded":
        world.service.meetings.manage_link("reissue", case.meeting_id, EMAIL)
    elif name == "invalid":
        url = url[:-6]
    elif name == "invalid_signed":
        token = world.service.signer.link_token("12345678901", "0123456789abcdef", 1)
        url = f"{base}/j/{token}"
    elif name == "rate_limited":
        set_server_support(world.app, A11Y_OPTIONS.support)
        for _ in range(world.service.config.invalid_token_limit):
            requests.get(f"{base}/j/not-a-token", timeout=10)
        url = f"{base}/j/not-a-token"
    elif name == "unavailable":
        url = down + case.path
    elif name in MOVE_PAGES:
        status = open_move_page(world, page, url, case, name)
        assert status == MOVE_PAGES[name] and page.locator("main").count() == 1, (name, url)
        return
    if name in ("invalid", "invalid_signed"):
        set_server_support(world.app, A11Y_OPTIONS.support)
    response = page.goto(url)
    expected = {**EXPECTED_STATUS, "unavailable": 503}[name]
    assert response.status == expected and page.locator("main").count() == 1, (name, url)


def axe_violations(page) -> list[str]:
    results = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                            WCAG_22_AA)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[node['target'] for node in v['nodes']][:3]}" for v in results["violations"]]


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_page_passes_axe(browser, site, axe_path, view, language):
    """Zero axe-core violations (WCAG 2.2 A/AA and best practice) on every page; nothing scrolls
    sideways at phone width (320 CSS px is 1280 px at 400% zoom); the page is in the language
    and its title names the class. At phone size the confirm and used_elsewhere pages are
    saved under docs/screenshots/ for the README."""
    world = site.world
    context = browser.new_context(locale=LANGUAGES[language], timezone_id="America/Sao_Paulo",
                                  **VIEWS[view])
    context.add_init_script(path=str(axe_path))      # not a page script: the CSP stays as is
    page = context.new_page()
    failures = {}
    try:
        for name in PAGES_SEEN:
            if not applies(name, A11Y_OPTIONS) and name != "unavailable":
                continue
            try:
                open_variant(site, page, name)
                found = axe_violations(page)
                if found:
                    failures[name] = found
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= VIEWS[view]["viewport"]["width"], f"{name}: scrolls sideways"
                assert page.get_attribute("html", "lang") == LANGUAGES[language], name
                if name in MEETING_PAGES:
                    assert page.title().endswith(" · Evening ceramics, week 3"), page.title()
                if view == "phone" and name in ("confirm", "used_elsewhere"):
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}.png"),
                                    full_page=True)
            finally:
                world.reset_clock()
    finally:
        context.close()
    assert failures == {}, failures


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""
    def luminance(color: str) -> float:
        red, green, blue = (int(float(part)) for part in
                            color[color.index("(") + 1:color.index(")")].split(",")[:3])
        def channel(value: int) -> float:
            value /= 255
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_keyboard_alone_claims_with_a_visible_focus_ring(browser, site, scheme):
    """Tab reaches the button after the binding note, its focus ring is at least 3:1 against
    the page and against the button, and Enter claims: the browser lands at Zoom."""
    world = site.world
    case = world.case(Options())
    context = browser.new_context(color_scheme=scheme, viewport={"width": 360, "height": 640})
    page = context.new_page()
    page.goto(site.base + case.path)
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "BUTTON":
            break
    else:
        pytest.fail("Tab never reached the Join button")
    ring = page.evaluate("""() => {
        const button = document.activeElement, style = getComputedStyle(button);
        const note = document.getElementById('binding-note');
        return {style: style.outlineStyle, width: parseFloat(style.outlineWidth),
                color: style.outlineColor, button: style.backgroundColor,
                page: getComputedStyle(document.documentElement).backgroundColor,
                noteFirst: !!(note.compareDocumentPosition(button) & Node.DOCUMENT_POSITION_FOLLOWING)};
    }""")
    assert ring["style"] == "solid" and ring["width"] >= 3 and ring["noteFirst"], ring
    assert contrast(ring["color"], ring["page"]) >= 3, ring
    assert contrast(ring["color"], ring["button"]) >= 3, ring
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.zoom}/**")
    assert f"/wc/{case.meeting_id}/join" in site.landed
    assert link_status(world.service, case.meeting_id, EMAIL)["claims"] == 1
    context.close()


def test_text_follows_the_users_font_size(browser, site):
    """Sizes are in rem/em: doubling the root font size (a larger browser font) doubles the
    sentences and the button's text, not only the headings."""
    world = site.world
    case = world.case(Options())
    context = browser.new_context()
    page = context.new_page()
    page.goto(site.base + case.path)
    sizes = "() => [...document.querySelectorAll('main p, main button, h1')].map(e => " \
            "parseFloat(getComputedStyle(e).fontSize))"
    before = page.evaluate(sizes)
    page.evaluate("document.documentElement.style.fontSize = '32px'")
    after = page.evaluate(sizes)
    assert all(abs(big - 2 * small) < 0.5 for small, big in zip(before, after)), (before, after)
    context.close()


@pytest.mark.parametrize("zone,shown", [("America/Sao_Paulo", True), ("Europe/Lisbon", False)],
                         ids=["elsewhere", "same-zone"])
def test_the_registrants_own_local_time(browser, site, zone, shown):
    """Meeting in Lisbon (18:00), browser in Sao Paulo: the page adds the registrant's own time
    (15:00) in the page's language; in the meeting's own zone it adds nothing; without script
    the meeting's zone alone is shown."""
    world = site.world
    case = world.case(Options(timezone="Europe/Lisbon"))
    context = browser.new_context(locale="pt-BR", timezone_id=zone)
    page = context.new_page()
    page.goto(site.base + case.path)
    starts = page.inner_text("[data-claim=starts]")
    assert "18:00 (horário de Lisboa)" in starts
    assert ("(seu horário:" in starts and "15:00" in starts) is shown, starts
    context.close()
    plain = browser.new_context(locale="pt-BR", timezone_id=zone, java_script_enabled=False)
    page = plain.new_page()
    page.goto(site.base + case.path)
    assert page.inner_text("[data-claim=starts]").endswith("18:00 (horário de Lisboa).")
    plain.close()


@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_too_early_reloads_itself_at_opening_time_and_claims_nothing(browser, site, script):
    world = site.world
    case = world.case(Options())
    world.at(OPENS - timedelta(seconds=1))
    context = browser.new_context(java_script_enabled=script)
    methods = []
    page = context.new_page()
    page.on("request", lambda request: methods.append(request.method)
            if "/j/" in request.url else None)
    try:
        page.goto(site.base + case.path)
        assert page.get_attribute("main", "data-page") == "too_early"
        world.at(OPENS)
        page.wait_for_selector("main[data-page=confirm]", timeout=15000)
    finally:
        world.reset_clock()
    assert methods and set(methods) == {"GET"}
    status = link_status(world.service, case.meeting_id, EMAIL)
    assert status["claims"] == 0 and status["devices"] == 0
    context.close()
