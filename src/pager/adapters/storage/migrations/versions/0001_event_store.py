"""Event store, snapshots, read models, outbox and timers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import UtcDateTime, json_type

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", BIGINT, primary_key=True),
        sa.Column("stream_id", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", json_type(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("incident_id", sa.String(64)),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_id_version"),
    )
    op.create_index("ix_events_incident_id", "events", ["incident_id"])
    op.create_table(
        "streams",
        sa.Column("stream_id", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("snapshot", json_type(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name="pk_streams"),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("levels", json_type(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policies"),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("policy_id", sa.String(63), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("open_incident_id", sa.String(64)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
    )
    op.create_index("ix_services_policy_id", "services", ["policy_id"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_service_id_opened_at", "incidents", ["service_id", "opened_at"])
    op.create_index("ix_incidents_status_opened_at", "incidents", ["status", "opened_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(32), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "incident_id",
            "round",
            "level",
            "target_key",
            name="uq_notifications_incident_id_round_level_target_key",
        ),
    )
    op.create_index(
        "ix_notifications_status_next_attempt_at", "notifications", ["status", "next_attempt_at"]
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("notification_id", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("provider_id", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_notification_attempts"),
    )
    op.create_index(
        "ix_notification_attempts_notification_id", "notification_attempts", ["notification_id"]
    )
    op.create_table(
        "timers",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_until", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.UniqueConstraint(
            "incident_id", "round", "level", name="uq_timers_incident_id_round_level"
        ),
    )
    op.create_index("ix_timers_due_at", "timers", ["due_at"])


def downgrade() -> None:
    for table in (
        "timers",
        "notification_attempts",
        "notifications",
        "incidents",
        "services",
        "policies",
        "streams",
        "events",
    ):
        op.drop_table(table)
