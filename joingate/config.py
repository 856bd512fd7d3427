"""Every configuration key, listed once with its default, parsed and checked at start-up.

Values come from ``JOINGATE_<NAME>`` environment variables; a test or ``joingate serve`` may pass
a mapping that wins over the environment. A wrong value stops the start with a sentence that names
the variable (:class:`~joingate.errors.ConfigError`).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
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
    try:
        number = float(value)
    except ValueError:
        raise Refused("must be a number of seconds (like 120 or 0.5)") from None
    if not number >= 0 or number == float("inf"):
        raise Refused("must be a number of seconds, not negative")
    return number


def _whole(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise Refused("must be a whole number (like 30)") from None
    if number < 0:
        raise Refused("must not be negative")
    return number


def _milliseconds(value: str) -> int:
    number = _whole(value)
    if number < 1:
        raise ValueError("must be at least 1 (Redis's WAIT 0 would wait forever)")
    return number


def _lease(value: str) -> float:
    number = _seconds(value)
    if number < 1:
        raise ValueError("must be at least 1 second")
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


def _smtp_url(value: str) -> str:
    """``smtp://[user:password@]host[:port]`` (STARTTLS when offered) or ``smtps://...``."""
    value = value.strip()
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise Refused("must be smtp://[user:password@]host[:port] or smtps://...")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise Refused("has a port that is not a number from 1 to 65535")
    return value


def _mail_address(value: str) -> str:
    """``classes@example.org`` or ``Evening Ceramics <classes@example.org>``."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    from .roster import mail_address_problem

    value = value.strip()
    if not value:
        return value
    name, address = parseaddr(value)
    problem = mail_address_problem(address) if address else "has no address"
    if "\n" in value or "\r" in value:
        problem = "has a line break"
    if problem:
        raise Refused(f"must be an address like 'Name <classes@example.org>': it {problem}")
    return str(Address(display_name=name, addr_spec=address)) if name else address


def _redacted(raw: str) -> str:
    """A setting's value fit for an error message: the password of a URL replaced."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", raw)


@dataclass(frozen=True)
class Setting:
    """How one ``JOINGATE_<NAME>`` variable is read: its parser and what it is for."""

    parse: Callable[[str], Any]
    doc: str
    secret: bool = False    # a wrong value is never repeated in the error (keys, passwords)


def setting(default: Any, parse: Callable[[str], Any], doc: str, *, secret: bool = False) -> Any:
    """A field of :class:`Settings`: its default, parser and description in one place;
    ``secret``: the value may hold a secret, so no error message shows it."""
    how = Setting(parse, doc, secret)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.copy(default), metadata={"setting": how})
    return field(default=default, metadata={"setting": how})


@dataclass(frozen=True)
class Settings:
    """Every setting, typed; read from ``JOINGATE_<NAME>`` (the field name in upper case)."""

    secret_key: str = setting(
        "", _text, "Signs links and device cookies. Required; at least 32 characters.",
        secret=True)
    secret_key_fallbacks: list[str] = setting(
        [], _key_list, "Older keys, comma-separated: links signed with them still verify.",
        secret=True)
    redis_url: str = setting(
        "", _redis_url,
        "redis://, rediss://, unix:// or memory:// (embedded, one process only). Required.",
        secret=True)
    public_url: str = setting("http://127.0.0.1:8000", _http_url,
                              "Where registrants reach joingate; links are PUBLIC_URL/j/<token>.")
    zoom_webhook_secret: str = setting(
        "", _text, "The Zoom app's secret token; without it the webhook endpoint answers 503.",
        secret=True)
    admin_token: str = setting("", _text, "Seeds one manage token of the organizer API.",
                               secret=True)
    template_dir: str = setting("", _text,
                                "Organizer templates, searched before the built-in ones.")
    support: str = setting(
        "", _text, "Contact shown on pages that cannot tell the meeting (invalid, unavailable) "
        "and on meetings without their own --support.")
    zoom_web_host: str = setting("https://app.zoom.us", _http_url, "Host of the Zoom web client.")
    zoom_join_domain: str = setting(
        "zoom.us", _join_domain,
        "Registrant join URLs must be https on this domain or a subdomain of it.")
    zoom_account_id: str = setting("", _text, "Server-to-Server OAuth account id.")
    zoom_client_id: str = setting("", _text, "Server-to-Server OAuth client id.")
    zoom_client_secret: str = setting("", _text, "Server-to-Server OAuth client secret.",
                                      secret=True)
    zoom_api_url: str = setting("https://api.zoom.us/v2", _http_url, "Zoom REST API base.")
    zoom_oauth_url: str = setting("https://zoom.us/oauth/token", _http_url,
                                  "Zoom OAuth token URL.")
    zoom_rate_limits: dict[str, int] = setting(
        {"light": 30, "medium": 20, "heavy": 10}, _rate_limits,
        "Zoom API calls per second by endpoint class (Pro; Free: light=4,medium=2,heavy=1).")
    zoom_webhook_tolerance: float = setting(
        300.0, _seconds, "Seconds a webhook timestamp may differ from now, either way.")
    shared_grace: float = setting(
        120.0, _seconds, "Seconds two people may be on one registration, in total, before it "
        "counts as sharing.")
    alert_webhook_url: str = setting(
        "", _http_url,
        "The organizer's URL that receives each violation as signed JSON (from the worker).",
        secret=True)
    alert_secret: str = setting("", _text, "Key of the HMAC signature on alerts.", secret=True)
    redis_timeout: float = setting(
        2.0, _seconds, "Seconds a Redis call may take before the request answers 503.")
    redis_wait_replicas: int = setting(
        0, _whole, "Replicas that must hold a claim before its 303 (Redis WAIT after the "
        "claim); fewer within REDIS_WAIT_MS: 503. 0: no wait (asynchronous replication).")
    redis_wait_ms: int = setting(
        500, _milliseconds,
        "Milliseconds a claim waits for REDIS_WAIT_REPLICAS replicas (less than REDIS_TIMEOUT).")
    worker_lease: float = setting(
        30.0, _lease, "Seconds a worker holds an alert or Zoom action it delivers (renewed while "
        "it lives); after a crash the job is delivered again once this has run out.")
    key_prefix: str = setting("jg", _text, "Prefix of every Redis key.")
    retention_days: int = setting(
        30, _whole, "Days every key of a meeting is kept after the meeting's window closes.")
    max_body_bytes: int = setting(
        4_194_304, _whole, "Largest request body; larger gets 413 (4 MiB: a bulk of 5,000 "
        "registrants with Zoom ids and join URLs is about 1.3 MiB).")
    proxy_hops: int = setting(
        0, _whole,
        "How many proxies (nginx) stand in front: X-Forwarded-For/-Proto are trusted that deep.")
    metrics_token: str = setting("", _text,
                                 "If set, /metrics needs Authorization: Bearer <token>.",
                                 secret=True)
    invalid_token_limit: int = setting(
        30, _whole,
        "Invalid link tokens one client address may send per window before 429 (0: off).")
    invalid_token_window: int = setting(60, _whole, "Seconds of that window.")
    api_bad_token_limit: int = setting(
        20, _whole, "Wrong API tokens one address may send per INVALID_TOKEN_WINDOW before 429.")
    allow_memory_store: bool = setting(
        False, _flag, "Let the gunicorn entry point run on memory:// (one worker only, demos).")
    smtp_url: str = setting(
        "", _smtp_url,
        "Where links are mailed: smtp://user:pass@host:587 (STARTTLS when the server offers "
        "it), smtps://user:pass@host:465, smtp://localhost:25 (plain).", secret=True)
    mail_from: str = setting(
        "", _mail_address,
        "From of the mailed links: classes@example.org or 'Name <classes@example.org>'.")
    mail_reply_to: str = setting("", _mail_address, "Reply-To of the mailed links (optional).")
    smtp_rate: float = setting(5.0, _seconds,
                               "Messages per second joingate sends at most (0: no limit).")

    def __getitem__(self, name: str) -> Any:
        """``settings.shared_grace``: the old spelling, kept only while branches written
        against it are merged; new code reads attributes."""
        return getattr(self, name.lower())


SETTINGS: dict[str, Setting] = {f.name.upper(): f.metadata["setting"] for f in fields(Settings)}
SETTING_NAMES = frozenset(SETTINGS)


def load_config(environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read every setting from ``environ`` (default: the process environment), then apply
    ``overrides`` (already-typed values by upper-case name, for tests and ``joingate serve``).

    Raises ConfigError naming the variable whose value is wrong or missing.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - SETTING_NAMES
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, how in SETTINGS.items():
        if name in overrides:
            values[name.lower()] = overrides[name]
            continue
        raw = environ.get(PREFIX + name)
        if raw is None:
            continue
        try:
            values[name.lower()] = how.parse(raw)
        except ValueError as exc:
            raise ConfigError(_refusal(name, how, raw, exc)) from None
    settings = Settings(**values)
    for required in ("secret_key", "redis_url"):
        if not getattr(settings, required):
            raise ConfigError(f"{PREFIX}{required.upper()} is not set; joingate cannot start "
                              "without it")
    _check_replica_wait(settings)
    _refuse_weak_keys(settings)
    try:   # a value given as an override is checked too: an empty domain admits every host
        settings = replace(settings, zoom_join_domain=_join_domain(settings.zoom_join_domain))
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}ZOOM_JOIN_DOMAIN {exc}") from None
    if settings.secret_key in settings.secret_key_fallbacks:
        settings = replace(settings, secret_key_fallbacks=[
            key for key in settings.secret_key_fallbacks if key != settings.secret_key])
    return settings


def _check_replica_wait(settings: Settings) -> None:
    """REDIS_WAIT_REPLICAS needs a store where WAIT follows the claim on its connection."""
    if not settings.redis_wait_replicas:
        return
    name = f"{PREFIX}REDIS_WAIT_REPLICAS"
    scheme = urlsplit(settings.redis_url).scheme
    if scheme == "redis+cluster":
        raise ConfigError(f"{name} cannot work on Redis Cluster (redis+cluster://): WAIT must go "
                          "on the connection that wrote the claim, and a cluster client sends "
                          "it to any node; set it to 0, or use a primary with replicas "
                          "(redis+sentinel://)")
    if scheme == "memory":
        raise ConfigError(f"{name} needs replicas, and memory:// has none; set it to 0")
    if settings.redis_wait_ms >= settings.redis_timeout * 1000:
        raise ConfigError(f"{PREFIX}REDIS_WAIT_MS ({settings.redis_wait_ms}) must be shorter "
                          f"than {PREFIX}REDIS_TIMEOUT ({settings.redis_timeout} s): the claim "
                          "would time out before the replicas are counted")


def _refuse_weak_keys(settings: Settings) -> None:
    """Raise ConfigError (without the key) when SECRET_KEY or a fallback key is shorter than
    MIN_KEY_LENGTH characters: a fallback key still verifies, so it forges as well."""
    if len(settings.secret_key) < MIN_KEY_LENGTH:
        raise ConfigError(f"{PREFIX}SECRET_KEY is shorter than {MIN_KEY_LENGTH} characters; "
                          f"make one with {MAKE_A_KEY}")
    if any(len(key) < MIN_KEY_LENGTH for key in settings.secret_key_fallbacks):
        raise ConfigError(f"{PREFIX}SECRET_KEY_FALLBACKS holds a key shorter than "
                          f"{MIN_KEY_LENGTH} characters; remove it (links signed with it then "
                          "stop working: reissue them)")


def _refusal(name: str, how: Setting, raw: str, exc: ValueError) -> str:
    """The sentence for a wrong value: the variable, why, and the value itself (a URL's
    password masked) unless the setting may hold a secret (a Redis password, an alert URL's
    secret path). A library's own message may quote the value (urlsplit quotes the host,
    passwords included): for a secret setting only a Refused message is shown."""
    if not how.secret:
        return f"{PREFIX}{name} {exc} (got {_redacted(raw)!r})"
    reason = str(exc) if isinstance(exc, Refused) else "is not a valid value"
    return f"{PREFIX}{name} {reason} (the value is not shown: it may hold a secret)"
