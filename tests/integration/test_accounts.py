"""Accounts on real storage (SQLite and PostgreSQL): users, tokens and integration keys are
stored hashed, found by their secret, and the first admin is made once."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.application.accounts import FIRST_ADMIN_EMAIL, Accounts, UserExists, UserNotFound
from pager.domain.errors import ValidationFailed
from pager.entrypoints.cli_admin import accounts_for, ensure_first_admin


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


@pytest.mark.parametrize(
    "email",
    ["al\u200bice@example.com", "alice@exa\u202emple.com", "bell\x07@example.com", "a@b\x85c"],
)
def test_an_address_with_invisible_characters_is_refused(accounts: Accounts, email: str) -> None:
    with pytest.raises(ValidationFailed, match="is not an email address"):
        accounts.add_user(email)


def test_a_token_name_with_invisible_characters_is_refused(accounts: Accounts) -> None:
    accounts.add_user("erin@example.com")
    with pytest.raises(ValidationFailed, match="name"):
        accounts.create_token("erin@example.com", "laptop\u202egnp.exe")
    assert accounts.create_token("erin@example.com", " \tlaptop \n")  # stripped: fine


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
