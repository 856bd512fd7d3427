"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts, for the tests
and the send benchmark. Faults are the server's own answers: a 5xx or 4xx to chosen recipients,
a slow reply, going down after the Nth message (listening socket closed, connections dropped),
STARTTLS and AUTH when asked for."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from stack import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    tls: bool
    login: str

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore


@dataclass
class Mailbox:
    """What the server does and what it got. Change the fault fields between runs."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)        # recipient -> "550 ..." reply
    refuse_times: dict[str, int] = field(default_factory=dict)  # recipient -> 4xx this often
    data_delay: float = 0.0       # seconds between storing a message and answering 250
    mail_delay: float = 0.0       # seconds before answering MAIL FROM
    down_after: int | None = None  # go down once this many messages are stored
    keep: bool = True             # False: count messages, keep nothing (the benchmark)
    count: int = 0
    stored: threading.Event = field(default_factory=threading.Event)
    mail_seen: threading.Event = field(default_factory=threading.Event)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]


class Handler:
    def __init__(self, box: Mailbox, sink: SmtpSink) -> None:
        self.box, self.sink = box, sink

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        self.box.mail_seen.set()
        if self.sink.down:
            server.transport.close()
            return "421 4.3.2 going down"
        if self.box.mail_delay:
            await asyncio.sleep(self.box.mail_delay)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.box.refuse:
            return self.box.refuse[address]
        if self.box.refuse_times.get(address, 0) > 0:
            self.box.refuse_times[address] -= 1
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        box = self.box
        box.count += 1
        if box.keep:
            login = session.auth_data if isinstance(session.auth_data, str) else ""
            box.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                         envelope.original_content,
                                         server.transport.get_extra_info("ssl_object") is not None,
                                         login))
        box.stored.set()
        if box.down_after is not None and box.count >= box.down_after and not self.sink.down:
            self.sink.down = True
            self.sink.controller.server.close()      # stop listening: reconnects are refused
        if box.data_delay:
            await asyncio.sleep(box.data_delay)
        return f"250 2.0.0 Ok: queued as Q{box.count}"


class SmtpSink:
    """``with SmtpSink() as sink``: an aiosmtpd server on 127.0.0.1:``sink.port``."""

    def __init__(self, box: Mailbox | None = None, host: str = "127.0.0.1",
                 port: int | None = None, tls: ssl.SSLContext | None = None,
                 implicit_tls: bool = False, logins: dict[str, str] | None = None) -> None:
        """``tls``: offer (and require) STARTTLS with this context, or with ``implicit_tls``
        speak TLS from the first byte (smtps://); ``logins``: require AUTH with these."""
        self.box = box or Mailbox()
        self.host = host
        self.port = port or free_port()
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.logins = logins
        self.down = False
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.logins is not None
              and self.logins.get(auth_data.login.decode()) == auth_data.password.decode())
        if not ok:
            return AuthResult(success=False, handled=False)     # aiosmtpd answers 535
        return AuthResult(success=True, auth_data=auth_data.login.decode())

    def start(self) -> SmtpSink:
        self.down = False
        options: dict = {}
        if self.tls is not None and self.implicit_tls:
            options.update(ssl_context=self.tls)
        elif self.tls is not None:
            options.update(tls_context=self.tls, require_starttls=True)
        if self.logins is not None:
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=self.tls is not None and not self.implicit_tls)
        self.controller = Controller(Handler(self.box, self), hostname=self.host,
                                     port=self.port, server_hostname="sink.test", **options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def restart(self) -> None:
        self.stop()
        self.box.down_after = None
        self.start()

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.box.count < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.box.count} of {count} messages after {timeout} s")
            time.sleep(0.01)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
