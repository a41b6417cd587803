"""A source's REST API over HTTP, read only: this client has no way to send anything but a
GET, and refuses to follow a URL off the source's own host (where its key would go)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from pager.application.importing import SourceError

MAX_RETRIES = 5
MAX_RETRY_AFTER = 60.0  # seconds; a longer wait is reported rather than slept through
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ReadOnlyHttpSource:
    """`get` JSON from `base_url` with `headers` (the credentials); 429 is retried after its
    Retry-After (at most MAX_RETRIES times, MAX_RETRY_AFTER seconds each)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        headers: Mapping[str, str],
        credential: str,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/") + "/"
        self._credential = credential
        self._sleep = sleep
        self._client = httpx.Client(
            headers={"Accept": "application/json", **headers},
            timeout=TIMEOUT,
            transport=transport,
            follow_redirects=False,
            event_hooks={"request": [_only_get]},
        )

    def close(self) -> None:
        self._client.close()

    def get(self, path_or_url: str, params: Mapping[str, str] | None = None) -> Any:
        url = self._url(path_or_url)
        for attempt in range(MAX_RETRIES + 1):
            response = self._send(url, params)
            if response.status_code != 429 or attempt == MAX_RETRIES:
                break
            wait = _retry_after(response.headers.get("Retry-After"), attempt)
            if wait > MAX_RETRY_AFTER:
                raise SourceError(f"{self.name} asks to wait {wait:.0f} s (429); try again later")
            self._sleep(wait)
        return self._json(url, response)

    def _url(self, path_or_url: str) -> str:
        url = urljoin(self._base, path_or_url.lstrip("/"))
        if urlsplit(url)[:2] != urlsplit(self._base)[:2]:
            raise SourceError(f"{self.name} pointed to {url}, off its own host; not followed")
        return url

    def _send(self, url: str, params: Mapping[str, str] | None) -> httpx.Response:
        try:
            return self._client.get(url, params=params)
        except httpx.TimeoutException:
            raise SourceError(f"{self.name} at {self._base} did not answer in time") from None
        except httpx.HTTPError as error:
            raise SourceError(f"cannot reach {self.name} at {self._base}: {error}") from None

    def _json(self, url: str, response: httpx.Response) -> Any:
        path = urlsplit(url).path
        status = response.status_code
        if status in (401, 403):
            raise SourceError(
                f"{self.name} refused the key in {self._credential} ({status} on GET {path}): "
                f"{_message(response) or 'not authorized'}",
                status,
            )
        if status == 429:
            raise SourceError(f"{self.name} kept answering 429 (too many requests) on GET {path}")
        if status != 200:
            detail = _message(response)
            raise SourceError(
                f"{self.name} answered {status} on GET {path}" + (f": {detail}" if detail else ""),
                status,
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SourceError(f"{self.name} answered GET {path} with something not JSON") from None


def _only_get(request: httpx.Request) -> None:
    if request.method != "GET":
        raise RuntimeError(f"a read-only source never sends {request.method}")


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return max(0.0, float(value)) if value is not None else float(2**attempt)
    except ValueError:
        return float(2**attempt)  # an HTTP date, or nonsense: back off


def _message(response: httpx.Response) -> str:
    """The error body's message, on one line (Opsgenie: {"message": ...})."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    message = body.get("message") or body.get("detail") if isinstance(body, dict) else None
    return " ".join(str(message).split())[:200] if message else ""
