"""The console's session: one signed cookie holding the id of the visit's session on the
server, the CSRF token of its forms, and the messages to show on the next page.

The cookie is signed (itsdangerous, HMAC-SHA256) but not encrypted: it holds the session's
random id (the database keeps only its sha256, and the session is over once that row is
gone: signed out, expired, password changed, user removed), the user's id, the sign-in
time (to say a session expired), and a random CSRF token. Every form carries that token and
every POST must give it back (the synchronizer token pattern, kept in the signed cookie, so
that any number of processes can serve the console).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.responses import Response

COOKIE = "pager_session"
FlashKind = Literal["ok", "error"]


@dataclass
class Session:
    """One visit's view of the cookie; `changed` says whether it must be written back."""

    csrf: str
    session_id: str | None = None
    user_id: str | None = None
    signed_in_at: int | None = None
    flashes: list[tuple[FlashKind, str]] = field(default_factory=list)
    changed: bool = False
    ended: bool = False

    @classmethod
    def new(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(24), changed=True)

    @property
    def signed_in(self) -> bool:
        """Whether the cookie says so; only the server's session row makes it true."""
        return self.session_id is not None

    def sign_in(self, session_id: str, user_id: str, now: int) -> None:
        # A new CSRF token too: nothing learnt before signing in is of use after it.
        self.csrf = secrets.token_urlsafe(24)
        self.session_id, self.user_id, self.signed_in_at = session_id, user_id, now
        self.changed = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.session_id = self.user_id = self.signed_in_at = None
        self.changed = True

    def flash(self, text: str, kind: FlashKind = "ok") -> None:
        self.flashes.append((kind, text))
        self.changed = True

    def take_flashes(self) -> list[tuple[FlashKind, str]]:
        taken, self.flashes = self.flashes, []
        if taken:
            self.changed = True
        return taken

    def csrf_matches(self, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.encode(), self.csrf.encode())

    def _data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"c": self.csrf}
        if self.session_id is not None:
            data |= {"s": self.session_id, "u": self.user_id, "t": self.signed_in_at}
        if self.flashes:
            data["f"] = [list(flash) for flash in self.flashes]
        return data


class SessionCodec:
    """Reads and writes the cookie. `secret` is called on use: the key may live in the
    database, which is not there yet when the app is built."""

    def __init__(self, secret: Callable[[], bytes], *, max_age_seconds: int, secure: bool) -> None:
        self._secret = secret
        self.max_age = max_age_seconds
        self.secure = secure

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(
            self._secret(),
            salt="pager.console.session",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def load(self, cookie: str | None, now: int) -> Session:
        """The session in the cookie, or a new one if it is missing, forged or expired."""
        if not cookie or len(cookie) > 4096:
            return Session.new()
        try:
            data = self._serializer().loads(cookie)
        except BadSignature:
            return Session.new()
        session = _parse(data)
        if session is None:
            return Session.new()
        if session.signed_in_at is not None and now - session.signed_in_at > self.max_age:
            session.sign_out()
            session.flash("Your session expired: please sign in again.", "error")
        return session

    def encode(self, session: Session) -> str:
        encoded: str = self._serializer().dumps(session._data())
        return encoded

    def save(self, session: Session, response: Response) -> None:
        if not session.changed:
            return
        response.set_cookie(
            COOKIE,
            self.encode(session),
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )


def _parse(data: Any) -> Session | None:
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    session = Session(csrf=data["c"])
    if "s" in data or "u" in data:  # "u" alone: a cookie from before migration 0004
        session_id, user_id, at = data.get("s"), data.get("u"), data.get("t")
        if not (isinstance(session_id, str) and isinstance(user_id, str) and isinstance(at, int)):
            return None
        session.session_id, session.user_id, session.signed_in_at = session_id, user_id, at
    flashes = data.get("f", [])
    if isinstance(flashes, list):
        for item in flashes[:10]:
            if isinstance(item, list) and len(item) == 2 and item[0] in ("ok", "error"):
                session.flashes.append((item[0], str(item[1])))
    return session
