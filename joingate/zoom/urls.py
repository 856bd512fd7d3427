"""Where a claim sends the browser: pure functions, no Flask, no Redis.

joingate redirects only to the configured Zoom web client host, or to a registrant's own join URL
on the Zoom join domain (https only). Anything else raises InvalidInput at import time for the
organizer; a stored URL that fails the check again just before a redirect (stored by an older
version) is never used: the claim leads to the web client instead.
"""

from __future__ import annotations

import base64
import logging
import re
from urllib.parse import quote, urlsplit

from werkzeug.urls import iri_to_uri

from ..errors import InvalidInput

log = logging.getLogger("joingate.redirect")


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


# Join URLs are checked once, strictly, by one regular expression that the OpenAPI document
# also serves (join_url_pattern): RFC 3986 characters only (no backslash, no space, no
# non-ASCII: where urlsplit and browsers part ways), "https://", a host of lower-case LDH labels
# on the join domain, then nothing or "/", "?" or "#" and the rest. With no "@", ":", "\\" or
# "%" possible in the host, the host urlsplit sees is the host a browser navigates to.
RFC3986_CHARACTER = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
DOMAIN_RE = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z0-9-]+$")
MAX_JOIN_URL = 2048


def join_url_pattern(domain: str) -> str:
    """The regular expression (ECMA and Python alike) of a join URL joingate accepts on
    ``domain``: what :func:`check_join_url` accepts, and what the API document publishes."""
    return (r"^https://(?:[a-z0-9-]+\.)*" + domain.replace(".", r"\.") + "(?:[/?#]"
            + RFC3986_CHARACTER + "*)?$")


def check_join_domain(domain: str) -> str:
    """``domain`` (ZOOM_JOIN_DOMAIN) if it is a domain of two labels or more; ValueError else.
    An empty domain would admit every host."""
    if not DOMAIN_RE.match(domain):
        raise ValueError("must be a domain such as zoom.us (lower-case letters, digits, hyphens "
                         "and dots, two labels at least)")
    return domain


def check_join_url(url: str, domain: str) -> str:
    """``url`` rebuilt from its checked parts (``https://`` + host + the rest, with a ``/``
    before a bare query) if it is an https URL on ``domain`` or a subdomain that browsers read
    the same way; raise InvalidInput otherwise."""
    url = url.strip()
    if not DOMAIN_RE.match(domain):
        raise InvalidInput("no join domain is configured (JOINGATE_ZOOM_JOIN_DOMAIN)")
    if len(url) > MAX_JOIN_URL or not re.fullmatch(join_url_pattern(domain), url):
        raise InvalidInput(f"join_url must be an https:// URL on {domain} (no port, no user "
                           "name, RFC 3986 characters only: no space, no backslash)")
    rest = url.removeprefix("https://")
    end = min((rest.index(mark) for mark in "/?#" if mark in rest), default=len(rest))
    host, tail = rest[:end], rest[end:]
    return f"https://{host}{tail if tail.startswith('/') else '/' + tail}"


# A URL Werkzeug's iri_to_uri gives back unchanged: https, a host of lower-case ASCII labels and
# no port, then a path and a non-empty query of characters it never quotes (no fragment). Every
# web client URL and every checked join URL of a usual shape is one.
PLAIN_URI = re.compile(r"https://(?:[a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}"
                       r"(?:/[A-Za-z0-9\-._~%!$&'()*+,/:;=@]*)?"
                       r"(?:\?[A-Za-z0-9\-._~%!$&'()*+,/:;=?@]+)?")


def as_uri(url: str) -> str:
    """``url`` as the Location header carries it: Werkzeug's ``iri_to_uri`` (non-ASCII and
    unsafe characters quoted, the host in Punycode), which a plain URL skips (the same text)."""
    return url if PLAIN_URI.fullmatch(url) else iri_to_uri(url)


def redirect_origins(web_host: str, domain: str) -> list[str]:
    """Every origin a claim may redirect to, as CSP sources: the web client's origin, the join
    domain itself and any subdomain of it (exactly what check_join_url accepts)."""
    web = urlsplit(web_host)
    return [f"{web.scheme}://{web.netloc}", f"https://{domain}", f"https://*.{domain}"]


def redirect_url(*, target: str, web_host: str, join_domain: str, meeting_id: str, pwd: str,
                 display_name: str, join_url: str) -> str:
    """The URL a successful claim redirects to. ``target`` is ``webclient`` or ``registrant``;
    a registrant without a stored join URL falls back to the web client with their name."""
    if target == "registrant" and join_url:
        try:
            return check_join_url(join_url, join_domain)
        except InvalidInput:
            # Stored before joingate checked as it does now: never redirect there; the web
            # client with the registrant's name is where the claim still leads.
            log.warning("stored join_url of a registrant of meeting %s is not acceptable; "
                        "redirecting to the web client", meeting_id)
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
