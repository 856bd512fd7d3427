"""The registrant's pages, reached the way registrants reach them: through the real gate, for a
meeting with given options (no page is rendered by hand). Shared by test_promises.py (every
sentence against the gate's behaviour), test_i18n.py (every page in every language) and
test_accessibility.py (every page in a real browser).

``World`` holds one app and makes a fresh meeting for each case; ``PAGE_CASES`` names every
page variant and how the gate is brought to show it; ``read_page`` parses a page into its
claimed blocks (each text block of ``<main>`` carries ``data-claim``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from helpers import NOW, START, Clock

from joingate.roster import RegistrantInput

EMAIL = "ana.lima@example.org"
NAME = "Ana Lima"
OPENS = START - timedelta(minutes=15)
CLOSES = START + timedelta(minutes=90 + 60)

# The support contacts a meeting may have, and the links a registrant must be able to tap.
CONTACTS = {
    "none": ("", []),
    "email": ("help@example.org", ["mailto:help@example.org"]),
    "phone": ("+351 912 345 678", ["tel:+351912345678"]),
    "url": ("https://example.org/help", ["https://example.org/help"]),
    "mixed": ("Maria, help@example.org or +55 11 91234-5678.",
              ["mailto:help@example.org", "tel:+5511912345678"]),
}


@dataclass(frozen=True)
class Options:
    """The meeting options a page's promises depend on."""

    rejoin: bool = True
    max_devices: int = 1
    contact: str = "email"          # a key of CONTACTS
    timezone: str = ""

    @property
    def support(self) -> str:
        return CONTACTS[self.contact][0]

    def __str__(self) -> str:
        return (f"rejoin={self.rejoin} max_devices={self.max_devices} contact={self.contact} "
                f"timezone={self.timezone or 'UTC'}")


ALL_OPTIONS = [Options(rejoin, devices, contact, zone) for rejoin, devices, contact, zone in
               itertools.product((True, False), (1, 2), CONTACTS, ("", "America/Sao_Paulo"))]


@dataclass
class Case:
    """One meeting of the world, with one registrant's link."""

    meeting_id: str
    path: str
    options: Options


def set_server_support(app: Flask, contact: str) -> None:
    """The server's ``SUPPORT`` setting from now on (the settings are frozen: a changed copy
    replaces them where the app reads them)."""
    state = app.extensions["joingate"]
    state.config = dataclasses.replace(state.config, support=contact)
    app.config["JOINGATE"] = state.config


class World:
    """One app on one store; every case is a fresh meeting, every browser a fresh cookie jar,
    every rate-limited client a fresh address."""

    def __init__(self, app: Flask, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.service = app.extensions["joingate"]
        self.made = 0

    def case(self, options: Options, language: str = "", topic: str = "") -> Case:
        self.made += 1
        meeting_id = f"9{self.made:010d}"
        self.service.meetings.add(
            meeting_id, topic=topic or f"Evening ceramics {self.made}", start=START, duration=90,
            rejoin=options.rejoin, max_devices=options.max_devices, support=options.support,
            timezone=options.timezone, language=language)
        set_server_support(self.app, "")
        link = self.service.meetings.issue_links(meeting_id, [RegistrantInput(EMAIL, NAME)])[0]
        return Case(meeting_id, link.url.removeprefix(self.service.meetings.public_url), options)

    def browser(self, language: str = "en") -> FlaskClient:
        """A new browser: its own cookie jar and its own client address (so that the invalid
        links one case sends never rate-limit another)."""
        self.made += 1
        client = self.app.test_client()
        client.environ_base.update(HTTP_ACCEPT_LANGUAGE=language,
                                   REMOTE_ADDR=f"198.51.{self.made // 250 % 250}."
                                               f"{self.made % 250 + 1}")
        return client

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)

    def reset_clock(self) -> None:
        self.clock.set(NOW)

    def fill(self, case: Case) -> list[FlaskClient]:
        """Bind the link to as many browsers as it admits; returns them."""
        browsers = []
        for _ in range(case.options.max_devices):
            browser = self.browser()
            assert browser.post(case.path).status_code == 303
            browsers.append(browser)
        return browsers


# Pages

@dataclass
class Page:
    """A rendered page: status, headers, and the blocks of <main> by claim."""

    status: int
    headers: dict[str, str]
    html: str
    lang: str = ""
    title: str = ""
    blocks: list[Block] = field(default_factory=list)
    unclaimed: list[str] = field(default_factory=list)
    meta_refresh: str = ""
    refresh_after: str = ""

    def claims(self) -> list[str]:
        return [block.claim for block in self.blocks]

    def block(self, claim: str) -> Block:
        return next(block for block in self.blocks if block.claim == claim)


@dataclass
class Block:
    claim: str
    tag: str
    text: str = ""
    hrefs: list[str] = field(default_factory=list)
    times: list[dict[str, str]] = field(default_factory=list)


class _Reader(HTMLParser):
    BLOCKS = {"p", "h1", "h2", "h3", "li", "button", "td", "th", "dd", "dt", "label"}

    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.in_main = self.in_title = False
        self.skip = 0
        self.stack: list[Block] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.page.lang = values.get("lang", "")
        elif tag == "title":
            self.in_title = True
        elif tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self.page.meta_refresh = values.get("content", "")
        elif tag == "main":
            self.in_main = True
            self.page.refresh_after = values.get("data-refresh-after", "")
        elif tag in ("script", "style", "noscript"):
            self.skip += 1
        elif self.in_main and tag in self.BLOCKS:
            block = Block(values.get("data-claim", ""), tag)
            self.page.blocks.append(block)
            self.stack.append(block)
        elif self.stack and tag == "a":
            self.stack[-1].hrefs.append(values.get("href", ""))
        elif self.stack and tag == "time":
            self.stack[-1].times.append({"datetime": values.get("datetime", ""),
                                         "zone": values.get("data-zone", "")})

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag == "main":
            self.in_main = False
        elif tag in ("script", "style", "noscript"):
            self.skip -= 1
        elif self.stack and tag == self.stack[-1].tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.page.title += data
        if not self.in_main or self.skip:
            return
        if self.stack:
            self.stack[-1].text += data
        elif data.strip():
            self.page.unclaimed.append(data.strip())


def read_page(response: Any) -> Page:
    html = response.get_data(as_text=True)
    page = Page(response.status_code, dict(response.headers), html)
    _Reader(page).feed(html)
    for block in page.blocks:
        block.text = " ".join(block.text.split())
    page.title = " ".join(page.title.split())
    return page


# How the gate is brought to show each page variant. Each takes the world, the options and
# the browser's language, and returns (page, case); it leaves the clock at NOW.

def _confirm(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    return read_page(world.browser(language).get(case.path)), case


def _too_early(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    world.at(OPENS - timedelta(minutes=5))
    try:
        return read_page(world.browser(language).get(case.path)), case
    finally:
        world.reset_clock()


def _used_elsewhere(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    world.fill(case)
    return read_page(world.browser(language).get(case.path)), case


def _used_here(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    browser = world.browser(language)
    assert browser.post(case.path).status_code == 303
    return read_page(browser.get(case.path)), case


def _revoked(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    world.service.meetings.manage_link("revoke", case.meeting_id, EMAIL)
    return read_page(world.browser(language).get(case.path)), case


def _superseded(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    world.service.meetings.manage_link("reissue", case.meeting_id, EMAIL)
    return read_page(world.browser(language).get(case.path)), case


def _expired(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    world.at(CLOSES + timedelta(seconds=1))
    try:
        return read_page(world.browser(language).get(case.path)), case
    finally:
        world.reset_clock()


def _invalid(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)            # the server's SUPPORT stands in for the meeting's
    set_server_support(world.app, options.support)
    return read_page(world.browser(language).get(case.path[:-6])), case


def _invalid_signed(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    set_server_support(world.app, options.support)
    token = world.service.signer.link_token("12345678901", "0123456789abcdef", 1)
    return read_page(world.browser(language).get(f"/j/{token}")), case


def _rate_limited(world: World, options: Options, language: str) -> tuple[Page, Case]:
    case = world.case(options)
    set_server_support(world.app, options.support)
    browser = world.browser(language)
    for _ in range(world.service.config.invalid_token_limit):
        assert browser.get("/j/not-a-token").status_code == 404
    return read_page(browser.get("/j/not-a-token")), case


PAGE_CASES: dict[str, Callable[[World, Options, str], tuple[Page, Case]]] = {
    "confirm": _confirm,
    "too_early": _too_early,
    "used_elsewhere": _used_elsewhere,
    "used_here": _used_here,              # only under --no-rejoin
    "revoked": _revoked,
    "superseded": _superseded,
    "expired": _expired,
    "invalid": _invalid,
    "invalid_signed": _invalid_signed,
    "rate_limited": _rate_limited,
}
EXPECTED_STATUS = {"confirm": 200, "too_early": 200, "used_elsewhere": 409, "used_here": 409,
                   "revoked": 410, "superseded": 410, "expired": 410, "invalid": 404,
                   "invalid_signed": 404, "rate_limited": 429}


def applies(name: str, options: Options) -> bool:
    """Whether the page variant exists under the options (the bound browser is refused only
    when the meeting lets no browser rejoin)."""
    return name != "used_here" or not options.rejoin
