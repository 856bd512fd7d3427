"""The promise and the outcome agree: every sentence of every built-in page, rendered through the
real gate under every combination of the meeting's options (rejoin, max_devices, support
contact, time zone), is checked against what the gate then does for the same options.

Each text block of a page's <main> carries ``data-claim``: the promise it makes. ``CHECKS`` holds,
for each claim, a check that drives the gate (fresh meeting, fresh browsers) and asserts the
outcome the sentence promises; ``ADVICE`` names the few sentences that ask something of the
registrant and promise nothing of the gate. A block without a claim, or with a claim neither
knows, fails the test: a new sentence needs its check.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from helpers import NOW, PUBLIC_URL, START, Clock, make_app, store_for
from page_cases import (
    ALL_OPTIONS,
    CLOSES,
    CONTACTS,
    EMAIL,
    EXPECTED_STATUS,
    NAME,
    OPENS,
    PAGE_CASES,
    Block,
    Case,
    Options,
    Page,
    World,
    applies,
    read_page,
    set_server_support,
)
from stack import RedisServer

from joingate.times import iso_utc
from joingate.views import link_status

ROOT = Path(__file__).resolve().parent.parent
Check = Callable[[World, Options, Page, Block, Case], None]
CHECKS: dict[str, Check] = {}

# Sentences that ask the registrant to do something and promise nothing of the gate.
ADVICE = {
    "help-heading": "a heading: 'Need help?'",
    "no-forward": "asks the registrant to open the link where they will join and not forward it",
    "recordings": "says recordings come from the organizer: joingate has none to promise",
}
# Claims a built-in template carries that the gate cannot bring about (kept for organizers'
# data): each with the reason.
UNREACHABLE = {
    "opens-soon": "too_early always carries the opening time",
    "closed": "expired always carries the closing time",
}
# The self-service move's button and its note: shown only where codes can be mailed (SMTP and
# MAIL_FROM set, the meeting's max_moves > 0). The world here has no mail, so none of its pages
# may show them (a page that did would have no check and fail); tests/test_moving.py presses the
# button in Chromium, mails the code and checks that the link moved and the old browser is refused.
MOVING = {"self-service-move", "move-by-code"}
ZONE_LABEL = {"": "(UTC)", "America/Sao_Paulo": "(São Paulo time)"}
# The unavailable page's claims are checked with Redis really down (test below).
UNAVAILABLE = {"cannot-check", "our-side", "try-again"}

# What each page must say (one claim of each group), besides being true.
REQUIRED: dict[str, list[set[str]]] = {
    "confirm": [{"join-button"}, {"binding"}, {"rejoin-yes", "rejoin-no"}],
    "too_early": [{"opens-at"}, {"nothing-used"}, {"reloads"}],
    "used_elsewhere": [{"bound-elsewhere"}, {"organizer-frees"}, {"freed-works-again"}],
    "used_here": [{"once-per-browser"}, {"organizer-frees"}, {"freed-works-again"}],
    "revoked": [{"lets-no-one-in"}],
    "superseded": [{"newer-link"}],
    "expired": [{"closed-at"}],
    "invalid": [{"cut-short"}, {"ask-again"}],
    "invalid_signed": [{"genuine-but-gone"}, {"ask-again"}],
    "rate_limited": [{"rate-limited"}, {"complete-link-works"}],
}
EVERY_PAGE = [{"support-contact", "support-none"}, {"send-registration-email"}]


def claim(*names: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        for name in names:
            CHECKS[name] = check
        return check
    return register


@pytest.fixture(scope="module", params=["memory", "redis"])
def world(request: pytest.FixtureRequest) -> World:
    clock = Clock(NOW)
    app = make_app(store_for(request, request.param), clock, INVALID_TOKEN_LIMIT=3)
    return World(app, clock)


# The checks

def zoom_location(response) -> str:
    assert response.status_code == 303, response.status_code
    location = response.headers["Location"]
    assert location.startswith("https://app.zoom.us/"), location
    return location


@claim("topic")
def _topic(world, options, page, block, case):
    assert block.text == world.service.meetings.get(case.meeting_id).topic
    assert page.title.endswith(f" · {block.text}")


@claim("support-contact")
def _support_contact(world, options, page, block, case):
    assert options.support, "a contact is shown although none was set"
    assert block.hrefs == CONTACTS[options.contact][1], block.hrefs


@claim("support-none")
def _support_none(world, options, page, block, case):
    assert not options.support and not world.service.config.support


@claim("send-registration-email")
def _registration_email(world, options, page, block, case):
    """The organizer finds the link by the registration email: reset by it names this link."""
    fresh = world.case(options)
    assert world.service.meetings.registrant(fresh.meeting_id, EMAIL).email == EMAIL
    url = world.service.meetings.manage_link("reset", fresh.meeting_id, EMAIL)
    assert url == PUBLIC_URL + fresh.path


@claim("join", "join-button")
def _join(world, options, page, block, case):
    assert '<form method="post"' in page.html and 'action=' not in page.html
    fresh = world.case(options)
    browser = world.browser()
    assert browser.get(fresh.path).status_code == 200
    zoom_location(browser.post(fresh.path))


@claim("join-as")
def _join_as(world, options, page, block, case):
    assert NAME in block.text
    location = zoom_location(world.browser().post(world.case(options).path))
    un = parse_qs(urlsplit(location).query)["un"][0]
    assert base64.b64decode(un).decode() == NAME


def _shows(block: Block, moment, options: Options) -> None:
    """The block's <time> is ``moment`` (UTC in datetime, the meeting's zone named) and its
    text reads the wall clock of the meeting's zone."""
    zone = options.timezone or "UTC"
    assert block.times == [{"datetime": iso_utc(moment.timestamp()), "zone": zone}]
    local = moment.astimezone(ZoneInfo(zone))
    assert f"{local:%-I}:{local:%M}" in block.text, (block.text, local)
    assert ZONE_LABEL[options.timezone] in block.text


@claim("starts")
def _starts(world, options, page, block, case):
    _shows(block, START, options)


@claim("binding")
def _binding(world, options, page, block, case):
    """'The first N browsers, and no other': N claims redirect, the next browser is refused."""
    fresh = world.case(options)
    world.fill(fresh)
    assert world.browser().post(fresh.path).status_code == 409
    if options.max_devices > 1:
        assert f"first {options.max_devices} browsers" in block.text
    else:
        assert "first browser" in block.text


@claim("rejoin-yes")
def _rejoin_yes(world, options, page, block, case):
    assert options.rejoin, "promises a way back in on a meeting without rejoin"
    fresh = world.case(options)
    browser = world.browser()
    first = zoom_location(browser.post(fresh.path))
    assert zoom_location(browser.post(fresh.path)) == first
    assert read_page(browser.get(fresh.path)).status == 200


@claim("rejoin-no", "used-here", "once-per-browser")
def _no_rejoin(world, options, page, block, case):
    """The bound browser is not let back in, and is not offered a button that would fail."""
    assert not options.rejoin, "says the browser cannot come back, yet the meeting allows it"
    fresh = world.case(options)
    browser = world.browser()
    zoom_location(browser.post(fresh.path))
    again = read_page(browser.get(fresh.path))
    assert again.status == 409 and "join-button" not in again.claims()
    assert browser.post(fresh.path).status_code == 409


@claim("not-open-yet")
def _not_open_yet(world, options, page, block, case):
    fresh = world.case(options)
    world.at(OPENS - timedelta(minutes=5))
    try:
        response = world.browser().post(fresh.path)
        assert response.status_code == 200 and "Location" not in response.headers
    finally:
        world.reset_clock()


@claim("opens-at")
def _opens_at(world, options, page, block, case):
    _shows(block, OPENS, options)
    fresh = world.case(options)
    try:
        world.at(OPENS - timedelta(seconds=1))
        assert "Location" not in world.browser().post(fresh.path).headers
        world.at(OPENS)
        zoom_location(world.browser().post(fresh.path))
    finally:
        world.reset_clock()


@claim("nothing-used")
def _nothing_used(world, options, page, block, case):
    fresh = world.case(options)
    early = world.browser()
    try:
        world.at(OPENS - timedelta(minutes=5))
        early.get(fresh.path)
        early.post(fresh.path)
        world.at(OPENS)
        world.fill(fresh)             # every browser the link admits still gets in
    finally:
        world.reset_clock()


@claim("reloads")
def _reloads(world, options, page, block, case):
    """The page reloads itself (script, or meta refresh without script) with a GET of the same
    link once it opens: the reload shows the confirm page and claims nothing."""
    wait = int(page.refresh_after)
    assert page.meta_refresh == f"{wait};url={case.path}"
    shown_at = OPENS - timedelta(minutes=5)          # when PAGE_CASES rendered it
    assert wait == math.ceil((OPENS - shown_at).total_seconds()) + 1
    try:
        world.at(shown_at + timedelta(seconds=wait))
        reloaded = read_page(world.browser().get(case.path))
    finally:
        world.reset_clock()
    assert reloaded.status == 200 and "join-button" in reloaded.claims()
    status = link_status(world.service, case.meeting_id, EMAIL)
    assert status["claims"] == 0 and status["devices"] == 0


@claim("used-elsewhere", "bound-elsewhere")
def _bound_elsewhere(world, options, page, block, case):
    fresh = world.case(options)
    world.fill(fresh)
    other = world.browser()
    assert other.get(fresh.path).status_code == 409
    assert other.post(fresh.path).status_code == 409
    assert link_status(world.service, fresh.meeting_id, EMAIL)["devices"] == options.max_devices
    if block.claim == "bound-elsewhere" and options.max_devices > 1:
        assert f"up to {options.max_devices} browsers" in block.text


@claim("open-in-first-browser")
def _first_browser(world, options, page, block, case):
    assert options.rejoin, "sends the registrant to a first browser the gate will refuse"
    fresh = world.case(options)
    first, *_ = world.fill(fresh)
    assert world.browser().post(fresh.path).status_code == 409
    zoom_location(first.post(fresh.path))


@claim("organizer-frees")
def _organizer_frees(world, options, page, block, case):
    fresh = world.case(options)
    world.fill(fresh)
    newcomer = world.browser()
    assert newcomer.post(fresh.path).status_code == 409
    world.service.meetings.manage_link("reset", fresh.meeting_id, EMAIL)
    zoom_location(newcomer.post(fresh.path))


@claim("freed-works-again")
def _freed_works_again(world, options, page, block, case):
    fresh = world.case(options)
    world.fill(fresh)
    url = world.service.meetings.manage_link("reset", fresh.meeting_id, EMAIL)
    assert url == PUBLIC_URL + fresh.path                       # "this same link"
    zoom_location(world.browser().post(fresh.path))


@claim("replaced", "newer-link")
def _newer_link(world, options, page, block, case):
    fresh = world.case(options)
    newer = world.service.meetings.manage_link("reissue", fresh.meeting_id, EMAIL)
    assert world.browser().post(fresh.path).status_code == 410
    zoom_location(world.browser().post(newer.removeprefix(PUBLIC_URL)))


@claim("withdrawn", "lets-no-one-in")
def _withdrawn(world, options, page, block, case):
    fresh = world.case(options)
    bound = world.browser()
    zoom_location(bound.post(fresh.path))
    world.service.meetings.manage_link("revoke", fresh.meeting_id, EMAIL)
    assert bound.post(fresh.path).status_code == 410
    assert world.browser().post(fresh.path).status_code == 410


@claim("class-over", "closed-at")
def _class_over(world, options, page, block, case):
    if block.claim == "closed-at":
        _shows(block, CLOSES, options)
    fresh = world.case(options)
    bound = world.browser()
    try:
        world.at(CLOSES)
        zoom_location(bound.post(fresh.path))           # open up to the closing second
        world.at(CLOSES + timedelta(seconds=1))
        assert bound.post(fresh.path).status_code == 410
        assert world.browser().post(fresh.path).status_code == 410
    finally:
        world.reset_clock()


@claim("not-recognised", "cut-short")
def _cut_short(world, options, page, block, case):
    """A link cut short gets this page; the whole link from the email works."""
    fresh = world.case(options)
    cut = read_page(world.browser().get(fresh.path[:-6]))
    assert cut.status == 404 and "cut-short" in cut.claims()
    assert world.browser().get(fresh.path).status_code == 200


@claim("ask-again")
def _ask_again(world, options, page, block, case):
    fresh = world.case(options)
    again = world.service.meetings.manage_link("reissue", fresh.meeting_id, EMAIL)
    zoom_location(world.browser().post(again.removeprefix(PUBLIC_URL)))


@claim("not-on-record", "genuine-but-gone")
def _genuine_but_gone(world, options, page, block, case):
    token = world.service.signer.link_token("12345678901", "0123456789abcdef", 1)
    world.service.signer.read_link_token(token)           # genuine: the signature holds
    gone = read_page(world.browser().get(f"/j/{token}"))
    assert gone.status == 404 and "genuine-but-gone" in gone.claims()
    forged = read_page(world.browser().get(f"/j/{token[:-2]}xx"))
    assert "genuine-but-gone" not in forged.claims() and "cut-short" in forged.claims()


@claim("too-many", "rate-limited")
def _rate_limited(world, options, page, block, case):
    window = world.service.config.invalid_token_window
    assert page.status == 429 and page.headers["Retry-After"] == str(window)
    if block.claim == "rate-limited":
        assert f"about {math.ceil(window / 60)} minute" in block.text


@claim("complete-link-works")
def _complete_link_works(world, options, page, block, case):
    fresh = world.case(options)
    browser = world.browser()
    for _ in range(world.service.config.invalid_token_limit + 1):
        browser.get("/j/not-a-token")
    assert browser.get("/j/not-a-token").status_code == 429
    assert browser.get(fresh.path).status_code == 200
    zoom_location(browser.post(fresh.path))


# The tests

def _check_page(world: World, name: str, options: Options, page: Page, case: Case,
                done: set) -> None:
    assert page.status == EXPECTED_STATUS[name], (name, page.status)
    assert page.unclaimed == [], f"{name}: text outside any claimed block: {page.unclaimed}"
    claims = page.claims()
    unknown = [c for c in claims if c not in CHECKS and c not in ADVICE]
    assert not unknown, f"{name}: claims without a check: {unknown}"
    for group in REQUIRED[name] + EVERY_PAGE:
        assert group & set(claims), f"{name} under {options} says none of {sorted(group)}"
    if name == "confirm":
        assert claims.index("binding") < claims.index("join-button"), "binding note after button"
    for block in page.blocks:
        assert block.text or block.claim in ("join-button",), (name, block.claim)
        if block.claim in ADVICE:
            continue
        # The gate's outcomes depend on rejoin and max_devices alone (see the test on gate.lua
        # below); the contact and the zone change only what a block shows, so a check runs
        # again whenever the block's text, links or times differ.
        key = (block.claim, options.rejoin, options.max_devices, block.text,
               tuple(block.hrefs), str(block.times))
        if key in done:
            continue
        CHECKS[block.claim](world, options, page, block, case)
        done.add(key)


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=[
    f"{'rejoin' if o.rejoin else 'norejoin'}-{o.max_devices}dev-{o.contact}-"
    f"{(o.timezone or 'UTC').split('/')[-1]}" for o in ALL_OPTIONS])
def test_every_sentence_of_every_page_is_what_the_gate_does(world, options):
    done = world.__dict__.setdefault("checked", set())
    for name, make in PAGE_CASES.items():
        if not applies(name, options):
            continue
        page, case = make(world, options, "en")
        try:
            _check_page(world, name, options, page, case, done)
        except AssertionError as exc:
            raise AssertionError(f"page {name} under {options}: {exc}") from exc


def test_the_gate_decides_on_rejoin_and_max_devices_alone():
    """Why the checks above may be shared between combinations that differ only in contact or
    time zone: gate.lua decides on the window, max_devices and rejoin, nothing else."""
    script = (ROOT / "joingate" / "lua" / "gate.lua").read_text()
    # The meeting's fields the script decides on are these seven locals, read from the HMGET's
    # first seven fields (start ... rejoin, in that order), and no other field of it.
    assert re.search(r"local start, open_before, duration, close_after, expire_at, max_devices, "
                     r"rejoin =\s+tonumber\(meeting\[1\]\), tonumber\(meeting\[2\]\), "
                     r"tonumber\(meeting\[3\]\), tonumber\(meeting\[4\]\),\s+meeting\[5\], "
                     r"tonumber\(meeting\[6\]\), meeting\[7\]", script)
    assert {int(n) for n in re.findall(r"\bmeeting\[(\d+)\]", script)} <= set(range(1, 8))


def test_every_claim_in_the_templates_has_a_check():
    found = set()
    for template in (ROOT / "templates").glob("*.html"):
        found |= set(re.findall(r'data-claim="([a-z-]+)"', template.read_text()))
    known = set(CHECKS) | set(ADVICE) | set(UNREACHABLE) | UNAVAILABLE | MOVING
    assert found - known == set(), f"claims without a check: {sorted(found - known)}"
    assert set(CHECKS) - found == set(), f"checks of no claim: {sorted(set(CHECKS) - found)}"


@pytest.mark.parametrize("contact", sorted(CONTACTS))
def test_unavailable_offers_a_get_of_the_same_link_and_used_nothing(own_redis: RedisServer,
                                                                    contact):
    """Redis really down: a claim gets the 503 page whose 'Try again' is a GET link to the same
    link (never a re-POST); once Redis is back that GET shows the confirm page and nothing was
    used up; the contact is the server's SUPPORT (the meeting cannot be read)."""
    clock = Clock(NOW)
    app = make_app(own_redis.url, clock, REDIS_TIMEOUT=0.5, SUPPORT=CONTACTS[contact][0])
    world = World(app, clock)
    case = world.case(Options(contact=contact))
    set_server_support(app, CONTACTS[contact][0])
    browser = world.browser()
    own_redis.stop()
    try:
        down = read_page(browser.post(case.path))
    finally:
        own_redis.start()
    assert down.status == 503 and down.headers["Retry-After"] == "5"
    assert down.unclaimed == []
    assert set(down.claims()) >= {"cannot-check", "our-side", "try-again",
                                  "send-registration-email"}
    assert ("support-contact" if contact != "none" else "support-none") in down.claims()
    if contact != "none":
        assert down.block("support-contact").hrefs == CONTACTS[contact][1]
    retry = down.block("try-again")
    assert retry.hrefs == [case.path] and '<form' not in down.html
    again = read_page(browser.get(retry.hrefs[0]))
    assert again.status == 200 and "join-button" in again.claims()
    status = link_status(app.extensions["joingate"], case.meeting_id, EMAIL)
    assert status["devices"] == 0 and status["claims"] == 0      # nothing was used up
    zoom_location(browser.post(case.path))
