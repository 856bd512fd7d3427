"""joingate: one registration, one person, in front of a Zoom meeting.

``create_app`` assembles the application; each module contributes a blueprint or an ``init_app``.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import load_config
from .signing import Signer
from .state import AppState
from .store import Store, connect

log = logging.getLogger("joingate")


def builtin_template_dir() -> str:
    """The built-in templates: ``joingate/_templates`` in an installed wheel (mapped from the
    repository's ``templates/``), or ``templates/`` beside the package in a checkout."""
    spec = importlib.util.find_spec("joingate._templates")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location, "base.html").is_file():
                return str(location)
    return str(Path(__file__).resolve().parent.parent / "templates")


def create_app(test_config: Mapping[str, Any] | None = None, *,
               environ: Mapping[str, str] | None = None,
               clock: Callable[[], float] = time.time, redis_client: Any = None) -> Flask:
    """Build the app from ``JOINGATE_*`` variables (``environ``), with ``test_config`` values
    winning over them. Raises ConfigError naming the variable when a setting is wrong.
    ``redis_client`` replaces the client REDIS_URL names (tests share one embedded store)."""
    config = load_config(environ, test_config)
    app = Flask(__name__, template_folder=builtin_template_dir())
    app.config.update(MAX_CONTENT_LENGTH=config["MAX_BODY_BYTES"])
    # Werkzeug would answer /j//x with a 308 to /j/x; browsers cache a 308, the gate never
    # answers with one.
    app.url_map.merge_slashes = False
    app.config["JOINGATE"] = config
    if config["TEMPLATE_DIR"]:
        from .pages import OrganizerTemplateLoader

        app.jinja_loader = ChoiceLoader([OrganizerTemplateLoader(config["TEMPLATE_DIR"]),
                                         FileSystemLoader(app.template_folder)])
    client = redis_client or connect(config["REDIS_URL"], config["REDIS_TIMEOUT"])
    store = Store(client, config["KEY_PREFIX"])
    if store.embedded:
        log.warning("REDIS_URL is memory://: state lives in this one process and is lost on exit")
    signer = Signer(config["SECRET_KEY"], config["SECRET_KEY_FALLBACKS"])
    app.extensions["joingate"] = AppState(config, store, signer, clock)

    from . import api, fastgate, health, observability, pages

    observability.init_app(app)
    pages.init_app(app)
    api.init_app(app)
    app.register_blueprint(health.bp)
    fastgate.init_app(app)        # /j/<token> and /webhooks/zoom are answered in front of Flask
    if config["PROXY_HOPS"]:      # outermost: the front and Flask see the trusted address
        hops = config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)  # type: ignore
    return app
