"""Who attended, and on what evidence: derived from the recorded stays when it is read. Pure.

A *stay* is one participant's presence in one instance of the meeting, keyed by Zoom's
``user_id`` (new on every rejoin); it keeps every identifier its deliveries carried and every
join and leave time (see :class:`joingate.records.Stay`).

Evidence, strongest first (the strongest a stay carries decides; a weaker one never overrides it):

- **strong**: Zoom's ``registrant_id`` (the registrant's own Zoom link) or our ``customer_key``;
- **medium**: the email of a signed-in Zoom user (the stay has a Zoom user id);
- **weak**: the display name of the earliest delivery, equal to the one joingate gave. Anyone
  can type a name: a stay whose strong or medium identifier names registrant B is never counted
  for A because of its name, and a rename never moves a stay.

People: stays with the same Zoom user id are one person on several devices (companion mode);
any other stay is a person of its own. Sharing: within one instance, two or more people present
on one registration for more than ``grace`` seconds *in total* (the union of the moments when at
least two are there). ``shared`` when the people are attributed on strong or medium evidence;
``shared_suspected`` when it takes a name to see it. A stay that ends within ``HANDOVER``
seconds after a later stay of the same registration began is a dropped connection whose leave
came late (Zoom notices a killed client up to 1.5 minutes later): it is cut at the rejoin and
adds nothing to sharing.

Intervals: each join opens one (a second join of the same stay without a leave between keeps
the first open); each leave closes the open one. A leave whose join never arrived counts from
the instance's start (or from that stay's previous leave): the person was there, we do not know
since when. An open interval lasts until the instance ended, or until now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .records import Instance, Stay
from .signing import normalize_email
from .times import iso_utc

HANDOVER = 150.0     # seconds: a late leave after a rejoin is a dropped connection, not sharing

STRONG, MEDIUM, WEAK = "strong", "medium", "weak"


@dataclass(frozen=True)
class Roster:
    """What attribution looks up: the meeting's registrants by each identifier."""

    by_zoom_id: dict[str, str] = field(default_factory=dict)      # Zoom registrant_id -> rid
    ids: frozenset[str] = frozenset()                             # every registrant id
    by_email: dict[str, str] = field(default_factory=dict)        # normalised email -> rid
    by_display: dict[str, str] = field(default_factory=dict)      # casefolded display -> rid
    staff: frozenset[str] = frozenset()      # normalised emails, casefolded Zoom user ids


@dataclass(frozen=True)
class Attribution:
    registrant: str
    strength: str          # strong | medium | weak
    via: str               # registrant_id | customer_key | email | name


def attribute(stay: Stay, roster: Roster) -> Attribution | None:
    """Which registrant ``stay`` is, on the strongest evidence it carries; None for nobody."""
    if stay.zoom_registrant_id and stay.zoom_registrant_id in roster.by_zoom_id:
        return Attribution(roster.by_zoom_id[stay.zoom_registrant_id], STRONG, "registrant_id")
    customer = stay.customer_key.lower()
    if customer and customer in roster.ids:
        return Attribution(customer, STRONG, "customer_key")
    email = normalize_email(stay.email)
    if stay.zoom_user_id and email in roster.by_email:
        return Attribution(roster.by_email[email], MEDIUM, "email")
    if stay.user_name and stay.user_name.casefold() in roster.by_display:
        return Attribution(roster.by_display[stay.user_name.casefold()], WEAK, "name")
    return None


def is_exempt(stay: Stay, roster: Roster) -> bool:
    """The host, or staff by the identifiers of a signed-in Zoom user (never by a name)."""
    if stay.host:
        return True
    return bool(stay.zoom_user_id) and (stay.zoom_user_id.casefold() in roster.staff
                                        or bool(stay.email)
                                        and normalize_email(stay.email) in roster.staff)


def intervals(stay: Stay, start: float, end: float) -> list[tuple[float, float, bool]]:
    """The stay's presence as (from, to, ended by a leave) within its instance (see the
    module doc)."""
    edges = sorted([(t, 0) for t in stay.leaves] + [(t, 1) for t in stay.joins])
    found: list[tuple[float, float, bool]] = []
    opened: float | None = None
    last_leave: float | None = None
    for at, is_join in edges:
        if is_join:
            if opened is None:
                opened = at
        else:
            began = opened if opened is not None else min(at, last_leave or start)
            found.append((began, max(began, min(at, end)), True))
            opened, last_leave = None, at
    if opened is not None:
        found.append((opened, max(opened, end), False))
    return found


def is_open(stay: Stay) -> bool:
    """The stay's latest delivery is a join: the person is in now (unless the instance ended)."""
    return bool(stay.joins) and (not stay.leaves or max(stay.joins) > max(stay.leaves))


def peak_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """The largest number of spans present at one moment (a leave before a join at a tie)."""
    spans = list(spans)
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    present = peak = 0
    for _, step in edges:
        present += step
        peak = max(peak, present)
    return peak


def union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(spans):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total


def together_seconds(people: list[list[tuple[float, float]]]) -> float:
    """Seconds during which at least two of ``people`` (each a list of spans) are present."""
    edges: list[tuple[float, int]] = []
    for spans in people:
        merged: list[tuple[float, float]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        for start, end in merged:
            if end > start:
                edges += [(start, 1), (end, -1)]
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    total, present, since = 0.0, 0, 0.0
    for at, step in edges:
        if present >= 2:
            total += at - since
        present += step
        since = at
    return total


@dataclass
class Span:
    """One interval of one stay attributed to a registrant."""

    stay: Stay
    person: str
    attribution: Attribution
    start: float
    end: float
    left: bool             # ended by a leave (else it runs until now or the instance's end)


@dataclass
class RegistrantAttendance:
    joins: int = 0
    max_concurrent: int = 0
    people: int = 0                # most distinct people on the registration in one instance
    seconds: float = 0.0
    present: int = 0
    flags: list[str] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)


@dataclass
class Attendance:
    registrants: dict[str, RegistrantAttendance] = field(default_factory=dict)
    unmatched: list[dict[str, str]] = field(default_factory=list)
    unmatched_stays: list[Stay] = field(default_factory=list)


def person_of(stay: Stay) -> str:
    """One person: a signed-in Zoom user on any number of devices, else the stay itself."""
    return f"user:{stay.zoom_user_id}" if stay.zoom_user_id else f"stay:{stay.key}"


def _cut_handovers(spans: list[Span]) -> list[tuple[Span, float]]:
    """Each span with its end for the sharing count: cut at a later span's start when it ended
    less than HANDOVER seconds after it (a dropped connection whose leave came late)."""
    cut = []
    for span in spans:
        end = span.end
        for other in spans:
            if (span.left and other.person != span.person and span.start < other.start < end
                    and end - other.start <= HANDOVER):
                end = other.start
        cut.append((span, end))
    return cut


def _sharing(spans: list[Span], grace: float) -> tuple[str, dict] | None:
    """The flag (shared or shared_suspected) and its evidence for one registrant's spans in one
    instance, or None."""
    cut = _cut_handovers(spans)
    by_person: dict[str, list[tuple[Span, float]]] = {}
    for span, end in cut:
        by_person.setdefault(span.person, []).append((span, end))
    if len(by_person) < 2:
        return None
    everyone = [[(s.start, e) for s, e in own] for own in by_person.values()]
    seen_together = together_seconds(everyone)
    if seen_together <= grace:
        return None
    sure = [[(s.start, e) for s, e in own] for own in by_person.values()
            if any(s.attribution.strength != WEAK for s, _ in own)]
    sure_together = together_seconds(sure) if len(sure) >= 2 else 0.0
    flag = "shared" if sure_together > grace else "shared_suspected"
    people = []
    for own in sorted(by_person.values(), key=lambda spans: min(s.start for s, _ in spans)):
        strongest = min((s.attribution for s, _ in own),
                        key=lambda a: (STRONG, MEDIUM, WEAK).index(a.strength))
        stays = {s.stay.key: s.stay for s, _ in own}
        people.append({
            "evidence": strongest.strength, "via": strongest.via,
            "stays": [_stay_view(stay, min(s.start for s, _ in own if s.stay is stay))
                      for stay in stays.values()]})
    return flag, {"instance": spans[0].stay.instance,
                  "overlap_seconds": round(sure_together if flag == "shared" else seen_together,
                                           1),
                  "people": people}


def _stay_view(stay: Stay, joined: float) -> dict[str, str]:
    view = {"user_name": stay.user_name, "participant_uuid": stay.participant_uuid,
            "join_time": iso_utc(joined)}
    for name, value in (("renamed_to", stay.renamed_to), ("zoom_user_id", stay.zoom_user_id),
                        ("email", stay.email), ("registrant_id", stay.zoom_registrant_id),
                        ("customer_key", stay.customer_key)):
        if value:
            view[name] = value
    return view


def summarize(instances: list[Instance], stays: list[Stay], roster: Roster, now: float,
              grace: float) -> Attendance:
    """Per-registrant attendance over every instance, their flags with the evidence, and the
    participants no registrant explains."""
    result = Attendance()
    by_instance = {instance.uuid: instance for instance in instances}
    all_spans: dict[str, list[tuple[float, float]]] = {}
    seen_unmatched: set[tuple[str, str]] = set()
    grouped: dict[tuple[str, str], list[Span]] = {}
    for stay in sorted(stays, key=lambda s: (s.instance, s.key)):
        instance = by_instance.get(stay.instance) or Instance(stay.instance, now)
        end = instance.ended if instance.ended is not None else now
        start = min([instance.started, *stay.joins, *stay.leaves])
        spans = intervals(stay, start, end)
        if not spans or is_exempt(stay, roster):
            continue
        found = attribute(stay, roster)
        if found is None:
            key = (stay.user_name, stay.participant_uuid)
            if key not in seen_unmatched:
                seen_unmatched.add(key)
                result.unmatched.append({"user_name": stay.user_name,
                                         "participant_uuid": stay.participant_uuid,
                                         "join_time": iso_utc(spans[0][0])})
                result.unmatched_stays.append(stay)
            continue
        summary = result.registrants.setdefault(found.registrant, RegistrantAttendance())
        summary.joins += len(spans) if stay.folded is None else stay.folded
        times = [(s, e) for s, e, _ in spans]
        if instance.ended is None and is_open(stay):
            summary.present += 1
        all_spans.setdefault(found.registrant, []).extend(times)
        grouped.setdefault((found.registrant, stay.instance), []).extend(
            Span(stay, person_of(stay), found, s, e, left) for s, e, left in spans)
    for (rid, _instance), own in sorted(grouped.items()):
        summary = result.registrants[rid]
        summary.spans.extend(own)
        summary.max_concurrent = max(summary.max_concurrent,
                                     peak_overlap((s.start, s.end) for s in own))
        people: dict[str, list[tuple[float, float]]] = {}
        for span in own:
            people.setdefault(span.person, []).append((span.start, span.end))
        summary.people = max(summary.people, len(people))
        sharing = _sharing(own, grace)
        if sharing:
            flag, evidence = sharing
            if flag not in summary.flags:
                summary.flags.append(flag)
            summary.evidence.append({"flag": flag, **evidence})
    for rid, spans_of in all_spans.items():
        result.registrants[rid].seconds = union_seconds(spans_of)
    for summary in result.registrants.values():
        if "shared" in summary.flags and "shared_suspected" in summary.flags:
            summary.flags.remove("shared_suspected")
    result.unmatched.sort(key=lambda row: row["join_time"])
    return result
