"""A support contact as a registrant can use it: every email, phone number and web address in the
organizer's text becomes a tappable link (``mailto:``, ``tel:``, ``https:``); the rest stays text.

Pure: ``contact_parts("Maria, help@example.org")`` gives
``[("Maria, ", ""), ("help@example.org", "mailto:help@example.org")]``. Only ``http``/``https``
addresses become web links, so no contact can smuggle a ``javascript:`` link onto a page.
"""

from __future__ import annotations

import re

MAX_CONTACT = 200
_URL = r"https?://[^\s<>\"'`]+"
_EMAIL = r"[A-Za-z0-9.!#$%&*+/=?^_{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PHONE = r"\+?\(?\d[\d ().-]{4,}\d"
CONTACT = re.compile(f"(?P<url>{_URL})|(?P<email>{_EMAIL})|(?P<phone>{_PHONE})")
TRAILING = ".,;:!?)]}"
MIN_PHONE_DIGITS = 6


def contact_parts(contact: str) -> list[tuple[str, str]]:
    """``(text, href)`` pieces of ``contact`` in order; ``href`` is empty for plain text."""
    text = contact.strip()[:MAX_CONTACT].rstrip(". ")   # pages end the sentence themselves
    parts: list[tuple[str, str]] = []
    cursor = 0
    for match in CONTACT.finditer(text):
        found = match.group(0)
        if match.lastgroup == "url":
            found = found.rstrip(TRAILING)
            href = found
        elif match.lastgroup == "email":
            found = found.rstrip(".")
            href = f"mailto:{found}"
        else:
            digits = re.sub(r"\D", "", found)
            if len(digits) < MIN_PHONE_DIGITS:
                continue
            href = f"tel:{'+' if found.lstrip('(').startswith('+') else ''}{digits}"
        start = match.start()
        if start > cursor:
            parts.append((text[cursor:start], ""))
        parts.append((found, href))
        cursor = start + len(found)
    if cursor < len(text):
        parts.append((text[cursor:], ""))
    return parts
