"""The web console in process (FastAPI's TestClient) on real SQLite and PostgreSQL: signing in,
CSRF, roles, every page, the policy editor, admin; and never a 500 for what a browser or a
hostile client can send."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from pager.adapters.storage import tables as t
from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.queries import SqlQueries
from pager.application.accounts import Accounts, Role, User, secret_hash
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.policy import EscalationPolicy, WebhookTarget
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.console import web
from pager.entrypoints.console.auth import NOT_RECOGNISED
from pager.entrypoints.console.session import COOKIE, Session
from pager.entrypoints.console.throttle import (
    CLIENT_BURST,
    SignInLimiter,
    TooManyTries,
    client_key,
)
from pager.entrypoints.http.app import create_app
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock

ADMIN, RESPONDER, PASSWORD = "admin@example.com", "responder@example.com", "correct horse"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A TestClient that signs in and fills in the CSRF token as a browser's forms do."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def csrf(self, path: str = "/login") -> str:
        found = CSRF.search(self.client.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found[1]

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf("/account" if self.signed_in else "/login"))
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(path, data=form, **kwargs)

    @property
    def signed_in(self) -> bool:
        return self.client.get("/account", follow_redirects=False).status_code == 200

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/login", {"email": email, "password": password, "next": "/"})


@dataclass
class Console:
    app: App
    accounts: Accounts
    admin: Browser
    responder: Browser
    anonymous: Browser
    clock: FakeClock

    def browser(self) -> Browser:
        return Browser(TestClient(create_app(self.app)))

    def open_incident(self, service: str = "db", message: str = "disk full") -> str:
        return self.app.handlers.receive_alert(service, message).incident_id

    def policy(self, policy_id: str) -> EscalationPolicy | None:
        view = SqlQueries(self.app.engine).policy(policy_id)
        return None if view is None else view.policy

    def incident_status(self, incident_id: str) -> str:
        with self.app.engine.connect() as conn:
            status: str = conn.scalar(
                sa.select(t.incidents.c.status).where(t.incidents.c.id == incident_id)
            )
        return status


@cache
def password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


def add_user(container: App, email: str, role: Role) -> User:
    """A user with the password PASSWORD, without paying for argon2 in every test."""
    user = User(uuid.uuid4().hex, email, role, container.clock.now())
    SqlAccountStore(container.engine).add_user(user, password_hash())
    return user


def signed_in(container: App, client: TestClient, user: User) -> Browser:
    """`client` with the session (row and cookie) that signing in as `user` would have made,
    without paying for argon2 in every test."""
    console: web.Console = client.app.state.console  # type: ignore[attr-defined]
    session_id = secrets.token_urlsafe(32)
    now = container.clock.now()
    lifetime = timedelta(seconds=container.settings.session_max_age_seconds)
    store = SqlAccountStore(container.engine)
    assert store.add_session(secret_hash(session_id), user.id, password_hash(), now, now + lifetime)
    session = Session.new()
    session.sign_in(session_id, user.id, int(now.timestamp()))
    client.cookies.set(COOKIE, console.sessions.encode(session))
    return Browser(client)


@contextmanager
def make_console(database_url: str, clock: FakeClock, **settings: Any) -> Iterator[Console]:
    container = bootstrap(Settings(database_url=database_url, **settings), clock=clock)
    admin_user = add_user(container, ADMIN, "admin")
    responder_user = add_user(container, RESPONDER, "responder")
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    clients = [TestClient(create_app(container)) for _ in range(3)]
    admin = signed_in(container, clients[0], admin_user)
    responder = signed_in(container, clients[1], responder_user)
    accounts = accounts_for(container.engine)
    try:
        yield Console(container, accounts, admin, responder, Browser(clients[2]), clock)
    finally:
        for client in clients:
            client.close()
        container.engine.dispose()


@pytest.fixture
def console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    with make_console(database_url, clock) as console:
        yield console


# -- signing in


def test_pages_need_a_sign_in_and_come_back_after_it(console: Console) -> None:
    incident_id = console.open_incident()
    answer = console.anonymous.get(f"/incidents/{incident_id}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next=/incidents/{incident_id}"

    page = console.anonymous.get(answer.headers["location"])
    assert 'name="next" value="/incidents/' + incident_id in page.text
    signed_in = console.anonymous.post(
        "/login",
        {"email": ADMIN, "password": PASSWORD, "next": f"/incidents/{incident_id}"},
        csrf=True,
    )
    assert signed_in.headers["location"] == f"/incidents/{incident_id}"
    assert "disk full" in console.anonymous.get(f"/incidents/{incident_id}").text


def test_a_wrong_password_says_so_and_signs_nobody_in(console: Console) -> None:
    answer = console.anonymous.sign_in(ADMIN, "not the password")
    assert answer.status_code == 400
    assert "Wrong email or password." in answer.text
    assert f'value="{ADMIN}"' in answer.text  # no retyping the email
    assert console.anonymous.sign_in("nobody@example.com").status_code == 400
    assert not console.anonymous.signed_in


def test_the_session_cookie_is_httponly_lax_and_signed(console: Console) -> None:
    browser = console.browser()
    answer = browser.sign_in(ADMIN)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # PAGER_PUBLIC_URL is http here

    forged = Browser(TestClient(create_app(console.app), cookies={COOKIE: "x" + cookie[15:40]}))
    assert not forged.signed_in


def test_the_cookie_is_secure_when_the_public_url_is_https(
    database_url: str, clock: FakeClock
) -> None:
    container = bootstrap(
        Settings(database_url=database_url, public_url="https://pager.example.com"), clock=clock
    )
    accounts_for(container.engine).add_user(ADMIN, "admin", PASSWORD)
    with TestClient(create_app(container), base_url="https://testserver") as client:
        answer = Browser(client).sign_in(ADMIN)
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]
    container.engine.dispose()


def test_signing_out_ends_the_session(console: Console) -> None:
    browser = console.browser()
    browser.sign_in(ADMIN)
    assert browser.signed_in
    assert "Sign out?" in browser.get("/logout").text  # a link alone signs nobody out
    assert browser.signed_in
    answer = browser.post("/logout")
    assert answer.headers["location"] == "/login"
    assert "You are signed out." in browser.get("/login").text
    assert not browser.signed_in


def copy_of(console: Console, browser: Browser) -> Browser:
    """Another client, in an app of its own (as another process would be), sending the
    same session cookie: what someone who copied the cookie has."""
    cookie = browser.client.cookies[COOKIE]
    return Browser(TestClient(create_app(console.app), cookies={COOKIE: cookie}))


def sessions_of(console: Console, email: str) -> int:
    with console.app.engine.connect() as conn:
        count: int = conn.scalar(
            sa.select(sa.func.count())
            .select_from(t.console_sessions.join(t.users))
            .where(t.users.c.email == email)
        )
    return count


def test_a_cookie_copied_before_signing_out_is_no_use_after_it(console: Console) -> None:
    browser = console.browser()
    browser.sign_in(ADMIN)
    copy = copy_of(console, browser)
    assert copy.get("/", follow_redirects=False).status_code == 200
    browser.post("/logout")
    answer = copy.get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert sessions_of(console, ADMIN) == 1  # the fixture's own


def test_signing_in_again_ends_the_session_that_was_there(console: Console) -> None:
    browser = console.browser()
    browser.sign_in(ADMIN)
    as_admin = copy_of(console, browser)
    browser.sign_in(RESPONDER)
    assert not as_admin.signed_in
    assert 'href="/admin"' not in browser.get("/").text  # signed in as the responder
    assert sessions_of(console, ADMIN) == 1  # the fixture's own


def test_a_session_ends_after_its_max_age(console: Console) -> None:
    assert console.admin.signed_in
    console.clock.advance(console.app.settings.session_max_age_seconds + 1)
    assert not console.admin.signed_in
    assert "Your session expired" in console.admin.get("/login").text


def test_a_removed_user_is_signed_out_at_once(console: Console) -> None:
    console.accounts.delete_user(RESPONDER)
    assert not console.responder.signed_in
    assert sessions_of(console, RESPONDER) == 0


def test_pagerd_user_remove_ends_their_sessions(console: Console, database_url: str) -> None:
    copy = copy_of(console, console.responder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    removed = subprocess.run(
        [sys.executable, "-m", "pager", "user", "remove", RESPONDER],
        env={**env, "PAGER_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert removed.returncode == 0, removed.stderr
    assert not copy.signed_in
    assert not console.responder.signed_in


def test_an_admin_removing_a_user_ends_their_sessions(console: Console) -> None:
    copy = copy_of(console, console.responder)
    console.admin.post("/admin/users/delete", {"email": RESPONDER})
    assert not copy.signed_in
    assert not console.responder.signed_in
    assert console.admin.signed_in


def test_changing_a_password_signs_out_the_other_sessions(console: Console) -> None:
    other = console.browser()
    other.sign_in(ADMIN)
    copy = copy_of(console, console.admin)
    answer = console.admin.post(
        "/account/password",
        {"current": PASSWORD, "new": "a new password", "repeat": "a new password"},
    )
    assert answer.status_code == 303
    assert console.admin.signed_in  # this session goes on, in every copy of its cookie
    assert copy.signed_in
    assert not other.signed_in
    assert sessions_of(console, ADMIN) == 1
    assert console.browser().sign_in(ADMIN, "a new password").status_code == 303


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"current": "wrong", "new": "long enough", "repeat": "long enough"},
            "current",
            "not your",
        ),
        ({"current": PASSWORD, "new": "long enough", "repeat": "different"}, "repeat", "differ"),
        ({"current": PASSWORD, "new": "short", "repeat": "short"}, "new", "at least 8"),
    ],
)
def test_a_bad_password_change_says_what_is_wrong_next_to_the_field(
    console: Console, form: dict[str, str], field: str, message: str
) -> None:
    answer = console.admin.post("/account/password", form)
    assert answer.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>[^<]*{message}', answer.text), answer.text


def at_addresses(console: Console, *hosts: str) -> list[Browser]:
    """Browsers at those client addresses on one app (so one process's sign-in limits), whose
    limits stand still in time: no try is refilled however slow argon2 is."""
    app = create_app(console.app)
    state: web.Console = app.state.console
    app.state.console = replace(state, sign_in_limiter=SignInLimiter(monotonic=lambda: 0.0))
    return [Browser(TestClient(app, client=(host, 50000))) for host in hosts]


def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(
    sqlite_url: str, clock: FakeClock
) -> None:
    # The limits live in the process, not the database: SQLite alone says all there is.
    with make_console(sqlite_url, clock) as console:
        attacker, owner = at_addresses(console, "10.0.0.1", "10.0.0.2")
        answers = [attacker.sign_in(ADMIN, f"guess {n}").text for n in range(13)]
        assert all(NOT_RECOGNISED in answer for answer in answers[:10])
        assert all(f"Too many tries for {ADMIN}" in answer for answer in answers[10:])
        assert "Too many tries" in attacker.sign_in(ADMIN).text  # even the right password
        assert owner.sign_in(ADMIN).status_code == 303
        assert owner.signed_in
        assert attacker.sign_in(RESPONDER).status_code == 303  # another account


def test_a_stolen_session_cannot_guess_the_password_faster_than_signing_in(
    sqlite_url: str, clock: FakeClock
) -> None:
    with make_console(sqlite_url, clock) as console:
        [thief] = at_addresses(console, "10.0.0.1")
        assert thief.sign_in(ADMIN).status_code == 303
        guesses = [
            thief.post(
                "/account/password", {"current": f"guess {n}", "new": "x" * 9, "repeat": "x" * 9}
            )
            for n in range(11)
        ]
        # Signing in rightly gave back its try: ten guesses, then the wait.
        assert all("not your current password" in g.text for g in guesses[:10])
        assert all("too many tries" in g.text for g in guesses[10:])
        right = thief.post(
            "/account/password", {"current": PASSWORD, "new": "x" * 9, "repeat": "x" * 9}
        )
        assert "too many tries" in right.text  # even the right one, until the wait is over


def test_signing_in_rightly_from_one_address_is_never_refused(
    sqlite_url: str, clock: FakeClock
) -> None:
    # One machine signing in again and again (a team's shared laptop, a browser test suite):
    # each right password gives its try back, however many tries are used.
    with make_console(sqlite_url, clock) as console:
        [laptop] = at_addresses(console, "10.0.0.1")
        assert NOT_RECOGNISED in laptop.sign_in(ADMIN, "typo").text
        answers = [laptop.sign_in(ADMIN).status_code for _ in range(CLIENT_BURST - 1)]
        assert answers == [303] * (CLIENT_BURST - 1)
        # The address's own budget still counts every try: it is spent now.
        assert "Too many tries from your address" in laptop.sign_in(ADMIN).text


def test_one_address_trying_many_accounts_is_throttled(sqlite_url: str, clock: FakeClock) -> None:
    with make_console(sqlite_url, clock) as console:
        sprayer, owner = at_addresses(console, "10.0.0.1", "10.0.0.2")
        emails = [f"user{n}@example.com" for n in range(CLIENT_BURST)]
        answers = [sprayer.sign_in(email, "password1").text for email in emails]
        assert all(NOT_RECOGNISED in answer for answer in answers)
        refused = sprayer.sign_in(ADMIN)
        assert "Too many tries from your address" in refused.text
        assert not sprayer.signed_in
        assert owner.sign_in(ADMIN).status_code == 303


def test_an_ipv6_client_is_its_64() -> None:
    limiter = SignInLimiter(monotonic=lambda: 0.0)
    for n in range(CLIENT_BURST):
        limiter.check(f"user{n}@example.com", f"2001:db8::{n + 1:x}")
    with pytest.raises(TooManyTries) as refused:
        limiter.check(ADMIN, "2001:db8::ffff:1")
    assert not refused.value.per_account
    limiter.check(ADMIN, "2001:db8:0:1::1")  # another /64
    limiter.check(ADMIN, "10.0.0.1")
    assert client_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert client_key(None) == client_key("unknown")


def test_the_login_page_explains_the_first_admin_on_an_empty_install(
    sqlite_url: str, clock: FakeClock
) -> None:
    container = bootstrap(Settings(database_url=sqlite_url), clock=clock)
    with TestClient(create_app(container)) as client:
        assert "pagerd user add" in client.get("/login").text
        first = accounts_for(container.engine).ensure_first_admin()
        assert first is not None
        assert Browser(client).sign_in(*first).status_code == 303
    container.engine.dispose()


# -- CSRF

POSTS = [
    "/logout",
    "/account/password",
    "/incidents/{incident}/acknowledge",
    "/incidents/{incident}/resolve",
    "/services",
    "/services/db",
    "/services/db/healthy",
    "/services/db/integration-key",
    "/services/db/delete",
    "/policies/new",
    "/policies/ops/edit",
    "/policies/ops/delete",
    "/admin/users",
    "/admin/users/role",
    "/admin/users/password",
    "/admin/users/delete",
    "/admin/tokens",
    "/admin/tokens/revoke",
]


@pytest.mark.parametrize("path", POSTS)
def test_every_form_needs_the_csrf_token(console: Console, path: str) -> None:
    incident_id = console.open_incident()
    path = path.format(incident=incident_id)
    for token in (None, "forged"):
        data = {} if token is None else {"csrf_token": token}
        answer = console.admin.post(path, data, csrf=False)
        assert answer.status_code == 403, path
        assert "This page has expired" in answer.text
    assert console.incident_status(incident_id) == "triggered"
    assert "Database" in console.admin.get("/services/db").text


def test_signing_in_needs_the_csrf_token_of_the_login_page(console: Console) -> None:
    browser = console.browser()
    answer = browser.post("/login", {"email": ADMIN, "password": PASSWORD}, csrf=False)
    assert answer.status_code == 403
    assert not browser.signed_in


# -- roles


ADMIN_ONLY = [
    ("GET", "/admin"),
    ("GET", "/services/new"),
    ("GET", "/policies/new"),
    ("GET", "/policies/ops/edit"),
    ("POST", "/services"),
    ("POST", "/services/db"),
    ("POST", "/services/db/integration-key"),
    ("POST", "/services/db/delete"),
    ("POST", "/policies/new"),
    ("POST", "/policies/ops/edit"),
    ("POST", "/policies/ops/delete"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/delete"),
    ("POST", "/admin/tokens"),
    ("POST", "/admin/tokens/revoke"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_responders_may_not_change_policies_services_or_users(
    console: Console, method: str, path: str
) -> None:
    if method == "GET":
        answer = console.responder.get(path)
    else:
        answer = console.responder.post(path, {"email": ADMIN, "name": "x", "id": "x"})
    assert answer.status_code == 403
    assert "Only admins" in answer.text
    assert "Database" in console.admin.get("/services/db").text
    assert ADMIN in console.admin.get("/admin").text


def test_responders_acknowledge_resolve_and_mark_healthy(console: Console) -> None:
    incident_id = console.open_incident()
    answer = console.responder.post(f"/incidents/{incident_id}/acknowledge", {"next": "/"})
    assert answer.headers["location"] == "/"
    named = f"Database: “disk full” ({incident_id[:8]})"
    assert f"Acknowledged {named}: nobody else will be paged." in console.responder.get("/").text
    assert console.incident_status(incident_id) == "acknowledged"

    console.responder.post(f"/incidents/{incident_id}/resolve")
    assert console.incident_status(incident_id) == "resolved"
    page = console.responder.get(f"/incidents/{incident_id}").text
    assert f"Resolved {named}." in page
    assert f"Resolved by {RESPONDER}" in page
    console.responder.post(f"/incidents/{incident_id}/resolve")
    assert f"{named} was already resolved." in console.responder.get("/").text

    second = console.open_incident(message="again")
    console.responder.post("/services/db/healthy", {"next": "/"})
    assert console.incident_status(second) == "resolved"
    assert "Database is marked healthy." in console.responder.get("/").text


def test_responders_escalate_to_the_next_level_until_there_is_none(console: Console) -> None:
    incident_id = console.open_incident()
    assert (
        f'action="/incidents/{incident_id}/escalate"'
        in console.responder.get(f"/incidents/{incident_id}").text
    )
    named = f"Database: “disk full” ({incident_id[:8]})"

    console.responder.post(f"/incidents/{incident_id}/escalate")
    page = console.responder.get(f"/incidents/{incident_id}").text
    assert f"Escalated {named}: level 2 is being paged." in page
    assert f"Escalated by {RESPONDER} from level 1" in page

    console.responder.post(f"/incidents/{incident_id}/escalate")
    assert f"{named} has paged every level" in console.responder.get("/").text
    console.app.handlers.resolve(incident_id, "someone")
    console.responder.post(f"/incidents/{incident_id}/escalate")
    assert f"{named} was already resolved." in console.responder.get("/").text


def test_acknowledging_a_resolved_incident_says_so(console: Console) -> None:
    incident_id = console.open_incident()
    console.app.handlers.resolve(incident_id, "someone")
    console.admin.post(f"/incidents/{incident_id}/acknowledge")
    page = console.admin.get(f"/incidents/{incident_id}").text
    assert f"Database: “disk full” ({incident_id[:8]}) was already resolved." in page


def test_a_banner_names_a_long_message_in_short(console: Console) -> None:
    incident_id = console.open_incident(message="x" * 300)
    console.admin.post(f"/incidents/{incident_id}/acknowledge")
    page = console.admin.get("/").text
    assert f"Acknowledged Database: “{'x' * 79}…” ({incident_id[:8]})" in page


def test_resolve_has_one_name_on_every_page(console: Console) -> None:
    incident_id = console.open_incident()
    for path in ("/", f"/incidents/{incident_id}", "/services/db"):
        page = console.admin.get(path).text
        assert f'action="/incidents/{incident_id}/resolve"' in page, path
        assert ">Resolve</button>" in page, path
        assert "Mark healthy" not in page, path


def test_the_nav_shows_admin_only_to_admins(console: Console) -> None:
    assert 'href="/admin"' in console.admin.get("/").text
    assert 'href="/admin"' not in console.responder.get("/").text


# -- pages


def test_the_dashboard_shows_every_service_and_open_incidents_triggered_first(
    console: Console,
) -> None:
    console.app.handlers.define_service("web", "Website", "ops")
    console.app.handlers.define_service("api", "API", "ops")
    acked = console.open_incident("api", "slow")
    console.app.handlers.acknowledge(acked, "bob")
    console.clock.advance(60)
    triggered = console.open_incident("db", "disk full")
    page = console.admin.get("/").text
    assert page.index(triggered) < page.index(acked)
    assert page.index("Website") > page.index("Database")  # healthy services after the rest
    assert 'hx-trigger="every 3s"' in page
    assert "<title>(1) Dashboard" in page
    quiet = console.admin.get("/", headers={"HX-Request": "true"}).text
    assert 'id="live"' in quiet


def test_the_dashboard_says_when_nothing_is_on_fire(console: Console) -> None:
    assert "Nothing is on fire." in console.admin.get("/").text


def test_the_incident_page_has_the_timeline_notifications_and_buttons(console: Console) -> None:
    incident_id = console.open_incident(message="disk <b>full</b>")
    page = console.responder.get(f"/incidents/{incident_id}").text
    assert "disk &lt;b&gt;full&lt;/b&gt;" in page  # escaped
    assert "Opened by an alert from api" in page
    assert "Paged level 1: email alice@example.com, SMS +14155550100" in page
    assert "Escalates after 1 min unless acknowledged." in page
    assert page.count('class="notification queued"') == 2
    assert "0 attempts" in page
    assert f'action="/incidents/{incident_id}/acknowledge"' in page
    assert f'action="/incidents/{incident_id}/resolve"' in page


def test_the_incident_page_shows_notes_and_un_acknowledgements(console: Console) -> None:
    incident_id = console.open_incident()
    console.app.handlers.acknowledge(incident_id, "bob")
    console.app.handlers.unacknowledge(incident_id, "bob")
    console.app.handlers.add_note(incident_id, "handing over <to> carol", "bob")
    page = console.admin.get(f"/incidents/{incident_id}").text
    assert "Unacknowledged by bob" in page
    assert page.count("Escalates after 1 min unless acknowledged.") == 2
    assert "Note by bob" in page
    assert "handing over &lt;to&gt; carol" in page


def test_the_incident_page_shows_delivery_attempts_and_errors(console: Console) -> None:
    incident_id = console.open_incident()
    with console.app.engine.begin() as conn:
        notification = conn.scalar(
            sa.select(t.notifications.c.id).where(t.notifications.c.incident_id == incident_id)
        )
        conn.execute(
            t.notifications.update()
            .where(t.notifications.c.id == notification)
            .values(status="failed", attempts=3, last_error="550 mailbox unavailable")
        )
        conn.execute(
            t.notification_attempts.insert().values(
                notification_id=notification,
                attempt=3,
                at=console.clock.now(),
                outcome="failed",
                error="550 mailbox unavailable",
            )
        )
    page = console.admin.get(f"/incidents/{incident_id}").text
    assert "3 attempts" in page
    assert "Last error: 550 mailbox unavailable" in page
    assert "failed for good (attempt 3)" in page
    # A page nobody got is flagged on the incident, wherever the incident is shown.
    assert "1 page failed for good: nobody got it" in page
    assert "Reach whoever is on call another way." in page
    for listing in ("/", "/incidents", "/services/db"):
        assert "1 page failed</span>" in console.admin.get(listing).text, listing


def test_a_page_written_to_the_log_says_so_on_the_incident_page(console: Console) -> None:
    incident_id = console.open_incident()
    with console.app.engine.begin() as conn:
        pages = dict(
            conn.execute(
                sa.select(t.notifications.c.channel, t.notifications.c.id).where(
                    t.notifications.c.incident_id == incident_id
                )
            ).all()
        )
        conn.execute(
            t.notifications.update()
            .where(t.notifications.c.incident_id == incident_id)
            .values(status="logged", attempts=1)
        )
        conn.execute(
            t.notification_attempts.insert(),
            [
                {"notification_id": pages[channel], "attempt": 1, "at": console.clock.now(),
                 "outcome": "logged"}
                for channel in ("email", "sms")
            ],
        )  # fmt: skip
    page = console.admin.get(f"/incidents/{incident_id}").text
    assert page.count('class="notification logged"') == 2
    assert "Not sent: written to the log — no SMTP configured." in page
    assert "Not sent: written to the log — no Twilio configured." in page
    assert "Email written to the log — no SMTP configured" in page  # the timeline
    assert "SMS written to the log — no Twilio configured" in page
    assert " sent (attempt" not in page
    assert "delivery-problem" not in page  # not a failure: the operator chose no provider


def test_an_incident_whose_pages_went_out_carries_no_delivery_flag(console: Console) -> None:
    incident_id = console.open_incident()
    for path in ("/", "/incidents", f"/incidents/{incident_id}", "/services/db"):
        page = console.admin.get(path).text
        assert "delivery-flag" not in page, path
        assert "delivery-problem" not in page, path


def test_the_timeline_folds_the_attempts_of_one_page_into_one_line(console: Console) -> None:
    incident_id = console.open_incident()
    with console.app.engine.begin() as conn:
        email, sms = conn.execute(
            sa.select(t.notifications.c.id)
            .where(t.notifications.c.incident_id == incident_id)
            .order_by(t.notifications.c.channel)
        ).scalars()
        attempts = [
            {"notification_id": email, "attempt": n, "outcome": "retry", "error": f"421 busy {n}"}
            for n in range(1, 6)
        ] + [
            {"notification_id": email, "attempt": 6, "outcome": "sent", "error": None},
            {"notification_id": sms, "attempt": 1, "outcome": "sent", "error": None},
        ]
        for attempt in attempts:
            console.clock.advance(2)
            conn.execute(t.notification_attempts.insert().values(at=console.clock.now(), **attempt))
    page = console.admin.get(f"/incidents/{incident_id}").text
    timeline = page[page.index('<ol class="timeline">') :]
    folded = timeline[: timeline.index("</details>")]
    assert timeline.count(f'<details class="attempts" id="attempts-{email}">') == 1
    assert timeline.count("<details") == 1
    assert "Email alice@example.com: 6 attempts, sent on the last" in folded
    assert "Last error: 421 busy 5" in folded
    for n in range(1, 6):  # each attempt is in the fold, none outside it
        assert f"Email failed (attempt {n}), retrying" in folded
    assert timeline.count("Email failed") == 5
    assert timeline.count("SMS sent (attempt 1)") == 1  # a page sent at once is one line
    # Newest first: the SMS, then the email's line where its last attempt was, then the rest.
    assert timeline.index("SMS sent") < timeline.index("6 attempts") < timeline.index("Paged")


def test_the_incident_list_filters_by_status(console: Console) -> None:
    first = console.open_incident()
    console.app.handlers.resolve(first, "x")
    second = console.open_incident(message="again")
    page = console.admin.get("/incidents?status=resolved").text
    assert first in page
    assert second not in page
    assert second in console.admin.get("/incidents").text
    assert console.admin.get("/incidents?status=%00&service=%00").status_code == 200


def test_a_service_shows_its_policy_key_hint_and_recent_incidents(console: Console) -> None:
    console.accounts.rotate_integration_key("db")
    incident_id = console.open_incident()
    page = console.admin.get("/services/db").text
    assert "Ops on call" in page
    assert "Level 2" in page
    assert "email bob@example.com" in page
    assert "Ends in <code>" in page
    assert incident_id in page
    assert "Integration key" not in console.responder.get("/services/db").text


def test_admins_create_a_service_and_see_its_key_once(console: Console) -> None:
    answer = console.admin.post("/services", {"id": "web", "name": "Website", "policy": "ops"})
    assert answer.status_code == 200
    key = re.search(
        r'id="integration-key" class="secret" readonly value="([0-9a-f]{32})"', answer.text
    )
    assert key, answer.text
    sent = console.admin.client.post(
        "/api/v1/alerts",
        json={"service": "web", "message": "down"},
        headers={"Authorization": f"Bearer {key[1]}"},
    )
    assert sent.status_code == 202
    assert key[1] not in console.admin.get("/services/web").text  # shown once

    rotated = console.admin.post("/services/web/integration-key")
    new_key = re.search(r'readonly value="([0-9a-f]{32})"', rotated.text)
    assert new_key
    assert new_key[1] != key[1]
    again = console.admin.client.post(
        "/api/v1/alerts",
        json={"service": "web", "message": "down"},
        headers={"Authorization": f"Bearer {key[1]}"},
    )
    assert again.status_code == 401


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"id": "Not An Id", "name": "x", "policy": "ops"}, "id"),
        ({"id": "db", "name": "x", "policy": "ops"}, "id"),
        ({"id": "new", "name": "", "policy": "ops"}, "name"),
        ({"id": "new", "name": "n" * 201, "policy": "ops"}, "name"),
        ({"id": "new", "name": "x", "policy": "nope"}, "policy"),
        ({"id": "new", "name": "x", "policy": "\x00"}, "policy"),
    ],
)
def test_a_bad_new_service_is_explained_next_to_the_field(
    console: Console, form: dict[str, str], field: str
) -> None:
    answer = console.admin.post("/services", form)
    assert answer.status_code == 422
    assert f'id="{field}-error"' in answer.text


def test_admins_rename_and_delete_a_service(console: Console) -> None:
    answer = console.admin.post("/services/db", {"name": "Main database", "policy": "ops"})
    assert answer.status_code in (200, 303)
    assert "Main database" in console.admin.get("/services/db").text
    console.admin.post("/services/db/delete")
    assert console.admin.get("/services/db").status_code == 404


# -- the policy editor


def editor_form(page: str) -> dict[str, str]:
    """The editor's fields as the page fills them in."""
    form = {}
    for name, value in re.findall(r'<input id="[^"]*" name="([^"]+)" value="([^"]*)"', page):
        form[name] = value
    for name, body in re.findall(
        r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        chosen = re.search(r'<option value="([^"]+)" selected', body)
        form[name] = chosen[1] if chosen else ""
    return form


def editor(browser: Browser, path: str = "/policies/ops/edit") -> dict[str, str]:
    return editor_form(browser.get(path).text)


def test_the_editor_round_trips_a_policy_unchanged(console: Console) -> None:
    form = editor(console.admin)
    assert form["level-1-target-2-value"] == "+14155550100"
    assert form["level-1-timeout"] == "1m"
    answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
    assert answer.headers["location"] == "/policies/ops"
    assert console.policy("ops") == two_level_policy()


def test_the_editor_buttons_add_move_and_remove_levels_and_targets(console: Console) -> None:
    form = editor(console.admin)
    page = console.admin.post("/policies/ops/edit", form | {"op": "add-level"}).text
    assert 'id="level-3"' in page
    form = editor_form(page)
    form["level-3-target-1-type"] = "webhook"
    form["level-3-target-1-value"] = "https://hooks.example.com/p"
    form["level-3-target-1-secret"] = "s3cret"
    form["level-3-timeout"] = "1h30m"
    page = console.admin.post("/policies/ops/edit", form | {"op": "up-level:3"}).text
    form = editor_form(page)
    assert form["level-2-target-1-value"] == "https://hooks.example.com/p"
    page = console.admin.post("/policies/ops/edit", form | {"op": "down-target:1:1"}).text
    form = editor_form(page)
    assert form["level-1-target-1-value"] == "+14155550100"
    page = console.admin.post("/policies/ops/edit", form | {"op": "remove-target:1:2"}).text
    form = editor_form(page)
    assert "level-1-target-2-value" not in form
    page = console.admin.post("/policies/ops/edit", form | {"op": "add-target:1"}).text
    form = editor_form(page)
    form["level-1-target-2-type"] = "slack"
    form["level-1-target-2-value"] = "https://hooks.slack.com/services/T/B/x"
    form["repeat"] = "2"
    answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
    assert answer.status_code == 303

    saved = console.admin.get("/policies/ops").text
    assert "escalates after 1 h 30 min" in saved
    assert "webhook hooks.example.com" in saved
    assert "s3cret" not in saved
    assert "services/T/B/x" not in saved
    assert "2 more times" in saved


HOOK = "https://hooks.example.com/pager"


def with_hook(secret: str | None = "old-secret-4f2a") -> EscalationPolicy:
    """The ops policy, its first level also paging a webhook signed with `secret`."""
    policy = two_level_policy()
    first = policy.levels[0]
    hook = WebhookTarget(HOOK, secret)
    return replace(
        policy, levels=(replace(first, targets=(*first.targets, hook)), *policy.levels[1:])
    )


def hook_secret(console: Console) -> str | None:
    policy = console.policy("ops")
    assert policy is not None
    hooks = [t for lv in policy.levels for t in lv.targets if isinstance(t, WebhookTarget)]
    assert len(hooks) == 1, hooks
    return hooks[0].secret


def test_a_webhook_secret_is_never_in_the_editor_and_saving_keeps_it(console: Console) -> None:
    console.app.handlers.define_policy(with_hook())
    page = console.admin.get("/policies/ops/edit").text
    assert "old-secret-4f2a" not in page
    assert "Signing secret: set." in page
    assert 'placeholder="set — type a new one to replace it"' in page
    assert "Remove the secret" in page

    form = editor_form(page)
    assert form["level-1-target-3-secret"] == ""
    assert console.admin.post("/policies/ops/edit", form | {"op": "save"}).status_code == 303
    assert hook_secret(console) == "old-secret-4f2a"
    assert console.policy("ops") == with_hook()


def test_a_webhook_secret_follows_its_target_through_the_editor_buttons(console: Console) -> None:
    console.app.handlers.define_policy(with_hook())
    form = editor(console.admin)
    page = console.admin.post("/policies/ops/edit", form | {"op": "down-level:1"}).text
    assert "old-secret-4f2a" not in page
    form = editor_form(page)
    assert form["level-2-target-3-kept"] == HOOK
    form["level-2-target-3-value"] = HOOK + "/v2"  # a new URL, the same webhook
    assert console.admin.post("/policies/ops/edit", form | {"op": "save"}).status_code == 303
    policy = console.policy("ops")
    assert policy is not None
    assert policy.levels[1].targets[2] == WebhookTarget(HOOK + "/v2", "old-secret-4f2a")


def test_a_webhook_secret_is_replaced_by_typing_and_removed_by_ticking(console: Console) -> None:
    console.app.handlers.define_policy(with_hook())
    form = editor(console.admin) | {"level-1-target-3-secret": "new-secret-9b1c", "op": "save"}
    assert console.admin.post("/policies/ops/edit", form).status_code == 303
    assert hook_secret(console) == "new-secret-9b1c"
    assert "new-secret-9b1c" not in console.admin.get("/policies/ops/edit").text

    form = editor(console.admin) | {"level-1-target-3-clear": "1", "op": "save"}
    assert console.admin.post("/policies/ops/edit", form).status_code == 303
    assert hook_secret(console) is None
    page = console.admin.get("/policies/ops/edit").text
    assert "Signing secret: set." not in page
    assert 'placeholder="signing secret (optional)"' in page


def test_a_webhook_secret_cannot_be_both_replaced_and_removed(console: Console) -> None:
    console.app.handlers.define_policy(with_hook())
    form = editor(console.admin) | {"op": "save", "level-1-target-3-secret": "new",
                                    "level-1-target-3-clear": "1"}  # fmt: skip
    answer = console.admin.post("/policies/ops/edit", form)
    assert answer.status_code == 422
    assert "type a new secret or remove the secret, not both" in answer.text
    assert "old-secret-4f2a" not in answer.text
    assert hook_secret(console) == "old-secret-4f2a"


def test_a_kept_secret_is_only_one_the_policy_still_has(console: Console) -> None:
    console.app.handlers.define_policy(with_hook())
    form = editor(console.admin)
    console.app.handlers.define_policy(with_hook(None))  # another admin removed it meanwhile
    answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
    assert answer.status_code == 422
    assert "changed elsewhere since this page was loaded: type it again" in answer.text
    assert hook_secret(console) is None

    # Nor can a new policy name another policy's webhook to get its secret.
    form = editor(console.admin, "/policies/new") | {
        "id": "copy", "name": "Copy", "level-1-target-1-type": "webhook",
        "level-1-target-1-value": HOOK, "level-1-target-1-kept": HOOK, "op": "save",
    }  # fmt: skip
    console.app.handlers.define_policy(with_hook())
    answer = console.admin.post("/policies/new", form)
    assert answer.status_code == 422
    assert "type it again" in answer.text
    assert console.policy("copy") is None


def test_an_invalid_phone_number_is_shown_next_to_its_field(console: Console) -> None:
    form = editor(console.admin)
    form["level-1-target-2-value"] = "555-0100"
    answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
    assert answer.status_code == 422
    assert "Not saved: fix the problem marked below." in answer.text
    error = re.search(
        r'<p class="field-error" id="level-1-target-2-error"[^>]*>([^<]*)<', answer.text
    )
    assert error, answer.text
    assert "international form, such as +14155550100" in error[1]
    assert 'aria-describedby="level-1-target-2-error"' in answer.text
    assert 'value="555-0100"' in answer.text  # kept as typed
    assert console.policy("ops") == two_level_policy()


def test_a_phone_number_may_be_typed_with_spaces(console: Console) -> None:
    form = editor(console.admin)
    form["level-1-target-2-value"] = "+1 (415) 555-0199"
    assert console.admin.post("/policies/ops/edit", form | {"op": "save"}).status_code == 303
    assert "SMS +14155550199" in console.admin.get("/policies/ops").text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"level-1-timeout": "soon"}, "level-1-timeout", "minutes (15m)"),
        ({"level-1-timeout": "0"}, "level-1-timeout", "minutes (15m)"),
        ({"level-1-timeout": "200h"}, "level-1-timeout", "at most 7 days"),
        ({"level-2-target-1-value": "alice@example.com"}, "level-2-target-1", None),
        ({"level-1-target-2-type": "pigeon"}, "level-1-target-2",
         "choose a user, a schedule, email"),
        ({"level-1-target-1-value": ""}, "level-1-target-1", "enter an email address"),
        ({"level-1-target-2-value": "alice@example.com", "level-1-target-2-type": "email"},
         "level-1-target-2", "already on this level"),
        ({"level-1-target-1-type": "webhook", "level-1-target-1-value": "ftp://x"},
         "level-1-target-1", "http(s) URL"),
        ({"repeat": "-1"}, "repeat", "from 0 to 100"),
        ({"repeat": "1000"}, "repeat", "from 0 to 100"),
        ({"name": ""}, "name", "give the policy a name"),
    ],
)  # fmt: skip
def test_every_editor_problem_is_shown_next_to_its_field(
    console: Console, change: dict[str, str], field: str, message: str | None
) -> None:
    form = editor(console.admin) | change
    answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
    if message is None:  # a valid change
        assert answer.status_code == 303
        return
    assert answer.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>[^<]*{re.escape(message)}', answer.text), (
        answer.text
    )


@pytest.mark.parametrize("allowed", [False, True])
def test_a_private_webhook_is_shown_next_to_its_field_unless_allowed(
    database_url: str, clock: FakeClock, allowed: bool
) -> None:
    with make_console(database_url, clock, allow_private_targets=allowed) as console:
        form = editor(console.admin) | {
            "level-1-target-1-type": "webhook",
            "level-1-target-1-value": "http://192.168.0.10/hook",
        }
        answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
        saved = console.policy("ops")
    if allowed:
        assert answer.status_code == 303
        assert saved != two_level_policy()
        return
    assert answer.status_code == 422
    message = "192.168.0.10 is a private address; set PAGER_ALLOW_PRIVATE_TARGETS=true"
    assert re.search(rf'id="level-1-target-1-error"[^>]*>[^<]*{re.escape(message)}', answer.text)
    assert saved == two_level_policy()


def test_a_level_without_targets_and_a_policy_without_levels_are_refused(
    console: Console,
) -> None:
    form = {k: v for k, v in editor(console.admin).items() if not k.startswith("level-2-target")}
    answer = console.admin.post("/policies/ops/edit", form | {"op": "save"})
    assert 'id="level-2-error"' in answer.text
    answer = console.admin.post("/policies/ops/edit", {"name": "x", "repeat": "0", "op": "save"})
    assert 'id="levels-error"' in answer.text


def test_admins_create_and_delete_a_policy(console: Console) -> None:
    form = editor(console.admin, "/policies/new")
    form |= {"id": "db-team", "name": "DB team", "level-1-target-1-value": "dba@example.com"}
    answer = console.admin.post("/policies/new", form | {"op": "save"})
    assert answer.headers["location"] == "/policies/db-team"
    assert "email dba@example.com" in console.admin.get("/policies/db-team").text
    taken = console.admin.post("/policies/new", form | {"op": "save"})
    assert taken.status_code == 422
    assert "exists already" in taken.text

    console.admin.post("/policies/ops/delete")
    assert "still used by db" in console.admin.get("/policies/ops").text
    console.admin.post("/policies/db-team/delete")
    assert console.admin.get("/policies/db-team").status_code == 404


# -- admin


def test_admins_add_users_who_can_then_sign_in(console: Console) -> None:
    answer = console.admin.post(
        "/admin/users", {"email": "Carol@Example.com", "role": "responder", "password": "carols pw"}
    )
    assert answer.status_code == 303
    assert "Added responder carol@example.com" in console.admin.get("/admin").text
    assert console.browser().sign_in("carol@example.com", "carols pw").status_code == 303

    exists = console.admin.post("/admin/users", {"email": "carol@example.com", "role": "admin"})
    assert exists.status_code == 409
    assert "already exists" in exists.text
    bad = console.admin.post("/admin/users", {"email": "x", "role": "boss", "password": "short"})
    assert bad.status_code == 422
    for field in ("email", "role", "password"):
        assert f'id="{field}-error"' in bad.text


def test_admins_change_roles_reset_passwords_and_remove_users(console: Console) -> None:
    console.admin.post("/admin/users/role", {"email": RESPONDER, "role": "admin"})
    assert console.accounts.user(RESPONDER).role == "admin"
    console.admin.post("/admin/users/role", {"email": ADMIN, "role": "responder"})
    assert console.accounts.user(ADMIN).role == "admin"  # not oneself
    console.admin.post("/admin/users/password", {"email": RESPONDER, "password": "reset pass"})
    assert not console.responder.signed_in
    assert console.accounts.check_password(RESPONDER, "reset pass") is not None
    console.admin.post("/admin/users/delete", {"email": ADMIN})
    assert console.admin.signed_in  # not oneself
    console.admin.post("/admin/users/delete", {"email": RESPONDER})
    assert f'data-user="{RESPONDER}"' not in console.admin.get("/admin").text


@pytest.fixture
def uncached_console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    """Without the API's credential cache a revoked token fails at once, not within it."""
    with make_console(database_url, clock, credential_cache_seconds=0) as console:
        yield console


def test_a_token_is_shown_once_works_and_can_be_revoked(uncached_console: Console) -> None:
    console = uncached_console
    answer = console.admin.post("/admin/tokens", {"email": RESPONDER, "name": "laptop"})
    token = re.search(r'id="new-token" class="secret" readonly value="(pgr_[^"]+)"', answer.text)
    assert token, answer.text
    api = {"Authorization": f"Bearer {token[1]}"}
    assert console.anonymous.get("/api/v1/me", headers=api).json()["email"] == RESPONDER
    page = console.admin.get("/admin").text
    assert token[1] not in page
    assert "laptop" in page
    token_id = re.search(r'name="id" value="([0-9a-f]{32})"', page)
    assert token_id
    console.admin.post("/admin/tokens/revoke", {"id": token_id[1]})
    assert console.anonymous.get("/api/v1/me", headers=api).status_code == 401
    console.admin.post("/admin/tokens/revoke", {"id": token_id[1]})
    assert "already revoked" in console.admin.get("/admin").text


# -- never a 500


HOSTILE_GETS = [
    "/incidents/%00",
    "/incidents/" + "a" * 70,
    "/services/%00",
    "/services/" + "x" * 100,
    "/services/UPPER",
    "/policies/%00",
    "/policies/nope/edit",
    "/login?next=//evil.example.com",
    "/login?next=%00",
    "/incidents?status=" + "x" * 5000,
    "/ack/%00",
    "/ack/" + "A" * 500,
    "/ack/%F0%9F%92%A9",
]


@pytest.mark.parametrize("path", HOSTILE_GETS)
def test_odd_addresses_get_a_clear_page(console: Console, path: str) -> None:
    answer = console.admin.get(path)
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("text/html")


HOSTILE_POSTS: list[tuple[str, dict[str, str]]] = [
    ("/policies/ops/edit", {"op": "save", "level-99999-timeout": "1", "name": "x"}),
    ("/policies/ops/edit", {"op": "remove-level:999999999999"}),
    ("/policies/ops/edit", {"op": "up-target:1:0"}),
    ("/policies/ops/edit", {"op": "down-level:x:y"}),
    ("/policies/ops/edit", {"op": "save", "name": "\x00" * 10, "repeat": "1" * 50}),
    ("/policies/ops/edit", {"op": "save", "level-1-timeout": "9" * 40, "name": "n"}),
    ("/policies/ops/edit", {"op": "save", "level-1-timeout": "1", "level-1-target-1-type": "sms",
                            "level-1-target-1-value": "+" + "1" * 700, "name": "n"}),
    ("/policies/new", {"op": "save", "id": "\x00", "name": "n" * 10_000}),
    ("/services", {"id": "x" * 300, "name": "\u202e", "policy": "ops"}),
    ("/services/db", {"name": "n" * 5000, "policy": "ops"}),
    ("/admin/users", {"email": "\x00@x", "role": "admin", "password": "p" * 5000}),
    ("/admin/users/role", {"email": "nobody@example.com", "role": "admin"}),
    ("/admin/users/password", {"email": "nobody@example.com", "password": "long enough"}),
    ("/admin/users/delete", {"email": "nobody@example.com"}),
    ("/admin/tokens", {"email": "nobody@example.com", "name": "x"}),
    ("/admin/tokens", {"email": ADMIN, "name": "\x07bell"}),
    ("/admin/tokens/revoke", {"id": "\x00"}),
    ("/incidents/nope/acknowledge", {}),
    ("/incidents/nope/resolve", {"next": "https://evil.example.com"}),
    ("/services/nope/healthy", {}),
    ("/account/password", {"current": "x" * 5000, "new": "y", "repeat": "z"}),
    ("/login", {"email": "x" * 5000, "password": "y" * 5000}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "form"), HOSTILE_POSTS)
def test_odd_forms_get_a_clear_page(console: Console, path: str, form: dict[str, str]) -> None:
    answer = console.admin.post(path, form)
    assert answer.status_code < 500, answer.text
    location = answer.headers.get("location", "/")
    assert location.startswith("/")
    assert not location.startswith("//")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nA\r\n--x--",
         "multipart/form-data; boundary=x"),
        (b"name=%ED%A0%80&csrf_token=%FF", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
        (b"{}", "application/json"),
    ],
)  # fmt: skip
def test_a_malformed_body_gets_a_clear_page(
    console: Console, content: bytes, content_type: str
) -> None:
    answer = console.admin.client.post(
        "/policies/ops/edit", content=content, headers={"Content-Type": content_type}
    )
    assert answer.status_code in (400, 403)
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/nope", "/incidents/a/b", "/policies/ops/edit/x", "/api", "/v2"])
def test_an_unknown_console_address_gets_the_console_s_404_page(
    console: Console, path: str
) -> None:
    answer = console.admin.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in answer.text
    assert 'aria-label="Main"' in answer.text  # the menu, for the one signed in
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert console.admin.post(path, {}).status_code == 404

    anonymous = console.anonymous.get(path)
    assert anonymous.status_code == 404
    assert "There is no page at this address." in anonymous.text
    assert 'aria-label="Main"' not in anonymous.text


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nothing-here", "/api/nothing", "/v2/nothing", "/integrations/nothing",
     "/static/nothing.js", "/docs/nothing", "/metrics/nothing"],
)  # fmt: skip
def test_an_unknown_api_address_keeps_the_json_404(console: Console, path: str) -> None:
    answer = console.admin.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_pages_carry_security_headers(console: Console) -> None:
    headers = console.admin.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


def test_the_console_stays_out_of_the_api_document(console: Console) -> None:
    paths = console.anonymous.get("/openapi.json").json()["paths"]
    assert not [path for path in paths
                if not path.startswith(("/api/", "/integrations", "/v2/", "/ical/", "/pagerduty/"))
                and path not in ("/healthz", "/readyz", "/metrics")]  # fmt: skip


def test_static_files_are_served(console: Console) -> None:
    assert console.anonymous.get("/static/htmx.min.js").text.startswith("var htmx")
    assert "system-ui" in console.anonymous.get("/static/console.css").text
