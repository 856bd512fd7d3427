"""The worker: everything slow, outside any request. Start it with ``joingate worker``.

Queue: Redis streams, not rq. Every fact that can become a violation (a refused claim, an
unmatched join) is appended to the meeting's event stream *by the same Lua script* that records
it, in the request's single round trip; rq jobs cannot be enqueued from inside a Lua script, so
the stream is the queue. The worker keeps its place in each stream (a cursor key), takes the
sharing checks whose grace has run out from a sorted set, records each violation once, and puts
outbound work (alerts, Zoom actions) in an outbox (a hash plus a sorted set of due times) that it
delivers with retries and back-off. Several workers may run: a violation is recorded with HSETNX,
so it is alerted once; a job may be delivered twice at worst (receivers dedupe on ``id``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import requests

from .alert_signing import (ALERT_SIGNATURE_HEADER, ALERT_TIMESTAMP_HEADER, alert_setting_warnings,
                            alert_signature)
from .errors import JoingateError, StorageUnavailable
from .observability import redact_urls
from .service import Service
from .store import event_time

log = logging.getLogger("joingate.worker")

BACKOFF = (2, 10, 60, 300, 900)      # seconds before attempts 2..6; then the job is dropped
ALERT_TIMEOUT = 5.0
RECHECK = 5.0                        # seconds before a sharing check that found no overlap yet


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
    def __init__(self, service: Service, zoom: ZoomActions | None = None,
                 session: requests.Session | None = None, senders: int = 4,
                 metrics: Any = None) -> None:
        self.service = service
        self.metrics = metrics
        self.store = service.store
        self.zoom = zoom or NoZoomActions()
        self.session = session or requests.Session()
        self.pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="joingate-send")
        self.in_flight: dict[str, Future] = {}
        self.lock = threading.Lock()

    # The loop

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Work until ``stop`` is set; Redis outages are logged and waited out."""
        log.info("worker started")
        config = self.service.config
        for warning in alert_setting_warnings(config["ALERT_WEBHOOK_URL"],
                                              config["ALERT_SECRET"]):
            log.warning(warning)
        while not stop.is_set():
            try:
                busy = self.tick()
            except StorageUnavailable as exc:
                log.warning("worker: %s; retrying", exc)
                busy = False
                stop.wait(1.0)
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
        for event_id, fields in events:
            kind = fields.get("kind")
            if kind == "refused":
                self.violation(meeting_id, "second_device", fields.get("registrant", ""), "", {
                    "ip": fields.get("ip", ""), "user_agent": fields.get("ua", ""),
                    "at": float(event_time(event_id, fields))})
            elif kind == "unmatched":
                who = f"{fields.get('participant', '')}|{fields.get('name', '')}"
                self.violation(meeting_id, "unmatched", "", fields.get("instance", ""), {
                    "user_name": fields.get("name", ""),
                    "participant_uuid": fields.get("participant", ""),
                    "at": float(event_time(event_id, fields))}, subject=who)
            cursor = event_id
        if events:
            self.store.save_cursor(meeting_id, cursor)
        return bool(events)

    def run_checks(self, meeting_id: str) -> bool:
        due = self.store.due_checks(meeting_id, self.service.clock())
        for member in due:
            instance, _, rid = member.partition("\t")
            evidence, open_now = self.service.sharing_check(meeting_id, instance, rid)
            if evidence:
                self.violation(meeting_id, "shared", rid, instance, evidence)
            if evidence is None and open_now >= 2:
                # Zoom's times and ours differ a little: look again shortly.
                self.store.reschedule_check(meeting_id, member, self.service.clock() + RECHECK)
            else:
                self.store.done_check(meeting_id, member)
        return bool(due)

    def violation(self, meeting_id: str, kind: str, rid: str, instance: str,
                  evidence: dict[str, Any], subject: str = "") -> None:
        """Record a violation once, queue its alert, and under the ``deny`` policy revoke the
        link and queue the denial at Zoom (shared only)."""
        key = "\t".join((kind, instance, rid or subject))
        meeting = self.store.meeting(meeting_id)
        registrant = (self.store.registrant_or_none(meeting_id, rid) or {}) if rid else {}
        now = self.service.clock()
        record = {"id": hashlib.sha256(f"{meeting_id}\t{key}".encode()).hexdigest()[:20],
                  "kind": kind, "meeting": meeting_id, "topic": meeting.get("topic", ""),
                  "instance": instance, "at": now, "policy": meeting.get("policy", "alert"),
                  "registrant": {"email": registrant.get("email", ""),
                                 "name": registrant.get("name", ""),
                                 "display_name": registrant.get("display", "")} if rid else None,
                  "evidence": evidence}
        if not self.store.add_violation(meeting_id, key, record):
            return
        log.warning("violation %s in meeting %s (%s)", kind, meeting_id, record["id"],
                    extra={"event": "violation", "kind": kind, "meeting": meeting_id})
        if self.metrics is not None:
            self.metrics.violations.labels(kind).inc()
        if self.service.config["ALERT_WEBHOOK_URL"]:
            self.store.enqueue(f"alert:{record['id']}", {"kind": "alert", "body": record,
                                                         "attempts": 0}, now)
        if kind == "shared" and record["policy"] == "deny" and rid:
            self.service.manage_registrant("revoke", meeting_id, rid, actor="worker")
            self.store.enqueue(f"deny:{record['id']}", {
                "kind": "zoom_deny", "meeting": meeting_id, "attempts": 0,
                "zoom_registrant_id": registrant.get("zid", ""),
                "email": registrant.get("email", "")}, now)

    # Delivery

    def send_due(self) -> bool:
        with self.lock:
            done = [job_id for job_id, future in self.in_flight.items() if future.done()]
            for job_id in done:
                del self.in_flight[job_id]
        jobs = [(job_id, job) for job_id, job in self.store.due_jobs(self.service.clock(), 20)
                if job_id not in self.in_flight]
        for job_id, job in jobs:
            with self.lock:
                self.in_flight[job_id] = self.pool.submit(self._attempt, job_id, job)
        return bool(jobs)

    def _attempt(self, job_id: str, job: dict[str, Any]) -> None:
        try:
            if job["kind"] == "alert":
                self.send_alert(job["body"])
            elif job["kind"] == "zoom_deny":
                self.zoom.deny_registrant(job["meeting"], job["zoom_registrant_id"], job["email"])
            self.store.finish_job(job_id)
        except ZoomNotConfigured as exc:
            log.warning("%s: %s", job_id, exc)
            self.store.finish_job(job_id)
        except Exception as exc:  # noqa: BLE001 - best effort: any failure is retried, logged
            attempts = job.get("attempts", 0) + 1
            if attempts > len(BACKOFF):
                log.error("%s failed %d times, dropped: %s", job_id, attempts,
                          failure_text(exc))
                self.store.finish_job(job_id)
                return
            log.warning("%s failed (attempt %d): %s", job_id, attempts, failure_text(exc))
            self.store.enqueue(job_id, {**job, "attempts": attempts},
                               self.service.clock() + BACKOFF[attempts - 1])

    def send_alert(self, record: dict[str, Any]) -> None:
        """POST the violation to ALERT_WEBHOOK_URL, signed; raises unless a 2xx comes back."""
        config = self.service.config
        body = json.dumps({"type": "violation", **record}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", ALERT_TIMESTAMP_HEADER: timestamp,
                   "User-Agent": "joingate-worker"}
        if config["ALERT_SECRET"]:
            headers[ALERT_SIGNATURE_HEADER] = alert_signature(config["ALERT_SECRET"], timestamp, body)
        try:
            response = self.session.post(config["ALERT_WEBHOOK_URL"], data=body,
                                         headers=headers, timeout=ALERT_TIMEOUT,
                                         allow_redirects=False)
        except requests.RequestException as exc:
            # requests names the whole URL; its path and query may be the receiver's secret.
            raise RuntimeError(f"{type(exc).__name__} reaching "
                               f"{redact_urls(config['ALERT_WEBHOOK_URL'])}") from None
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"alert receiver answered {response.status_code}")


def failure_text(exc: Exception) -> str:
    """An outbound job's failure fit for a log: URLs cut to their origin (observability)."""
    return redact_urls(f"{exc}") or type(exc).__name__
