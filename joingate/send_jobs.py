"""Sending the links from the organizer API: the request queues a job (never sends), the worker
runs it with :class:`joingate.sender.LinkSender`, and the API reads its progress.

A job is ``{"kind": "send_links", "meeting", "only": [emails] | None, "resend", "attempts"}`` in
the worker's outbox. What can be checked at once is checked in the request (settings, meeting,
templates with their line, the emails of ``only``), so that a job that is queued can run. The
worker retries a job whose SMTP server is unreachable (its backoff), waits for a meeting that
another sender holds, and queues the rest again when it is stopped mid-run.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from .errors import ConfigError, InvalidInput, JoingateError, MailUnavailable, NotFound, SendBusy
from .records import SendRun
from .send_progress import LogProgress
from .sender import COUNTERS, LinkSender
from .state import AppState

log = logging.getLogger("joingate.sender")

JOB_KIND = "send_links"
BUSY_RETRY = 30.0          # seconds before a job whose meeting another sender holds tries again
MAX_PROBLEMS = 100


def queue_send(state: AppState, meeting_id: str, only: list[str] | None = None,
               resend: bool = False) -> str:
    """Check what can be checked now and queue the send for the worker; returns the job id.
    Raises ConfigError (no SMTP settings), NotFound (the meeting, or emails of ``only`` that
    are no registrant: each named), TemplateProblem (file and line)."""
    sender = LinkSender(state, by="api")
    sender.check_settings()
    state.meetings.get(meeting_id)
    if only is not None:
        only = list(dict.fromkeys(email.strip() for email in only))
        unknown = [email for email in only if state.meetings.registrant_by_id(
            meeting_id, state.meetings.registrant_id(email)) is None]
        if unknown:
            raise NotFound(f"no registrant {', '.join(unknown[:20])} in meeting {meeting_id}")
    sender.prepare(meeting_id, only)
    job_id = f"send:{meeting_id}:{secrets.token_hex(6)}"
    state.store.enqueue(job_id, {"kind": JOB_KIND, "meeting": meeting_id, "only": only,
                                 "resend": bool(resend), "attempts": 0}, state.clock())
    return job_id


def run_send_job(state: AppState, job_id: str, job: dict[str, Any],
                 should_stop: Callable[[], bool]) -> None:
    """The worker's part. Returns when the job is over (done, or queued again under a new id);
    raises MailUnavailable for the worker to retry it with its backoff."""
    meeting_id = job["meeting"]
    sender = LinkSender(state, observer=LogProgress(log, meeting_id), by="api", job=job_id,
                        should_stop=should_stop)
    try:
        summary = sender.run(meeting_id, job.get("only"), resend=bool(job.get("resend")))
    except SendBusy as exc:
        log.info("meeting %s: %s; the job waits", meeting_id, exc)
        _again(state, job, BUSY_RETRY)
        return
    except MailUnavailable as exc:
        _failed_run(state, sender, meeting_id, job_id, f"{exc}; the worker tries again")
        raise
    except (ConfigError, InvalidInput) as exc:      # settings or templates changed since
        _failed_run(state, sender, meeting_id, job_id, str(exc))
        log.error("meeting %s: the send job %s cannot run: %s", meeting_id, job_id, exc)
        return
    if summary.stopped == "stopped on request":
        _again(state, job, 0.0)                     # the worker stops; the next one goes on
    elif summary.stopped:
        raise MailUnavailable(summary.stopped)


def _again(state: AppState, job: dict[str, Any], delay: float) -> None:
    """Queue the job once more under a new id (the worker deletes the old one when this
    returns); what was sent is recorded, so it goes on where it stopped."""
    state.store.enqueue(f"send:{job['meeting']}:{secrets.token_hex(6)}", job,
                        state.clock() + delay)


def _failed_run(state: AppState, sender: LinkSender, meeting_id: str, job_id: str,
                error: str) -> None:
    """Make a run that could not begin visible in the progress (unless another run holds the
    meeting: its progress stays)."""
    now = state.clock()
    run = SendRun(id=sender.run_id, by="api", job=job_id, state="failed", total=0,
                  started=now, updated=now, finished=now, error=error)
    try:
        if state.store.send_begin(meeting_id, run, 5, now, "") is None:
            state.store.send_finish(meeting_id, sender.run_id, now, "failed", error)
    except JoingateError:
        pass


def send_progress(state: AppState, meeting_id: str) -> dict[str, Any]:
    """The API's view: send jobs not finished (queued or running), the latest run's counters,
    and who is left without the link (up to MAX_PROBLEMS, with the server's reply)."""
    state.meetings.get(meeting_id)
    run = state.store.send_progress(meeting_id)
    pending = sum(1 for _, job in state.store.queued_jobs(JOB_KIND)
                  if job.get("meeting") == meeting_id)
    problems = state.store.send_problem_records(meeting_id, MAX_PROBLEMS)
    emails = state.store.emails_of(meeting_id, list(problems))
    view: dict[str, Any] | None = None
    if run is not None:
        view = {"by": run.by, "job": run.job, "state": run.state, "total": run.total,
                **{name: run.counts.get(name, 0) for name in COUNTERS},
                "started": run.started, "updated": run.updated, "finished": run.finished,
                "error": run.error}
    return {"meeting": meeting_id, "pending_jobs": pending, "run": view,
            "problems": [{"email": emails.get(rid, ""), "state": record.state,
                          "reply": record.reply, "at": record.at}
                         for rid, record in problems.items()]}
