"""Real servers on 127.0.0.1 for tests: an SMTP sink, Twilio's Messages and Calls APIs (and
Twilio's side of a call or a text: it calls Pager back, signed as Twilio signs), a webhook
receiver and a Slack incoming webhook. Each records what it got and can be scripted to fail.

    with TwilioServer() as twilio:
        twilio.script(Reply.twilio_error(500, 20500, "Internal Server Error"))
        ...  # point PAGER_TWILIO_BASE_URL at twilio.url
        (sms,) = twilio.wait_for(1)
        (call,) = twilio.calls.wait_for(1)
        said, answer = twilio.answer_call(call, digits="1")
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import re
import socket
import ssl
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, cast, overload
from urllib.parse import parse_qs, quote, urlencode, urljoin

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

HOST = "127.0.0.1"
# Pager refuses to page private addresses such as HOST unless told: tests/conftest.py sets
# this for the whole session, and every `pagerd` the tests start gets it too.
ALLOW_PRIVATE_TARGETS = {"PAGER_ALLOW_PRIVATE_TARGETS": "true"}
T = TypeVar("T")


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (as long as nobody takes it meanwhile)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Recording(Sequence[T]):
    """A thread-safe list that servers append to and tests wait on."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def append(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._items.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[T]:
        """The first `count` items, once there are that many; AssertionError after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) >= count, timeout):
                raise AssertionError(
                    f"expected {count} within {timeout}s, got {len(self._items)}: {self._items!r}"
                )
            return self._items[:count]

    def __len__(self) -> int:
        with self._changed:
            return len(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        with self._changed:
            return self._items[index]

    def __iter__(self) -> Iterator[T]:
        with self._changed:
            return iter(list(self._items))

    def __eq__(self, other: object) -> bool:
        """Equal to a list (or another recording) with the same items."""
        if isinstance(other, Recording | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Recording({self._items!r})"


class _Server:
    """start()/stop() and the context manager, for every server below."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- TLS ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""

    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path) -> Certificate:
        cert, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-nodes", "-days", "2",
                "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext", "basicConstraints=critical,CA:TRUE",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cls(cert, key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert))


# --- SMTP -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None
    """The user that logged in, if any."""
    tls: bool
    peer: tuple[str, int] = ("", 0)
    """The sender's address and port: one per connection."""

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "no text/plain part"
        return cast(str, part.get_content())


SmtpSecurity = Literal["plain", "starttls", "tls"]


class SmtpSink(_Server):
    """An SMTP server (aiosmtpd) that accepts and records every message.

    `security` "starttls" and "tls" (implicit, SMTPS) need a `certificate`. With `users`
    ({login: password}) it offers AUTH (PLAIN and LOGIN unless `mechanisms` says otherwise),
    also on a plain connection, and refuses MAIL before a login."""

    def __init__(
        self,
        *,
        security: SmtpSecurity = "plain",
        certificate: Certificate | None = None,
        users: Mapping[str, str] | None = None,
        mechanisms: Sequence[str] = ("PLAIN", "LOGIN"),
    ) -> None:
        if security != "plain" and certificate is None:
            raise ValueError(f"{security} needs a certificate")
        self.security = security
        self.messages: Recording[ReceivedMail] = Recording()
        self._users = dict(users or {})
        self._refused: dict[str, str] = {}
        self._certificate = certificate
        self._mechanisms = {m.upper() for m in mechanisms}
        self._controller: Controller | None = None
        self.port = 0
        self.answer_delay = 0.0
        """Seconds to wait, after recording a message, before answering 250 (to crash a
        sender between the server accepting and the sender recording it)."""
        self.hold: threading.Event | None = None
        """If set to an Event, each 250 also waits (up to 30 s) until that is set: the test
        acts while the server has a message and the sender does not know it yet."""

    @property
    def host(self) -> str:
        return HOST

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The PAGER_SMTP_URL that reaches this server."""
        scheme = "smtps" if self.security == "tls" else "smtp"
        auth = ""
        if user is not None:
            auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
        query = "?starttls=true" if self.security == "starttls" else ""
        return f"{scheme}://{auth}{HOST}:{self.port}{query}"

    def refuse(
        self, address: str, reply: str = "550 5.1.1 Recipient address rejected: User unknown"
    ) -> None:
        """Answer RCPT TO `address` with `reply` from now on."""
        self._refused[address.lower()] = reply

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        return self.messages.wait_for(count, timeout)

    def start(self) -> Self:
        kwargs: dict[str, Any] = {
            "server_hostname": "localhost",
            "authenticator": self._authenticate,
            "auth_require_tls": False,
            "auth_exclude_mechanism": [m for m in ("PLAIN", "LOGIN") if m not in self._mechanisms],
        }
        if self._certificate is not None and self.security == "starttls":
            kwargs["tls_context"] = self._certificate.server_context()
        if self._certificate is not None and self.security == "tls":
            kwargs["ssl_context"] = self._certificate.server_context()
        for _ in range(5):
            port = self.port or free_port()  # after a stop, come back on the same port
            controller = Controller(_SmtpHandler(self), hostname=HOST, port=port, **kwargs)
            try:
                controller.start()
            except OSError:  # somebody took the port meanwhile
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError("could not start the SMTP sink")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not self._users or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        if self._users.get(login) != password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.sink._users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refused = self.sink._refused.get(address.lower())
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        content = envelope.original_content or b""
        self.sink.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=content,
                login=session.auth_data if session.authenticated else None,
                tls=tls,
                peer=tuple(session.peer),
            )
        )
        if self.sink.answer_delay:
            await asyncio.sleep(self.sink.answer_delay)
        if self.sink.hold is not None:
            await asyncio.to_thread(self.sink.hold.wait, 30)
        return f"250 2.0.0 Ok: queued as {len(self.sink.messages)}"


class Unresponsive(_Server):
    """Accepts connections (the kernel does) and never says a word: for timeouts."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        self._socket = socket.socket()
        self._socket.bind((HOST, 0))
        self._socket.listen(8)
        self.port = self._socket.getsockname()[1]
        return self

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


# --- HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    """Names in lower case."""
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, text.encode(), {"Content-Type": "text/plain", **(headers or {})})

    @classmethod
    def twilio_error(
        cls, status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """An error in Twilio's shape."""
        data = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return cls.json(status, data, headers)


class HttpServer(_Server):
    """Records every request; answers with the scripted replies first, then `answer()`."""

    def __init__(self) -> None:
        self.requests: Recording[RecordedRequest] = Recording()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script.extend(replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        return self.requests.wait_for(count, timeout)

    def answer(self, request: RecordedRequest) -> Reply:
        return Reply.text(200, "ok")

    def start(self) -> Self:
        server = _QuietHttpServer((HOST, 0), _Handler)
        server.owner = self
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()  # joins the request threads
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None

    def _reply_to(self, request: RecordedRequest) -> Reply:
        self.requests.append(request)
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        return scripted or self.answer(request)


class _QuietHttpServer(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() waits for them
    owner: HttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (a timeout test) is not news


class _Handler(BaseHTTPRequestHandler):
    server: _QuietHttpServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length),
        )
        reply = self.server.owner._reply_to(request)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Sms:
    sid: str
    to: str
    from_: str
    body: str


@dataclass(frozen=True, slots=True)
class Call:
    """A call Twilio was asked to place: where it fetches its TwiML and posts its status."""

    sid: str
    to: str
    from_: str
    url: str
    method: str
    status_callback: str | None
    status_callback_method: str
    timeout: int


@dataclass(frozen=True, slots=True)
class CallLeg:
    """What a call said (its TwiML), and what Pager answered the key press with."""

    twiml: ET.Element
    answer: ET.Element | None


def spoken(twiml: ET.Element) -> list[str]:
    """Every <Say> of a TwiML document, in order (those inside <Gather> included)."""
    return [say.text or "" for say in twiml.iter("Say")]


class TwilioServer(HttpServer):
    """Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json` and `.../Calls.json`, with
    their checks (basic auth, required fields, E.164; a call needs a number to call from
    and a TwiML `Url`) and answers (201 with a `sid`; errors with `code`, `message`).
    `messages` holds the texts it accepted, `calls` the calls.

    And Twilio's side of them: `answer_call` fetches a call's TwiML and presses keys,
    `finish_call` posts its status callback, `text_in` posts an incoming text; each signed
    as Twilio signs (`X-Twilio-Signature`, the twilio package's own computation), sent
    through `via` when given (a TestClient), else over HTTP."""

    PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<resource>Messages|Calls)\.json")
    E164 = re.compile(r"\+[1-9][0-9]{6,14}")

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: Recording[Sms] = Recording()
        self.calls: Recording[Call] = Recording()
        self.via: httpx.Client | None = None
        """Where the callbacks go instead of over HTTP (a TestClient of Pager's app)."""

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Sms]:  # type: ignore[override]
        return self.messages.wait_for(count, timeout)

    def answer(self, request: RecordedRequest) -> Reply:
        path = self.PATH.fullmatch(request.path)
        if path is None or request.method != "POST":
            return Reply.twilio_error(
                404, 20404, f"The requested resource {request.path} was not found"
            )
        if (
            not self._authorized(request.header("Authorization"))
            or path["account"] != self.account_sid
        ):
            return Reply.twilio_error(401, 20003, "Authenticate")
        if path["resource"] == "Calls":
            return self._call(request.form())
        return self._message(request.form())

    def _message(self, form: dict[str, str]) -> Reply:
        to, sender, body = (
            form.get("To"),
            form.get("From") or form.get("MessagingServiceSid"),
            form.get("Body"),
        )
        if not to:
            return Reply.twilio_error(400, 21604, "A 'To' phone number is required.")
        if not self.E164.fullmatch(to):
            return Reply.twilio_error(
                400, 21211, f"The 'To' number {to} is not a valid phone number."
            )
        if not sender:
            return Reply.twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return Reply.twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return Reply.twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sms = Sms(sid="SM" + uuid.uuid4().hex, to=to, from_=sender, body=body)
        self.messages.append(sms)
        return Reply.json(
            201,
            {
                "sid": sms.sid,
                "account_sid": self.account_sid,
                "to": sms.to,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": sms.body,
                "status": "queued",
                "num_segments": "1",
                "date_created": format_datetime(datetime.now(UTC), usegmt=True),
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sms.sid}.json",
            },
        )

    def _call(self, form: dict[str, str]) -> Reply:
        to, sender, url = form.get("To"), form.get("From"), form.get("Url")
        if not to:
            return Reply.twilio_error(400, 21201, "No 'To' number is specified")
        if not self.E164.fullmatch(to):
            return Reply.twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender:
            return Reply.twilio_error(400, 21213, "No 'From' number is specified")
        if not self.E164.fullmatch(sender):
            return Reply.twilio_error(400, 21212, f"Invalid 'From' Phone Number: {sender}")
        if not url or not url.startswith(("http://", "https://")):
            return Reply.twilio_error(400, 21205, "Url parameter is required and must be a URL.")
        try:
            timeout = int(form.get("Timeout", "60"))
        except ValueError:
            return Reply.twilio_error(400, 21216, "Timeout must be an integer.")
        call = Call(
            sid="CA" + uuid.uuid4().hex,
            to=to,
            from_=sender,
            url=url,
            method=form.get("Method", "POST"),
            status_callback=form.get("StatusCallback"),
            status_callback_method=form.get("StatusCallbackMethod", "POST"),
            timeout=timeout,
        )
        self.calls.append(call)
        return Reply.json(
            201,
            {
                "sid": call.sid,
                "account_sid": self.account_sid,
                "to": call.to,
                "from": call.from_,
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": format_datetime(datetime.now(UTC), usegmt=True),
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json",
            },
        )

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header is not None and hmac.compare_digest(header, f"Basic {expected}")

    # -- Twilio's side: what it posts to Pager

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """`X-Twilio-Signature` for a POST of `params` to `url`, as Twilio computes it."""
        signature: str = RequestValidator(self.auth_token).compute_signature(url, dict(params))
        return signature

    def post(
        self, url: str, params: Mapping[str, str], signature: str | None = ""
    ) -> httpx.Response:
        """POST the form to `url`, signed; `signature` None sends none, a string other than
        "" sends that one instead."""
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature or self.sign(url, params)
        if self.via is not None:
            return self.via.post(url, data=dict(params), headers=headers)
        return httpx.post(url, data=dict(params), headers=headers, timeout=30.0)

    def call_params(self, call: Call, status: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }

    def answer_call(self, call: Call, digits: str | None = None) -> CallLeg:
        """The call is picked up: fetch its TwiML; with `digits`, press them at its first
        <Gather> (posted to the Gather's action, as Twilio does)."""
        params = self.call_params(call, "in-progress")
        fetched = self.post(call.url, params)
        assert fetched.status_code == 200, fetched.text
        twiml = ET.fromstring(fetched.content)
        if digits is None:
            return CallLeg(twiml, None)
        gather = twiml.find(".//Gather")
        assert gather is not None, fetched.text
        pressed = self.press(urljoin(call.url, gather.get("action") or call.url), call, digits)
        assert pressed.status_code == 200, pressed.text
        return CallLeg(twiml, ET.fromstring(pressed.content))

    def press(self, action: str, call: Call, digits: str) -> httpx.Response:
        """Post a key press to a Gather's `action`."""
        params = self.call_params(call, "in-progress") | {"Digits": digits, "FinishedOnKey": ""}
        return self.post(action, params)

    def finish_call(self, call: Call, status: str, duration: int = 0) -> httpx.Response:
        """Post the call's status callback: completed, busy, no-answer, failed or canceled."""
        assert call.status_callback is not None, "the call asked for no status callback"
        params = self.call_params(call, status) | {
            "CallDuration": str(duration),
            "Duration": str(duration),
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
        }
        return self.post(call.status_callback, params)

    def text_params(self, from_: str, to: str, body: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": from_,
            "MessageSid": "SM" + uuid.uuid4().hex,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": "SM" + uuid.uuid4().hex,
            "SmsStatus": "received",
            "To": to,
        }

    def text_in(self, url: str, from_: str, to: str, body: str) -> httpx.Response:
        """An incoming text, posted to the number's "A message comes in" webhook `url`."""
        return self.post(url, self.text_params(from_, to, body))


class WebhookReceiver(HttpServer):
    """A webhook endpoint at `url` (any path). With a `secret`, it answers 401 to a request
    whose `X-Pager-Signature` does not verify."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret

    def verify(self, request: RecordedRequest, secret: str | None = None) -> bool:
        """Whether the request's signature is the HMAC-SHA256 of its body with the secret."""
        key = secret or self.secret
        header = request.header("X-Pager-Signature")
        if key is None or header is None:
            return False
        expected = "sha256=" + hmac.new(key.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(header, expected)

    def answer(self, request: RecordedRequest) -> Reply:
        if self.secret is not None and not self.verify(request):
            return Reply.json(401, {"error": "bad signature"})
        return Reply.json(200, {"ok": True})


class SlackReceiver(HttpServer):
    """A Slack incoming webhook at `hook_url`; answers like Slack: 200 `ok`, 404 `no_service`
    for another path, 400 `invalid_payload` for a body without `text`."""

    HOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"

    @property
    def hook_url(self) -> str:
        return self.url + self.HOOK_PATH

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path != self.HOOK_PATH or request.method != "POST":
            return Reply.text(404, "no_service")
        try:
            payload = request.json()
        except ValueError:
            return Reply.text(400, "invalid_payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return Reply.text(400, "invalid_payload")
        return Reply.text(200, "ok")


# What a Teams webhook checks of an Adaptive Card 1.4 before it posts it: the required
# properties of each element Pager sends (adaptivecards.io/explorer).
_CARD_ELEMENTS: dict[str, tuple[str, ...]] = {
    "TextBlock": ("text",),
    "FactSet": ("facts",),
    "Action.OpenUrl": ("url",),
}


def adaptive_card_problem(message: Any) -> str | None:
    """Why a Teams webhook would refuse `message`, or None when the card is well formed."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return 'the "type" field must be "message"'
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return '"attachments" must be a list of cards'
    for attachment in attachments:
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "contentType must be application/vnd.microsoft.card.adaptive"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "content.type must be AdaptiveCard"
        if not isinstance(card.get("version"), str):
            return "content.version is required"
        body, actions = card.get("body", []), card.get("actions", [])
        if not isinstance(body, list) or not isinstance(actions, list):
            return "body and actions must be lists"
        for element in (*body, *actions):
            kind = element.get("type") if isinstance(element, dict) else None
            if kind not in _CARD_ELEMENTS:
                return f"unknown element type {kind!r}"
            missing = [name for name in _CARD_ELEMENTS[kind] if not element.get(name)]
            if missing:
                return f"{kind} requires {', '.join(missing)}"
            if kind == "FactSet" and not all(
                isinstance(f, dict)
                and isinstance(f.get("title"), str)
                and isinstance(f.get("value"), str)
                for f in element["facts"]
            ):
                return "each fact requires a title and a value"
    return None


class TeamsReceiver(HttpServer):
    """A Teams incoming webhook at `hook_url`; answers like a connector: 200 `1`, 404 for
    another path (a removed webhook), 400 with the reason for a message that is not a
    well-formed Adaptive Card. `cards` are the cards of the messages it took."""

    HOOK_PATH = "/webhookb2/00000000-0000-0000-0000-000000000000/IncomingWebhook/SECRETx/0"
    THROTTLED = (
        "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
        "HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=1"
    )

    @property
    def hook_url(self) -> str:
        return self.url + self.HOOK_PATH

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [
            a["content"]
            for r in self.requests
            if r.path == self.HOOK_PATH and adaptive_card_problem(_json_or_none(r.body)) is None
            for a in r.json()["attachments"]
        ]

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path != self.HOOK_PATH or request.method != "POST":
            return Reply.text(404, "Webhook not found")
        message = _json_or_none(request.body)
        if message is None:
            return Reply.text(400, "Bad payload received by generic incoming webhook.")
        problem = adaptive_card_problem(message)
        if problem is not None:
            return Reply.text(400, f"Bad request: {problem}")
        return Reply.text(200, "1")


class MattermostReceiver(HttpServer):
    """A Mattermost incoming webhook at `hook_url`; answers like Mattermost: 200 `ok`, and
    400 with its JSON error for another path (`Invalid webhook.`), a body that is not JSON
    or one with neither text nor attachments."""

    HOOK_PATH = "/hooks/ewxjdnwk8pnhbqm3pfrzjfeyqr"

    @property
    def hook_url(self) -> str:
        return self.url + self.HOOK_PATH

    @staticmethod
    def error(status: int, error_id: str, message: str) -> Reply:
        """An error in Mattermost's shape (model.AppError)."""
        data = {
            "id": error_id,
            "message": message,
            "detailed_error": "",
            "request_id": uuid.uuid4().hex[:26],
            "status_code": status,
        }
        return Reply.json(status, data)

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path != self.HOOK_PATH or request.method != "POST":
            return self.error(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.")
        payload = _json_or_none(request.body)
        if not isinstance(payload, dict):
            return self.error(
                400, "web.incoming_webhook.parse.app_error", "Unable to parse incoming data."
            )
        if not payload.get("text") and not payload.get("attachments"):
            return self.error(400, "web.incoming_webhook.text.app_error", "No text specified.")
        return Reply.text(200, "ok")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message the Slack app posted, or a version of it that chat.update made."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]

    def buttons(self) -> dict[str, dict[str, Any]]:
        """The message's buttons by action_id."""
        return {
            element["action_id"]: element
            for block in self.blocks
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if element.get("type") == "button"
        }

    def mrkdwn(self) -> str:
        """All the text its blocks show, one line per text."""
        texts = []
        for block in self.blocks:
            if "text" in block:
                texts.append(block["text"]["text"])
            texts += [element["text"] for element in block.get("elements", []) if "text" in element]
        return "\n".join(t if isinstance(t, str) else t["text"] for t in texts)


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class SignedPress:
    """A button press as Slack posts it: the form body and the headers that sign it."""

    body: bytes
    headers: dict[str, str]
    payload: dict[str, Any]

    @property
    def timestamp(self) -> str:
        return self.headers["X-Slack-Request-Timestamp"]

    @property
    def signature(self) -> str:
        return self.headers["X-Slack-Signature"]


class SlackApiServer(HttpServer):
    """Slack's Web API under `api_url` (what PAGER_SLACK_API_URL points at), as Slack answers:
    HTTP 200 with `{"ok": false, "error": ...}` for a missing token (`not_authed`), a wrong
    one (`invalid_auth`), an unknown channel (`channel_not_found`), a channel the app is not
    in (`not_in_channel`), an unknown message (`message_not_found`) or user
    (`user_not_found`); `ok: true` answers with `channel`, `ts` and `message`.
    chat.postMessage, chat.update, chat.postEphemeral and users.info; it records what they
    were asked (`messages` as they are now, `updates`, `ephemerals`, `lookups`). `press`
    then posts a button of a message to Pager as Slack does, signed with `signing_secret`."""

    TEAM = "T0PAGER01"
    APP = "A0PAGER01"
    BOT = "B0PAGER01"

    def __init__(
        self,
        token: str = "xoxb-test-bot-token",
        signing_secret: str = "test-signing-secret-8f3e2a",
        channels: Mapping[str, str] | None = None,
        users: Sequence[SlackUser] = (),
    ) -> None:
        super().__init__()
        self.token = token
        self.signing_secret = signing_secret
        self.channels = dict(channels or {"C0PAGER01": "oncall"})
        """Channel ids the app can post to, with their names."""
        self.not_member: set[str] = set()
        """Channels that exist but that the app has not been invited to."""
        self.users = {user.id: user for user in users}
        self.messages: Recording[SlackMessage] = Recording()
        """As posted."""
        self.updates: Recording[SlackMessage] = Recording()
        self._current: dict[tuple[str, str], SlackMessage] = {}
        self.ephemerals: Recording[dict[str, Any]] = Recording()
        self.lookups: Recording[str] = Recording()
        """The user ids users.info was asked about."""
        self._ts = 1_714_564_800_000_100

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @staticmethod
    def error(error: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """An error answer in Slack's shape (for `script`)."""
        return Reply.json(status, {"ok": False, "error": error}, headers)

    def message_for(self, incident_id: str, timeout: float = 5.0) -> SlackMessage:
        """The (first) message whose buttons are for that incident, once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                buttons = message.buttons().values()
                if any(button.get("value") == incident_id for button in buttons):
                    return message
                if incident_id in message.text:
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no Slack message for {incident_id}: {list(self.messages)}")
            time.sleep(0.02)

    def current(self, message: SlackMessage) -> SlackMessage:
        """The message as it is now, after any updates."""
        with self._lock:
            return self._current.get((message.channel, message.ts), message)

    def answer(self, request: RecordedRequest) -> Reply:
        path, _, query = request.path.partition("?")
        method = path.removeprefix("/api/")
        if not path.startswith("/api/"):
            return Reply.text(404, "Not Found")
        auth = request.header("Authorization")
        if auth is None:
            return self.error("not_authed")
        if not hmac.compare_digest(auth, f"Bearer {self.token}"):
            return self.error("invalid_auth")
        args = self._args(request, query)
        match method:
            case "chat.postMessage":
                return self._post(args)
            case "chat.update":
                return self._update(args)
            case "chat.postEphemeral":
                return self._ephemeral(args)
            case "users.info":
                return self._user(args)
        return self.error("unknown_method", 404)

    @staticmethod
    def _args(request: RecordedRequest, query: str) -> dict[str, Any]:
        """Slack takes arguments as a query, a form or JSON."""
        args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
        content_type = request.header("Content-Type") or ""
        if request.body and content_type.startswith("application/json"):
            args.update(request.json())
        elif request.body:
            args.update(request.form())
        return args

    def _channel(self, args: Mapping[str, Any]) -> str | Reply:
        channel = args.get("channel")
        if not channel:
            return self.error("channel_not_found")
        if channel not in self.channels:
            return self.error("channel_not_found")
        if channel in self.not_member:
            return self.error("not_in_channel")
        return str(channel)

    def _post(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        if isinstance(channel, Reply):
            return channel
        text, blocks = args.get("text") or "", args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            return self.error("no_text")
        if not isinstance(blocks, list) or len(blocks) > 50:
            return self.error("invalid_blocks")
        self._ts += 100
        ts = f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"
        message = SlackMessage(channel, ts, text, blocks)
        with self._lock:
            self._current[(channel, ts)] = message
        self.messages.append(message)
        return Reply.json(
            200, {"ok": True, "channel": channel, "ts": ts, "message": self._message(message)}
        )

    def _update(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        if isinstance(channel, Reply):
            return channel
        with self._lock:
            old = self._current.get((channel, str(args.get("ts"))))
        if old is None:
            return self.error("message_not_found")
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        message = SlackMessage(channel, old.ts, args.get("text") or old.text, blocks)
        with self._lock:
            self._current[(channel, old.ts)] = message
        self.updates.append(message)
        return Reply.json(
            200,
            {
                "ok": True,
                "channel": channel,
                "ts": message.ts,
                "text": message.text,
                "message": self._message(message),
            },
        )

    def _ephemeral(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        if isinstance(channel, Reply):
            return channel
        if args.get("user") not in self.users:
            return self.error("user_not_in_channel")
        self.ephemerals.append(dict(args))
        self._ts += 100
        return Reply.json(
            200, {"ok": True, "message_ts": f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"}
        )

    def _user(self, args: Mapping[str, Any]) -> Reply:
        user_id = str(args.get("user") or "")
        self.lookups.append(user_id)
        user = self.users.get(user_id)
        if user is None:
            return self.error("user_not_found")
        profile: dict[str, Any] = {"real_name": user.name.title(), "display_name": user.name}
        if user.email is not None:
            profile["email"] = user.email
        return Reply.json(
            200,
            {
                "ok": True,
                "user": {
                    "id": user.id,
                    "team_id": self.TEAM,
                    "name": user.name,
                    "deleted": False,
                    "real_name": user.name.title(),
                    "tz": "Europe/London",
                    "profile": profile,
                    "is_bot": False,
                    "updated": 1_714_564_800,
                },
            },
        )

    def _message(self, message: SlackMessage) -> dict[str, Any]:
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": message.text,
            "ts": message.ts,
            "bot_id": self.BOT,
            "app_id": self.APP,
            "blocks": message.blocks,
        }

    def signed_press(
        self,
        message: SlackMessage,
        action_id: str,
        user_id: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedPress:
        """A block_actions interaction for the button `action_id` of `message` as it is now
        (KeyError if it has no such button now), pressed by `user_id`, signed as Slack signs
        (`v0:{timestamp}:{body}`, HMAC-SHA256 with the signing secret, or `secret`) at
        `timestamp` (now by default)."""
        message = self.current(message)
        button = message.buttons()[action_id]
        user = self.users.get(user_id) or SlackUser(user_id, user_id.lower())
        now = int(time.time()) if timestamp is None else timestamp
        payload = {
            "type": "block_actions",
            "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": self.TEAM},
            "api_app_id": self.APP,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{now}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}",
            "team": {"id": self.TEAM, "domain": "pager-tests"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": self.channels.get(message.channel, "")},
            "message": self._message(message),
            "state": {"values": {}},
            "response_url": f"{self.url}/actions/{self.TEAM}/{uuid.uuid4().hex}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "pager_actions",
                    "text": button["text"],
                    "value": button["value"],
                    "style": button.get("style"),
                    "type": "button",
                    "action_ts": f"{now}.{uuid.uuid4().int % 10**6:06d}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        signature = SignatureVerifier(secret or self.signing_secret).generate_signature(
            timestamp=str(now), body=body
        )
        assert signature is not None
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        return SignedPress(body, headers, payload)

    def press(
        self,
        pager_url: str,
        message: SlackMessage,
        action_id: str,
        user_id: str,
        **signing: Any,
    ) -> httpx.Response:
        """Post the press to Pager's `/integrations/slack/actions`, as Slack does."""
        signed = self.signed_press(message, action_id, user_id, **signing)
        return httpx.post(
            pager_url.rstrip("/") + "/integrations/slack/actions",
            content=signed.body,
            headers=signed.headers,
            timeout=10.0,
        )
