"""Settings: defaults, parsing, and a start-up error that names the variable."""

from __future__ import annotations

import pytest

from joingate.config import load_config
from joingate.errors import ConfigError

BASE = {"JOINGATE_SECRET_KEY": "k" * 32, "JOINGATE_REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_defaults():
    config = load_config(BASE)
    assert config.zoom_web_host == "https://app.zoom.us"
    assert config.zoom_webhook_tolerance == 300 and config.shared_grace == 120
    assert config.secret_key_fallbacks == []


@pytest.mark.parametrize("environ,variable", [
    ({"JOINGATE_REDIS_URL": "redis://x"}, "JOINGATE_SECRET_KEY"),
    ({"JOINGATE_SECRET_KEY": "k" * 32}, "JOINGATE_REDIS_URL"),
    ({**BASE, "JOINGATE_REDIS_URL": "mysql://x"}, "JOINGATE_REDIS_URL"),
    ({**BASE, "JOINGATE_SHARED_GRACE": "soon"}, "JOINGATE_SHARED_GRACE"),
    ({**BASE, "JOINGATE_SHARED_GRACE": "-1"}, "JOINGATE_SHARED_GRACE"),
    ({**BASE, "JOINGATE_PUBLIC_URL": "gate.example.org"}, "JOINGATE_PUBLIC_URL"),
    ({**BASE, "JOINGATE_ALLOW_MEMORY_STORE": "maybe"}, "JOINGATE_ALLOW_MEMORY_STORE"),
], ids=["no-secret", "no-redis", "bad-scheme", "grace-text", "grace-negative", "url-no-scheme",
        "bad-flag"])
def test_wrong_settings_name_the_variable(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        load_config(environ)


def test_fallback_keys_are_a_list():
    config = load_config({**BASE, "JOINGATE_SECRET_KEY_FALLBACKS":
                          "old1" * 8 + ", " + "old2" * 8 + "," + "k" * 32})
    assert config.secret_key_fallbacks == ["old1" * 8, "old2" * 8]
