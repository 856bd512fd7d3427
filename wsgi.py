"""The gunicorn entry point: ``gunicorn wsgi:app``.

Refuses the embedded ``memory://`` store unless JOINGATE_ALLOW_MEMORY_STORE is set: each gunicorn
worker would hold a store of its own, and a link could then be claimed once per worker.
"""

import sys

from joingate import create_app
from joingate.errors import ConfigError


def _production_app():
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"joingate: {exc}")
    config = app.config["JOINGATE"]
    if config.redis_url.startswith("memory://") and not config.allow_memory_store:
        sys.exit("joingate: JOINGATE_REDIS_URL is memory://, which gives every gunicorn worker a "
                 "store of its own (a link could be claimed once per worker). Point it at Redis, "
                 "or set JOINGATE_ALLOW_MEMORY_STORE=1 for a one-worker demo.")
    app.extensions["joingate"].announce_keys()
    return app


app = _production_app()
