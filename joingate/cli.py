"""The organizer's command line: ``joingate meeting|links|report|serve``.

Every command works through the app's services (:class:`joingate.state.AppState`), the same
layer the web app uses.
Errors become one line on stderr and a non-zero exit: 1 for a fault in what was asked, 3 when
Redis does not answer.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask

from .errors import ConfigError, InvalidInput, JoingateError, NotFound, StorageUnavailable
from .exports import SpreadsheetDictWriter, write_links_csv, write_report_csv
from .meetings import MeetingReused
from .roster import RegistrantInput, fault_lines, read_csv
from .signing import normalize_email
from .state import AppState
from .times import iso_utc, parse_start, utc_datetime
from .views import link_status, registrant_rows


def _app(ctx: click.Context) -> Flask:
    """The app given by a test (``obj``), or one built from the environment on first use."""
    if not isinstance(ctx.obj, Flask):
        from . import create_app

        ctx.obj = create_app()
    return ctx.obj


def _state() -> AppState:
    return _app(click.get_current_context()).extensions["joingate"]


def _reported(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn joingate's errors into a clear message and exit status."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MeetingReused as exc:
            raise click.ClickException(f"{exc.message}: add --keep-registrants or "
                                       "--new-cohort") from None
        except InvalidInput as exc:
            for text in fault_lines(exc.details):     # each bad line once; the summary after
                click.echo(f"error: {text}", err=True)
            raise click.ClickException(exc.message) from None
        except StorageUnavailable as exc:
            click.echo(f"Error: {exc} at {_redis_where()}", err=True)
            sys.exit(3)
        except (ConfigError, NotFound, JoingateError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _redis_where() -> str:
    """JOINGATE_REDIS_URL as an organizer can check it: without its password."""
    url = os.environ.get("JOINGATE_REDIS_URL", "")
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
        user = parts.username or ""
        shown = parts._replace(netloc=(f"{user}:***@" if parts.password else "") + netloc)
        return f"JOINGATE_REDIS_URL={shown.geturl()}" if url else "JOINGATE_REDIS_URL (unset)"
    except ValueError:
        return "JOINGATE_REDIS_URL (unreadable)"


class MeetingNumber(click.ParamType):
    """A Zoom meeting number as typed or as Zoom shows it: ``857 4606 5433`` (or with hyphens)
    is ``85746065432``. Anything else is passed on as typed, for the service to refuse."""

    name = "meeting_id"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        compact = "".join(str(value).replace("-", " ").split())
        return compact if compact.isascii() and compact.isdigit() else str(value)


MEETING_NUMBER = MeetingNumber()


def refuse_unknown_key() -> None:
    """Refuse to issue or mail links signed with a key no server announced (another .env on
    this machine: every such link would answer 404)."""
    state = _state()
    known = state.store.key_fingerprints()
    mine = state.signer.fingerprints()[-1]
    if known and mine not in known:
        raise click.ClickException(
            f"JOINGATE_SECRET_KEY here is not a key the server verifies links with (this key's "
            f"fingerprint {mine}; the server announced {', '.join(sorted(known))}): links issued "
            "here would answer 404. Use the server's JOINGATE_SECRET_KEY")


def _refuse_loopback_links(allowed: bool) -> None:
    """Links for a mail merge must reach registrants: refuse them when they are signed with a
    key the server does not verify with (a laptop with another .env: 100 links answering
    404), or (unless asked for) when PUBLIC_URL is loopback (the default
    http://127.0.0.1:8000 reaches nobody but this machine)."""
    state = _state()
    refuse_unknown_key()
    host = urlsplit(state.config.public_url).hostname or ""
    if allowed or not (host == "localhost" or host.endswith(".localhost")
                       or _is_loopback(host)):
        return
    raise click.ClickException(
        f"JOINGATE_PUBLIC_URL is {_state().config.public_url}: these links would open only on "
        "this machine. Set JOINGATE_PUBLIC_URL to the https:// address registrants reach "
        "(or add --allow-loopback to issue them anyway)")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_ended(start: int, duration: int, now: float) -> None:
    """A meeting whose scheduled end has passed would give links that answer "class is over"
    from the first click: refuse it with a sentence (``--allow-past`` skips this check)."""
    end = start + duration * 60
    if end <= now:
        ended = datetime.fromtimestamp(end, tz=UTC)
        raise InvalidInput(f"the class would have ended at {ended:%Y-%m-%d %H:%M} UTC, in the "
                           "past: its links would answer 'class is over'. Check the date and "
                           "its year, or add --allow-past to add it anyway")


@click.group()
def main() -> None:
    """joingate: one registration, one person in the Zoom meeting."""


# Meetings

@main.group()
def meeting() -> None:
    """Meetings: when links work, where they lead."""


@meeting.command("add")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.option("--topic", required=True, help="Title shown on the pages.")
@click.option("--start", required=True,
              help="ISO 8601 with a zone, e.g. 2026-12-01T18:00:00Z or 2026-12-01 19:00+01:00.")
@click.option("--duration", required=True, type=click.IntRange(1, 10080), help="Minutes.")
@click.option("--passcode", default=None, help="Goes verbatim into pwd= (plain or encoded).")
@click.option("--target", type=click.Choice(["webclient", "registrant"]), default=None,
              help="registrant (default): each registrant's own Zoom join_url where there is "
                   "one, else the web client; webclient: always the web client.")
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
@click.option("--language", default=None,
              help="Language of the registrant's pages: en, pt, es, fr, de, a regional form "
                   "(pt-BR) or an organizer catalog; '' (default) follows the browser.")
@click.option("--timezone", "timezone_name", default=None,
              help="IANA time zone the pages show times in, e.g. Europe/Lisbon (default UTC).")
@click.option("--max-moves", type=click.IntRange(0, 20), default=None,
              help="Moves to a new device a registrant may make by emailed code (default 2; "
                   "0: off).")
@click.option("--staff", multiple=True,
              help="Email or Zoom user id of a signed-in teacher or assistant, never flagged "
                   "(repeatable; replaces the list). Never a name: anyone can type one.")
@click.option("--keep-registrants/--new-cohort", "keep_registrants", default=None,
              help="When the meeting number was used for a class that has ended: keep its "
                   "registrants and their links (the next session), or start over (the old "
                   "links stop working). Asked for only then.")
@click.option("--allow-past", is_flag=True,
              help="Add it even if its scheduled end has passed (its links would be over).")
@_reported
def meeting_add_command(meeting_id: str, topic: str, start: str, duration: int,
                        passcode: str | None, target: str | None, open_before: int | None,
                        close_after: int | None, max_devices: int | None, rejoin: bool | None,
                        policy: str | None, support: str | None,
                        auto_submit: bool | None, language: str | None,
                        timezone_name: str | None, staff: tuple[str, ...],
                        keep_registrants: bool | None, allow_past: bool,
                        max_moves: int | None) -> None:
    """Add a meeting, or update it if it exists. MEETING_ID as Zoom shows it (857 4606 5433)
    is fine."""
    start_at = parse_start(start)
    if not allow_past:
        _refuse_ended(start_at, duration, _state().clock())
    created = _state().meetings.add(
        meeting_id, topic=topic, start=start_at, duration=duration, pwd=passcode,
        target=target, open_before=None if open_before is None else open_before * 60,
        close_after=None if close_after is None else close_after * 60, max_devices=max_devices,
        rejoin=rejoin, policy=policy, support=support, auto_submit=auto_submit,
        language=language, timezone=timezone_name, max_moves=max_moves,
        staff=list(staff) if staff else None, keep_registrants=keep_registrants)
    click.echo(f"meeting {meeting_id} {'added' if created else 'updated'}")
    _say_target(meeting_id)


@meeting.command("list")
@_reported
def meeting_list_command() -> None:
    """Every meeting joingate keeps: number, start (UTC), registrants, topic."""
    meetings = _state().meetings
    for meeting_id in meetings.ids():
        found = meetings.get(meeting_id)
        click.echo(f"{meeting_id}  {iso_utc(found.start)}  "
                   f"{meetings.registrant_count(meeting_id):>6} registrant(s)  {found.topic}")


@meeting.command("show")
@click.argument("meeting_id", type=MEETING_NUMBER)
@_reported
def meeting_show_command(meeting_id: str) -> None:
    """One meeting: its window, target, policy and options (never the passcode)."""
    meetings = _state().meetings
    found = meetings.get(meeting_id)
    for label, value in (
            ("topic", found.topic), ("start", iso_utc(found.start)),
            ("duration", f"{found.duration} min"),
            ("links open", iso_utc(found.opens_at)), ("links close", iso_utc(found.closes_at)),
            ("target", found.target), ("policy", found.policy),
            ("devices per link", found.max_devices), ("rejoin", "yes" if found.rejoin else "no"),
            ("moves by code", found.max_moves or "off"),
            ("support", found.support or "(none)"),
            ("passcode", "set" if found.pwd else "none"),
            ("registrants", meetings.registrant_count(meeting_id)),
            ("data kept until", iso_utc(found.expire_at))):
        click.echo(f"{label + ':':<18} {value}")


@meeting.command("delete")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_reported
def meeting_delete_command(meeting_id: str, yes: bool) -> None:
    """Forget a meeting with its registrants, links, history and attendance. Its links answer
    404 from then on; this cannot be undone."""
    meetings = _state().meetings
    count = meetings.registrant_count(meetings.get(meeting_id).id)
    if not yes:
        click.confirm(f"Delete meeting {meeting_id} and its {count} registrant(s)? Their links "
                      "stop working", abort=True)
    meetings.delete(meeting_id)
    click.echo(f"deleted meeting {meeting_id} ({count} registrant(s))")


# Links

@main.group()
def links() -> None:
    """Registrants' links: issue, revoke, reset, show."""


@links.command("issue")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.argument("csv_file", type=click.File("rb"))   # read_csv decodes (and names bad bytes)
@click.option("--allow-loopback", is_flag=True,
              help="Issue links on a loopback PUBLIC_URL anyway (tests on this machine).")
@_reported
def links_issue_command(meeting_id: str, csv_file: io.BufferedIOBase, allow_loopback: bool) -> None:
    """Read registrants from CSV_FILE ('-' for stdin), write it to stdout with a link column.

    Columns: email, and name or first_name/last_name; optional registrant_id, join_url (case
    and spacing do not matter: Zoom's export headers are read); any other column is kept.
    Comma, semicolon or tab separated, UTF-8. A file with any bad line is refused whole, each
    bad line named.
    """
    _refuse_loopback_links(allow_loopback)
    state = _state()
    roster = read_csv(csv_file.read(), state.config.zoom_join_domain)
    # Display names are what Zoom shows and what name matching sees: say when one changes.
    before = {normalize_email(r.email): r.name for r in state.meetings.registrants(meeting_id)}
    first_seen: dict[str, tuple[int, str]] = {}
    renamed = 0
    for line, person in zip(roster.lines, roster.inputs):
        key = normalize_email(person.email)
        if key in first_seen and first_seen[key][1] != person.name:
            click.echo(f"warning: line {line}: {person.email} is also on line "
                       f"{first_seen[key][0]} with the name {first_seen[key][1]!r}; the last, "
                       f"{person.name!r}, is kept", err=True)
        first_seen.setdefault(key, (line, person.name))
    last_name = {normalize_email(p.email): p.name for p in roster.inputs}
    for key, name in last_name.items():
        if key in before and before[key] != name:
            renamed += 1
            click.echo(f"warning: {key} is renamed from {before[key]!r} to {name!r} (Zoom will "
                       "show the new name)", err=True)
    issued = state.meetings.issue_links(meeting_id, roster.inputs)
    out = _csv_with_links(roster.header)
    for row, link in zip(roster.rows, issued):
        out.writerow({**row, "link": link.url})
    created = len({normalize_email(link.email) for link in issued if link.created})
    unchanged = len(last_name) - created - renamed
    click.echo(f"{len(issued)} link(s) issued: {created} new, {renamed} renamed, "
               f"{unchanged} unchanged, 0 refused", err=True)
    _say_target(meeting_id)


def _say_target(meeting_id: str) -> None:
    """Tell the organizer (stderr) which redirect target the meeting uses and what evidence it
    gives. Reads every registrant: a CLI aid, never on a request path."""
    from .zoom.urls import target_evidence

    meetings = _state().meetings
    registrants = meetings.registrants(meeting_id)
    with_join_url = sum(1 for registrant in registrants if registrant.join_url)
    click.echo(target_evidence(meetings.get(meeting_id).target, with_join_url,
                               len(registrants)), err=True)


def _csv_with_links(header: list[str]) -> csv.DictWriter:
    """stdout as CSV: every input column, then ``link`` (cells made safe for spreadsheets)."""
    out = SpreadsheetDictWriter(sys.stdout, [*[h for h in header if h != "link"], "link"])
    out.writeheader()
    return out


def _manage(action: str, meeting_id: str, email: str) -> None:
    meetings = _state().meetings
    link = meetings.manage_link(action, meeting_id, email)
    if action == "reset" and meetings.registrant(meeting_id, email).revoked:
        click.echo(f"freed the device binding of {email}; the link is revoked and still "
                   "answers 410: `joingate links reset --restore` makes the same link work "
                   "again, `joingate links reissue` gives a new one")
        return
    click.echo({"revoke": f"revoked the link of {email}",
                "reset": f"freed the device binding of {email}; the same link works again",
                "restore": f"restored the link of {email}: no longer revoked, no device bound; "
                           "the same link works again",
                "reissue": f"new link for {email}: {link}"}[action])


@links.command("revoke")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.argument("email")
@_reported
def links_revoke_command(meeting_id: str, email: str) -> None:
    """Stop EMAIL's link from working (410)."""
    _manage("revoke", meeting_id, email)


@links.command("reset")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.argument("email")
@click.option("--restore", is_flag=True,
              help="Also undo a revoke (the deny policy revokes): the same link works again.")
@click.option("--approve", is_flag=True,
              help="Undo a deny: restore the link and approve the registrant again at Zoom.")
@click.option("--send", is_flag=True, help="Mail EMAIL the link again now.")
@_reported
def links_reset_command(meeting_id: str, email: str, restore: bool, approve: bool,
                        send: bool) -> None:
    """Free the device binding: the next device to claim the link gets it."""
    zoom = _zoom() if approve else None          # credentials checked before anything changes
    _manage("restore" if restore or approve else "reset", meeting_id, email)
    if zoom is not None:
        registrant = _state().meetings.registrant(meeting_id, email)
        zoom.set_registrant_status(meeting_id, "approve", registrant.zoom_registrant_id,
                                      registrant.email)
        click.echo(f"approved {email} again at Zoom")
    if send:
        mail_cli.send_now(meeting_id, email)


@links.command("reissue")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.argument("email")
@click.option("--send", is_flag=True, help="Mail EMAIL the new link now.")
@_reported
def links_reissue_command(meeting_id: str, email: str, send: bool) -> None:
    """Give EMAIL a new link; the old one stops working."""
    _manage("reissue", meeting_id, email)
    if send:
        mail_cli.send_now(meeting_id, email)


@links.command("show")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_reported
def links_show_command(meeting_id: str, email: str, as_json: bool) -> None:
    """Status of EMAIL's link and its history: opens, claims, refused attempts."""
    status = link_status(_state(), meeting_id, email)
    if as_json:
        click.echo(json.dumps(status, indent=2, ensure_ascii=False))
        return
    click.echo(f"{status['email']} ({status['display_name']}): {status['status']}")
    click.echo(f"link: {status['link']}")
    click.echo(f"opens {status['opens']}, claims {status['claims']}, "
               f"refused {status['refused']}, devices bound {status['devices']}")
    if status["flags"]:
        click.echo(f"flags: {', '.join(status['flags'])}")
    for evidence in status["evidence"]:
        people = "; ".join(f"{stay['user_name']} ({person['via']})" for person in evidence["people"]
                           for stay in person["stays"])
        click.echo(f"  {evidence['flag']}: {evidence['overlap_seconds']:.0f} s together: {people}")
    send = status["send"]
    if send:
        version = "" if status["sent"] else f" (of link version {send['version']}, reissued since)"
        click.echo(f"mail: {send['state']}{version} {utc_datetime(send['at']):%Y-%m-%d %H:%M:%S}Z "
                   f"{send['message_id']} {send['reply']}".rstrip())
    else:
        click.echo("mail: not sent")
    for event in status["history"]:
        click.echo(f"  {event['at']}  {event['kind']:<8} {event['ip']:<15} "
                   f"{event['user_agent']}")


@links.command("export")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.option("--allow-loopback", is_flag=True,
              help="Issue links on a loopback PUBLIC_URL anyway (tests on this machine).")
@_reported
def links_export_command(meeting_id: str, allow_loopback: bool) -> None:
    """Every registrant's current link as CSV for the mail merge (email, name, display_name,
    status, registrant_id, link)."""
    _refuse_loopback_links(allow_loopback)
    write_links_csv(registrant_rows(_state(), meeting_id), sys.stdout)


# Report

@main.command("report")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@_reported
def report_command(meeting_id: str, fmt: str) -> None:
    """Attendance: each registrant's status, claims, joins and flags; unmatched participants."""
    report = _state().presence.report(meeting_id)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    write_report_csv(report, sys.stdout)


# Zoom

def _zoom() -> Any:
    from .zoom.client import ZoomClient

    state = _state()
    return ZoomClient(state.config, state.store)


@main.group()
def zoom() -> None:
    """Zoom's API (Server-to-Server OAuth: JOINGATE_ZOOM_ACCOUNT_ID, _CLIENT_ID, _CLIENT_SECRET)."""


@zoom.command("sync")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.option("--allow-loopback", is_flag=True,
              help="Issue links on a loopback PUBLIC_URL anyway (tests on this machine).")
@_reported
def zoom_sync_command(meeting_id: str, allow_loopback: bool) -> None:
    """Import the meeting and its approved registrants from Zoom, issue links, print the
    mail-merge CSV. Running it again changes nothing that did not change at Zoom."""
    _refuse_loopback_links(allow_loopback)
    from .zoom.sync import sync_meeting

    result = sync_meeting(_state(), _zoom(), meeting_id)
    for problem in result.skipped:
        click.echo(f"skipped {problem}", err=True)
    write_links_csv(registrant_rows(_state(), meeting_id), sys.stdout)
    created = sum(link.created for link in result.links)
    click.echo(f"meeting {meeting_id} {'added' if result.meeting_created else 'updated'}; "
               f"{len(result.links)} registrant(s), {created} new", err=True)


@zoom.command("register")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.argument("csv_file", type=click.File("rb"))   # read_csv decodes (and names bad bytes)
@click.option("--allow-loopback", is_flag=True,
              help="Issue links on a loopback PUBLIC_URL anyway (tests on this machine).")
@_reported
def zoom_register_command(meeting_id: str, csv_file: io.BufferedIOBase,
                          allow_loopback: bool) -> None:
    """Register everyone in CSV_FILE at Zoom (auto-approved), keep Zoom's registrant_id and
    join_url, issue gate links, print the CSV with a link column. A row Zoom refuses is
    reported (with Zoom's message) and the others go on; a rerun registers nobody twice."""
    _refuse_loopback_links(allow_loopback)
    from .zoom.sync import register_at_zoom

    state = _state()
    roster = read_csv(csv_file.read(), state.config.zoom_join_domain)
    results = register_at_zoom(state, _zoom(), meeting_id,
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
            assert result.link is not None      # a row Zoom accepted has its link
            out.writerow({**row, "link": result.link.url})
    click.echo(f"{len(results) - failed} registered, {failed} refused by Zoom", err=True)
    if failed:
        sys.exit(1)


@zoom.command("harden")
@click.argument("meeting_id")
@click.option("--apply", "apply_changes", is_flag=True,
              help="Set what is open at Zoom, then read the settings again to verify.")
@_reported
def zoom_harden_command(meeting_id: str, apply_changes: bool) -> None:
    """List the meeting's Zoom settings that close holes the gate cannot (registration with
    approval, Zoom's confirmation email, one device per registrant link, signed-in users only),
    with the passcode and waiting room; --apply sets them. Exit 0 hardened, 1 still open."""
    from .zoom.harden import harden, report

    result = harden(_zoom(), meeting_id, apply_changes)
    report(result, meeting_id, click.echo)
    if not result.hardened:
        sys.exit(1)


@zoom.command("reconcile")
@click.argument("meeting_id", type=MEETING_NUMBER)
@click.option("--every", type=click.IntRange(10, 3600), default=None,
              help="Repeat every N seconds until interrupted.")
@_reported
def zoom_reconcile_command(meeting_id: str, every: int | None) -> None:
    """Correct presence from Zoom's live participant list (dashboard accounts): add the
    participants webhooks missed, close the stays Zoom no longer shows."""
    import time as _time

    from .zoom.sync import reconcile_live

    state, client = _state(), _zoom()
    while True:
        added, closed = reconcile_live(state, client, meeting_id)
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
    token, record = _state().tokens.create(name, scope)
    click.echo(token)
    click.echo(f"token {record['id']} ({scope}) created; store it now, it is not kept in clear",
               err=True)


@tokens.command("list")
@_reported
def tokens_list_command() -> None:
    """Id, scope, name and creation time of every token (never the token itself)."""
    for record in _state().tokens.records():
        created = (datetime.fromtimestamp(record["created"], tz=UTC)
                   .strftime("%Y-%m-%d %H:%M") if record["created"] else "(environment)")
        click.echo(f"{record['id']}  {record['scope']:<6}  {created}  {record['name']}")


@tokens.command("revoke")
@click.argument("token_id")
@_reported
def tokens_revoke_command(token_id: str) -> None:
    """Revoke the token with this id (from `tokens list`)."""
    _state().tokens.revoke(token_id)
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
    state = app.extensions["joingate"]
    zoom_client = None
    if state.config.zoom_client_id:
        from .zoom.client import ZoomClient

        zoom_client = ZoomClient(state.config, state.store)
    Worker(state, zoom=zoom_client, metrics=app.extensions["joingate_metrics"]).run(stop)


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
    app.extensions["joingate"].announce_keys()
    if demo:
        state: AppState = app.extensions["joingate"]
        start = datetime.fromtimestamp(state.clock(), tz=UTC) + timedelta(minutes=5)
        state.meetings.add(DEMO_MEETING, topic="joingate demo class", start=start, duration=60,
                            pwd="demo", support="organizer@example.org")
        click.echo(f"demo meeting {DEMO_MEETING}, starts {start:%H:%M} UTC; sample links:")
        for link in state.meetings.issue_links(DEMO_MEETING, DEMO_REGISTRANTS):
            click.echo(f"  {link.display_name}: {link.url}")
        from .sender import LinkSender

        click.echo(f"\nThe message {DEMO_REGISTRANTS[1].email} would get (joingate links "
                   f"preview {DEMO_MEETING} {DEMO_REGISTRANTS[1].email}):\n")
        mail_cli.print_message(LinkSender(state).preview(DEMO_MEETING,
                                                         DEMO_REGISTRANTS[1].email))
        click.echo("")
    import threading

    from .worker import Worker

    # One process: the worker runs beside the server on the same (possibly embedded) store.
    threading.Thread(target=Worker(app.extensions["joingate"]).run, args=(threading.Event(),),
                     daemon=True, name="joingate-worker").start()
    app.run(host=host, port=port, threaded=True, use_reloader=False)


# Sending the links: links send, links preview (joingate/mail_cli.py adds them to `links`)

from . import mail_cli  # noqa: E402

if __name__ == "__main__":  # pragma: no cover
    # `python -m joingate.cli`: run the importable module's group, the one mail_cli.py adds
    # `links send` and `links preview` to (this file, run as __main__, is a second copy).
    from joingate.cli import main as importable_main

    importable_main()
