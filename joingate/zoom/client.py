"""Zoom's REST API over Server-to-Server OAuth, on ``requests``. Used by the CLI (``joingate zoom``)
and the worker (the ``deny`` policy); never inside a request a browser or Zoom is waiting on.

- One ``requests.Session``; every call has a timeout.
- The access token is cached in Redis, shared by every worker and host, and fetched a minute
  before it expires under a Redis lock, so that many processes cause one OAuth call.
- An answer that says the token is invalid (401, Zoom codes 124 or 4700) refreshes it once and
  retries; 429 waits ``Retry-After`` (or backs off); 5xx and network errors back off and retry.
- A client-side rate limit per endpoint class (light, medium, heavy), counted in Redis per
  second across processes, configurable per Zoom plan (``JOINGATE_ZOOM_RATE_LIMITS``).
- Errors are one type, :class:`ZoomError`, carrying Zoom's ``code`` and ``message``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests

from ..config import Settings
from ..errors import ConfigError, JoingateError
from ..store import Store

log = logging.getLogger("joingate.zoom")

TIMEOUT = (3.05, 15)                 # connect, read
TOKEN_MARGIN = 60                    # refresh this long before the token expires
INVALID_TOKEN_CODES = {124, 4700}
MAX_ATTEMPTS = 5
STATUS_CHANGES_PER_DAY = 10          # Zoom allows 10 status changes per registrant per day
CREDENTIALS = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")


class ZoomError(JoingateError):
    """Zoom refused or failed a call. ``status`` is the HTTP status (0 when Zoom gave none: no
    answer, or a limit joingate keeps itself); ``code`` is Zoom's error code (0 when none)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"Zoom answered {status}: {message} (code {code})" if status
                         else message)
        self.status = status
        self.code = code
        self.message = message


def require_credentials(config: Settings) -> None:
    """Raise ConfigError naming every Server-to-Server OAuth setting that is empty; checked
    before any call, so that no request leaves without them."""
    missing = [f"JOINGATE_{name}" for name in CREDENTIALS if not getattr(config, name.lower())]
    if missing:
        raise ConfigError(f"Zoom credentials are not set: {', '.join(missing)} (a Server-to-"
                          "Server OAuth app's account id, client id and client secret)")


class ZoomClient:
    def __init__(self, config: Settings, store: Store,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """Raises ConfigError when the OAuth credentials are not all set."""
        require_credentials(config)
        self.config = config
        self.store = store
        self.redis = store.redis
        self.session = session or requests.Session()
        self.sleep = sleep
        self.limits: dict[str, int] = config.zoom_rate_limits
        self.token_key = store.keys.zoom_token()
        self.lock_key = store.keys.zoom_token_lock()

    # OAuth

    def token(self) -> str:
        """A valid access token: the cached one, or a new one fetched by one process while
        the others wait for it (a lock in Redis)."""
        for _ in range(200):
            cached = self.redis.get(self.token_key)
            if cached:
                return json.loads(cached)["access_token"]
            owner = uuid.uuid4().hex
            if self.redis.set(self.lock_key, owner, nx=True, px=10_000):
                try:
                    if cached := self.redis.get(self.token_key):
                        return json.loads(cached)["access_token"]
                    return self._fetch_token()
                finally:
                    if self.redis.get(self.lock_key) == owner:
                        self.redis.delete(self.lock_key)
            self.sleep(0.05)
        raise ZoomError(0, 0, "timed out waiting for another process to fetch a Zoom token")

    def forget_token(self, stale: str) -> None:
        """Zoom said ``stale`` is invalid: drop it from the cache unless it was replaced."""
        cached = self.redis.get(self.token_key)
        if cached and json.loads(cached)["access_token"] == stale:
            self.redis.delete(self.token_key)

    def _fetch_token(self) -> str:
        response = self._send("POST", self.config.zoom_oauth_url, auth=(
            self.config.zoom_client_id, self.config.zoom_client_secret),
            data={"grant_type": "account_credentials",
                  "account_id": self.config.zoom_account_id})
        if response.status_code != 200:
            raise _error(response)
        answer = response.json()
        ttl = int(answer.get("expires_in", 3600)) - TOKEN_MARGIN
        self.redis.set(self.token_key, json.dumps({"access_token": answer["access_token"]}),
                       ex=max(ttl, 1))
        log.info("fetched a Zoom access token", extra={"event": "zoom_token",
                                                        "expires_in": answer.get("expires_in")})
        return answer["access_token"]

    # Calls

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP exchange with retries on network errors, 5xx and 429."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
            except requests.RequestException as exc:
                if attempt == MAX_ATTEMPTS:
                    raise ZoomError(0, 0, f"Zoom did not answer: {type(exc).__name__}") from exc
                self.sleep(min(2 ** attempt * 0.25, 8))
                continue
            if response.status_code == 429 and attempt < MAX_ATTEMPTS:
                self.sleep(_retry_after(response, attempt))
                continue
            if response.status_code >= 500 and attempt < MAX_ATTEMPTS:
                self.sleep(min(2 ** attempt * 0.25, 8))
                continue
            return response
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, endpoint_class: str, **kwargs: Any) -> Any:
        """Call ``path`` under ZOOM_API_URL; returns the JSON answer (None for 204)."""
        url = self.config.zoom_api_url.rstrip("/") + path
        self._respect_rate_limit(endpoint_class)
        token = self.token()
        response = self._send(method, url, headers={"Authorization": f"Bearer {token}"},
                              **kwargs)
        if response.status_code == 401 or _zoom_code(response) in INVALID_TOKEN_CODES:
            self.forget_token(token)                 # refresh once, then retry once
            self._respect_rate_limit(endpoint_class)
            response = self._send(method, url, headers={"Authorization": f"Bearer {self.token()}"},
                                  **kwargs)
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None

    def _respect_rate_limit(self, endpoint_class: str) -> None:
        limit = self.limits.get(endpoint_class, 1)
        while True:
            second = int(time.time())
            key = self.store.keys.zoom_rate(endpoint_class, second)
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2)
                count, _ = pipe.execute()
            if count <= limit:
                return
            self.sleep(max(second + 1 - time.time(), 0.01))

    # What joingate asks of Zoom

    def meeting(self, meeting_id: str) -> dict[str, Any]:
        return self.call("GET", f"/meetings/{quote(meeting_id)}", "light")

    def update_meeting_settings(self, meeting_id: str, settings: dict[str, Any]) -> None:
        """``PATCH /meetings/{id}`` with ``{"settings": settings}``: Zoom changes only the fields
        sent (the whole series of a recurring meeting) and answers 204. Zoom allows 100 updates
        of one meeting a day."""
        self.call("PATCH", f"/meetings/{quote(meeting_id)}", "light",
                  json={"settings": settings})

    def registrants(self, meeting_id: str, status: str = "approved") -> Iterator[dict[str, Any]]:
        """Every registrant with ``status``, page after page (next_page_token)."""
        token = ""
        while True:
            params = {"status": status, "page_size": 300}
            if token:
                params["next_page_token"] = token
            page = self.call("GET", f"/meetings/{quote(meeting_id)}/registrants", "medium",
                             params=params)
            yield from page.get("registrants", [])
            token = page.get("next_page_token") or ""
            if not token:
                return

    def add_registrant(self, meeting_id: str, email: str, first_name: str,
                       last_name: str) -> dict[str, Any]:
        body = {"email": email, "first_name": first_name or email.split("@")[0],
                "last_name": last_name, "auto_approve": True}
        return self.call("POST", f"/meetings/{quote(meeting_id)}/registrants", "light",
                         json=body)

    def set_registrant_status(self, meeting_id: str, action: str, zoom_registrant_id: str,
                              email: str) -> None:
        """approve | deny | cancel one registrant, within Zoom's 10 changes a day."""
        day = time.strftime("%Y%m%d", time.gmtime())
        key = self.store.keys.zoom_status_changes(meeting_id, zoom_registrant_id, day)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * 86400)
            count, _ = pipe.execute()
        if count > STATUS_CHANGES_PER_DAY:
            raise ZoomError(0, 0, f"{STATUS_CHANGES_PER_DAY} status changes of this registrant "
                                  "today already; Zoom allows no more")
        registrant = {"id": zoom_registrant_id, "email": email} if zoom_registrant_id \
            else {"email": email}
        self.call("PUT", f"/meetings/{quote(meeting_id)}/registrants/status", "medium",
                  json={"action": action, "registrants": [registrant]})

    def deny_registrant(self, meeting_id: str, zoom_registrant_id: str, email: str) -> None:
        """The worker's ZoomActions seam: deny future joins of this registrant."""
        self.set_registrant_status(meeting_id, "deny", zoom_registrant_id, email)

    def live_meeting(self, meeting_id: str) -> dict[str, Any]:
        return self.call("GET", f"/metrics/meetings/{quote(meeting_id)}", "heavy",
                         params={"type": "live"})

    def live_participants(self, meeting_id: str) -> list[dict[str, Any]]:
        people, token = [], ""
        while True:
            params = {"type": "live", "page_size": 300}
            if token:
                params["next_page_token"] = token
            page = self.call("GET", f"/metrics/meetings/{quote(meeting_id)}/participants",
                             "heavy", params=params)
            people += page.get("participants", [])
            token = page.get("next_page_token") or ""
            if not token:
                return people


def _zoom_code(response: requests.Response) -> int:
    try:
        body = response.json()
    except ValueError:
        return 0
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else 0


def _error(response: requests.Response) -> ZoomError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = body.get("message") or body.get("reason") or response.reason or "error"
    return ZoomError(response.status_code, _zoom_code(response), str(message)[:300])


def _retry_after(response: requests.Response, attempt: int) -> float:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return min(int(value), 60)
    return min(2 ** attempt * 0.5, 30)
