"""The gate holds under races, Redis crashes, Redis outages and a slow Redis: exactly one binding
per link, nothing acknowledged is lost, never a 500 and never a redirect without a decision."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import pytest
import redis as redis_lib
import requests
from helpers import MEETING_ID, make_app, path_of
from stack import gunicorn_env, start_gunicorn, stop

from joingate.roster import RegistrantInput


def fresh_meeting(url: str, clock, people: int):
    """A meeting open now with ``people`` registrants on the store at ``url``."""
    clock.now = time.time()
    app = make_app(url, clock)
    service = app.extensions["joingate"]
    service.meetings.add(MEETING_ID, topic="Load", start=datetime.now(UTC), duration=60)
    links = service.meetings.issue_links(MEETING_ID, [RegistrantInput(f"p{n}@example.org", f"P {n}")
                                             for n in range(people)])
    return service, links


def fire(requests_to_send: list[tuple[str, dict]], threads: int = 200) -> list[requests.Response]:
    """POST every (url, cookies) at once (a barrier per wave), each from its own session."""
    results: list = [None] * len(requests_to_send)
    barrier = threading.Barrier(min(threads, len(requests_to_send)))

    def one(index: int, url: str, cookies: dict) -> None:
        with requests.Session() as session:
            try:
                barrier.wait(30)
            except threading.BrokenBarrierError:
                pass
            results[index] = session.post(url, cookies=cookies, allow_redirects=False,
                                          timeout=60)

    for start in range(0, len(requests_to_send), threads):
        wave = [threading.Thread(target=one, args=(i, *requests_to_send[i]))
                for i in range(start, min(start + threads, len(requests_to_send)))]
        barrier = threading.Barrier(len(wave))
        for thread in wave:
            thread.start()
        for thread in wave:
            thread.join(120)
    return results


@pytest.mark.slow
def test_20_links_200_concurrent_claims_each_one_binding_and_rejoins_succeed(redis_server,
                                                                              clock):
    redis_lib.Redis.from_url(redis_server.url).flushdb()
    service, links = fresh_meeting(redis_server.url, clock, 20)
    process, port = start_gunicorn(gunicorn_env(redis_server.url), workers=4)
    base = f"http://127.0.0.1:{port}"
    try:
        first = fire([(base + path_of(link), {}) for link in links for _ in range(200)])
        winners = {}
        for n, _link in enumerate(links):
            answers = first[n * 200:(n + 1) * 200]
            codes = [answer.status_code for answer in answers]
            assert codes.count(303) == 1 and codes.count(409) == 199, (n, set(codes))
            assert all(b"already in use in another browser" in answer.content
                       for answer in answers if answer.status_code == 409)
            winner = next(a for a in answers if a.status_code == 303)
            winners[n] = winner.cookies["__Host-jg_device"]
        # Second wave per link: 100 rejoins from the winning device mixed with 100 newcomers.
        mixed = [(base + path_of(link), {"__Host-jg_device": winners[n]} if k % 2 else {})
                 for n, link in enumerate(links) for k in range(200)]
        second = fire(mixed)
    finally:
        stop(process)
    for (_url, cookies), answer in zip(mixed, second):
        assert answer.status_code == (303 if cookies else 409)
    for link in links:
        registrant = service.store.registrant(MEETING_ID, link.registrant_id)
        assert len(registrant.devices) == 1
        assert registrant.claims == 101 and registrant.refused == 299


def test_acknowledged_claims_survive_sigkill(own_redis, clock):
    """appendonly yes + appendfsync always: every claim answered with 303 is on disk."""
    service, links = fresh_meeting(own_redis.url, clock, 50)
    client = make_app(own_redis.url, clock, like=None).test_client()
    acknowledged = [link for link in links
                    if client.post(path_of(link)).status_code == 303]
    assert len(acknowledged) == 50
    own_redis.stop(kill=True)          # SIGKILL: no shutdown save
    own_redis.start()                  # same dir, same append-only file
    for link in acknowledged:
        registrant = service.store.registrant(MEETING_ID, link.registrant_id)
        assert registrant.devices, link.email
    assert client.post(path_of(acknowledged[0])).status_code == 303     # same device: rejoin
    other = make_app(own_redis.url, clock).test_client()
    assert other.post(path_of(acknowledged[0])).status_code == 409


@pytest.mark.slow
def test_redis_outage_under_traffic_503_never_500_and_resumes(own_redis, clock):
    service, links = fresh_meeting(own_redis.url, clock, 400)
    process, port = start_gunicorn(gunicorn_env(own_redis.url, JOINGATE_REDIS_TIMEOUT="0.5"),
                                   workers=4)
    base = f"http://127.0.0.1:{port}"
    answers: list[tuple[int, str | None]] = []
    stop_traffic = threading.Event()

    def traffic(offset: int) -> None:
        n = offset
        with requests.Session() as session:
            while not stop_traffic.is_set() and n < 400:
                response = session.post(base + path_of(links[n]), allow_redirects=False,
                                        timeout=10)
                answers.append((response.status_code, response.headers.get("Location")))
                session.cookies.clear()          # each claim from a new device
                n += 4

    try:
        workers = [threading.Thread(target=traffic, args=(k,)) for k in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.3)
        own_redis.stop()
        time.sleep(1.0)
        during = len(answers)
        own_redis.start()
        time.sleep(1.0)
        stop_traffic.set()
        for worker in workers:
            worker.join(30)
        statuses = {status for status, _ in answers}
        assert statuses <= {303, 503}, statuses
        assert 503 in statuses and during > 0
        assert all(location is None for status, location in answers if status == 503)
        assert all(location.startswith("https://app.zoom.us/") for status, location in answers
                   if status == 303)
        # Back by itself: a link not yet claimed is claimed now, on the same workers.
        unclaimed = next(link for link in links
                         if not service.store.registrant(MEETING_ID,
                                                         link.registrant_id).devices)
        assert requests.post(base + path_of(unclaimed), allow_redirects=False,
                             timeout=10).status_code == 303
    finally:
        stop_traffic.set()
        stop(process)


class SlowProxy:
    """A TCP proxy on loopback in front of Redis that can hold Redis's answers back."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.delay = 0.0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(65536):
                if slow and self.delay:
                    time.sleep(self.delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.mark.slow
def test_slow_redis_answers_503_within_the_bound_and_frees_the_workers(own_redis, clock):
    proxy = SlowProxy(own_redis.port)
    url = f"redis://127.0.0.1:{proxy.port}/0"
    service, links = fresh_meeting(url, clock, 30)
    process, port = start_gunicorn(gunicorn_env(url, JOINGATE_REDIS_TIMEOUT="0.3"), workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        proxy.delay = 3.0
        started = time.monotonic()
        slow = fire([(base + path_of(link), {}) for link in links[:20]], threads=20)
        elapsed = time.monotonic() - started
        assert {answer.status_code for answer in slow} == {503}
        assert all("Location" not in answer.headers for answer in slow)
        # 20 requests on 2 workers, each bounded by the 0.3 s timeout (plus the reconnect):
        # nowhere near 20 x 3 s of Redis delay.
        assert elapsed < 10, elapsed
        assert requests.get(base + "/healthz", timeout=5).status_code == 200
        proxy.delay = 0.0
        assert requests.post(base + path_of(links[25]), allow_redirects=False,
                             timeout=10).status_code == 303
    finally:
        stop(process)
        proxy.close()


def test_the_claims_own_connection_recovers_from_flushed_scripts_and_timeouts(own_redis, clock):
    """The claim runs on a connection of its own (store._hot_script): scripts lost by Redis
    are loaded again; a reply that came too late is never taken for the next claim's."""
    import base64
    from urllib.parse import parse_qs, urlsplit

    service, links = fresh_meeting(own_redis.url, clock, 3)
    client = make_app(own_redis.url, clock, REDIS_TIMEOUT=0.3).test_client()
    admin = redis_lib.Redis.from_url(own_redis.url)
    assert client.post(path_of(links[0])).status_code == 303
    admin.script_flush()
    second = make_app(own_redis.url, clock, REDIS_TIMEOUT=0.3).test_client()
    assert second.post(path_of(links[1])).status_code == 303         # NOSCRIPT: loaded again

    admin.execute_command("CLIENT", "PAUSE", "800", "ALL")
    late = second.post(path_of(links[2]))                           # Redis answers too late
    assert late.status_code == 503 and "Location" not in late.headers
    time.sleep(1.0)
    again = second.post(path_of(links[1]))                          # bound device: rejoin
    assert again.status_code == 303
    name = base64.b64decode(parse_qs(urlsplit(again.headers["Location"]).query)["un"][0])
    assert name.decode() == links[1].display_name
