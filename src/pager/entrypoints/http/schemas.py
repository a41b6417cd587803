"""The API's request and response bodies (pydantic), and their translation to and from the
domain. The domain never sees a request."""

from __future__ import annotations

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
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from pager.application.accounts import USER_EMAIL_PATTERN, IssuedKey, KeyInfo, User
from pager.application.queries import (
    REDACTED,
    IncidentDetail,
    IncidentView,
    NotificationView,
    PolicyView,
    ServiceView,
    StreamEvent,
    TimelineEntry,
)
from pager.domain.incident import MAX_MESSAGE_LENGTH
from pager.domain.policy import (
    DEFAULT_ACK_TIMEOUT_SECONDS,
    E164_PATTERN,
    EMAIL_PATTERN,
    EmailTarget,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    SlackTarget,
    SmsTarget,
    Target,
    UserTarget,
    VoiceTarget,
    WebhookTarget,
)
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
Severity = Annotated[str, StringConstraints(max_length=64), Storable, Stated(NO_NUL)]
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


class AlertIn(Request):
    service: Id
    message: Message
    dedup_key: DedupKey | None = None
    severity: Severity | None = None
    details: dict[str, Any] | None = Field(
        default=None, description="Accepted for compatibility; not stored."
    )


class AlertAccepted(BaseModel):
    incident_id: str
    action: Literal["opened", "attached"]


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
        0,
        description="Level targets of its steps that paged nobody (a schedule with nobody on "
        "call, a user with no enabled contact method): the timeline says which and why.",
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
        )


class IncidentDetailOut(IncidentOut):
    timeline: list[TimelineEntryOut]
    notifications: list[NotificationOut]

    @classmethod
    def of_detail(cls, detail: IncidentDetail) -> IncidentDetailOut:
        return cls(
            **IncidentOut.of(detail.incident).model_dump(),
            timeline=[TimelineEntryOut.of(entry) for entry in detail.timeline],
            notifications=[NotificationOut.of(n) for n in detail.notifications],
        )


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


# -- services


class ServiceIn(Request):
    name: Name
    escalation_policy: Id


class ServiceOut(BaseModel):
    id: str
    name: str
    escalation_policy: str
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
            state=view.state,
            open_incident=None
            if view.open_incident is None
            else IncidentOut.of(view.open_incident),
            created_at=view.created_at,
            updated_at=view.updated_at,
            integration_key=None if issued is None else issued.key,
            integration_key_hint=None if key is None else f"…{key.hint}",
            integration_key_created_at=None if key is None else key.created_at,
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


class SlackTargetIn(Request):
    type: Literal["slack"]
    url: Url = Field(description=PRIVATE_URL)


class UserTargetIn(Request):
    type: Literal["user"]
    user: Email = Field(
        description="A user's email: paged through their own contact methods and rules."
    )


class ScheduleTargetIn(Request):
    type: Literal["schedule"]
    schedule: Id = Field(description="Whoever the schedule has on call, each by their rules.")


AnyTargetIn = (
    UserTargetIn | ScheduleTargetIn | EmailTargetIn | SmsTargetIn | WebhookTargetIn | SlackTargetIn
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
        case WebhookTargetIn():
            return WebhookTarget(target.url, target.secret)
        case SlackTargetIn():
            return SlackTarget(target.url)


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
            return SlackTargetOut(type="slack", url=target.url)


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


class TokenIn(Request):
    name: TokenName | None = None


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored.")
    user: str


# -- operations


class Status(BaseModel):
    status: str
