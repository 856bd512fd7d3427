"""Mail every registrant of a meeting their link: one run of ``joingate links send``, of
``links reissue --send``, or of a send job in the worker.

Each registrant once. Before a message is handed to the SMTP server, its record (``sending``,
with the Message-ID) is in Redis; after the server's answer, the outcome (``sent``, ``bounced``,
``failed``, with the reply) is, before the next registrant starts. A rerun skips those sent (of
the link version now valid) and those bounced, and sends the rest. The only message that can
reach a registrant twice is the one in flight when a run was killed: its record still says
``sending``; the rerun sends it again with the same Message-ID (mail systems that deduplicate on it
show it once) and names it. One run at a time per meeting: a lock in Redis, renewed with every
record, taken over when its holder is a dead process on this host, or after it expires.

Registrants are read a page at a time and each message is built, sent and dropped: memory does not
grow with the meeting. Templates are compiled and rendered once for the first registrant before
anything is sent or recorded, so a template error is refused with its line and nothing goes out.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

from .errors import ConfigError, InvalidInput, MailUnavailable, NotFound, SendBusy
from .mail import (
    MailTemplates,
    build_message,
    mail_context,
    mail_language,
    message_bytes,
    new_message_id,
)
from .pages import builtin_template_dir
from .records import SEND_COUNTERS, Meeting, Registrant, SendRecord, SendRun
from .roster import mail_address_problem, smtp_address
from .smtp import Bounced, SmtpConnection, SmtpTarget, TryLater
from .state import AppState

log = logging.getLogger("joingate.sender")

RETRY_DELAYS = (2.0, 10.0, 30.0)   # seconds before the 2nd, 3rd and 4th try of one message
LOCK_LIFETIME = 60                 # seconds a dead sender on another host holds a meeting
PAGE = 500                         # registrants read per round trip
COUNTERS = SEND_COUNTERS
# The registrant a template is tried on when the selection is empty.
SAMPLE_REGISTRANT = Registrant(id="0" * 16, email="ana@example.org", name="Ana Lima",
                               display_name="Ana Lima")


class SendObserver(Protocol):
    """What a run tells its caller (a progress bar, plain lines, the worker's log)."""

    def begin(self, total: int, dry_run: bool) -> None: ...

    def outcome(self, email: str, state: str, detail: str) -> None: ...

    def progress(self, done: int, total: int) -> None: ...

    def end(self) -> None: ...


class QuietObserver:
    def begin(self, total: int, dry_run: bool) -> None:
        pass

    def outcome(self, email: str, state: str, detail: str) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class SendSummary:
    """What a run did. ``problems``: (email, state, reply) of every registrant of the selection
    left without the link (bounced now or before, failed, invalid); ``in_flight``: those sent
    again because an earlier run stopped while sending them (each may have it twice);
    ``stopped``: why the run ended before the selection did."""

    meeting_id: str
    total: int = 0
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    stopped: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.stopped

    @property
    def not_attempted(self) -> int:
        return max(self.total - self.counts["done"], 0)


class ConnectionGone(Exception):
    """The server stayed unreachable through every retry of one message: stop the run."""


def run_id() -> str:
    """``host:pid:random``: who holds a meeting, so that a dead holder on this host is seen."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` is a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LinkSender:
    """One run over a meeting's registrants (or ``only`` some of them)."""

    def __init__(self, state: AppState, *, observer: SendObserver | None = None,
                 by: str = "cli", job: str = "",
                 should_stop: Callable[[], bool] = lambda: False,
                 connection: SmtpConnection | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.state = state
        self.store = state.store
        self.config = state.config
        self.observer = observer or QuietObserver()
        self.by, self.job = by, job
        self.should_stop = should_stop
        self.connection = connection
        self.sleep = sleep
        self.run_id = run_id()
        self.templates: MailTemplates | None = None
        self.summary = SendSummary("")
        self._pending: dict[str, int] = {}
        self._next_slot = 0.0

    # Before anything is sent

    def check_settings(self) -> None:
        """Raise ConfigError naming the setting that sending needs and lacks."""
        for name in ("SMTP_URL", "MAIL_FROM"):
            if not getattr(self.config, name.lower()):
                raise ConfigError(f"JOINGATE_{name} is not set: joingate cannot mail the links "
                                  "(README, 'Send the links')")

    def prepare(self, meeting_id: str, only: list[str] | None = None) -> Meeting:
        """Compile the templates and render the first registrant's message; returns the
        meeting. Raises TemplateProblem (file and line), NotFound (the meeting, or an email of
        ``only``)."""
        meeting = self.state.meetings.get(meeting_id)
        for email in only or []:
            self._registrant(meeting_id, email)
        self.templates = MailTemplates(builtin_template_dir(), self.config.template_dir)
        first = next(self._pages(meeting_id, only), [])
        self._message(meeting, first[0] if first else SAMPLE_REGISTRANT,
                      new_message_id(self.config.mail_from))
        return meeting

    def _pages(self, meeting_id: str, only: list[str] | None) -> Iterator[list[Registrant]]:
        """The selection, a page at a time, in order of first issue (or of ``only``). Raises
        NotFound for an email of ``only`` that is no registrant (any more)."""
        meetings = self.state.meetings
        if only is not None:
            for start in range(0, len(only), PAGE):
                yield [self._registrant(meeting_id, email) for email in only[start:start + PAGE]]
            return
        offset = 0
        while offset < meetings.registrant_count(meeting_id):
            yield meetings.registrants(meeting_id, offset, PAGE)
            offset += PAGE

    def _registrant(self, meeting_id: str, email: str) -> Registrant:
        """The registrant of ``email``; NotFound naming the address as it was given."""
        found = self.state.meetings.registrant_by_id(
            meeting_id, self.state.meetings.registrant_id(email))
        if found is None:
            raise NotFound(f"no registrant {email} in meeting {meeting_id}")
        return found

    def _build(self, meeting: Meeting, registrant: Registrant,
               message_id: str) -> EmailMessage:
        assert self.templates is not None
        link = self.state.meetings.link_url(meeting.id, registrant.id, registrant.version)
        rendered = self.templates.render(mail_context(
            meeting, registrant, link, mail_language(self.state.catalogs, meeting)))
        return build_message(rendered, mail_from=self.config.mail_from,
                             reply_to=self.config.mail_reply_to, to_name=registrant.name,
                             to_address=registrant.email, message_id=message_id,
                             now=self.state.clock())

    def _message(self, meeting: Meeting, registrant: Registrant, message_id: str) -> bytes:
        return message_bytes(self._build(meeting, registrant, message_id))

    def preview(self, meeting_id: str, email: str) -> EmailMessage:
        """The message ``email`` would get now; sends and records nothing. Raises NotFound,
        TemplateProblem, InvalidInput (an address no server takes)."""
        registrant = self.state.meetings.registrant(meeting_id, email)
        problem = mail_address_problem(registrant.email)
        if problem:
            raise InvalidInput(f"{registrant.email}: the address {problem}")
        meeting = self.prepare(meeting_id, [email])
        return self._build(meeting, registrant, new_message_id(self.config.mail_from))

    # The run

    def run(self, meeting_id: str, only: list[str] | None = None, resend: bool = False,
            dry_run: bool = False) -> SendSummary:
        """Send (with ``dry_run``: only render and count) the selection's messages.

        ``only``: these emails, sent even if sent before; ``resend``: everyone again. Raises,
        before anything is recorded: ConfigError (settings), TemplateProblem, NotFound,
        MailUnavailable (server unreachable, login refused), SendBusy (another run holds the
        meeting). Once the run has begun, every outcome is in the summary."""
        only = None if only is None else list(dict.fromkeys(email.strip() for email in only))
        on_purpose = resend or only is not None
        if not dry_run:
            self.check_settings()
        meeting = self.prepare(meeting_id, only)
        total = (len(only) if only is not None
                 else self.state.meetings.registrant_count(meeting_id))
        summary = self.summary = SendSummary(meeting_id, total, dry_run)
        if dry_run:
            self.observer.begin(total, True)
            try:
                for page in self._pages(meeting_id, only):
                    self._dry_page(meeting, page, on_purpose)
            finally:
                self.observer.end()
            return summary
        connection = self.connection or SmtpConnection(SmtpTarget.parse(self.config.smtp_url))
        connection.open()                       # MailUnavailable: nothing recorded
        try:
            self._begin(meeting_id, total)
            state, error = "stopped", "interrupted"
            self.observer.begin(total, False)
            try:
                for page in self._pages(meeting_id, only):
                    records = self.store.send_records(meeting_id, [r.id for r in page])
                    for registrant in page:
                        if self.should_stop():
                            summary.stopped = "stopped on request"
                            break
                        self._one(connection, meeting, registrant, records.get(registrant.id),
                                  on_purpose)
                    self._write("", None)
                    if summary.stopped:
                        break
            except ConnectionGone as exc:
                summary.stopped = (f"the SMTP server went away ({exc}); "
                                   f"{summary.not_attempted} not attempted: run again to finish")
            except MailUnavailable as exc:
                summary.stopped = f"{exc}; {summary.not_attempted} not attempted"
            else:
                state, error = "done", ""
            finally:
                self.observer.end()
                if summary.stopped:
                    state, error = "stopped", summary.stopped
                try:
                    self._write("", None)
                finally:
                    self.store.send_finish(meeting_id, self.run_id, self.state.clock(),
                                           state, error)
        finally:
            connection.close()
        return summary

    def _begin(self, meeting_id: str, total: int) -> None:
        now = self.state.clock()
        run = SendRun(id=self.run_id, by=self.by, job=self.job, state="running", total=total,
                      started=now, updated=now)
        holder = self.store.send_begin(meeting_id, run, LOCK_LIFETIME, now, "")
        if holder and holder_is_dead(holder):
            log.warning("meeting %s: the sender %s is gone; taking over", meeting_id, holder)
            holder = self.store.send_begin(meeting_id, run, LOCK_LIFETIME, now, holder)
        if holder:
            raise SendBusy(f"another sender ({holder}) is sending the links of meeting "
                           f"{meeting_id}; wait for it to finish (a sender that died on another "
                           f"host lets go within {LOCK_LIFETIME} s)")

    def _tally(self, name: str) -> None:
        """Count one registrant in the summary and in the counters the next write carries."""
        summary = self.summary
        summary.counts[name] += 1
        summary.counts["done"] += 1
        for counter in (name, "done"):
            self._pending[counter] = self._pending.get(counter, 0) + 1
        self.observer.progress(summary.counts["done"], summary.total)

    def _write(self, rid: str, record: SendRecord | None) -> None:
        """Write a registrant's record (or none) with every counter not yet written."""
        if record is None and not self._pending:
            return
        self.store.send_record(self.summary.meeting_id, self.run_id, LOCK_LIFETIME,
                               self.state.clock(), rid, record, self._pending)
        self._pending = {}

    def _skip_reason(self, registrant: Registrant, record: SendRecord | None,
                     on_purpose: bool) -> str:
        if registrant.revoked:
            return "revoked"
        state = record.state_for(registrant.version) if record else ""
        if not on_purpose and state in ("sent", "bounced"):
            return state
        return ""

    def _one(self, connection: SmtpConnection, meeting: Meeting, registrant: Registrant,
             record: SendRecord | None, on_purpose: bool) -> None:
        summary, email, rid = self.summary, registrant.email, registrant.id
        version = registrant.version
        skip = self._skip_reason(registrant, record, on_purpose)
        if skip == "revoked":
            self.observer.outcome(email, "revoked", "the link is revoked; not sent")
            self._tally("revoked")
            return
        if skip:
            if skip == "bounced" and record is not None:
                summary.problems.append((email, "bounced earlier", record.reply))
            self._tally("skipped")
            return
        problem = mail_address_problem(email)
        if problem:
            reason = f"the address {problem}"
            summary.problems.append((email, "invalid", reason))
            self.observer.outcome(email, "invalid", reason)
            self._tally("invalid")
            self._write(rid, SendRecord("invalid", self.state.clock(), "", version, reason))
            return
        in_flight = record is not None and record.state_for(version) == "sending"
        message_id = (record.message_id if in_flight and record is not None
                      else new_message_id(self.config.mail_from))
        data = self._message(meeting, registrant, message_id)
        self._write(rid, SendRecord("sending", self.state.clock(), message_id, version))
        if in_flight:
            summary.in_flight.append(email)
        outcome = self._deliver(connection, rid, email, data, message_id, version)
        if outcome.state == "sent":
            detail = outcome.reply
            if in_flight:
                detail = ("was in flight when an earlier run stopped: sent again with the same "
                          f"Message-ID (they may have it twice); {outcome.reply}")
            self.observer.outcome(email, "sent", detail)
        else:
            summary.problems.append((email, outcome.state, outcome.reply))
            self.observer.outcome(email, outcome.state, outcome.reply)

    def _deliver(self, connection: SmtpConnection, rid: str, email: str, data: bytes,
                 message_id: str, version: int) -> SendRecord:
        """Hand one message to the server, retrying a 4xx or a lost connection after each of
        RETRY_DELAYS; record and count the outcome. Raises ConnectionGone (the record says
        ``failed``) when the server could not be reached on the last try, and MailUnavailable
        (likewise) when it refuses the sender."""
        envelope_from = smtp_address(parseaddr(self.config.mail_from)[1])
        last = TryLater("not tried")
        tries = 0
        for delay in (0.0, *RETRY_DELAYS):
            if delay:
                self._wait(delay)
            self._pace()
            tries += 1
            try:
                reply = connection.send(envelope_from, smtp_address(email), data)
            except Bounced as exc:
                return self._outcome(rid, SendRecord("bounced", self.state.clock(),
                                                     message_id, version, exc.reply, tries))
            except TryLater as exc:
                last = exc
                log.info("meeting %s: a message is not taken now (try %d): %s",
                         self.summary.meeting_id, tries, exc.reply)
                continue
            except MailUnavailable as exc:
                self._outcome(rid, SendRecord("failed", self.state.clock(), message_id,
                                              version, str(exc), tries))
                self.summary.problems.append((email, "failed", str(exc)))
                self.observer.outcome(email, "failed", str(exc))
                raise
            return self._outcome(rid, SendRecord("sent", self.state.clock(), message_id,
                                                 version, reply, tries))
        record = self._outcome(rid, SendRecord("failed", self.state.clock(), message_id,
                                               version, last.reply, tries))
        if last.connection_lost:
            self.summary.problems.append((email, "failed", last.reply))
            self.observer.outcome(email, "failed", last.reply)
            raise ConnectionGone(last.reply)
        return record

    def _outcome(self, rid: str, record: SendRecord) -> SendRecord:
        self._tally(record.state)
        self._write(rid, record)
        return record

    def _pace(self) -> None:
        """Wait for the next slot of SMTP_RATE (messages per second; 0: no limit)."""
        rate = float(self.config.smtp_rate)
        if rate <= 0:
            return
        now = time.monotonic()
        if self._next_slot > now:
            self.sleep(self._next_slot - now)
        self._next_slot = max(now, self._next_slot) + 1.0 / rate

    def _wait(self, seconds: float) -> None:
        """Sleep between tries, renewing the lock so that nobody takes the meeting over."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sleep(min(left, LOCK_LIFETIME / 4))
            self.store.send_record(self.summary.meeting_id, self.run_id, LOCK_LIFETIME,
                                   self.state.clock(), "", None, {})

    def _dry_page(self, meeting: Meeting, page: list[Registrant], on_purpose: bool) -> None:
        summary = self.summary
        records = self.store.send_records(summary.meeting_id, [r.id for r in page])
        for registrant in page:
            email = registrant.email
            skip = self._skip_reason(registrant, records.get(registrant.id), on_purpose)
            if skip == "bounced":
                summary.problems.append((email, "bounced earlier",
                                         records[registrant.id].reply))
            if skip:
                summary.counts["revoked" if skip == "revoked" else "skipped"] += 1
            elif problem := mail_address_problem(email):
                summary.problems.append((email, "invalid", f"the address {problem}"))
                summary.counts["invalid"] += 1
                self.observer.outcome(email, "invalid", f"the address {problem}")
            else:
                self._message(meeting, registrant, new_message_id(self.config.mail_from))
                summary.counts["sent"] += 1
                self.observer.outcome(email, "would send", "")
            summary.counts["done"] += 1
            self.observer.progress(summary.counts["done"], summary.total)

