"""Organizer API tokens: stored as sha256 digests only; the clear token is shown once.

``JOINGATE_ADMIN_TOKEN`` (when set) is one more ``manage`` token that lives in the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from .errors import InvalidInput, NotFound
from .roster import clean_name
from .store import Store

API_SCOPES = ("read", "manage")
API_TOKEN_TTL = 5 * 365 * 86400
MAX_TOKEN_LENGTH = 200


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ApiTokens:
    def __init__(self, store: Store, admin_token: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.admin_token = admin_token
        self.clock = clock

    def create(self, name: str, scope: str) -> tuple[str, dict[str, Any]]:
        """A new token of ``scope``: returns the clear token (shown once) and its record."""
        if scope not in API_SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(API_SCOPES)}")
        token = "jg_" + secrets.token_urlsafe(32)
        digest = token_digest(token)
        record = {"id": digest[:12], "name": clean_name(name)[:100], "scope": scope,
                  "created": int(self.clock())}
        self.store.save_api_token(digest, record, API_TOKEN_TTL)
        return token, record

    def enabled(self) -> bool:
        """The API is on when any token can exist: JOINGATE_ADMIN_TOKEN is set, or a token was
        made with ``joingate tokens create`` (one Redis round trip when no admin token)."""
        return bool(self.admin_token) or self.store.has_api_tokens()

    def records(self) -> list[dict[str, Any]]:
        found = list(self.store.api_token_records().values())
        if self.admin_token:
            found.append({"id": token_digest(self.admin_token)[:12],
                          "name": "JOINGATE_ADMIN_TOKEN", "scope": "manage", "created": 0})
        return sorted(found, key=lambda record: record["created"])

    def revoke(self, token_id: str) -> None:
        for digest, record in self.store.api_token_records().items():
            if record["id"] == token_id:
                self.store.delete_api_token(digest)
                return
        raise NotFound(f"no API token {token_id}")

    def scope(self, token: str) -> str | None:
        """The scope of ``token`` (read or manage), or None when it is not a token of ours."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        return self.scope_of_digest(token_digest(token))

    def scope_of_digest(self, digest: str) -> str | None:
        """The scope of the token whose sha256 digest is ``digest``, or None when there is no
        such token (any more): a dashboard session keeps the digest, never the token."""
        if self.admin_token and hmac.compare_digest(digest, token_digest(self.admin_token)):
            return "manage"
        record = self.store.api_token(digest)
        return record["scope"] if record else None
