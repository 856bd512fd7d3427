"""The organizer's command line: ``joingate meeting|links|report|serve``.

Every command works through :class:`joingate.service.Service`, the same layer the web app uses.
Errors become one line on stderr and a non-zero exit: 1 for a fault in what was asked, 3 when
Redis does not answer.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import click
from flask import Flask

from .errors import ConfigError, InvalidInput, JoingateError, NotFound, StorageUnavailable
from .exports import SpreadsheetDictWriter, write_links_csv, write_report_csv
from .roster import RegistrantInput, read_csv
from .service import Service, parse_start


def _app(ctx: click.Context) -> Flask:
    """The app given by a test (``obj``), or one built from the environment on first use."""
    if not isinstance(ctx.obj, Flask):
        from . import create_app

        ctx.obj = create_app()
    return ctx.obj


def _service() -> Service:
    return _app(click.get_current_context()).extensions["joingate"]


def _reported(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn joingate's errors into a clear message and exit status."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InvalidInput as exc:
            for detail in exc.details:
                where = f"line {detail['line']}: " if "line" in detail else ""
                field = f"{detail['field']}: " if "field" in detail else ""
                click.echo(f"error: {where}{field}{detail['message']}", err=True)
            raise click.ClickException(exc.message) from None
        except StorageUnavailable as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(3)
        except (ConfigError, NotFound, JoingateError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group()
def main() -> None:
    """joingate: one registration, one person in the Zoom meeting."""


# Meetings

@main.group()
def meeting() -> None:
    """Meetings: when links work, where they lead."""


@meeting.command("add")
@click.argument("meeting_id")
@click.option("--topic", required=True, help="Title shown on the pages.")
@click.option("--start", required=True, help="ISO 8601 with a zone, e.g. 2026-12-01T18:00:00Z.")
@click.option("--duration", required=True, type=click.IntRange(1, 10080), help="Minutes.")
@click.option("--passcode", default=None, help="Goes verbatim into pwd= (plain or encoded).")
@click.option("--target", type=click.Choice(["webclient", "registrant"]), default=None,
              help="Redirect to the web client (default) or the registrant's own join_url.")
@click.option("--open-before", type=click.IntRange(0, 1440), default=None,
              help="Minutes before the start when links open (default 15).")
@click.option("--close-after", type=click.IntRange(0, 10080), default=None,
              help="Minutes after the scheduled end when links close (default 60).")
@click.option("--max-devices", type=click.IntRange(1, 10), default=None,
              help="Devices one link may be bound to (default 1).")
@click.option("--rejoin/--no-rejoin", default=None,
              help="Whether the bound device may come back (default yes).")
@click.option("--policy", type=click.Choice(["alert", "deny"]), default=None,
              help="What a violation triggers (default alert).")
@click.option("--support", default=None, help="Contact shown on every page.")
@click.option("--auto-submit/--no-auto-submit", default=None,
              help="Submit the confirm form by script on load (default off: scanners).")
@click.option("--staff", multiple=True,
              help="Name or email of a teacher or assistant never flagged (repeatable; "
                   "replaces the list).")
@_reported
def meeting_add_command(meeting_id: str, topic: str, start: str, duration: int,
                        passcode: str | None, target: str | None, open_before: int | None,
                        close_after: int | None, max_devices: int | None, rejoin: bool | None,
                        policy: str | None, support: str | None,
                        auto_submit: bool | None, staff: tuple[str, ...]) -> None:
    """Add a meeting, or update it if it exists."""
    created = _service().add_meeting(
        meeting_id, topic=topic, start=parse_start(start), duration=duration, pwd=passcode,
        target=target, open_before=None if open_before is None else open_before * 60,
        close_after=None if close_after is None else close_after * 60, max_devices=max_devices,
        rejoin=rejoin, policy=policy, support=support, auto_submit=auto_submit,
        staff=list(staff) if staff else None)
    click.echo(f"meeting {meeting_id} {'added' if created else 'updated'}")


# Links

@main.group()
def links() -> None:
    """Registrants' links: issue, revoke, reset, show."""


@links.command("issue")
@click.argument("meeting_id")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@_reported
def links_issue_command(meeting_id: str, csv_file: io.TextIOBase) -> None:
    """Read registrants from CSV_FILE ('-' for stdin), write it to stdout with a link column.

    Columns: email, and name or first_name/last_name; optional registrant_id, join_url.
    A file with any bad line is refused whole, each bad line named.
    """
    service = _service()
    roster = read_csv(csv_file.read(), service.config["ZOOM_JOIN_DOMAIN"])
    issued = service.issue_links(meeting_id, roster.inputs)
    out = _csv_with_links(roster.header)
    for row, link in zip(roster.rows, issued):
        out.writerow({**row, "link": link.url})
    created = sum(link.created for link in issued)
    click.echo(f"{len(issued)} link(s) issued, {created} new registrant(s)", err=True)


def _csv_with_links(header: list[str]) -> csv.DictWriter:
    """stdout as CSV: every input column, then ``link`` (cells made safe for spreadsheets)."""
    out = SpreadsheetDictWriter(sys.stdout, [*[h for h in header if h != "link"], "link"])
    out.writeheader()
    return out


def _manage(action: str, meeting_id: str, email: str) -> None:
    link = _service().manage_link(action, meeting_id, email)
    click.echo({"revoke": f"revoked the link of {email}",
                "reset": f"freed the device binding of {email}; the same link works again",
                "reissue": f"new link for {email}: {link}"}[action])


@links.command("revoke")
@click.argument("meeting_id")
@click.argument("email")
@_reported
def links_revoke_command(meeting_id: str, email: str) -> None:
    """Stop EMAIL's link from working (410)."""
    _manage("revoke", meeting_id, email)


@links.command("reset")
@click.argument("meeting_id")
@click.argument("email")
@click.option("--approve", is_flag=True,
              help="Also approve the registrant again at Zoom (after a deny).")
@_reported
def links_reset_command(meeting_id: str, email: str, approve: bool) -> None:
    """Free the device binding: the next device to claim the link gets it."""
    _manage("reset", meeting_id, email)
    if approve:
        fields = _service().store.registrant(meeting_id, _service().registrant_id(email))
        _zoom().set_registrant_status(meeting_id, "approve", fields.get("zid", ""),
                                      fields["email"])
        click.echo(f"approved {email} again at Zoom")


@links.command("reissue")
@click.argument("meeting_id")
@click.argument("email")
@_reported
def links_reissue_command(meeting_id: str, email: str) -> None:
    """Give EMAIL a new link; the old one stops working."""
    _manage("reissue", meeting_id, email)


@links.command("show")
@click.argument("meeting_id")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_reported
def links_show_command(meeting_id: str, email: str, as_json: bool) -> None:
    """Status of EMAIL's link and its history: opens, claims, refused attempts."""
    status = _service().link_status(meeting_id, email)
    if as_json:
        click.echo(json.dumps(status, indent=2, ensure_ascii=False))
        return
    click.echo(f"{status['email']} ({status['display_name']}): {status['status']}")
    click.echo(f"link: {status['link']}")
    click.echo(f"opens {status['opens']}, claims {status['claims']}, "
               f"refused {status['refused']}, devices bound {status['devices']}")
    for event in status["history"]:
        at = datetime.fromtimestamp(float(event["at"]), tz=timezone.utc)
        click.echo(f"  {at:%Y-%m-%d %H:%M:%S}Z  {event['kind']:<8} {event['ip']:<15} "
                   f"{event['user_agent']}")


@links.command("export")
@click.argument("meeting_id")
@_reported
def links_export_command(meeting_id: str) -> None:
    """Every registrant's current link as CSV for the mail merge (email, name, display_name,
    status, registrant_id, link)."""
    write_links_csv(_service().export_links(meeting_id), sys.stdout)


# Report

@main.command("report")
@click.argument("meeting_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@_reported
def report_command(meeting_id: str, fmt: str) -> None:
    """Attendance: each registrant's status, claims, joins and flags; unmatched participants."""
    report = _service().report(meeting_id)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    write_report_csv(report, sys.stdout)


# Zoom

def _zoom() -> Any:
    from .zoom.client import ZoomClient

    service = _service()
    return ZoomClient(service.config, service.store)


@main.group()
def zoom() -> None:
    """Zoom's API (Server-to-Server OAuth: JOINGATE_ZOOM_ACCOUNT_ID, _CLIENT_ID, _CLIENT_SECRET)."""


@zoom.command("sync")
@click.argument("meeting_id")
@_reported
def zoom_sync_command(meeting_id: str) -> None:
    """Import the meeting and its approved registrants from Zoom, issue links, print the
    mail-merge CSV. Running it again changes nothing that did not change at Zoom."""
    from .zoom.sync import sync_meeting

    result = sync_meeting(_service(), _zoom(), meeting_id)
    for problem in result.skipped:
        click.echo(f"skipped {problem}", err=True)
    write_links_csv(_service().export_links(meeting_id), sys.stdout)
    created = sum(link.created for link in result.links)
    click.echo(f"meeting {meeting_id} {'added' if result.meeting_created else 'updated'}; "
               f"{len(result.links)} registrant(s), {created} new", err=True)


@zoom.command("register")
@click.argument("meeting_id")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@_reported
def zoom_register_command(meeting_id: str, csv_file: io.TextIOBase) -> None:
    """Register everyone in CSV_FILE at Zoom (auto-approved), keep Zoom's registrant_id and
    join_url, issue gate links, print the CSV with a link column. A row Zoom refuses is
    reported (with Zoom's message) and the others go on; a rerun registers nobody twice."""
    from .zoom.sync import register_at_zoom

    service = _service()
    roster = read_csv(csv_file.read(), service.config["ZOOM_JOIN_DOMAIN"])
    results = register_at_zoom(service, _zoom(), meeting_id,
                               list(zip(roster.lines, roster.inputs)))
    out = _csv_with_links(roster.header)
    by_line = {result.line: result for result in results}
    failed = 0
    for line, row in zip(roster.lines, roster.rows):
        result = by_line[line]
        if result.error:
            failed += 1
            click.echo(f"error: line {line}: {result.email}: Zoom refused: {result.error}",
                       err=True)
        else:
            out.writerow({**row, "link": result.link.url})
    click.echo(f"{len(results) - failed} registered, {failed} refused by Zoom", err=True)
    if failed:
        sys.exit(1)


@zoom.command("reconcile")
@click.argument("meeting_id")
@click.option("--every", type=click.IntRange(10, 3600), default=None,
              help="Repeat every N seconds until interrupted.")
@_reported
def zoom_reconcile_command(meeting_id: str, every: int | None) -> None:
    """Correct presence from Zoom's live participant list (dashboard accounts): add the
    participants webhooks missed, close the stays Zoom no longer shows."""
    import time as _time

    from .zoom.sync import reconcile_live

    service, client = _service(), _zoom()
    while True:
        added, closed = reconcile_live(service, client, meeting_id)
        click.echo(f"{added} participant(s) added, {closed} stay(s) closed")
        if every is None:
            return
        _time.sleep(every)


# API tokens

@main.group()
def tokens() -> None:
    """Organizer API tokens (stored hashed; a token is shown once, when created)."""


@tokens.command("create")
@click.option("--name", required=True, help="Who or what uses it, e.g. 'shop'.")
@click.option("--scope", type=click.Choice(["read", "manage"]), default="read",
              show_default=True)
@_reported
def tokens_create_command(name: str, scope: str) -> None:
    """Create a token and print it (it cannot be shown again)."""
    token, record = _service().create_api_token(name, scope)
    click.echo(token)
    click.echo(f"token {record['id']} ({scope}) created; store it now, it is not kept in clear",
               err=True)


@tokens.command("list")
@_reported
def tokens_list_command() -> None:
    """Id, scope, name and creation time of every token (never the token itself)."""
    for record in _service().api_tokens():
        created = (datetime.fromtimestamp(record["created"], tz=timezone.utc)
                   .strftime("%Y-%m-%d %H:%M") if record["created"] else "(environment)")
        click.echo(f"{record['id']}  {record['scope']:<6}  {created}  {record['name']}")


@tokens.command("revoke")
@click.argument("token_id")
@_reported
def tokens_revoke_command(token_id: str) -> None:
    """Revoke the token with this id (from `tokens list`)."""
    _service().revoke_api_token(token_id)
    click.echo(f"token {token_id} revoked")


# Worker

@main.command("worker")
@_reported
def worker_command() -> None:
    """Run the worker: sharing checks, alerts (ALERT_WEBHOOK_URL) and Zoom actions, with
    retries. Stops on SIGTERM or Ctrl-C. Run one or more next to the web app."""
    import signal
    import threading

    from .worker import Worker

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    from .observability import configure_logging

    configure_logging()
    app = _app(click.get_current_context())
    service = app.extensions["joingate"]
    zoom_client = None
    if service.config["ZOOM_CLIENT_ID"]:
        from .zoom.client import ZoomClient

        zoom_client = ZoomClient(service.config, service.store)
    Worker(service, zoom=zoom_client, metrics=app.extensions["joingate_metrics"]).run(stop)


# Development server

DEMO_MEETING = "85746065432"
DEMO_REGISTRANTS = [RegistrantInput("ana.lima@example.org", "Ana Lima"),
                    RegistrantInput("jose@example.org", "José Ñúñez 🎨")]


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option("--demo", is_flag=True, help="Add a demo meeting that is open now; print 2 links.")
@_reported
def serve_command(host: str, port: int, demo: bool) -> None:
    """Run joingate in one process (Werkzeug). Fine on memory://; use gunicorn in production.

    Without JOINGATE_REDIS_URL it uses memory://; without JOINGATE_SECRET_KEY, a random key
    (links then stop working when the process ends)."""
    from . import create_app

    overrides: dict[str, Any] = {}
    if not os.environ.get("JOINGATE_REDIS_URL"):
        overrides["REDIS_URL"] = "memory://"
    if not os.environ.get("JOINGATE_SECRET_KEY"):
        overrides["SECRET_KEY"] = secrets.token_urlsafe(32)
        click.echo("JOINGATE_SECRET_KEY is not set: using a random key for this run", err=True)
    if not os.environ.get("JOINGATE_PUBLIC_URL"):
        overrides["PUBLIC_URL"] = f"http://{host}:{port}"
    app = create_app(overrides)
    if demo:
        service: Service = app.extensions["joingate"]
        start = datetime.fromtimestamp(service.clock(), tz=timezone.utc) + timedelta(minutes=5)
        service.add_meeting(DEMO_MEETING, topic="joingate demo class", start=start, duration=60,
                            pwd="demo", support="organizer@example.org")
        click.echo(f"demo meeting {DEMO_MEETING}, starts {start:%H:%M} UTC; sample links:")
        for link in service.issue_links(DEMO_MEETING, DEMO_REGISTRANTS):
            click.echo(f"  {link.display_name}: {link.url}")
    import threading

    from .worker import Worker

    # One process: the worker runs beside the server on the same (possibly embedded) store.
    threading.Thread(target=Worker(app.extensions["joingate"]).run, args=(threading.Event(),),
                     daemon=True, name="joingate-worker").start()
    app.run(host=host, port=port, threaded=True, use_reloader=False)


if __name__ == "__main__":  # pragma: no cover
    main()
