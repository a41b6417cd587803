"""Escalation policies, levels and targets, with their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, assert_never
from urllib.parse import urlsplit

from pager.domain.addresses import private_host_problem
from pager.domain.errors import ValidationFailed
from pager.domain.text import HTTP_URL, INVISIBLE, WHITESPACE

DEFAULT_ACK_TIMEOUT_SECONDS = 900
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# Deliberately simple: one @, no spaces, a dotted domain. Real verification is the mail server's.
_ADDRESS = f"[^@.{WHITESPACE}{INVISIBLE}]"
EMAIL_PATTERN = re.compile(rf"[^@{WHITESPACE}{INVISIBLE}]+@{_ADDRESS}+(\.{_ADDRESS}+)+")
HTTP_URL_PATTERN = re.compile(HTTP_URL)
# Loose on purpose: a user's login, which looks like an address; `admin@localhost` is fine.
_LOGIN = f"[^@{WHITESPACE}{INVISIBLE}]"
USER_PATTERN = re.compile(rf"{_LOGIN}{{1,64}}@{_LOGIN}{{1,189}}")
E164_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}")
# A Slack channel's id, as Slack shows it under the channel's details: C..., G... or D....
SLACK_CHANNEL_PATTERN = re.compile(r"[CGD][A-Z0-9]{6,20}")


@dataclass(frozen=True, slots=True)
class EmailTarget:
    address: str
    type: Literal["email"] = "email"

    @property
    def key(self) -> str:
        return f"email:{self.address.lower()}"

    @property
    def label(self) -> str:
        """Who is paged, fit for logs and reasons (a webhook's URL may hold a secret)."""
        return f"email {self.address}"


@dataclass(frozen=True, slots=True)
class SmsTarget:
    phone: str
    type: Literal["sms"] = "sms"

    @property
    def key(self) -> str:
        return f"sms:{self.phone}"

    @property
    def label(self) -> str:
        """Who is paged, fit for logs and reasons (a webhook's URL may hold a secret)."""
        return f"sms {self.phone}"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: str | None = None
    type: Literal["webhook"] = "webhook"

    @property
    def key(self) -> str:
        return f"webhook:{self.url}"

    @property
    def label(self) -> str:
        """Who is paged, fit for logs and reasons (a webhook's URL may hold a secret)."""
        return f"webhook {_host(self.url)}"


@dataclass(frozen=True, slots=True)
class SlackTarget:
    """A Slack channel: `url`, an incoming webhook (a message with the ack link), or
    `channel`, a channel id the Slack app posts to with the bot token (a message with
    Acknowledge / Resolve / Escalate buttons). Exactly one of the two."""

    url: str | None = None
    channel: str | None = None
    type: Literal["slack"] = "slack"

    @property
    def key(self) -> str:
        if self.channel is not None:
            return f"slack:channel:{self.channel}"
        return f"slack:{self.url}"

    @property
    def label(self) -> str:
        """Who is paged, fit for logs and reasons (a webhook's URL may hold a secret)."""
        if self.channel is not None:
            return f"slack channel {self.channel}"
        return f"slack {_host(self.url or '')}"


@dataclass(frozen=True, slots=True)
class TeamsTarget:
    """A Microsoft Teams channel's incoming webhook (an Adaptive Card)."""

    url: str
    type: Literal["teams"] = "teams"

    @property
    def key(self) -> str:
        return f"teams:{self.url}"

    @property
    def label(self) -> str:
        return f"teams {_host(self.url)}"


@dataclass(frozen=True, slots=True)
class MattermostTarget:
    """A Mattermost channel's incoming webhook."""

    url: str
    type: Literal["mattermost"] = "mattermost"

    @property
    def key(self) -> str:
        return f"mattermost:{self.url}"

    @property
    def label(self) -> str:
        return f"mattermost {_host(self.url)}"


@dataclass(frozen=True, slots=True)
class VoiceTarget:
    """A phone call (Twilio's Calls API): it says the page and takes a key press, 1 to
    acknowledge, 2 to escalate."""

    phone: str
    type: Literal["voice"] = "voice"

    @property
    def key(self) -> str:
        return f"voice:{self.phone}"

    @property
    def label(self) -> str:
        return f"voice {self.phone}"


@dataclass(frozen=True, slots=True)
class UserTarget:
    """A person, paged through their own contact methods and notification rules."""

    user: str
    type: Literal["user"] = "user"

    @property
    def key(self) -> str:
        return f"user:{self.user.lower()}"

    @property
    def label(self) -> str:
        return f"user {self.user}"


@dataclass(frozen=True, slots=True)
class ScheduleTarget:
    """Whoever a schedule has on call at the step, each through their own rules."""

    schedule: str
    type: Literal["schedule"] = "schedule"

    @property
    def key(self) -> str:
        return f"schedule:{self.schedule}"

    @property
    def label(self) -> str:
        return f"schedule {self.schedule}"


Address = (
    EmailTarget
    | SmsTarget
    | VoiceTarget
    | WebhookTarget
    | SlackTarget
    | TeamsTarget
    | MattermostTarget
)
"""Where a page is sent."""
Target = Address | UserTarget | ScheduleTarget
"""What a level names: an address, a person, or a schedule's people."""


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


@dataclass(frozen=True, slots=True)
class Level:
    targets: tuple[Target, ...]
    ack_timeout_seconds: int = DEFAULT_ACK_TIMEOUT_SECONDS


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    id: str
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0

    def level(self, number: int) -> Level:
        """The 1-based level `number`."""
        return self.levels[number - 1]


@dataclass(slots=True)
class _Problems:
    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.found.append((where, what))


def valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None


def target_problem(target: Target, *, allow_private: bool = False) -> str | None:
    """What is wrong with one target, or None. Unless `allow_private`, a webhook or Slack
    URL whose host is a non-public IP address or a name for this machine is wrong (a name
    that only resolves to one is refused when a page is sent)."""
    match target:
        case EmailTarget(address=address):
            if not EMAIL_PATTERN.fullmatch(address):
                return f"{address!r} is not an email address"
        case SmsTarget(phone=phone) | VoiceTarget(phone=phone):
            if not E164_PATTERN.fullmatch(phone):
                return f"{phone!r} is not an E.164 phone number such as +14155550100"
        case UserTarget(user=user):
            if not USER_PATTERN.fullmatch(user):
                return f"{user!r} is not a user's email address"
        case ScheduleTarget(schedule=schedule):
            if not valid_id(schedule):
                return f"{schedule!r} is not a schedule id ({ID_PATTERN.pattern})"
        case SlackTarget():
            return _slack_problem(target, allow_private)
        case WebhookTarget(url=url) | TeamsTarget(url=url) | MattermostTarget(url=url):
            return _url_problem(url, allow_private)
        case _:
            assert_never(target)
    return None


def _url_problem(url: str, allow_private: bool) -> str | None:
    if not _is_http_url(url):
        return f"{url!r} is not an http(s) URL"
    if not allow_private:
        return private_host_problem(_host(url))
    return None


def _slack_problem(target: SlackTarget, allow_private: bool) -> str | None:
    if target.url is not None and target.channel is not None:
        return "a Slack target has a url (incoming webhook) or a channel (the app), not both"
    if target.url is not None:
        return _url_problem(target.url, allow_private)
    if target.channel is None:
        return "a Slack target needs a url (incoming webhook) or a channel (the app)"
    if not SLACK_CHANNEL_PATTERN.fullmatch(target.channel):
        return f"{target.channel!r} is not a Slack channel id such as C0123ABCD"
    return None


def _is_http_url(url: str) -> bool:
    if not HTTP_URL_PATTERN.fullmatch(url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:  # a host that changes under NFKC normalization, as IDNA reads it
        return False
    return bool(parts.hostname)


def validate_policy(policy: EscalationPolicy, *, allow_private: bool = False) -> EscalationPolicy:
    """Return the policy if it is valid; raise ValidationFailed naming every wrong place.
    Private targets are wrong unless `allow_private` (see `target_problem`)."""
    problems = _Problems()
    if not valid_id(policy.id):
        problems.add("id", f"{policy.id!r} must match {ID_PATTERN.pattern}")
    if not policy.name.strip():
        problems.add("name", "must not be empty")
    if policy.repeat < 0:
        problems.add("repeat", "must be 0 or more")
    if not policy.levels:
        problems.add("levels", "a policy needs at least one level")
    for number, level in enumerate(policy.levels, start=1):
        where = f"level {number}"
        if level.ack_timeout_seconds < 1:
            problems.add(f"{where} ack_timeout_seconds", "must be at least 1")
        if not level.targets:
            problems.add(where, "a level needs at least one target")
        seen: set[str] = set()
        for index, target in enumerate(level.targets, start=1):
            problem = target_problem(target, allow_private=allow_private)
            if problem:
                problems.add(f"{where} target {index}", problem)
            elif target.key in seen:
                problems.add(f"{where} target {index}", "the same target is listed twice")
            seen.add(target.key)
    if problems.found:
        raise ValidationFailed(tuple(problems.found))
    return policy
