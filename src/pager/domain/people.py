"""People Pager pages: a user's contact methods and notification rules, and how a person is
resolved into pages (which method, after how long) when a level reaches them."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pager.domain.errors import ValidationFailed
from pager.domain.policy import (
    E164_PATTERN,
    EMAIL_PATTERN,
    ID_PATTERN,
    USER_PATTERN,
    EmailTarget,
    SmsTarget,
    VoiceTarget,
    valid_id,
)
from pager.domain.text import visible

ContactType = Literal["email", "sms", "voice"]
CONTACT_TYPES: tuple[ContactType, ...] = ("email", "sms", "voice")
MAX_NAME_LENGTH = 200
MAX_CONTACT_METHODS = 20
MAX_RULES = 50
MAX_DELAY_MINUTES = 24 * 60
MAX_REPEAT_MINUTES = 60
# Pages a repeating rule makes per step, the first included, unless an acknowledgement
# cancels the rest first: at the 1-minute bound, ten calls in nine minutes, by when the next
# level is usually paging too; at the 60-minute bound, nine hours. It bounds what one step
# writes (MAX_RULES x this many pages for one person) and what a forgotten phone rings.
MAX_REPEATS = 10


@dataclass(frozen=True, slots=True)
class ContactMethod:
    """Where a person can be paged. `id` is a slug unique among theirs, chosen by whoever
    writes it, so that rules and files can name it; `address` is an email address, or an
    E.164 phone number for sms and voice."""

    id: str
    type: ContactType
    address: str
    enabled: bool = True

    @property
    def target(self) -> EmailTarget | SmsTarget | VoiceTarget:
        """The address this method pages."""
        if self.type == "email":
            return EmailTarget(self.address)
        if self.type == "sms":
            return SmsTarget(self.address)
        return VoiceTarget(self.address)


@dataclass(frozen=True, slots=True)
class NotificationRule:
    """When paged for a level: this method, `delay_minutes` after the step; with
    `repeat_every_minutes`, again that often after it (MAX_REPEATS pages in all) until the
    incident is acknowledged: "call me until I answer"."""

    delay_minutes: int
    contact_method: str
    repeat_every_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    name: str = ""
    time_zone: str = "UTC"
    contact_methods: tuple[ContactMethod, ...] = ()
    rules: tuple[NotificationRule, ...] = ()

    def method(self, method_id: str) -> ContactMethod | None:
        for method in self.contact_methods:
            if method.id == method_id:
                return method
        return None


@dataclass(frozen=True, slots=True)
class PersonalPage:
    """One page a person's rules ask for: by `method`, `delay_minutes` after the step, and
    every `repeat_minutes` after that when the rule repeats."""

    method: ContactMethod
    delay_minutes: int
    repeat_minutes: int | None = None

    @property
    def precedence(self) -> tuple[int, bool, int]:
        return urgency(self.delay_minutes, self.repeat_minutes)


def urgency(delay: int, repeat: int | None) -> tuple[int, bool, int]:
    """What orders two pages to one address, the one to keep first: the earlier; on a tie,
    one that repeats, the more often the sooner."""
    return delay, repeat is None, repeat or 0


def personal_pages(person: Person) -> tuple[PersonalPage, ...]:
    """What paging `person` for a level means: each rule whose method is enabled, in rule
    order, once per method (when two rules name one method, the earliest; on a tie, the one
    that repeats, more often); a person without rules gets every enabled method at once.
    Empty when nothing is enabled."""
    if not person.rules:
        return tuple(PersonalPage(m, 0) for m in person.contact_methods if m.enabled)
    chosen: dict[str, PersonalPage] = {}
    for rule in person.rules:
        method = person.method(rule.contact_method)
        if method is None or not method.enabled:
            continue
        page = PersonalPage(method, rule.delay_minutes, rule.repeat_every_minutes)
        known = chosen.get(method.id)
        if known is None or page.precedence < known.precedence:
            chosen[method.id] = page
    return tuple(sorted(chosen.values(), key=lambda page: page.delay_minutes))


@cache
def available_time_zones() -> frozenset[str]:
    """Every IANA time zone name this system (or the tzdata package) knows."""
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: str) -> bool:
    """Whether `name` is one of them (exactly: no path, no spaces around it)."""
    return name in available_time_zones()


def validate_person(person: Person) -> Person:
    """Return the person if valid; raise ValidationFailed naming every wrong place, as
    "contact method 2 address" or "rule 1 contact_method"."""
    problems: list[tuple[str, str]] = []
    if not USER_PATTERN.fullmatch(person.email):
        problems.append(("email", f"{person.email!r} is not an email address"))
    if len(person.name) > MAX_NAME_LENGTH or not visible(person.name):
        problems.append(
            ("name", f"must have no invisible characters and at most {MAX_NAME_LENGTH}")
        )
    if not known_time_zone(person.time_zone):
        problems.append(("time_zone", f"{person.time_zone!r} is not an IANA time zone"))
    if len(person.contact_methods) > MAX_CONTACT_METHODS:
        problems.append(("contact_methods", f"at most {MAX_CONTACT_METHODS}"))
    if len(person.rules) > MAX_RULES:
        problems.append(("notification_rules", f"at most {MAX_RULES}"))
    seen: set[str] = set()
    for number, method in enumerate(person.contact_methods, start=1):
        where = f"contact method {number}"
        problems += _method_problems(where, method)
        if method.id in seen:
            problems.append((f"{where} id", f"{method.id!r} is given twice"))
        seen.add(method.id)
    for number, rule in enumerate(person.rules, start=1):
        where = f"notification rule {number}"
        if not 0 <= rule.delay_minutes <= MAX_DELAY_MINUTES:
            problems.append((f"{where} delay_minutes", f"must be from 0 to {MAX_DELAY_MINUTES}"))
        repeat = rule.repeat_every_minutes
        if repeat is not None and not 1 <= repeat <= MAX_REPEAT_MINUTES:
            problems.append(
                (f"{where} repeat_every_minutes", f"must be from 1 to {MAX_REPEAT_MINUTES}")
            )
        if rule.contact_method not in seen:
            problems.append(
                (f"{where} contact_method", f"{rule.contact_method!r} is not one of theirs")
            )
    if problems:
        raise ValidationFailed(tuple(problems))
    return person


def _method_problems(where: str, method: ContactMethod) -> list[tuple[str, str]]:
    problems = []
    if not valid_id(method.id):
        problems.append((f"{where} id", f"{method.id!r} must match {ID_PATTERN.pattern}"))
    if method.type not in CONTACT_TYPES:
        problems.append((f"{where} type", f"must be one of {', '.join(CONTACT_TYPES)}"))
    elif method.type == "email":
        if not EMAIL_PATTERN.fullmatch(method.address):
            problems.append((f"{where} address", f"{method.address!r} is not an email address"))
    elif not E164_PATTERN.fullmatch(method.address):
        problems.append(
            (
                f"{where} phone",
                f"{method.address!r} is not an E.164 phone number such as +14155550100",
            )
        )
    return problems
