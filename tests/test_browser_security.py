"""Findings 6 and 7 of the security review (issue 13) in a real browser (Debian's Chromium,
Playwright): where a claim's redirect really lands. Every request that leaves loopback is
intercepted (nothing leaves the machine) and recorded, so a test sees each host the browser
tried to reach, and each navigation the Content-Security-Policy blocked (it never arrives)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from helpers import MEETING_ID, START, csp_violations, serving

from joingate.roster import RegistrantInput

BACKSLASH_URL = "https://evil.example\\.zoom.us/j/1?pwd=x"



@pytest.fixture
def served():
    """joingate on a real HTTP server on loopback, one meeting redirecting to registrants' own
    join URLs."""
    with serving() as (app, base):
        service = app.extensions["joingate"]
        service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                             pwd="Q0x3", target="registrant")
        yield service, base


def outside_world(context, pages: dict[str, str] | None = None) -> list[str]:
    """Answer every request that leaves loopback with a stub page (or with ``pages[host]``),
    and record its URL."""
    reached: list[str] = []

    def answer(route):
        url = route.request.url
        host = urlsplit(url).hostname
        if host == "127.0.0.1":
            return route.continue_()
        reached.append(url)
        route.fulfill(status=200, content_type="text/html",
                      body=(pages or {}).get(host, "<p>stub</p>"))

    context.route("**/*", answer)
    return reached


def test_finding_6_a_bad_join_url_never_leads_the_browser_off_zoom(browser, served):
    """A registrant whose stored join_url holds a backslash (stored by an older version; no path
    stores one now: test_security_findings.py::test_finding_6_no_path_stores_...) is claimed by
    the confirm page's button and by a cross-site auto-POST (no CSP of joingate's applies
    there): both land on Zoom's web client, never on evil.example."""
    service, base = served
    good, bad, bad_too = service.meetings.issue_links(MEETING_ID, [
        RegistrantInput("ana@example.org", "Ana", "anaZoomId",
                        "https://us06web.zoom.us/w/85746065432?tk=ana.tk&pwd=Q0x3"),
        RegistrantInput("mal@example.org", "Mal"), RegistrantInput("mo@example.org", "Mo")])
    store = service.store
    for link in (bad, bad_too):
        store.redis.hset(store.keys.registrant(MEETING_ID, link.registrant_id), "join_url",
                         BACKSLASH_URL)

    context = browser.new_context()
    attacker = (f"<form method='post' action='{bad.url}'></form>"
                "<script>document.forms[0].submit()</script>")
    reached = outside_world(context, {"attacker.example": attacker})
    page = context.new_page()
    page.goto("http://attacker.example/")                      # cross-site auto-POST
    page.wait_for_url("https://app.zoom.us/**")
    second = browser.new_context()
    reached_too = outside_world(second)
    own = second.new_page()
    own.goto(bad_too.url)                                       # the confirm page's button
    own.click("button")
    own.wait_for_url("https://app.zoom.us/**")
    third = browser.new_context()
    reached_good = outside_world(third)
    valid = third.new_page()
    violations = csp_violations(valid)
    valid.goto(good.url)
    valid.click("button")
    valid.wait_for_url("https://us06web.zoom.us/**")

    hosts = {urlsplit(url).hostname for url in reached + reached_too + reached_good}
    assert hosts == {"attacker.example", "app.zoom.us", "us06web.zoom.us"}
    assert reached_good == ["https://us06web.zoom.us/w/85746065432?tk=ana.tk&pwd=Q0x3"]
    assert violations == []


@pytest.mark.parametrize("join_url", [
    "https://zoom.us/w/85746065432?tk=bare.tk&pwd=Q0x3",
    "https://us06web.zoom.us/w/85746065432?tk=sub.tk&pwd=Q0x3",
], ids=["bare-domain", "subdomain"])
def test_finding_7_the_csp_admits_every_join_url_validation_accepts(browser, served, join_url):
    """The confirm page's form-action must admit the redirect to any join URL joingate accepts:
    Chromium applies form-action to the redirect after the POST, after the claim is spent."""
    service, _ = served
    link = service.meetings.issue_links(MEETING_ID, [
        RegistrantInput("ana@example.org", "Ana", "anaZoomId", join_url)])[0]
    context = browser.new_context()
    reached = outside_world(context)
    page = context.new_page()
    violations = csp_violations(page)
    page.goto(link.url)
    page.click("button")
    page.wait_for_url(join_url.split("?")[0] + "**", timeout=10_000)
    assert reached == [join_url]                  # the browser went there: nothing blocked it
    assert violations == []
