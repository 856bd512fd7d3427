"""The built-in pages are rendered once per meeting, language and outcome, and each request's own
values (nonce, display name, path, token) are written into that skeleton (pages.PageSkeleton):
the page a registrant gets must be exactly the page rendering it again would give, whatever the
values, the meeting's options and the language. Compared here against the full render
(``Pages._render``) on every page that keeps a skeleton."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime

import pytest
from helpers import NOW, Clock, make_app, path_of

from joingate import pages as pages_module
from joingate.pages import SLOT_MARKERS, PageRequest, format_time, pages_of
from joingate.records import Meeting

START = int(datetime(2026, 12, 1, 18, 0, tzinfo=UTC).timestamp())

# Values a request brings: HTML's specials, quotes, non-Latin text, a marker itself.
NAMES = ["Ana Lima", "", "O'Brien & <b>Sons</b> \"quoted\"", "Zoë Ωμέγα 李小龍",
         "</p><script>alert(1)</script>", SLOT_MARKERS[0][1], SLOT_MARKERS[1][1],
         "&amp; already escaped", "x" * 300]
PATHS = ["/j/tok", "/j/a\"b<c>&d", "/j/" + SLOT_MARKERS[0][2]]
TOKENS = ["", "Ab_9-x.y", "Jg0Token0Marker0A"]


def meetings() -> list[Meeting]:
    """Meetings whose every option a page depends on differs somewhere."""
    plain = Meeting(id="85746065432", topic="Watercolour <basics> & \"more\"", start=START,
                    duration=90, expire_at=START + 86400, support="help@example.org")
    return [
        plain,
        Meeting(id="1", topic="", start=START, duration=60, expire_at=START + 86400,
                rejoin=False, max_devices=3, auto_submit=True,
                support="Maria, help@example.org or +55 11 91234-5678.", language="pt",
                timezone="America/Sao_Paulo"),
        Meeting(id="2", topic="Kurs", start=START, duration=60, expire_at=START + 86400,
                language="de", timezone="Europe/Berlin", max_moves=0, support=""),
        Meeting(id="3", topic="T " + SLOT_MARKERS[0][0], start=START, duration=60,
                expire_at=START + 86400, language="fr"),
    ]


@pytest.fixture(scope="module", params=[False, True], ids=["no-mail", "moves-mailed"])
def pages(request):
    mail = {"SMTP_URL": "smtp://127.0.0.1:2525", "MAIL_FROM": "gate@example.org"} \
        if request.param else {}
    return pages_of(make_app("memory://", Clock(NOW), **mail))


def gate_pages(meeting: Meeting) -> list[tuple[str, int, dict]]:
    """The pages the gate renders for a link of ``meeting``, with their context."""
    at = format_time(START)
    common = {"meeting": meeting, "signed": True}
    return [
        ("confirm", 200, {**common, "superseded": False, "at": None, "bound_here": False}),
        ("used_elsewhere", 409, {**common, "superseded": False, "at": None,
                                 "bound_here": False}),
        ("used_elsewhere", 409, {**common, "superseded": False, "at": None,
                                 "bound_here": True}),
        ("revoked", 410, {**common, "superseded": True, "at": None, "bound_here": False}),
        ("revoked", 410, {**common, "superseded": False, "at": None, "bound_here": False}),
        ("expired", 410, {**common, "superseded": False, "at": at, "bound_here": False}),
        ("invalid", 404, {**common, "superseded": False, "at": None, "bound_here": False}),
    ]


def test_every_gate_page_is_the_page_a_full_render_gives(pages):
    pages._skeletons.clear()
    for meeting, (page, status, context) in itertools.product(
            meetings(), [case for m in meetings()[:1] for case in gate_pages(m)]):
        context = {**context, "meeting": meeting}
        for round_, (name, path, token) in enumerate(itertools.product(NAMES, PATHS, TOKENS)):
            facts = PageRequest("/gate" if round_ % 2 else "", path, "de-CH, fr;q=0.5", token)
            nonce = f"nonce{round_}"
            expected = pages._render(page, status, facts, nonce,
                                     **{**context, "display_name": name})
            got = pages.render(page, status, facts, nonce, **{**context, "display_name": name})
            assert got == expected, (page, status, meeting.id, name, path, token)
    kept = [key[2].id for key, skeleton in pages._skeletons.items() if skeleton is not None]
    assert set(kept) == {"85746065432", "1", "2"}     # the fourth's topic holds a marker


def test_pages_without_a_meeting_follow_the_browser_language(pages):
    for page, status in (("invalid", 404), ("invalid", 429), ("invalid", 405),
                         ("unavailable", 503)):
        for accept, path in itertools.product(["", "pt-BR", "de;q=0.9, en;q=0.1", "xx"],
                                              PATHS + ["/j/%ff\u00e9"]):
            facts = PageRequest("", path, accept, "")
            assert pages.render(page, status, facts, "n1") == pages._render(
                page, status, facts, "n1"), (page, status, accept, path)


def test_a_skeleton_is_kept_per_page_and_reused(pages):
    meeting = meetings()[0]
    pages._skeletons.clear()
    for n in range(20):
        pages.render("confirm", 200, PageRequest("", f"/j/t{n}", "", f"t{n}"), f"n{n}",
                     meeting=meeting, display_name=f"Person {n}", superseded=False, at=None,
                     signed=True, bound_here=False)
    assert len(pages._skeletons) == 1
    [skeleton] = pages._skeletons.values()
    assert skeleton is not None and len(skeleton.slots) >= 3   # nonce twice or more, the name


def test_a_value_in_the_meeting_that_looks_like_a_marker_means_a_full_render(pages):
    meeting = meetings()[3]           # its topic holds the first nonce marker
    pages._skeletons.clear()
    facts = PageRequest("", "/j/t", "", "t")
    context = {"meeting": meeting, "display_name": "Ana", "superseded": False, "at": None,
               "signed": True, "bound_here": False}
    got = pages.render("confirm", 200, facts, "realnonce", **context)
    assert got == pages._render("confirm", 200, facts, "realnonce", **context)
    assert list(pages._skeletons.values()) == [None]
    assert SLOT_MARKERS[0][0] in got and "realnonce" in got


def test_a_page_that_transforms_its_value_is_rendered_every_time(monkeypatch):
    """The check that keeps a skeleton honest: a template writing the name through a filter
    (here upper) cannot be cut at its marker, so that page is rendered every time."""
    pages = pages_of(make_app("memory://", Clock(NOW)))
    template = pages.templates.builtin.from_string("{{ display_name|upper }} {{ nonce }}")
    monkeypatch.setattr(pages.templates.builtin, "get_template", lambda name: template)
    facts = PageRequest("", "/j/t", "", "t")
    pages_seen = [pages.render("confirm", 200, facts, "n1", meeting=meetings()[0],
                               display_name=name) for name in ("ana", "o'brien & co")]
    assert pages_seen == ["ANA n1", "O&#39;BRIEN &amp; CO n1"]
    assert list(pages._skeletons.values()) == [None]


def test_organizer_pages_are_rendered_every_time(tmp_path):
    (tmp_path / "confirm.html").write_text(
        '{% extends "base.html" %}{% block content %}<p id="mine">{{ display_name }} '
        '{{ display_name|length }}</p>{% endblock %}')
    app = make_app("memory://", Clock(NOW), TEMPLATE_DIR=str(tmp_path))
    assert pages_of(app)._skeletons is None
    service = app.extensions["joingate"]
    service.meetings.add("85746065432", topic="T", start=datetime.fromtimestamp(START, UTC),
                         duration=60)
    from joingate.roster import RegistrantInput
    links = service.meetings.issue_links("85746065432", [
        RegistrantInput("a@example.org", "Ana"), RegistrantInput("b@example.org", "Beatriz")])
    client = app.test_client()
    bodies = [client.get(path_of(link)).get_data(as_text=True) for link in links]
    assert '<p id="mine">Ana 3</p>' in bodies[0]
    assert '<p id="mine">Beatriz 7</p>' in bodies[1]


def test_two_registrants_get_their_own_name_and_nonce_through_the_gate():
    app = make_app("memory://", Clock(NOW))
    service = app.extensions["joingate"]
    service.meetings.add("85746065432", topic="Watercolour & <ink>",
                         start=datetime.fromtimestamp(START, UTC), duration=60)
    from joingate.roster import RegistrantInput
    links = service.meetings.issue_links("85746065432", [
        RegistrantInput("a@example.org", "Ana <Lima>"), RegistrantInput("b@example.org",
                                                                      "Bea & Co")])
    client = app.test_client()
    seen = set()
    for link, shown in zip(links, ("Ana &lt;Lima&gt;", "Bea &amp; Co")):
        response = client.get(path_of(link))
        body = response.get_data(as_text=True)
        assert response.status_code == 200
        assert f"<strong>{shown}</strong>" in body
        nonce = re.search(r"script-src 'nonce-([^']+)'",
                          response.headers["Content-Security-Policy"]).group(1)
        assert body.count(f'nonce="{nonce}"') >= 2
        assert int(response.headers["Content-Length"]) == len(body.encode())
        seen.add(nonce)
    assert len(seen) == 2


@pytest.mark.parametrize("written", ["%(name).40s", "%(name)10s", "%(name)-12s"])
def test_an_organizer_sentence_that_formats_a_value_turns_skeletons_off(tmp_path, written):
    """A catalog sentence writing the name with a precision, a width or a flag: the text depends
    on the value itself, so every page is rendered (and is what a full render gives)."""
    folder = tmp_path / "translations/de/LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n#, python-format\n'
        'msgid "You will join as <strong>%(name)s</strong>."\n'
        f'msgstr "Sie nehmen als <strong>{written}</strong> teil."\n')
    pages = pages_of(make_app("memory://", Clock(NOW), TEMPLATE_DIR=str(tmp_path)))
    assert pages._skeletons is None
    meeting = dataclasses.replace(meetings()[0], language="de")
    facts = PageRequest("", "/j/tok", "", "tok")
    for name in ("Al", "Bartholomew Featherstonehaugh-Wolfeschlegelsteinhausen"):
        context = {"meeting": meeting, "display_name": name, "superseded": False, "at": None,
                   "signed": True, "bound_here": False}
        assert pages.render("confirm", 200, facts, "n", **context) == pages._render(
            "confirm", 200, facts, "n", **context)


def test_an_organizer_catalog_of_plain_sentences_keeps_skeletons(tmp_path):
    folder = tmp_path / "translations/de/LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n#, python-format\n'
        'msgid "You will join as <strong>%(name)s</strong>."\n'
        'msgstr "Du bist dabei als <strong>%(name)s</strong>."\n')
    pages = pages_of(make_app("memory://", Clock(NOW), TEMPLATE_DIR=str(tmp_path)))
    meeting = dataclasses.replace(meetings()[0], language="de")
    context = {"meeting": meeting, "display_name": "Ana & Bea", "superseded": False,
               "at": None, "signed": True, "bound_here": False}
    page = pages.render("confirm", 200, PageRequest("", "/j/t", "", "t"), "n", **context)
    assert "Du bist dabei als <strong>Ana &amp; Bea</strong>." in page
    assert [skeleton is not None for skeleton in pages._skeletons.values()] == [True]


def test_requests_anyone_can_send_never_evict_a_registrants_skeleton(monkeypatch):
    """Junk tokens in every language a browser may ask for fill at most their own budget; once
    the cache is full, a new key is rendered as before, and nothing is evicted."""
    monkeypatch.setattr(pages_module, "MAX_SKELETONS", 40)
    monkeypatch.setattr(pages_module, "MAX_ANONYMOUS_SKELETONS", 10)
    app = make_app("memory://", Clock(NOW))
    service = app.extensions["joingate"]
    service.meetings.add("85746065432", topic="T", start=datetime.fromtimestamp(START, UTC),
                         duration=60)
    from joingate.roster import RegistrantInput
    [link] = service.meetings.issue_links("85746065432",
                                          [RegistrantInput("a@example.org", "Ana")])
    pages, client = pages_of(app), app.test_client()
    assert client.get(path_of(link)).status_code == 200
    registrant_keys = set(pages._skeletons)
    tags = ["en-AU", "en-GB", "fr-CI", "fr-CA", "es-419", "es-MX", "pt-PT", "pt-BR", "de-AT",
            "de-CH", "en-IN", "fr-BE", "es-AR", "de-LU"]
    for tag in tags:
        for method, path in (("GET", "/j/x"), ("PUT", "/j/x"), ("GET", "/j/a%22b")):
            answer = client.open(path, method=method, headers={"Accept-Language": tag})
            assert answer.status_code in (404, 405)
            expected = pages._render("invalid", answer.status_code,
                                     PageRequest("", answer.request.path, tag, ""),
                                     _nonce_of(answer))
            assert answer.get_data(as_text=True) == expected
    assert registrant_keys <= set(pages._skeletons)
    assert sum(key[2] is None for key in pages._skeletons) == 10
    assert len(pages._skeletons) == 11


def _nonce_of(answer) -> str:
    return re.search(r"script-src 'nonce-([^']+)'",
                     answer.headers["Content-Security-Policy"]).group(1)
