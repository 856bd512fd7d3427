"""Who attended, derived from the recorded stays when it is read. Pure functions.

A *stay* is one participant's time in one instance of the meeting, from join to leave (Zoom's
``user_id`` is new on every rejoin, so each rejoin is a new stay). A stay with no leave yet lasts
until now, or until its instance ended. Two stays of one registrant that overlap for longer than
the grace period are sharing; a dropped connection whose leave arrives late overlaps the rejoin
for less than that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable


@dataclass
class RegistrantAttendance:
    joins: int = 0
    max_concurrent: int = 0
    seconds: float = 0.0
    present: int = 0
    shared: bool = False


@dataclass
class Attendance:
    registrants: dict[str, RegistrantAttendance] = field(default_factory=dict)
    unmatched: list[dict[str, str]] = field(default_factory=list)


def zoom_time(ts: float) -> str:
    """Unix seconds as Zoom writes times: ``2026-12-01T18:01:00Z``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _interval(stay: dict[str, Any], end: float) -> tuple[float, float] | None:
    """The stay's [join, leave] with an open stay running to ``end``; None without a join."""
    if "j" not in stay:
        return None
    leave = stay.get("l", end)
    return (stay["j"], max(stay["j"], min(leave, end)))


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals present at one moment (a leave before a join at a tie)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))
    present = peak = 0
    for _, step in edges:
        present += step
        peak = max(peak, present)
    return peak


def sharing_evidence(stays: list[dict[str, Any]], end: float,
                     grace: float) -> tuple[dict, dict, float] | None:
    """Two stays that overlap for longer than ``grace`` seconds, with the overlap; else None.
    Stays of the host or staff (``x``) never count."""
    timed = [(stay, _interval(stay, end)) for stay in stays if not stay.get("x")]
    timed = [(stay, span) for stay, span in timed if span is not None]
    best = None
    for i, (first, (a0, a1)) in enumerate(timed):
        for second, (b0, b1) in timed[i + 1:]:
            overlap = min(a1, b1) - max(a0, b0)
            if overlap > grace and (best is None or overlap > best[2]):
                best = (first, second, overlap)
    return best


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def summarize(starts: dict[str, float], ends: dict[str, float],
              stays: dict[str, list[dict[str, Any]]], now: float, grace: float) -> Attendance:
    """Per-registrant attendance over every instance, and the unmatched participants."""
    result = Attendance()
    intervals: dict[str, list[tuple[float, float]]] = {}
    seen_unmatched: set[tuple[str, str]] = set()
    for instance, instance_stays in stays.items():
        end = ends.get(instance, now)
        by_registrant: dict[str, list[dict[str, Any]]] = {}
        for stay in instance_stays:
            if stay.get("r"):
                by_registrant.setdefault(stay["r"], []).append(stay)
            elif not stay.get("x") and "j" in stay:
                key = (stay.get("n", ""), stay.get("u", ""))
                if key not in seen_unmatched:
                    seen_unmatched.add(key)
                    result.unmatched.append({"user_name": key[0], "participant_uuid": key[1],
                                             "join_time": zoom_time(stay["j"])})
        for rid, own in by_registrant.items():
            summary = result.registrants.setdefault(rid, RegistrantAttendance())
            summary.joins += len(own)
            spans = [span for span in (_interval(stay, end) for stay in own) if span]
            intervals.setdefault(rid, []).extend(spans)
            summary.max_concurrent = max(summary.max_concurrent, peak_overlap(spans))
            if instance not in ends:
                summary.present += sum(1 for stay in own if "j" in stay and "l" not in stay)
            if sharing_evidence(own, end, grace):
                summary.shared = True
    for rid, spans in intervals.items():
        result.registrants[rid].seconds = union_seconds(spans)
    result.unmatched.sort(key=lambda row: row["join_time"])
    return result
