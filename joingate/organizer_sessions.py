"""Dashboard sessions: an organizer signs in with an organizer API token and gets a session.

The session cookie carries a random id (32 bytes) and nothing else. Redis keeps, under sha256 of
that id (a copy of the store does not hand out live sessions), the digest of the token it was
opened with (never the token), the token's id and scope, the session's CSRF token and its
times. A session ends at sign-out, after ``SESSION_IDLE`` seconds without a request,
``SESSION_MAX`` seconds after sign-in, or as soon as its token is revoked (checked on every
request). Times come from the app's clock, so tests move them.

No Flask here: :mod:`joingate.dashboard` reads the cookie and passes its value in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from .api_tokens import MAX_TOKEN_LENGTH, ApiTokens, token_digest
from .store import Store

SESSION_IDLE = 60 * 60            # an hour without a request ends the session
SESSION_MAX = 12 * 60 * 60        # and twelve hours after sign-in, whatever happens
SEEN_EVERY = 60                   # the idle clock is written at most once a minute
COOKIE_BYTES = 32


@dataclass(frozen=True)
class OrganizerSession:
    """A signed-in organizer, as a request sees it."""

    key: str              # sha256 of the cookie value: where Redis keeps the session
    token_id: str         # the id ``joingate tokens list`` shows
    scope: str            # read | manage
    csrf: str             # every form of the session carries it
    created: float
    seen: float

    @property
    def may_manage(self) -> bool:
        return self.scope == "manage"

    @property
    def actor(self) -> str:
        """Who did it, in the event feed: ``dashboard:<token id>``."""
        return f"dashboard:{self.token_id}"


def session_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "surrogatepass")).hexdigest()


class OrganizerSessions:
    def __init__(self, store: Store, tokens: ApiTokens, clock: Callable[[], float]) -> None:
        self.store = store
        self.tokens = tokens
        self.clock = clock

    def begin(self, token: str) -> tuple[str, OrganizerSession] | None:
        """Sign in with ``token``: the new cookie value and its session, or None when it is not
        an organizer token of ours (the caller counts the wrong guess)."""
        scope = self.tokens.scope(token)
        if scope is None:
            return None
        digest = token_digest(token)
        cookie = secrets.token_urlsafe(COOKIE_BYTES)
        now = self.clock()
        record = {"token": digest, "token_id": digest[:12], "scope": scope,
                  "csrf": secrets.token_urlsafe(32), "created": now, "seen": now}
        key = session_key(cookie)
        self.store.save_organizer_session(key, record, SESSION_MAX)
        return cookie, _session(key, record)

    def current(self, cookie: str | None) -> OrganizerSession | None:
        """The live session of ``cookie``, or None (no cookie, unknown, expired, or its token
        revoked: an ended session is deleted)."""
        if not cookie or len(cookie) > MAX_TOKEN_LENGTH:
            return None
        key = session_key(cookie)
        record = self.store.organizer_session(key)
        if record is None:
            return None
        now = self.clock()
        if (now - record["created"] > SESSION_MAX or now - record["seen"] > SESSION_IDLE
                or self.tokens.scope_of_digest(record["token"]) != record["scope"]):
            self.store.delete_organizer_session(key)
            return None
        if now - record["seen"] > SEEN_EVERY:
            record["seen"] = now
            self.store.save_organizer_session(key, record, None)
        return _session(key, record)

    def end(self, session: OrganizerSession) -> None:
        self.store.delete_organizer_session(session.key)


def _session(key: str, record: dict) -> OrganizerSession:
    return OrganizerSession(key=key, token_id=record["token_id"], scope=record["scope"],
                            csrf=record["csrf"], created=record["created"], seen=record["seen"])
