"""The API's request and response bodies (pydantic), and their translation to and from the
domain. The domain never sees a request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from pager.application.accounts import USER_EMAIL_PATTERN, IssuedKey, KeyInfo, User
from pager.application.queries import (
    REDACTED,
    AlertView,
    IncidentDetail,
    IncidentView,
    MaintenanceView,
    NotificationView,
    PolicyView,
    ServiceView,
    StreamEvent,
    TimelineEntry,
)
from pager.domain.content import (
    MAX_ENTRIES,
    MAX_KEY,
    MAX_LINK_TEXT,
    MAX_LINKS,
    MAX_TOTAL,
    MAX_URL,
    MAX_VALUE,
    NO_CONTENT,
    AlertContent,
    ChangeLink,
)
from pager.domain.incident import MAX_MESSAGE_LENGTH
from pager.domain.people import (
    MAX_CONTACT_METHODS,
    MAX_DELAY_MINUTES,
    MAX_NAME_LENGTH,
    MAX_REPEAT_MINUTES,
    MAX_REPEATS,
    MAX_RULES,
    ContactMethod,
    NotificationRule,
    Person,
    available_time_zones,
)
from pager.domain.policy import (
    DEFAULT_ACK_TIMEOUT_SECONDS,
    E164_PATTERN,
    EMAIL_PATTERN,
    SLACK_CHANNEL_PATTERN,
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
from pager.domain.severity import Severity, Urgency
from pager.domain.text import HTTP_URL, INVISIBLE, WHITESPACE

ID_REGEX = r"^[a-z0-9][a-z0-9-]{0,62}$"
INCIDENT_ID_REGEX = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_ACK_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_REPEAT = 100


def _storable(value: str) -> str:
    """Text that both databases can store: no NUL, no lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


NO_NUL = r"^[^\x00]*$"
NON_BLANK = rf"^[^\x00]*[^{WHITESPACE}\x00][^\x00]*$"  # what the domain's `text.strip()` checks


@dataclass(frozen=True, slots=True)
class Stated:
    """A pattern that the JSON schema states and something else checks: the domain or the
    accounts, whose messages say more than "should match pattern"."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        stated = handler(schema)
        stated["pattern"] = self.pattern
        return stated


def _whole(value: Any) -> Any:
    """JSON's 60.0 is the integer 60, as JSON Schema reads it; `true` is still no integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# For every integer of a request body (whose models are strict: not "60", not true).
Integer = Annotated[int, BeforeValidator(_whole)]
Storable = AfterValidator(_storable)
Id = Annotated[str, StringConstraints(pattern=ID_REGEX)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable, Stated(NON_BLANK)]
Message = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_MESSAGE_LENGTH),
    Storable,
    Stated(NON_BLANK),
]
DedupKey = Annotated[str, StringConstraints(min_length=1, max_length=512), Storable, Stated(NO_NUL)]
By = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable, Stated(NO_NUL)]
Url = Annotated[
    str, StringConstraints(min_length=1, max_length=512), Storable, Stated(f"^{HTTP_URL}$")
]
Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=254),
    Storable,
    Stated(f"^{EMAIL_PATTERN.pattern}$"),
]
Phone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=16),
    Storable,
    Stated(f"^{E164_PATTERN.pattern}$"),
]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=256), Storable, Stated(NO_NUL)]
SlackChannel = Annotated[str, StringConstraints(pattern=f"^{SLACK_CHANNEL_PATTERN.pattern}$")]
# The accounts take an address with spaces around it, and a token name too (stripped).
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254),
    Storable,
    Stated(rf"^[{WHITESPACE}]*{USER_EMAIL_PATTERN.pattern}[{WHITESPACE}]*$"),
]
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=1024), Storable, Stated(NO_NUL)
]
TokenName = Annotated[
    str,
    StringConstraints(max_length=200),
    Storable,
    Stated(rf"^[{WHITESPACE}]*(?:[^{INVISIBLE}]*[^{WHITESPACE}{INVISIBLE}])?[{WHITESPACE}]*$"),
]


class Request(BaseModel):
    # Strict: `true` is not 1 (it had set a 1 s ack timeout), nor "60" 60 (see `Integer`).
    model_config = ConfigDict(extra="forbid", strict=True)


# -- alerts and incidents


def _key(value: str) -> str:
    """A key made storable (a JSON schema cannot state a pattern for keys that pydantic
    keeps): NUL shown as U+FFFD, a lone surrogate too."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY), AfterValidator(_key)]
Value = Annotated[str, StringConstraints(max_length=MAX_VALUE), Storable, Stated(NO_NUL)]
Pairs = Annotated[dict[Key, Value], Field(max_length=MAX_ENTRIES)]


class LinkIn(Request):
    href: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_URL), Storable, Stated(NO_NUL)
    ]
    text: (
        Annotated[str, StringConstraints(max_length=MAX_LINK_TEXT), Storable, Stated(NO_NUL)] | None
    ) = None


class AlertIn(Request):
    service: Id
    message: Message
    dedup_key: DedupKey | None = None
    severity: Severity | None = Field(
        default=None,
        description="One of the four, as sent (another word is a 422): a service pages its "
        "`low_urgency_severities` at low urgency; none is high urgency. The integrations "
        "map their own words and priorities onto these.",
    )
    labels: Pairs | None = Field(
        default=None,
        description=f"What the alert is about (`host`, `job`, ...): at most {MAX_ENTRIES} "
        f"entries, keys of 1 to {MAX_KEY} characters, values of at most {MAX_VALUE}.",
    )
    annotations: Pairs | None = Field(
        default=None,
        description="What it says (`summary`, `description`, `runbook_url`, `dashboard`): "
        "bounded as labels. `runbook_url` and `dashboard` are the links pages carry.",
    )
    links: list[LinkIn] | None = Field(
        default=None,
        max_length=MAX_LINKS,
        description=f"At most {MAX_LINKS}; `href` up to {MAX_URL} characters.",
    )
    details: Annotated[dict[Key, JsonValue], Field(max_length=MAX_ENTRIES)] | None = Field(
        default=None,
        description="Kept as text (values that are not text as compact JSON), bounded as "
        f"labels. All the alert's content together: at most {MAX_TOTAL} characters.",
    )

    def content(self) -> AlertContent:
        """What the alert says, for the domain (which checks its bounds)."""
        if not (self.labels or self.annotations or self.links or self.details):
            return NO_CONTENT
        return AlertContent(
            labels=tuple((self.labels or {}).items()),
            annotations=tuple((self.annotations or {}).items()),
            links=tuple(ChangeLink(link.href, link.text) for link in self.links or ()),
            details=tuple((k, _detail(v)) for k, v in (self.details or {}).items()),
        )


def _detail(value: JsonValue) -> str:
    if isinstance(value, str):
        return value
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


class AlertAccepted(BaseModel):
    incident_id: str
    action: Literal["opened", "attached", "suppressed"] = Field(
        description="suppressed: the service is in maintenance; recorded, nobody paged (if "
        "the alert still fires when the window ends, the incident opens then)."
    )


class ByIn(Request):
    by: By | None = Field(default=None, description="Who did it; the caller by default.")


class IncidentOut(BaseModel):
    id: str
    service: str
    status: Literal["triggered", "acknowledged", "resolved"]
    message: str
    alert_count: int
    level: int = Field(description="The last level notified (0: none yet).")
    round: int
    dedup_keys: list[str] = Field(
        description="Dedup keys of the alerts still firing, in no particular order."
    )
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    failed_notifications: int = Field(
        description="Pages of this incident that failed for good (a permanent failure, or "
        "transient ones for longer than PAGER_DELIVERY_MAX_SECONDS): nobody got them and "
        "nobody will try again. 0 when every page went out, or is still being tried."
    )
    unreached: int = Field(
        default=0,
        description="Level targets that paged nobody so far (a user who is gone or has no "
        "enabled contact method, a schedule with nobody on call); the timeline's "
        "LevelNotified events say which and why.",
    )
    urgency: Urgency = Field(
        default="high",
        description="low: opened by an alert of one of its service's low-urgency severities; "
        "level 1's email, chat and webhook targets only, no SMS, no voice, no escalation, "
        "until an alert of another severity (or none) or an escalation raises it to high.",
    )
    severity: Severity | None = Field(
        default=None, description="The highest severity of its alerts (null: none had one)."
    )
    snoozed_until: datetime | None = Field(
        default=None,
        description="While snoozed (acknowledged until then): when it is triggered again, "
        "from level 1 of its next round.",
    )

    @classmethod
    def of(cls, view: IncidentView) -> IncidentOut:
        return cls(
            id=view.id,
            service=view.service,
            status=view.status,
            message=view.message,
            alert_count=view.alert_count,
            level=view.level,
            round=view.round,
            dedup_keys=list(view.dedup_keys),
            opened_at=view.opened_at,
            acknowledged_at=view.acknowledged_at,
            acknowledged_by=view.acknowledged_by,
            resolved_at=view.resolved_at,
            resolved_by=view.resolved_by,
            failed_notifications=view.failed_notifications,
            unreached=view.unreached,
            urgency=view.urgency,
            severity=view.severity,
            snoozed_until=view.snoozed_until,
        )


class TimelineEntryOut(BaseModel):
    at: datetime
    type: str
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryOut:
        return cls(at=entry.at, type=entry.type, data=entry.data)


class NotificationOut(BaseModel):
    id: str
    channel: str
    target: dict[str, Any]
    level: int
    round: int
    status: str = Field(
        description="queued (to be sent, or retried), sent, logged (written to Pager's log, "
        "not sent: no provider is configured for its channel), failed (for good) or "
        "cancelled (its incident was acknowledged or resolved first)"
    )
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    via: str | None = Field(
        default=None,
        description="Why it went there (a user or schedule, the contact method and delay); "
        "null for an address the level names.",
    )

    @classmethod
    def of(cls, view: NotificationView) -> NotificationOut:
        return cls(
            id=view.id,
            channel=view.channel,
            target=view.target,
            level=view.level,
            round=view.round,
            status=view.status,
            attempts=view.attempts,
            last_error=view.last_error,
            created_at=view.created_at,
            sent_at=view.sent_at,
            via=view.via,
        )


class LinkOut(BaseModel):
    href: str
    text: str | None


class AlertOut(BaseModel):
    """One alert of the incident and what its sender said."""

    message: str
    dedup_key: str | None
    severity: str | None
    source: str = Field(description="The integration it came through (api, alertmanager, ...).")
    status: Literal["firing", "resolved"]
    received_at: datetime
    resolved_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    links: list[LinkOut]
    images: list[LinkOut] = Field(description="`href` is the image, `text` its alt text.")
    details: dict[str, str] = Field(description="Values that were not text as compact JSON.")
    tags: list[str]
    entity: str | None
    source_url: str | None = Field(description="Alertmanager's `generatorURL`, and the like.")
    runbook: str | None = Field(description="From `runbook_url` (or `runbook`), if any.")
    dashboard: str | None = Field(description="From `dashboard` (or Grafana's link), if any.")

    @classmethod
    def of(cls, view: AlertView) -> AlertOut:
        content = view.content
        return cls(
            message=view.message,
            dedup_key=view.dedup_key,
            severity=view.severity,
            source=view.source,
            status=view.status,
            received_at=view.received_at,
            resolved_at=view.resolved_at,
            labels=dict(content.labels),
            annotations=dict(content.annotations),
            links=[LinkOut(href=link.href, text=link.text) for link in content.links],
            images=[LinkOut(href=link.href, text=link.text) for link in content.images],
            details=dict(content.details),
            tags=list(content.tags),
            entity=content.entity,
            source_url=content.source_url,
            runbook=content.runbook,
            dashboard=content.dashboard,
        )


class IncidentDetailOut(IncidentOut):
    alerts: list[AlertOut] = Field(
        description="Its alerts, firing and resolved, in the order they came: the first opened it."
    )
    timeline: list[TimelineEntryOut]
    notifications: list[NotificationOut]

    @classmethod
    def of_detail(cls, detail: IncidentDetail) -> IncidentDetailOut:
        return cls(
            **IncidentOut.of(detail.incident).model_dump(),
            alerts=[AlertOut.of(alert) for alert in detail.alerts],
            timeline=[TimelineEntryOut.of(entry) for entry in detail.timeline],
            notifications=[NotificationOut.of(n) for n in detail.notifications],
        )


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


# -- services


LOW_URGENCY = (
    "Alerts of these severities open low-urgency incidents: level 1's email, chat and "
    "webhook targets only (a user's or schedule's SMS and voice methods are held back, as "
    "the timeline says), no ack timer, no escalation. A later alert of another severity, "
    "or none, raises the incident to high urgency and pages level 1 for what was held back. "
    "Default: none (every incident is high urgency)."
)


class ServiceIn(Request):
    name: Name
    escalation_policy: Id
    low_urgency_severities: list[Severity] = Field(
        default_factory=list,
        max_length=4,
        description=LOW_URGENCY,
        json_schema_extra={"uniqueItems": True},
    )


class MaintenanceOut(BaseModel):
    id: str
    service: str
    start: datetime
    end: datetime
    in_force: bool = Field(description="Begun and not ended: the service's alerts page nobody.")
    suppressed: int = Field(description="Alerts recorded during the window, which paged nobody.")
    created_by: str
    created_at: datetime
    ended_at: datetime | None = Field(description="When it ended (null while it has not).")
    ended_by: str | None = Field(description='Who ended it early; "system" at its end.')

    @classmethod
    def of(cls, view: MaintenanceView) -> MaintenanceOut:
        return cls(
            id=view.id,
            service=view.service,
            start=view.start,
            end=view.end,
            in_force=view.in_force,
            suppressed=view.suppressed,
            created_by=view.created_by,
            created_at=view.created_at,
            ended_at=view.ended_at,
            ended_by=view.ended_by,
        )


class ServiceOut(BaseModel):
    id: str
    name: str
    escalation_policy: str
    low_urgency_severities: list[Severity] = Field(default_factory=list, description=LOW_URGENCY)
    state: Literal["healthy", "unhealthy"]
    open_incident: IncidentOut | None
    created_at: datetime
    updated_at: datetime
    integration_key: str | None = Field(
        default=None,
        description="Shown to admins once: when the service is created and when the key is "
        "rotated. Only its hash is stored.",
    )
    integration_key_hint: str | None = Field(
        default=None, description="For admins: the last characters of the current key."
    )
    integration_key_created_at: datetime | None = None
    in_maintenance: bool = Field(
        default=False, description="Whether a maintenance window is in force: alerts page nobody."
    )
    maintenance: list[MaintenanceOut] = Field(
        default_factory=list, description="Its maintenance windows in force or to come."
    )

    @classmethod
    def of(
        cls,
        view: ServiceView,
        *,
        key: KeyInfo | None = None,
        issued: IssuedKey | None = None,
    ) -> ServiceOut:
        if issued is not None:
            key = issued.info
        return cls(
            id=view.id,
            name=view.name,
            escalation_policy=view.escalation_policy,
            low_urgency_severities=list(view.low_urgency_severities),
            state=view.state,
            open_incident=None
            if view.open_incident is None
            else IncidentOut.of(view.open_incident),
            created_at=view.created_at,
            updated_at=view.updated_at,
            integration_key=None if issued is None else issued.key,
            integration_key_hint=None if key is None else f"…{key.hint}",
            integration_key_created_at=None if key is None else key.created_at,
            in_maintenance=view.in_maintenance,
            maintenance=[MaintenanceOut.of(window) for window in view.maintenance],
        )


class ServiceList(BaseModel):
    services: list[ServiceOut]


class EventOut(BaseModel):
    version: int
    type: str
    at: datetime
    incident_id: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, event: StreamEvent) -> EventOut:
        return cls(
            version=event.version,
            type=event.type,
            at=event.at,
            incident_id=event.incident_id,
            data=event.data,
        )


class EventList(BaseModel):
    service: str
    events: list[EventOut]
    last_version: int = Field(description="Pass as `after` to read on from here.")


# -- escalation policies


class EmailTargetIn(Request):
    type: Literal["email"]
    address: Address


class SmsTargetIn(Request):
    type: Literal["sms"]
    phone: Phone


PRIVATE_URL = (
    "A URL on a loopback, private, link-local or cloud metadata address (or `localhost`) is "
    "refused unless the server sets PAGER_ALLOW_PRIVATE_TARGETS=true; a name that resolves "
    "to one is refused when the page is sent."
)


class WebhookTargetIn(Request):
    type: Literal["webhook"]
    url: Url = Field(description=PRIVATE_URL)
    secret: Secret | None = None


class VoiceTargetIn(Request):
    type: Literal["voice"]
    phone: Phone = Field(
        description="Called through Twilio: press 1 to acknowledge, 2 to escalate."
    )


def _one_of_url_or_channel(schema: dict[str, Any]) -> None:
    """Stated as the check below makes it: exactly one of the two, neither of them null."""
    properties = schema["properties"]
    for name in ("url", "channel"):
        stated = dict(properties[name])
        kinds = [kind for kind in stated.pop("anyOf") if kind.get("type") != "null"]
        stated.pop("default", None)
        properties[name] = kinds[0] | stated
    schema["oneOf"] = [{"required": ["url"]}, {"required": ["channel"]}]


class SlackTargetIn(Request):
    """One of `url` (an incoming webhook: a message with the ack link) or `channel` (the
    Slack app posts with its bot token: a message with Acknowledge / Resolve / Escalate)."""

    model_config = ConfigDict(json_schema_extra=_one_of_url_or_channel)

    type: Literal["slack"]
    url: Url | None = Field(default=None, description=PRIVATE_URL)
    channel: SlackChannel | None = Field(
        default=None, description="A channel id (C..., G... or D...) the Slack app posts to."
    )

    @model_validator(mode="after")
    def _one_of(self) -> SlackTargetIn:
        given = {"url", "channel"} & self.model_fields_set
        if len(given) != 1 or getattr(self, given.pop()) is None:
            raise ValueError("a Slack target has either a url (incoming webhook) or a channel")
        return self


class TeamsTargetIn(Request):
    type: Literal["teams"]
    url: Url = Field(description="A Teams channel's incoming webhook. " + PRIVATE_URL)


class MattermostTargetIn(Request):
    type: Literal["mattermost"]
    url: Url = Field(description="A Mattermost channel's incoming webhook. " + PRIVATE_URL)


class UserTargetIn(Request):
    type: Literal["user"]
    user: Email = Field(
        description="A user's email: paged through their own contact methods and rules."
    )


class ScheduleTargetIn(Request):
    type: Literal["schedule"]
    schedule: Id = Field(description="Whoever the schedule has on call, each by their rules.")


AnyTargetIn = (
    UserTargetIn
    | ScheduleTargetIn
    | EmailTargetIn
    | SmsTargetIn
    | VoiceTargetIn
    | WebhookTargetIn
    | SlackTargetIn
    | TeamsTargetIn
    | MattermostTargetIn
)
TargetIn = Annotated[AnyTargetIn, Field(discriminator="type")]


class LevelIn(Request):
    ack_timeout_seconds: Integer = Field(
        default=DEFAULT_ACK_TIMEOUT_SECONDS, ge=1, le=MAX_ACK_TIMEOUT_SECONDS
    )
    targets: list[TargetIn] = Field(
        min_length=1,
        max_length=50,
        description="Each target at most once: the same address, phone or URL twice is a 422 "
        "(email addresses compared without regard to case).",
        json_schema_extra={"uniqueItems": True},
    )


class PolicyIn(Request):
    name: Name
    repeat: Integer = Field(default=0, ge=0, le=MAX_REPEAT)
    levels: list[LevelIn] = Field(min_length=1, max_length=20)

    def to_domain(self, policy_id: str) -> EscalationPolicy:
        return EscalationPolicy(
            policy_id,
            self.name,
            tuple(
                Level(tuple(_target(t) for t in level.targets), level.ack_timeout_seconds)
                for level in self.levels
            ),
            self.repeat,
        )


def _target(target: AnyTargetIn) -> Target:
    match target:
        case UserTargetIn():
            return UserTarget(target.user.lower())
        case ScheduleTargetIn():
            return ScheduleTarget(target.schedule)
        case EmailTargetIn():
            return EmailTarget(target.address)
        case SmsTargetIn():
            return SmsTarget(target.phone)
        case VoiceTargetIn():
            return VoiceTarget(target.phone)
        case WebhookTargetIn():
            return WebhookTarget(target.url, target.secret)
        case SlackTargetIn():
            return SlackTarget(target.url, target.channel)
        case TeamsTargetIn():
            return TeamsTarget(target.url)
        case MattermostTargetIn():
            return MattermostTarget(target.url)


class EmailTargetOut(BaseModel):
    type: Literal["email"]
    address: str


class SmsTargetOut(BaseModel):
    type: Literal["sms"]
    phone: str


class WebhookTargetOut(BaseModel):
    type: Literal["webhook"]
    url: str
    secret: str | None = Field(
        default=None, description="Shown to admins only; `[redacted]` for responders."
    )


class SlackTargetOut(BaseModel):
    type: Literal["slack"]
    url: str | None = None
    channel: str | None = None


class TeamsTargetOut(BaseModel):
    type: Literal["teams"]
    url: str


class MattermostTargetOut(BaseModel):
    type: Literal["mattermost"]
    url: str


class VoiceTargetOut(BaseModel):
    type: Literal["voice"]
    phone: str


class UserTargetOut(BaseModel):
    type: Literal["user"]
    user: str


class ScheduleTargetOut(BaseModel):
    type: Literal["schedule"]
    schedule: str


AnyTargetOut = (
    UserTargetOut
    | ScheduleTargetOut
    | EmailTargetOut
    | SmsTargetOut
    | VoiceTargetOut
    | WebhookTargetOut
    | SlackTargetOut
    | TeamsTargetOut
    | MattermostTargetOut
)
TargetOut = Annotated[AnyTargetOut, Field(discriminator="type")]


class LevelOut(BaseModel):
    ack_timeout_seconds: int
    targets: list[TargetOut]


class PolicyOut(BaseModel):
    id: str
    name: str
    repeat: int
    levels: list[LevelOut]
    used_by: list[str] = Field(description="The services that page through this policy.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: PolicyView, *, secrets: bool) -> PolicyOut:
        policy = view.policy
        return cls(
            id=policy.id,
            name=policy.name,
            repeat=policy.repeat,
            levels=[
                LevelOut(
                    ack_timeout_seconds=level.ack_timeout_seconds,
                    targets=[_target_out(target, secrets) for target in level.targets],
                )
                for level in policy.levels
            ],
            used_by=list(view.used_by),
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


def _target_out(target: Target, secrets: bool) -> AnyTargetOut:
    match target:
        case UserTarget():
            return UserTargetOut(type="user", user=target.user)
        case ScheduleTarget():
            return ScheduleTargetOut(type="schedule", schedule=target.schedule)
        case VoiceTarget():
            return VoiceTargetOut(type="voice", phone=target.phone)
        case EmailTarget():
            return EmailTargetOut(type="email", address=target.address)
        case SmsTarget():
            return SmsTargetOut(type="sms", phone=target.phone)
        case WebhookTarget():
            secret = target.secret
            if secret is not None and not secrets:
                secret = REDACTED
            return WebhookTargetOut(type="webhook", url=target.url, secret=secret)
        case SlackTarget():
            return SlackTargetOut(type="slack", url=target.url, channel=target.channel)
        case TeamsTarget():
            return TeamsTargetOut(type="teams", url=target.url)
        case MattermostTarget():
            return MattermostTargetOut(type="mattermost", url=target.url)


class PolicyList(BaseModel):
    escalation_policies: list[PolicyOut]


# -- users


class UserIn(Request):
    email: Email
    role: Literal["admin", "responder"] = "responder"
    password: Password | None = Field(
        default=None, description="For the web console; API access uses tokens."
    )


class UserOut(BaseModel):
    email: str
    role: Literal["admin", "responder"]
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(email=user.email, role=user.role, created_at=user.created_at)


class UserList(BaseModel):
    users: list[UserOut]


# -- users as people Pager pages (GET|PUT /api/v1/users/{email})

PersonName = Annotated[
    str, StringConstraints(max_length=MAX_NAME_LENGTH), Storable, Stated(f"^[^{INVISIBLE}]*$")
]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), Storable]
MethodId = Annotated[str, Stated(ID_REGEX)]


class EmailMethodIn(Request):
    id: MethodId = Field(description="A slug unique among the user's methods; rules name it.")
    type: Literal["email"]
    address: Address
    enabled: bool = True


class SmsMethodIn(Request):
    id: MethodId = Field(description="A slug unique among the user's methods; rules name it.")
    type: Literal["sms"]
    phone: Phone
    enabled: bool = True


class VoiceMethodIn(Request):
    id: MethodId = Field(description="A slug unique among the user's methods; rules name it.")
    type: Literal["voice"]
    phone: Phone = Field(description="Called through Twilio: 1 acknowledges, 2 escalates.")
    enabled: bool = True


AnyMethodIn = EmailMethodIn | SmsMethodIn | VoiceMethodIn
MethodIn = Annotated[AnyMethodIn, Field(discriminator="type")]


class RuleIn(Request):
    delay_minutes: Integer = Field(ge=0, le=MAX_DELAY_MINUTES)
    contact_method: MethodId = Field(description="The id of one of the user's methods.")
    repeat_every_minutes: Integer | None = Field(
        default=None,
        ge=1,
        le=MAX_REPEAT_MINUTES,
        description=f"Page again this often after the first, {MAX_REPEATS} pages in all, "
        "until the incident is acknowledged. Left out: once.",
    )


class ProfileIn(Request):
    """A user's profile as a whole: what is left out is empty (or UTC), not kept."""

    name: PersonName = ""
    time_zone: TimeZone = Field(
        default="UTC",
        description="An IANA time zone name.",
        json_schema_extra={"enum": list[JsonValue](sorted(available_time_zones()))},
    )
    contact_methods: list[MethodIn] = Field(
        default=[],
        max_length=MAX_CONTACT_METHODS,
        description="Each `id` at most once.",
    )
    notification_rules: list[RuleIn] = Field(
        default=[],
        max_length=MAX_RULES,
        description="Each becomes one page, `delay_minutes` after the level's step; an "
        "acknowledgement cancels those not yet sent. No rules: every enabled method at once.",
    )

    def to_domain(self, email: str) -> Person:
        return Person(
            email,
            self.name,
            self.time_zone,
            tuple(_method(m) for m in self.contact_methods),
            tuple(
                NotificationRule(r.delay_minutes, r.contact_method, r.repeat_every_minutes)
                for r in self.notification_rules
            ),
        )


class UserPutIn(ProfileIn):
    role: Literal["admin", "responder"] | None = Field(
        default=None,
        description="Only admins change it; left out: kept, or responder for a new user.",
    )
    password: Password | None = Field(
        default=None, description="For the web console; left out: kept as it is."
    )


def _method(method: AnyMethodIn) -> ContactMethod:
    match method:
        case EmailMethodIn():
            return ContactMethod(method.id, "email", method.address, method.enabled)
        case SmsMethodIn():
            return ContactMethod(method.id, "sms", method.phone, method.enabled)
        case VoiceMethodIn():
            return ContactMethod(method.id, "voice", method.phone, method.enabled)


class EmailMethodOut(BaseModel):
    id: str
    type: Literal["email"]
    address: str
    enabled: bool


class PhoneMethodOut(BaseModel):
    id: str
    type: Literal["sms", "voice"]
    phone: str
    enabled: bool


class RuleOut(BaseModel):
    delay_minutes: int
    contact_method: str
    repeat_every_minutes: int | None


class ProfileOut(UserOut):
    name: str
    time_zone: str
    contact_methods: list[EmailMethodOut | PhoneMethodOut]
    notification_rules: list[RuleOut]

    @classmethod
    def of_profile(cls, user: User, person: Person) -> ProfileOut:
        return cls(
            **UserOut.of(user).model_dump(),
            name=person.name,
            time_zone=person.time_zone,
            contact_methods=[_method_out(m) for m in person.contact_methods],
            notification_rules=[
                RuleOut(
                    delay_minutes=r.delay_minutes,
                    contact_method=r.contact_method,
                    repeat_every_minutes=r.repeat_every_minutes,
                )
                for r in person.rules
            ],
        )


def _method_out(method: ContactMethod) -> EmailMethodOut | PhoneMethodOut:
    if method.type == "email":
        return EmailMethodOut(
            id=method.id, type="email", address=method.address, enabled=method.enabled
        )
    return PhoneMethodOut(
        id=method.id, type=method.type, phone=method.address, enabled=method.enabled
    )


class TokenIn(Request):
    name: TokenName | None = None


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored.")
    user: str


# -- operations


class Status(BaseModel):
    status: str


# -- contact method tests


class ContactTestOut(BaseModel):
    contact_method: str
    type: Literal["email", "sms", "voice"]
    outcome: Literal["sent", "failed", "logged", "unsupported"] = Field(
        description="`sent`: the provider accepted it; `failed`: it refused (see `detail`); "
        "`logged`: the channel is not configured, so it went to the log; `unsupported`: "
        "this kind of method cannot be paged yet (voice)."
    )
    detail: str = Field(description="The provider's id for it, or its short answer.")
    message: str
