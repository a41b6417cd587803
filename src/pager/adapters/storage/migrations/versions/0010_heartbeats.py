"""Heartbeats' read model: each heartbeat with its service, interval, grace, last ping and
state, as its service's events left it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("grace_seconds", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("defined_at", UtcDateTime(), nullable=False),
        sa.Column("last_ping_at", UtcDateTime()),
        sa.Column("due_at", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_heartbeats"),
    )
    op.create_index("ix_heartbeats_service_id", "heartbeats", ["service_id"])


def downgrade() -> None:
    op.drop_index("ix_heartbeats_service_id", table_name="heartbeats")
    op.drop_table("heartbeats")
