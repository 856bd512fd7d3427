"""One tree of errors. Library errors (redis, itsdangerous, csv) are translated into these at the
module that calls the library; the web layer and the CLI turn them into a page, a JSON error or a
message in one place each."""

from __future__ import annotations


class JoingateError(Exception):
    """Root of every error joingate raises on purpose."""


class ConfigError(JoingateError):
    """A setting is missing or wrong; the message names the variable."""


class StorageUnavailable(JoingateError):
    """Redis did not answer (down, unreachable, too slow). Nothing was decided: never redirect."""


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
