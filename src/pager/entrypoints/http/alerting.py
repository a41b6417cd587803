"""The one way every endpoint turns a request into commands and commits them: through group
commit (concurrent requests share a transaction; each is answered after the commit that
holds it), with alerts counted in the metrics."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence

from prometheus_client import Counter

from pager.application.handlers import AlertOutcome, Outcome, Result, alert_outcome
from pager.domain.commands import ReceiveAlert, ServiceCommand
from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.errors import DomainError
from pager.domain.severity import Severity
from pager.entrypoints.http.context import Context
from pager.metrics import ALERTS_RECEIVED, INCIDENTS_OPENED


async def commit(ctx: Context, commands: Sequence[ServiceCommand]) -> list[Outcome]:
    """Committed when it returns (so a 2xx may follow). Raises the first command's
    DomainError, if one was refused."""
    return _accepted(await ctx.commits.submit_async(commands))


def commit_blocking(ctx: Context, commands: Sequence[ServiceCommand]) -> list[Outcome]:
    """`commit` for a synchronous endpoint (FastAPI runs those in a thread pool)."""
    return _accepted(ctx.commits.submit_many(commands).result())


def _accepted(results: list[Result]) -> list[Outcome]:
    outcomes = []
    for result in results:
        if isinstance(result, DomainError):
            raise result
        outcomes.append(result)
    return outcomes


def counted(command: ReceiveAlert, outcome: Outcome) -> AlertOutcome:
    """The alert's outcome, counted in the metrics. A trigger for a key that is still firing
    changes nothing and never restarts the escalation (the domain sees to that)."""
    [result] = counted_all([command], [outcome])
    return result


def counted_all(
    commands: Sequence[ReceiveAlert], outcomes: Sequence[Outcome]
) -> list[AlertOutcome]:
    """`counted` for the alerts of one request, of one source: each counter moved once."""
    results = [alert_outcome(c, o) for c, o in zip(commands, outcomes, strict=True)]
    if commands:
        _received(commands[0].source).inc(len(commands))
    opened = sum(result.action == "opened" and bool(result.events) for result in results)
    if opened:
        INCIDENTS_OPENED.inc(opened)
    return results


@functools.lru_cache(maxsize=64)
def _received(source: str) -> Counter:
    """The counter of one source's alerts: looking a child up by its label costs more than
    counting (a webhook counts a hundred alerts)."""
    return ALERTS_RECEIVED.labels(source)


async def receive_alert(
    ctx: Context,
    service_id: str,
    message: str,
    *,
    dedup_key: str | None,
    severity: Severity | None,
    source: str,
    content: AlertContent = NO_CONTENT,
) -> AlertOutcome:
    command = ctx.handlers.alert_command(
        service_id, message, dedup_key=dedup_key, severity=severity, source=source, content=content
    )
    [outcome] = await commit(ctx, [command])
    return counted(command, outcome)


def clean(value: str, max_length: int) -> str:
    """Text from a monitoring tool made storable: no NUL or lone surrogates, not too long.
    Integrations are lenient where the API is strict: a tool cannot fix its payload."""
    value = value.replace("\x00", "")
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:max_length]


def storable(value: str) -> str:
    """`clean` without the cut: for what an alert says, which is refused past its bounds,
    never cut."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def detail_text(value: object) -> str:
    """A detail's value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return storable(value)
    return storable(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def details(values: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
    return tuple((storable(k), detail_text(v)) for k, v in (values or {}).items())


def storable_all(pairs: Mapping[str, str]) -> bool:
    """Whether every key and value is storable as it is (the usual case: ASCII, no NUL),
    found quicker than making each one so."""
    for key, value in pairs.items():
        if not (key.isascii() and value.isascii()) or "\x00" in key or "\x00" in value:
            return False
    return True
