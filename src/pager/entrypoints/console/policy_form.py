"""The escalation policy editor's form: a draft kept exactly as typed, the edits its buttons
make (add, remove, move levels and targets), and its translation into a policy with every
problem tied to the field it is about.

Fields are numbered from 1, as people and the domain's messages count:
`level-2-timeout`, `level-2-target-1-type`, `level-2-target-1-value`, `...-secret`.

A webhook's secret is write-only: the page never holds the stored one. A target that had one
carries, in `...-kept`, the URL it was stored with; saving keeps that secret unless a new one
is typed (`...-secret`) or `...-clear` is ticked. The URL, not the target's place, says whose
secret it is, so that moving targets or another admin's edit in between cannot hand one
webhook's secret to another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pager.domain.errors import ValidationFailed
from pager.domain.policy import (
    DEFAULT_ACK_TIMEOUT_SECONDS,
    ID_PATTERN,
    EmailTarget,
    EscalationPolicy,
    Level,
    MattermostTarget,
    ScheduleTarget,
    SlackTarget,
    SmsTarget,
    Target,
    TeamsTarget,
    UserTarget,
    VoiceTarget,
    WebhookTarget,
    target_problem,
    validate_policy,
)
from pager.entrypoints.console.display import parse_timeout, timeout_input
from pager.entrypoints.http.schemas import MAX_ACK_TIMEOUT_SECONDS, MAX_REPEAT

T = TypeVar("T")
TARGET_TYPES = (
    "user",
    "schedule",
    "email",
    "sms",
    "voice",
    "webhook",
    "slack",
    "teams",
    "mattermost",
)
MAX_LEVELS = 20
MAX_TARGETS = 50
MAX_NAME = 200
_MAX_VALUE = {
    "user": 254,
    "schedule": 63,
    "email": 254,
    "sms": 32,
    "voice": 32,
    "webhook": 512,
    "slack": 512,
    "teams": 512,
    "mattermost": 512,
}
_MAX_SECRET = 256
_LEVEL_FIELD = re.compile(r"level-(\d{1,4})-timeout")
_TARGET_FIELD = re.compile(r"level-(\d{1,4})-target-(\d{1,4})-type")
_DOMAIN_WHERE = re.compile(r"level (\d+)(?: (ack_timeout_seconds)| target (\d+))?")
_PHONE_PUNCTUATION = str.maketrans("", "", " -().")


@dataclass
class TargetDraft:
    type: str = "email"
    value: str = ""
    secret: str = ""  # a new secret as typed, never the stored one
    kept: str = ""  # the URL of the stored webhook whose secret this target keeps
    clear: bool = False


@dataclass
class LevelDraft:
    timeout: str = timeout_input(DEFAULT_ACK_TIMEOUT_SECONDS)
    targets: list[TargetDraft] = field(default_factory=lambda: [TargetDraft()])


@dataclass
class PolicyDraft:
    id: str = ""
    name: str = ""
    repeat: str = "0"
    levels: list[LevelDraft] = field(default_factory=lambda: [LevelDraft()])

    @classmethod
    def of(cls, policy: EscalationPolicy) -> PolicyDraft:
        return cls(
            policy.id,
            policy.name,
            str(policy.repeat),
            [
                LevelDraft(
                    timeout_input(level.ack_timeout_seconds),
                    [_target_draft(target) for target in level.targets],
                )
                for level in policy.levels
            ],
        )

    @classmethod
    def from_form(cls, form: Mapping[str, object], policy_id: str | None = None) -> PolicyDraft:
        """The draft as posted. Numbering gaps are closed; at most MAX_LEVELS levels of
        MAX_TARGETS targets are read, whatever the form holds."""
        text = _Text(form)
        numbered: dict[int, tuple[str, list[tuple[int, TargetDraft]]]] = {}
        for name in form:
            match = _LEVEL_FIELD.fullmatch(name)
            if match and len(numbered) < MAX_LEVELS:
                numbered[int(match[1])] = (text(name, 50), [])
        for name in form:
            match = _TARGET_FIELD.fullmatch(name)
            if not match or int(match[1]) not in numbered:
                continue
            targets = numbered[int(match[1])][1]
            if len(targets) < MAX_TARGETS:
                prefix = name.removesuffix("-type")
                draft = TargetDraft(
                    text(name, 20),
                    text(f"{prefix}-value", 600),
                    text(f"{prefix}-secret", 600),
                    text(f"{prefix}-kept", 600),
                    bool(text(f"{prefix}-clear", 10)),
                )
                targets.append((int(match[2]), draft))
        levels = [
            LevelDraft(timeout, [draft for _, draft in sorted(targets, key=lambda p: p[0])])
            for _, (timeout, targets) in sorted(numbered.items())
        ]
        return cls(
            policy_id if policy_id is not None else text("id", 100),
            text("name", MAX_NAME + 100),
            text("repeat", 20),
            levels,
        )

    # -- the editor's buttons

    def apply(self, op: str) -> None:
        """Carry out one button's edit; an op that names nothing is ignored."""
        verb, _, where = op.partition(":")
        numbers = [int(n) for n in where.split(":") if n.isdigit() and len(n) < 5]
        if verb == "add-level" and len(self.levels) < MAX_LEVELS:
            self.levels.append(LevelDraft())
        elif verb in ("remove-level", "up-level", "down-level") and len(numbers) == 1:
            _edit(self.levels, verb.split("-")[0], numbers[0])
        elif verb == "add-target" and len(numbers) == 1 and 1 <= numbers[0] <= len(self.levels):
            targets = self.levels[numbers[0] - 1].targets
            if len(targets) < MAX_TARGETS:
                targets.append(TargetDraft())
        elif verb in ("remove-target", "up-target", "down-target") and len(numbers) == 2:
            level, number = numbers
            if 1 <= level <= len(self.levels):
                _edit(self.levels[level - 1].targets, verb.split("-")[0], number)

    # -- saving

    def to_policy(
        self, stored: EscalationPolicy | None = None, *, allow_private: bool = False
    ) -> EscalationPolicy:
        """The policy, or ValidationFailed whose `where`s are this form's field names.
        Webhooks that keep their secret find it in `stored`, the policy as saved;
        `allow_private`: whether it may page private addresses (`target_problem`)."""
        problems: dict[str, str] = {}
        if not ID_PATTERN.fullmatch(self.id):
            problems["id"] = (
                "use 1 to 63 lower-case letters, digits and dashes, starting with a letter or digit"
            )
        if not self.name:
            problems["name"] = "give the policy a name"
        elif len(self.name) > MAX_NAME:
            problems["name"] = f"at most {MAX_NAME} characters"
        repeat = int(self.repeat) if self.repeat.isdigit() and len(self.repeat) < 5 else None
        if repeat is None or repeat > MAX_REPEAT:
            problems["repeat"] = f"a whole number from 0 to {MAX_REPEAT}"
        if not self.levels:
            problems["levels"] = "a policy needs at least one level"
        secrets = _secrets(stored)
        levels = [
            self._level(number, level, secrets, problems, allow_private)
            for number, level in enumerate(self.levels, start=1)
        ]
        if problems:
            raise ValidationFailed(tuple(problems.items()))
        policy = EscalationPolicy(self.id, self.name, tuple(levels), repeat or 0)
        try:
            return validate_policy(policy, allow_private=allow_private)
        except ValidationFailed as failed:
            # What the checks above missed, said by the domain and tied to a field here.
            raise ValidationFailed(
                tuple((field_of(where), what) for where, what in failed.problems)
            ) from None

    def _level(
        self,
        number: int,
        draft: LevelDraft,
        secrets: Mapping[str, str],
        problems: dict[str, str],
        allow_private: bool,
    ) -> Level:
        timeout = parse_timeout(draft.timeout)
        if timeout is None or timeout < 1:
            problems[f"level-{number}-timeout"] = (
                "write seconds (90 or 90s), minutes (15m) or hours (1h)"
            )
        elif timeout > MAX_ACK_TIMEOUT_SECONDS:
            problems[f"level-{number}-timeout"] = "at most 7 days (168h)"
        if not draft.targets:
            problems[f"level-{number}"] = "a level needs at least one target"
        targets: list[Target] = []
        seen: set[str] = set()
        for index, target_draft in enumerate(draft.targets, start=1):
            where = f"level-{number}-target-{index}"
            target, problem = _target(target_draft, secrets, allow_private)
            if problem is None and target is not None and target.key in seen:
                problem = "this target is already on this level"
            if problem is not None:
                problems[where] = problem
            if target is not None:
                seen.add(target.key)
                targets.append(target)
        return Level(tuple(targets), timeout or DEFAULT_ACK_TIMEOUT_SECONDS)


def field_of(where: str) -> str:
    """The form field a domain problem's `where` ("level 2 target 1", ...) is about."""
    match = _DOMAIN_WHERE.fullmatch(where)
    if match is None:
        return where
    level, timeout, target = match.groups()
    if timeout:
        return f"level-{level}-timeout"
    if target:
        return f"level-{level}-target-{target}"
    return f"level-{level}"


def _secrets(policy: EscalationPolicy | None) -> dict[str, str]:
    """The stored secrets of a policy's webhooks, by URL."""
    if policy is None:
        return {}
    return {
        target.url: target.secret
        for level in policy.levels
        for target in level.targets
        if isinstance(target, WebhookTarget) and target.secret
    }


def _secret(draft: TargetDraft, secrets: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The secret a webhook draft saves, or the problem with it."""
    if draft.secret and draft.clear:
        return None, "type a new secret or remove the secret, not both"
    if len(draft.secret) > _MAX_SECRET:
        return None, f"the secret is at most {_MAX_SECRET} characters"
    if draft.secret or draft.clear or not draft.kept:
        return draft.secret or None, None
    if draft.kept not in secrets:
        return None, "its secret was changed elsewhere since this page was loaded: type it again"
    return secrets[draft.kept], None


def _target(
    draft: TargetDraft, secrets: Mapping[str, str], allow_private: bool
) -> tuple[Target | None, str | None]:
    if draft.type not in TARGET_TYPES:
        return (
            None,
            "choose a user, a schedule, email, SMS, voice, webhook, Slack, Teams or Mattermost",
        )
    value = draft.value
    if not value:
        return None, {
            "user": "enter the user's email address",
            "schedule": "enter the schedule's id",
            "email": "enter an email address",
            "sms": "enter a phone number such as +14155550100",
            "voice": "enter a phone number such as +14155550100",
            "slack": "enter the incoming webhook's URL, or the channel id the app posts to",
        }.get(draft.type, "enter the URL")
    if len(value) > _MAX_VALUE[draft.type]:
        return None, f"at most {_MAX_VALUE[draft.type]} characters"
    target: Target
    match draft.type:
        case "user":
            target = UserTarget(value.lower())
        case "schedule":
            target = ScheduleTarget(value)
        case "email":
            target = EmailTarget(value)
        case "sms":
            target = SmsTarget(value.translate(_PHONE_PUNCTUATION))
        case "voice":
            target = VoiceTarget(value.translate(_PHONE_PUNCTUATION))
        case "webhook":
            secret, problem = _secret(draft, secrets)
            if problem is not None:
                return None, problem
            target = WebhookTarget(value, secret)
        case "teams":
            target = TeamsTarget(value)
        case "mattermost":
            target = MattermostTarget(value)
        case _ if value.lower().startswith(("http://", "https://")):
            target = SlackTarget(value)
        case _:
            target = SlackTarget(channel=value)
    problem = target_problem(target, allow_private=allow_private)
    if problem is not None and draft.type in ("sms", "voice"):
        problem = f"{value!r} is not a phone number in international form, such as +14155550100"
    return target, problem


def _target_draft(target: Target) -> TargetDraft:
    match target:
        case UserTarget(user=user):
            return TargetDraft("user", user)
        case ScheduleTarget(schedule=schedule):
            return TargetDraft("schedule", schedule)
        case VoiceTarget(phone=phone):
            return TargetDraft("voice", phone)
        case EmailTarget(address=address):
            return TargetDraft("email", address)
        case SmsTarget(phone=phone):
            return TargetDraft("sms", phone)
        case WebhookTarget(url=url, secret=secret):
            return TargetDraft("webhook", url, kept=url if secret else "")
        case SlackTarget(url=url, channel=channel):
            return TargetDraft("slack", url or channel or "")
        case TeamsTarget(url=url):
            return TargetDraft("teams", url)
        case MattermostTarget(url=url):
            return TargetDraft("mattermost", url)


def _edit(items: list[T], verb: str, number: int) -> None:
    index = number - 1
    if not 0 <= index < len(items):
        return
    if verb == "remove":
        del items[index]
    elif verb == "up" and index > 0:
        items[index - 1], items[index] = items[index], items[index - 1]
    elif verb == "down" and index < len(items) - 1:
        items[index + 1], items[index] = items[index], items[index + 1]


class _Text:
    """Text fields of a posted form: missing or not text is "", NULs dropped, cut short."""

    def __init__(self, form: Mapping[str, object]) -> None:
        self._form = form

    def __call__(self, name: str, max_length: int) -> str:
        value = self._form.get(name, "")
        if not isinstance(value, str):
            return ""
        return value.replace("\x00", "").strip()[:max_length]
