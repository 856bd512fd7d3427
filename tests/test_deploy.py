"""End to end through the shipped deployment: redis-server, gunicorn (gunicorn.conf.py, 4 workers)
and nginx with deploy/nginx (adapted only in ports and paths, TLS with a throw-away certificate),
all on loopback. The test client plays a load balancer in front of nginx (JOINGATE_PROXY_HOPS=2):
it sends X-Forwarded-For with the visitor's address, which joingate must record."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest
import requests
from stack import free_port, nginx_binary, stop, wait_for_port, write_nginx
from webhook_events import participant, signed

ROOT = Path(__file__).resolve().parent.parent
MEETING = "85746065432"
SECRETS = {"JOINGATE_SECRET_KEY": "e2e-secret-key-value-of-32-characters-at-least",
           "JOINGATE_ZOOM_WEBHOOK_SECRET": "zoom-secret-token"}
PASSCODE = "e2ePasscode77"
VISITOR = "203.0.113.7"



@pytest.fixture
def stack(redis_server, tmp_path):
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_server.url).flushdb()
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update(SECRETS, JOINGATE_REDIS_URL=redis_server.url,
               JOINGATE_PUBLIC_URL=f"https://127.0.0.1:{https_port}",
               JOINGATE_PROXY_HOPS="2", JOINGATE_BIND=f"127.0.0.1:{app_port}",
               JOINGATE_WORKERS="4", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    app_log = open(tmp_path / "gunicorn.log", "w")
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                 "wsgi:app"], cwd=ROOT, env=env, stdout=app_log, stderr=app_log)
    nginx_conf = write_nginx(tmp_path, http_port, https_port, app_port)
    nginx = subprocess.Popen([nginx_binary(), "-c", str(nginx_conf), "-p", str(tmp_path),
                              "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / "nginx.stderr", "w"))
    try:
        wait_for_port(app_port, 30)
        wait_for_port(https_port, 10)
        yield {"env": env, "app": f"http://127.0.0.1:{app_port}",
               "https": f"https://127.0.0.1:{https_port}",
               "http": f"http://127.0.0.1:{http_port}", "folder": tmp_path}
    finally:
        stop(nginx)
        stop(gunicorn)
        app_log.close()


def cli(stack, *args: str, input: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "joingate.cli", *args], cwd=ROOT,
                            env=stack["env"], input=input, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_whole_flow_through_nginx(stack, tmp_path):
    from datetime import datetime

    start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cli(stack, "meeting", "add", MEETING, "--topic", "End to end", "--start", start,
        "--duration", "60", "--passcode", PASSCODE)
    people = tmp_path / "people.csv"
    people.write_text("email,name\nana@example.org,Ana Lima\n")
    link = next(csv.DictReader(io.StringIO(cli(stack, "links", "issue", MEETING,
                                               str(people), "--allow-loopback"))))["link"]
    assert link.startswith(stack["https"] + "/j/")
    token = link.rsplit("/", 1)[1]

    cert = str(stack["folder"] / "fullchain.pem")
    visitor = requests.Session()
    visitor.headers["X-Forwarded-For"] = VISITOR
    page = visitor.get(link, verify=cert)
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert page.headers["X-Request-ID"]
    claim = visitor.post(link, allow_redirects=False, verify=cert)
    assert claim.status_code == 303
    assert claim.headers["Location"].startswith(f"https://app.zoom.us/wc/{MEETING}/join?")
    assert "Secure" in claim.headers["Set-Cookie"]
    assert visitor.post(link, allow_redirects=False, verify=cert).status_code == 303  # same device
    other = requests.post(link, verify=cert, allow_redirects=False)
    assert other.status_code == 409

    body = participant("joined", user_id="1", name="Ana Lima", at=start)
    raw, headers = signed(body, int(time.time()))
    hook = requests.post(stack["https"] + "/webhooks/zoom", data=raw, headers=headers,
                         verify=cert)
    assert hook.status_code == 200 and hook.json() == {"status": "recorded"}

    shown = json.loads(cli(stack, "links", "show", MEETING, "ana@example.org", "--json"))
    claims = [event for event in shown["history"] if event["kind"] == "claim"]
    assert claims[0]["ip"] == VISITOR
    assert shown["status"] == "joined"

    assert requests.get(stack["https"] + "/metrics", verify=cert).status_code == 403
    exposition = requests.get(stack["app"] + "/metrics").text
    assert 'joingate_claims_total{outcome="claimed"} 1.0' in exposition
    assert 'joingate_claims_total{outcome="used_elsewhere"} 1.0' in exposition
    assert 'joingate_webhook_events_total{event="meeting.participant_joined",outcome="recorded"}' \
        in exposition

    redirect = requests.get(stack["http"] + "/j/x", allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith("https://")

    time.sleep(0.5)   # let the logs flush
    logs = "".join(path.read_text(errors="replace") for path in stack["folder"].glob("*.log"))
    assert '"path": "/j/' in logs and '"uri":"/j/-"' in logs     # requests were logged...
    for secret in (token, *SECRETS.values(), PASSCODE):
        assert secret not in logs                               # ...without any secret


def test_plain_http_answers_acme_challenges_and_redirects_the_rest(tmp_path):
    """Certificate renewal (certbot --webroot, docs/deploy.md step 6) gets its challenge file
    over plain HTTP from the shipped site; everything else is sent to HTTPS."""
    http_port, https_port = free_port(), free_port()
    challenge = tmp_path / "www" / ".well-known" / "acme-challenge" / "Tk3n-0_a"
    challenge.parent.mkdir(parents=True)
    challenge.write_text("Tk3n-0_a.account-thumbprint")
    nginx_conf = write_nginx(tmp_path, http_port, https_port, free_port())
    nginx = subprocess.Popen([nginx_binary(), "-c", str(nginx_conf), "-p", str(tmp_path),
                              "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / "nginx.stderr", "w"))
    try:
        wait_for_port(http_port, 10)
        base = f"http://127.0.0.1:{http_port}"
        answer = requests.get(base + "/.well-known/acme-challenge/Tk3n-0_a",
                              allow_redirects=False, timeout=5)
        assert answer.status_code == 200 and answer.text == "Tk3n-0_a.account-thumbprint"
        missing = requests.get(base + "/.well-known/acme-challenge/other", allow_redirects=False,
                               timeout=5)
        assert missing.status_code == 404
        other = requests.get(base + "/j/abc", allow_redirects=False, timeout=5)
        assert other.status_code == 302
        assert other.headers["Location"] == "https://127.0.0.1/j/abc"
    finally:
        stop(nginx)
