"""Times: reading an organizer's or Zoom's time, writing one for a report or an API (a page's
times are written in its language and the meeting's zone by :mod:`joingate.i18n`).

Pure functions of unix seconds. Every time joingate writes for a machine is ISO 8601 in UTC with
a ``Z`` (``2026-12-01T18:00:00Z``); values are clamped to the years 1 to 9999, so that no stored
time can make a page or a report fail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_SECONDS = -62135596800.0      # 0001-01-01T00:00:00Z
MAX_SECONDS = 253402300799.0      # 9999-12-31T23:59:59Z

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                     r"\s*([Zz]|UTC|[+-]\d{2}:?\d{2})?$")


def utc_datetime(ts: float | str) -> datetime:
    """Unix seconds as an aware UTC datetime, clamped to the years 1 to 9999."""
    seconds = min(max(float(ts), MIN_SECONDS), MAX_SECONDS)
    return EPOCH + timedelta(seconds=seconds)


def iso_utc(ts: float | str) -> str:
    """Unix seconds as ``2026-12-01T18:01:00Z`` (whole seconds): Zoom's form, and ours."""
    return utc_datetime(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def page_time(ts: float | str) -> str:
    """Unix seconds in English and UTC, as the organizer's dashboard shows them: ``Tuesday 01
    December 2026, 18:00 UTC`` (the registrant's pages write times through joingate/i18n.py)."""
    return utc_datetime(ts).strftime("%A %d %B %Y, %H:%M UTC")


def short_time(ts: float | str) -> str:
    """Unix seconds as an organizer reads them in a list: ``Tue 01 Dec, 18:05:09 UTC``."""
    return utc_datetime(ts).strftime("%a %d %b, %H:%M:%S UTC")


def clock_time(ts: float | str) -> str:
    """Unix seconds as a time of day on a timeline's axis: ``18:05`` (UTC)."""
    return utc_datetime(ts).strftime("%H:%M")


def parse_start(value: str) -> int:
    """An ISO 8601 / RFC 3339 time with a zone (``2026-12-01T18:00:00Z``, ``...+01:00``) as
    unix seconds; seconds may be left out and a space may stand for T (``2026-12-01 18:00Z``,
    ``2026-12-01 19:00 +0100``, ``... UTC``). A leap second counts as :59. Raises InvalidInput
    naming the problem."""
    match = RFC3339.match(value.strip())
    if not match:
        raise InvalidInput(f"start {value[:40]!r} is not an ISO 8601 time (e.g. "
                           "2026-12-01T18:00Z or 2026-12-01 19:00+01:00)")
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups()[:6])
    zone = match.group(8)
    if zone is None:
        raise InvalidInput(f"start {value[:40]!r} has no time zone; add Z or an offset "
                           "like +01:00")
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        raise InvalidInput(f"start {value[:40]!r} is not a real date and time") from None
    offset = 0 if zone in ("Z", "z", "UTC") else (int(zone[1:3]) * 60 + int(zone[-2:])) * 60
    seconds = int((moment - datetime(1970, 1, 1)).total_seconds())
    return seconds - offset if zone[:1] != "-" else seconds + offset


def parse_zoom_time(value: object) -> float | None:
    """Zoom's ISO 8601 time as unix seconds, clamped to the years 1 to 9999; None when absent
    or unreadable."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = (moment - EPOCH).total_seconds()
    except OverflowError:
        return None
    return min(max(seconds, MIN_SECONDS), MAX_SECONDS)
