"""joingate: one registration, one person, in front of a Zoom meeting.

``create_app`` assembles the application; each module contributes a blueprint or an ``init_app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import load_config
from .pages import ChunkedBodyLimit, builtin_template_dir
from .signing import Signer
from .state import AppState
from .store import Store, connect

log = logging.getLogger("joingate")


def create_app(test_config: Mapping[str, Any] | None = None, *,
               environ: Mapping[str, str] | None = None,
               clock: Callable[[], float] = time.time, redis_client: Any = None) -> Flask:
    """Build the app from ``JOINGATE_*`` variables (``environ``), with ``test_config`` values
    winning over them. Raises ConfigError naming the variable when a setting is wrong.
    ``redis_client`` replaces the client REDIS_URL names (tests share one embedded store)."""
    config = load_config(environ, test_config)
    app = Flask(__name__, template_folder=builtin_template_dir())
    app.config.update(MAX_CONTENT_LENGTH=config.max_body_bytes)
    # Werkzeug would answer /j//x with a 308 to /j/x; browsers cache a 308, the gate never
    # answers with one.
    app.url_map.merge_slashes = False
    app.config["JOINGATE"] = config
    client = redis_client or connect(config.redis_url, config.redis_timeout)
    store = Store(client, config.key_prefix, wait_replicas=config.redis_wait_replicas,
                  wait_ms=config.redis_wait_ms)
    if store.embedded:
        log.warning("REDIS_URL is memory://: state lives in this one process and is lost on exit")
    signer = Signer(config.secret_key, config.secret_key_fallbacks)
    app.extensions["joingate"] = AppState(config, store, signer, clock)

    from . import api, dashboard, fastgate, gate, health, move_pages, observability, pages

    observability.init_app(app)
    pages.init_app(app)
    api.init_app(app)
    dashboard.init_app(app)
    gate.init_app(app)
    app.register_blueprint(move_pages.bp)
    app.register_blueprint(health.bp)
    # The WSGI stack, inside out: Flask; the lean front (/j/<token> and /webhooks/zoom answered
    # before Flask); a chunked body measured for the one 413 check of both; ProxyFix outermost,
    # so the front and Flask see the address it trusts.
    fastgate.init_app(app)
    app.wsgi_app = ChunkedBodyLimit(  # type: ignore[method-assign]
        app.wsgi_app, app.config["MAX_CONTENT_LENGTH"] or 0)
    if config.proxy_hops:
        hops = config.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)  # type: ignore
    return app
