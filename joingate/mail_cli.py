"""``joingate links send`` and ``joingate links preview``, added to the ``links`` group when
:mod:`joingate.cli` imports this module; ``send_now`` serves ``links reissue/reset --send``. The
work is :class:`joingate.sender.LinkSender`'s; this module only chooses what the organizer sees."""

from __future__ import annotations

import sys
from email.message import EmailMessage

import click

from .cli import _reported, _state, links, refuse_unknown_key
from .mail import message_bytes
from .send_progress import PlainProgress, TerminalProgress, problem_lines, summary_lines
from .sender import LinkSender, SendSummary


def _observer() -> TerminalProgress | PlainProgress:
    stderr = sys.stderr
    if stderr.isatty():
        return TerminalProgress(stderr)
    return PlainProgress(sys.stdout)


def _report(summary: SendSummary) -> bool:
    """Print the summary (stdout) and each registrant left without the link (stderr)."""
    for line in summary_lines(summary):
        click.echo(line)
    for line in problem_lines(summary):
        click.echo(line, err=True)
    return summary.ok


@click.command("send")
@click.argument("meeting_id")
@click.option("--only", "only", multiple=True, metavar="EMAIL",
              help="Send to this registrant (repeatable), even if sent before.")
@click.option("--resend", is_flag=True, help="Send to everyone again, even those sent before.")
@click.option("--dry-run", is_flag=True,
              help="Render every message and check every address; send and record nothing.")
@_reported
def links_send_command(meeting_id: str, only: tuple[str, ...], resend: bool,
                       dry_run: bool) -> None:
    """Mail each registrant of MEETING_ID their link (JOINGATE_SMTP_URL, JOINGATE_MAIL_FROM).

    Each registrant once: a rerun sends only to those not sent yet (a reissued link counts as
    not sent). Exit 1 when anyone is left without the link (bounced, failed, invalid address),
    each named on stderr."""
    refuse_unknown_key()
    summary = LinkSender(_state(), observer=_observer()).run(
        meeting_id, list(only) if only else None, resend=resend, dry_run=dry_run)
    if not _report(summary):
        sys.exit(1)


@click.command("preview")
@click.argument("meeting_id")
@click.argument("email")
@click.option("--raw", is_flag=True, help="The message exactly as it goes on the wire.")
@_reported
def links_preview_command(meeting_id: str, email: str, raw: bool) -> None:
    """Print the message EMAIL would get: headers, the plain text part, the HTML part.
    Sends and records nothing."""
    message = LinkSender(_state()).preview(meeting_id, email)
    if raw:
        sys.stdout.buffer.write(message_bytes(message))
        return
    print_message(message)


def print_message(message: EmailMessage) -> None:
    """Headers decoded, then each part as text (``links preview``, ``serve --demo``)."""
    for name in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID"):
        if message[name] is not None:
            click.echo(f"{name}: {message[name]}")
    for part in message.iter_parts():
        click.echo(f"\n--- {part.get_content_type()} ---")
        click.echo(part.get_content().rstrip("\n"))


def send_now(meeting_id: str, email: str) -> None:
    """Mail EMAIL's link now (``links reissue/reset --send``); exit 1 when it did not go."""
    summary = LinkSender(_state(), observer=PlainProgress(sys.stdout)
                         ).run(meeting_id, [email])
    if not _report(summary):
        sys.exit(1)


links.add_command(links_send_command)
links.add_command(links_preview_command)
