"""Proving and trying a contact method: the 6-digit code that enables an SMS or voice method
a user added for themselves, and the test page that any method gets on request, outside any
incident, through the channel real pages take.

A code is kept only as an HMAC (keyed with the server's secret, bound to the user, the
method and the address it went to, so that a code sent to one number never enables
another), expires, allows a few tries, and is sent at most once a minute per method and a
few times an hour per user. Neither the code nor its text is ever logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pager.application.accounts import Accounts, User
from pager.application.ports import Clock, DeliveryFailed, DirectMessage, Messenger
from pager.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from pager.domain.people import ContactMethod, Person

logger = logging.getLogger("pager.contact")

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
CODES_PER_HOUR = 5
TESTS_PER_HOUR = 20
_HOUR = timedelta(hours=1)
_PROVIDERS = {"email": "SMTP", "sms": "Twilio", "voice": "Twilio"}

Outcome = Literal["sent", "failed", "logged", "unsupported"]


@dataclass(frozen=True, slots=True)
class PendingCode:
    """A code sent and not yet typed back, as the store keeps it (its hash only)."""

    code_hash: str
    tries: int
    sent_at: datetime
    expires_at: datetime


class VerificationStore(Protocol):
    def pending(self, user_id: str, method_id: str) -> PendingCode | None: ...

    def replace(
        self, user_id: str, method_id: str, code: PendingCode, unless_sent_after: datetime
    ) -> bool:
        """Store `code` in place of any earlier one, unless that one was sent after
        `unless_sent_after` (False then, and nothing changes): the once-a-minute limit holds
        across processes."""
        ...

    def take_try(self, user_id: str, method_id: str, now: datetime) -> PendingCode | None:
        """Count one try at the pending code and return it (with the try counted), if there
        is one unexpired at `now` with tries left; None otherwise. Concurrent tries each
        count."""
        ...

    def consume(self, user_id: str, method_id: str, code_hash: str) -> bool:
        """Forget the pending code if it is still `code_hash`; False if it was not."""
        ...

    def forget(self, user_id: str, method_id: str) -> None: ...


class MethodNotFound(NotFound):
    def __init__(self, email: str, method_id: str) -> None:
        super().__init__(f"user {email!r} has no contact method {method_id!r}")
        self.method_id = method_id


class CannotSend(Conflict):
    """A code cannot go to this method (already enabled, email, channel not configured)."""


class TooMany(DomainError):
    """Past a limit on sending; `retry_after` seconds until the next is allowed."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class WrongCode(ValidationFailed):
    def __init__(self, what: str) -> None:
        super().__init__((("code", what),))


@dataclass(frozen=True, slots=True)
class CodeSent:
    method: ContactMethod
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TestResult:
    """What became of a test page: `detail` is the provider's id or its short answer."""

    method: ContactMethod
    outcome: Outcome
    detail: str

    @property
    def summary(self) -> str:
        where = f"{self.method.type} {self.method.address}"
        match self.outcome:
            case "sent":
                return f"Test page sent to {where}."
            case "failed":
                return f"Test page to {where} failed: {self.detail}"
            case "logged":
                return f"Test page to {where} written to the log: {self.detail}."
        return f"Not sent to {where}: {self.detail}."


class _Window:
    """At most `limit` events per key in any `period` (per process)."""

    def __init__(self, limit: int, period: timedelta) -> None:
        self._limit = limit
        self._period = period
        self._events: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: datetime) -> int | None:
        """Count one event; None if allowed, else the seconds until one would be."""
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self._period:
                events.popleft()
            if len(events) >= self._limit:
                return int((events[0] + self._period - now).total_seconds()) + 1
            events.append(now)
            return None

    def give_back(self, key: str) -> None:
        """Uncount the last event of `key` (refused after all, for another reason)."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()


class ContactMethods:
    def __init__(
        self,
        accounts: Accounts,
        store: VerificationStore,
        messengers: Mapping[str, Messenger],
        clock: Clock,
        secret: Callable[[], bytes],
    ) -> None:
        self._accounts = accounts
        self._store = store
        self._messengers = messengers
        self._clock = clock
        self._secret = secret
        self._codes = _Window(CODES_PER_HOUR, _HOUR)
        self._tests = _Window(TESTS_PER_HOUR, _HOUR)

    def method(self, email: str, method_id: str) -> ContactMethod:
        """The user's method; MethodNotFound (naming it) if they have none of that id,
        UserNotFound if there is no such user."""
        method = self._accounts.profile(email).method(method_id)
        if method is None:
            raise MethodNotFound(email, method_id)
        return method

    # -- verification

    async def send_code(self, user: User, method_id: str) -> CodeSent:
        """Send a new code to the user's disabled SMS or voice method (any earlier code
        stops working). Raises MethodNotFound, CannotSend, TooMany, or DeliveryFailed when
        the provider refused it."""
        method = await asyncio.to_thread(self.method, user.email, method_id)
        if method.type == "email":
            raise CannotSend("email methods need no code")
        if method.type == "voice":
            raise CannotSend("voice calls are not supported yet, so no code can be sent")
        if method.enabled:
            raise CannotSend(f"contact method {method_id!r} is enabled already")
        messenger = self._messengers[method.type]
        if not getattr(messenger, "delivers", True):
            raise CannotSend(
                f"{method.type.upper()} is not configured on this Pager (no "
                f"{_PROVIDERS[method.type]}), so no code can be sent; an admin can enable "
                "the method instead"
            )
        now = self._clock.now()
        if (wait := self._codes.take(user.id, now)) is not None:
            raise TooMany(f"at most {CODES_PER_HOUR} codes an hour: wait {wait} s", wait)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        pending = PendingCode(self._hash(user, method, code), 0, now, now + CODE_LIFETIME)
        stored = await asyncio.to_thread(
            self._store.replace, user.id, method.id, pending, now - RESEND_AFTER
        )
        if not stored:
            self._codes.give_back(user.id)
            earlier = await asyncio.to_thread(self._store.pending, user.id, method.id)
            since = now if earlier is None else earlier.sent_at
            seconds = int((since + RESEND_AFTER - now).total_seconds()) + 1
            raise TooMany(f"a code was sent less than a minute ago: wait {seconds} s", seconds)
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        message = DirectMessage(
            id=str(uuid.uuid4()),
            target=method.target,
            subject="Your Pager verification code",
            text=f"Pager code: {code}. Type it on your profile page within {minutes} min to "
            "get pages here. Did not ask for it? Ignore this.",
        )
        try:
            await messenger.send_message(message)
        except DeliveryFailed:
            await asyncio.to_thread(self._store.forget, user.id, method.id)
            raise
        logger.info("verification code sent to %s %s of %s", method.type, method.id, user.email)
        return CodeSent(method, pending.expires_at)

    async def verify(self, user: User, method_id: str, code: str) -> ContactMethod:
        """Enable the method if `code` is the one last sent to it. Raises MethodNotFound,
        or WrongCode saying why (wrong, expired, no tries left, none sent)."""
        code = code.strip().replace(" ", "")
        if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
            raise WrongCode(f"the code is {CODE_DIGITS} digits")
        method = await asyncio.to_thread(self.method, user.email, method_id)
        if method.enabled:
            return method
        now = self._clock.now()
        pending = await asyncio.to_thread(self._store.take_try, user.id, method.id, now)
        if pending is None:
            earlier = await asyncio.to_thread(self._store.pending, user.id, method.id)
            if earlier is None:
                raise WrongCode("no code is waiting for this method: send one")
            if earlier.expires_at <= now:
                raise WrongCode("that code has expired: send a new one")
            raise WrongCode(f"{MAX_TRIES} wrong tries: send a new code")
        expected = self._hash(user, method, code)
        if not hmac.compare_digest(expected, pending.code_hash):
            left = MAX_TRIES - pending.tries
            if left <= 0:
                raise WrongCode(f"wrong code, and {MAX_TRIES} wrong tries: send a new code")
            raise WrongCode(f"wrong code: {left} {'try' if left == 1 else 'tries'} left")
        if not await asyncio.to_thread(self._store.consume, user.id, method.id, expected):
            raise WrongCode("that code was used already")
        await asyncio.to_thread(self._accounts.update_profile, user.email, _enable(method))
        logger.info("contact method %s of %s verified and enabled", method.id, user.email)
        return method

    def forget_code(self, user: User, method_id: str) -> None:
        """Forget the method's pending code (the method is gone)."""
        self._store.forget(user.id, method_id)

    def _hash(self, user: User, method: ContactMethod, code: str) -> str:
        key = hashlib.sha256(b"pager contact verification\n" + self._secret()).digest()
        data = "\n".join((user.id, method.id, method.type, method.address, code))
        return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()

    # -- test pages

    async def send_test(self, user: User, method_id: str, by: str) -> TestResult:
        """Page the method once, outside any incident, and say what became of it. Raises
        MethodNotFound or TooMany."""
        method = await asyncio.to_thread(self.method, user.email, method_id)
        if (wait := self._tests.take(user.id, self._clock.now())) is not None:
            raise TooMany(f"at most {TESTS_PER_HOUR} test pages an hour: wait {wait} s", wait)
        if method.type == "voice":
            return TestResult(method, "unsupported", "voice calls are not supported yet")
        messenger = self._messengers[method.type]
        sent_at = self._clock.now().strftime("%Y-%m-%d %H:%M UTC")
        message = DirectMessage(
            id=str(uuid.uuid4()),
            target=method.target,
            subject=f"[Pager] Test page for {method.id}",
            text=f"[Pager] Test page for {user.email} ({method.type} {method.id}), asked by "
            f"{by} at {sent_at}. Pages reach you here.",
        )
        try:
            answer = await messenger.send_message(message)
        except DeliveryFailed as failed:
            result = TestResult(method, "failed", failed.reason)
        else:
            if getattr(messenger, "delivers", True):
                result = TestResult(method, "sent", answer or "accepted")
            else:
                provider = _PROVIDERS[method.type]
                result = TestResult(method, "logged", f"no {provider} is configured")
        logger.info(
            "test page to %s %s of %s: %s", method.type, method.id, user.email, result.outcome
        )
        return result


def _enable(method: ContactMethod) -> Callable[[Person], Person]:
    """Enables `method` if the profile still has it as it was when its code was checked."""

    def change(person: Person) -> Person:
        if person.method(method.id) != method:
            raise MethodNotFound(person.email, method.id)
        methods = tuple(
            replace(m, enabled=True) if m.id == method.id else m for m in person.contact_methods
        )
        return replace(person, contact_methods=methods)

    return change
