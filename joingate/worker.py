"""The worker: everything slow, outside any request. Start it with ``joingate worker``.

Queue: Redis streams, not rq. Every fact that can become a violation (a refused open or claim,
a participant's join or leave) is appended to the meeting's event stream *by the same Lua
script* that records it, in the request's single round trip; rq jobs cannot be enqueued from
inside a Lua script, so the stream is the queue. The worker keeps its place in each stream (a
cursor key); a participant event schedules a check of its meeting instance, which derives the
attendance exactly as the report does (:meth:`Presence.attendance`), so an alert and the report
never disagree. It records each violation once, and puts outbound work (alerts, Zoom actions,
sending the links, move codes) in an outbox (``lua/outbox.lua``) that it delivers with retries
and back-off.

Several workers may run, and any may be killed at any moment:
- a violation is recorded once (HSETNX); whoever finds it recorded queues its jobs again, and the
  outbox takes a job id once (never again once finished), so a worker killed between recording
  and queueing loses nothing and two workers queue nothing twice;
- a job is delivered under a lease (one worker at a time, renewed while the worker lives): two
  workers never act on one job at once; a killed worker's jobs are due again when the lease
  (``WORKER_LEASE``) runs out, so every job is delivered at least once. An alert delivered just
  before the kill is delivered again with the same body and the same ``Idempotency-Key``.

The worker's queue, checks, cursor and violations are storage plumbing of the worker alone: it
keeps them through ``state.store`` directly; meetings and links go through the services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import requests

from .alert_signing import (
    ALERT_ID_HEADER,
    ALERT_SIGNATURE_HEADER,
    ALERT_TIMESTAMP_HEADER,
    IDEMPOTENCY_HEADER,
    alert_setting_warnings,
    alert_signature,
)
from .attendance import is_open
from .errors import JoingateError, StorageUnavailable
from .moving import run_move_code_job
from .observability import redact_urls
from .send_jobs import run_send_job
from .state import AppState

log = logging.getLogger("joingate.worker")

BACKOFF = (2, 10, 60, 300, 900)      # seconds before attempts 2..6; then the job is dropped
ALERT_TIMEOUT = 5.0
RECHECK = 5.0          # seconds between checks of an instance while two people share a link
REFUSED = ("refused", "refused_open")   # a claim or an open refused: bound to another device
ACTS_ON = ("shared",)  # the deny policy acts on these only: evidence nobody can type
STORAGE_BACKOFF = (1.0, 16.0)  # first and longest wait after Redis could not serve a pass


class ZoomActions(Protocol):
    """The seam to Zoom's API for enforcement (the Zoom API client implements it)."""

    def deny_registrant(self, meeting_id: str, zoom_registrant_id: str, email: str) -> None: ...


class ZoomNotConfigured(JoingateError):
    """No Server-to-Server OAuth credentials: Zoom actions cannot be taken."""


class NoZoomActions:
    def deny_registrant(self, meeting_id: str, zoom_registrant_id: str, email: str) -> None:
        raise ZoomNotConfigured("JOINGATE_ZOOM_ACCOUNT_ID/CLIENT_ID/CLIENT_SECRET are not set; "
                                "deny the registrant at Zoom by hand")


class Worker:
    def __init__(self, state: AppState, zoom: ZoomActions | None = None,
                 session: requests.Session | None = None, senders: int = 4,
                 metrics: Any = None) -> None:
        self.state = state
        self.metrics = metrics
        self.store = state.store
        self.zoom = zoom or NoZoomActions()
        self.session = session or requests.Session()
        self.pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="joingate-send")
        self.in_flight: dict[str, Future] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()     # long jobs (sending the links) watch it
        self.id = uuid.uuid4().hex[:16]       # whose lease a job is under
        self.lease = state.config.worker_lease
        self.renewed_at = 0.0

    # The loop

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Work until ``stop`` is set; Redis outages are logged and waited out."""
        log.info("worker started")
        self.stopping = stop
        backoff = STORAGE_BACKOFF[0]
        config = self.state.config
        for warning in alert_setting_warnings(config.alert_webhook_url, config.alert_secret):
            log.warning(warning)
        while not stop.is_set():
            try:
                busy = self.tick()
                backoff = STORAGE_BACKOFF[0]
            except StorageUnavailable as exc:
                # Redis down, out of memory, refusing writes: wait longer each time (up to
                # STORAGE_BACKOFF[1] s) rather than hammer it, and say why.
                log.warning("worker: %s; next try in %.0f s", exc, backoff,
                            extra={"event": "worker_backoff", "reason": exc.reason})
                busy = False
                stop.wait(backoff)
                backoff = min(backoff * 2, STORAGE_BACKOFF[1])
            except Exception:  # noqa: BLE001 - one bad event must not stop the worker
                log.exception("worker: a pass failed; going on")
                busy = False
                stop.wait(1.0)
            if not busy:
                stop.wait(interval)
        self.pool.shutdown(wait=False, cancel_futures=True)
        log.info("worker stopped")

    def tick(self) -> bool:
        """One pass over every meeting and the outbox; True when there was work."""
        busy = False
        for meeting_id in self.store.meeting_ids():
            busy |= self.read_events(meeting_id)
            busy |= self.run_checks(meeting_id)
        busy |= self.send_due()
        return busy

    # Detection

    def read_events(self, meeting_id: str) -> bool:
        cursor, events = self.store.events_after(meeting_id, None)
        for event in events:
            if event.kind in REFUSED:
                self.violation(meeting_id, "second_device", event.registrant, "", {
                    "ip": event.ip, "user_agent": event.user_agent, "at": event.at,
                    "refused": "open" if event.kind == "refused_open" else "claim"},
                    subject=event.id)
            elif event.instance:
                self.store.schedule_check(meeting_id, event.instance, self.state.clock())
            cursor = event.id
        if events:
            self.store.save_cursor(meeting_id, cursor)
        return bool(events)

    def run_checks(self, meeting_id: str) -> bool:
        """Check each instance whose check is due: sharing (flags as in the report) and
        participants no registrant explains. While two people are on one registration, look
        again every RECHECK seconds: sharing is counted over time."""
        now = self.state.clock()
        due = self.store.due_checks(meeting_id, now)
        if not due:
            return False
        attendance = self.state.presence.attendance(meeting_id)
        for instance in due:
            ongoing = False
            for rid, summary in attendance.registrants.items():
                for evidence in summary.evidence:
                    if evidence["instance"] == instance:
                        self.violation(meeting_id, evidence["flag"], rid, instance, evidence)
                ongoing |= _two_people_now(summary.spans, instance)
            for stay in attendance.unmatched_stays:
                if stay.instance == instance:
                    self.violation(meeting_id, "unmatched", "", instance, {
                        "user_name": stay.user_name, "participant_uuid": stay.participant_uuid,
                        "at": min(stay.joins or stay.leaves)}, subject=stay.key)
            if ongoing:
                self.store.reschedule_check(meeting_id, instance, now + RECHECK)
            else:
                self.store.done_check(meeting_id, instance)
        return True

    def violation(self, meeting_id: str, kind: str, rid: str, instance: str,
                  evidence: dict[str, Any], subject: str = "") -> None:
        """Record a violation once, queue its alert, and under the ``deny`` policy revoke the
        link and queue the denial at Zoom: for ``shared`` only, which rests on evidence nobody
        can type (a name alone never makes anyone lose their seat)."""
        key = "\t".join((kind, instance, rid or subject))
        meetings = self.state.meetings
        meeting = meetings.get(meeting_id)
        registrant = meetings.registrant_by_id(meeting_id, rid) if rid else None
        now = self.state.clock()
        record = {"id": hashlib.sha256(f"{meeting_id}\t{key}".encode()).hexdigest()[:20],
                  "kind": kind, "meeting": meeting_id, "topic": meeting.topic,
                  "instance": instance, "at": now, "policy": meeting.policy,
                  "registrant": {"email": registrant.email, "name": registrant.name,
                                 "display_name": registrant.display_name}
                  if registrant else None,
                  "evidence": evidence}
        recorded_now = self.store.add_violation(meeting_id, key, record)
        if recorded_now:
            log.warning("violation %s in meeting %s (%s)", kind, meeting_id, record["id"],
                        extra={"event": "violation", "kind": kind, "meeting": meeting_id})
            if self.metrics is not None:
                self.metrics.violations.labels(kind).inc()
        else:
            # Recorded before: by another worker just now, or by one killed before it queued
            # the jobs. Queue them (again) from the stored record; the outbox takes each job
            # id once, so nothing goes out twice.
            record = self.store.violation(meeting_id, key) or record
        if self.state.config.alert_webhook_url:
            self.store.enqueue(f"alert:{record['id']}", {"kind": "alert", "body": record,
                                                         "attempts": 0}, now, now)
        if kind in ACTS_ON and meeting.policy == "deny" and registrant:
            deny = {"kind": "zoom_deny", "meeting": meeting_id, "attempts": 0,
                    "zoom_registrant_id": registrant.zoom_registrant_id,
                    "email": registrant.email}
            if recorded_now:
                meetings.manage_registrant("revoke", meeting_id, registrant.id, actor="worker")
                self.store.enqueue(f"deny:{record['id']}", deny, now, now)
            elif self.store.enqueue(f"deny:{record['id']}", deny, now, now) and \
                    not registrant.revoked:
                # The deny job was never queued: the worker that recorded the violation died
                # before revoking. A later recheck of ongoing sharing finds the job queued or
                # done and revokes nothing again (an organizer's reset stands).
                meetings.manage_registrant("revoke", meeting_id, registrant.id, actor="worker")

    # Delivery

    def send_due(self) -> bool:
        """Renew the leases of the jobs in flight, then lease the due ones and send them."""
        now = self.state.clock()
        with self.lock:
            done = [job_id for job_id, future in self.in_flight.items() if future.done()]
            for job_id in done:
                del self.in_flight[job_id]
            flying = list(self.in_flight)
        if flying and now - self.renewed_at >= self.lease / 3:
            self.store.renew_leases(self.id, flying, now, self.lease)
            self.renewed_at = now
        room = 20 - len(flying)
        jobs = self.store.lease_jobs(self.id, now, room, self.lease) if room > 0 else []
        for job_id, job in jobs:
            with self.lock:
                self.in_flight[job_id] = self.pool.submit(self._attempt, job_id, job)
        return bool(jobs)

    def _attempt(self, job_id: str, job: dict[str, Any]) -> None:
        """Deliver one leased job; finish it, or queue its retry (which gives up the lease)."""
        try:
            if job["kind"] == "alert":
                self.send_alert(job["body"])
            elif job["kind"] == "zoom_deny":
                self.zoom.deny_registrant(job["meeting"], job["zoom_registrant_id"], job["email"])
            elif job["kind"] == "send_links":
                run_send_job(self.state, job_id, job, self.stopping.is_set)
            elif job["kind"] == "move_code":
                run_move_code_job(self.state, job)
        except ZoomNotConfigured as exc:
            log.warning("%s: %s", job_id, exc)
        except Exception as exc:  # noqa: BLE001 - best effort: any failure is retried, logged
            attempts = job.get("attempts", 0) + 1
            if attempts <= len(BACKOFF):
                log.warning("%s failed (attempt %d): %s", job_id, attempts, failure_text(exc))
                now = self.state.clock()
                self._outbox(job_id, "retry", lambda: self.store.enqueue(
                    job_id, {**job, "attempts": attempts}, now + BACKOFF[attempts - 1], now,
                    replace=True))
                return
            log.error("%s failed %d times, dropped: %s", job_id, attempts, failure_text(exc))
        self._outbox(job_id, "finish",
                     lambda: self.store.finish_job(job_id, self.state.clock()))

    def _outbox(self, job_id: str, what: str, change: Any) -> None:
        """Apply ``change`` to the outbox; if Redis cannot take it, the lease runs out and the
        job is sent again (at least once, same Idempotency-Key): say so."""
        try:
            change()
        except StorageUnavailable as exc:
            log.warning("%s: could not %s it (%s); it goes out again when its lease ends",
                        job_id, what, exc, extra={"event": "outbox_unavailable",
                                                  "reason": exc.reason})

    def send_alert(self, record: dict[str, Any]) -> None:
        """POST the violation to ALERT_WEBHOOK_URL, signed; raises unless a 2xx comes back."""
        config = self.state.config
        body = json.dumps({"type": "violation", **record}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", ALERT_TIMESTAMP_HEADER: timestamp,
                   "User-Agent": "joingate-worker", ALERT_ID_HEADER: record["id"],
                   IDEMPOTENCY_HEADER: record["id"]}
        if config.alert_secret:
            headers[ALERT_SIGNATURE_HEADER] = alert_signature(config.alert_secret, timestamp, body)
        try:
            response = self.session.post(config.alert_webhook_url, data=body, headers=headers,
                                         timeout=ALERT_TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            # requests names the whole URL; its path and query may be the receiver's secret.
            raise RuntimeError(f"{type(exc).__name__} reaching "
                               f"{redact_urls(config.alert_webhook_url)}") from None
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"alert receiver answered {response.status_code}")


def _two_people_now(spans: list[Any], instance: str) -> bool:
    """Whether two or more people are on one registration in ``instance`` right now."""
    people = {span.person for span in spans
              if span.stay.instance == instance and is_open(span.stay)}
    return len(people) >= 2


def failure_text(exc: Exception) -> str:
    """An outbound job's failure fit for a log: URLs cut to their origin (observability)."""
    return redact_urls(f"{exc}") or type(exc).__name__
