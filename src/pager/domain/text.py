"""Rules for text that people read back (addresses, URLs, names), written as regular
expressions that Python, JavaScript and the API's JSON schema read alike, so that what the
schema states is what Pager checks."""

from __future__ import annotations

import re

# Control characters (C0, DEL, C1) and the invisible formatting ones (soft hyphen, zero-width
# spaces and joiners, bidirectional overrides, the byte-order mark): with them, text can pass
# for other text. A character class's body, to put between brackets.
INVISIBLE = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    r"\ufff9-\ufffb"
)
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# What Python's str.isspace() and str.strip() take for white space, spelled out: `\s` means
# other things to JavaScript (the schema's regular expressions) and to Rust (pydantic's).
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def visible(text: str) -> bool:
    """Whether `text` holds none of the INVISIBLE characters."""
    return _INVISIBLE.search(text) is None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{IPV4})"
# RFC 3986's IPv6address, which is what Python's ipaddress reads.
IPV6 = (
    "(?:"
    + "|".join(
        [
            rf"(?:{_H16}:){{6}}{_LS32}",
            rf"::(?:{_H16}:){{5}}{_LS32}",
            rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
            rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
            rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
            rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
            rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
            rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
            rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
        ]
    )
    + ")"
)
_PORT = r"0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# An http(s) URL: an optional user, a host (a name, or an IPv6 address in brackets), an
# optional port up to 65535, then visible text without spaces.
HTTP_URL = (
    rf"[Hh][Tt][Tt][Pp][Ss]?://(?:[^{WHITESPACE}/?#@\[\]{INVISIBLE}]*@)?"
    rf"(?:\[{IPV6}\]|[^{WHITESPACE}/?#@:\[\]{INVISIBLE}]+)(?::(?:{_PORT})?)?"
    rf"(?:[/?#][^{WHITESPACE}{INVISIBLE}]*)?"
)
