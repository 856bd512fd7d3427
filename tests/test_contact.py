"""The support contact as tappable links: every email, phone number and web address becomes a
mailto:, tel: or https: link, and nothing else does (no javascript:, no markup)."""

from __future__ import annotations

import pytest
from helpers import MEETING_ID, START, path_of

from joingate.contact import contact_parts
from joingate.roster import RegistrantInput


@pytest.mark.parametrize("contact,parts", [
    ("help@example.org", [("help@example.org", "mailto:help@example.org")]),
    ("+351 912 345 678", [("+351 912 345 678", "tel:+351912345678")]),
    ("(11) 91234-5678", [("(11) 91234-5678", "tel:11912345678")]),
    ("https://example.org/help.", [("https://example.org/help", "https://example.org/help")]),
    ("Maria, help@example.org or +55 11 91234-5678.",
     [("Maria, ", ""), ("help@example.org", "mailto:help@example.org"), (" or ", ""),
      ("+55 11 91234-5678", "tel:+5511912345678")]),
    ("Room 12, second floor", [("Room 12, second floor", "")]),
    ("javascript:alert(1)", [("javascript:alert(1)", "")]),
    ("", []),
], ids=["email", "phone", "local-phone", "url", "mixed", "short-number", "javascript", "empty"])
def test_contact_parts(contact, parts):
    assert contact_parts(contact) == parts


def test_a_hostile_contact_is_text_on_the_page(client, service):
    contact = 'x" onmouseover="alert(1) <script>alert(2)</script> javascript:alert(3)'
    service.meetings.add(MEETING_ID, topic="Ceramics", start=START, duration=90, support=contact)
    link = service.meetings.issue_links(MEETING_ID, [RegistrantInput("a@example.org", "Ana")])[0]
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)" in page
    assert 'onmouseover="alert' not in page and 'href="javascript' not in page
