"""Languages and times of the registrant's pages: the catalogs are complete and compiled, a page
speaks the meeting's language or else the browser's, writes times in that language and the
meeting's zone, and an organizer can change one sentence, a catalog or add a language.
Also the meeting's language and time zone as the CLI, the API and ``zoom sync`` set them."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from helpers import MEETING_ID, START, make_app, path_of
from page_cases import PAGE_CASES, Options, World, applies, read_page

from joingate.errors import ConfigError
from joingate.i18n import BUILTIN_LANGUAGES, CATALOG_DIR, timezone_choices
from joingate.roster import RegistrantInput

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [language for language in BUILTIN_LANGUAGES if language != "en"]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def source_messages() -> set[str | tuple[str, str]]:
    """Every message the templates and joingate/i18n.py ask for (as babel.cfg says where)."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=KEYWORDS,
                             directory_filter=lambda path: not Path(path).name.startswith(
                                 (".", "node_modules", "__pycache__")))
    return {message if isinstance(message, str) else tuple(message)
            for _, _, message, _, _ in found}


def po_catalog(language: str):
    with (CATALOG_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fileobj:
        return read_po(fileobj, locale=language)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language):
    """Fails on any message of the pages that a catalog lacks, leaves empty or fuzzy, or
    translates with other placeholders; and on a catalog entry no page uses any more."""
    wanted = source_messages()
    assert len(wanted) > 40
    catalog = po_catalog(language)
    have = {message.id: message for message in catalog if message.id}
    missing = sorted(map(str, wanted - set(have)))
    assert not missing, f"{language}: untranslated: {missing}"
    assert set(have) - wanted == set(), f"{language}: obsolete: {set(have) - wanted}"
    for msgid, message in have.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        forms = catalog.num_plurals if isinstance(msgid, tuple) else 1
        assert len(strings) == forms and all(strings), f"{language}: empty: {msgid!r}"
        assert not message.fuzzy, f"{language}: fuzzy: {msgid!r}"
    assert not catalog.fuzzy
    problems = [(message.id, errors) for message, errors in catalog.check()]
    assert problems == [], problems


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_shipped_mo_is_the_compiled_po(language):
    """The .mo files ship in the wheel; they must say what the .po says (pybabel compile)."""
    compiled = io.BytesIO()
    write_mo(compiled, po_catalog(language))
    compiled.seek(0)
    with (CATALOG_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as fileobj:
        shipped = read_mo(fileobj)
    assert messages(shipped) == messages(read_mo(compiled))


def messages(catalog) -> dict:
    def key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return {key(m.id): key(m.string) for m in catalog if m.id}


@pytest.fixture
def world(app, clock) -> World:
    return World(app, clock)


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES)
def test_every_page_in_every_language(world, language):
    """Same page, same promises in every language; lang right; no English sentence left."""
    options = Options(rejoin=False, max_devices=2, contact="mixed", timezone="Europe/Lisbon")
    for name, make in PAGE_CASES.items():
        if not applies(name, options):
            continue
        english, _ = make(world, options, "en")
        page, _ = make(world, options, language)
        assert page.lang == language, name
        assert page.claims() == english.claims(), name
        if language == "en":
            continue
        assert page.title.split(" · ")[0] != english.title.split(" · ")[0], name
        for mine, theirs in zip(page.blocks, english.blocks):
            if mine.claim != "topic":
                assert mine.text != theirs.text, f"{name} {mine.claim}: still English"
                assert mine.hrefs == theirs.hrefs and mine.times == theirs.times


@pytest.mark.parametrize("header,meeting_language,lang", [
    ("pt-BR,pt;q=0.9,en;q=0.5", "", "pt-BR"),
    ("de;q=0.5, fr;q=0.9", "", "fr"),
    ("es-MX", "", "es-MX"),
    ("it,xx;q=0.5", "", "en"),
    ("", "", "en"),
    ("pt-BR", "de", "de"),
    ("en", "pt_PT", "pt-PT"),
], ids=["region-kept", "quality-order", "spanish-mexico", "none-known", "no-header",
        "meeting-wins", "meeting-region"])
def test_the_page_language(service, client, header, meeting_language, lang):
    service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                         language=meeting_language)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("a@example.org", "Ana")])[0]
    page = read_page(client.get(path_of(link), headers={"Accept-Language": header}))
    assert page.lang == lang


@pytest.mark.parametrize("language,date,zone,opens,opens_sao_paulo", [
    ("en", "Tuesday, December 1, 2026", "(Lisbon time)", "5:45 PM", "2:45 PM"),
    ("pt", "terça-feira, 1 de dezembro de 2026", "(horário de Lisboa)", "17:45", "14:45"),
    ("es", "martes, 1 de diciembre de 2026", "(hora de Lisboa)", "17:45", "14:45"),
    ("fr", "mardi 1 décembre 2026", "(heure de Lisbonne)", "17:45", "14:45"),
    ("de", "Dienstag, 1. Dezember 2026", "(Ortszeit Lissabon)", "17:45", "14:45"),
])
def test_times_in_the_language_and_the_meeting_zone(service, client, clock, language, date,
                                                    zone, opens, opens_sao_paulo):
    """Lisbon is UTC+0 in December: the 17:45Z opening reads 17:45; Sao Paulo (UTC-3) 14:45.
    (read_page folds the narrow space CLDR puts before PM into a plain one.)"""
    service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                         timezone="Europe/Lisbon", language=language)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("a@example.org", "Ana")])[0]
    clock.set(START.replace(hour=12))
    block = read_page(client.get(path_of(link))).block("opens-at")
    assert date in block.text and zone in block.text and opens in block.text, block.text
    assert block.times == [{"datetime": "2026-12-01T17:45:00Z", "zone": "Europe/Lisbon"}]
    service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                         timezone="America/Sao_Paulo")
    block = read_page(client.get(path_of(link))).block("opens-at")
    assert opens_sao_paulo in block.text and "São Paulo" in block.text, block.text
    assert block.times == [{"datetime": "2026-12-01T17:45:00Z", "zone": "America/Sao_Paulo"}]


# The move pages (changing devices by a mailed code): the same language choice, every sentence
# translated, the code's lifetime written by Babel.

LIFETIME = {"en": "10 minutes", "pt": "10 minutos", "es": "10 minutos", "fr": "10 minutes",
            "de": "10 Minuten"}
OTHER = {"en": "de", "pt": "fr", "es": "de", "fr": "pt", "de": "es"}


def move_steps(app, service, path: str) -> dict[str, Callable[[], Any]]:
    """Each move page, reached through the move routes: the code page, the code page with each
    reason a code was not taken, and refusals with and without "Send a new code". The meeting's
    language at the time of the call decides the page's."""
    holder, asker = app.test_client(), app.test_client()
    assert holder.post(path).status_code == 303
    assert asker.post(f"{path}/move").status_code == 200     # asker has its device cookie now

    def refused_off():
        service.store.redis.hset(service.store.keys.meeting(MEETING_ID), "max_moves", "0")
        try:
            return asker.post(f"{path}/move")
        finally:
            service.store.redis.hset(service.store.keys.meeting(MEETING_ID), "max_moves", "2")

    return {
        "move_sent": lambda: asker.post(f"{path}/move"),
        "move_sent-malformed": lambda: asker.post(f"{path}/move/confirm", data={"code": "12"}),
        "move_sent-waiting": lambda: asker.post(f"{path}/move/confirm",
                                                data={"code": "123456"}),
        "move_refused-other_device": lambda: app.test_client().post(
            f"{path}/move/confirm", data={"code": "123456"}),
        "move_refused-off": refused_off,
    }


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES)
def test_the_move_pages_in_every_language(app, store_url, clock, language):
    """The meeting's language wins over the browser's; ``lang`` is set; no sentence is left in
    English (each block differs from the English page's, the class's name aside); the code's
    lifetime is Babel's in that language."""
    moving = make_app(store_url, clock, like=app, SMTP_URL="smtp://127.0.0.1:2525",
                      MAIL_FROM="classes@example.org")
    service = moving.extensions["joingate"]

    def add(meeting_language: str) -> None:
        service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                             timezone="Europe/Lisbon", language=meeting_language,
                             support="help@example.org")

    add(language)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("ana@example.org", "Ana")])[0]
    steps = move_steps(moving, service, path_of(link))
    statuses = {"move_sent": 200, "move_sent-malformed": 400, "move_sent-waiting": 409,
                "move_refused-other_device": 403, "move_refused-off": 403}
    for name, step in steps.items():
        add("en")
        english = read_page(step())
        add(language)
        page = read_page(step())
        assert (page.status, english.status) == (statuses[name],) * 2, name
        assert page.lang == language, name
        assert page.html.count("<form") == english.html.count("<form"), name
        if name == "move_sent":
            assert any(LIFETIME[language] in block.text for block in page.blocks), name
        if language == "en":
            continue
        assert page.title.split(" · ")[0] != english.title.split(" · ")[0], name
        assert len(page.blocks) == len(english.blocks), name
        for mine, theirs in zip(page.blocks, english.blocks):
            if mine.claim != "topic":
                assert mine.text != theirs.text, f"{name}: still English: {mine.text!r}"
                assert mine.hrefs == theirs.hrefs, name


def test_a_move_page_follows_the_browser_when_the_meeting_has_no_language(app, store_url, clock,
                                                                            link):
    moving = make_app(store_url, clock, like=app, SMTP_URL="smtp://127.0.0.1:2525",
                      MAIL_FROM="classes@example.org")
    path = path_of(link)
    assert moving.test_client().post(path).status_code == 303
    browser = moving.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-CH,de;q=0.9"
    page = read_page(browser.post(f"{path}/move"))
    assert page.status == 200 and page.lang == "de-CH"
    assert any("Einmalcode" in block.text and "10 Minuten" in block.text
               for block in page.blocks), [block.text for block in page.blocks]
    wrong_length = read_page(browser.post(f"{path}/move/confirm", data={"code": "1"}))
    assert "Geben Sie die 6 Ziffern aus der E-Mail ein." in [b.text for b in wrong_length.blocks]


# Organizer overrides

def write_po(folder: Path, language: str, entries: dict[str, str]) -> Path:
    path = folder / "translations" / language / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ['msgid ""', 'msgstr "Content-Type: text/plain; charset=utf-8\\n"', ""]
    for msgid, msgstr in entries.items():
        lines += [f"msgid {msgid!r}".replace("'", '"'), f"msgstr {msgstr!r}".replace("'", '"'),
                  ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def organizer_app(app, store_url, clock, folder: Path):
    return make_app(store_url, clock, like=app, TEMPLATE_DIR=str(folder))


def test_organizer_overrides_one_sentence(app, store_url, clock, service, link, tmp_path):
    write_po(tmp_path, "pt", {"Join now": "Entrar na aula de cerâmica"})
    write_po(tmp_path, "en", {"Join now": "Take my seat"})
    custom = organizer_app(app, store_url, clock, tmp_path)
    pt = custom.test_client().get(path_of(link), headers={"Accept-Language": "pt"})
    html = pt.get_data(as_text=True)
    assert "Entrar na aula de cerâmica" in html and "Entrar agora" not in html
    assert "Você entrará como" in html                 # the rest of the catalog is untouched
    en = custom.test_client().get(path_of(link)).get_data(as_text=True)
    assert "Take my seat" in en and "You will join as" in en
    # Another app without TEMPLATE_DIR keeps the built-in sentence.
    assert "Entrar agora" in app.test_client().get(
        path_of(link), headers={"Accept-Language": "pt"}).get_data(as_text=True)


def test_the_readmes_one_sentence_override_works(app, store_url, clock, link, tmp_path):
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("```po\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "translations" / "pt" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(line.strip() for line in snippet.splitlines()), encoding="utf-8")
    page = organizer_app(app, store_url, clock, tmp_path).test_client().get(
        path_of(link), headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert "Entrar na aula de cerâmica" in page and "Entrar agora" not in page


def test_organizer_adds_a_language(app, store_url, clock, runner, link, tmp_path):
    """A new language must translate every sentence; then meetings may use it."""
    pt = po_catalog("pt")
    write_po(tmp_path, "it", {"Join now": "Entra ora"})
    with pytest.raises(ConfigError, match=r"it/LC_MESSAGES/messages.po: a new language needs "
                                          r"every sentence translated"):
        organizer_app(app, store_url, clock, tmp_path)
    complete = tmp_path / "translations" / "it" / "LC_MESSAGES" / "messages.po"
    from babel.messages.pofile import write_po as babel_write_po
    for message in pt:
        if message.id == "Join now":
            message.string = "Entra ora"
    with complete.open("wb") as fileobj:
        babel_write_po(fileobj, pt)
    custom = organizer_app(app, store_url, clock, tmp_path)
    assert "it" in custom.extensions["joingate"].catalogs.languages
    custom.extensions["joingate"].meetings.add(MEETING_ID, topic="Evening ceramics",
                                               start=START, duration=90, language="it")
    page = custom.test_client().get(path_of(link)).get_data(as_text=True)
    assert '<html lang="it">' in page and "Entra ora" in page


@pytest.mark.parametrize("entries,message", [
    ({"Your link opens %(time)s.": "Abre %(hora)s."}, "placeholder"),
    ({"Join now": "x\\"}, "cannot read it"),
], ids=["wrong-placeholder", "broken-file"])
def test_a_bad_organizer_catalog_stops_the_start_naming_the_file(app, store_url, clock,
                                                                  tmp_path, entries, message):
    path = write_po(tmp_path, "de", entries)
    if message == "cannot read it":
        path.write_text('msgid "Join now"\nmsgstr "Jetzt"\nmsgid\n Jetzt teilnehmen\n',
                        encoding="utf-8")
    with pytest.raises(ConfigError, match="messages.po") as caught:
        organizer_app(app, store_url, clock, tmp_path)
    assert str(path) in str(caught.value)


def test_a_folder_that_names_no_language_is_refused(app, store_url, clock, tmp_path):
    write_po(tmp_path, "klingon-ish", {"Join now": "x"})
    with pytest.raises(ConfigError, match="'klingon-ish' is not a language"):
        organizer_app(app, store_url, clock, tmp_path)


# Setting a meeting's language and zone

def test_meeting_add_language_and_timezone(runner, service):
    result = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics", "--start",
                     "2026-12-01T18:00:00Z", "--duration", "90", "--language", "pt-br",
                     "--timezone", "America/Sao_Paulo"])
    assert result.exit_code == 0, result.output
    meeting = service.meetings.get(MEETING_ID)
    assert (meeting.language, meeting.timezone) == ("pt_BR", "America/Sao_Paulo")
    again = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics", "--start",
                    "2026-12-01T18:00:00Z", "--duration", "90"])
    assert again.exit_code == 0
    assert service.meetings.get(MEETING_ID).language == "pt_BR"         # kept when left out
    cleared = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics", "--start",
                      "2026-12-01T18:00:00Z", "--duration", "90", "--language", "",
                      "--timezone", ""])
    assert cleared.exit_code == 0
    assert service.meetings.get(MEETING_ID).language == ""
    assert service.meetings.get(MEETING_ID).timezone == ""


@pytest.mark.parametrize("option,value,message", [
    ("--language", "it", "language 'it' has no catalog; use one of en, pt, es, fr, de"),
    ("--language", "no such", "language 'no such' has no catalog"),
    ("--timezone", "Europe/Atlantis", "timezone 'Europe/Atlantis' is not an IANA time zone"),
    ("--timezone", "../../etc/passwd", "is not an IANA time zone"),
    ("--timezone", "+01:00", "is not an IANA time zone"),
], ids=["no-catalog", "not-a-language", "unknown-zone", "path", "offset"])
def test_meeting_add_refuses_bad_language_or_zone(runner, service, option, value, message):
    result = runner(["meeting", "add", MEETING_ID, "--topic", "Ceramics", "--start",
                     "2026-12-01T18:00:00Z", "--duration", "90", option, value])
    assert result.exit_code == 1 and message in result.output


ADMIN = "admin-token-for-tests"


def test_api_sets_language_and_timezone(app, store_url, clock):
    api_app = make_app(store_url, clock, like=app, ADMIN_TOKEN=ADMIN)
    api = api_app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN}"
    body = {"id": MEETING_ID, "topic": "Ceramics", "start": "2026-12-01T18:00:00Z",
            "duration": 90, "language": "fr", "timezone": "Europe/Paris"}
    created = api.post("/api/v1/meetings", json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["language"] == "fr"
    assert created.get_json()["timezone"] == "Europe/Paris"
    patched = api.patch(f"/api/v1/meetings/{MEETING_ID}", json={"timezone": "Asia/Tokyo"})
    assert patched.get_json()["timezone"] == "Asia/Tokyo" and patched.get_json()["language"] == "fr"
    bad = api.patch(f"/api/v1/meetings/{MEETING_ID}", json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422 and bad.get_json()["details"] == [
        {"field": "timezone", "message": f"'Mars/Olympus' is not one of the "
                                         f"{len(timezone_choices())} values the OpenAPI "
                                         "document lists for it"}]
    schema = api.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert {"language", "timezone"} <= set(schema["MeetingUpdate"]["properties"])
    assert {"language", "timezone"} <= set(schema["Meeting"]["required"])


def test_zoom_sync_takes_zooms_timezone(app, store_url, clock):
    from fake_zoom_api import FakeZoom

    from joingate.zoom.client import ZoomClient
    from joingate.zoom.sync import sync_meeting

    fake = FakeZoom()
    try:
        fake.add_meeting(MEETING_ID, timezone="Europe/Lisbon")
        zoom_app = make_app(store_url, clock, like=app, **fake.settings())
        state = zoom_app.extensions["joingate"]
        sync_meeting(state, ZoomClient(state.config, state.store), MEETING_ID)
        assert state.meetings.get(MEETING_ID).timezone == "Europe/Lisbon"
        fake.meetings[MEETING_ID]["timezone"] = "Not/A_Zone"        # kept, never an error
        sync_meeting(state, ZoomClient(state.config, state.store), MEETING_ID)
        assert state.meetings.get(MEETING_ID).timezone == "Europe/Lisbon"
    finally:
        fake.close()


def test_a_zone_the_machine_no_longer_knows_still_renders(service, client, link):
    """A stored zone that became unknown (a tz database change) reads as UTC, never a 500."""
    service.store.redis.hset(service.store.keys.meeting(MEETING_ID), "timezone", "Gone/Zone")
    block = read_page(client.get(path_of(link))).block("starts")
    assert block.times[0]["zone"] == "UTC" and "(UTC)" in block.text


def test_the_apis_choices_are_what_meetings_accept():
    """The OpenAPI enums list exactly values meetings.add accepts, stored as given (languages
    in Babel's form or with a hyphen), so schemathesis's valid bodies are never refused."""
    from joingate.i18n import language_choices, normalize_language, normalize_timezone

    for value in language_choices():
        assert normalize_language(value) == value.replace("-", "_")
    assert {"", "pt", "pt-BR", "pt_BR", "de-CH", "en"} <= set(language_choices())
    assert not any(value.startswith(("it", "ja")) for value in language_choices())
    for value in timezone_choices():
        assert normalize_timezone(value) == value
