"""The SMTP connection that sends the links (the standard library's smtplib), and what a
server's answer means for one message.

``JOINGATE_SMTP_URL``: ``smtps://`` speaks TLS from the first byte; ``smtp://`` upgrades with
STARTTLS whenever the server offers it, and stays plain only when it does not. A password is never
sent in clear to a host other than this machine: with credentials and no STARTTLS on a remote host
the connection is refused. Certificates are verified against the system's trust store
(``SSL_CERT_FILE`` may point at another). Neither the password nor the URL with it reaches a log
line or an error message: :attr:`SmtpTarget.shown` is the URL without credentials.

A message's fate: the server accepts it (its reply is kept, often with a queue id); refuses it for
good (:class:`Bounced`, a 5xx at RCPT or DATA, with the server's reply); or not now
(:class:`TryLater`: a 4xx, or the connection was lost, which the caller retries on a new
connection). A 5xx to MAIL FROM or to the login concerns every message, not one recipient:
:class:`~joingate.errors.MailUnavailable`.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import MailUnavailable

TIMEOUT = 30.0
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str
    password: str

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """``url`` as config.py accepted it (scheme, host and port already checked)."""
        parts = urlsplit(url)
        scheme = parts.scheme
        return cls(scheme, parts.hostname or "", parts.port or (465 if scheme == "smtps" else 25),
                   unquote(parts.username or ""), unquote(parts.password or ""))

    @property
    def shown(self) -> str:
        """The server, fit for a log line: no user, no password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class Bounced(Exception):
    """The server refused this message for good (5xx); ``reply`` is its answer."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class TryLater(Exception):
    """Not now: a 4xx, or the connection is gone (``connection_lost``)."""

    def __init__(self, reply: str, connection_lost: bool = False) -> None:
        super().__init__(reply)
        self.reply = reply
        self.connection_lost = connection_lost


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"[:500]


class SmtpConnection:
    """One connection, reused for many messages; reopened by :meth:`send` after a loss."""

    def __init__(self, target: SmtpTarget, timeout: float = TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self.client: smtplib.SMTP | None = None

    def open(self) -> None:
        """Connect, upgrade to TLS, log in. Raises MailUnavailable naming the server and why."""
        self.close()
        target, context = self.target, ssl.create_default_context()
        try:
            if target.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port,
                                                        timeout=self.timeout, context=context)
            else:
                client = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
            try:
                client.ehlo()
                if target.scheme == "smtp" and client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                elif (target.scheme == "smtp" and target.password
                      and target.host not in LOOPBACK):
                    raise MailUnavailable(
                        f"{target.shown} does not offer STARTTLS; joingate will not send the "
                        "password in clear (use smtps:// or a server with STARTTLS)")
                if target.username:
                    client.login(target.username, target.password)
            except BaseException:
                client.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailUnavailable(f"{target.shown} refused the login of {target.username!r}: "
                                  f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:
            raise MailUnavailable(f"{target.shown} answered "
                                  f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
        except ssl.SSLError as exc:
            raise MailUnavailable(f"TLS with {target.shown} failed: {exc.reason or exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(f"cannot reach the SMTP server {target.shown}: {_why(exc)}"
                                  ) from None
        self.client = client

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def send(self, envelope_from: str, recipient: str, data: bytes) -> str:
        """One message to one recipient; returns the server's reply to DATA. Raises Bounced,
        TryLater, or MailUnavailable (the server refuses the sender: no message can go)."""
        if self.client is None:
            try:
                self.open()
            except MailUnavailable as exc:
                raise TryLater(str(exc), connection_lost=True) from None
        client = self.client
        assert client is not None
        try:
            code, message = client.mail(envelope_from)
            if code != 250:
                self._reset()
                if code >= 500:
                    raise MailUnavailable(f"{self.target.shown} refuses the sender "
                                          f"{envelope_from}: {_reply(code, message)}")
                raise self._later(code, message)
            code, message = client.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                if code >= 500:
                    raise Bounced(_reply(code, message))
                raise self._later(code, message)
            code, message = client.data(data)
            if code != 250:
                if code >= 500:
                    raise Bounced(_reply(code, message))
                raise self._later(code, message)
            return _reply(code, message)
        except smtplib.SMTPDataError as exc:        # DATA itself refused (no 354)
            if exc.smtp_code >= 500:
                raise Bounced(_reply(exc.smtp_code, exc.smtp_error)) from None
            raise self._later(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.client = None
            client.close()
            raise TryLater(f"connection lost: {_why(exc)}", connection_lost=True) from None

    def _reset(self) -> None:
        """RSET after a refused command, so the connection serves the next message; a
        connection that does not survive it is dropped (the next send opens a new one)."""
        if self.client is not None:
            try:
                self.client.rset()
            except (smtplib.SMTPException, OSError):
                self.client.close()
                self.client = None

    def _later(self, code: int, message: bytes | str) -> TryLater:
        if code == 421:     # the server closes the connection
            self.close()
            return TryLater(_reply(code, message), connection_lost=True)
        return TryLater(_reply(code, message))
