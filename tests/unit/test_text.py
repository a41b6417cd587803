"""The text rules that the API's schema states: each regular expression means what the
standard library it stands for means."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.domain.text import HTTP_URL, INVISIBLE, IPV6, visible

IPV6_ADDRESS = re.compile(IPV6)
URL = re.compile(HTTP_URL)


@given(st.ip_addresses(v=6))
def test_every_ipv6_address_matches_in_each_of_its_forms(address: ipaddress.IPv6Address) -> None:
    for text in (str(address), address.exploded, address.compressed.upper()):
        assert IPV6_ADDRESS.fullmatch(text)


@given(st.from_regex(IPV6_ADDRESS, fullmatch=True))
def test_what_matches_is_an_ipv6_address(text: str) -> None:
    ipaddress.IPv6Address(text)


@given(st.from_regex(URL, fullmatch=True))
def test_what_matches_is_a_url_with_a_host_and_a_port_urlsplit_reads(url: str) -> None:
    if _changes_under_nfkc(url):  # the one rule left to urlsplit (policy._is_http_url)
        with pytest.raises(ValueError, match="NFKC"):
            urlsplit(url)
        return
    parts = urlsplit(url)
    port = parts.port
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert port is None or 0 <= port <= 65535


def _changes_under_nfkc(url: str) -> bool:
    netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    plain = "".join(c for c in netloc if c not in "@:#?")
    normal = unicodedata.normalize("NFKC", plain)
    return normal != plain and any(c in normal for c in "/?#@:")


@pytest.mark.parametrize(
    ("url", "matches"),
    [
        ("https://hooks.example.com/pager?x=1#y", True),
        ("HTTP://user:pw@h.example:08080/", True),
        ("http://[2001:db8::1]:8443/hook", True),
        ("http://h.example:/", True),
        ("https://bücher.example/ü", True),
        ("ftp://h.example/", False),
        ("http://[::1/", False),
        ("http://[1:2:3]/", False),
        ("http://h.example:65536/", False),
        ("http://h.example:8o/", False),
        ("http://h ex/", False),
        ("http://h.example/a b", False),
        ("http://h.example/\u200bx", False),
        ("http://a[b@h.example/", False),
        ("http:///x", False),
    ],
)
def test_urls(url: str, matches: bool) -> None:
    assert bool(URL.fullmatch(url)) is matches


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, ünïcode and emoji 🚨", True),
        ("tab\tinside", False),
        ("nul\x00", False),
        ("zero\u200bwidth", False),
        ("right-to-left \u202eoverride", False),
        ("bom\ufeff", False),
        ("soft\u00adhyphen", False),
    ],
)
def test_visible(text: str, expected: bool) -> None:
    assert visible(text) is expected
    assert (re.search(f"[{INVISIBLE}]", text) is None) is expected
