"""The registrant's language and time: which catalog a page speaks, and how a time reads in it.

Catalogs are gettext message catalogs kept with Babel: ``joingate/translations/<lang>/
LC_MESSAGES/messages.po``, compiled to the ``messages.mo`` beside it (shipped in the wheel; see
``docs/translations.md``). English is the message ids themselves. An organizer's
``TEMPLATE_DIR/translations/<lang>/LC_MESSAGES/messages.po`` is read at start-up and wins over the
built-in catalog sentence by sentence: one sentence, a few, or a whole new language (which must
then translate every sentence).

A page's language is the meeting's ``language`` when it has one, else the first language of the
browser's ``Accept-Language`` that has a catalog, else English. Its times are in the meeting's
``timezone`` (UTC when unset), written by Babel in that language. A mail (joingate/mail.py) has
no browser: the meeting's language, else English.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import (
    format_date,
    format_time,
    format_timedelta,
    get_datetime_format,
    get_timezone_location,
)
from babel.localedata import locale_identifiers
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import escape

from .errors import ConfigError, InvalidInput
from .times import iso_utc, utc_datetime

BUILTIN_LANGUAGES = ("en", "pt", "es", "fr", "de")
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
CATALOG_DIR = Path(__file__).resolve().parent / "translations"
# Zones that are UTC by another name: shown as "UTC", not as CLDR's "Unknown Region (UTC)".
UTC_NAMES = frozenset({"", "UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal",
                       "Etc/Zulu", "Zulu", "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0",
                       "Etc/GMT-0", "Etc/Greenwich", "Greenwich", "GMT0", "GMT+0", "GMT-0"})
MAX_LANGUAGE = 35
MAX_TIMEZONE = 64


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (pybabel's keyword)."""
    return message


# Messages built in Python (extracted from this file by babel.cfg).
ZONE_CITY = N_("%(time)s (%(city)s time)")
ZONE_UTC = N_("%(time)s (UTC)")


def parse_locale(value: str) -> Locale:
    """``pt-BR``, ``pt_BR`` or ``pt`` as a Babel Locale. Raises ValueError when Babel does not
    know it."""
    text = value.strip().replace("-", "_")
    if not text or len(text) > MAX_LANGUAGE:
        raise ValueError(value)
    try:
        return Locale.parse(text)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(value) from None


def catalog_language(identifier: str, available: Iterable[str]) -> str | None:
    """The catalog that serves ``identifier``: the same identifier, else its language
    (``pt_BR`` is served by ``pt``); None when there is none."""
    available = set(available)
    if identifier in available:
        return identifier
    base = identifier.split("_", 1)[0]
    return base if base in available else None


def normalize_language(value: str, available: Iterable[str] = BUILTIN_LANGUAGES) -> str:
    """A meeting's ``language`` as stored: ``""`` (follow the browser) or a locale identifier
    (``pt``, ``pt_BR``) that one of ``available`` catalogs serves. Raises InvalidInput naming
    the languages there are."""
    available = tuple(available)
    text = str(value).strip()
    if not text:
        return ""
    try:
        identifier = str(parse_locale(text))
    except ValueError:
        identifier = ""
    if not identifier or catalog_language(identifier, available) is None:
        raise InvalidInput(
            f"language {text[:40]!r} has no catalog; use one of {', '.join(available)} (or a "
            "regional form such as pt-BR), or add TEMPLATE_DIR/translations/<lang>/LC_MESSAGES/"
            "messages.po")
    return identifier


def language_choices(available: Iterable[str] = BUILTIN_LANGUAGES) -> list[str]:
    """Every value :func:`normalize_language` accepts in its usual spellings: ``""``, each
    catalog's language and every regional form Babel knows of it, written ``pt_BR`` and
    ``pt-BR`` (the API's enum)."""
    available = tuple(available)
    # Babel's identifiers are already in the form normalize_language gives (a test checks).
    known = {identifier for identifier in {*available, *locale_identifiers()}
             if catalog_language(identifier, available)}
    return sorted({""} | known | {identifier.replace("_", "-") for identifier in known})


@functools.cache
def timezone_choices() -> tuple[str, ...]:
    """Every value :func:`normalize_timezone` accepts: ``""`` and each IANA zone this machine
    knows (the API's enum)."""
    return ("", *sorted(available_timezones()))   # zoneinfo lists the zones it can load


def normalize_timezone(value: str) -> str:
    """A meeting's ``timezone`` as stored: ``""`` (UTC) or an IANA name such as
    ``Europe/Lisbon``. Raises InvalidInput otherwise."""
    text = str(value).strip()
    if not text:
        return ""
    if is_timezone(text):
        return text
    raise InvalidInput(f"timezone {text[:64]!r} is not an IANA time zone name such as "
                       "Europe/Lisbon or America/Sao_Paulo")


def is_timezone(name: str) -> bool:
    """True for an IANA zone name this machine knows."""
    if not name or len(name) > MAX_TIMEZONE or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone_of(name: str) -> tzinfo:
    """The zone a meeting's stored ``timezone`` names; UTC for ``""`` or a zone the machine no
    longer knows (a page must render whatever is stored)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


# Catalogs

class Catalogs:
    """Every catalog one app serves: the built-in ones, with the organizer's sentences merged
    over them, and any language the organizer adds. Built once at start-up; read-only after."""

    def __init__(self, template_dir: str = "") -> None:
        self._translations: dict[str, Translations] = {}
        for language in BUILTIN_LANGUAGES:
            self._translations[language] = _builtin(language)
        self.reference: frozenset[str] = frozenset(
            message_ids(self._translations[BUILTIN_LANGUAGES[1]]))
        # Whether an organizer's sentence writes a value other than as it is (a width, a
        # precision, a flag: ``%(name).40s``): then a page's text depends on more than whether
        # its values are empty, and pages.PageSkeleton is not used.
        self.formats_values = False
        if template_dir:
            for language, path in organizer_catalogs(template_dir):
                self._add_organizer(language, path)

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with a catalog, English first."""
        return tuple(self._translations)

    def translations(self, language: str) -> NullTranslations:
        """The catalog serving ``language`` (``pt_BR`` -> ``pt``), English when there is none."""
        found = catalog_language(language, self._translations)
        return self._translations[found or DEFAULT_LANGUAGE]

    def speak(self, meeting_language: str, meeting_timezone: str,
              accepted: Iterable[str] = ()) -> PageLanguage:
        """What a page or a mail is written in: the meeting's language, else the first of the
        browser's ``accepted`` languages a catalog serves (a mail has none), else English
        (:func:`choose_language`); its times in the meeting's zone."""
        return self._speak(meeting_language, meeting_timezone, tuple(accepted))

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one Catalogs per app, kept for its life
    def _speak(self, meeting_language: str, meeting_timezone: str,
               accepted: tuple[str, ...]) -> PageLanguage:
        identifier = choose_language(meeting_language, accepted, self.languages)
        return PageLanguage(identifier, self.translations(identifier), meeting_timezone)

    def _add_organizer(self, language: str, path: Path) -> None:
        compiled = _compile_po(path, language)
        self.formats_values = self.formats_values or any(
            FORMATTED_PLACEHOLDER.search(text) for message in compiled._catalog.values()
            for text in ([message] if isinstance(message, str) else message))
        if language in self._translations:
            self._translations[language].merge(compiled)   # the organizer's sentences win
            return
        missing = sorted(self.reference - set(message_ids(compiled)))
        if missing:
            raise ConfigError(
                f"{path}: a new language needs every sentence translated; {len(missing)} "
                f"missing, the first: {missing[0][:80]!r}")
        self._translations[language] = compiled


# A placeholder written other than as it is: ``%(name)`` then anything but ``s`` or ``d`` at once.
FORMATTED_PLACEHOLDER = re.compile(r"%\([^)]*\)(?![sd])")


def _builtin(language: str) -> Translations:
    if language == DEFAULT_LANGUAGE:      # English: the message ids; an organizer may merge
        return _compiled(Catalog(locale=DEFAULT_LANGUAGE, domain=DOMAIN))
    path = CATALOG_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as fileobj:
        return Translations(fileobj, domain=DOMAIN)


def organizer_catalogs(template_dir: str) -> list[tuple[str, Path]]:
    """``(language, path)`` of every ``translations/<lang>/LC_MESSAGES/messages.po`` under
    ``template_dir``. Raises ConfigError for a folder that names no language."""
    root = Path(template_dir, "translations")
    found = []
    for path in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        folder = path.parent.parent.name
        try:
            language = str(parse_locale(folder))
        except ValueError:
            raise ConfigError(f"{path}: {folder!r} is not a language (use en, pt, pt_BR, "
                              "de, ...)") from None
        found.append((language, path))
    return found


def _compile_po(path: Path, language: str) -> Translations:
    """An organizer's .po file, checked (placeholders as in the message id) and compiled in
    memory. Raises ConfigError naming the file and line."""
    try:
        with path.open("rb") as fileobj:
            catalog = read_po(fileobj, locale=language, domain=DOMAIN, abort_invalid=True)
    except (PoFileError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as a gettext catalog: {exc}") from None
    for message, errors in catalog.check():
        raise ConfigError(f"{path}: line {message.lineno}: {errors[0]} (in {message.id!r})")
    return _compiled(catalog)


def _compiled(catalog: Catalog) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def message_ids(translations: NullTranslations) -> list[str]:
    """The message ids a compiled catalog translates (plural ids by their singular)."""
    catalog = getattr(translations, "_catalog", {})
    ids = []
    for key, value in catalog.items():
        if not value:
            continue
        msgid = key[0] if isinstance(key, tuple) else key
        if msgid and (not isinstance(key, tuple) or key[1] == 0):
            ids.append(msgid)
    return ids


# One page's language

def choose_language(meeting_language: str, accepted: Iterable[str],
                    available: Iterable[str]) -> str:
    """The locale a page is written in: the meeting's language when a catalog serves it, else
    the first of the browser's ``accepted`` languages (best first) that a catalog serves (kept
    with its region, for dates: ``pt-PT`` gives ``pt_PT``), else English."""
    available = tuple(available)
    if meeting_language and catalog_language(meeting_language, available):
        return meeting_language
    for value in accepted:
        try:
            identifier = str(parse_locale(value))
        except ValueError:
            continue
        if catalog_language(identifier, available):
            return identifier
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class PageTime:
    """A moment as a page shows it. ``iso``: UTC for ``<time datetime>``; ``text``: the
    meeting's zone, in the page's language; ``zone``: the IANA name the script compares the
    browser's own zone with. In a template ``{{ at }}`` writes the ``<time>`` element."""

    ts: float
    iso: str
    text: str
    zone: str

    def __html__(self) -> str:
        return (f'<time datetime="{escape(self.iso)}" data-zone="{escape(self.zone)}">'
                f"{escape(self.text)}</time>")

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class PageLanguage:
    """What one page needs to speak its language: translations, Babel's locale and the
    meeting's zone."""

    identifier: str               # pt_BR
    # Behind an underscore: templates (pages, mails) see the page's language but cannot reach
    # the shared catalog's methods (merge, install, add_fallback) through the sandbox.
    _translations: NullTranslations
    zone_name: str = ""           # "" is UTC

    @property
    def tag(self) -> str:
        """The BCP 47 tag for ``<html lang>``: ``pt-BR``."""
        return self.identifier.replace("_", "-")

    @property
    def locale(self) -> Locale:
        return parse_locale(self.identifier)

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self._translations.ngettext(singular, plural, count)

    def duration(self, seconds: float) -> str:
        """A length of time in this language, by Babel: ``10 minutes``, ``10 Minuten``."""
        return format_timedelta(timedelta(seconds=seconds), locale=self.locale)

    def time(self, ts: float | str) -> PageTime:
        """``ts`` in the meeting's zone: ``Tuesday, December 1, 2026, 6:00 PM (Lisbon time)``.
        Remembered (the same meeting start is written on every page of a class start, and
        Babel takes longer to write it than the rest of the page's work)."""
        return _page_time(self, float(ts))

    def _written(self, ts: float) -> PageTime:
        known = self.zone_name if is_timezone(self.zone_name) else ""   # else UTC, said so
        zone = zone_of(known)
        moment = utc_datetime(ts).astimezone(zone)
        locale = self.locale
        written = (str(get_datetime_format("long", locale=locale)).replace("'", "")
                   .replace("{1}", format_date(moment, "full", locale=locale))
                   .replace("{0}", format_time(moment, "short", tzinfo=zone, locale=locale)))
        if known in UTC_NAMES:
            text = self.gettext(ZONE_UTC) % {"time": written}
            known = "UTC"
        else:
            city = get_timezone_location(zone, locale=locale, return_city=True)
            text = self.gettext(ZONE_CITY) % {"time": written, "city": city}
        return PageTime(ts, iso_utc(ts), text, known)


@functools.lru_cache(maxsize=1024)
def _page_time(language: PageLanguage, ts: float) -> PageTime:
    """PageLanguage.time, remembered per language (its catalog object included: catalogs are
    read-only once built) and moment; PageTime is immutable."""
    return language._written(ts)


def seconds_until(moment: float, now: float) -> int:
    """Whole seconds from ``now`` until just after ``moment`` (at least 1)."""
    return max(1, math.ceil(moment - now) + 1)


# Jinja

ENGLISH = PageLanguage(DEFAULT_LANGUAGE, NullTranslations())


def _language(context: Context) -> PageLanguage:
    value = context.get("i18n")
    return value if isinstance(value, PageLanguage) else ENGLISH


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _language(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return _language(context).ngettext(singular, plural, count)


def install(env: Environment) -> None:
    """Give ``env`` gettext (``_``, ``{% trans %}``, whitespace trimmed) that reads the page's
    :class:`PageLanguage` from the render context's ``i18n``: no global state, so one
    environment serves every language at once. An environment without it renders English."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
