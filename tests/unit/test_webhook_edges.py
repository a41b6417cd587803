"""The HTTP channels' helpers at their edges: a provider's Retry-After in both of its forms,
transport errors named for the timeline, and private addresses refused however written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from pager.adapters.notify.webhook import describe_error, refuse_private, retry_after
from pager.application.ports import DeliveryFailed

NOW = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)


def answer(**headers: str) -> httpx.Response:
    return httpx.Response(429, headers=headers)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:28:30 -0000", 30.0),  # no zone said: UTC
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # already past
        ("", None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(header: str, seconds: float | None) -> None:
    assert retry_after(answer(**{"Retry-After": header}), NOW) == seconds


def test_no_retry_after_is_none() -> None:
    assert retry_after(answer(), NOW) is None


def test_a_retry_after_date_is_counted_from_now_by_default() -> None:
    late = retry_after(answer(**{"Retry-After": "Wed, 21 Oct 2099 07:28:30 GMT"}))
    assert late is not None
    assert late > 365 * 24 * 3600


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (httpx.ConnectTimeout("x"), "timed out connecting"),
        (httpx.ReadTimeout("x"), "timed out waiting for the answer"),
        (httpx.WriteTimeout("x"), "timed out (WriteTimeout)"),
        (httpx.ConnectError("refused"), "could not connect (refused)"),
        (httpx.RemoteProtocolError("bad answer"), "RemoteProtocolError: bad answer"),
        (httpx.RemoteProtocolError(""), "RemoteProtocolError"),
    ],
)
def test_transport_errors_are_named(error: httpx.TransportError, described: str) -> None:
    assert describe_error(error) == described


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1 is"),
        ("http://[::1]:8080/hook", "::1 is"),
        ("https://localhost/hook", "localhost resolves to"),
    ],
)
def test_a_private_address_is_refused_for_good(url: str, shown: str) -> None:
    with pytest.raises(DeliveryFailed) as refused:
        asyncio.run(refuse_private(url, "Webhook"))
    assert not refused.value.transient
    assert refused.value.reason.startswith(f"Webhook: not sent, {shown}")
