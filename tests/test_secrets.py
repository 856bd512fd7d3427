"""Secrets: key rotation, webhook replays, and a device cookie that cannot be forged or moved."""

from __future__ import annotations

from helpers import MEETING_ID, SECRET, make_app, path_of
from webhook_events import participant, signed

from joingate.roster import RegistrantInput
from joingate.signing import Signer

NEW_KEY = "key-2026-of-at-least-thirty-two-characters"


def test_rotation_old_links_work_while_their_key_is_a_fallback(app, store_url, clock, link):
    client = app.test_client()
    first = client.post(path_of(link))
    assert first.status_code == 303
    rotated = make_app(store_url, clock, like=app, SECRET_KEY=NEW_KEY,
                       SECRET_KEY_FALLBACKS=[SECRET])
    rotated_client = rotated.test_client()
    cookie = first.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    rotated_client.set_cookie("__Host-jg_device", cookie, path="/")
    assert rotated_client.post(path_of(link)).status_code == 303      # link and cookie verify
    reissued = rotated.extensions["joingate"].meetings.issue_links(
        MEETING_ID, [RegistrantInput("new@example.org", "New")])[0]
    assert Signer(NEW_KEY).read_link_token(reissued.url.rsplit("/", 1)[1])  # new key signs
    retired = make_app(store_url, clock, like=app, SECRET_KEY=NEW_KEY).test_client()
    assert retired.post(path_of(link)).status_code == 404              # old key removed
    assert retired.post(path_of(reissued)).status_code == 303


def test_forged_device_cookie_is_not_the_bound_device(app, link):
    owner = app.test_client()
    device = owner.post(path_of(link)).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    for forged in (device[:-2] + "xx", Signer("guess").device_cookie("00" * 12), "plain-id",
                   Signer(SECRET).link_token(MEETING_ID, "x", 1)):
        intruder = app.test_client()
        intruder.set_cookie("__Host-jg_device", forged, path="/")
        response = intruder.post(path_of(link))
        assert response.status_code == 409 and "Location" not in response.headers


def test_device_cookie_cannot_be_moved_to_another_link(app, service, meeting):
    ana, ben = service.meetings.issue_links(meeting, [RegistrantInput("ana@example.org", "Ana"),
                                             RegistrantInput("ben@example.org", "Ben")])
    ana_device = app.test_client()
    ana_device.post(path_of(ana))
    ben_device = app.test_client()
    ben_device.post(path_of(ben))
    # Ana's device cookie, carried to Ben's link: Ben's link is bound to Ben's device.
    assert ana_device.post(path_of(ben)).status_code == 409
    assert ben_device.post(path_of(ana)).status_code == 409
    assert ana_device.post(path_of(ana)).status_code == 303


def test_webhook_replay_inside_the_window_counts_once_outside_is_401(client, clock, service,
                                                                    meeting):
    service.meetings.issue_links(meeting, [RegistrantInput("ana@example.org", "Ana Lima")])
    body = participant("joined", user_id="1", name="Ana Lima", at="2026-12-01T18:01:00Z")
    raw, headers = signed(body, int(clock()))
    assert client.post("/webhooks/zoom", data=raw, headers=headers).get_json() == {
        "status": "recorded"}
    clock.advance(200)                     # replayed within the 300 s tolerance: deduplicated
    assert client.post("/webhooks/zoom", data=raw, headers=headers).get_json() == {
        "status": "duplicate"}
    clock.advance(200)                     # 400 s after its timestamp: refused outright
    assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 401
    row = service.presence.report(MEETING_ID)["registrants"][0]
    assert row["joins"] == 1
