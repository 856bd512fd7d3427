"""Moving a link to a new device by an emailed code: device A claims, device B is refused, B asks
for a code, the worker mails it through a real SMTP server (aiosmtpd on loopback), B enters it,
B goes to Zoom, A is refused. Codes are single use, bound to the asking device, hashed, locked
after five wrong tries (also when sent at once), expire, and moves are limited per meeting. The
last test does it all in Chromium."""

from __future__ import annotations

import re
import threading

import pytest
import redis as redis_lib
from helpers import (
    MEETING_ID,
    NOW,
    START,
    Clock,
    csp_violations,
    make_app,
    path_of,
    run_worker,
    zoom_stub,
)
from stack import free_port

from joingate.moving import MAX_REQUESTS
from joingate.roster import RegistrantInput
from joingate.views import link_status
from joingate.worker import Worker

FROM = "Evening Ceramics <classes@example.org>"


@pytest.fixture
def app(store_url, clock, sink):
    return make_app(store_url, clock, SMTP_URL=sink.url, MAIL_FROM=FROM, SMTP_RATE=0)


@pytest.fixture
def bound(app, link):
    """Ana's link, claimed by device A; returns (path, client A, client B)."""
    path = path_of(link)
    device_a, device_b = app.test_client(), app.test_client()
    assert device_a.post(path).status_code == 303
    return path, device_a, device_b


def code_in(sink, email: str = "ana.lima@example.org") -> str:
    message = sink.box.to(email)[-1].parsed()
    match = re.search(r"^ +([0-9]{6})\s*$", message.get_body(("plain",)).get_content(), re.M)
    assert match, message
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def history(service) -> list[str]:
    return [event["kind"] for event in
            link_status(service, MEETING_ID, "ana.lima@example.org")["history"]]


def ask_and_deliver(service, sink, device, path: str) -> str:
    answer = device.post(f"{path}/move")
    assert answer.status_code == 200, answer.text
    run_worker(service, "move_code")
    return code_in(sink)


# The whole flow

def test_a_mailed_code_moves_the_link_and_the_old_device_is_refused(app, service, sink, bound):
    path, device_a, device_b = bound
    refused = device_b.get(path)
    assert refused.status_code == 409
    assert f'<form method="post" action="{path}/move">' in refused.text
    assert "Use this device instead" in refused.text
    asked = device_b.post(f"{path}/move")
    assert asked.status_code == 200
    assert "<strong>a***@example.org</strong>" in asked.text
    assert "ana.lima" not in asked.text
    assert "help@example.org" in asked.text      # what to do when no mail arrives
    cookie = asked.headers["Set-Cookie"]
    assert cookie.startswith("__Host-jg_device=") and "HttpOnly" in cookie and "Path=/;" in cookie
    assert sink.box.count == 0, "mailed by the worker, never inside the request"
    run_worker(service, "move_code")
    received = sink.box.to("ana.lima@example.org")[0]
    message = received.parsed()
    assert message["Subject"] == "Your code to change devices: Evening ceramics, week 3"
    assert b"\n" not in received.raw.replace(b"\r\n", b"")
    code = code_in(sink)
    for secret in (b"enc0ded", b"/j/", b"zoom.us"):
        assert secret not in received.raw
    stored = redis_text(service)
    assert code not in stored, "the code is stored only as its HMAC"
    moved = device_b.post(f"{path}/move/confirm", data={"code": code})
    assert moved.status_code == 307 and moved.headers["Location"] == path
    claim = device_b.post(path)
    assert claim.status_code == 303
    assert claim.headers["Location"].startswith(f"https://app.zoom.us/wc/{MEETING_ID}/join?")
    assert device_a.post(path).status_code == 409
    assert device_a.get(path).status_code == 409
    again = device_b.post(f"{path}/move/confirm", data={"code": code})
    assert again.status_code == 410, "single use"
    kinds = history(service)
    for kind in ("move_requested", "move_code_sent", "moved", "rejoin"):
        assert kind in kinds
    assert kinds.index("move_requested") < kinds.index("move_code_sent") < kinds.index("moved")
    flags = service.presence.report(MEETING_ID)["registrants"][0]["flags"]
    assert "moved" in flags


def redis_text(service) -> str:
    """Every key and value in the store, as text (hashes, strings, streams)."""
    client, parts = service.store.redis, []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        parts.append(key)
        if kind == "hash":
            parts += [f"{k}={v}" for k, v in client.hgetall(key).items()]
        elif kind == "string":
            parts.append(client.get(key) or "")
        elif kind == "stream":
            parts += [str(fields) for _, fields in client.xrange(key)]
    return "\n".join(parts)


# Refusals

def test_five_wrong_codes_lock_the_code(service, sink, bound):
    path, device_a, device_b = bound
    code = ask_and_deliver(service, sink, device_b, path)
    for left in (4, 3, 2, 1):
        answer = device_b.post(f"{path}/move/confirm", data={"code": wrong(code)})
        assert answer.status_code == 403
        assert f"That code is not right. {left} {'try' if left == 1 else 'tries'} left." in \
            answer.text
    fifth = device_b.post(f"{path}/move/confirm", data={"code": wrong(code)})
    assert fifth.status_code == 403 and "Too many wrong codes" in fifth.text
    late = device_b.post(f"{path}/move/confirm", data={"code": code})
    assert late.status_code == 403 and "Too many wrong codes" in late.text
    assert device_a.post(path).status_code == 303, "A still holds the link"
    assert history(service).count("move_refused") == 6
    fresh = ask_and_deliver(service, sink, device_b, path)      # a new code works
    assert device_b.post(f"{path}/move/confirm", data={"code": fresh}).status_code == 307


def test_parallel_guesses_share_no_try(app, service, sink, bound):
    path, _, device_b = bound
    code = ask_and_deliver(service, sink, device_b, path)
    cookie = device_b.get_cookie("__Host-jg_device", path="/").value
    answers: list[int] = []

    def guess(n: int) -> None:
        client = app.test_client()
        client.set_cookie("__Host-jg_device", cookie, path="/")
        answers.append(client.post(f"{path}/move/confirm",
                                   data={"code": f"{(int(code) + 1 + n) % 1_000_000:06d}"}
                                   ).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [403] * 20
    tries = service.store.redis.hget(service.store.keys.move_code(MEETING_ID, link_rid(service)),
                                     "tries")
    assert tries == "5", "each guess took a try before it was compared; five were compared"
    assert device_b.post(f"{path}/move/confirm", data={"code": code}).status_code == 403


def link_rid(service) -> str:
    return service.meetings.registrant_id("ana.lima@example.org")


def test_the_code_works_only_on_the_device_that_asked(app, service, sink, bound):
    path, device_a, device_b = bound
    code = ask_and_deliver(service, sink, device_b, path)
    device_c = app.test_client()
    answer = device_c.post(f"{path}/move/confirm", data={"code": code})
    assert answer.status_code == 403 and "on the device that asked for it" in answer.text
    answer = device_a.post(f"{path}/move/confirm", data={"code": code})
    assert answer.status_code == 403
    assert device_a.post(path).status_code == 303
    assert device_b.post(f"{path}/move/confirm", data={"code": code}).status_code == 307


def test_a_code_expires_after_ten_minutes(service, sink, bound, clock):
    path, device_a, device_b = bound
    code = ask_and_deliver(service, sink, device_b, path)
    clock.advance(601)
    answer = device_b.post(f"{path}/move/confirm", data={"code": code})
    assert answer.status_code == 410 and "This code has expired" in answer.text
    assert device_a.post(path).status_code == 303


def test_a_portuguese_meeting_mails_the_code_and_answers_in_portuguese(service, sink, bound):
    """The mail in the meeting's language (no browser to ask) with the request's time by Babel
    in the meeting's zone; the pages in it too, whatever the browser says."""
    path, _, device_b = bound
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                         support="help@example.org", language="pt",
                         timezone="America/Sao_Paulo")
    device_b.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB"
    asked = device_b.post(f"{path}/move")
    assert asked.status_code == 200 and '<html lang="pt">' in asked.text
    assert "Estamos enviando um código de uso único para <strong>a***@example.org</strong>." in \
        asked.text and "Ele vale por 10 minutos, só neste dispositivo." in asked.text
    run_worker(service, "move_code")
    message = sink.box.to("ana.lima@example.org")[-1].parsed()
    assert message["Subject"] == "Seu código para trocar de dispositivo: Evening ceramics, week 3"
    text = " ".join(message.get_body(("plain",)).get_content().split())
    # Asked at NOW, 17:50Z: 14:50 in Sao Paulo.
    assert "terça-feira, 1 de dezembro de 2026 14:50 (horário de São Paulo))." in text, text
    assert "Se foi você, digite este código nesse dispositivo em até 10 minutos:" in text
    assert '<html lang="pt">' in message.get_body(("html",)).get_content()
    code = code_in(sink)
    answer = device_b.post(f"{path}/move/confirm", data={"code": wrong(code)})
    assert answer.status_code == 403
    assert "Esse código não está certo. Restam 4 tentativas." in answer.text


def test_moves_are_limited_per_registrant_and_zero_turns_them_off(app, service, sink, bound):
    path, device_a, device_b = bound
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                         max_moves=1)
    code = ask_and_deliver(service, sink, device_b, path)
    assert device_b.post(f"{path}/move/confirm", data={"code": code}).status_code == 307
    back = device_a.post(f"{path}/move")
    assert back.status_code == 403 and "changed devices too often" in back.text
    service.meetings.add(MEETING_ID, topic="Evening ceramics, week 3", start=START, duration=90,
                         max_moves=0)
    page = device_a.get(path)
    assert page.status_code == 409 and "/move" not in page.text
    off = device_a.post(f"{path}/move")
    assert off.status_code == 403 and "not offered for this class" in off.text


def test_without_mail_settings_there_is_no_button(store_url, clock, app, bound):
    path, _, _ = bound
    bare = make_app(store_url, clock, like=app).test_client()
    page = bare.get(path)
    assert page.status_code == 409 and "Use this device instead" not in page.text
    assert bare.post(f"{path}/move").status_code == 403


def test_nothing_to_move_goes_back_to_the_link(app, service, link):
    path = path_of(link)
    client = app.test_client()
    unbound = client.post(f"{path}/move")
    assert unbound.status_code == 303 and unbound.headers["Location"] == path
    assert client.post(path).status_code == 303
    mine = client.post(f"{path}/move")
    assert mine.status_code == 303 and mine.headers["Location"] == path
    assert service.store.queued_jobs("move_code") == []


def test_a_malformed_code_is_refused_without_taking_a_try(service, sink, bound):
    path, _, device_b = bound
    code = ask_and_deliver(service, sink, device_b, path)
    for bad in ("12ab56", "12345", "1234567", ""):
        answer = device_b.post(f"{path}/move/confirm", data={"code": bad})
        assert answer.status_code == 400 and "Enter the 6 digits" in answer.text
    spaced = f"{code[:3]} {code[3:]}"
    assert device_b.post(f"{path}/move/confirm", data={"code": spaced}).status_code == 307


def test_an_address_that_cannot_be_mailed_is_told_at_once(app, service, sink, meeting):
    link = service.meetings.issue_links(
        MEETING_ID, [RegistrantInput("two..dots@example.org", "Two")])[0]
    path, device_a, device_b = path_of(link), app.test_client(), app.test_client()
    assert device_a.post(path).status_code == 303
    answer = device_b.post(f"{path}/move")
    assert answer.status_code == 403 and "We cannot mail you a code" in answer.text
    assert service.store.queued_jobs("move_code") == [] and sink.box.count == 0
    kinds = [event["kind"] for event in
             link_status(service, MEETING_ID, "two..dots@example.org")["history"]]
    assert kinds[-2:] == ["move_requested", "move_code_failed"]


def test_code_requests_are_capped(service, bound):
    path, _, device_b = bound
    for _ in range(MAX_REQUESTS):
        assert device_b.post(f"{path}/move").status_code == 200
    capped = device_b.post(f"{path}/move")
    assert capped.status_code == 429 and "Too many codes" in capped.text


def test_get_changes_nothing_and_link_states_are_the_gates(app, service, bound):
    path, _, device_b = bound
    scanned = device_b.get(f"{path}/move")
    assert scanned.status_code == 404 and service.store.queued_jobs("move_code") == []
    assert "move_requested" not in history(service)
    service.meetings.manage_link("revoke", MEETING_ID, "ana.lima@example.org")
    assert device_b.post(f"{path}/move").status_code == 410
    assert device_b.post("/j/not-a-token/move").status_code == 404


# In a real browser

def test_move_in_chromium_a_claims_b_takes_over_by_code_a_is_refused(browser, sink,
                                                                      redis_server):
    """Device A and device B are two browser profiles; the server is a real HTTP server with
    the worker beside it (as `joingate serve` runs them) on a real redis-server."""
    from werkzeug.serving import make_server

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    port = free_port()
    app = make_app(redis_server.url, Clock(NOW), PUBLIC_URL=f"http://127.0.0.1:{port}",
                   SMTP_URL=sink.url, MAIL_FROM=FROM, SMTP_RATE=0)
    server = make_server("127.0.0.1", port, app, threaded=True)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Evening ceramics", start=START, duration=90,
                         pwd="Q0x3", support="help@example.org")
    url = service.meetings.issue_links(
        MEETING_ID, [RegistrantInput("ana@example.org", "Zoë Lima")])[0].url
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, daemon=True),
               threading.Thread(target=Worker(service).run, args=(stop, 0.05), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        device_a = browser.new_context()
        landed_a = zoom_stub(device_a)
        page_a = device_a.new_page()
        page_a.goto(url)
        page_a.click("button")
        page_a.wait_for_url("https://app.zoom.us/**")
        assert len(landed_a) == 1

        device_b = browser.new_context()
        landed_b = zoom_stub(device_b)
        page_b = device_b.new_page()
        violations = csp_violations(page_b)
        page_b.goto(url)
        assert "already in use in another browser" in page_b.inner_text("main")
        page_b.click("text=Use this device instead")
        page_b.wait_for_selector("input[name=code]")
        assert "a***@example.org" in page_b.inner_text("main")
        sink.wait_for(1, timeout=20)
        page_b.fill("input[name=code]", code_in(sink, "ana@example.org"))
        page_b.click("text=Use this device")
        page_b.wait_for_url("https://app.zoom.us/**")
        assert len(landed_b) == 1 and "/wc/85746065432/join" in landed_b[0]

        page_a.goto(url)
        assert "already in use in another browser" in page_a.inner_text("main")
        assert len(landed_a) == 1
    finally:
        stop.set()
        server.shutdown()
    assert violations == []
    kinds = [event["kind"] for event in link_status(service, MEETING_ID,
                                                            "ana@example.org")["history"]]
    # A's last visit is an open of a link now bound to B: refused (gate.lua logs refused_open).
    assert "moved" in kinds and kinds[-1] == "refused_open"


def test_the_move_routes_send_the_browser_back_under_the_public_path(app, link):
    """Behind a sub-path proxy (SCRIPT_NAME /gate) the hand-back to the link stays under it:
    a 303 to /j/... would leave the gate's prefix."""
    token = path_of(link).removeprefix("/j/")
    unbound = app.test_client().post(f"/j/{token}/move", base_url="https://gate.example.org/gate")
    assert unbound.status_code == 303
    assert unbound.headers["Location"] == f"/gate/j/{token}"
