"""The configuration file of `pagerd apply` and `pagerd export`: YAML, checked by pydantic at
this edge and translated to the application's Config. Each problem is named by its place
("escalation policy primary level 2 target 1 address"), and all of them are reported
together: first the file's shape, then what its environment variables hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import ErrorDetails

from pager.application.accounts import normalize_email
from pager.application.config_as_code import (
    Config,
    HeartbeatSpec,
    ServiceSpec,
    UserSpec,
    WindowSpec,
)
from pager.application.schedules import MAX_LAYERS
from pager.domain.errors import ValidationFailed
from pager.domain.maintenance import MAX_WINDOWS
from pager.domain.people import ContactMethod, NotificationRule
from pager.domain.policy import (
    DEFAULT_ACK_TIMEOUT_SECONDS,
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
)
from pager.domain.schedule import Layer, Override, Schedule
from pager.domain.severity import SEVERITIES, Severity
from pager.entrypoints.http.schedule_schemas import Instant, LayerIn, layer_json
from pager.entrypoints.http.schemas import (
    MAX_ACK_TIMEOUT_SECONDS,
    MAX_REPEAT,
    Address,
    Name,
    Password,
    Phone,
    Secret,
    Url,
)

# The API's own field types and limits, so that a file accepts what the API accepts.
MAX_LEVELS = 20
MAX_TARGETS = 50
MAX_OVERRIDES = 1000
MIN_KEY_LENGTH = 16
_URL: TypeAdapter[str] = TypeAdapter(Url)
_SECRET: TypeAdapter[str] = TypeAdapter(Secret)
_PASSWORD: TypeAdapter[str] = TypeAdapter(Password)
SECTIONS = {
    "escalation_policies": "escalation policy",
    "services": "service",
    "heartbeats": "heartbeat",
    "users": "user",
    "schedules": "schedule",
}
TARGET_TYPES = ("email", "sms", "voice", "webhook", "slack", "teams", "mattermost")


class _Model(BaseModel):
    # Strict: YAML already gives ints and strings; "yes" must not become True, nor 1.5 become 1.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EmailTargetModel(_Model):
    type: Literal["email"]
    address: Address


class _PhoneModel(_Model):
    phone: Phone

    @field_validator("phone", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, int):
            raise ValueError(
                'write the number in quotes, such as "+14155550100": YAML reads an unquoted '
                "+14155550100 as a number"
            )
        return value


class SmsTargetModel(_PhoneModel):
    type: Literal["sms"]


class VoiceTargetModel(_PhoneModel):
    type: Literal["voice"]


class _UrlFromEnv(_Model):
    url: Url | None = None
    url_env: str | None = Field(None, description="Environment variable that holds the URL.")


class WebhookTargetModel(_UrlFromEnv):
    type: Literal["webhook"]
    secret: Secret | None = None
    secret_env: str | None = Field(None, description="Environment variable that holds it.")


class SlackTargetModel(_UrlFromEnv):
    """An incoming webhook (`url` or `url_env`), or a `channel` the Slack app posts to."""

    type: Literal["slack"]
    channel: str | None = None


class TeamsTargetModel(_UrlFromEnv):
    type: Literal["teams"]


class MattermostTargetModel(_UrlFromEnv):
    type: Literal["mattermost"]


class UserTargetModel(_Model):
    type: Literal["user"]
    user: str


class ScheduleTargetModel(_Model):
    type: Literal["schedule"]
    schedule: str


TargetModel = Annotated[
    UserTargetModel
    | ScheduleTargetModel
    | EmailTargetModel
    | SmsTargetModel
    | VoiceTargetModel
    | WebhookTargetModel
    | SlackTargetModel
    | TeamsTargetModel
    | MattermostTargetModel,
    Field(discriminator="type"),
]


class LevelModel(_Model):
    ack_timeout_seconds: int = Field(DEFAULT_ACK_TIMEOUT_SECONDS, le=MAX_ACK_TIMEOUT_SECONDS)
    targets: list[TargetModel] = Field(max_length=MAX_TARGETS)


class PolicyModel(_Model):
    id: str
    name: Name
    repeat: int = Field(0, le=MAX_REPEAT)
    levels: list[LevelModel] = Field(max_length=MAX_LEVELS)


class WindowModel(_Model):
    """A maintenance window: added if it is not there and not over, never removed."""

    start: Instant
    end: Instant


class ServiceModel(_Model):
    id: str
    name: Name
    escalation_policy: str
    low_urgency_severities: list[Severity] = Field(default_factory=list, max_length=4)
    maintenance: list[WindowModel] | None = Field(default=None, max_length=MAX_WINDOWS)
    integration_key: str | None = Field(
        None,
        min_length=MIN_KEY_LENGTH,
        max_length=200,
        description="A key its senders already use (an importer's --keep-keys); stored hashed.",
    )


class HeartbeatModel(_Model):
    id: str
    service: str
    interval_seconds: int
    grace_seconds: int = 0


class ContactMethodModel(_Model):
    id: str
    type: Literal["email", "sms", "voice"]
    address: str | None = None
    phone: str | None = None
    enabled: bool = True

    @field_validator("phone", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        return _PhoneModel._quoted(value)


class NotificationRuleModel(_Model):
    delay_minutes: int
    contact_method: str
    repeat_every_minutes: int | None = None


class UserModel(_Model):
    email: str
    role: Literal["admin", "responder"] = "responder"
    password_env: str | None = None
    initial_password_env: str | None = None
    password: Any = None
    name: str | None = None
    time_zone: str | None = None
    contact_methods: list[ContactMethodModel] | None = None
    notification_rules: list[NotificationRuleModel] | None = None

    @field_validator("password", mode="before")
    @classmethod
    def _no_plain_password(cls, value: Any) -> Any:
        raise ValueError(
            "a password may not be written in the file; put it in an environment variable "
            "and name that variable with password_env"
        )


class OverrideModel(_Model):
    """An override the file lists (an importer writes the source's future ones): added if
    it is not there, never removed or changed."""

    id: str
    user: str
    start: Instant
    end: Instant


class ScheduleModel(_Model):
    id: str
    name: Name
    time_zone: str
    layers: list[LayerIn] = Field(max_length=MAX_LAYERS)
    overrides: list[OverrideModel] = Field(default=[], max_length=MAX_OVERRIDES)


class ConfigModel(_Model):
    version: Literal[1] = 1
    escalation_policies: list[PolicyModel] | None = None
    services: list[ServiceModel] | None = None
    users: list[UserModel] | None = None
    schedules: list[ScheduleModel] | None = None
    heartbeats: list[HeartbeatModel] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _not_true(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True == 1, which Literal[1] takes even when strict
            raise ValueError("input should be 1")
        return value


def load(text: str, env: Mapping[str, str]) -> Config:
    """Parse a configuration file; `env` resolves the `*_env` references. Raises
    ValidationFailed with every problem found."""
    data = _parse_yaml(text)
    if data is None:
        raise ValidationFailed((("file", "is empty"),))
    if not isinstance(data, dict):
        raise ValidationFailed(
            (("file", "must be a mapping with escalation_policies, services, users, schedules"),)
        )
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as invalid:
        raise ValidationFailed(
            tuple((_place(error["loc"], data), _message(error)) for error in invalid.errors())
        ) from None
    sections = (
        model.escalation_policies,
        model.services,
        model.users,
        model.schedules,
        model.heartbeats,
    )
    if all(section is None for section in sections):
        raise ValidationFailed(
            (("file", "has none of escalation_policies, services, users, schedules"),)
        )
    return _Translation(env).config(model)


def dump(config: Config) -> str:
    """YAML that `load` reads back as `config` (less passwords, which are never shown)."""
    data: dict[str, Any] = {"version": 1}
    if config.policies is not None:
        data["escalation_policies"] = [_policy_data(p) for p in config.policies]
    if config.services is not None:
        data["services"] = [_service_data(s) for s in config.services]
    if config.heartbeats is not None:
        data["heartbeats"] = [
            {
                "id": b.id,
                "service": b.service,
                "interval_seconds": b.interval_seconds,
                "grace_seconds": b.grace_seconds,
            }
            for b in config.heartbeats
        ]
    if config.users is not None:
        data["users"] = [_user_data(u) for u in config.users]
    if config.schedules is not None:
        data["schedules"] = [_schedule_data(s) for s in config.schedules]
    header = "# Pager configuration, written by `pagerd export`; apply with `pagerd apply -f`.\n"
    if any(_holds_secret(p) for p in config.policies or ()):
        header += (
            "# It holds webhook secrets or Slack URLs: keep it private, or move them to\n"
            "# environment variables with secret_env and url_env.\n"
        )
    return header + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )


# -- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML would keep the last
    one silently, and a duplicated `id:` or `levels:` is a mistake worth hearing about."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"the key {key!r} is given twice",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = "file" if mark is None else f"line {mark.line + 1} column {mark.column + 1}"
        raise ValidationFailed(((where, f"not valid YAML: {error.problem}"),)) from None
    except yaml.YAMLError as error:
        raise ValidationFailed((("file", f"not valid YAML: {error}"),)) from None


# -- pydantic errors, named by place


def _place(loc: tuple[int | str, ...], data: Any) -> str:
    parts = list(loc)
    words: list[str] = []
    if len(parts) >= 2 and parts[0] in SECTIONS and isinstance(parts[1], int):
        section, index = str(parts[0]), parts[1]
        words.append(f"{SECTIONS[section]} {_label(data, section, index)}")
        parts = parts[2:]
    while parts:
        part = parts.pop(0)
        number = parts[0] if parts else None
        if part in _ITEMS and isinstance(number, int):
            parts.pop(0)
            words.append(f"{_ITEMS[str(part)]} {number + 1}")
            if part == "targets" and parts and str(parts[0]) in TARGET_TYPES:
                parts.pop(0)  # the tag that pydantic puts in the path of a tagged union
        else:
            words.append(f"#{part + 1}" if isinstance(part, int) else part)
    return " ".join(words) or "file"


_ITEMS = {
    "levels": "level",
    "targets": "target",
    "contact_methods": "contact method",
    "notification_rules": "notification rule",
    "layers": "layer",
    "restrictions": "restriction",
    "overrides": "override",
}


def _label(data: Any, section: str, index: int) -> str:
    """The item's id (or email) as written, or its position when it has none."""
    try:
        item = data[section][index]
        label = item["email" if section == "users" else "id"]
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"
    return label if isinstance(label, str) and label.strip() else f"#{index + 1}"


def _message(error: ErrorDetails) -> str:
    match error["type"]:
        case "missing":
            return "is required"
        case "extra_forbidden":
            return "is not a known field"
        case "union_tag_invalid" | "union_tag_not_found":
            return f"type must be one of {', '.join(TARGET_TYPES)}"
        case "string_too_short" if error.get("ctx", {}).get("min_length") == 1:
            return "must not be empty"
        case "value_error":
            return str(error.get("ctx", {}).get("error", error["msg"]))
    message = error["msg"]
    return message[:1].lower() + message[1:]


# -- to the application's objects


class _Translation:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[tuple[str, str]] = []

    def config(self, model: ConfigModel) -> Config:
        policies = None
        if model.escalation_policies is not None:
            policies = tuple(self._policy(p) for p in model.escalation_policies)
        services = None
        if model.services is not None:
            services = tuple(_service_spec(s) for s in model.services)
        users = None
        if model.users is not None:
            users = tuple(self._user(u) for u in model.users)
        schedules = None
        if model.schedules is not None:
            schedules = tuple(_schedule(s) for s in model.schedules)
        heartbeats = None
        if model.heartbeats is not None:
            heartbeats = tuple(
                HeartbeatSpec(b.id, b.service, b.interval_seconds, b.grace_seconds)
                for b in model.heartbeats
            )
        if self._problems:
            raise ValidationFailed(tuple(self._problems))
        return Config(policies, services, users, schedules, heartbeats)

    def _policy(self, model: PolicyModel) -> EscalationPolicy:
        levels = tuple(
            Level(
                tuple(
                    self._target(f"escalation policy {model.id} level {n} target {i}", t)
                    for i, t in enumerate(level.targets, start=1)
                ),
                level.ack_timeout_seconds,
            )
            for n, level in enumerate(model.levels, start=1)
        )
        return EscalationPolicy(model.id, model.name, levels, model.repeat)

    def _target(self, where: str, model: TargetModel) -> Target:
        match model:
            case UserTargetModel(user=user):
                return UserTarget(normalize_email(user))
            case ScheduleTargetModel(schedule=schedule):
                return ScheduleTarget(schedule)
            case EmailTargetModel(address=address):
                return EmailTarget(address)
            case SmsTargetModel(phone=phone):
                return SmsTarget(phone)
            case VoiceTargetModel(phone=phone):
                return VoiceTarget(phone)
            case WebhookTargetModel():
                url = self._url(where, model)
                secret = self._one_of(where, "secret", model.secret, model.secret_env, _SECRET)
                return WebhookTarget(url, secret)
            case SlackTargetModel(channel=str() as channel):
                if model.url is not None or model.url_env is not None:
                    self._problems.append((f"{where} channel", "give a url or a channel, not both"))
                return SlackTarget(channel=channel)
            case SlackTargetModel():
                return SlackTarget(self._url(where, model))
            case TeamsTargetModel():
                return TeamsTarget(self._url(where, model))
            case MattermostTargetModel():
                return MattermostTarget(self._url(where, model))

    def _url(self, where: str, model: _UrlFromEnv) -> str:
        if model.url is None and model.url_env is None:
            self._problems.append((f"{where} url", "is required (or url_env)"))
        return self._one_of(where, "url", model.url, model.url_env, _URL) or ""

    def _one_of(
        self, where: str, field: str, value: str | None, env: str | None, kind: TypeAdapter[str]
    ) -> str | None:
        if value is not None and env is not None:
            self._problems.append((f"{where} {field}", f"give {field} or {field}_env, not both"))
            return value
        if env is not None:
            return self._from_env(f"{where} {field}_env", env, kind)
        return value

    def _user(self, model: UserModel) -> UserSpec:
        email = normalize_email(model.email)
        password = initial = None
        if model.password_env is not None and model.initial_password_env is not None:
            self._problems.append(
                (f"user {email} password_env", "give password_env or initial_password_env")
            )
        elif model.password_env is not None:
            where = f"user {email} password_env"
            password = self._from_env(where, model.password_env, _PASSWORD)
        elif model.initial_password_env and self._env.get(model.initial_password_env):
            where = f"user {email} initial_password_env"
            initial = self._from_env(where, model.initial_password_env, _PASSWORD)
        return UserSpec(
            email,
            model.role,
            password,
            initial,
            name=model.name,
            time_zone=model.time_zone,
            contact_methods=None
            if model.contact_methods is None
            else tuple(
                self._method(f"user {email} contact method {n}", m)
                for n, m in enumerate(model.contact_methods, start=1)
            ),
            notification_rules=None
            if model.notification_rules is None
            else tuple(
                NotificationRule(r.delay_minutes, r.contact_method, r.repeat_every_minutes)
                for r in model.notification_rules
            ),
        )

    def _method(self, where: str, model: ContactMethodModel) -> ContactMethod:
        """An email method has an address, an sms or voice method a phone (the domain
        checks what they hold)."""
        field, other = ("address", "phone") if model.type == "email" else ("phone", "address")
        value = getattr(model, field)
        if getattr(model, other) is not None:
            self._problems.append(
                (f"{where} {other}", f"a {model.type} method has {field}, not {other}")
            )
        if value is None:
            self._problems.append((f"{where} {field}", "is required"))
        return ContactMethod(model.id, model.type, value or "", model.enabled)

    def _from_env(self, where: str, name: str, kind: TypeAdapter[str]) -> str | None:
        value = self._env.get(name)
        if not value:
            self._problems.append((where, f"the environment variable {name} is not set"))
            return None
        try:
            return kind.validate_python(value)
        except ValidationError as invalid:
            for error in invalid.errors():
                self._problems.append((f"{where} ({name})", _message(error)))
            return None


def _policy_data(policy: EscalationPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.name,
        "repeat": policy.repeat,
        "levels": [
            {
                "ack_timeout_seconds": level.ack_timeout_seconds,
                "targets": [_target_data(target) for target in level.targets],
            }
            for level in policy.levels
        ],
    }


def _user_data(user: UserSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"email": user.email, "role": user.role}
    if user.name is not None:
        data["name"] = user.name
    if user.time_zone is not None:
        data["time_zone"] = user.time_zone
    if user.contact_methods is not None:
        data["contact_methods"] = [
            {
                "id": m.id,
                "type": m.type,
                "address" if m.type == "email" else "phone": m.address,
                "enabled": m.enabled,
            }
            for m in user.contact_methods
        ]
    if user.notification_rules is not None:
        data["notification_rules"] = [_rule_data(r) for r in user.notification_rules]
    return data


def _rule_data(rule: NotificationRule) -> dict[str, Any]:
    data: dict[str, Any] = {
        "delay_minutes": rule.delay_minutes,
        "contact_method": rule.contact_method,
    }
    if rule.repeat_every_minutes is not None:
        data["repeat_every_minutes"] = rule.repeat_every_minutes
    return data


def _target_data(target: Target) -> dict[str, Any]:
    match target:
        case UserTarget(user=user):
            return {"type": "user", "user": user}
        case ScheduleTarget(schedule=schedule):
            return {"type": "schedule", "schedule": schedule}
        case VoiceTarget(phone=phone):
            return {"type": "voice", "phone": phone}
        case EmailTarget(address=address):
            return {"type": "email", "address": address}
        case SmsTarget(phone=phone):
            return {"type": "sms", "phone": phone}
        case WebhookTarget(url=url, secret=secret):
            return {"type": "webhook", "url": url} | ({} if secret is None else {"secret": secret})
        case SlackTarget(url=str() as url):
            return {"type": "slack", "url": url}
        case SlackTarget(channel=channel):
            return {"type": "slack", "channel": channel}
        case TeamsTarget(url=url):
            return {"type": "teams", "url": url}
        case MattermostTarget(url=url):
            return {"type": "mattermost", "url": url}


def _holds_secret(policy: EscalationPolicy) -> bool:
    return any(
        (isinstance(target, SlackTarget) and target.url is not None)
        or isinstance(target, TeamsTarget | MattermostTarget)
        or (isinstance(target, WebhookTarget) and target.secret is not None)
        for level in policy.levels
        for target in level.targets
    )


# -- schedules


def _schedule(model: ScheduleModel) -> Schedule:
    layers = tuple(_lower(layer.to_domain()) for layer in model.layers)
    # An override's created_at orders overlapping ones; listed ones rank as the file lists them.
    overrides = tuple(
        Override(o.id, normalize_email(o.user), o.start, o.end, _LISTED + timedelta(seconds=n))
        for n, o in enumerate(model.overrides)
    )
    return Schedule(model.id, model.name, model.time_zone, layers, overrides)


_LISTED = datetime(1970, 1, 1, tzinfo=UTC)


def _lower(layer: Layer) -> Layer:
    return replace(layer, users=tuple(normalize_email(user) for user in layer.users))


def _schedule_data(schedule: Schedule) -> dict[str, Any]:
    """Layers only: overrides are made in the console and the API, and end."""
    return {
        "id": schedule.id,
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "layers": [layer_json(layer) for layer in schedule.layers],
    }


def _service_data(service: ServiceSpec) -> dict[str, Any]:
    """With its windows in force or to come (those over are history, not configuration)."""
    data: dict[str, Any] = {
        "id": service.id,
        "name": service.name,
        "escalation_policy": service.escalation_policy,
    }
    if service.low_urgency_severities:
        data["low_urgency_severities"] = list(service.low_urgency_severities)
    windows = [w for w in service.maintenance or () if not w.ended]
    if windows:
        data["maintenance"] = [
            {"start": w.start.isoformat(), "end": w.end.isoformat()} for w in windows
        ]
    return data


def _service_spec(model: ServiceModel) -> ServiceSpec:
    """Its low-urgency severities highest first, as the service keeps them (a severity
    listed twice stays twice, for the plan to refuse)."""
    low = sorted(model.low_urgency_severities, key=SEVERITIES.index)
    windows = None
    if model.maintenance is not None:
        windows = tuple(WindowSpec(w.start, w.end) for w in model.maintenance)
    return ServiceSpec(
        model.id, model.name, model.escalation_policy, tuple(low), windows, model.integration_key
    )
