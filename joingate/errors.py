"""One tree of errors. Library errors (redis, itsdangerous, csv) are translated into these at the
module that calls the library; the web layer and the CLI turn them into a page, a JSON error or a
message in one place each."""

from __future__ import annotations


class JoingateError(Exception):
    """Root of every error joingate raises on purpose."""


class ConfigError(JoingateError):
    """A setting is missing or wrong; the message names the variable."""


class StorageUnavailable(JoingateError):
    """Redis did not answer, or refused to serve now (down, unreachable, too slow, loading, out of
    memory, refusing writes). Nothing was decided: never redirect. ``reason`` is a short code
    (``down``, ``timeout``, ``oom``, ``misconf``, ``readonly``, ``busy``, ...) for ``/readyz``
    and the logs; the message is a fixed sentence with no address or secret in it."""

    def __init__(self, message: str, reason: str = "down") -> None:
        super().__init__(message)
        self.reason = reason
        # A claim's 503 carries the device cookie of the device it proposed (gate.Gate; the lean
        # front answers every claim): Redis may have bound it before its reply was lost, and
        # this browser's retry must then be that device, not a second one refused with 409.
        self.device_cookie = ""


class NotReplicated(StorageUnavailable):
    """The primary wrote a claim (bound or rejoined ``device_id``) but fewer than
    ``JOINGATE_REDIS_WAIT_REPLICAS`` replicas acknowledged it within ``JOINGATE_REDIS_WAIT_MS``:
    the claim is not acknowledged to the browser (503, no redirect)."""

    def __init__(self, message: str, device_id: str, acknowledged: int, wanted: int) -> None:
        super().__init__(message, "replicas")
        self.device_id = device_id
        self.acknowledged = acknowledged
        self.wanted = wanted


class InvalidInput(JoingateError):
    """Input from an organizer or a client is wrong. ``details`` lists each fault:
    ``{"line": n, "field": name, "message": sentence}`` (keys present where they apply)."""

    def __init__(self, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(JoingateError):
    """The meeting or registrant an organizer named does not exist."""


class BadLink(JoingateError):
    """A link token that is malformed, truncated, tampered with or signed with an unknown key."""


class BadWebhook(JoingateError):
    """A webhook delivery that cannot be verified: missing or wrong signature, stale timestamp."""


class TemplateProblem(InvalidInput):
    """An email template does not compile or render; ``details`` name the file and the line.
    Raised before any message is sent."""


class MailUnavailable(JoingateError):
    """The SMTP server cannot be reached or refuses the sender or the login: nothing was sent.
    The message names the server (never its password)."""


class SendBusy(JoingateError):
    """Another sender holds the meeting (a run of ``links send`` or the worker)."""
