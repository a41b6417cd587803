"""Calendar feeds as people manage them: several a user or schedule (one for each calendar
that imports it), each with an id to list and revoke it by, who made it, and its owner as a
foreign key, so that removing the user or the schedule removes their feeds with them. Only
the sha256 of a feed's token is stored. No earlier version wrote the 0005 table, so it is
made anew rather than altered.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("calendar_feeds")
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32)),
        sa.Column("schedule_id", sa.String(63)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calendar_feeds"),
        sa.UniqueConstraint("token_hash", name="uq_calendar_feeds_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_calendar_feeds_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name="fk_calendar_feeds_schedule_id_schedules",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (schedule_id IS NULL)", name="ck_calendar_feeds_one_owner"
        ),
    )
    op.create_index("ix_calendar_feeds_user_id", "calendar_feeds", ["user_id"])
    op.create_index("ix_calendar_feeds_schedule_id", "calendar_feeds", ["schedule_id"])


def downgrade() -> None:
    op.drop_index("ix_calendar_feeds_schedule_id", table_name="calendar_feeds")
    op.drop_index("ix_calendar_feeds_user_id", table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
    op.create_table(
        "calendar_feeds",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(254), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_calendar_feeds"),
        sa.UniqueConstraint("kind", "subject", name="uq_calendar_feeds_kind_subject"),
    )
