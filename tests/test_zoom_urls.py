"""joingate/zoom/urls.py: where a claim sends the browser. Plain unit tests."""

from __future__ import annotations

import base64
import random
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from helpers import MEETING_ID

from joingate.errors import InvalidInput
from joingate.zoom.urls import (
    check_join_url,
    encode_display_name,
    redirect_url,
    webclient_url,
)

WEB_HOST = "https://app.zoom.us"
JOIN_DOMAIN = "zoom.us"
JOIN_URL = f"https://us06web.zoom.us/w/{MEETING_ID}?tk=abc.def&pwd=Q0x3"
PERCENT = {"+": "%2B", "/": "%2F", "=": "%3D"}


def btoa_utf8(name: str) -> str:
    """What a browser's ``btoa`` gives for the UTF-8 bytes of ``name`` (standard alphabet)."""
    return base64.b64encode(name.encode("utf-8")).decode("ascii")


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


# --- un ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,specials", [
    ("Ana Lima", "="),
    ("~~~ Ana", "+="),
    ("?>?", "/"),
    ("José Ñúñez", "="),
    ("Zoë 🎨 Çelik", "/="),
    ("李小龙", ""),
    ("\u202eamiL anA", "="),
], ids=["ascii", "plus", "slash", "accents", "emoji", "cjk", "rtl-mark"])
def test_un_is_standard_base64_of_utf8_with_specials_percent_encoded(name: str, specials: str):
    raw = btoa_utf8(name)
    assert set(specials) == set(raw) & set(PERCENT), "the case shows the specials it names"
    expected = "".join(PERCENT.get(ch, ch) for ch in raw)
    un = encode_display_name(name)
    assert un == expected
    assert not set("+/=") & set(un)
    assert base64.b64decode(unquote(un), validate=True).decode("utf-8") == name


def test_un_of_an_empty_name_is_empty():
    assert encode_display_name("") == ""


# --- the web client URL ------------------------------------------------------------------------

def test_webclient_url_shape_and_host():
    url = webclient_url(WEB_HOST, MEETING_ID, "enc0ded", "Ana Lima")
    assert url == (f"https://app.zoom.us/wc/{MEETING_ID}/join"
                   f"?pwd=enc0ded&un={encode_display_name('Ana Lima')}&prefer=1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("https", "app.zoom.us",
                                                          f"/wc/{MEETING_ID}/join")
    assert query_of(url) == {"pwd": ["enc0ded"], "un": [btoa_utf8("Ana Lima")],
                             "prefer": ["1"]}


@pytest.mark.parametrize("web_host,prefix", [
    ("https://app.zoom.us/", "https://app.zoom.us/wc/"),
    ("https://zoom.us", "https://zoom.us/wc/"),
    ("https://us06web.zoom.us", "https://us06web.zoom.us/wc/"),
], ids=["trailing-slash", "zoom-us", "vanity-subdomain"])
def test_webclient_url_uses_the_configured_host(web_host: str, prefix: str):
    assert webclient_url(web_host, MEETING_ID, "", "Ana").startswith(prefix + MEETING_ID + "/")


def test_webclient_url_without_a_passcode_has_no_pwd():
    url = webclient_url(WEB_HOST, MEETING_ID, "", "Ana Lima")
    assert "pwd=" not in url
    assert query_of(url) == {"un": [btoa_utf8("Ana Lima")], "prefer": ["1"]}


def test_webclient_url_percent_encodes_the_passcode_and_meeting():
    url = webclient_url(WEB_HOST, "857/46", "a+b/c=d&e", "Ana")
    assert "pwd=a%2Bb%2Fc%3Dd%26e&" in url
    assert urlsplit(url).path == "/wc/857%2F46/join"
    assert query_of(url)["pwd"] == ["a+b/c=d&e"]


# --- join URLs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    JOIN_URL,
    f"https://zoom.us/w/{MEETING_ID}?tk=abc",
], ids=["registrant-link", "bare-domain"])
def test_check_join_url_accepts_https_on_the_join_domain(url: str):
    assert check_join_url(url, JOIN_DOMAIN) == url


def test_check_join_url_strips_surrounding_white_space():
    assert check_join_url(f"  {JOIN_URL}\n", JOIN_DOMAIN) == JOIN_URL


@pytest.mark.parametrize("url", [
    "",
    f"http://us06web.zoom.us/w/{MEETING_ID}?tk=abc",
    f"//us06web.zoom.us/w/{MEETING_ID}",
    f"https://evil.example.com/w/{MEETING_ID}",
    f"https://zoom.us.evil.com/w/{MEETING_ID}",
    f"https://evilzoom.us/w/{MEETING_ID}",
    f"https://user@us06web.zoom.us/w/{MEETING_ID}",
    f"https://zoom.us@evil.example.com/w/{MEETING_ID}",
    "javascript:alert(1)",
    f"https://us06web.zoom.us:99999/w/{MEETING_ID}",
    f"https://us06web.zoom.us/w/{MEETING_ID}?tk=a b",
    f"https://us06web.zoom.us/w/{MEETING_ID}\r\nLocation: https://evil.example.com",
], ids=["empty", "http", "scheme-relative", "another-domain", "lookalike-suffix",
        "lookalike-prefix", "userinfo", "userinfo-hiding-another-host", "javascript",
        "bad-port", "inner-space", "header-injection"])
def test_check_join_url_refuses(url: str):
    with pytest.raises(InvalidInput):
        check_join_url(url, JOIN_DOMAIN)


@pytest.mark.parametrize("url", [
    "https://evilzoom.us/j/1", "https://zoom.us.evil.com/j/1", "https:///j/1",
    "https://US06WEB.ZOOM.US/w/1", "https://zoom.us:443/w/1",
], ids=["lookalike-prefix", "lookalike-suffix", "empty-host", "upper-case-host",
        "explicit-port"])
def test_only_the_join_domain_in_its_one_written_form(url: str):
    """Finding 6: one strict form (lower-case host, no port), so the host joingate checks is
    the host a browser navigates to."""
    with pytest.raises(InvalidInput):
        check_join_url(url, JOIN_DOMAIN)


# --- the redirect ------------------------------------------------------------------------------

def redirect(target: str, join_url: str) -> str:
    return redirect_url(target=target, web_host=WEB_HOST, join_domain=JOIN_DOMAIN,
                        meeting_id=MEETING_ID, pwd="enc0ded", display_name="Ana Lima",
                        join_url=join_url)


def test_redirect_webclient_ignores_a_stored_join_url():
    assert redirect("webclient", JOIN_URL) == webclient_url(WEB_HOST, MEETING_ID, "enc0ded",
                                                            "Ana Lima")


def test_redirect_registrant_goes_to_the_join_url():
    assert redirect("registrant", JOIN_URL) == JOIN_URL


def test_redirect_registrant_without_a_join_url_falls_back_to_the_web_client():
    assert redirect("registrant", "") == webclient_url(WEB_HOST, MEETING_ID, "enc0ded",
                                                       "Ana Lima")


@pytest.mark.parametrize("join_url", [f"http://us06web.zoom.us/w/{MEETING_ID}",
                                      f"https://evil.example.com/w/{MEETING_ID}"],
                         ids=["http", "another-domain"])
def test_redirect_registrant_checks_the_join_url_again(join_url: str):
    """A stored join URL that fails the check is never a redirect: the web client instead."""
    assert redirect("registrant", join_url) == webclient_url(WEB_HOST, MEETING_ID, "enc0ded",
                                                             "Ana Lima")


def test_a_location_is_what_iri_to_uri_gives():
    """as_uri skips iri_to_uri only for URLs it would give back unchanged: random URLs of
    characters it quotes, keeps, or rejects, on hosts it rewrites or refuses."""
    from werkzeug.urls import iri_to_uri

    from joingate.zoom.urls import PLAIN_URI, as_uri

    chooser = random.Random(15)
    alphabet = "abcXYZ019-._~%!$&'()*+,/:;=@?#[] \u00e9\\\"<>"
    hosts = ["app.zoom.us", "us02web.zoom.us", "a", "x" * 63, "x" * 64 + ".us", "A.zoom.us",
             "a..b", "-a-.b", "xn--n3h.net", "zoom.us:443", "zoom.us:0", "u@zoom.us",
             "b\u00fccher.example"]
    plain = 0
    for _ in range(40_000):
        url = ("https://" + chooser.choice(hosts) + chooser.choice(["", "/", "//", "?"])
               + "".join(chooser.choice(alphabet) for _ in range(chooser.randint(0, 20))))
        try:
            expected = iri_to_uri(url)
        except ValueError:            # UnicodeError (idna), "Invalid IPv6 URL" (urlsplit)
            assert not PLAIN_URI.fullmatch(url), url
            continue
        assert as_uri(url) == expected, url
        plain += bool(PLAIN_URI.fullmatch(url))
    assert plain > 2_000
    web = webclient_url("https://app.zoom.us", "85746065432", "p&w", "Zoë <x>")
    assert PLAIN_URI.fullmatch(web) and as_uri(web) == iri_to_uri(web) == web
