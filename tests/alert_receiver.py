"""A real HTTP server on loopback that stands in for an organizer's alert receiver."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every POST; ``mode``: "ok" (204), "fail" (500), "hang" (never answers in time);
    ``delay``: seconds between recording a POST and answering it (a slow receiver)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.mode = "ok"
        self.delay = 0.0
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay)
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                self.send_response(500 if receiver.mode == "fail" else 204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return True
            time.sleep(0.02)
        return len(self.requests) >= count

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
