"""Sending the links: a real SMTP server on loopback (aiosmtpd, tests/smtp_sink.py) receives every
message; the tests parse the bytes it got, claim the link found in them, and break the server in
the ways real ones break (down, gone mid-run, 5xx, 4xx, slow, killed sender)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import MEETING_ID, NOW, SECRET, START, make_app
from smtp_sink import Mailbox, SmtpSink
from stack import ROOT, free_port

import joingate.sender
from joingate.cli import main as cli_main
from joingate.records import SendRun
from joingate.roster import RegistrantInput
from joingate.worker import Worker

FROM = "Evening Ceramics <classes@example.org>"
ADMIN = "admin-token-for-tests"
PEOPLE = [RegistrantInput("ana.lima@example.org", "Ana Lima"),
          RegistrantInput("jose@example.org", "José Ñúñez 🎨"),
          RegistrantInput("kim@example.org", "Kim Lee")]


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def app(store_url, clock, sink):
    """The app of conftest, with mail settings pointing at the sink (no rate limit)."""
    return make_app(store_url, clock, SMTP_URL=sink.url, MAIL_FROM=FROM, SMTP_RATE=0,
                    ADMIN_TOKEN=ADMIN)


@pytest.fixture
def people(service, meeting):
    return {link.email: link for link in service.meetings.issue_links(meeting, PEOPLE)}


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(joingate.sender, "RETRY_DELAYS", (0.01, 0.02, 0.03))


def invoke(app, args: list[str]):
    return CliRunner().invoke(cli_main, args, obj=app, catch_exceptions=False)


def path_in(text: str) -> str:
    """The gate link's path in a message part."""
    match = re.search(r"https://gate\.example\.org(/j/[A-Za-z0-9._-]+)", text)
    assert match, text
    return match.group(1)


def shown(runner, email: str) -> dict:
    return json.loads(runner(["links", "show", MEETING_ID, email, "--json"]).output)


# The message a registrant gets

def test_each_registrant_gets_one_real_message_whose_link_claims(app, runner, service,
                                                                  people, sink):
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 0, result.output
    assert "sent 3, skipped 0" in result.stdout
    box = sink.box
    assert sorted(m.recipients[0] for m in box.messages) == sorted(people)
    received = box.to("jose@example.org")[0]
    assert received.sender == "classes@example.org"
    raw = received.raw
    assert raw.isascii(), "7-bit: quoted-printable or base64 bodies, RFC 2047 headers"
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF"
    message = received.parsed()
    assert message["From"].addresses[0].display_name == "Evening Ceramics"
    assert message["To"].addresses[0].display_name == "José Ñúñez 🎨"
    assert message["To"].addresses[0].addr_spec == "jose@example.org"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]
    assert message["Subject"] == "Your link to join: Evening ceramics, week 3"
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert message["Auto-Submitted"] == "auto-generated"
    record = shown(runner, "jose@example.org")
    assert record["sent"] == "sent" and record["send"]["message_id"] == message["Message-ID"]
    assert record["send"]["reply"].startswith("250 2.0.0 Ok: queued as Q")
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    link_path = path_in(text.get_content())
    assert people["jose@example.org"].url.endswith(link_path)
    assert f'href="https://gate.example.org{link_path}"' in html.get_content()
    assert "José Ñúñez 🎨" in text.get_content() and "help@example.org" in text.get_content()
    for secret in (b"enc0ded", b"zoom.us", MEETING_ID.encode()):
        assert secret not in raw
        assert secret.decode() not in text.get_content() + html.get_content()
    claim = app.test_client().post(link_path)
    assert claim.status_code == 303
    assert claim.headers["Location"].startswith(f"https://app.zoom.us/wc/{MEETING_ID}/join?")


def test_a_rerun_sends_nobody_twice_and_the_state_is_in_show_and_report(runner, people, sink):
    assert runner(["links", "send", MEETING_ID]).exit_code == 0
    again = runner(["links", "send", MEETING_ID])
    assert again.exit_code == 0 and "sent 0, skipped 3" in again.stdout
    assert sink.box.count == 3
    report = json.loads(runner(["report", MEETING_ID, "--format", "json"]).output)
    assert [row["sent"] for row in report["registrants"]] == ["sent"] * 3
    csv_rows = runner(["report", MEETING_ID]).output.splitlines()
    assert csv_rows[0].endswith(",flags,sent") and csv_rows[1].endswith(",sent")
    text = runner(["links", "show", MEETING_ID, "kim@example.org"]).output
    assert re.search(r"^mail: sent 2026-12-01 17:50:00Z <[^>]+@example\.org> 250 ", text, re.M)


def test_reissue_send_mails_the_new_link_and_a_rerun_counts_it_sent(app, runner, people, sink):
    assert runner(["links", "send", MEETING_ID]).exit_code == 0
    result = runner(["links", "reissue", MEETING_ID, "kim@example.org", "--send"])
    assert result.exit_code == 0, result.output
    first, second = sink.box.to("kim@example.org")
    old = path_in(first.parsed().get_body(("plain",)).get_content())
    new = path_in(second.parsed().get_body(("plain",)).get_content())
    assert old != new
    assert app.test_client().post(old).status_code == 410
    assert app.test_client().post(new).status_code == 303
    rerun = runner(["links", "send", MEETING_ID])
    assert rerun.exit_code == 0 and "sent 0, skipped 3" in rerun.stdout
    assert sink.box.count == 4
    reset = runner(["links", "reset", MEETING_ID, "kim@example.org", "--send"])
    assert reset.exit_code == 0 and "freed the device binding" in reset.stdout
    third = sink.box.to("kim@example.org")[2].parsed()
    assert path_in(third.get_body(("plain",)).get_content()) == new


def test_a_reissued_link_not_yet_mailed_is_sent_by_the_next_run(runner, people, sink):
    assert runner(["links", "send", MEETING_ID]).exit_code == 0
    assert runner(["links", "reissue", MEETING_ID, "ana.lima@example.org"]).exit_code == 0
    assert shown(runner, "ana.lima@example.org")["sent"] == ""
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 0 and "sent 1, skipped 2" in result.stdout
    assert len(sink.box.to("ana.lima@example.org")) == 2


def test_only_and_resend_send_again_on_purpose(runner, people, sink):
    assert runner(["links", "send", MEETING_ID]).exit_code == 0
    only = runner(["links", "send", MEETING_ID, "--only", "kim@example.org"])
    assert only.exit_code == 0 and "sent 1, skipped 0" in only.stdout
    assert len(sink.box.to("kim@example.org")) == 2
    resend = runner(["links", "send", MEETING_ID, "--resend"])
    assert resend.exit_code == 0 and "sent 3" in resend.stdout
    assert sink.box.count == 7
    unknown = runner(["links", "send", MEETING_ID, "--only", "nobody@example.org"])
    assert unknown.exit_code == 1
    assert "no registrant nobody@example.org in meeting" in unknown.output
    assert sink.box.count == 7


def test_dry_run_renders_everything_and_sends_and_records_nothing(runner, service, people,
                                                                   sink):
    result = runner(["links", "send", MEETING_ID, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("would send: ") == 3
    assert "dry run: would send 3" in result.stdout
    assert sink.box.count == 0
    assert service.store.all_send_records(MEETING_ID) == {}
    assert service.store.send_progress(MEETING_ID) is None


def test_preview_prints_both_parts_and_sends_nothing(runner, people, sink):
    result = runner(["links", "preview", MEETING_ID, "jose@example.org"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "From: Evening Ceramics <classes@example.org>" in out
    assert "To: José Ñúñez 🎨 <jose@example.org>" in out
    assert "--- text/plain ---" in out and "--- text/html ---" in out
    assert out.count(people["jose@example.org"].url) == 3    # text, href, copyable text
    raw = runner(["links", "preview", MEETING_ID, "jose@example.org", "--raw"]).stdout_bytes
    assert raw.startswith(b"From: ") and b"\r\n\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"multipart/alternative" in raw
    assert sink.box.count == 0


# The mail's language: the meeting's (no browser to ask), times by Babel in its zone

def plain(part) -> str:
    """A message part's text with its line wrapping undone (and CLDR's narrow space before PM
    read as a space)."""
    return " ".join(part.get_content().split())


def test_a_portuguese_meeting_gets_a_portuguese_mail_in_its_zone(runner, service, people,
                                                                  sink):
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START,
                         duration=90, support="help@example.org", language="pt",
                         timezone="America/Sao_Paulo")
    assert runner(["links", "send", MEETING_ID]).exit_code == 0
    message = sink.box.to("ana.lima@example.org")[0].parsed()
    assert message["Subject"] == "Seu link para entrar: Evening ceramics, week 3"
    text, html = message.iter_parts()
    # 18:00Z is 15:00 in Sao Paulo (UTC-3); links open 15 minutes before.
    assert ("Aqui está o seu link pessoal para entrar em \"Evening ceramics, week 3\", "
            "terça-feira, 1 de dezembro de 2026 15:00 (horário de São Paulo):") in plain(text)
    assert ("O link funciona a partir de terça-feira, 1 de dezembro de 2026 14:45 (horário de "
            "São Paulo) e é só seu") in plain(text)
    assert "Dúvidas, ou um dispositivo novo? Fale com help@example.org." in plain(text)
    assert max(len(line) for line in text.get_content().splitlines()
               if not line.startswith("https://")) <= 76          # wrapped, the link aside
    assert '<html lang="pt">' in html.get_content() and ">Entrar na aula</a>" in html.get_content()
    assert ("para entrar em <strong>Evening ceramics, week 3</strong>, terça-feira, 1 de "
            "dezembro de 2026 15:00 (horário de São Paulo):") in html.get_content()
    assert path_in(text.get_content()) in people["ana.lima@example.org"].url
    for english in ("Hello", "Here is", "The link works", "Join the class"):
        assert english not in text.get_content() + html.get_content()


def test_a_meeting_without_a_language_gets_the_english_mail(runner, service, people, sink):
    """English as before (subject, sentences); the time is Babel's English in the meeting's
    zone, as on the pages."""
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START,
                         duration=90, support="help@example.org", timezone="Europe/Lisbon")
    assert runner(["links", "send", MEETING_ID, "--only", "kim@example.org"]).exit_code == 0
    message = sink.box.to("kim@example.org")[0].parsed()
    assert message["Subject"] == "Your link to join: Evening ceramics, week 3"
    text, html = message.iter_parts()
    assert plain(text).startswith(
        "Hello Kim Lee, Here is your personal link to join \"Evening ceramics, week 3\" on "
        "Tuesday, December 1, 2026, 6:00 PM (Lisbon time): https://gate.example.org/j/")
    assert plain(text).endswith(
        "The link works from Tuesday, December 1, 2026, 5:45 PM (Lisbon time) and is for "
        "you alone: the first device that opens it and presses \"Join\" keeps it. Please do "
        "not forward it. Questions, or a new device? Contact help@example.org.")
    assert '<html lang="en">' in html.get_content() and ">Join the class</a>" in html.get_content()


def test_an_organizer_catalog_changes_one_mail_sentence(app, tmp_path, clock, service, people,
                                                        sink):
    """One sentence of the mail in the organizer's words (TEMPLATE_DIR/translations), as for
    pages; the built-in templates and the rest of the catalog stay."""
    path = tmp_path / "translations" / "pt" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                    'msgid "Your link to join: %(topic)s"\n'
                    'msgstr "Sua vaga na aula %(topic)s"\n', encoding="utf-8")
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START,
                         duration=90, language="pt")
    result = invoke(with_templates(app, tmp_path, clock), ["links", "send", MEETING_ID])
    assert result.exit_code == 0, result.output
    message = sink.box.to("kim@example.org")[0].parsed()
    assert message["Subject"] == "Sua vaga na aula Evening ceramics, week 3"
    assert "Aqui está o seu link pessoal" in plain(message.get_body(("plain",)))


def test_an_organizer_mail_template_may_use_the_catalogs(app, tmp_path, clock, service, people,
                                                         sink):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "subject.txt").write_text(
        '{{ lang }}: {{ _("Your link to join: %(topic)s", topic=topic) }}\n')
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START,
                         duration=90, language="de")
    assert invoke(with_templates(app, tmp_path, clock),
                  ["links", "send", MEETING_ID]).exit_code == 0
    subject = sink.box.to("kim@example.org")[0].parsed()["Subject"]
    assert subject == "de: Ihr Link zur Teilnahme: Evening ceramics, week 3"


# Organizer templates

def with_templates(app, folder: Path, clock):
    """The app with TEMPLATE_DIR=folder, on the same store."""
    config = app.config["JOINGATE"]
    return make_app(config.redis_url, clock, like=app, SMTP_URL=config.smtp_url,
                    MAIL_FROM=FROM, SMTP_RATE=0, TEMPLATE_DIR=str(folder))


def test_an_organizer_template_overrides_the_builtin_one(app, tmp_path, clock, people, sink):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "subject.txt").write_text("{{ topic }}: your seat, {{ name }}\n")
    result = invoke(with_templates(app, tmp_path, clock), ["links", "send", MEETING_ID])
    assert result.exit_code == 0, result.output
    subject = sink.box.to("kim@example.org")[0].parsed()["Subject"]
    assert subject == "Evening ceramics, week 3: your seat, Kim Lee"


@pytest.mark.parametrize("name,source,line,message", [
    ("body.txt", "Hello {{ name }}\n{% if link %}\nno end\n", 2, "Unexpected end of template"),
    ("body.txt", "Hello {{ name }},\n\nYour code: {{ passcode }}\n", 3,
     "'passcode' is undefined"),
    ("body.html", "<p>{{ name }}</p>\n<p>{{ link | nosuchfilter }}</p>\n", 2,
     "No filter named 'nosuchfilter'"),
    ("body.html", "<p>\n{{ link.__class__.__mro__ }}\n</p>\n", 2,
     "access to attribute '__class__' of 'str' object is unsafe"),
    ("subject.txt", "{{ topic }}{{ 1 / 0 }}", 1, "division by zero"),
], ids=["syntax", "unknown-variable", "unknown-filter", "sandbox", "runtime"])
def test_a_template_error_is_refused_with_its_line_before_anything_is_sent(
        app, tmp_path, clock, service, people, sink, name, source, line, message):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / name).write_text(source)
    result = invoke(with_templates(app, tmp_path, clock), ["links", "send", MEETING_ID])
    assert result.exit_code == 1
    assert f"email/{name}, line {line}: " in result.output and message in result.output
    assert "nothing was sent" in result.output
    assert sink.box.count == 0 and sink.box.mail_seen.is_set() is False
    assert service.store.all_send_records(MEETING_ID) == {}
    assert service.store.send_progress(MEETING_ID) is None


# Faults

def test_smtp_down_at_start_is_a_clear_error_and_nothing_is_recorded(app, store_url, clock,
                                                                      people, service):
    port = free_port()              # nothing listens there
    down = make_app(store_url, clock, like=app, SMTP_URL=f"smtp://127.0.0.1:{port}",
                    MAIL_FROM=FROM, SMTP_RATE=0)
    result = invoke(down, ["links", "send", MEETING_ID])
    assert result.exit_code == 1
    assert f"cannot reach the SMTP server smtp://127.0.0.1:{port}: Connection refused" in \
        result.output
    assert service.store.all_send_records(MEETING_ID) == {}
    assert service.store.send_progress(MEETING_ID) is None
    assert service.store.send_lock_holder(MEETING_ID) is None


def test_server_gone_mid_run_stops_the_run_and_a_rerun_finishes(runner, service, meeting, sink,
                                                                 fast_retries):
    service.meetings.issue_links(meeting, [RegistrantInput(f"p{n}@example.org", f"P {n}")
                                           for n in range(10)])
    sink.box.down_after = 4
    first = runner(["links", "send", MEETING_ID])
    assert first.exit_code == 1
    assert "stopped: the SMTP server went away (" in first.stdout
    assert "5 not attempted: run again to finish" in first.stdout
    assert "error: failed: p4@example.org: " in first.stderr
    assert sink.box.count == 4
    records = service.store.all_send_records(MEETING_ID)
    rids = [service.meetings.registrant_id(f"p{n}@example.org") for n in range(10)]
    states = [records[rid].state if rid in records else "" for rid in rids]
    assert states == ["sent"] * 4 + ["failed"] + [""] * 5
    assert records[service.meetings.registrant_id("p4@example.org")].tries == 4
    assert service.store.send_progress(MEETING_ID).state == "stopped"
    sink.restart()
    second = runner(["links", "send", MEETING_ID])
    assert second.exit_code == 0, second.output
    assert "sent 6, skipped 4" in second.stdout
    assert sorted(m.recipients[0] for m in sink.box.messages) == sorted(
        f"p{n}@example.org" for n in range(10))


def test_a_permanent_refusal_is_bounced_named_kept_and_not_retried(runner, people, sink):
    reply = "550 5.1.1 <jose@example.org>: Recipient address rejected: User unknown"
    sink.box.refuse["jose@example.org"] = reply
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 1
    assert f"error: bounced: jose@example.org: {reply}" in result.stderr
    assert "sent 2, skipped 0 (already sent or bounced before), bounced 1" in result.stdout
    assert sorted(m.recipients[0] for m in sink.box.messages) == ["ana.lima@example.org",
                                                                   "kim@example.org"]
    record = shown(runner, "jose@example.org")
    assert record["sent"] == "bounced" and record["send"]["reply"] == reply
    assert record["send"]["tries"] == 1
    report = json.loads(runner(["report", MEETING_ID, "--format", "json"]).output)
    assert {row["email"]: row["sent"] for row in report["registrants"]}["jose@example.org"] == \
        "bounced"
    rerun = runner(["links", "send", MEETING_ID])        # named again, not sent again
    assert rerun.exit_code == 1 and "sent 0, skipped 3" in rerun.stdout
    assert f"error: bounced earlier: jose@example.org: {reply}" in rerun.stderr
    del sink.box.refuse["jose@example.org"]
    fixed = runner(["links", "send", MEETING_ID, "--only", "jose@example.org"])
    assert fixed.exit_code == 0 and len(sink.box.to("jose@example.org")) == 1


def test_a_temporary_refusal_is_retried_then_sent(runner, people, sink, fast_retries):
    sink.box.refuse_times["kim@example.org"] = 2
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 0, result.output
    assert len(sink.box.to("kim@example.org")) == 1
    assert shown(runner, "kim@example.org")["send"]["tries"] == 3


def test_a_refusal_that_stays_temporary_is_failed_and_the_rerun_sends_it(runner, people, sink,
                                                                          fast_retries):
    sink.box.refuse_times["kim@example.org"] = 99
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 1
    assert "error: failed: kim@example.org: 451 4.7.1 greylisted" in result.stderr
    assert "bounced 0, failed 1" in result.stdout and sink.box.count == 2
    assert shown(runner, "kim@example.org")["send"]["tries"] == 4
    sink.box.refuse_times.clear()
    rerun = runner(["links", "send", MEETING_ID])
    assert rerun.exit_code == 0 and "sent 1, skipped 2" in rerun.stdout
    assert len(sink.box.to("kim@example.org")) == 1


def test_a_registrant_without_a_mailable_address_is_skipped_and_named(runner, service, people,
                                                                      sink):
    service.meetings.issue_links(MEETING_ID, [RegistrantInput("two..dots@example.org", "Two Dots")])
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 1
    assert ("error: invalid: two..dots@example.org: the address is not a plain mailbox name"
            in result.stderr)
    assert "sent 3" in result.stdout and "invalid 1" in result.stdout
    assert sink.box.count == 3 and not sink.box.to("two..dots@example.org")
    assert shown(runner, "two..dots@example.org")["sent"] == "invalid"
    preview = runner(["links", "preview", MEETING_ID, "two..dots@example.org"])
    assert preview.exit_code == 1 and "not a plain mailbox name" in preview.output


def test_a_second_sender_on_the_same_meeting_is_refused(runner, service, people, sink):
    holder = f"{os.uname().nodename}:{os.getpid()}:other"       # alive: this very process
    assert service.store.send_begin(MEETING_ID, SendRun(holder), 60, 0.0, "") is None
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 1 and f"another sender ({holder}) is sending" in result.output
    assert sink.box.count == 0
    service.store.send_finish(MEETING_ID, holder, 0.0, "done")
    assert runner(["links", "send", MEETING_ID]).exit_code == 0 and sink.box.count == 3


def test_a_dead_senders_lock_is_taken_over(runner, service, people, sink):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    holder = f"{os.uname().nodename}:{gone.stdout.strip()}:dead"
    assert service.store.send_begin(MEETING_ID, SendRun(holder), 60, 0.0, "") is None
    result = runner(["links", "send", MEETING_ID])
    assert result.exit_code == 0, result.output
    assert sink.box.count == 3 and service.store.send_lock_holder(MEETING_ID) is None


# TLS and login

def self_signed(folder: Path) -> tuple[Path, Path]:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return key, cert


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("scheme", ["smtp", "smtps"], ids=["starttls", "implicit-tls"])
def test_tls_and_login_and_the_password_is_never_shown(app, store_url, clock, people, tmp_path,
                                                       monkeypatch, caplog, scheme):
    import ssl

    key, cert = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))     # the client trusts this one certificate
    with SmtpSink(tls=context, implicit_tls=scheme == "smtps",
                  logins={"mailer": "s3cret-pw"}) as sink:
        good = make_app(store_url, clock, like=app, MAIL_FROM=FROM, SMTP_RATE=0,
                        SMTP_URL=f"{scheme}://mailer:s3cret-pw@127.0.0.1:{sink.port}")
        result = invoke(good, ["links", "send", MEETING_ID])
        assert result.exit_code == 0, result.output
        assert sink.box.count == 3
        assert all(m.tls and m.login == "mailer" for m in sink.box.messages)
        wrong = make_app(store_url, clock, like=app, MAIL_FROM=FROM,
                         SMTP_URL=f"{scheme}://mailer:wrong-pw@127.0.0.1:{sink.port}")
        refused = invoke(wrong, ["links", "send", MEETING_ID, "--resend"])
    assert refused.exit_code == 1
    assert f"{scheme}://127.0.0.1:{sink.port} refused the login of 'mailer': 535" in \
        refused.output
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for text in (result.output, refused.output, logged):
        assert "s3cret-pw" not in text and "wrong-pw" not in text


def test_a_password_is_never_sent_in_clear_to_another_host(app, store_url, clock, people):
    host = next((address for address in os.popen("hostname -I").read().split()
                 if re.fullmatch(r"[0-9.]+", address) and not address.startswith("127.")), None)
    if host is None:
        pytest.skip("this machine has no address but loopback")
    with SmtpSink(host=host) as sink:        # no STARTTLS offered
        remote = make_app(store_url, clock, like=app, MAIL_FROM=FROM,
                          SMTP_URL=f"smtp://mailer:s3cret-pw@{host}:{sink.port}")
        result = invoke(remote, ["links", "send", MEETING_ID])
    assert result.exit_code == 1
    assert "does not offer STARTTLS; joingate will not send the password in clear" in \
        result.output
    assert "s3cret-pw" not in result.output and sink.box.count == 0


# The organizer API and the worker

def run_worker(service, timeout: float = 30.0) -> None:
    """Run the worker until no send job is left (each tick hands due jobs to its threads)."""
    worker = Worker(service)
    deadline = time.monotonic() + timeout
    try:
        while service.store.queued_jobs("send_links"):
            assert time.monotonic() < deadline, "the send job did not finish"
            worker.tick()
            time.sleep(0.02)
    finally:
        worker.pool.shutdown(wait=True)


def api(client, method: str, path: str, **kwargs):
    return client.open(f"/api/v1{path}", method=method,
                       headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)


def schema_check(app, name: str, body: dict) -> None:
    """``body`` is valid against the served OpenAPI document's schema ``name``."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    document = app.test_client().get("/api/v1/openapi.json").json
    registry = Registry().with_resource("urn:joingate", Resource.from_contents(
        document, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": f"urn:joingate#/components/schemas/{name}"},
                                     registry=registry)
    errors = [error.message for error in validator.iter_errors(body)]
    assert errors == [], errors


def test_the_api_queues_sends_that_the_worker_delivers(app, client, service, people, sink):
    queued = api(client, "POST", f"/meetings/{MEETING_ID}/sends")
    assert queued.status_code == 202, queued.json
    schema_check(app, "SendQueued", queued.json)
    assert queued.json["job"].startswith(f"send:{MEETING_ID}:")
    assert sink.box.count == 0, "never sent inside the request"
    waiting = api(client, "GET", f"/meetings/{MEETING_ID}/sends").json
    assert waiting["pending_jobs"] == 1 and waiting["run"] is None
    run_worker(service)
    assert sorted(m.recipients[0] for m in sink.box.messages) == sorted(people)
    progress = api(client, "GET", f"/meetings/{MEETING_ID}/sends")
    assert progress.status_code == 200
    schema_check(app, "SendProgress", progress.json)
    run = progress.json["run"]
    assert (run["state"], run["by"], run["total"], run["sent"], run["done"]) == \
        ("done", "api", 3, 3, 3)
    assert run["job"] == queued.json["job"] and progress.json["problems"] == []
    one = api(client, "POST", f"/meetings/{MEETING_ID}/registrants/kim@example.org/send")
    assert one.status_code == 202 and sink.box.count == 3
    run_worker(service)
    assert len(sink.box.to("kim@example.org")) == 2
    status = api(client, "GET", f"/meetings/{MEETING_ID}/registrants/kim@example.org").json
    schema_check(app, "LinkStatus", status)
    assert status["sent"] == "sent"
    report = api(client, "GET", f"/meetings/{MEETING_ID}/report").json
    schema_check(app, "Report", report)


def test_the_api_progress_names_who_bounced(app, client, service, people, sink):
    sink.box.refuse["kim@example.org"] = "550 5.7.1 relaying denied"
    assert api(client, "POST", f"/meetings/{MEETING_ID}/sends",
               json={"resend": True}).status_code == 202
    run_worker(service)
    progress = api(client, "GET", f"/meetings/{MEETING_ID}/sends").json
    assert progress["run"]["bounced"] == 1 and progress["run"]["sent"] == 2
    assert [(p["email"], p["state"], p["reply"]) for p in progress["problems"]] == [
        ("kim@example.org", "bounced", "550 5.7.1 relaying denied")]


def test_the_worker_retries_a_job_whose_server_is_down(app, client, service, people, sink):
    sink.stop()
    assert api(client, "POST", f"/meetings/{MEETING_ID}/sends").status_code == 202
    worker = Worker(service)
    try:
        worker.tick()
        deadline = time.monotonic() + 10
        while getattr(service.store.send_progress(MEETING_ID), "state", None) != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        worker.pool.shutdown(wait=True)
    progress = api(client, "GET", f"/meetings/{MEETING_ID}/sends").json
    assert "cannot reach the SMTP server" in progress["run"]["error"]
    assert progress["pending_jobs"] == 1, "kept for a retry with backoff"
    assert service.store.all_send_records(MEETING_ID) == {}


@pytest.mark.parametrize("path,body,status,error,fragment", [
    ("/meetings/{m}/sends", {"only": ["ana.lima@example.org", "nobody@example.org"]}, 404,
     "not_found", "no registrant nobody@example.org in meeting"),
    ("/meetings/{m}/sends", {"resend": "yes"}, 422, "invalid_input", "resend"),
    ("/meetings/{m}/sends", {"every": True}, 422, "invalid_input", "every"),
    ("/meetings/123456789/sends", None, 404, "not_found", "no meeting"),
    ("/meetings/{m}/registrants/nobody@example.org/send", None, 404, "not_found",
     "no registrant"),
], ids=["unknown-only", "bad-type", "unknown-field", "unknown-meeting", "unknown-registrant"])
def test_the_api_refuses_what_cannot_be_sent(client, people, sink, path, body, status, error,
                                            fragment):
    answer = api(client, "POST", path.format(m=MEETING_ID), json=body)
    assert answer.status_code == status, answer.json
    assert answer.json["error"] == error
    assert fragment in json.dumps(answer.json)
    assert sink.box.count == 0


def test_the_api_says_when_mail_is_not_configured_or_a_template_is_broken(
        app, store_url, clock, service, people, tmp_path):
    bare = make_app(store_url, clock, like=app, ADMIN_TOKEN=ADMIN)
    answer = api(bare.test_client(), "POST", f"/meetings/{MEETING_ID}/sends")
    assert answer.status_code == 409 and answer.json["error"] == "not_configured"
    assert "JOINGATE_SMTP_URL is not set" in answer.json["message"]
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "body.txt").write_text("Hi\n{{ nobody }}\n")
    broken = make_app(store_url, clock, like=app, ADMIN_TOKEN=ADMIN,
                      SMTP_URL="smtp://127.0.0.1:25", MAIL_FROM=FROM, TEMPLATE_DIR=str(tmp_path))
    answer = api(broken.test_client(), "POST", f"/meetings/{MEETING_ID}/sends")
    assert answer.status_code == 409 and answer.json["error"] == "template_error"
    assert answer.json["details"][0]["line"] == 2
    assert answer.json["details"][0]["field"].endswith("email/body.txt")
    assert service.store.queued_jobs("send_links") == []


# A sender killed mid-run (SIGKILL), then run again

@pytest.mark.parametrize("kill_during", ["data", "mail"])
def test_a_killed_sender_and_a_rerun_give_at_most_one_duplicate(redis_server, clock, tmp_path,
                                                               kill_during):
    """The sender runs as its own process against a real redis-server and a slow SMTP server.
    Killed while the server holds a message it has stored but not yet acknowledged ("data"), or
    while it holds MAIL FROM ("mail"); the rerun finishes the meeting: everyone has the message,
    at most the one in flight twice (same Message-ID), and the rerun names it."""
    import signal

    import redis as redis_lib

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    app = make_app(redis_server.url, clock)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Kill test", start=NOW, duration=60)
    emails = [f"p{n:02d}@example.org" for n in range(40)]
    service.meetings.issue_links(MEETING_ID,
                                 [RegistrantInput(email, email[:3]) for email in emails])
    box = Mailbox()
    with SmtpSink(box) as sink:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("JOINGATE_")}
        env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=redis_server.url,
                   JOINGATE_PUBLIC_URL="https://gate.example.org", JOINGATE_SMTP_URL=sink.url,
                   JOINGATE_MAIL_FROM=FROM, JOINGATE_SMTP_RATE="0")
        command = [sys.executable, "-c", "from joingate.cli import main; main()",
                   "links", "send", MEETING_ID]
        sender = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        sink.wait_for(12)
        # Hold the next message where the kill should land (the delay first: whatever comes
        # after the events are cleared is held), then kill the sender there.
        if kill_during == "data":
            box.data_delay = 5.0
            box.stored.clear()
            assert box.stored.wait(10)
        else:
            box.mail_delay = 5.0
            box.mail_seen.clear()
            assert box.mail_seen.wait(10)
        time.sleep(0.1)
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
        assert sender.returncode == -signal.SIGKILL
        box.data_delay = box.mail_delay = 0.0
        held = len(box.messages)
        assert held < len(emails), "the kill came too late to test anything"
        rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    counts = {email: len(box.to(email)) for email in emails}
    assert all(count >= 1 for count in counts.values()), counts
    twice = [email for email, count in counts.items() if count > 1]
    assert sum(count - 1 for count in counts.values()) <= 1, counts
    in_flight = re.findall(r"may have it twice\): (\S+)", rerun.stdout)
    assert len(in_flight) == 1, rerun.stdout
    if kill_during == "data":
        assert twice == in_flight, "the stored, unacknowledged message went twice"
        first, second = box.to(twice[0])
        assert first.parsed()["Message-ID"] == second.parsed()["Message-ID"]
    else:
        assert twice == [], "the server never had the message the kill interrupted"
    skipped = int(re.search(r"skipped (\d+)", rerun.stdout).group(1))
    assert skipped == held - (1 if kill_during == "data" else 0)


# Settings

BASE = {"JOINGATE_SECRET_KEY": SECRET, "JOINGATE_REDIS_URL": "memory://"}


def test_mail_settings_defaults_and_values():
    from joingate.config import load_config

    config = load_config(BASE)
    assert (config.smtp_url, config.mail_from, config.smtp_rate) == ("", "", 5.0)
    config = load_config({**BASE, "JOINGATE_SMTP_URL": "smtps://u:p%40ss@mail.example.org:465",
                          "JOINGATE_MAIL_FROM": "Clay Café <classes@example.org>",
                          "JOINGATE_MAIL_REPLY_TO": "help@example.org",
                          "JOINGATE_SMTP_RATE": "0.5"})
    assert config.mail_from == "Clay Café <classes@example.org>"
    assert config.smtp_rate == 0.5
    from joingate.smtp import SmtpTarget

    target = SmtpTarget.parse(config.smtp_url)
    assert (target.host, target.port, target.username, target.password) == \
        ("mail.example.org", 465, "u", "p@ss")
    assert target.shown == "smtps://mail.example.org:465"


@pytest.mark.parametrize("name,value,fragment", [
    ("SMTP_URL", "http://mailer:s3cret-pw@mail.example.org", "must be smtp://"),
    ("SMTP_URL", "smtp://mailer:s3cret-pw@mail.example.org:99999", "port"),
    ("MAIL_FROM", "classes at example.org", "must be an address"),
    ("MAIL_FROM", "a@example.org\r\nBcc: everyone@example.org", "line break"),
    ("MAIL_REPLY_TO", "help@", "must be an address"),
    ("SMTP_RATE", "fast", "SMTP_RATE"),
], ids=["scheme", "port", "from-words", "from-header-injection", "reply-to", "rate"])
def test_a_wrong_mail_setting_names_the_variable_and_hides_the_password(name, value, fragment):
    from joingate.config import load_config
    from joingate.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config({**BASE, f"JOINGATE_{name}": value})
    message = str(caught.value)
    assert message.startswith(f"JOINGATE_{name} ") and fragment in message
    assert "s3cret-pw" not in message


# What the organizer sees

def test_a_terminal_gets_a_progress_bar(redis_server, clock, sink):
    """The sender's stderr is a terminal (a pty): a bar with count, rate and time left."""
    import pty

    import redis as redis_lib

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    service = make_app(redis_server.url, clock).extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Bar", start=NOW, duration=60)
    service.meetings.issue_links(MEETING_ID, [RegistrantInput(f"p{n}@example.org", f"P {n}")
                                              for n in range(20)])
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOINGATE_")}
    env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=redis_server.url,
               JOINGATE_SMTP_URL=sink.url, JOINGATE_MAIL_FROM=FROM, JOINGATE_SMTP_RATE="0")
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", "from joingate.cli import main; main()",
                                "links", "send", MEETING_ID], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    stdout, _ = process.communicate(timeout=120)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert process.returncode == 0, stdout
    drawn = screen.decode().split("\r")
    assert re.search(r"\[#{28}\] 20/20  [0-9.]+/s  0s left", drawn[-1] if drawn[-1].strip()
                     else drawn[-2]), drawn[-3:]
    assert any(re.search(r"\[#*\.+\] \d+/20 ", line) for line in drawn), "no bar before the end"
    assert "sent 20, skipped 0" in stdout and "sent: " not in stdout   # no per-line output
    assert sink.box.count == 20


def test_serve_demo_shows_the_message_a_registrant_would_get():
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOINGATE_")}
    process = subprocess.Popen([sys.executable, "-m", "joingate.cli", "serve", "--demo",
                                "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "--- text/html ---" not in lines[-1:]:
            lines.append(process.stdout.readline().rstrip("\n"))
    finally:
        process.terminate()
        process.wait(10)
    text = "\n".join(lines)
    link = re.search(r"José Ñúñez 🎨: (http://127\.0\.0\.1:\d+/j/\S+)", text).group(1)
    assert "would get (joingate links preview 85746065432 jose@example.org)" in text
    assert "To: José Ñúñez 🎨 <jose@example.org>" in text
    assert f"\n{link}\n" in text and "zoom.us" not in text
