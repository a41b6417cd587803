"""Email over SMTP (aiosmtplib): plain, STARTTLS or implicit TLS, with optional login."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from pager.adapters.notify.message import email_body, subject, wrong_target
from pager.application.ports import DeliveryFailed, DirectMessage, OutgoingNotification
from pager.domain.policy import EmailTarget

Security = Literal["plain", "starttls", "tls"]
DEFAULT_PORTS: dict[Security, int] = {"plain": 25, "starttls": 587, "tls": 465}
DEFAULT_TIMEOUT = 30.0
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    from_address: str
    """An address, optionally with a display name: `Pager <pager@example.com>`."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "plain"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_url(cls, url: str, from_address: str) -> SmtpSettings:
        """Parse `smtp://[user:pass@]host[:port][?starttls=true]` or `smtps://...`.

        Plain `smtp://` never upgrades on its own: ask for `?starttls=true`. The user and
        password are percent-decoded (write `@` in a password as `%40`). Raises ValueError
        with a message that never contains the password."""
        where = redact(url)
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ValueError(f"bad SMTP URL {where}: {exc}") from None
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"bad SMTP URL {where}: the port must be a number from 1 to 65535")
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"bad SMTP URL {where}: the scheme must be smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError(f"bad SMTP URL {where}: no host")
        security: Security = "tls" if parts.scheme == "smtps" else "plain"
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"starttls"}
        if unknown:
            raise ValueError(f"bad SMTP URL {where}: unknown option {', '.join(sorted(unknown))}")
        if "starttls" in query:
            value = query["starttls"][-1].lower()
            if value not in TRUE | FALSE:
                raise ValueError(f"bad SMTP URL {where}: starttls must be true or false")
            if value in TRUE:
                if security == "tls":
                    raise ValueError(
                        f"bad SMTP URL {where}: smtps:// is already TLS; "
                        "use smtp://...?starttls=true for STARTTLS"
                    )
                security = "starttls"
        if "@" not in parseaddr(from_address)[1]:
            raise ValueError(f"bad sender address {from_address!r}: expected name@domain")
        return cls(
            host=parts.hostname,
            port=port or DEFAULT_PORTS[security],
            from_address=from_address,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            security=security,
        )


def redact(url: str) -> str:
    """`url` with any password replaced by `***`, fit for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<hidden>" if "@" in url else url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostpart}"


class SmtpChannel:
    """Sends one plain-text email per notification, with `Message-ID: <{id}@pager>`, and
    returns the server's answer to the message (often "Ok: queued as ...").

    With `keep_alive`, at most `pool_size` connections are open at once and they stay open
    between sends (the worker's channel does this): a storm of pages costs one SMTP
    handshake per connection, not per email, and waits for a free connection rather than
    opening more (each new one costs both sides far more than an email on an open one). A
    connection the server has dropped meanwhile is replaced once, silently."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        keep_alive: bool = False,
        pool_size: int = 8,
    ) -> None:
        """`tls_context` replaces the system's trusted CAs (e.g. for a private CA)."""
        self._settings = settings
        self._tls_context = tls_context
        self._keep_alive = keep_alive
        self._idle: list[aiosmtplib.SMTP] = []
        self._connections = asyncio.Semaphore(pool_size)
        self._sender = parseaddr(settings.from_address)[1]
        self._local_hostname: str | None = None

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, EmailTarget):
            raise wrong_target("email", target)
        message = build_message(notification, target.address, self._settings.from_address)
        return await self._submit(message, target.address)

    async def send_message(self, direct: DirectMessage) -> str | None:
        """A test page or a verification code, as a plain email with its own Message-ID."""
        target = direct.target
        if not isinstance(target, EmailTarget):
            raise wrong_target("email", target)
        message = build_direct(direct, target.address, self._settings.from_address)
        return await self._submit(message, target.address)

    async def _submit(self, message: Message, to: str) -> str | None:
        if not self._keep_alive:
            return await self._send(message, to)
        async with self._connections:
            return await self._send(message, to)

    async def _send(self, message: Message, to: str) -> str | None:
        settings = self._settings
        reused = self._idle.pop() if self._idle else None
        if reused is not None:
            try:
                return await self._send_on(reused, message, to)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                pass  # it timed out while idle: try once on a new connection
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise classify(exc, settings, to) from exc
        if self._local_hostname is None:  # what EHLO says; a DNS lookup, so done once
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = self._client()
        try:
            try:
                await client.connect()
            except BaseException:
                client.close()  # a half-made connection (TLS, AUTH refused) leaves nothing open
                raise
            return await self._send_on(client, message, to)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise classify(exc, settings, to) from exc

    async def _send_on(self, client: aiosmtplib.SMTP, message: Message, to: str) -> str | None:
        try:
            _, answer = await client.send_message(message, sender=self._sender, recipients=[to])
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            await _quit(client)  # the server answered: leave politely, and leave nothing open
            raise
        except BaseException:
            client.close()
            raise
        if self._keep_alive:
            self._idle.append(client)
        else:
            await _quit(client)
        return answer or None

    def _client(self) -> aiosmtplib.SMTP:
        settings = self._settings
        return aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            tls_context=self._tls_context,
            timeout=settings.timeout,
            local_hostname=self._local_hostname,
        )

    async def close(self) -> None:
        """Say goodbye on the connections kept open."""
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
    await asyncio.sleep(0)  # the transport finishes closing on the loop's next turn


def build_message(notification: OutgoingNotification, to: str, from_address: str) -> Message:
    """A plain-text email. Built with the email package's compat32 classes: the modern
    EmailMessage parses and refolds every header it is given, which cost more than the
    SMTP conversation itself in a storm of pages. Non-ASCII text is encoded here."""
    body = email_body(notification)
    message = Message()
    message.set_payload(body, _charset(body))  # text/plain, MIME-Version, encoding
    message["From"] = _address(from_address)
    message["To"] = _address(to)
    text = subject(notification)
    if not text.isascii():
        text = Header(text, "utf-8", header_name="Subject").encode()
    message["Subject"] = text
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{notification.id}@pager>"
    # Every page about one incident lands in one thread of the mail client.
    message["References"] = f"<incident-{notification.incident_id}@pager>"
    message["In-Reply-To"] = f"<incident-{notification.incident_id}@pager>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Pager-Incident"] = notification.incident_id
    message["X-Pager-Notification"] = notification.id
    return message


def build_direct(direct: DirectMessage, to: str, from_address: str) -> Message:
    """A plain-text email of a message outside any incident."""
    message = Message()
    message.set_payload(direct.text, _charset(direct.text))
    message["From"] = _address(from_address)
    message["To"] = _address(to)
    text = direct.subject
    if not text.isascii():
        text = Header(text, "utf-8", header_name="Subject").encode()
    message["Subject"] = text
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{direct.id}@pager>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    return message


def _charset(body: str) -> Charset:
    if body.isascii():
        return Charset("us-ascii")
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable in the raw message, unlike base64
    return charset


def _address(address: str) -> str:
    """`Name <addr>` or `addr`, with a non-ASCII display name encoded (RFC 2047)."""
    if address.isascii():
        return address
    name, addr = parseaddr(address)
    return formataddr((name, addr), charset="utf-8")


def classify(
    exc: aiosmtplib.SMTPException | OSError, settings: SmtpSettings, recipient: str
) -> DeliveryFailed:
    """What went wrong, for an engineer reading the incident's timeline; 4xx answers and
    network trouble are transient, 5xx answers and configuration mistakes are not."""
    server = f"{settings.host}:{settings.port}"
    match exc:
        case aiosmtplib.SMTPRecipientsRefused(recipients=[first, *_]):
            return _answer(f"{server} refused recipient {recipient}", first)
        case aiosmtplib.SMTPRecipientRefused():
            return _answer(f"{server} refused recipient {recipient}", exc)
        case aiosmtplib.SMTPSenderRefused():
            return _answer(f"{server} refused the sender {exc.sender}", exc)
        case aiosmtplib.SMTPAuthenticationError():
            return _answer(
                f"{server} rejected the login as {settings.username!r} "
                "(check the user and password in PAGER_SMTP_URL)",
                exc,
            )
        case aiosmtplib.SMTPResponseException():
            return _answer(f"{server} answered", exc)
        case aiosmtplib.SMTPTimeoutError():
            return DeliveryFailed(f"{server}: timed out ({exc.message})", transient=True)
        case _ if (tls := _tls_error(exc)) is not None:
            return DeliveryFailed(
                f"{server}: TLS failed ({tls}); check smtps:// versus ?starttls=true and the "
                "server's certificate",
                transient=False,
            )
        case aiosmtplib.SMTPConnectError():
            return DeliveryFailed(str(exc), transient=True)  # names the host and port
        case aiosmtplib.SMTPServerDisconnected() | OSError():
            return DeliveryFailed(f"{server}: {exc}", transient=True)
        case aiosmtplib.SMTPException():
            # STARTTLS or AUTH not offered, SMTPUTF8 not supported: the configuration.
            return DeliveryFailed(f"{server}: {exc.message}", transient=False)


def _answer(what: str, exc: aiosmtplib.SMTPResponseException) -> DeliveryFailed:
    return DeliveryFailed(f"{what}: {exc.code} {exc.message}", transient=400 <= exc.code < 500)


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
