"""Users, API tokens and integration keys: who may call Pager, and as what.

Secrets are made here from `secrets`, handed out once, and kept only as hashes: sha256 for
high-entropy tokens and keys (a slow hash buys nothing there and would slow every request),
argon2 for passwords, which people choose.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pager.application.ports import Clock
from pager.domain.errors import Conflict, NotFound, ValidationFailed
from pager.domain.people import ContactMethod, NotificationRule, Person, validate_person
from pager.domain.policy import USER_PATTERN
from pager.domain.text import visible

Role = Literal["admin", "responder"]
ROLES: tuple[Role, ...] = get_args(Role)

FIRST_ADMIN_EMAIL = "admin@localhost"
MIN_PASSWORD_LENGTH = 8
API_TOKEN_PREFIX = "pgr_"  # noqa: S105 - a prefix that makes tokens recognisable
USER_EMAIL_PATTERN = USER_PATTERN


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown of a stored integration key: its last characters and age."""

    service_id: str
    hint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new console session. `session_id` exists only here: the store keeps its hash."""

    user: User
    session_id: str


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new integration key. `key` exists only here: the store keeps its hash."""

    key: str
    info: KeyInfo


class UserExists(Conflict):
    def __init__(self, email: str) -> None:
        super().__init__(f"user {email!r} already exists")


class UserNotFound(NotFound):
    def __init__(self, email: str) -> None:
        super().__init__(f"user {email!r} does not exist")


class UserInUse(Conflict):
    """A user that escalation policies target, or whom schedules' layers name: removing
    them would leave a gap where somebody is paged."""

    def __init__(
        self, email: str, policies: tuple[str, ...], schedules: tuple[str, ...] = ()
    ) -> None:
        uses = []
        if policies:
            uses.append(f"a target of escalation policies: {', '.join(policies)}")
        if schedules:
            uses.append(f"on the schedules: {', '.join(schedules)}")
        super().__init__(f"user {email!r} is {'; and '.join(uses)}")
        self.email = email
        self.policies = policies
        self.schedules = schedules


class AccountStore(Protocol):
    def add_user(
        self, user: User, password_hash: str | None, profile: Person | None = None
    ) -> None:
        """With `profile` (else an empty one), in one insert. Raises UserExists."""
        ...

    def add_first_user(self, user: User, password_hash: str) -> bool:
        """Add `user` only if there are no users at all; False if there were."""
        ...

    def user_by_email(self, email: str) -> User | None: ...

    def user_by_id(self, user_id: str) -> User | None: ...

    def credentials(self, email: str) -> tuple[User, str] | None:
        """The user and their password's hash, read together; None without a password."""
        ...

    def users(self) -> list[User]: ...

    def delete_user(self, email: str) -> bool:
        """Also deletes the user's API tokens and console sessions. Raises UserInUse if an
        escalation policy targets the user or a schedule's layer names them."""
        ...

    def set_role(self, email: str, role: Role) -> bool:
        """False if there is no such user."""
        ...

    def set_password_hash(
        self, email: str, password_hash: str, keep_session_hash: str | None = None
    ) -> bool:
        """Also ends every console session of the user but `keep_session_hash`, in the same
        transaction. False if there is no such user."""
        ...

    def add_session(
        self,
        session_hash: str,
        user_id: str,
        password_hash: str,
        at: datetime,
        expires_at: datetime,
    ) -> bool:
        """Store a console session unless the user's password hash is no longer
        `password_hash` (changed or the user removed since it was checked): False then.
        Also deletes every session expired at `at`."""
        ...

    def user_by_session(self, session_hash: str, user_id: str, at: datetime) -> User | None:
        """The user of that session if it is theirs (`user_id`) and unexpired at `at`."""
        ...

    def delete_session(self, session_hash: str) -> None: ...

    def add_token(
        self, token_id: str, user_id: str, name: str, token_hash: str, at: datetime
    ) -> None: ...

    def user_by_token_hash(self, token_hash: str) -> User | None: ...

    def set_integration_key(self, info: KeyInfo, key_hash: str) -> None:
        """Replace the service's key (there is at most one)."""
        ...

    def add_integration_key(self, info: KeyInfo, key_hash: str) -> bool:
        """Store the key unless the service has one already; False if it had."""
        ...

    def integration_key(self, service_id: str) -> KeyInfo | None: ...

    def service_by_key_hash(self, key_hash: str) -> str | None: ...

    def delete_integration_key(self, service_id: str) -> None: ...

    # -- profiles (the person Pager pages: name, time zone, contact methods, rules)

    def profile(self, email: str) -> Person | None: ...

    def update_profile(self, email: str, change: Callable[[Person], Person]) -> Person | None:
        """Store `change(profile)` as the user's profile, read and written in one
        transaction that holds the user's row (two changes never lose one another); None if
        there is no such user. Whatever `change` raises leaves the profile as it was."""
        ...


def _check_user(email: str, role: str | None, password: str | None, person: Person | None) -> None:
    """Every problem of a user about to be written, named; `role` None: left as it is."""
    problems: list[tuple[str, str]] = []
    if not USER_EMAIL_PATTERN.fullmatch(email):
        problems.append(("email", f"{email!r} is not an email address"))
    if role is not None and role not in ROLES:
        problems.append(("role", f"must be one of {', '.join(ROLES)}"))
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        problems.append(("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    if person is not None:
        try:
            validate_person(person)
        except ValidationFailed as failed:
            problems += [p for p in failed.problems if p[0] != "email"]
    if problems:
        raise ValidationFailed(tuple(problems))


def _as(email: str, profile: Person) -> Person:
    """`profile` as the profile of the user `email`."""
    return Person(email, profile.name, profile.time_zone, profile.contact_methods, profile.rules)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


class _TtlCache:
    """Positive answers for a few seconds: a storm of alerts checks the same credential
    thousands of times a second. Revocations made elsewhere take effect within `seconds`."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._now = monotonic
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, key: str) -> object | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._now():
            return None
        return entry[1]

    def put(self, key: str, value: object) -> None:
        if self._seconds <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (self._now() + self._seconds, value)

    def clear(self) -> None:
        self._entries.clear()


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        cache_seconds: float = 0.0,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._cache = _TtlCache(cache_seconds)
        self._dummy_hash: str | None = None

    # -- users

    def add_user(
        self,
        email: str,
        role: str = "responder",
        password: str | None = None,
        profile: Person | None = None,
    ) -> User:
        """`profile`: the person's name, time zone, methods and rules (its email is the
        user's), validated with the rest: every problem is named, nothing is stored."""
        email = normalize_email(email)
        person = None if profile is None else _as(email, profile)
        _check_user(email, role, password, person)
        user = User(uuid.uuid4().hex, email, role, self._clock.now())  # type: ignore[arg-type]
        password_hash = None if password is None else self._hasher.hash(password)
        self._store.add_user(user, password_hash, person)
        return user

    def ensure_first_admin(self) -> tuple[str, str] | None:
        """With no users at all, make an admin with a random password and return (email,
        password); otherwise None. Safe when several processes start at once."""
        if self._store.users():
            return None
        password = secrets.token_urlsafe(18)
        user = User(uuid.uuid4().hex, FIRST_ADMIN_EMAIL, "admin", self._clock.now())
        if not self._store.add_first_user(user, self._hasher.hash(password)):
            return None
        return FIRST_ADMIN_EMAIL, password

    def user(self, email: str) -> User:
        user = self._store.user_by_email(normalize_email(email))
        if user is None:
            raise UserNotFound(email)
        return user

    def user_by_id(self, user_id: str) -> User | None:
        """The user with this id (as PagerDuty's REST API names users), if there is one."""
        return self._store.user_by_id(user_id)

    def users(self) -> list[User]:
        return self._store.users()

    def delete_user(self, email: str) -> None:
        self._cache.clear()
        if not self._store.delete_user(normalize_email(email)):
            raise UserNotFound(email)

    def set_role(self, email: str, role: str) -> None:
        self._cache.clear()
        if role not in ROLES:
            raise ValidationFailed((("role", f"must be one of {', '.join(ROLES)}"),))
        if not self._store.set_role(normalize_email(email), role):
            raise UserNotFound(email)

    # -- profiles

    def profile(self, email: str) -> Person:
        """The user as a person Pager pages. Raises UserNotFound."""
        person = self._store.profile(normalize_email(email))
        if person is None:
            raise UserNotFound(email)
        return person

    def set_profile(
        self,
        email: str,
        *,
        name: str | None = None,
        time_zone: str | None = None,
        contact_methods: tuple[ContactMethod, ...] | None = None,
        notification_rules: tuple[NotificationRule, ...] | None = None,
    ) -> Person:
        """Replace the parts given (None keeps a part as it is), validated as a whole: a
        rule must name one of the methods the profile has after the change. Raises
        ValidationFailed naming every wrong place, or UserNotFound; nothing half-written."""

        def change(person: Person) -> Person:
            return Person(
                person.email,
                person.name if name is None else name,
                person.time_zone if time_zone is None else time_zone,
                person.contact_methods if contact_methods is None else contact_methods,
                person.rules if notification_rules is None else notification_rules,
            )

        return self.update_profile(email, change)

    def update_profile(self, email: str, change: Callable[[Person], Person]) -> Person:
        """Store `change(profile)`, validated, in one transaction with the read (for changes
        made from what is there, such as enabling one verified method). The email stays the
        user's whatever `change` returns. Raises ValidationFailed or UserNotFound, and
        whatever `change` raises; the profile is then as it was."""

        def checked(person: Person) -> Person:
            return validate_person(_as(person.email, change(person)))

        updated = self._store.update_profile(normalize_email(email), checked)
        if updated is None:
            raise UserNotFound(email)
        return updated

    def put_user(
        self,
        email: str,
        profile: Person,
        role: str | None = None,
        password: str | None = None,
    ) -> tuple[User, Person, bool]:
        """Make the user with `profile` (and `role`, responder by default), or replace the
        profile of the one there is (and its role and password when given). Everything is
        validated before anything is written. Returns (user, profile, created)."""
        email = normalize_email(email)
        person = _as(email, profile)
        _check_user(email, role, password, person)
        if self._store.user_by_email(email) is None:
            try:
                user = self.add_user(email, role or "responder", password, person)
            except UserExists:
                pass  # made meanwhile: changed below like any other
            else:
                return user, person, True
        stored = self.update_profile(email, lambda _: person)
        if role is not None:
            self.set_role(email, role)
        if password is not None:
            self.set_password(email, password)
        return self.user(email), stored, False

    def set_password(self, email: str, password: str, keep_session: str | None = None) -> None:
        """Ends every console session of the user but `keep_session` (the one that made the
        change, when it is their own)."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(
                (("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"),)
            )
        password_hash = self._hasher.hash(password)
        keep = None if keep_session is None else secret_hash(keep_session)
        if not self._store.set_password_hash(normalize_email(email), password_hash, keep):
            raise UserNotFound(email)

    def check_password(self, email: str, password: str) -> User | None:
        """The user if the password is theirs; None otherwise (also for unknown users and
        users without a password, who cost the same argon2 verification as the others)."""
        verified = self._verified(email, password)
        return None if verified is None else verified[0]

    def _verified(self, email: str, password: str) -> tuple[User, str] | None:
        found = self._store.credentials(normalize_email(email))
        if found is None:
            # Else how long a wrong answer takes tells which emails have an account.
            self._verify(self._dummy(), password)
            return None
        return found if self._verify(found[1], password) else None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        """A hash of a random password, made with this hasher's parameters (so that checking
        it costs as much as checking a real one), once: making it costs as much again."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    # -- console sessions

    def sign_in(self, email: str, password: str, lifetime: timedelta) -> SignedIn | None:
        """A new console session, ending `lifetime` from now, if the password is the user's;
        None otherwise, at the cost of `check_password`. Forgets expired sessions."""
        verified = self._verified(email, password)
        if verified is None:
            return None
        user, password_hash = verified
        session_id = secrets.token_urlsafe(32)
        now = self._clock.now()
        if not self._store.add_session(
            secret_hash(session_id), user.id, password_hash, now, now + lifetime
        ):
            return None  # the password changed, or the user was removed, meanwhile
        return SignedIn(user, session_id)

    def session_user(self, session_id: str, user_id: str) -> User | None:
        """The user signed in with `session_id`, if that session is theirs and has not ended.
        Never cached: signing out must hold at once in every process."""
        return self._store.user_by_session(secret_hash(session_id), user_id, self._clock.now())

    def end_session(self, session_id: str) -> None:
        self._store.delete_session(secret_hash(session_id))

    # -- API tokens

    def create_token(self, email: str, name: str = "") -> str:
        """A new API token for the user; only its hash is stored."""
        user = self.user(email)
        name = name.strip() or f"token-{self._clock.now():%Y%m%d%H%M%S}"
        if len(name) > 200 or not visible(name):
            raise ValidationFailed((("name", "must be printable and at most 200 characters"),))
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._store.add_token(
            uuid.uuid4().hex, user.id, name, secret_hash(token), self._clock.now()
        )
        return token

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        token_hash = secret_hash(token)
        cached = self._cache.get(token_hash)
        if isinstance(cached, User):
            return cached
        user = self._store.user_by_token_hash(token_hash)
        if user is not None:
            self._cache.put(token_hash, user)
        return user

    # -- integration keys

    def rotate_integration_key(self, service_id: str) -> IssuedKey:
        """A new key for the service; the old one stops working at once."""
        self._cache.clear()
        issued = self._new_key(service_id)
        self._store.set_integration_key(issued.info, secret_hash(issued.key))
        return issued

    def ensure_integration_key(self, service_id: str) -> IssuedKey | None:
        """A new key if the service has none yet; None if it has one."""
        issued = self._new_key(service_id)
        if self._store.add_integration_key(issued.info, secret_hash(issued.key)):
            return issued
        return None

    def import_integration_key(self, service_id: str, key: str) -> None:
        """Take over a key that senders already use (an importer's --keep-keys); the old one
        stops working at once."""
        self._cache.clear()
        info = KeyInfo(service_id, key[-4:], self._clock.now())
        self._store.set_integration_key(info, secret_hash(key))

    def integration_key(self, service_id: str) -> KeyInfo | None:
        return self._store.integration_key(service_id)

    def forget_integration_key(self, service_id: str) -> None:
        self._cache.clear()
        self._store.delete_integration_key(service_id)

    def service_for_key(self, key: str) -> str | None:
        key_hash = secret_hash(key)
        cached = self._cache.get(key_hash)
        if isinstance(cached, str):
            return cached
        service_id = self._store.service_by_key_hash(key_hash)
        if service_id is not None:
            self._cache.put(key_hash, service_id)
        return service_id

    def _new_key(self, service_id: str) -> IssuedKey:
        # 32 hex characters, like a PagerDuty routing key, so that every client accepts it.
        key = secrets.token_hex(16)
        return IssuedKey(key, KeyInfo(service_id, key[-4:], self._clock.now()))
