"""What ``joingate links send`` shows while it runs: a progress bar on a terminal (count, rate,
time left), plain lines elsewhere (a log, a pipe, cron), and the summary at the end.

Both are :class:`joingate.sender.SendObserver`; the worker logs instead (:class:`LogProgress`).
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

from .sender import SendSummary

BAR = 28
REDRAW = 0.1          # seconds between redraws of the bar
PLAIN_EVERY = 10.0    # seconds between progress lines when not on a terminal


def duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class _Rate:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.total = 0
        self.done = 0

    def text(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return f"{self.done}/{self.total}  {rate:.1f}/s  {duration(left)} left"


class TerminalProgress(_Rate):
    """One line redrawn in place; outcomes other than a plain success print above it."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.drawn = 0.0

    def begin(self, total: int, dry_run: bool) -> None:
        self.total, self.started = total, time.monotonic()
        self._draw()

    def outcome(self, email: str, state: str, detail: str) -> None:
        if state in ("sent", "would send") and not detail.startswith("was in flight"):
            return
        self.stream.write(f"\r\x1b[K{state}: {email}: {detail}\n")
        self._draw()

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if time.monotonic() - self.drawn >= REDRAW:
            self._draw()

    def end(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        filled = BAR * self.done // self.total if self.total else BAR
        self.stream.write(f"\r\x1b[K[{'#' * filled}{'.' * (BAR - filled)}] {self.text()}")
        self.stream.flush()
        self.drawn = time.monotonic()


class PlainProgress(_Rate):
    """A line per outcome (never per skip), and a progress line every PLAIN_EVERY seconds."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.printed = time.monotonic()

    def begin(self, total: int, dry_run: bool) -> None:
        self.total, self.started = total, time.monotonic()
        self.stream.write(f"{'checking' if dry_run else 'sending'} {total} registrant(s)\n")

    def outcome(self, email: str, state: str, detail: str) -> None:
        self.stream.write(f"{state}: {email}{': ' + detail if detail else ''}\n")

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if time.monotonic() - self.printed >= PLAIN_EVERY:
            self.stream.write(f"progress: {self.text()}\n")
            self.stream.flush()
            self.printed = time.monotonic()

    def end(self) -> None:
        self.stream.flush()


class LogProgress(_Rate):
    """The worker's: problems as warnings, progress as info lines every PLAIN_EVERY seconds.
    Names the meeting, never the link."""

    def __init__(self, log: logging.Logger, meeting_id: str) -> None:
        super().__init__()
        self.log, self.meeting_id = log, meeting_id
        self.printed = time.monotonic()

    def begin(self, total: int, dry_run: bool) -> None:
        self.total, self.started = total, time.monotonic()
        self.log.info("meeting %s: sending the links of %d registrant(s)", self.meeting_id, total)

    def outcome(self, email: str, state: str, detail: str) -> None:
        if state != "sent":
            self.log.warning("meeting %s: %s: %s: %s", self.meeting_id, state, email, detail)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if time.monotonic() - self.printed >= PLAIN_EVERY:
            self.log.info("meeting %s: %s", self.meeting_id, self.text())
            self.printed = time.monotonic()

    def end(self) -> None:
        self.log.info("meeting %s: %s", self.meeting_id, self.text())


def summary_lines(summary: SendSummary) -> list[str]:
    """The closing summary: counts, then each registrant left without the link, by name."""
    counts = summary.counts
    if summary.dry_run:
        lines = [f"dry run: would send {counts['sent']}, skip {counts['skipped']} (sent or "
                 f"bounced before), {counts['invalid']} invalid address(es), "
                 f"{counts['revoked']} revoked; nothing was sent or recorded"]
    else:
        lines = [f"sent {counts['sent']}, skipped {counts['skipped']} (already sent or bounced "
                 f"before), bounced {counts['bounced']}, failed {counts['failed']}, invalid "
                 f"{counts['invalid']}, revoked {counts['revoked']}"]
    for email in summary.in_flight:
        lines.append(f"in flight when an earlier run stopped, sent again with the same "
                     f"Message-ID (may have it twice): {email}")
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped}")
    return lines


def problem_lines(summary: SendSummary) -> list[str]:
    return [f"error: {state}: {email}: {reply}" for email, state, reply in summary.problems]
