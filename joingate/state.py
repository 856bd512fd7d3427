"""What one joingate app holds: its settings, its store and the services built on them.

``create_app`` builds one and keeps it in ``app.extensions["joingate"]``; the CLI and the worker
use the same object (through the app), so every caller reaches Redis through the same services.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .api_tokens import ApiTokens
from .i18n import Catalogs
from .meetings import Meetings
from .presence import Presence
from .signing import Signer
from .store import Store


@dataclass
class AppState:
    config: dict[str, Any]
    store: Store
    signer: Signer
    clock: Callable[[], float] = time.time
    meetings: Meetings = field(init=False)
    presence: Presence = field(init=False)
    tokens: ApiTokens = field(init=False)
    catalogs: Catalogs = field(init=False)

    def __post_init__(self) -> None:
        config = self.config
        # The pages' message catalogs, with the organizer's (TEMPLATE_DIR/translations) merged.
        self.catalogs = Catalogs(config["TEMPLATE_DIR"])
        self.meetings = Meetings(self.store, self.signer, config["PUBLIC_URL"],
                                 config["RETENTION_DAYS"], self.clock,
                                 languages=self.catalogs.languages)
        self.presence = Presence(self.store, self.meetings, config["ZOOM_JOIN_DOMAIN"],
                                 config["SHARED_GRACE"], self.clock)
        self.tokens = ApiTokens(self.store, config["ADMIN_TOKEN"], self.clock)

    def now(self) -> float:
        return self.clock()
