"""Real processes: `joingate serve --demo` (the README's quick start), gunicorn with 4 workers on a
real Redis under 100 concurrent claims, and the wsgi entry point's refusal of memory://."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC
from pathlib import Path

import pytest
import requests
from helpers import MEETING_ID, make_app, path_of, store_for
from stack import free_port, gunicorn_env, start_gunicorn, stop, wait_for_port

from joingate.roster import RegistrantInput

ROOT = Path(__file__).resolve().parent.parent


def test_serve_demo_prints_two_links_that_work():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    process = subprocess.Popen([sys.executable, "-m", "joingate.cli", "serve", "--demo", "--port",
                                str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        links = []
        deadline = time.monotonic() + 20
        while len(links) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            links += re.findall(r"http://127\.0\.0\.1:\d+/j/\S+", line)
        assert len(links) == 2
        wait_for_port(port)
        assert requests.get(links[0], timeout=5).status_code == 200
        claim = requests.post(links[1], allow_redirects=False, timeout=5)
        assert claim.status_code == 303
        assert claim.headers["Location"].startswith("https://app.zoom.us/wc/")
    finally:
        stop(process)


def test_wsgi_refuses_the_memory_store():
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, text=True,
                            capture_output=True, env=gunicorn_env("memory://"), timeout=60)
    assert result.returncode != 0
    assert "JOINGATE_REDIS_URL is memory://" in result.stderr


def test_wsgi_without_secret_names_the_variable():
    env = gunicorn_env("redis://127.0.0.1:1/0")
    del env["JOINGATE_SECRET_KEY"]
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, text=True,
                            capture_output=True, env=env, timeout=60)
    assert result.returncode != 0 and "JOINGATE_SECRET_KEY is not set" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_100_concurrent_claims_on_gunicorn_bind_exactly_once(request, kind, clock):
    url = store_for(request, kind)
    clock.now = time.time()
    service = make_app(url, clock).extensions["joingate"]
    from datetime import datetime

    service.meetings.add(MEETING_ID, topic="Race", start=datetime.now(UTC), duration=60)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("race@example.org", "Racer")])[0]
    process, port = start_gunicorn(gunicorn_env(url))
    url = f"http://127.0.0.1:{port}{path_of(link)}"
    barrier = threading.Barrier(100)
    statuses: list[int] = []

    def claim(n: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.post(url, allow_redirects=False, timeout=30,
                                    headers={"User-Agent": f"client-{n}"})
            statuses.append(response.status_code)

    try:
        threads = [threading.Thread(target=claim, args=(n,)) for n in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        stop(process)
    assert len(statuses) == 100
    assert statuses.count(303) == 1 and statuses.count(409) == 99
    registrant = service.store.registrant(MEETING_ID, link.registrant_id)
    assert len(registrant.devices) == 1 and registrant.refused == 99
