"""The outside security review (issue 13): one test, or one parametrized group, per finding,
named after it. Each failed on the code before its fix. Tests of Redis-facing code take ``app``
and so run on the embedded store (fakeredis) and on a real redis-server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import SECRET
from joingate import create_app
from joingate.cli import main as cli_main
from joingate.errors import ConfigError


# Finding 15: a weak SECRET_KEY was accepted (`x`, `changeme`).

@pytest.mark.parametrize("variable,value", [
    ("SECRET_KEY", "changeme"), ("SECRET_KEY", "x" * 31), ("SECRET_KEY_FALLBACKS", "changeme"),
    ("SECRET_KEY_FALLBACKS", f"{'y' * 40},short-old-key"),
], ids=["changeme", "31-characters", "fallback-changeme", "one-short-fallback"])
def test_finding_15_keys_shorter_than_32_characters_stop_the_start(variable, value, monkeypatch):
    environ = {"JOINGATE_SECRET_KEY": SECRET, "JOINGATE_REDIS_URL": "memory://",
               f"JOINGATE_{variable}": value}
    with pytest.raises(ConfigError) as caught:
        create_app(environ=environ)
    message = str(caught.value)
    assert f"JOINGATE_{variable} " in message and "32 characters" in message
    assert "changeme" not in message and "short-old-key" not in message   # never echoed
    for name, raw in environ.items():                  # the command line says the same
        monkeypatch.setenv(name, raw)
    result = CliRunner().invoke(cli_main, ["report", "85746065432"])
    assert result.exit_code == 1 and f"JOINGATE_{variable} " in result.output


def test_finding_15_a_key_of_32_characters_starts():
    app = create_app(environ={"JOINGATE_SECRET_KEY": "k" * 32, "JOINGATE_REDIS_URL": "memory://"})
    assert app.config["JOINGATE"]["SECRET_KEY"] == "k" * 32
