"""Counting wrong credentials per client address: invalid link tokens and wrong API tokens.

Only what is invalid is counted: a valid link is never refused for being requested often.
"""

from __future__ import annotations

from .errors import StorageUnavailable
from .store import Store


def over_limit(store: Store, kind: str, client: str, limit: int, window: int) -> bool:
    """Count one wrong credential of ``kind`` (badtok: link tokens, badapi: API tokens) from
    ``client``; True once more than ``limit`` arrived in the window. Redis down: False (the
    answer the caller gives does not depend on Redis)."""
    if not limit:
        return False
    try:
        return store.count_invalid_token(client, window, kind) > limit
    except StorageUnavailable:
        return False
