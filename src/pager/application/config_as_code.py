"""Configuration as code: the desired escalation policies, services, heartbeats, users and
schedules,
compared with what the database holds, as a plan of changes that runs through the handlers
(policies and services are event-sourced like every other change), the accounts and the
schedules.

Nothing is deleted unless the caller asks to prune, and then only in the sections the
configuration has: a file without `users` leaves every user alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pager.application.accounts import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    USER_EMAIL_PATTERN,
    Accounts,
    IssuedKey,
    Role,
)
from pager.application.queries import MaintenanceView, ReadModel
from pager.application.schedules import Schedules
from pager.domain import heartbeat
from pager.domain.errors import ValidationFailed
from pager.domain.maintenance import MAX_LENGTH, MAX_WINDOWS
from pager.domain.people import ContactMethod, NotificationRule, Person, validate_person
from pager.domain.policy import (
    ID_PATTERN,
    USER_PATTERN,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    UserTarget,
    WebhookTarget,
    valid_id,
    validate_policy,
)
from pager.domain.schedule import Override, Schedule, validate_schedule
from pager.domain.severity import Severity

MAX_NAME_LENGTH = 200
PASSWORD_CHANGED = "password"  # noqa: S105 (a word in a diff, not a password)
KEY_FROM_FILE = "integration key from the file"

Kind = Literal[
    "escalation policy",
    "service",
    "heartbeat",
    "user",
    "schedule",
    "schedule override",
    "maintenance window",
]
Action = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    start: datetime
    end: datetime
    ended: bool = False
    """In the database, and over: a listed window like it is not made again (it may have
    been ended early), and export leaves it out."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    id: str
    name: str
    escalation_policy: str
    low_urgency_severities: tuple[Severity, ...] = ()
    """Highest first, as the service keeps them."""
    maintenance: tuple[WindowSpec, ...] | None = None
    """Windows listed are added if missing (and not over), never removed or changed: a
    window set by hand stays. None: not managed."""
    integration_key: str | None = field(default=None, compare=False, repr=False)
    """A key to take over (an importer's --keep-keys); None issues one if there is none. The
    database keeps only its hash, so it takes no part in comparing services."""


@dataclass(frozen=True, slots=True)
class HeartbeatSpec:
    id: str
    service: str
    interval_seconds: int
    grace_seconds: int = 0


@dataclass(frozen=True, slots=True)
class UserSpec:
    email: str
    role: Role = "responder"
    password: str | None = None
    """Taken from the environment; None leaves the password as it is."""
    initial_password: str | None = None
    """Taken from the environment too, but set only when the user is created."""
    name: str | None = None
    time_zone: str | None = None
    contact_methods: tuple[ContactMethod, ...] | None = None
    notification_rules: tuple[NotificationRule, ...] | None = None
    """The profile's parts; None leaves a part as it is (empty, or UTC, for a new user)."""

    def profile(self, before: Person | None = None) -> Person:
        """The profile this asks for, made from `before` (the user's as it is, if any)."""
        base = before or Person(self.email)
        return Person(
            self.email,
            base.name if self.name is None else self.name,
            base.time_zone if self.time_zone is None else self.time_zone,
            base.contact_methods if self.contact_methods is None else self.contact_methods,
            base.rules if self.notification_rules is None else self.notification_rules,
        )

    @property
    def manages_profile(self) -> bool:
        return any(
            part is not None
            for part in (self.name, self.time_zone, self.contact_methods, self.notification_rules)
        )


@dataclass(frozen=True, slots=True)
class Config:
    """A desired state. A section that is None is not managed at all (not even pruned)."""

    policies: tuple[EscalationPolicy, ...] | None = None
    services: tuple[ServiceSpec, ...] | None = None
    users: tuple[UserSpec, ...] | None = None
    schedules: tuple[Schedule, ...] | None = None
    """Layers as given; overrides listed are added if missing, never removed or changed."""
    heartbeats: tuple[HeartbeatSpec, ...] | None = None


@dataclass(frozen=True, slots=True)
class Change:
    action: Action
    kind: Kind
    id: str
    details: tuple[str, ...] = ()
    """What changes, for people (never a password)."""

    def describe(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        text = f"{sign} {self.action} {self.kind} {self.id}"
        if not self.details:
            return text
        if self.action == "update":
            return f"{text}: {'; '.join(self.details)}"
        return f"{text} ({', '.join(self.details)})"


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    kept: tuple[tuple[Kind, str], ...]
    """In the database and not in a section of the configuration, and not pruned."""

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)


class Writer(Protocol):
    """The handlers' side of apply: policies and services are event-sourced."""

    def define_policy(self, policy: EscalationPolicy) -> object: ...

    def delete_policy(self, policy_id: str) -> object: ...

    def define_service(
        self,
        service_id: str,
        name: str,
        policy_id: str,
        low_urgency_severities: tuple[Severity, ...] = (),
    ) -> object: ...

    def delete_service(self, service_id: str) -> object: ...

    def schedule_maintenance(
        self, service_id: str, start: datetime | None, end: datetime, by: str
    ) -> object: ...


class HeartbeatsWriter(Protocol):
    def define(
        self, heartbeat_id: str, service_id: str, interval_seconds: int, grace_seconds: int
    ) -> object:
        """Defined on that service (moved there, if it is on another)."""
        ...

    def remove(self, heartbeat_id: str) -> object: ...


class AccountsWriter(Protocol):
    def add_user(
        self,
        email: str,
        role: str = "responder",
        password: str | None = None,
        profile: Person | None = None,
    ) -> object: ...

    def update_profile(self, email: str, change: Callable[[Person], Person]) -> object: ...

    def set_role(self, email: str, role: str) -> None: ...

    def set_password(self, email: str, password: str) -> None: ...

    def delete_user(self, email: str) -> None: ...

    def forget_integration_key(self, service_id: str) -> None: ...

    def ensure_integration_key(self, service_id: str) -> IssuedKey | None: ...

    def import_integration_key(self, service_id: str, key: str) -> None: ...


class SchedulesWriter(Protocol):
    def put(self, schedule: Schedule) -> bool: ...

    def delete(self, schedule_id: str) -> None: ...

    def import_override(self, schedule_id: str, override: Override, by: str) -> bool: ...


def current_config(
    queries: ReadModel, accounts: Accounts, schedules: Schedules | None = None
) -> Config:
    """Everything the database holds, as a configuration with every section (schedules
    with every override they have had)."""
    return Config(
        tuple(view.policy for view in queries.policies()),
        tuple(
            ServiceSpec(
                v.id,
                v.name,
                v.escalation_policy,
                v.low_urgency_severities,
                _windows(queries, v.id, v.maintenance),
            )
            for v in queries.services()
        ),
        tuple(_user_spec(user.email, user.role, accounts) for user in accounts.users()),
        None if schedules is None else tuple(schedules.schedules(ended_overrides=True)),
        tuple(
            HeartbeatSpec(v.id, v.service, v.interval_seconds, v.grace_seconds)
            for v in queries.heartbeats()
        ),
    )


def _windows(
    queries: ReadModel, service_id: str, current: tuple[MaintenanceView, ...]
) -> tuple[WindowSpec, ...]:
    ended = queries.maintenance_windows(service_id, ended=True)
    return (
        *(WindowSpec(w.start, w.end) for w in current),
        *(WindowSpec(w.start, w.end, ended=True) for w in ended),
    )


def _user_spec(email: str, role: Role, accounts: Accounts) -> UserSpec:
    person = accounts.profile(email)
    return UserSpec(
        email,
        role,
        name=person.name,
        time_zone=person.time_zone,
        contact_methods=person.contact_methods,
        notification_rules=person.rules,
    )


def check(config: Config, current: Config, prune: bool, *, allow_private: bool = False) -> None:
    """Raise ValidationFailed naming every wrong place in `config`, given what the database
    holds (`current`, with every section): run before anything is written. `allow_private`:
    whether policies may page private addresses, as the handlers will be told."""
    problems: list[tuple[str, str]] = []
    problems += _policy_problems(config.policies or (), allow_private)
    problems += _service_problems(config, current, prune)
    problems += _heartbeat_problems(config, current, prune)
    problems += _user_problems(config.users or ())
    problems += _profile_problems(config.users or (), current.users or ())
    problems += _user_reference_problems(config, current, prune)
    problems += _admin_problems(config, current, prune)
    problems += _schedule_problems(config, current, prune)
    problems += _schedule_reference_problems(config, current, prune)
    if problems:
        raise ValidationFailed(tuple(problems))


def plan(
    config: Config,
    current: Config,
    prune: bool,
    password_matches: Callable[[str, str], bool],
    now: datetime | None = None,
    key_matches: Callable[[str, str], bool] = lambda service_id, key: False,
) -> Plan:
    """The changes that make the database hold `config`, in an order that keeps every
    reference in place: users, schedules (and their listed overrides), policies, services;
    then deletions, of services before the policies they used, of policies before the
    schedules they paged, of those before their users. `password_matches(email,
    password)` says whether a user's stored password is that one. A maintenance window
    listed that has ended by `now` is left out."""
    stale = [
        # A service's heartbeats go with it: its own are deleted first.
        *_stale("heartbeat", config.heartbeats, current.heartbeats),
        *_stale("service", config.services, current.services),
        *_stale("escalation policy", config.policies, current.policies),
        *_stale("schedule", config.schedules, current.schedules),
    ]
    stale_users = _stale("user", config.users, current.users)
    changes = [
        *_user_changes(config.users or (), current.users or (), password_matches),
        *_schedule_changes(config.schedules or (), current.schedules or ()),
        *_policy_changes(config.policies or (), current.policies or ()),
        *_service_changes(config.services or (), current.services or (), key_matches),
        *_window_changes(config.services or (), current.services or (), now),
        *_heartbeat_changes(config.heartbeats or (), current.heartbeats or ()),
        *(Change("delete", kind, id_) for kind, id_ in stale if prune),
        *(Change("delete", kind, id_) for kind, id_ in stale_users if prune),
    ]
    return Plan(tuple(changes), () if prune else (*stale, *stale_users))


def _policy_changes(
    desired: Sequence[EscalationPolicy], present: Sequence[EscalationPolicy]
) -> list[Change]:
    existing = {p.id: p for p in present}
    changes = []
    for policy in desired:
        before = existing.get(policy.id)
        if before is None:
            summary = _policy_summary(policy)
            changes.append(Change("create", "escalation policy", policy.id, summary))
        elif before != policy:
            differences = policy_differences(before, policy)
            changes.append(Change("update", "escalation policy", policy.id, differences))
    return changes


def _service_changes(
    desired: Sequence[ServiceSpec],
    present: Sequence[ServiceSpec],
    key_matches: Callable[[str, str], bool],
) -> list[Change]:
    existing = {s.id: s for s in present}
    changes = []
    for service in desired:
        before = existing.get(service.id)
        new_key = service.integration_key is not None and (
            before is None or not key_matches(service.id, service.integration_key)
        )
        if before is None:
            summary: tuple[str, ...] = (f"escalation policy {service.escalation_policy}",)
            if service.low_urgency_severities:
                low = ", ".join(service.low_urgency_severities)
                summary += (f"low urgency for {low}",)
            summary += (KEY_FROM_FILE,) if new_key else ()
            changes.append(Change("create", "service", service.id, summary))
        elif _service_differences(before, service) or new_key:
            differences = _service_differences(before, service)
            differences += (KEY_FROM_FILE,) if new_key else ()
            changes.append(Change("update", "service", service.id, differences))
    return changes


def window_key(service_id: str, window: WindowSpec) -> str:
    return f"{service_id}/{window.start.isoformat()}/{window.end.isoformat()}"


def _window_changes(
    desired: Sequence[ServiceSpec], present: Sequence[ServiceSpec], now: datetime | None
) -> list[Change]:
    existing = {s.id: {(w.start, w.end) for w in s.maintenance or ()} for s in present}
    changes = []
    for service in desired:
        for window in dict.fromkeys(service.maintenance or ()):
            there = (window.start, window.end) in existing.get(service.id, ())
            if there or (now is not None and window.end <= now):
                continue
            summary = (f"{window.start.isoformat()} to {window.end.isoformat()}",)
            key = window_key(service.id, window)
            changes.append(Change("create", "maintenance window", key, summary))
    return changes


def _user_changes(
    desired: Sequence[UserSpec],
    present: Sequence[UserSpec],
    password_matches: Callable[[str, str], bool],
) -> list[Change]:
    existing = {u.email: u for u in present}
    changes = []
    for user in desired:
        before = existing.get(user.email)
        if before is None:
            summary: tuple[str, ...] = (f"role {user.role}",)
            if user.password is not None or user.initial_password is not None:
                summary += (PASSWORD_CHANGED,)
            summary += _profile_summary(user.profile())
            changes.append(Change("create", "user", user.email, summary))
            continue
        differences = []
        if before.role != user.role:
            differences.append(f"role {before.role} -> {user.role}")
        differences += _profile_differences(before.profile(), user.profile(before.profile()))
        if user.password is not None and not password_matches(user.email, user.password):
            differences.append(PASSWORD_CHANGED)
        if differences:
            changes.append(Change("update", "user", user.email, tuple(differences)))
    return changes


Item = EscalationPolicy | ServiceSpec | HeartbeatSpec | UserSpec | Schedule


def _stale(
    kind: Kind, wanted: Sequence[Item] | None, present: Sequence[Item] | None
) -> list[tuple[Kind, str]]:
    """What the database has and a managed section (not None) does not."""
    if wanted is None:
        return []
    missing = {_key(item) for item in present or ()} - {_key(item) for item in wanted}
    return [(kind, id_) for id_ in sorted(missing)]


def _key(item: Item) -> str:
    return item.email if isinstance(item, UserSpec) else item.id


def apply(
    plan: Plan,
    config: Config,
    handlers: Writer,
    accounts: AccountsWriter,
    on_applied: Callable[[Change], None] = lambda change: None,
    on_key: Callable[[str, str], None] = lambda service_id, key: None,
    schedules: SchedulesWriter | None = None,
    heartbeats: HeartbeatsWriter | None = None,
) -> None:
    """Make each change of `plan` (computed for `config`), in order. Each change commits on
    its own; `on_applied` hears of each one once it is committed. A service created or
    changed that has no integration key yet gets one, as over the API: `on_key(service,
    key)` hears of it, the one time it can be shown."""
    policies = {p.id: p for p in config.policies or ()}
    services = {s.id: s for s in config.services or ()}
    windows = {
        window_key(s.id, w): (s.id, w) for s in config.services or () for w in s.maintenance or ()
    }
    users = {u.email: u for u in config.users or ()}
    listed = {s.id: s for s in config.schedules or ()}
    beats = {b.id: b for b in config.heartbeats or ()}
    for change in plan.changes:
        issued: IssuedKey | None = None
        match change.kind, change.action:
            case "escalation policy", "create" | "update":
                handlers.define_policy(policies[change.id])
            case "escalation policy", "delete":
                handlers.delete_policy(change.id)
            case "service", "create" | "update":
                service = services[change.id]
                handlers.define_service(
                    service.id,
                    service.name,
                    service.escalation_policy,
                    service.low_urgency_severities,
                )
                if service.integration_key is None:
                    issued = accounts.ensure_integration_key(service.id)
                elif KEY_FROM_FILE in change.details:
                    accounts.import_integration_key(service.id, service.integration_key)
            case "service", "delete":
                handlers.delete_service(change.id)
                # Else a service made again under this id would answer to the old key.
                accounts.forget_integration_key(change.id)
            case "maintenance window", _:
                service_id, window = windows[change.id]
                handlers.schedule_maintenance(service_id, window.start, window.end, APPLIED_BY)
            case "heartbeat", "create" | "update":
                assert heartbeats is not None, "a plan with heartbeats needs their writer"
                beat = beats[change.id]
                heartbeats.define(beat.id, beat.service, beat.interval_seconds, beat.grace_seconds)
            case "heartbeat", "delete":
                assert heartbeats is not None, "a plan with heartbeats needs their writer"
                heartbeats.remove(change.id)
            case "user", "create":
                user = users[change.id]
                password = user.password or user.initial_password
                accounts.add_user(user.email, user.role, password, user.profile())
            case "user", "update":
                user = users[change.id]
                if user.manages_profile:
                    accounts.update_profile(user.email, user.profile)
                accounts.set_role(user.email, user.role)
                if user.password is not None and PASSWORD_CHANGED in change.details:
                    accounts.set_password(user.email, user.password)
            case "user", "delete":
                accounts.delete_user(change.id)
            case "schedule" | "schedule override", _:
                assert schedules is not None, "a plan with schedules needs their writer"
                _apply_schedule(change, listed, schedules)
        on_applied(change)
        if issued is not None:
            on_key(issued.info.service_id, issued.key)


# -- checks


def _policy_problems(
    policies: Sequence[EscalationPolicy], allow_private: bool
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for policy in policies:
        where = f"escalation policy {policy.id}"
        try:
            validate_policy(policy, allow_private=allow_private)
        except ValidationFailed as invalid:
            problems += [(f"{where} {place}", what) for place, what in invalid.problems]
        if len(policy.name) > MAX_NAME_LENGTH:
            problems.append((f"{where} name", f"must be at most {MAX_NAME_LENGTH} characters"))
    problems += _duplicates("escalation policy", [p.id for p in policies])
    return problems


def _service_problems(config: Config, current: Config, prune: bool) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    services = config.services or ()
    in_file = {p.id for p in config.policies or ()}
    in_database = {p.id for p in current.policies or ()}
    pruned = in_database - in_file if prune and config.policies is not None else set()
    for service in services:
        where = f"service {service.id}"
        if not valid_id(service.id):
            problems.append((f"{where} id", f"{service.id!r} must match {ID_PATTERN.pattern}"))
        if not service.name.strip():
            problems.append((f"{where} name", "must not be empty"))
        elif len(service.name) > MAX_NAME_LENGTH:
            problems.append((f"{where} name", f"must be at most {MAX_NAME_LENGTH} characters"))
        low = service.low_urgency_severities
        if len(set(low)) != len(low):
            problems.append((f"{where} low_urgency_severities", "lists a severity twice"))
        policy = service.escalation_policy
        if policy in pruned:
            problems.append(
                (
                    f"{where} escalation_policy",
                    f"{policy!r} is not in the file, so --prune would delete it",
                )
            )
        elif policy not in in_file | in_database:
            problems.append(
                (
                    f"{where} escalation_policy",
                    f"{policy!r} is neither in the file nor in the database",
                )
            )
    problems += _duplicates("service", [s.id for s in services])
    problems += [problem for s in services for problem in _window_problems(s)]
    keys = [s.integration_key for s in services if s.integration_key is not None]
    if len(keys) != len(set(keys)):
        problems.append(("services", "two services have the same integration_key"))
    if pruned and not (prune and config.services is not None):
        # Services that the file does not manage stay, and so must their policies.
        managed = {s.id for s in services}
        for service in current.services or ():
            if service.id not in managed and service.escalation_policy in pruned:
                problems.append(
                    (
                        f"escalation policy {service.escalation_policy}",
                        f"--prune would delete it, but service {service.id} uses it "
                        "and is not in the file",
                    )
                )
    return problems


def _window_problems(service: ServiceSpec) -> list[tuple[str, str]]:
    """What the domain would refuse whenever it is applied (whether a window is over is the
    plan's to say: it leaves those out)."""
    windows = service.maintenance or ()
    problems = []
    if len(windows) > MAX_WINDOWS:
        problems.append((f"service {service.id} maintenance", f"at most {MAX_WINDOWS} windows"))
    for number, window in enumerate(windows, start=1):
        where = f"service {service.id} maintenance {number}"
        if window.start.tzinfo is None or window.end.tzinfo is None:
            problems.append((where, "start and end need a UTC offset (Z or +01:00)"))
        elif window.end <= window.start:
            problems.append((f"{where} end", "must be after start"))
        elif window.end - window.start > MAX_LENGTH:
            problems.append((f"{where} end", f"a window lasts at most {MAX_LENGTH.days} days"))
    return problems


def _heartbeat_problems(config: Config, current: Config, prune: bool) -> list[tuple[str, str]]:
    """Each heartbeat valid, on a service that is there once the file is applied."""
    problems: list[tuple[str, str]] = []
    listed = {s.id for s in config.services or ()}
    present = {s.id for s in current.services or ()}
    services = listed if prune and config.services is not None else listed | present
    for beat in config.heartbeats or ():
        where = f"heartbeat {beat.id}"
        try:
            heartbeat.validate(beat.id, beat.interval_seconds, beat.grace_seconds)
        except ValidationFailed as invalid:
            problems += [(f"{where} {place}", what) for place, what in invalid.problems]
        if beat.service not in services:
            problems.append(
                (f"{where} service", _missing("service", beat.service, beat.service in present))
            )
    problems += _duplicates("heartbeat", [b.id for b in config.heartbeats or ()])
    return problems


def _heartbeat_changes(
    desired: Sequence[HeartbeatSpec], present: Sequence[HeartbeatSpec]
) -> list[Change]:
    existing = {b.id: b for b in present}
    changes = []
    for beat in desired:
        before = existing.get(beat.id)
        if before is None:
            summary = (
                f"service {beat.service}",
                f"every {beat.interval_seconds} s",
                f"grace {beat.grace_seconds} s",
            )
            changes.append(Change("create", "heartbeat", beat.id, summary))
        elif before != beat:
            differences = tuple(
                f"{name} {old} -> {new}"
                for name, old, new in (
                    ("service", before.service, beat.service),
                    ("interval_seconds", before.interval_seconds, beat.interval_seconds),
                    ("grace_seconds", before.grace_seconds, beat.grace_seconds),
                )
                if old != new
            )
            changes.append(Change("update", "heartbeat", beat.id, differences))
    return changes


def _user_problems(users: Sequence[UserSpec]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for user in users:
        where = f"user {user.email}"
        if not USER_EMAIL_PATTERN.fullmatch(user.email):
            problems.append((f"{where} email", f"{user.email!r} is not an email address"))
        if user.role not in ROLES:
            problems.append((f"{where} role", f"must be one of {', '.join(ROLES)}"))
        for password in (user.password, user.initial_password):
            if password is not None and len(password) < MIN_PASSWORD_LENGTH:
                problems.append(
                    (f"{where} password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
                )
    problems += _duplicates("user", [u.email for u in users])
    return problems


def _profile_problems(
    users: Sequence[UserSpec], present: Sequence[UserSpec]
) -> list[tuple[str, str]]:
    """Each user's profile as it would be, checked whole: a rule may name a method the file
    leaves as it is."""
    existing = {u.email: u for u in present}
    problems: list[tuple[str, str]] = []
    for user in users:
        before = existing.get(user.email)
        try:
            validate_person(user.profile(None if before is None else before.profile()))
        except ValidationFailed as invalid:
            problems += [
                (f"user {user.email} {place}", what)
                for place, what in invalid.problems
                if place != "email"  # said by _user_problems
            ]
    return problems


def _user_reference_problems(config: Config, current: Config, prune: bool) -> list[tuple[str, str]]:
    """Every user a policy targets exists once the file is applied; a user that --prune
    would delete is targeted by no policy that stays."""
    listed = {u.email for u in config.users or ()}
    present = {u.email for u in current.users or ()}
    pruned = present - listed if prune and config.users is not None else set()
    users_after = (listed | present) - pruned
    policies = {p.id: p for p in current.policies or ()}
    if config.policies is not None:
        if prune:
            policies = {}
        policies |= {p.id: p for p in config.policies}
    in_file = {p.id for p in config.policies or ()}
    problems = []
    for policy in policies.values():
        for number, level in enumerate(policy.levels, start=1):
            for index, target in enumerate(level.targets, start=1):
                if not isinstance(target, UserTarget) or target.user in users_after:
                    continue
                where = f"escalation policy {policy.id} level {number} target {index}"
                if target.user in pruned:
                    what = f"user {target.user!r} is not in the file, so --prune would delete it"
                    if policy.id not in in_file:
                        where = f"user {target.user}"
                        what = (
                            f"--prune would delete it, but escalation policy {policy.id} "
                            "targets it and is not in the file"
                        )
                else:
                    what = f"user {target.user!r} is neither in the file nor in the database"
                problems.append((where, what))
    return problems


def _admin_problems(config: Config, current: Config, prune: bool) -> list[tuple[str, str]]:
    """Nobody could manage Pager over its API if the last admin went."""
    if config.users is None:
        return []
    listed = {user.email: user for user in config.users}
    before = {user.email for user in current.users or () if user.role == "admin"}
    after = {email for email, user in listed.items() if user.role == "admin"}
    if not prune:
        after |= before - listed.keys()
    if before and not after:
        return [("users", "no admin would be left: keep at least one user with role admin")]
    return []


def _duplicates(kind: str, ids: Iterable[str]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    problems = []
    for id_ in ids:
        if id_ in seen:
            problems.append((f"{kind} {id_}", "is listed more than once"))
        seen.add(id_)
    return problems


# -- what changes, for people


def _policy_summary(policy: EscalationPolicy) -> tuple[str, ...]:
    levels = len(policy.levels)
    return (f"{levels} level{'s' if levels != 1 else ''}", f"repeat {policy.repeat}")


def _profile_summary(person: Person) -> tuple[str, ...]:
    summary = []
    if person.name:
        summary.append(f"name {person.name!r}")
    if person.time_zone != "UTC":
        summary.append(f"time zone {person.time_zone}")
    methods, rules = len(person.contact_methods), len(person.rules)
    if methods:
        summary.append(f"{methods} contact method{'s' if methods != 1 else ''}")
    if rules:
        summary.append(f"{rules} notification rule{'s' if rules != 1 else ''}")
    return tuple(summary)


def _profile_differences(before: Person, after: Person) -> list[str]:
    differences = []
    if before.name != after.name:
        differences.append(f"name {before.name!r} -> {after.name!r}")
    if before.time_zone != after.time_zone:
        differences.append(f"time zone {before.time_zone} -> {after.time_zone}")
    old = {m.id: m for m in before.contact_methods}
    new = {m.id: m for m in after.contact_methods}
    for method_id, method in new.items():
        if method_id not in old:
            differences.append(f"+ contact method {method_id} ({method.type} {method.address})")
        elif old[method_id] != method:
            differences.append(f"contact method {method_id} changed")
    differences += [f"- contact method {method_id}" for method_id in old if method_id not in new]
    if before.rules != after.rules:
        differences.append(
            f"notification rules: {_rules_text(before.rules)} -> {_rules_text(after.rules)}"
        )
    elif list(old) != list(new) and not differences:
        differences.append("contact methods reordered")
    return differences


def _rules_text(rules: tuple[NotificationRule, ...]) -> str:
    if not rules:
        return "none"
    return ", ".join(_rule_text(r) for r in rules)


def _rule_text(rule: NotificationRule) -> str:
    text = f"{rule.contact_method} after {rule.delay_minutes} min"
    if rule.repeat_every_minutes is not None:
        text += f", every {rule.repeat_every_minutes} min"
    return text


def _service_differences(before: ServiceSpec, after: ServiceSpec) -> tuple[str, ...]:
    differences = []
    if before.name != after.name:
        differences.append(f"name {before.name!r} -> {after.name!r}")
    if before.escalation_policy != after.escalation_policy:
        differences.append(
            f"escalation policy {before.escalation_policy} -> {after.escalation_policy}"
        )
    if before.low_urgency_severities != after.low_urgency_severities:
        was = ", ".join(before.low_urgency_severities) or "none"
        now = ", ".join(after.low_urgency_severities) or "none"
        differences.append(f"low urgency severities {was} -> {now}")
    return tuple(differences)


def policy_differences(before: EscalationPolicy, after: EscalationPolicy) -> tuple[str, ...]:
    differences = []
    if before.name != after.name:
        differences.append(f"name {before.name!r} -> {after.name!r}")
    if before.repeat != after.repeat:
        differences.append(f"repeat {before.repeat} -> {after.repeat}")
    for number in range(1, max(len(before.levels), len(after.levels)) + 1):
        if number > len(before.levels):
            differences.append(f"level {number} added")
        elif number > len(after.levels):
            differences.append(f"level {number} removed")
        else:
            differences += _level_differences(number, before.level(number), after.level(number))
    return tuple(differences)


def _level_differences(number: int, before: Level, after: Level) -> list[str]:
    where = f"level {number}"
    differences = []
    if before.ack_timeout_seconds != after.ack_timeout_seconds:
        differences.append(
            f"{where} ack_timeout_seconds {before.ack_timeout_seconds} -> "
            f"{after.ack_timeout_seconds}"
        )
    old = {target.key: target for target in before.targets}
    new = {target.key: target for target in after.targets}
    for key, target in new.items():
        if key not in old:
            differences.append(f"{where} + {target.label}")
        elif isinstance(target, WebhookTarget) and old[key] != target:
            differences.append(f"{where} {target.label} secret changed")
        elif old[key] != target:  # the same address, written differently
            differences.append(f"{where} {old[key].label} -> {target.label}")
    differences += [f"{where} - {target.label}" for key, target in old.items() if key not in new]
    if not differences and before.targets != after.targets:
        differences.append(f"{where} targets reordered")
    return differences


# -- schedules: layers as given; listed overrides added, never removed or changed

APPLIED_BY = "pagerd apply"


def _apply_schedule(
    change: Change, listed: dict[str, Schedule], schedules: SchedulesWriter
) -> None:
    if change.kind == "schedule override":
        schedule_id, _, override_id = change.id.partition("/")
        (override,) = (o for o in listed[schedule_id].overrides if o.id == override_id)
        schedules.import_override(schedule_id, override, APPLIED_BY)
    elif change.action == "delete":
        schedules.delete(change.id)
    else:
        schedules.put(listed[change.id])


def _schedule_changes(desired: Sequence[Schedule], present: Sequence[Schedule]) -> list[Change]:
    existing = {s.id: s for s in present}
    changes = []
    for schedule in desired:
        before = existing.get(schedule.id)
        if before is None:
            layers = len(schedule.layers)
            summary = (f"{layers} layer{'s' if layers != 1 else ''}", schedule.time_zone)
            changes.append(Change("create", "schedule", schedule.id, summary))
        elif _layered(before) != _layered(schedule):
            changes.append(
                Change("update", "schedule", schedule.id, _schedule_differences(before, schedule))
            )
        known = {o.id for o in before.overrides} if before else set()
        changes += [
            Change(
                "create",
                "schedule override",
                f"{schedule.id}/{o.id}",
                (o.user, f"{o.start.isoformat()} to {o.end.isoformat()}"),
            )
            for o in schedule.overrides
            if o.id not in known
        ]
    return changes


def _layered(schedule: Schedule) -> tuple[object, ...]:
    return (schedule.name, schedule.time_zone, schedule.layers)


def _schedule_differences(before: Schedule, after: Schedule) -> tuple[str, ...]:
    differences = []
    if before.name != after.name:
        differences.append(f"name {before.name!r} -> {after.name!r}")
    if before.time_zone != after.time_zone:
        differences.append(f"time_zone {before.time_zone} -> {after.time_zone}")
    for number in range(1, max(len(before.layers), len(after.layers)) + 1):
        if number > len(before.layers):
            differences.append(f"layer {number} added")
        elif number > len(after.layers):
            differences.append(f"layer {number} removed")
        elif before.layers[number - 1] != after.layers[number - 1]:
            differences.append(f"layer {number} changed")
    return tuple(differences)


def _schedule_problems(config: Config, current: Config, prune: bool) -> list[tuple[str, str]]:
    """Each schedule valid, its people users that will be there, its overrides sound."""
    problems: list[tuple[str, str]] = []
    users = _users_after(config, current, prune)
    for schedule in config.schedules or ():
        where = f"schedule {schedule.id}"
        try:
            validate_schedule(schedule)
        except ValidationFailed as invalid:
            problems += [(f"{where} {place}", what) for place, what in invalid.problems]
        for number, layer in enumerate(schedule.layers, start=1):
            for index, user in enumerate(layer.users, start=1):
                if USER_PATTERN.fullmatch(user) and user not in users:
                    problems.append(
                        (f"{where} layer {number} user {index}", _missing_user(user, current))
                    )
        for override in schedule.overrides:
            if USER_PATTERN.fullmatch(override.user) and override.user not in users:
                problems.append(
                    (f"{where} override {override.id} user", _missing_user(override.user, current))
                )
    problems += _duplicates("schedule", [s.id for s in config.schedules or ()])
    return problems


def _schedule_reference_problems(
    config: Config, current: Config, prune: bool
) -> list[tuple[str, str]]:
    """Every schedule a policy pages is in the file or stays in the database (users: see
    _user_reference_problems)."""
    problems: list[tuple[str, str]] = []
    schedules = _ids_after(config.schedules, current.schedules, prune)
    in_file = {p.id for p in config.policies or ()}
    kept = [p for p in current.policies or () if p.id not in in_file]
    if prune and config.policies is not None:
        kept = []
    for policy in [*(config.policies or ()), *kept]:
        for number, level in enumerate(policy.levels, start=1):
            for index, target in enumerate(level.targets, start=1):
                where = f"escalation policy {policy.id} level {number} target {index}"
                if isinstance(target, ScheduleTarget) and target.schedule not in schedules:
                    stored = target.schedule in {s.id for s in current.schedules or ()}
                    problems.append((where, _missing("schedule", target.schedule, stored)))
    return problems


def _ids_after(
    wanted: Sequence[Schedule] | None, present: Sequence[Schedule] | None, prune: bool
) -> set[str]:
    listed = {s.id for s in wanted or ()}
    if prune and wanted is not None:
        return listed
    return listed | {s.id for s in present or ()}


def _users_after(config: Config, current: Config, prune: bool) -> set[str]:
    listed = {u.email for u in config.users or ()}
    if prune and config.users is not None:
        return listed
    return listed | {u.email for u in current.users or ()}


def _missing_user(user: str, current: Config) -> str:
    return _missing("user", user, user in {u.email for u in current.users or ()})


def _missing(kind: str, name: str, stored: bool) -> str:
    if stored:
        return f"{kind} {name!r} is not in the file, so --prune would delete it"
    return f"{kind} {name!r} is neither in the file nor in the database"
