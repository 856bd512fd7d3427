"""The registrant's link: GET/HEAD bind nothing, POST claims once per device, refusals by state."""

from __future__ import annotations

import base64
import functools
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import MEETING_ID, NOW, SECRET, START, Clock, make_app, path_of, store_for

from joingate.roster import RegistrantInput
from joingate.signing import Signer
from joingate.views import link_status


@pytest.fixture(params=["memory", "redis", "cluster"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The claim tests also run on a three-master Redis Cluster."""
    return store_for(request, request.param)


def un_of(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    return base64.b64decode(query["un"][0]).decode("utf-8")


def test_gets_and_heads_leave_the_link_claimable(app, client, service, link):
    path = path_of(link)
    for _ in range(10):
        page = client.get(path)
        assert page.status_code == 200
        assert b'<form method="post"' in page.data
        assert b"Ana Lima" in page.data
        assert client.head(path).status_code == 200
    status = link_status(service, MEETING_ID, "ana.lima@example.org")
    assert status["status"] == "opened"
    assert status["opens"] == 20 and status["claims"] == 0 and status["devices"] == 0

    claim = app.test_client().post(path)
    assert claim.status_code == 303
    location = claim.headers["Location"]
    assert location.startswith(f"https://app.zoom.us/wc/{MEETING_ID}/join?")
    assert parse_qs(urlsplit(location).query)["pwd"] == ["enc0ded"]
    assert un_of(location) == "Ana Lima"
    assert claim.headers["Cache-Control"] == "no-store"
    assert claim.headers["Referrer-Policy"] == "no-referrer"


def test_head_has_no_body(client, link):
    response = client.head(path_of(link))
    assert response.status_code == 200 and response.data == b""


@pytest.mark.parametrize("name", ["José Ñúñez", "Zoë 🎨 Çelik", "李小龙", "O'Brien + Sons / Ltd="],
                         ids=["accents", "emoji", "cjk", "plus-slash-equals"])
def test_un_decodes_to_the_display_name(client, service, meeting, name):
    issued = service.meetings.issue_links(meeting, [RegistrantInput("x@example.org", name)])[0]
    location = client.post(path_of(issued)).headers["Location"]
    assert un_of(location) == name
    raw_un = urlsplit(location).query.split("un=")[1].split("&")[0]
    assert not set("+/=") & set(raw_un), "base64 specials must be percent-encoded"


def test_same_device_rejoins_other_device_is_refused(app, client, service, link):
    path = path_of(link)
    first = client.post(path)
    assert first.status_code == 303
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert cookie.startswith("__Host-jg_device=") and "Path=/;" in cookie   # PUBLIC_URL https
    again = client.post(path)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]

    other = app.test_client().post(path, headers={"User-Agent": "OtherPhone/1.0"})
    assert other.status_code == 409
    assert b"already in use in another browser" in other.data
    assert "Location" not in other.headers
    status = link_status(service, MEETING_ID, "ana.lima@example.org")
    assert [e["kind"] for e in status["history"]] == ["claim", "rejoin", "refused"]
    assert status["history"][-1]["user_agent"] == "OtherPhone/1.0"
    assert status["claims"] == 2 and status["refused"] == 1


def test_get_from_another_device_after_the_claim_shows_used_elsewhere(app, client, link):
    client.post(path_of(link))
    assert app.test_client().get(path_of(link)).status_code == 409
    assert client.get(path_of(link)).status_code == 200


def test_reset_frees_the_binding_for_a_new_device(app, client, service, link):
    client.post(path_of(link))
    service.meetings.manage_link("reset", MEETING_ID, "ana.lima@example.org")
    assert app.test_client().post(path_of(link)).status_code == 303
    assert client.post(path_of(link)).status_code == 409


def test_revoked_link_gets_410(client, service, link):
    service.meetings.manage_link("revoke", MEETING_ID, "ana.lima@example.org")
    for response in (client.get(path_of(link)), client.post(path_of(link))):
        assert response.status_code == 410
        assert b"withdrawn" in response.data and "Location" not in response.headers


def test_reissue_supersedes_the_old_link(client, service, link):
    new_url = service.meetings.manage_link("reissue", MEETING_ID, "ana.lima@example.org")
    assert new_url != link.url
    old = client.post(path_of(link))
    assert old.status_code == 410 and b"newer link" in old.data
    assert client.post(new_url.removeprefix("https://gate.example.org")).status_code == 303


def test_too_early_consumes_nothing(app, client, service, clock, link):
    clock.set(START - timedelta(hours=2))
    for response in (client.get(path_of(link)), client.post(path_of(link))):
        assert response.status_code == 200
        assert b"Not open yet" in response.data
        assert b'<time datetime="2026-12-01T17:45:00Z" data-zone="UTC">' in response.data
        assert "Location" not in response.headers
    assert link_status(service, MEETING_ID, "ana.lima@example.org")["devices"] == 0
    clock.set(START)
    assert app.test_client().post(path_of(link)).status_code == 303


def test_after_the_window_the_link_is_expired(client, clock, link):
    clock.set(START + timedelta(minutes=90 + 61))
    response = client.post(path_of(link))
    assert response.status_code == 410 and b"class is over" in response.data


def _tampered(token: str) -> str:
    head, _, sig = token.rpartition(".")
    return f"{head}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


@pytest.mark.parametrize("mangle", [
    _tampered,
    lambda token: token[:-5],
    lambda token: token[: len(token) // 2],
    lambda token: Signer("another-key").link_token(MEETING_ID, "0123456789abcdef", 1),
    lambda token: "x" * 600,
    lambda token: "not-a-token",
    lambda token: "%00%ff",
    lambda token: token + "/extra",
], ids=["tampered", "truncated-5", "truncated-half", "foreign-key", "huge", "garbage", "bytes",
        "extra-path"])
def test_bad_tokens_get_the_invalid_page(client, link, mangle):
    token = link.url.rsplit("/j/", 1)[1]
    path = "/j/" + mangle(token)
    for response in (client.get(path), client.post(path), client.head(path)):
        assert response.status_code == 404
        assert "Location" not in response.headers
    assert b"not recognised" in client.get(path).data


def test_valid_signature_for_unknown_registrant_is_404(client, meeting):
    token = Signer(SECRET).link_token(MEETING_ID, "0123456789abcdef", 1)
    assert client.post(f"/j/{token}").status_code == 404
    token = Signer(SECRET).link_token("999999999", "0123456789abcdef", 1)
    assert client.post(f"/j/{token}").status_code == 404


def test_fallback_key_still_verifies(app, store_url, clock, link):
    new_key = "new-key-of-at-least-32-characters-too"
    rotated = make_app(store_url, clock, like=app, SECRET_KEY=new_key,
                       SECRET_KEY_FALLBACKS=[SECRET])
    assert rotated.test_client().post(path_of(link)).status_code == 303
    dropped = make_app(store_url, clock, like=app, SECRET_KEY=new_key)
    assert dropped.test_client().post(path_of(link)).status_code == 404


def test_registrant_target_redirects_to_the_registrants_join_url(client, service, meeting):
    service.meetings.add(meeting, topic="T", start=START, duration=90, target="registrant")
    join_url = f"https://us06web.zoom.us/w/{MEETING_ID}?tk=abc.def&pwd=Q0x3"
    issued = service.meetings.issue_links(meeting, [RegistrantInput("r@example.org", "R", "zid1",
                                                           join_url)])[0]
    assert client.post(path_of(issued)).headers["Location"] == join_url


def test_pages_carry_csp_that_admits_zoom_as_form_action(client, link):
    page = client.get(path_of(link))
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self' https://app.zoom.us" in csp
    assert 'name="viewport"' in page.get_data(as_text=True)


def test_names_are_escaped_in_pages(client, service, meeting):
    issued = service.meetings.issue_links(meeting, [RegistrantInput("h@example.org",
                                                           "<script>alert(1)</script>")])[0]
    page = client.get(path_of(issued)).get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_organizer_template_overrides_a_page(app, store_url, clock, link, tmp_path):
    (tmp_path / "confirm.html").write_text(
        '{% extends "base.html" %}{% block content %}<p>Welcome, {{ display_name }}!</p>'
        '<form method="post"><button>Enter</button></form>{% endblock %}')
    app = make_app(store_url, clock, like=app, TEMPLATE_DIR=str(tmp_path))
    page = app.test_client().get(path_of(link))
    assert page.status_code == 200 and b"Welcome, Ana Lima!" in page.data
    assert b"not recognised" in app.test_client().get("/j/x").data  # built-in still serves the rest


@pytest.mark.parametrize("path", ["/j//x", "/j/a//b", "//j/x"], ids=["double", "inner", "lead"])
def test_never_a_cacheable_redirect(client, path):
    for response in (client.get(path), client.post(path)):
        assert response.status_code not in (301, 308)


def test_other_methods_get_405_with_allow_and_options_lists_them(client, link):
    """The lean front answers every method of a link and of the webhook endpoint as Flask did,
    and a 405 now says which methods are allowed."""
    for path, allowed in ((path_of(link), "GET, POST, HEAD, OPTIONS"),
                          ("/webhooks/zoom", "POST, OPTIONS")):
        refused = client.put(path)
        assert refused.status_code == 405 and refused.headers["Allow"] == allowed
        options = client.options(path)
        assert options.status_code == 200 and options.headers["Allow"] == allowed
        assert options.data == b""
    assert b"not recognised" in client.delete(path_of(link)).data
    assert client.get("/webhooks/zoom").get_json()["error"] == "method_not_allowed"


def test_head_carries_the_length_of_the_page_it_leaves_out(client, link):
    page = client.get(path_of(link))
    head = client.head(path_of(link))
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(page.data)
    assert head.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_an_unexpected_error_is_a_500_page_logged_without_the_token(app, service, link,
                                                                      caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(service.store, "gate", broken)
    response = app.test_client().post(path_of(link))
    assert response.status_code == 500 and b"not recognised" in response.data
    assert "Location" not in response.headers
    failures = [r for r in caplog.records if r.name == "joingate.fastgate"]
    assert failures and failures[-1].exc_info and "/j/" in failures[-1].getMessage()
    assert link.url.rsplit("/", 1)[1] not in failures[-1].getMessage()


def test_the_device_cookie_follows_a_public_url_with_a_path(app, store_url, clock):
    """Behind a sub-path proxy the browser sees /gate/j/...: the cookie goes back there, so
    the same browser's rejoin sends it (issue 17, item 8). Over https it is the __Host- cookie
    on Path=/ (finding 19: the prefix demands it, and / covers /gate/j/); over http its path
    is /gate/j/."""
    from joingate.roster import RegistrantInput

    sub = make_app(store_url, clock, like=app, PUBLIC_URL="https://example.org/gate")
    state = sub.extensions["joingate"]
    state.meetings.add(MEETING_ID, topic="T", start=START, duration=60)
    link = state.meetings.issue_links(MEETING_ID, [RegistrantInput("p@example.org", "P")])[0]
    assert link.url.startswith("https://example.org/gate/j/")
    answer = sub.test_client().post("/j/" + link.url.rsplit("/j/", 1)[1])
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("__Host-jg_device=") and "Path=/;" in cookie and "Secure" in cookie
    rejoin = sub.test_client()
    rejoin.set_cookie("__Host-jg_device", cookie.split(";")[0].split("=", 1)[1], path="/")
    assert rejoin.post("/j/" + link.url.rsplit("/j/", 1)[1]).status_code == 303
    plain = make_app(store_url, clock, like=app, PUBLIC_URL="http://example.org/gate")
    other = plain.extensions["joingate"].meetings.issue_links(
        MEETING_ID, [RegistrantInput("q@example.org", "Q")])[0]
    answer = plain.test_client().post("/j/" + other.url.rsplit("/j/", 1)[1])
    assert answer.status_code == 303
    assert answer.headers["Set-Cookie"].startswith("jg_device=")
    assert "Path=/gate/j/" in answer.headers["Set-Cookie"]


DEVICE = "a1b2c3d4e5f6a7b8c9d0e1f2"


def test_the_device_cookie_is_what_dump_cookie_writes(app, link, monkeypatch):
    """The claim's Set-Cookie (its attributes written once a second) is Werkzeug's dump_cookie
    of the same value, Expires included (400 days from the moment it is set), for two apps of
    other PUBLIC_URLs in the same process and the same second (one cache of attributes)."""
    from werkzeug.http import dump_cookie

    from joingate import gate

    states = [make_app("memory://", Clock(NOW), PUBLIC_URL=url).extensions["joingate"]
              for url in ("https://gate.example.org", "http://example.org/gate")]
    for moment in (1_800_000_000.0, 1_800_000_000.999, 1_800_000_001.25):
        monkeypatch.setattr(gate.time, "time", lambda moment=moment: moment)
        for state in states * 2:
            name, path = gate.device_cookie_name(state.config.public_url)
            value = state.signer.device_cookie(DEVICE)
            assert gate.device_cookie(state, DEVICE) == dump_cookie(
                name, value, max_age=gate.DEVICE_COOKIE_AGE, path=path, httponly=True,
                samesite="Lax", secure=name == gate.SECURE_DEVICE_COOKIE,
                expires=moment + gate.DEVICE_COOKIE_AGE)
    monkeypatch.undo()
    for state in states:       # and against dump_cookie's own clock, now
        name, path = gate.device_cookie_name(state.config.public_url)
        value = state.signer.device_cookie(DEVICE)
        reference = functools.partial(dump_cookie, name, value, max_age=gate.DEVICE_COOKIE_AGE,
                                      path=path, httponly=True, samesite="Lax",
                                      secure=name == gate.SECURE_DEVICE_COOKIE)
        before = reference()
        assert gate.device_cookie(state, DEVICE) in (before, reference())
    cookie = app.test_client().post(path_of(link)).headers["Set-Cookie"]
    assert "; Expires=" in cookie and "; Max-Age=34560000;" in cookie
