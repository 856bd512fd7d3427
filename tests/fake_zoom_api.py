"""A fake Zoom: a real HTTP server on loopback that follows ../shared/zoom.md closely enough for
joingate's client: Server-to-Server OAuth with expiring tokens, meetings, registrants with
pagination, status changes, meeting settings (GET and PATCH), the live dashboard, and injected
faults (429 with Retry-After, 5xx, invalid-token answers)."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID, CLIENT_SECRET, ACCOUNT_ID = "fake-client", "fake-client-secret", "fake-account"
# Settings Zoom's meeting update accepts, with their JSON types (unknown ones are ignored).
SETTING_TYPES: dict[str, type] = {
    "approval_type": int, "registration_type": int, "registrants_confirmation_email": bool,
    "registrants_email_notification": bool, "allow_multiple_devices": bool,
    "meeting_authentication": bool, "waiting_room": bool, "join_before_host": bool}
SETTING_ENUMS: dict[str, tuple[int, ...]] = {"approval_type": (0, 1, 2),
                                             "registration_type": (1, 2, 3)}


class FakeZoom:
    def __init__(self, token_lifetime: int = 3600) -> None:
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}           # token -> expiry
        self.oauth_calls = 0
        self.calls: list[tuple[str, str]] = []       # (method, path) of API calls
        self.status_changes: list[dict[str, Any]] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []   # (meeting, body) of each PATCH
        self.locked_settings: set[str] = set()   # accepted but left as they are (as Zoom does
                                                 # with settings an account admin locked)
        self.meetings: dict[str, dict[str, Any]] = {}
        self.registrants: dict[str, list[dict[str, Any]]] = {}
        self.live: dict[str, dict[str, Any]] = {}    # meeting -> {"uuid", "participants"}
        self.faults: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.oauth_delay = 0.0
        self.api_delay = 0.0                          # seconds each API call takes to answer
        self.lock = threading.Lock()
        zoom = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any = None,
                        headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:  # noqa: N802
                zoom.route(self, "POST")

            def do_GET(self) -> None:  # noqa: N802
                zoom.route(self, "GET")

            def do_PUT(self) -> None:  # noqa: N802
                zoom.route(self, "PUT")

            def do_PATCH(self) -> None:  # noqa: N802
                zoom.route(self, "PATCH")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url, self.oauth_url = f"{base}/v2", f"{base}/oauth/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def settings(self) -> dict[str, str]:
        return {"ZOOM_ACCOUNT_ID": ACCOUNT_ID, "ZOOM_CLIENT_ID": CLIENT_ID,
                "ZOOM_CLIENT_SECRET": CLIENT_SECRET, "ZOOM_API_URL": self.api_url,
                "ZOOM_OAUTH_URL": self.oauth_url}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # Data

    def add_meeting(self, meeting_id: str, **fields: Any) -> None:
        self.meetings[meeting_id] = {"id": int(meeting_id), "topic": "Evening ceramics",
                                     "start_time": "2026-12-01T18:00:00Z", "duration": 90,
                                     "password": "plain", "encrypted_password": "Q0x3enc",
                                     "type": 2, **fields}
        # A meeting as Zoom creates it by default: no registration, Zoom's emails on.
        self.meetings[meeting_id]["settings"] = {
            "approval_type": 2, "registration_type": 1, "registrants_confirmation_email": True,
            "registrants_email_notification": True, "allow_multiple_devices": True,
            "meeting_authentication": False, "waiting_room": False, "join_before_host": False,
            **fields.get("settings", {})}
        self.registrants.setdefault(meeting_id, [])

    def add_registrants(self, meeting_id: str, count: int, status: str = "approved") -> None:
        for n in range(count):
            self._register(meeting_id, f"person{n}@example.org", "Person", f"{n}", status)

    def _register(self, meeting_id: str, email: str, first: str, last: str,
                  status: str = "approved") -> dict[str, Any]:
        people = self.registrants[meeting_id]
        for person in people:
            if person["email"].lower() == email.lower():
                return person
        rid = base64.urlsafe_b64encode(f"{meeting_id}:{email}".encode()).decode()[:22]
        person = {"id": rid, "email": email, "first_name": first, "last_name": last,
                  "status": status,
                  "join_url": f"https://us06web.zoom.us/w/{meeting_id}?tk=tk.{rid}&pwd=Q0x3enc"}
        people.append(person)
        return person

    # HTTP

    def route(self, handler: Any, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        body = handler._body()
        if parts.path == "/oauth/token":
            return self._oauth(handler, body)
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.calls.append((method, parts.path))
            fault = self.faults.pop(0) if self.faults else None
        if fault:
            status, headers, body = fault
            return handler._answer(status, body, headers)
        if self.tokens.get(token, 0) < time.time():
            return handler._answer(401, {"code": 124, "message": "Invalid access token."})
        segments = parts.path.removeprefix("/v2/").split("/")
        if segments[0] == "meetings" and len(segments) >= 2:
            meeting_id = segments[1]
            if meeting_id not in self.meetings:
                return handler._answer(404, {"code": 3001, "message": "Meeting does not exist"})
            if len(segments) == 2 and method == "GET":
                return handler._answer(200, self.meetings[meeting_id])
            if len(segments) == 2 and method == "PATCH":
                return self._update_meeting(handler, meeting_id, body)
            if segments[2:] == ["registrants"] and method == "GET":
                return self._list_registrants(handler, meeting_id, query)
            if segments[2:] == ["registrants"] and method == "POST":
                data = json.loads(body)
                if "refuse" in data["email"]:
                    return handler._answer(400, {"code": 300,
                                                 "message": "Registration refused for " +
                                                 data["email"]})
                person = self._register(meeting_id, data["email"], data["first_name"],
                                        data.get("last_name", ""))
                return handler._answer(201, {"id": int(meeting_id),
                                             "registrant_id": person["id"],
                                             "join_url": person["join_url"],
                                             "topic": self.meetings[meeting_id]["topic"]})
            if segments[2:] == ["registrants", "status"] and method == "PUT":
                self.status_changes.append({"meeting": meeting_id, **json.loads(body)})
                time.sleep(self.api_delay)           # done at Zoom, the answer still to come
                return handler._answer(204)
        if segments[:2] == ["metrics", "meetings"] and len(segments) >= 3:
            live = self.live.get(segments[2])
            if live is None:
                return handler._answer(404, {"code": 3001, "message": "Meeting is not live"})
            if len(segments) == 3:
                return handler._answer(200, {"uuid": live["uuid"], "id": int(segments[2])})
            return handler._answer(200, {"participants": live["participants"],
                                         "next_page_token": ""})
        return handler._answer(404, {"code": 404, "message": "No such endpoint"})

    def _oauth(self, handler: Any, body: bytes) -> None:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if handler.headers.get("Authorization") != f"Basic {expected}" or form != {
                "grant_type": "account_credentials", "account_id": ACCOUNT_ID}:
            return handler._answer(400, {"reason": "Invalid client_id or client_secret",
                                         "error": "invalid_client"})
        with self.lock:
            self.oauth_calls += 1
            token = f"token-{self.oauth_calls}"
        time.sleep(self.oauth_delay)
        self.tokens[token] = time.time() + self.token_lifetime
        handler._answer(200, {"access_token": token, "token_type": "bearer",
                              "expires_in": self.token_lifetime, "scope": "meeting:read"})

    def _update_meeting(self, handler: Any, meeting_id: str, body: bytes) -> None:
        """PATCH /meetings/{id}: 204 and the known settings changed; 400 with Zoom's error shape
        for a body that is not JSON or a setting of the wrong type or value."""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return handler._answer(400, {"code": 300, "message": "Request Body should be a "
                                                                 "valid JSON object."})
        settings = data.get("settings", {}) if isinstance(data, dict) else None
        if not isinstance(settings, dict):
            return handler._answer(400, {"code": 300, "message": "Validation Failed.",
                                         "errors": [{"field": "settings",
                                                     "message": "Invalid field."}]})
        errors = []
        for name, value in settings.items():
            kind = SETTING_TYPES.get(name)
            if kind is None:
                continue
            wrong_type = type(value) is not kind      # bool is no int here, as in JSON
            if wrong_type or value not in SETTING_ENUMS.get(name, (value,)):
                errors.append({"field": f"settings.{name}", "message": "Invalid field."})
        if errors:
            return handler._answer(400, {"code": 300, "message": "Validation Failed.",
                                         "errors": errors})
        with self.lock:
            self.patches.append((meeting_id, data))
            stored = self.meetings[meeting_id]["settings"]
            for name, value in settings.items():
                if name in SETTING_TYPES and name not in self.locked_settings:
                    stored[name] = value
        handler._answer(204)

    def _list_registrants(self, handler: Any, meeting_id: str, query: dict[str, str]) -> None:
        people = [p for p in self.registrants[meeting_id]
                  if p["status"] == query.get("status", "approved")]
        size = min(int(query.get("page_size", 30)), 300)
        start = int(query.get("next_page_token") or 0)
        page = people[start:start + size]
        following = str(start + size) if start + size < len(people) else ""
        handler._answer(200, {"page_size": size, "total_records": len(people),
                              "next_page_token": following,
                              "registrants": [{k: v for k, v in p.items() if k != "status"}
                                              for p in page]})
