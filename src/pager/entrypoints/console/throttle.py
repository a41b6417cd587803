"""How often signing in may be tried: per client address, and per account from one client
address. Never per account alone, so that nobody's wrong guesses lock its owner out."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from pager.entrypoints.http.errors import ApiError
from pager.entrypoints.http.limits import RateLimiter

# Per (account, client address): ten at once, then one every five seconds: room for someone
# who mistypes, too little to guess one account's password from one place.
ACCOUNT_RATE, ACCOUNT_BURST = 0.2, 10
# Per client address, whatever the accounts: thirty at once (an office behind one NAT signing
# in on a Monday), then one a second, which slows one address trying many accounts.
CLIENT_RATE, CLIENT_BURST = 1.0, 30


class TooManyTries(Exception):
    def __init__(self, per_account: bool, retry_after: str) -> None:
        super().__init__(f"too many sign-in tries; retry after {retry_after} s")
        self.per_account = per_account
        self.retry_after = retry_after


class SignInLimiter:
    """Token buckets (`RateLimiter`), per process: with several, each has its own budget."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = RateLimiter(CLIENT_RATE, CLIENT_BURST, monotonic)
        self._account = RateLimiter(ACCOUNT_RATE, ACCOUNT_BURST, monotonic)

    def check(self, email: str, client_host: str | None) -> None:
        """Take one try at `email` from that client, or raise TooManyTries. The client's own
        budget pays for every try, those refused for the account included."""
        client = client_key(client_host)
        try:
            self._client.check(client)
        except ApiError as limited:
            raise TooManyTries(False, limited.headers["Retry-After"]) from None
        try:
            self._account.check(_account_key(email, client_host))
        except ApiError as limited:
            raise TooManyTries(True, limited.headers["Retry-After"]) from None

    def signed_in(self, email: str, client_host: str | None) -> None:
        """The right password from that client: its tries at `email` start afresh, so that
        someone who signs in often (a kiosk, a team's shared machine) is never refused. The
        client's own budget is kept: it still slows one address trying many accounts."""
        self._account.forget(_account_key(email, client_host))


def _account_key(email: str, client_host: str | None) -> str:
    return f"{client_key(client_host)}\n{email}"  # unambiguous: no address holds a line break


def client_key(host: str | None) -> str:
    """The client's address; for IPv6 its /64, which one subscriber is usually given whole."""
    if host is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address (a test client's name)
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
