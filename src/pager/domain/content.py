"""What an alert's sender said about it, beyond its message: labels, annotations, links,
images, details, tags, the entity it is about and the URL of what generated it. Kept with
each alert as it was sent, within bounds (`check_content`): past them the alert is refused,
naming the field, never cut."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pager.domain.errors import ValidationFailed

Pairs = tuple[tuple[str, str], ...]

MAX_ENTRIES = 64  # labels, annotations, details: each
MAX_KEY = 128
MAX_VALUE = 16_384  # Opsgenie takes descriptions of 15,000 characters
MAX_LINKS = 20  # links, images: each (PagerDuty's own limit)
MAX_URL = 2048
MAX_LINK_TEXT = 1024
MAX_TAGS = 64
MAX_TAG = 128
MAX_ENTITY = 512
MAX_TOTAL = 65_536
"""Characters of all the content's keys, values, links and tags together."""

# The annotations (Prometheus's conventions, Grafana's) that name a runbook or a dashboard.
RUNBOOK_KEYS = ("runbook_url", "runbook")
DASHBOARD_KEYS = ("dashboard", "dashboard_url", "dashboardURL", "grafana_url")


@dataclass(frozen=True, slots=True)
class ChangeLink:
    """A link as a sender gave it: where it goes and, maybe, what it says."""

    href: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class AlertContent:
    """`images` are links whose `href` is the image and `text` its alternative text;
    `details` values that were not text are compact JSON."""

    labels: Pairs = ()
    annotations: Pairs = ()
    links: tuple[ChangeLink, ...] = ()
    images: tuple[ChangeLink, ...] = ()
    details: Pairs = ()
    tags: tuple[str, ...] = ()
    entity: str | None = None
    source_url: str | None = None

    def annotation(self, *names: str) -> str | None:
        """The first of these annotations that has a value."""
        found = dict(self.annotations)
        for name in names:
            if value := found.get(name, "").strip():
                return value
        return None

    @property
    def runbook(self) -> str | None:
        return self.annotation(*RUNBOOK_KEYS) or self._link_named("runbook")

    @property
    def dashboard(self) -> str | None:
        return self.annotation(*DASHBOARD_KEYS) or self._link_named("dashboard")

    def _link_named(self, word: str) -> str | None:
        for link in self.links:
            if link.text and word in link.text.lower():
                return link.href
        return None

    def references(self) -> tuple[ChangeLink, ...]:
        """Every link a reader can follow, named: runbook, dashboard, the sender's links,
        the source; each address once."""
        found: list[ChangeLink] = []
        if runbook := self.annotation(*RUNBOOK_KEYS):
            found.append(ChangeLink(runbook, "Runbook"))
        if dashboard := self.annotation(*DASHBOARD_KEYS):
            found.append(ChangeLink(dashboard, "Dashboard"))
        found += [ChangeLink(link.href, link.text or link.href) for link in self.links]
        if self.source_url:
            found.append(ChangeLink(self.source_url, "Source"))
        seen: set[str] = set()
        unique = []
        for link in found:
            if link.href not in seen:
                seen.add(link.href)
                unique.append(link)
        return tuple(unique)


NO_CONTENT = AlertContent()


def followable(url: str | None) -> str | None:
    """`url` if a reader's client may open it (http or https), else None: a sender's link
    never becomes a `javascript:` link or button."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


def _fits(content: AlertContent) -> bool:
    """Whether the content is within every bound: one quick pass, as every alert of a
    webhook is checked (which bound it breaks is found only when one does)."""
    total = len(content.entity or "") + len(content.source_url or "")
    if len(content.entity or "") > MAX_ENTITY or len(content.source_url or "") > MAX_URL:
        return False
    for pairs in (content.labels, content.annotations, content.details):
        if len(pairs) > MAX_ENTRIES:
            return False
        for key, value in pairs:
            if not 0 < len(key) <= MAX_KEY or len(value) > MAX_VALUE:
                return False
            total += len(key) + len(value)
    if content.links or content.images or content.tags:
        return total <= MAX_TOTAL and _fits_lists(content, MAX_TOTAL - total)
    return total <= MAX_TOTAL


def _fits_lists(content: AlertContent, room: int) -> bool:
    used = 0
    for links in (content.links, content.images):
        if len(links) > MAX_LINKS:
            return False
        for link in links:
            text = link.text or ""
            if not 0 < len(link.href) <= MAX_URL or len(text) > MAX_LINK_TEXT:
                return False
            used += len(link.href) + len(text)
    if len(content.tags) > MAX_TAGS or any(not 0 < len(tag) <= MAX_TAG for tag in content.tags):
        return False
    return used + sum(map(len, content.tags)) <= room


def check_content(content: AlertContent, names: Mapping[str, str] | None = None) -> None:
    """Refuses content past its bounds, naming each field that is (as `names` calls the
    domain's fields, for a sender whose fields are named otherwise)."""
    if content is NO_CONTENT or _fits(content):
        return
    raise ValidationFailed(tuple(content_problems(content, names or {})))


def content_problems(
    content: AlertContent, names: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """Each bound the content breaks, as (field, what it must be); none if it fits."""
    names = names or {}
    problems: list[tuple[str, str]] = []

    def name(field: str) -> str:
        return names.get(field, field)

    total = 0
    for field in ("labels", "annotations", "details"):
        pairs: Pairs = getattr(content, field)
        if len(pairs) > MAX_ENTRIES:
            problems.append((name(field), f"must have at most {MAX_ENTRIES} entries"))
        for key, value in pairs:
            if not key or len(key) > MAX_KEY:
                problems.append((name(field), f"keys must be 1 to {MAX_KEY} characters"))
            elif len(value) > MAX_VALUE:
                where = f"{name(field)}.{key}"
                problems.append((where, f"must be at most {MAX_VALUE} characters"))
            total += len(key) + len(value)
    for field in ("links", "images"):
        links: tuple[ChangeLink, ...] = getattr(content, field)
        if len(links) > MAX_LINKS:
            problems.append((name(field), f"must have at most {MAX_LINKS} entries"))
        for index, link in enumerate(links):
            if not link.href or len(link.href) > MAX_URL:
                problems.append(
                    (f"{name(field)}[{index}].href", f"must be 1 to {MAX_URL} characters")
                )
            if link.text is not None and len(link.text) > MAX_LINK_TEXT:
                where = f"{name(field)}[{index}].text"
                problems.append((where, f"must be at most {MAX_LINK_TEXT} characters"))
            total += len(link.href) + len(link.text or "")
    if len(content.tags) > MAX_TAGS:
        problems.append((name("tags"), f"must have at most {MAX_TAGS} entries"))
    if any(not tag or len(tag) > MAX_TAG for tag in content.tags):
        problems.append((name("tags"), f"each must be 1 to {MAX_TAG} characters"))
    total += sum(map(len, content.tags))
    if content.entity is not None and len(content.entity) > MAX_ENTITY:
        problems.append((name("entity"), f"must be at most {MAX_ENTITY} characters"))
    if content.source_url is not None and len(content.source_url) > MAX_URL:
        problems.append((name("source_url"), f"must be at most {MAX_URL} characters"))
    total += len(content.entity or "") + len(content.source_url or "")
    if not problems and total > MAX_TOTAL:
        problems.append((name("content"), f"must be at most {MAX_TOTAL} characters in all"))
    return problems
