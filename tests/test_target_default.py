"""Strong evidence by default: a meeting's target is `registrant` unless the organizer chose
`webclient`, so a registrant with a Zoom join_url is sent to it (Zoom's events then carry the
registrant_id) and one without goes to the web client; `meeting add` and `links issue` say which
target is in use and what evidence it gives. Through the CLI and the claim's redirect, on both
stores."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlsplit

import pytest
from helpers import MEETING_ID

ADD = ["meeting", "add", MEETING_ID, "--topic", "Ceramics", "--start", "2026-12-01T18:00:00Z",
       "--duration", "90", "--passcode", "enc0ded"]
ANA_URL = f"https://us06web.zoom.us/w/{MEETING_ID}?tk=tk.ana&pwd=Q0x3enc"
BEN_URL = f"https://us06web.zoom.us/w/{MEETING_ID}?tk=tk.ben&pwd=Q0x3enc"
WITH_JOIN_URLS = (f"email,name,registrant_id,join_url\n"
                  f"ana@example.org,Ana Lima,zid-ana,{ANA_URL}\n"
                  f"ben@example.org,Ben Okafor,zid-ben,{BEN_URL}\n")
WITHOUT = "email,name\nana@example.org,Ana Lima\nben@example.org,Ben Okafor\n"
MIXED = (f"email,name,registrant_id,join_url\n"
         f"ana@example.org,Ana Lima,zid-ana,{ANA_URL}\n"
         f"ben@example.org,Ben Okafor,,\n")


def issue(runner, tmp_path, text: str):
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    result = runner(["links", "issue", MEETING_ID, str(path)])
    assert result.exit_code == 0, result.output
    return result, {row["email"]: row["link"]
                    for row in csv.DictReader(io.StringIO(result.stdout))}


def claim(app, link: str) -> str:
    """POST the link from a fresh browser; the redirect's Location."""
    answer = app.test_client().post(link.removeprefix("https://gate.example.org"))
    assert answer.status_code == 303
    return answer.headers["Location"]


def is_webclient(location: str, name_b64: str) -> bool:
    parts = urlsplit(location)
    return (f"{parts.scheme}://{parts.netloc}" == "https://app.zoom.us"
            and parts.path == f"/wc/{MEETING_ID}/join" and f"un={name_b64}" in parts.query)


ANA_B64 = "QW5hIExpbWE%3D"         # base64("Ana Lima"), percent-encoded
BEN_B64 = "QmVuIE9rYWZvcg%3D%3D"   # base64("Ben Okafor")


def test_meeting_add_says_the_default_target_and_its_evidence(runner, service):
    result = runner(ADD)
    assert result.exit_code == 0, result.output
    assert service.meetings.get(MEETING_ID).target == "registrant"
    assert ("target registrant, but no registrant has a Zoom join_url yet: links lead to the "
            "web client under the name joingate gives (weak evidence: anyone can type a name)"
            ) in result.stderr
    assert "zoom sync" in result.stderr


def test_registrants_with_join_urls_go_to_them_by_default(runner, app, tmp_path, clock):
    runner(ADD)
    result, links = issue(runner, tmp_path, WITH_JOIN_URLS)
    assert ("target registrant: every registrant goes to their own Zoom join_url, so Zoom's "
            "events carry their registrant_id (strong evidence)") in result.stderr
    assert claim(app, links["ana@example.org"]) == ANA_URL
    assert claim(app, links["ben@example.org"]) == BEN_URL


def test_without_join_urls_the_web_client_and_weak_evidence(runner, app, tmp_path):
    runner(ADD)
    result, links = issue(runner, tmp_path, WITHOUT)
    assert "no registrant has a Zoom join_url yet" in result.stderr
    assert "weak evidence" in result.stderr
    assert is_webclient(claim(app, links["ana@example.org"]), ANA_B64)


def test_mixed_roster_each_registrant_where_their_evidence_allows(runner, app, tmp_path):
    runner(ADD)
    result, links = issue(runner, tmp_path, MIXED)
    assert ("target registrant: 1 of 2 registrants go to their own Zoom join_url "
            "(registrant_id: strong evidence); the 1 without one go to the web client"
            ) in result.stderr
    assert claim(app, links["ana@example.org"]) == ANA_URL
    assert is_webclient(claim(app, links["ben@example.org"]), BEN_B64)


@pytest.mark.parametrize("update", [[], ["--duration", "60"]], ids=["once", "then-updated"])
def test_an_explicit_webclient_target_is_kept(runner, app, tmp_path, service, update):
    assert runner([*ADD, "--target", "webclient"]).exit_code == 0
    if update:                               # adding again without --target keeps the choice
        again = runner(ADD[:-2] + update)
        assert "target webclient" in again.stderr
    result, links = issue(runner, tmp_path, WITH_JOIN_URLS)
    assert service.meetings.get(MEETING_ID).target == "webclient"
    assert ("target webclient: links lead to the web client under the name joingate gives "
            "(weak evidence: anyone can type a name); 2 registrant(s) have a Zoom join_url: "
            "--target registrant would give strong evidence (registrant_id)") in result.stderr
    assert is_webclient(claim(app, links["ana@example.org"]), ANA_B64)


def test_the_api_default_is_registrant_too(app, service, store_url, clock):
    from helpers import START, make_app

    from joingate.roster import RegistrantInput

    service.meetings.add(MEETING_ID, topic="T", start=START, duration=90)
    issued = service.meetings.issue_links(MEETING_ID, [RegistrantInput("ana@example.org", "Ana Lima",
                                                              "zid-ana", ANA_URL)])[0]
    client = make_app(store_url, clock, like=app, ADMIN_TOKEN="admin-token-1234").test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer admin-token-1234"
    assert client.get(f"/api/v1/meetings/{MEETING_ID}").get_json()["target"] == "registrant"
    assert claim(app, issued.url) == ANA_URL
