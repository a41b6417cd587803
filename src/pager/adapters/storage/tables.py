"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/` create exactly this."""

from __future__ import annotations

import sqlalchemy as sa

from pager.adapters.storage.types import UtcDateTime, json_type

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The event store: one stream per service ("service:<id>") and per policy ("policy:<id>").
events = sa.Table(
    "events",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("stream_id", sa.String(80), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("data", json_type(), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    # Lets an incident's timeline be read without scanning its service's whole stream.
    sa.Column("incident_id", sa.String(64), index=True),
    sa.UniqueConstraint("stream_id", "version"),
)

# One row per stream: its version and the fold of its events, so loading never grows with history.
streams = sa.Table(
    "streams",
    metadata,
    sa.Column("stream_id", sa.String(80), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot", json_type(), nullable=False),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False),
    sa.Column("levels", json_type(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("policy_id", sa.String(63), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("open_incident_id", sa.String(64)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # The severities it pages at low urgency, highest first (migration 0009).
    sa.Column("low_urgency_severities", json_type(), nullable=False, server_default="[]"),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("service_id", sa.String(63), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("alert_count", sa.Integer, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("dedup_keys", json_type(), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("acknowledged_at", UtcDateTime()),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("resolved_at", UtcDateTime()),
    sa.Column("resolved_by", sa.String(200)),
    # Level targets that reached nobody (migration 0005): the incident is flagged for them.
    sa.Column("unreached", sa.Integer, nullable=False, server_default="0"),
    # High or low, and the highest severity of its alerts (migration 0009).
    sa.Column("urgency", sa.String(8), nullable=False, server_default="high"),
    sa.Column("severity", sa.String(16)),
    # While snoozed, when it is triggered again (migration 0012).
    sa.Column("snoozed_until", UtcDateTime()),
    sa.Index(None, "service_id", "opened_at"),
    sa.Index(None, "status", "opened_at"),
)

# The transactional outbox: one row per (incident, round, level, target), written with the event.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("incident_id", sa.String(64), nullable=False),
    sa.Column("service_id", sa.String(63), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("target_key", sa.String(600), nullable=False),
    sa.Column("target", json_type(), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_until", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    # Why the page goes there: "user alice@... (sms phone, after 0 min)" (migration 0005).
    sa.Column("via", sa.Text),
    sa.UniqueConstraint("incident_id", "round", "level", "target_key"),
    sa.Index(None, "status", "next_attempt_at"),
)

notification_attempts = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("notification_id", sa.String(32), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("provider_id", sa.String(200)),
)

# Durable timers of a service's commands (migration 0007): of a `kind` (an incident's ack
# timer, ...) for a `subject` (the incident, ...), one per (kind, subject, round, level);
# removed when handled or moot. `round` and `level` are 0 where a kind has none.
timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="ack"),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("service_id", sa.String(63), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("claimed_until", UtcDateTime()),
    sa.UniqueConstraint("kind", "subject", "round", "level"),
)

# Maintenance windows (migration 0011), as the service's events left them: those not ended
# are in force or to come; ended ones stay for the record until the service is deleted.
maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("service_id", sa.String(63), nullable=False, index=True),
    sa.Column("start_at", UtcDateTime(), nullable=False),
    sa.Column("end_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(254), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime()),
    sa.Column("ended_by", sa.String(254)),
    sa.Column("suppressed", sa.Integer, nullable=False, server_default="0"),
)


# Heartbeats (migration 0010), as their services' events left them; `state` is new (never
# pinged), ok or missed, and `due_at` the deadline of the next ping (none once missed).
heartbeats = sa.Table(
    "heartbeats",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("service_id", sa.String(63), nullable=False, index=True),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("grace_seconds", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("defined_at", UtcDateTime(), nullable=False),
    sa.Column("last_ping_at", UtcDateTime()),
    sa.Column("due_at", UtcDateTime()),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# Accounts (migration 0002). Secrets are stored only as sha256 (tokens, keys) or argon2
# (passwords); the plain values are shown once, when made.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # The person Pager pages (migration 0005): their contact methods and notification rules
    # as the domain's JSON, read whole when a level reaches them.
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("contact_methods", json_type(), nullable=False, server_default="[]"),
    sa.Column("notification_rules", json_type(), nullable=False, server_default="[]"),
)

# A user as a person Pager pages: the columns `codec.decode_person` takes, in its order.
person_columns = (
    users.c.email,
    users.c.name,
    users.c.time_zone,
    users.c.contact_methods,
    users.c.notification_rules,
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "user_id",
        sa.String(32),
        sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_api_tokens_user_id_users"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# One integration key per service; rotating it replaces the row.
integration_keys = sa.Table(
    "integration_keys",
    metadata,
    sa.Column("service_id", sa.String(63), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(8), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Secrets Pager makes for itself (migration 0003): the key that signs console sessions and
# ack links when PAGER_SECRET_KEY is not set, shared by every process on the database.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Console sessions (migration 0004): the sha256 of each session's random id, never the id,
# so that a copy of the database signs nobody in. Signing out deletes the row.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.String(32),
        sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_console_sessions_user_id_users"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

# Migration 0005: codes that prove a contact method reaches its owner (only their sha256),
# on-call schedules, their overrides, and the secret addresses of calendar feeds.
contact_verifications = sa.Table(
    "contact_verifications",
    metadata,
    sa.Column(
        "user_id",
        sa.String(32),
        sa.ForeignKey(
            "users.id", ondelete="CASCADE", name="fk_contact_verifications_user_id_users"
        ),
        primary_key=True,
    ),
    sa.Column("method_id", sa.String(63), primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("layers", json_type(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

schedule_overrides = sa.Table(
    "schedule_overrides",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column(
        "schedule_id",
        sa.String(63),
        sa.ForeignKey(
            "schedules.id", ondelete="CASCADE", name="fk_schedule_overrides_schedule_id_schedules"
        ),
        nullable=False,
    ),
    sa.Column("user_email", sa.String(254), nullable=False),
    sa.Column("start", UtcDateTime(), nullable=False),
    sa.Column("end", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(254), nullable=False),
    sa.Index(None, "schedule_id", "end"),
)

# Migration 0006: calendar feeds, a user's (their shifts on every schedule) or a schedule's;
# only the sha256 of a feed's token, which is its secret address.
calendar_feeds = sa.Table(
    "calendar_feeds",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "user_id",
        sa.String(32),
        sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_calendar_feeds_user_id_users"),
        index=True,
    ),
    sa.Column(
        "schedule_id",
        sa.String(63),
        sa.ForeignKey(
            "schedules.id", ondelete="CASCADE", name="fk_calendar_feeds_schedule_id_schedules"
        ),
        index=True,
    ),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(254), nullable=False),
    sa.CheckConstraint(
        "(user_id IS NULL) <> (schedule_id IS NULL)", name="ck_calendar_feeds_one_owner"
    ),
)
