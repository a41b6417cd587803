"""`pagerd apply` and `pagerd export` with people (SQLite and PostgreSQL): users carry a
name, a time zone, contact methods and notification rules; policies target users; every
reference is checked before anything is written, and users are made before the policies
that target them. Files and databases from before people keep working."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from pager.adapters.storage.migrate import MIGRATIONS, migrate
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.entrypoints.cli import app
from tests.integration.test_apply import SMALL, Pagerd, accounts, ok, refused
from tests.support.db import row_counts


@pytest.fixture
def pagerd(database_url: str, tmp_path: Path) -> Pagerd:
    """`pagerd ARGS` in process on the test's database, as in test_apply."""
    runner = CliRunner()

    def run(*args: str, yaml: str | None = None) -> Result:
        if yaml is not None:
            (tmp_path / "pager.yaml").write_text(yaml)
        argv = [str(tmp_path / "pager.yaml") if arg == "FILE" else arg for arg in args]
        return runner.invoke(app, argv, env={"PAGER_DATABASE_URL": database_url})

    return run


PEOPLE = """\
users:
  - email: alice@example.com
    role: admin
    name: Alice
    time_zone: Europe/Paris
    contact_methods:
      - {id: phone, type: sms, phone: "+14155550100"}
      - {id: mail, type: email, address: alice@example.com}
      - {id: desk, type: voice, phone: "+14155550101", enabled: false}
    notification_rules:
      - {delay_minutes: 0, contact_method: phone}
      - {delay_minutes: 5, contact_method: mail}
  - {email: bob@example.com}
escalation_policies:
  - id: ops
    name: Ops
    levels:
      - targets:
          - {type: user, user: Alice@Example.com}
          - {type: email, address: oncall@example.com}
      - targets:
          - {type: user, user: bob@example.com}
services:
  - {id: db, name: Database, escalation_policy: ops}
"""
ALICE = Person(
    "alice@example.com",
    "Alice",
    "Europe/Paris",
    (
        ContactMethod("phone", "sms", "+14155550100"),
        ContactMethod("mail", "email", "alice@example.com"),
        ContactMethod("desk", "voice", "+14155550101", enabled=False),
    ),
    (NotificationRule(0, "phone"), NotificationRule(5, "mail")),
)


def test_users_are_made_before_the_policies_that_target_them(
    pagerd: Pagerd, engine: Engine
) -> None:
    out = ok(pagerd("apply", "-f", "FILE", yaml=PEOPLE))
    assert out.splitlines()[:3] == [
        "+ create user alice@example.com (role admin, name 'Alice', time zone Europe/Paris, "
        "3 contact methods, 2 notification rules)",
        "+ create user bob@example.com (role responder)",
        "+ create escalation policy ops (2 levels, repeat 0)",
    ]
    assert accounts(engine).profile("alice@example.com") == ALICE
    assert ok(pagerd("apply", "-f", "FILE", yaml=PEOPLE)) == "no changes\n"


def test_an_export_carries_people_and_applies_as_no_changes(pagerd: Pagerd, tmp_path: Path) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=PEOPLE))
    exported = ok(pagerd("export"))
    assert "time_zone: Europe/Paris" in exported
    assert "{type: user, user: alice@example.com}" in exported
    assert ok(pagerd("apply", "--prune", "-f", "FILE", yaml=exported)) == "no changes\n"
    env = {"PAGER_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    copy = CliRunner().invoke(app, ["apply", "-f", "-"], input=exported, env=env)
    assert copy.exit_code == 0, copy.output
    assert CliRunner().invoke(app, ["export"], env=env).stdout == exported


def test_profile_changes_are_shown_and_parts_left_out_are_kept(
    pagerd: Pagerd, engine: Engine
) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=PEOPLE))
    changed = PEOPLE.replace("time_zone: Europe/Paris", "time_zone: America/New_York").replace(
        "{delay_minutes: 5, contact_method: mail}", "{delay_minutes: 1, contact_method: mail}"
    )
    out = ok(pagerd("apply", "-f", "FILE", yaml=changed))
    assert out.splitlines() == [
        "~ update user alice@example.com: time zone Europe/Paris -> America/New_York; "
        "notification rules: phone after 0 min, mail after 5 min -> "
        "phone after 0 min, mail after 1 min",
        "applied: 0 created, 1 updated, 0 deleted",
    ]
    # A file from before people (email and role only) leaves what the user set alone.
    ok(pagerd("apply", "-f", "FILE", yaml="users:\n  - {email: alice@example.com, role: admin}\n"))
    profile = accounts(engine).profile("alice@example.com")
    assert (profile.time_zone, profile.rules[1]) == (
        "America/New_York",
        NotificationRule(1, "mail"),
    )
    # A rule may name a method the file leaves as it is.
    only_rules = (
        "users:\n  - email: alice@example.com\n    role: admin\n"
        "    notification_rules: [{delay_minutes: 3, contact_method: desk}]\n"
    )
    ok(pagerd("apply", "-f", "FILE", yaml=only_rules))
    assert accounts(engine).profile("alice@example.com").rules == (NotificationRule(3, "desk"),)


def test_every_wrong_reference_is_named_and_nothing_is_written(
    pagerd: Pagerd, engine: Engine
) -> None:
    before = row_counts(engine)
    wrong = dedent(
        """\
        users:
          - email: alice@example.com
            time_zone: Mars/Olympus_Mons
            contact_methods:
              - {id: phone, type: sms, address: alice@example.com}
              - {id: mail, type: email, address: not-an-address}
              - {id: mail, type: fax, phone: "+14155550100"}
            notification_rules:
              - {delay_minutes: -1, contact_method: pager}
        escalation_policies:
          - id: ops
            name: Ops
            levels:
              - targets:
                  - {type: user, user: alice@example.com}
                  - {type: user, user: carol@example.com}
        """
    )
    err = refused(pagerd("apply", "-f", "FILE", yaml=wrong))
    assert err.splitlines()[1:] == [
        "  user alice@example.com contact method 3 type: input should be 'email', 'sms' or 'voice'",
    ]
    wrong = wrong.replace("type: fax", "type: sms")
    err = refused(pagerd("apply", "-f", "FILE", yaml=wrong))
    assert err.splitlines()[1:] == [
        "  user alice@example.com contact method 1 address: a sms method has phone, not address",
        "  user alice@example.com contact method 1 phone: is required",
    ]
    wrong = wrong.replace("type: sms, address: alice@example.com", "type: sms, phone: '555'")
    err = refused(pagerd("apply", "-f", "FILE", yaml=wrong))
    assert err.splitlines()[1:] == [
        "  user alice@example.com time_zone: 'Mars/Olympus_Mons' is not an IANA time zone",
        "  user alice@example.com contact method 1 phone: '555' is not an E.164 phone number "
        "such as +14155550100",
        "  user alice@example.com contact method 2 address: 'not-an-address' is not an email "
        "address",
        "  user alice@example.com contact method 3 id: 'mail' is given twice",
        "  user alice@example.com notification rule 1 delay_minutes: must be from 0 to 1440",
        "  user alice@example.com notification rule 1 contact_method: 'pager' is not one of theirs",
        "  escalation policy ops level 1 target 2: user 'carol@example.com' is neither in the "
        "file nor in the database",
    ]
    assert row_counts(engine) == before


def test_prune_never_deletes_a_user_a_policy_targets(pagerd: Pagerd, engine: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=PEOPLE))
    before = row_counts(engine)
    # The policy stays (its section is not in the file); bob would go.
    only_alice = "users:\n  - {email: alice@example.com, role: admin}\n"
    err = refused(pagerd("apply", "--prune", "-f", "FILE", yaml=only_alice))
    assert err.splitlines()[1:] == [
        "  user bob@example.com: --prune would delete it, but escalation policy ops targets "
        "it and is not in the file",
    ]
    # The policy in the file still names bob.
    without_bob = PEOPLE.replace("  - {email: bob@example.com}\n", "")
    err = refused(pagerd("apply", "--prune", "-f", "FILE", yaml=without_bob))
    assert err.splitlines()[1:] == [
        "  escalation policy ops level 2 target 1: user 'bob@example.com' is not in the "
        "file, so --prune would delete it",
    ]
    assert row_counts(engine) == before
    # Once no policy targets bob, --prune deletes him: the policy is changed first.
    no_bob = without_bob.replace(
        "{type: user, user: bob@example.com}", "{type: email, address: b@x.io}"
    )
    out = ok(pagerd("apply", "--prune", "-f", "FILE", yaml=no_bob))
    assert out.splitlines()[-2:] == [
        "- delete user bob@example.com",
        "applied: 0 created, 1 updated, 1 deleted",
    ]


def test_an_export_of_a_database_from_before_people_still_applies(
    pagerd: Pagerd, engine: Engine, tmp_path: Path
) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:  # the database as it was before people, then migrated
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
        conn.commit()
        assert "contact_methods" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}
    migrate(engine)
    exported = ok(pagerd("export"))
    assert ok(pagerd("apply", "-f", "FILE", yaml=exported)) == "no changes\n"
    assert ok(pagerd("apply", "-f", "FILE", yaml=SMALL)) == "no changes\n"
    env = {"PAGER_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    copy = CliRunner().invoke(app, ["apply", "-f", "-"], input=exported, env=env)
    assert copy.exit_code == 0, copy.output
    assert "applied: 4 created" in copy.stdout


def test_a_repeating_rule_applies_exports_and_round_trips(pagerd: Pagerd, engine: Engine) -> None:
    repeating = PEOPLE.replace(
        "{delay_minutes: 0, contact_method: phone}",
        "{delay_minutes: 0, contact_method: phone, repeat_every_minutes: 5}",
    )
    ok(pagerd("apply", "-f", "FILE", yaml=PEOPLE))
    out = ok(pagerd("apply", "-f", "FILE", yaml=repeating))
    assert out.splitlines()[0] == (
        "~ update user alice@example.com: notification rules: phone after 0 min, mail after "
        "5 min -> phone after 0 min, every 5 min, mail after 5 min"
    )
    assert accounts(engine).profile("alice@example.com").rules == (
        NotificationRule(0, "phone", 5),
        NotificationRule(5, "mail"),
    )
    exported = ok(pagerd("export"))
    assert "{delay_minutes: 0, contact_method: phone, repeat_every_minutes: 5}" in exported
    assert "{delay_minutes: 5, contact_method: mail}" in exported  # no repeat: not written
    assert ok(pagerd("apply", "--prune", "-f", "FILE", yaml=exported)) == "no changes\n"

    too_slow = repeating.replace("every_minutes: 5", "every_minutes: 90")
    err = refused(pagerd("apply", "-f", "FILE", yaml=too_slow))
    assert err.splitlines()[1:] == [
        "  user alice@example.com notification rule 1 repeat_every_minutes: must be from 1 to 60"
    ]
