"""One participant's stays past its budget (participant.lua's folds) as the stays the report
reads. Pure.

participant.lua keeps a participant's stays one by one up to a budget (a follow-up of security
finding 4); past it, in the participant's *fold*: its newest stays one by one (the members) and,
of the older ones it let go, closed intervals: where they were there (``union``), the same cut by
the handover rule (``cut``), where two people were there at once (``second``), and since when one
it let go while still there is counted as there (``there_since``). A fold reads as two stays:

- ``~1:<who>``: where any of its stays was there; ``folded``: how many spans they had, which the
  report's ``joins`` counts as it counts a stay's own;
- ``~2:<who>``: where two or more people of the fold were there at once: a person of its own,
  so that sharing past the budget is still seen (``folded`` 0). People: a signed-in user's Zoom
  user id, else each stay. In the fold of one Zoom user (who ``id:...``) it is where two of
  their stays were there at once, the same person: ``max_concurrent``, never sharing.

A member's spans are derived as :func:`attendance.intervals` derives a stay's, and cut as the
report's handover rule cuts them (a stay that ends within ``HANDOVER`` seconds after another
person's later join is a dropped connection), as participant.lua does when it lets one go. A
span whose join has not come (yet) counts as presence, never as a second person.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import NamedTuple

from .attendance import HANDOVER, intervals
from .records import Fold, Stay

Interval = tuple[float, float]


class _Span(NamedTuple):
    start: float
    end: float
    left: bool          # ended by a leave
    person: str
    member: str
    known: bool         # its join came


def is_fold(key: str) -> bool:
    """Whether a key of an instance's stays is a fold's (participant.lua names them so)."""
    return key.startswith("~1:")


def fold_stays(fold: Fold, instance_start: float) -> list[Stay]:
    """The fold as the stays the report reads: ``~1:<who>`` and, when two people of it were
    ever there at once, ``~2:<who>`` (see the module doc). ``instance_start``: when the
    instance started, as the report takes it (a leave whose join never came counts from it)."""
    one_user = fold.key.startswith("~1:id:")
    spans: list[_Span] = []
    for member in fold.members:
        record = Stay(member.key, fold.instance, sorted(member.joins), sorted(member.leaves))
        start = min([instance_start, *member.joins, *member.leaves])
        spans += [_Span(began, ended, left, member.zoom_user_id or member.key, member.key,
                        began in member.joins)
                  for began, ended, left in intervals(record, start, math.inf)]
    spans.sort(key=lambda span: span.start)
    ends = _cut(spans)
    forgotten = [] if fold.there_since is None else [(fold.there_since, math.inf)]
    union = _union([*fold.union, *((span.start, span.end) for span in spans), *forgotten])
    people: dict[str, list[Interval]] = {}
    for span, end in zip(spans, ends):
        if span.known:
            people.setdefault(span.member if one_user else span.person, []).append(
                (span.start, end))
    second = _union([*fold.second, *two_at_once([*people.values(), list(fold.cut),
                                                   forgotten])])
    found = [_as_stay(fold, fold.key, union, fold.spans_let_go + len(spans))]
    if second:
        found.append(_as_stay(fold, "~2:" + fold.key[3:], second, 0))
    return found


def _cut(spans: list[_Span]) -> list[float]:
    """Each span's end for the sharing count (``spans`` sorted by start): cut at another
    person's later start when it ended less than HANDOVER seconds after it."""
    ends = []
    for span in spans:
        end = span.end
        if span.left:
            for other in spans:
                if (other.person != span.person and span.start < other.start < end
                        and end - other.start <= HANDOVER):
                    end = other.start
        ends.append(end)
    return ends


def _union(pieces: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals (touching ones are one)."""
    out: list[Interval] = []
    for start, end in sorted(pieces):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def two_at_once(people: list[list[Interval]]) -> list[Interval]:
    """Where two or more of ``people`` (each a list of intervals) are there at once (a leave
    before a join at the same moment, as the report counts)."""
    edges = sorted((moment, step) for own in people for start, end in _union(own)
                   if end > start for moment, step in ((start, 1), (end, -1)))
    found: list[Interval] = []
    present, since = 0, 0.0
    for moment, step in edges:
        if present < 2 <= present + step:
            since = moment
        elif present >= 2 > present + step and moment > since:
            found.append((since, moment))
        present += step
    return found


def _as_stay(fold: Fold, key: str, lane: list[Interval], folded: int) -> Stay:
    """A lane as a stay: its intervals as joins and leaves (the last open when it lasts)."""
    return dataclasses.replace(fold.identity, key=key, instance=fold.instance,
                               joins=[start for start, _ in lane],
                               leaves=[end for _, end in lane if end != math.inf],
                               folded=folded)
