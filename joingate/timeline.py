"""The attendance timeline of one meeting instance, drawn as SVG on the server. Pure.

One row per person: a registrant's stays (the attendance spans of :mod:`joingate.attendance`),
grouped by person as attribution counts them (one signed-in Zoom user on several devices is one
person), each person on the registrant's first row where they overlap nobody already there: a
rejoin continues its row, and two people present together on one registration are two rows,
one under the other. A participant no registrant explains gets a row of their own
(``Unmatched: <name>``). A bar is one span: from a join to its leave, or to the instance's end
(or now) while there is no leave yet. Where a registration's people were present together and
the report flags it ``shared`` or ``shared_suspected`` in this instance, the time they overlap
is highlighted across their rows. A refused open or claim of the registrant's link (bound to
another device) is a mark on the registrant's first row, at its time; refusals count for an
instance from ``lead`` seconds before it started (the links' opening lead) to its end.

The SVG uses presentation attributes only (no CSS, no script), so it is the same inline in a
page under a strict Content-Security-Policy and as a downloaded file. Every element that
carries meaning has a class (``stay``, ``overlap``, ``refused``) and a ``<title>``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .attendance import MEDIUM, STRONG, WEAK, Attendance, Span, intervals
from .folds import two_at_once
from .records import FeedEvent, Instance, Stay
from .times import clock_time, short_time

WIDTH = 960
LABEL = 210                 # the label column
PAD = 16
AXIS = 30
ROW = 24
BAR = 14
LEGEND = 36
MAX_LABEL = 28
TICK_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_TICKS = 10

# Colours on white, each at least 4.5:1 against it where it carries text or a thin mark.
INK, MUTED, GRID, ZEBRA = "#1a1a1a", "#555555", "#d0d0d0", "#f4f6f9"
STAY, STILL_IN, UNMATCHED = "#1f5fbf", "#0b3d91", "#6b6b6b"
SHARED, SUSPECTED, REFUSED = "#c5221f", "#b06000", "#a50e0e"

# XML 1.0 has no place for these: a typed Zoom name may carry any of them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Bar:
    start: float
    end: float
    still_in: bool           # no leave yet: the person is there now (or was at the end)
    title: str
    unmatched: bool = False


@dataclass(frozen=True)
class Refusal:
    at: float
    title: str


@dataclass
class Row:
    label: str
    title: str
    bars: list[Bar] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def first(self) -> float:
        times = [bar.start for bar in self.bars] + [mark.at for mark in self.refusals]
        return min(times) if times else 0.0


@dataclass(frozen=True)
class Overlap:
    first_row: int
    last_row: int
    start: float
    end: float
    flag: str                # shared | shared_suspected


@dataclass
class Timeline:
    number: int              # 1 for the meeting's first instance, by start time
    instance: str            # Zoom's instance uuid
    start: float             # the axis
    end: float
    ended: bool
    rows: list[Row]
    overlaps: list[Overlap]

    @property
    def bars(self) -> int:
        return sum(len(row.bars) for row in self.rows)

    @property
    def refusals(self) -> int:
        return sum(len(row.refusals) for row in self.rows)


def build_timeline(instance: Instance, number: int, attendance: Attendance, stays: list[Stay],
                   names: dict[str, str], refusals: Iterable[FeedEvent], now: float,
                   lead: float) -> Timeline:
    """The timeline of ``instance``. ``attendance`` and ``stays`` are the meeting's (as
    :meth:`Presence.recorded` gives them); ``names`` maps registrant ids to the name shown;
    ``refusals`` are the feed's refused opens and claims (any instance: those outside this
    one's time are left out)."""
    uuid = instance.uuid
    end = instance.ended if instance.ended is not None else now
    blocks: list[tuple[str, list[Row], str]] = []        # registrant, rows, flag here
    attributed: set[str] = set()
    for rid, summary in attendance.registrants.items():
        spans = sorted((span for span in summary.spans if span.stay.instance == uuid),
                       key=lambda span: span.start)
        if not spans:
            continue
        people: dict[str, list[Span]] = {}
        for span in spans:
            people.setdefault(span.person, []).append(span)
            attributed.add(span.stay.key)
        name = names.get(rid, rid)
        lanes = _lanes(list(people.values()))
        lane_rows = []
        for n, lane in enumerate(lanes, 1):
            label = name if len(lanes) == 1 else f"{name} ({n})"
            evidence = min((span.attribution for span in lane),
                           key=lambda a: (STRONG, MEDIUM, WEAK).index(a.strength))
            bars = [Bar(span.start, span.end, not span.left,
                        _bar_title(label, span.stay.user_name, span.start, span.end,
                                   not span.left)) for span in lane]
            lane_rows.append(Row(label, f"{label}: {evidence.strength} evidence "
                                        f"({evidence.via})", bars))
        flag = next((item["flag"] for item in summary.evidence
                     if item.get("instance") == uuid), "")
        blocks.append((rid, lane_rows, flag))

    opened = instance.started - lead
    by_rid = {rid: rows for rid, rows, _ in blocks}
    for event in refusals:
        if not event.registrant or not opened <= event.at <= end:
            continue
        what = "claim" if event.kind == "refused" else "open"
        name = names.get(event.registrant, event.registrant)
        mark = Refusal(event.at, f"{name}: {what} refused at {short_time(event.at)} "
                                 "(the link is bound to another device)")
        if event.registrant not in by_rid:
            alone = [Row(name, f"{name}: refused, never in the meeting")]
            blocks.append((event.registrant, alone, ""))
            by_rid[event.registrant] = alone
        by_rid[event.registrant][0].refusals.append(mark)

    unmatched_people = {(row["user_name"], row["participant_uuid"]) for row in
                        attendance.unmatched}
    strangers: dict[tuple[str, str], Row] = {}
    for stay in sorted(stays, key=lambda s: min([*s.joins, *s.leaves], default=0.0)):
        who = (stay.user_name, stay.participant_uuid)
        if stay.instance != uuid or stay.key in attributed or who not in unmatched_people:
            continue
        label = f"Unmatched: {stay.user_name or '(no name)'}"
        row = strangers.setdefault(who, Row(label, f"{label}: no registration explains "
                                                   "this participant"))
        start = min([instance.started, *stay.joins, *stay.leaves])
        row.bars += [Bar(s, e, not left, _bar_title(label, stay.user_name, s, e, not left),
                         unmatched=True) for s, e, left in intervals(stay, start, end)]

    blocks.sort(key=lambda block: min(row.first for row in block[1]))
    rows: list[Row] = []
    overlaps: list[Overlap] = []
    for _rid, block_rows, flag in blocks:
        first = len(rows)
        rows += block_rows
        if flag in ("shared", "shared_suspected") and len(block_rows) >= 2:
            for start, stop in two_at_once([[(bar.start, bar.end) for bar in row.bars]
                                            for row in block_rows]):
                overlaps.append(Overlap(first, len(rows) - 1, start, stop, flag))
    rows += sorted(strangers.values(), key=lambda row: row.first)

    times = [instance.started, end] + [bar.start for row in rows for bar in row.bars] + [
        mark.at for row in rows for mark in row.refusals]
    return Timeline(number, uuid, min(times), max(times), instance.ended is not None, rows,
                    overlaps)


def _lanes(people: list[list[Span]]) -> list[list[Span]]:
    """A registrant's people placed on rows: each person on the first row where none of their
    spans overlaps one already there, so that a rejoin (a new stay, often a new person to
    attribution) continues its row and people present together take one row each."""
    lanes: list[list[Span]] = []
    for own in sorted(people, key=lambda spans: min(span.start for span in spans)):
        for lane in lanes:
            if not any(a.start < b.end and b.start < a.end for a in own for b in lane):
                lane.extend(own)
                break
        else:
            lanes.append(list(own))
    return [sorted(lane, key=lambda span: span.start) for lane in lanes]


def _bar_title(label: str, zoom_name: str, start: float, end: float, still_in: bool) -> str:
    shown = f" as “{zoom_name}”" if zoom_name and zoom_name != label else ""
    until = "still in" if still_in else f"left {clock_time(end)}"
    return (f"{label}{shown}: joined {clock_time(start)}, {until} "
            f"({round((end - start) / 60, 1)} min)")


def _text(value: str) -> str:
    return html.escape(_NOT_XML.sub("\ufffd", value), quote=True)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"


def _tick_step(seconds: float) -> int:
    for step in TICK_STEPS:
        if seconds / step <= MAX_TICKS:
            return step
    return TICK_STEPS[-1]


def render_svg(timeline: Timeline, *, standalone: bool = False) -> str:
    """The timeline as an SVG document (``standalone``: with the XML declaration, for a file)
    or element (inline in a page). Its ids are unique per instance number."""
    rows = timeline.rows
    height = AXIS + max(len(rows), 1) * ROW + LEGEND
    t0, t1 = timeline.start, max(timeline.end, timeline.start + 60)
    span = WIDTH - LABEL - PAD

    def x(at: float) -> float:
        return round(LABEL + (at - t0) / (t1 - t0) * span, 1)

    ident = f"timeline-{timeline.number}"
    status = "ended" if timeline.ended else "still running"
    summary = (f"{len(rows)} people, {timeline.bars} stays, {len(timeline.overlaps)} "
               f"overlaps flagged, {timeline.refusals} refused attempts; "
               f"{clock_time(timeline.start)} to {clock_time(timeline.end)} UTC, {status}")
    out = []
    if standalone:
        out.append('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
               f'width="100%" role="img" aria-labelledby="{ident}-title {ident}-desc" '
               f'class="timeline" font-family="system-ui, -apple-system, sans-serif" '
               f'font-size="12" data-bars="{timeline.bars}">')
    out.append(f'<title id="{ident}-title">Attendance, instance {timeline.number} '
               f'({_text(timeline.instance)})</title>')
    out.append(f'<desc id="{ident}-desc">{_text(summary)}</desc>')
    out.append(f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>')

    step = _tick_step(t1 - t0)
    tick = (int(t0) // step + 1) * step if int(t0) % step else int(t0)
    bottom = AXIS + len(rows) * ROW
    out.append('<g class="axis">')
    while tick <= t1:
        tx = x(tick)
        out.append(f'<line x1="{tx}" y1="{AXIS - 6}" x2="{tx}" y2="{bottom}" stroke="{GRID}" '
                   'stroke-width="1"/>')
        out.append(f'<text x="{tx}" y="{AXIS - 10}" text-anchor="middle" fill="{MUTED}">'
                   f'{clock_time(tick)}</text>')
        tick += step
    out.append(f'<text x="{PAD}" y="{AXIS - 10}" fill="{MUTED}">UTC</text></g>')

    for index, row in enumerate(rows):
        top = AXIS + index * ROW
        if index % 2:
            out.append(f'<rect x="0" y="{top}" width="{WIDTH}" height="{ROW}" fill="{ZEBRA}"/>')
        out.append(f'<text class="label" x="{PAD}" y="{top + ROW / 2 + 4}" fill="{INK}">'
                   f'{_text(_short(row.label))}<title>{_text(row.title)}</title></text>')

    for overlap in timeline.overlaps:
        colour = SHARED if overlap.flag == "shared" else SUSPECTED
        top = AXIS + overlap.first_row * ROW + 1
        tall = (overlap.last_row - overlap.first_row + 1) * ROW - 2
        width = max(x(overlap.end) - x(overlap.start), 2)
        out.append(f'<rect class="overlap {overlap.flag}" x="{x(overlap.start)}" y="{top}" '
                   f'width="{round(width, 1)}" height="{tall}" fill="{colour}" '
                   f'fill-opacity="0.16" stroke="{colour}" stroke-width="1.5" '
                   f'stroke-dasharray="4 2"><title>{overlap.flag.replace("_", " ")}: '
                   f'together {clock_time(overlap.start)} to {clock_time(overlap.end)} '
                   f'({round((overlap.end - overlap.start) / 60, 1)} min)</title></rect>')

    for index, row in enumerate(rows):
        bar_top = AXIS + index * ROW + (ROW - BAR) / 2
        for bar in row.bars:
            colour = UNMATCHED if bar.unmatched else STILL_IN if bar.still_in else STAY
            kind = "stay unmatched" if bar.unmatched else "stay still-in" if bar.still_in \
                else "stay"
            width = max(x(bar.end) - x(bar.start), 2)
            out.append(f'<rect class="{kind}" x="{x(bar.start)}" y="{bar_top}" '
                       f'width="{round(width, 1)}" height="{BAR}" rx="3" fill="{colour}">'
                       f'<title>{_text(bar.title)}</title></rect>')
        for mark in row.refusals:
            mx, my = x(mark.at), AXIS + index * ROW + ROW / 2
            out.append(f'<path class="refused" d="M{mx} {my - 7} L{mx + 6} {my + 5} '
                       f'L{mx - 6} {my + 5} Z" fill="{REFUSED}" stroke="#ffffff" '
                       f'stroke-width="1"><title>{_text(mark.title)}</title></path>')

    legend = bottom + 22
    items = [("rect", STAY, "stay"), ("rect", STILL_IN, "still in"),
             ("rect", UNMATCHED, "unmatched"), ("box", SHARED, "shared"),
             ("box", SUSPECTED, "shared (by name only)"), ("mark", REFUSED, "refused")]
    out.append('<g class="legend">')
    lx = float(PAD)
    for shape, colour, text in items:
        if shape == "rect":
            out.append(f'<rect x="{lx}" y="{legend - 10}" width="18" height="10" rx="2" '
                       f'fill="{colour}"/>')
        elif shape == "box":
            out.append(f'<rect x="{lx}" y="{legend - 11}" width="18" height="12" '
                       f'fill="{colour}" fill-opacity="0.16" stroke="{colour}" '
                       f'stroke-dasharray="4 2"/>')
        else:
            out.append(f'<path d="M{lx + 9} {legend - 11} L{lx + 15} {legend + 1} '
                       f'L{lx + 3} {legend + 1} Z" fill="{colour}"/>')
        out.append(f'<text x="{lx + 24}" y="{legend}" fill="{INK}">{text}</text>')
        lx += 24 + 7 * len(text) + 18
    out.append('</g></svg>')
    return "".join(out)
