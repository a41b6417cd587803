"""Moving in from another tool: what every importer shares. A source is read through a
read-only port; what it holds becomes a configuration file's data (the shape `pagerd apply`
reads) and a report of every object: moved, changed (and how), or left behind (and why)."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from pager.domain.people import known_time_zone
from pager.domain.policy import E164_PATTERN, USER_PATTERN
from pager.domain.schedule import WEEKDAYS

Outcome = Literal["moved", "changed", "left behind"]
T = TypeVar("T")
MAX_LEVELS = 20  # as the configuration file allows
MAX_TARGETS = 50
_NOT_ID = re.compile(r"[^a-z0-9]+")
DAY_MINUTES = 1440
WEEK_MINUTES = 7 * DAY_MINUTES


class SourceError(Exception):
    """The source could not be read: one line that says why (never a secret); `status`, the
    HTTP status that the source answered, if it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Source(Protocol):
    """A source's API, read only."""

    name: str
    """How the report and errors name it: "Opsgenie"."""

    def get(self, path_or_url: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON answer to a GET of `path_or_url` (a path, or a URL on the source's own
        host, such as a `next` page); raises SourceError."""
        ...


@dataclass(frozen=True, slots=True)
class Entry:
    outcome: Outcome
    kind: str
    name: str
    reason: str = ""

    def line(self) -> str:
        text = f"{self.outcome}: {self.kind} {self.name}"
        return f"{text}: {self.reason}" if self.reason else text

    def json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason}


@dataclass(slots=True)
class Report:
    """Every object once as moved, or once per change as changed, or as left behind."""

    _entries: list[Entry] = field(default_factory=list)

    def moved(self, kind: str, name: str) -> None:
        self._entries.append(Entry("moved", kind, name))

    def changed(self, kind: str, name: str, reason: str) -> None:
        self._entries.append(Entry("changed", kind, name, reason))

    def left(self, kind: str, name: str, reason: str) -> None:
        self._entries.append(Entry("left behind", kind, name, reason))

    def entries(self) -> tuple[Entry, ...]:
        """In the order heard; an object that changed is not also listed as moved."""
        changed = {(e.kind, e.name) for e in self._entries if e.outcome == "changed"}
        return tuple(
            e for e in self._entries if e.outcome != "moved" or (e.kind, e.name) not in changed
        )

    def lines(self) -> list[str]:
        entries = self.entries()
        counts = {o: sum(1 for e in entries if e.outcome == o) for o in _OUTCOMES}
        summary = ", ".join(f"{counts[o]} {o}" for o in _OUTCOMES)
        return [*(e.line() for e in entries), f"summary: {summary}"]

    def json(self, source: str) -> dict[str, Any]:
        entries = self.entries()
        data: dict[str, Any] = {"source": source}
        for outcome in _OUTCOMES:
            data[outcome.replace(" ", "_")] = [e.json() for e in entries if e.outcome == outcome]
        return data


_OUTCOMES: tuple[Outcome, ...] = ("moved", "changed", "left behind")


@dataclass(frozen=True, slots=True)
class Imported:
    """A configuration file's data, and what became of each object."""

    data: dict[str, Any]
    report: Report


class Ids:
    """Pager ids made from a source's names: the same names give the same ids, and two
    objects whose names read alike are told apart by the source's own id."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[tuple[str, str]] = set()

    def of(self, kind: str, source_id: str, name: str) -> str:
        if (kind, source_id) in self._given:
            return self._given[(kind, source_id)]
        base = slug(name) or slug(source_id) or kind
        candidate = base
        if (kind, candidate) in self._taken:
            candidate = f"{base[:54]}-{slug(source_id)[:8] or len(self._taken)}".strip("-")
        self._given[(kind, source_id)] = candidate
        self._taken.add((kind, candidate))
        return candidate


def slug(text: str) -> str:
    """`Payments On-Call (EU)` -> `payments-on-call-eu`, within Pager's id pattern."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_ID.sub("-", ascii_text.lower()).strip("-")[:63].strip("-")


def e164(country_dash_number: str) -> str | None:
    """A phone number as E.164, from `1-4155550100` (Opsgenie's country code, a dash, the
    number) or `+44 20 7946 0958`; a national trunk 0 after the country code is dropped.
    None if it does not make a number."""
    text = country_dash_number.strip()
    if "-" in text and not text.startswith("+"):
        country, _, national = text.partition("-")
        digits = "".join(c for c in national if c.isdigit()).lstrip("0")
        number = "+" + "".join(c for c in country if c.isdigit()) + digits
    else:
        number = "+" + "".join(c for c in text if c.isdigit())
    return number if E164_PATTERN.fullmatch(number) else None


def weekly_windows(spans: Iterable[tuple[int, int]]) -> list[dict[str, Any]]:
    """Spans [start, end) in minutes from Monday 00:00 (an end may pass into the next week)
    as Pager's weekly windows, each within a day: the same hours on several days are one
    window, a whole day two halves (a window from 00:00 to 00:00 is none)."""
    windows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for start, end in spans:
        for day, begin, finish in _pieces(start, end):
            windows[(clock(begin), clock(finish))].append(WEEKDAYS[day % 7])
    return [
        {"days": sorted(set(days), key=WEEKDAYS.index), "from": begin, "to": finish}
        for (begin, finish), days in sorted(windows.items())
    ]


def _pieces(start: int, end: int) -> Iterator[tuple[int, int, int]]:
    at = start
    while at < end:
        day = at // DAY_MINUTES
        finish = min(end, (day + 1) * DAY_MINUTES)
        begin_of_day, end_of_day = at - day * DAY_MINUTES, finish - day * DAY_MINUTES
        if begin_of_day == 0 and end_of_day == DAY_MINUTES:
            yield day, 0, DAY_MINUTES // 2
            yield day, DAY_MINUTES // 2, DAY_MINUTES
        else:
            yield day, begin_of_day, end_of_day
        at = finish


def clock(minutes: int) -> str:
    """Minutes of a day as HH:MM (the day's end as 00:00)."""
    minutes %= DAY_MINUTES
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def email_of(text: object) -> str | None:
    """A source's login as a Pager user's email (lower case), or None if it is not one."""
    email = str(text).strip().lower()
    return email if USER_PATTERN.fullmatch(email) else None


def time_zone(name: object, report: Report, kind: str, what: str) -> str:
    """The IANA zone `name`, or UTC (reported) when Pager does not know it."""
    zone = str(name or "UTC")
    if known_time_zone(zone):
        return zone
    report.changed(kind, what, f"time zone {zone!r} is unknown here: UTC instead")
    return "UTC"


def bounded(items: list[T], limit: int, report: Report, kind: str, what: str, noun: str) -> list[T]:
    """The first `limit` of `items`, reporting the rest as Pager's limit."""
    if len(items) > limit:
        report.changed(
            kind, what, f"only the first {limit} {noun} (Pager's limit), not {len(items)}"
        )
    return items[:limit]


def at_most(value: int, limit: int, report: Report, kind: str, what: str, noun: str) -> int:
    if value > limit:
        report.changed(kind, what, f"{noun} {limit} min (Pager's limit), not {value}")
    return min(value, limit)
