"""Where a claim sends the browser: pure functions, no Flask, no Redis.

joingate redirects only to the configured Zoom web client host, or to a registrant's own join URL
on the Zoom join domain (https only). Anything else raises InvalidInput: at import time for the
organizer, and again just before a redirect as a last check.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, urlsplit

from ..errors import InvalidInput


def encode_display_name(name: str) -> str:
    """``un`` for the web client: standard-alphabet base64 of the UTF-8 name (what ``btoa`` of
    the UTF-8 bytes gives), percent-encoded for a query string."""
    return quote(base64.b64encode(name.encode("utf-8")).decode("ascii"), safe="")


def webclient_url(web_host: str, meeting_id: str, pwd: str, display_name: str) -> str:
    """``{web_host}/wc/{meeting}/join?pwd=...&un=...&prefer=1``; no ``pwd`` when there is none."""
    query = []
    if pwd:
        query.append("pwd=" + quote(pwd, safe=""))
    query.append("un=" + encode_display_name(display_name))
    query.append("prefer=1")
    return f"{web_host.rstrip('/')}/wc/{quote(meeting_id, safe='')}/join?{'&'.join(query)}"


def on_join_domain(host: str, domain: str) -> bool:
    host = host.lower().rstrip(".")
    domain = domain.lower().strip(".")
    return host == domain or host.endswith("." + domain)


def check_join_url(url: str, domain: str) -> str:
    """Return ``url`` if it is an https URL on ``domain`` (or a subdomain); raise InvalidInput."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise InvalidInput("join_url is not a valid URL") from None
    if parts.scheme != "https" or not on_join_domain(host, domain) or parts.username is not None:
        raise InvalidInput(f"join_url must be an https:// URL on {domain}")
    if any(ch in url for ch in "\r\n\t "):
        raise InvalidInput("join_url must not contain white space")
    return url


def redirect_url(*, target: str, web_host: str, join_domain: str, meeting_id: str, pwd: str,
                 display_name: str, join_url: str) -> str:
    """The URL a successful claim redirects to. ``target`` is ``webclient`` or ``registrant``;
    a registrant without a stored join URL falls back to the web client with their name."""
    if target == "registrant" and join_url:
        return check_join_url(join_url, join_domain)
    return webclient_url(web_host, meeting_id, pwd, display_name)


def target_evidence(target: str, with_join_url: int, registrants: int) -> str:
    """One line for the organizer: which target a meeting uses and what evidence it gives.
    ``with_join_url`` of the meeting's ``registrants`` have a Zoom join_url (under
    ``registrant`` they go to it; the others go to the web client)."""
    typed = "the web client under the name joingate gives (weak evidence: anyone can type a name)"
    if target == "registrant" and registrants and with_join_url == registrants:
        return ("target registrant: every registrant goes to their own Zoom join_url, so Zoom's "
                "events carry their registrant_id (strong evidence)")
    if target == "registrant" and with_join_url:
        return (f"target registrant: {with_join_url} of {registrants} registrants go to their "
                f"own Zoom join_url (registrant_id: strong evidence); the "
                f"{registrants - with_join_url} without one go to {typed}")
    if target == "registrant":
        return (f"target registrant, but no registrant has a Zoom join_url yet: links lead to "
                f"{typed}; `joingate zoom sync` or `zoom register` adds join_urls (strong "
                f"evidence)")
    hint = (f"; {with_join_url} registrant(s) have a Zoom join_url: --target registrant would "
            f"give strong evidence (registrant_id)" if with_join_url else "")
    return f"target webclient: links lead to {typed}{hint}"
