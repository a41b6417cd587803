"""Signed JSON webhooks, and the HTTP delivery that the SMS and Slack channels share.

A webhook target receives one `POST` per notification, with these headers:

- `Content-Type: application/json`
- `Idempotency-Key: <notification id>`: the same on every attempt of one notification, so
  a receiver can drop the duplicate that a crash between its answer and our commit makes.
- `X-Pager-Signature: sha256=<hex>`, only when the target has a `secret`: the HMAC-SHA256
  of the raw request body, keyed with the secret. Verify it over the bytes received, before
  parsing, with a constant-time comparison.

and this body (`url` and `ack_url` are null when Pager has no public URL)::

    {
      "event": "incident.notify",
      "notification_id": "0190a3c4-...",
      "attempt": 1,
      "incident": {
        "id": "0190a3c2-...",
        "service": "checkout",
        "service_name": "Checkout API",
        "message": "HTTP 5xx above 5% for 5 minutes",
        "level": 1,
        "round": 1,
        "urgency": "high",
        "alert_count": 3,
        "opened_at": "2024-05-01T12:00:00Z",
        "url": "https://pager.example.com/incidents/0190a3c2-..."
      },
      "alert": {
        "severity": "critical",
        "labels": {"alertname": "HighErrorRate", "instance": "web-1"},
        "annotations": {"runbook_url": "https://runbooks.example.com/5xx"},
        "runbook": "https://runbooks.example.com/5xx",
        "dashboard": null,
        "links": [], "images": [], "details": {}, "tags": [],
        "entity": null, "source_url": "http://prometheus:9090/graph?..."
      },
      "ack_url": "https://pager.example.com/ack/..."
    }

`alert` is what the incident's first alert said (empty where it said nothing). `urgency` is
`low` for an incident that pages only email, chat and webhooks, and never escalates.

`attempt` counts from 1. Any 2xx answer is a delivery. 408, 425, 429 and 5xx answers and
network errors are retried (honouring `Retry-After`); any other answer, redirects included,
fails the notification for good. So does a host that resolves to a loopback, private,
link-local or metadata address, unless PAGER_ALLOW_PRIVATE_TARGETS is true.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
import json
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pager import __version__
from pager.adapters.notify.message import host_of, one_line, webhook_payload, wrong_target
from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.domain.addresses import ALLOW_PRIVATE_HINT, non_public_kind
from pager.domain.policy import WebhookTarget

DEFAULT_TIMEOUT = 10.0
USER_AGENT = f"Pager/{__version__}"
TRANSIENT_STATUSES = frozenset({408, 425, 429})
# What of a provider's answer goes into a failure reason (and so onto the timeline).
REASON_LIMIT = 200
_READ_LIMIT = 8192
_TAG = re.compile(r"<[A-Za-z!/?][^>]*>")
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

Describe = Callable[[httpx.Response], str]


def sign(body: bytes, secret: str) -> str:
    """The `X-Pager-Signature` header value for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class HttpChannel:
    """What the channels that POST to a URL share: an HTTP client (with none, each send
    opens and closes its own), a timeout, and, unless `allow_private`, the refusal of a host
    that resolves to a non-public address, as a permanent failure."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_private: bool = False,
    ) -> None:
        """With no `client`, each send opens and closes its own. Unless `allow_private`, a
        host that resolves to a non-public address is a permanent failure."""
        self._client = client
        self._timeout = timeout
        self._allow_private = allow_private

    async def _post(self, url: str, provider: str, **request: Any) -> httpx.Response:
        if not self._allow_private:
            await refuse_private(url, provider)
        return await post(self._client, url, provider=provider, timeout=self._timeout, **request)


class WebhookChannel(HttpChannel):
    """POSTs the notification as JSON to the target's URL."""

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, WebhookTarget):
            raise wrong_target("webhook", target)
        body = json.dumps(webhook_payload(notification), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notification.id,
            "User-Agent": USER_AGENT,
        }
        if target.secret:
            headers["X-Pager-Signature"] = sign(body, target.secret)
        await self._post(
            target.url, f"webhook {host_of(target.url)}", content=body, headers=headers
        )
        return None


@asynccontextmanager
async def http_client(
    shared: httpx.AsyncClient | None, timeout: float
) -> AsyncIterator[httpx.AsyncClient]:
    if shared is not None:
        yield shared
    else:
        async with httpx.AsyncClient(timeout=timeout) as client:
            yield client


async def post(
    client: httpx.AsyncClient | None,
    url: str,
    *,
    provider: str,
    timeout: float,
    describe: Describe | None = None,
    **request: Any,
) -> httpx.Response:
    """POST and return a 2xx response, or raise DeliveryFailed classified as transient or not.

    Reasons name the `provider`, never the URL: webhook URLs often carry a secret."""
    try:
        async with http_client(client, timeout) as http:
            response = await http.post(url, **request)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeliveryFailed(f"{provider}: invalid URL ({exc})", transient=False) from exc
    except httpx.TransportError as exc:
        raise DeliveryFailed(f"{provider}: {describe_error(exc)}", transient=True) from exc
    check(response, provider, describe or response_text)
    return response


async def refuse_private(url: str, provider: str) -> None:
    """Raise a permanent DeliveryFailed if `url`'s host resolves to a non-public address
    (loopback, private, link-local, metadata, ...: `non_public_kind`), or a transient one
    if it does not resolve. Resolved as httpx will (its IDNA encoding) and just before the
    request; a URL httpx cannot parse is left for the request to refuse."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return
    name = host.strip("[]")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DeliveryFailed(
            f"{provider}: cannot resolve {name} ({reason})", transient=True
        ) from exc
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        kind = non_public_kind(address)
        if kind is not None:
            shown = name if name == str(address) else f"{name} resolves to {address}, which"
            raise DeliveryFailed(
                f"{provider}: not sent, {shown} is {kind}; {ALLOW_PRIVATE_HINT}", transient=False
            )


def check(response: httpx.Response, provider: str, describe: Describe) -> None:
    status = response.status_code
    if response.is_success:
        return
    detail = plain_text(describe(response))
    reason = f"{provider} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status in TRANSIENT_STATUSES or status >= 500:
        raise DeliveryFailed(reason, transient=True, retry_after=retry_after(response))
    if response.is_redirect:
        reason += " (redirects are not followed: point the target at the final URL)"
    raise DeliveryFailed(reason, transient=False)


def describe_error(exc: httpx.TransportError) -> str:
    match exc:
        case httpx.ConnectTimeout():
            return "timed out connecting"
        case httpx.ReadTimeout():
            return "timed out waiting for the answer"
        case httpx.TimeoutException():
            return f"timed out ({type(exc).__name__})"
        case httpx.ConnectError():
            return f"could not connect ({exc})"
        case _:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def plain_text(text: str, limit: int = REASON_LIMIT) -> str:
    """A provider's answer fit for a failure reason: plain text on one line (an HTML page's
    title, or its text without tags; no control characters), at most `limit` characters."""
    text = text[:_READ_LIMIT]
    if _TAG.search(text):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", _HIDDEN.sub(" ", text))
        text = _TAG.sub(" ", html.unescape(text))
    return one_line(_CONTROL.sub(" ", text), limit)


def response_text(response: httpx.Response) -> str:
    """The error a receiver gave: a JSON `message` or `error` field, or its text."""
    try:
        data = response.json()
    except ValueError:
        return response.text
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            value = data.get(key)
            if isinstance(value, str):
                return value
    return response.text


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
