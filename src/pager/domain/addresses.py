"""Which addresses a page may not go to unless the server allows it: loopback, private,
link-local, cloud metadata and the like, where a page from Pager could reach into the
server's own network (its metadata service hands out credentials)."""

from __future__ import annotations

import ipaddress
import re
import socket

# Cloud instance metadata services (AWS, GCP, Azure, Oracle, ...; AWS's IPv6 one): a page
# sent there could read the server's credentials.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
ALLOW_PRIVATE_HINT = "set PAGER_ALLOW_PRIVATE_TARGETS=true on the server to allow it"
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this network": 0.0.0.0 and its like


def non_public_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address this is ("a loopback address", ...), IPv4-mapped and
    6to4 forms included; None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return non_public_kind(embedded)
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified or address in _THIS_NETWORK, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private or _site_local(address), "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((kind for refused, kind in checks if refused), None)


def _site_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.is_site_local


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a URL's host names literally, in any form the resolver reads as one
    (127.1, 2130706433 and 0x7f.0.0.1 are 127.0.0.1), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    candidate = host.rstrip(".")
    if not candidate or not re.fullmatch(r"[0-9a-fA-FxX.]+", candidate):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(candidate))  # parses; no lookup
    except OSError:
        return None


def private_host_problem(host: str) -> str | None:
    """Why a URL's host may not be paged (this machine's name, or a non-public address
    written literally), or None: a name is not resolved here."""
    name = host.rstrip(".").lower()
    if name in LOCALHOST_NAMES or name.endswith(".localhost"):
        return f"{host} is this machine (a loopback address); {ALLOW_PRIVATE_HINT}"
    address = ip_literal(host)
    kind = None if address is None else non_public_kind(address)
    if kind is None:
        return None
    return f"{host} is {kind}; {ALLOW_PRIVATE_HINT}"
