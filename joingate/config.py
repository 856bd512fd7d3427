"""Every configuration key, listed once with its default, parsed and checked at start-up.

Values come from ``JOINGATE_<NAME>`` environment variables; a test or ``joingate serve`` may pass
a mapping that wins over the environment. A wrong value stops the start with a sentence that names
the variable (:class:`~joingate.errors.ConfigError`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from .errors import ConfigError
from .zoom.urls import check_join_domain

PREFIX = "JOINGATE_"
# An HMAC key guessable offline from one link forges every link and device cookie: 32 characters
# of token_urlsafe are 192 bits.
MIN_KEY_LENGTH = 32
MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


class Refused(ValueError):
    """A value a parser below refuses; its message never repeats the value."""


def _text(value: str) -> str:
    return value.strip()


def _key_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _seconds(value: str) -> float:
    number = float(value)
    if number < 0:
        raise Refused("must not be negative")
    return number


def _whole(value: str) -> int:
    number = int(value)
    if number < 0:
        raise Refused("must not be negative")
    return number


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise Refused("must be true or false")


def _http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Refused("must be an http:// or https:// URL")
    return value


def _rate_limits(value: str) -> dict[str, int]:
    """``light=30,medium=20,heavy=10``: Zoom's requests per second by endpoint class."""
    limits = {}
    for part in value.split(","):
        name, _, number = part.partition("=")
        if name.strip() not in ("light", "medium", "heavy") or not number.strip().isdigit():
            raise Refused("must look like light=30,medium=20,heavy=10")
        limits[name.strip()] = int(number)
    return limits


def _join_domain(value: str) -> str:
    return check_join_domain(value.strip().lower().strip("."))


def _redis_url(value: str) -> str:
    value = value.strip()
    scheme = urlsplit(value).scheme
    if scheme not in {"redis", "rediss", "unix", "memory", "redis+sentinel", "redis+cluster"}:
        raise Refused("must start with redis://, rediss://, unix://, redis+sentinel://, "
                         "redis+cluster:// or memory://")
    return value


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False    # a wrong value is never repeated in the error (keys, passwords)


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", None, _text,
            "Signs links and device cookies. Required; at least 32 characters.", secret=True),
    Setting("SECRET_KEY_FALLBACKS", [], _key_list,
            "Older keys, comma-separated: links signed with them still verify.", secret=True),
    Setting("REDIS_URL", None, _redis_url,
            "redis://, rediss://, unix:// or memory:// (embedded, one process only). Required.",
            secret=True),
    Setting("PUBLIC_URL", "http://127.0.0.1:8000", _http_url,
            "Where registrants reach joingate; links are PUBLIC_URL/j/<token>."),
    Setting("ZOOM_WEBHOOK_SECRET", "", _text,
            "The Zoom app's secret token; without it the webhook endpoint answers 503.",
            secret=True),
    Setting("ADMIN_TOKEN", "", _text, "Seeds one manage token of the organizer API.", secret=True),
    Setting("TEMPLATE_DIR", "", _text, "Organizer templates, searched before the built-in ones."),
    Setting("ZOOM_WEB_HOST", "https://app.zoom.us", _http_url, "Host of the Zoom web client."),
    Setting("ZOOM_JOIN_DOMAIN", "zoom.us", _join_domain,
            "Registrant join URLs must be https on this domain or a subdomain of it."),
    Setting("ZOOM_ACCOUNT_ID", "", _text, "Server-to-Server OAuth account id."),
    Setting("ZOOM_CLIENT_ID", "", _text, "Server-to-Server OAuth client id."),
    Setting("ZOOM_CLIENT_SECRET", "", _text, "Server-to-Server OAuth client secret.", secret=True),
    Setting("ZOOM_API_URL", "https://api.zoom.us/v2", _http_url, "Zoom REST API base."),
    Setting("ZOOM_OAUTH_URL", "https://zoom.us/oauth/token", _http_url, "Zoom OAuth token URL."),
    Setting("ZOOM_RATE_LIMITS", {"light": 30, "medium": 20, "heavy": 10}, _rate_limits,
            "Zoom API calls per second by endpoint class (Pro; Free: light=4,medium=2,heavy=1)."),
    Setting("ZOOM_WEBHOOK_TOLERANCE", 300.0, _seconds,
            "Seconds a webhook timestamp may differ from now, either way."),
    Setting("SHARED_GRACE", 120.0, _seconds,
            "Seconds two stays of one registrant may overlap before it counts as sharing."),
    Setting("ALERT_WEBHOOK_URL", "", _http_url,
            "The organizer's URL that receives each violation as signed JSON (from the worker).",
            secret=True),
    Setting("ALERT_SECRET", "", _text, "Key of the HMAC signature on alerts.", secret=True),
    Setting("REDIS_TIMEOUT", 2.0, _seconds,
            "Seconds a Redis call may take before the request answers 503."),
    Setting("KEY_PREFIX", "jg", _text, "Prefix of every Redis key."),
    Setting("RETENTION_DAYS", 30, _whole,
            "Days every key of a meeting is kept after the meeting's window closes."),
    Setting("MAX_BODY_BYTES", 1_048_576, _whole, "Largest request body; larger gets 413."),
    Setting("PROXY_HOPS", 0, _whole,
            "How many proxies (nginx) stand in front: X-Forwarded-For/-Proto are trusted that deep."),
    Setting("METRICS_TOKEN", "", _text, "If set, /metrics needs Authorization: Bearer <token>.",
            secret=True),
    Setting("INVALID_TOKEN_LIMIT", 30, _whole,
            "Invalid link tokens one client address may send per window before 429 (0: off)."),
    Setting("INVALID_TOKEN_WINDOW", 60, _whole, "Seconds of that window."),
    Setting("API_BAD_TOKEN_LIMIT", 20, _whole,
            "Wrong API tokens one address may send per INVALID_TOKEN_WINDOW before 429."),
    Setting("ALLOW_MEMORY_STORE", False, _flag,
            "Let the gunicorn entry point run on memory:// (one worker only, demos)."),
)

SETTING_NAMES = frozenset(setting.name for setting in SETTINGS)


def load_config(environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read every setting from ``environ`` (default: the process environment), then apply
    ``overrides`` (already-typed values, for tests and ``joingate serve``).

    Raises ConfigError naming the variable whose value is wrong or missing.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - SETTING_NAMES
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            config[setting.name] = overrides[setting.name]
            continue
        raw = environ.get(PREFIX + setting.name)
        if raw is None:
            config[setting.name] = setting.default
            continue
        try:
            config[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(_refusal(setting, raw, exc)) from None
    for required in ("SECRET_KEY", "REDIS_URL"):
        if not config[required]:
            raise ConfigError(f"{PREFIX}{required} is not set; joingate cannot start without it")
    _refuse_weak_keys(config)
    try:   # a value given as an override is checked too: an empty domain admits every host
        config["ZOOM_JOIN_DOMAIN"] = _join_domain(config["ZOOM_JOIN_DOMAIN"])
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}ZOOM_JOIN_DOMAIN {exc}") from None
    if config["SECRET_KEY"] in config["SECRET_KEY_FALLBACKS"]:
        config["SECRET_KEY_FALLBACKS"] = [
            key for key in config["SECRET_KEY_FALLBACKS"] if key != config["SECRET_KEY"]]
    return config


def _refuse_weak_keys(config: dict[str, Any]) -> None:
    """Raise ConfigError (without the key) when SECRET_KEY or a fallback key is shorter than
    MIN_KEY_LENGTH characters: a fallback key still verifies, so it forges as well."""
    if len(config["SECRET_KEY"]) < MIN_KEY_LENGTH:
        raise ConfigError(f"{PREFIX}SECRET_KEY is shorter than {MIN_KEY_LENGTH} characters; "
                          f"make one with {MAKE_A_KEY}")
    if any(len(key) < MIN_KEY_LENGTH for key in config["SECRET_KEY_FALLBACKS"]):
        raise ConfigError(f"{PREFIX}SECRET_KEY_FALLBACKS holds a key shorter than "
                          f"{MIN_KEY_LENGTH} characters; remove it (links signed with it then "
                          "stop working: reissue them)")


def _refusal(setting: Setting, raw: str, exc: ValueError) -> str:
    """The sentence for a wrong value: the variable, why, and the value itself unless the
    setting may hold a secret (a Redis password, an alert URL's secret path). A library's own
    message may quote the value (urlsplit quotes the host, passwords included): for a secret
    setting only a Refused message is shown."""
    if not setting.secret:
        return f"{PREFIX}{setting.name} {exc} (got {raw!r})"
    reason = str(exc) if isinstance(exc, Refused) else "is not a valid value"
    return f"{PREFIX}{setting.name} {reason} (the value is not shown: it may hold a secret)"
