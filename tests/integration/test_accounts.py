"""Accounts on real storage (SQLite and PostgreSQL): users, tokens, console sessions and
integration keys are stored hashed, found by their secret, and the first admin is made once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from pager.adapters.clock import SystemClock
from pager.adapters.storage import tables as t
from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.api_tokens import SqlApiTokens
from pager.adapters.storage.engine import create_engine
from pager.application.accounts import (
    FIRST_ADMIN_EMAIL,
    Accounts,
    SignedIn,
    UserExists,
    UserNotFound,
    _TtlCache,
    secret_hash,
)
from pager.domain.errors import ValidationFailed
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.entrypoints.cli_admin import accounts_for, ensure_first_admin
from tests.support.clock import FakeClock


@pytest.fixture
def accounts(engine: Engine) -> Accounts:
    return accounts_for(engine)


def stored(engine: Engine, table: sa.Table) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(table))]


def test_tokens_find_their_user_and_only_hashes_are_stored(
    accounts: Accounts, engine: Engine
) -> None:
    user = accounts.add_user("Alice@Example.com", "admin", "correct horse")
    token = accounts.create_token("alice@example.com", "laptop")
    assert accounts.user_for_token(token) == user
    assert accounts.user_for_token(token + "x") is None
    assert accounts.user_for_token("not a token") is None
    (row,) = stored(engine, t.api_tokens)
    assert token not in str(row)
    (user_row,) = stored(engine, t.users)
    assert "correct horse" not in str(user_row)
    assert str(user_row["password_hash"]).startswith("$argon2")


def test_passwords_are_checked(accounts: Accounts) -> None:
    accounts.add_user("bob@example.com", "responder", "hunter2hunter2")
    assert accounts.check_password("BOB@example.com", "hunter2hunter2") is not None
    assert accounts.check_password("bob@example.com", "wrong password") is None
    assert accounts.check_password("nobody@example.com", "hunter2hunter2") is None


class CountingHasher(PasswordHasher):
    """argon2 as it is, recording the hash of every verification."""

    def __init__(self) -> None:
        super().__init__()
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def argon2_parameters(password_hash: str) -> str:
    """`$argon2id$v=19$m=65536,t=3,p=4`: what a verification costs, without the salt."""
    return "$".join(password_hash.split("$")[:4])


def test_an_unknown_email_costs_one_argon2_verification_like_a_known_one(
    engine: Engine,
) -> None:
    hasher = CountingHasher()
    accounts = Accounts(SqlAccountStore(engine), SystemClock(), hasher=hasher)
    accounts.add_user("bob@example.com", "responder", "hunter2hunter2")
    accounts.add_user("tokens-only@example.com")  # no password at all
    assert accounts.check_password("bob@example.com", "wrong password") is None
    assert accounts.check_password("nobody@example.com", "wrong password") is None
    assert accounts.check_password("tokens-only@example.com", "wrong password") is None
    assert accounts.check_password("nobody@example.com", "hunter2hunter2") is None
    real, *dummies = hasher.verified
    assert len(dummies) == 3
    assert len(set(dummies)) == 1  # made once
    assert dummies[0] != real
    assert argon2_parameters(dummies[0]) == argon2_parameters(real)


def test_user_errors_are_domain_errors(accounts: Accounts) -> None:
    accounts.add_user("carol@example.com")
    with pytest.raises(UserExists):
        accounts.add_user("CAROL@example.com")
    with pytest.raises(ValidationFailed):
        accounts.add_user("not an address")
    with pytest.raises(ValidationFailed):
        accounts.add_user("dave@example.com", "root")
    with pytest.raises(ValidationFailed):
        accounts.add_user("dave@example.com", password="short")
    with pytest.raises(UserNotFound):
        accounts.create_token("dave@example.com")
    with pytest.raises(UserNotFound):
        accounts.delete_user("dave@example.com")
    with pytest.raises(UserNotFound):
        accounts.set_password("dave@example.com", "a long enough password")
    with pytest.raises(ValidationFailed) as refused:
        accounts.set_role("carol@example.com", "root")
    assert [where for where, _ in refused.value.problems] == ["role"]


@pytest.mark.parametrize(
    "email",
    ["al\u200bice@example.com", "alice@exa\u202emple.com", "bell\x07@example.com", "a@b\x85c"],
)
def test_an_address_with_invisible_characters_is_refused(accounts: Accounts, email: str) -> None:
    with pytest.raises(ValidationFailed, match="is not an email address"):
        accounts.add_user(email)


def test_a_token_name_with_invisible_characters_is_refused(accounts: Accounts) -> None:
    accounts.add_user("erin@example.com")
    with pytest.raises(ValidationFailed) as refused:
        accounts.create_token("erin@example.com", "laptop\u202egnp.exe")
    assert [where for where, _ in refused.value.problems] == ["name"]
    assert accounts.create_token("erin@example.com", " \tlaptop \n")  # stripped: fine


def test_the_token_list_names_each_tokens_user(accounts: Accounts, engine: Engine) -> None:
    for email in ("zoe@example.com", "adam@example.com"):
        accounts.add_user(email)
        accounts.create_token(email, f"{email[:3]}'s laptop")
    listed = SqlApiTokens(engine).all()
    assert [(token.user_email, token.name) for token in listed] == [
        ("adam@example.com", "ada's laptop"),
        ("zoe@example.com", "zoe's laptop"),
    ]


def test_removing_a_user_revokes_their_tokens(accounts: Accounts, engine: Engine) -> None:
    accounts.add_user("erin@example.com")
    token = accounts.create_token("erin@example.com")
    accounts.delete_user("erin@example.com")
    assert accounts.user_for_token(token) is None
    assert stored(engine, t.api_tokens) == []


def test_integration_keys_rotate_and_belong_to_one_service(
    accounts: Accounts, engine: Engine
) -> None:
    first = accounts.rotate_integration_key("db")
    assert accounts.service_for_key(first.key) == "db"
    assert accounts.ensure_integration_key("db") is None  # it has one
    second = accounts.rotate_integration_key("db")
    assert accounts.service_for_key(first.key) is None
    assert accounts.service_for_key(second.key) == "db"
    info = accounts.integration_key("db")
    assert info is not None
    assert info.hint == second.key[-4:]
    assert second.key not in str(stored(engine, t.integration_keys))
    accounts.forget_integration_key("db")
    assert accounts.service_for_key(second.key) is None
    made = accounts.ensure_integration_key("db")
    assert made is not None
    assert accounts.service_for_key(made.key) == "db"


def test_the_first_admin_is_made_once_even_when_raced(engine: Engine) -> None:
    results: list[tuple[str, str] | None] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        results.append(ensure_first_admin(engine))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [result for result in results if result is not None]
    assert len(made) == 1
    email, password = made[0]
    assert email == FIRST_ADMIN_EMAIL
    user = accounts_for(engine).check_password(email, password)
    assert user is not None
    assert user.role == "admin"
    assert ensure_first_admin(engine) is None


# -- console sessions

WEEK = timedelta(days=7)


@pytest.fixture
def timed(engine: Engine, clock: FakeClock) -> Accounts:
    return Accounts(SqlAccountStore(engine), clock)


def signed_in(accounts: Accounts, email: str, password: str = "hunter2hunter2") -> SignedIn:
    session = accounts.sign_in(email, password, WEEK)
    assert session is not None
    return session


def test_a_session_is_its_users_until_it_ends_and_only_its_hash_is_stored(
    timed: Accounts, engine: Engine
) -> None:
    user = timed.add_user("frank@example.com", "responder", "hunter2hunter2")
    assert timed.sign_in("frank@example.com", "wrong password", WEEK) is None
    assert timed.sign_in("nobody@example.com", "hunter2hunter2", WEEK) is None
    session = signed_in(timed, "Frank@Example.com")
    assert session.user == user
    assert timed.session_user(session.session_id, user.id) == user
    assert timed.session_user(session.session_id, "someone else") is None
    assert timed.session_user(session.session_id + "x", user.id) is None
    (row,) = stored(engine, t.console_sessions)
    assert session.session_id not in str(row)
    assert row["id_hash"] == secret_hash(session.session_id)

    timed.end_session(session.session_id)
    assert timed.session_user(session.session_id, user.id) is None
    assert stored(engine, t.console_sessions) == []


def test_a_session_expires_and_the_next_sign_in_forgets_it(
    timed: Accounts, engine: Engine, clock: FakeClock
) -> None:
    user = timed.add_user("grace@example.com", "responder", "hunter2hunter2")
    old = signed_in(timed, "grace@example.com")
    clock.advance(WEEK.total_seconds() - 1)
    assert timed.session_user(old.session_id, user.id) == user
    clock.advance(1)
    assert timed.session_user(old.session_id, user.id) is None
    new = signed_in(timed, "grace@example.com")
    assert [row["id_hash"] for row in stored(engine, t.console_sessions)] == [
        secret_hash(new.session_id)
    ]


def test_a_new_password_ends_every_session_but_the_one_kept(timed: Accounts) -> None:
    user = timed.add_user("heidi@example.com", "responder", "hunter2hunter2")
    kept, other, third = (signed_in(timed, "heidi@example.com") for _ in range(3))
    timed.set_password("heidi@example.com", "a new password", keep_session=kept.session_id)
    assert timed.session_user(kept.session_id, user.id) == user
    assert timed.session_user(other.session_id, user.id) is None
    assert timed.session_user(third.session_id, user.id) is None
    timed.set_password("heidi@example.com", "another password")  # an admin's reset
    assert timed.session_user(kept.session_id, user.id) is None


def test_removing_a_user_ends_their_sessions(timed: Accounts, engine: Engine) -> None:
    user = timed.add_user("ivan@example.com", "responder", "hunter2hunter2")
    other = timed.add_user("judy@example.com", "responder", "hunter2hunter2")
    session = signed_in(timed, "ivan@example.com")
    others = signed_in(timed, "judy@example.com")
    timed.delete_user("ivan@example.com")
    assert timed.session_user(session.session_id, user.id) is None
    assert timed.session_user(others.session_id, other.id) == other
    assert [row["user_id"] for row in stored(engine, t.console_sessions)] == [other.id]


def test_removing_a_user_leaves_no_rows_where_foreign_keys_are_not_enforced(
    sqlite_url: str, clock: FakeClock
) -> None:
    engine = create_engine(sqlite_url)

    @sa.event.listens_for(engine, "connect")
    def _no_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    accounts = Accounts(SqlAccountStore(engine), clock)
    accounts.add_user("leo@example.com", "responder", "hunter2hunter2")
    accounts.create_token("leo@example.com")
    signed_in(accounts, "leo@example.com")
    accounts.delete_user("leo@example.com")
    assert stored(engine, t.api_tokens) == []
    assert stored(engine, t.console_sessions) == []
    engine.dispose()


def test_no_session_starts_on_a_password_changed_after_it_was_checked(
    engine: Engine, clock: FakeClock
) -> None:
    store = SqlAccountStore(engine)
    accounts = Accounts(store, clock)
    user = accounts.add_user("ken@example.com", "responder", "hunter2hunter2")
    found = store.credentials("ken@example.com")
    assert found is not None
    shown, checked = found
    assert (shown.id, shown.email) == (user.id, "ken@example.com")
    accounts.set_password("ken@example.com", "a new password")
    now = clock.now()
    assert not store.add_session("0" * 64, user.id, checked, now, now + WEEK)
    assert not store.add_session("0" * 64, "no such user", checked, now, now + WEEK)
    assert stored(engine, t.console_sessions) == []


# -- profiles: the person Pager pages

ALICE_METHODS = (
    ContactMethod("phone", "sms", "+14155550100"),
    ContactMethod("mail", "email", "alice@example.com"),
    ContactMethod("desk", "voice", "+14155550101", enabled=False),
)
ALICE_RULES = (NotificationRule(0, "phone"), NotificationRule(5, "mail"))


def test_a_new_user_has_an_empty_profile_in_utc(accounts: Accounts) -> None:
    accounts.add_user("carol@example.com")
    assert accounts.profile("Carol@Example.com") == Person("carol@example.com")


def test_a_profile_is_written_and_read_back(accounts: Accounts) -> None:
    accounts.add_user("alice@example.com")
    written = accounts.set_profile(
        "alice@example.com",
        name="Alice Liddell",
        time_zone="Europe/Paris",
        contact_methods=ALICE_METHODS,
        notification_rules=ALICE_RULES,
    )
    assert written == Person(
        "alice@example.com", "Alice Liddell", "Europe/Paris", ALICE_METHODS, ALICE_RULES
    )
    assert accounts.profile("alice@example.com") == written
    # The parts not given stay as they are.
    renamed = accounts.set_profile("alice@example.com", name="Alice")
    assert renamed == Person(
        "alice@example.com", "Alice", "Europe/Paris", ALICE_METHODS, ALICE_RULES
    )
    assert accounts.profile("alice@example.com") == renamed


def test_a_user_is_made_with_a_profile_in_one_insert(accounts: Accounts) -> None:
    profile = Person("ignored@example.com", "Bob", "America/New_York", ALICE_METHODS, ALICE_RULES)
    accounts.add_user("bob@example.com", "responder", profile=profile)
    assert accounts.profile("bob@example.com") == Person(
        "bob@example.com", "Bob", "America/New_York", ALICE_METHODS, ALICE_RULES
    )


def test_a_wrong_profile_names_every_place_and_changes_nothing(accounts: Accounts) -> None:
    accounts.add_user("alice@example.com")
    before = accounts.set_profile(
        "alice@example.com", contact_methods=ALICE_METHODS, notification_rules=ALICE_RULES
    )
    with pytest.raises(ValidationFailed) as failed:
        accounts.set_profile(
            "alice@example.com",
            time_zone="Mars/Olympus_Mons",
            contact_methods=(ContactMethod("phone", "sms", "0800 FLOWERS"),),
        )
    assert [where for where, _ in failed.value.problems] == [
        "time_zone",
        "contact method 1 phone",
        "notification rule 2 contact_method",  # "mail" went with the methods replaced
    ]
    assert accounts.profile("alice@example.com") == before


def test_a_user_made_with_a_wrong_profile_is_not_made(accounts: Accounts) -> None:
    profile = Person("x@example.com", time_zone="Nowhere", rules=(NotificationRule(-1, "no"),))
    with pytest.raises(ValidationFailed) as failed:
        accounts.add_user("not an email", "boss", profile=profile)
    assert [where for where, _ in failed.value.problems] == [
        "email",
        "role",
        "time_zone",
        "notification rule 1 delay_minutes",
        "notification rule 1 contact_method",
    ]
    assert accounts.users() == []


def test_a_login_without_a_dotted_domain_has_a_profile(accounts: Accounts) -> None:
    accounts.add_user(FIRST_ADMIN_EMAIL, "admin")
    assert accounts.set_profile(FIRST_ADMIN_EMAIL, name="Admin").name == "Admin"


def test_profiles_of_unknown_users_are_not_found(accounts: Accounts) -> None:
    with pytest.raises(UserNotFound):
        accounts.profile("nobody@example.com")
    with pytest.raises(UserNotFound):
        accounts.set_profile("nobody@example.com", name="Nobody")
    with pytest.raises(UserNotFound, match=r"^user 'nobody@example.com' does not exist$"):
        accounts.update_profile("nobody@example.com", lambda person: person)


def test_an_update_from_what_is_there_keeps_whatever_raises_out(accounts: Accounts) -> None:
    accounts.add_user("alice@example.com")
    accounts.set_profile("alice@example.com", contact_methods=ALICE_METHODS)

    def enable_desk(person: Person) -> Person:
        methods = tuple(
            replace(m, enabled=True) if m.id == "desk" else m for m in person.contact_methods
        )
        return replace(person, email="someone-else@example.com", contact_methods=methods)

    updated = accounts.update_profile("alice@example.com", enable_desk)
    assert updated.email == "alice@example.com"
    assert all(m.enabled for m in accounts.profile("alice@example.com").contact_methods)

    class Refused(Exception):
        pass

    def refuse(person: Person) -> Person:
        raise Refused

    with pytest.raises(Refused):
        accounts.update_profile("alice@example.com", refuse)
    assert accounts.profile("alice@example.com") == updated


def test_concurrent_profile_updates_lose_none_of_each_other(accounts: Accounts) -> None:
    """Each adds one method to what is there: with the row held from read to write, all of
    them are there at the end, on both databases."""
    accounts.add_user("alice@example.com")
    errors: list[BaseException] = []

    def add(number: int) -> None:
        method = ContactMethod(f"m{number}", "email", f"m{number}@example.com")
        try:
            accounts.update_profile(
                "alice@example.com",
                lambda p: replace(p, contact_methods=(*p.contact_methods, method)),
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    methods = accounts.profile("alice@example.com").contact_methods
    assert sorted(m.id for m in methods) == sorted(f"m{n}" for n in range(8))


def test_the_credential_cache_keeps_answers_for_its_seconds_and_none_with_zero() -> None:
    now = [100.0]
    cache = _TtlCache(2.0, monotonic=lambda: now[0])
    cache.put("key", "db")
    now[0] += 2.0
    assert cache.get("key") == "db"  # still within its two seconds
    now[0] += 0.001
    assert cache.get("key") is None
    off = _TtlCache(0.0, monotonic=lambda: now[0])
    off.put("key", "db")
    assert off.get("key") is None  # no cache at all, even at the same instant


def test_a_user_is_found_by_id_and_an_unknown_id_finds_nobody(
    engine: Engine, clock: FakeClock
) -> None:
    accounts = Accounts(SqlAccountStore(engine), clock)
    made = accounts.add_user("mia@example.com", "responder")
    accounts.add_user("noa@example.com", "admin")
    assert accounts.user_by_id(made.id) == made
    assert accounts.user_by_id("no-such-id") is None
