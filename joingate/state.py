"""What one joingate app holds: its settings, its store and the services built on them.

``create_app`` builds one and keeps it in ``app.extensions["joingate"]``; the CLI and the worker
use the same object (through the app), so every caller reaches Redis through the same services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .api_tokens import ApiTokens
from .config import Settings
from .errors import StorageUnavailable
from .i18n import Catalogs
from .meetings import Meetings
from .presence import Presence
from .signing import Signer
from .store import Store

log = logging.getLogger("joingate")


@dataclass
class AppState:
    config: Settings
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
        self.catalogs = Catalogs(config.template_dir)
        self.meetings = Meetings(self.store, self.signer, config.public_url,
                                 config.retention_days, self.clock,
                                 languages=self.catalogs.languages)
        self.presence = Presence(self.store, self.meetings, config.zoom_join_domain,
                                 config.shared_grace, self.clock)
        self.tokens = ApiTokens(self.store, config.admin_token, self.clock)

    def announce_keys(self) -> None:
        """Tell Redis which keys this server verifies links with (best effort: a server
        starting while Redis is down still starts, and answers 503 until it is back)."""
        try:
            self.store.announce_key_fingerprints(self.signer.fingerprints())
        except StorageUnavailable:
            log.warning("Redis did not answer at start: the key fingerprints are not recorded")

    def now(self) -> float:
        return self.clock()
