"""The read-only HTTP source of the importers, on httpx's MockTransport: GETs only, never off
its host, 429 retried a bounded number of times after its Retry-After."""

from __future__ import annotations

import httpx
import pytest

from pager.adapters.http_source import ReadOnlyHttpSource
from pager.application.importing import SourceError


def source(handler: httpx.MockTransport) -> ReadOnlyHttpSource:
    return ReadOnlyHttpSource(
        "Opsgenie",
        "https://api.example.com",
        {},
        "KEY_VAR",
        transport=handler,
        sleep=lambda s: None,
    )


def test_the_source_sends_nothing_but_gets() -> None:
    seen: list[str] = []
    reader = source(httpx.MockTransport(lambda r: seen.append(r.method) or httpx.Response(200)))
    with pytest.raises(RuntimeError, match="never sends POST"):
        reader._client.post("https://api.example.com/v2/alerts", json={})
    assert seen == []
    assert not hasattr(reader, "post")


def test_the_source_follows_no_url_off_its_host() -> None:
    reader = source(httpx.MockTransport(lambda r: httpx.Response(200, json={"data": []})))
    with pytest.raises(SourceError, match="off its own host"):
        reader.get("https://elsewhere.example.net/v2/users?offset=20")


def test_429_is_retried_a_bounded_number_of_times() -> None:
    waits: list[float] = []
    reader = ReadOnlyHttpSource(
        "Opsgenie",
        "https://api.example.com",
        {},
        "KEY_VAR",
        transport=httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "2"})),
        sleep=waits.append,
    )
    with pytest.raises(SourceError, match="kept answering 429"):
        reader.get("/v2/users")
    assert waits == [2.0] * 5


def test_a_retry_after_too_long_is_reported_not_slept() -> None:
    reader = source(
        httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}))
    )
    with pytest.raises(SourceError, match="asks to wait 3600 s"):
        reader.get("/v2/users")
