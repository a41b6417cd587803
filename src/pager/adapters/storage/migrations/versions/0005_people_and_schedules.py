"""People and on-call schedules: users' contact methods and notification rules, codes that
verify a method, schedules and their overrides, calendar feeds; an incident's count of
level targets that reached nobody, and why each page goes where it goes.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import UtcDateTime, json_type

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("name", sa.String(200), nullable=False, server_default=""))
        users.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
        users.add_column(
            sa.Column("contact_methods", json_type(), nullable=False, server_default="[]")
        )
        users.add_column(
            sa.Column("notification_rules", json_type(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("incidents") as incidents:
        incidents.add_column(sa.Column("unreached", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("notifications") as notifications:
        notifications.add_column(sa.Column("via", sa.Text))
    op.create_table(
        "contact_verifications",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("method_id", sa.String(63), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "method_id", name="pk_contact_verifications"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_contact_verifications_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("layers", json_type(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
    )
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("schedule_id", sa.String(63), nullable=False),
        sa.Column("user_email", sa.String(254), nullable=False),
        sa.Column("start", UtcDateTime(), nullable=False),
        sa.Column("end", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_overrides"),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name="fk_schedule_overrides_schedule_id_schedules",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_schedule_overrides_schedule_id_end", "schedule_overrides", ["schedule_id", "end"]
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(254), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_calendar_feeds"),
        sa.UniqueConstraint("kind", "subject", name="uq_calendar_feeds_kind_subject"),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    op.drop_index("ix_schedule_overrides_schedule_id_end", table_name="schedule_overrides")
    op.drop_table("schedule_overrides")
    op.drop_table("schedules")
    op.drop_table("contact_verifications")
    # DROP COLUMN in place (SQLite 3.35 and later): the rows that reference users stay.
    op.drop_column("notifications", "via")
    op.drop_column("incidents", "unreached")
    for column in ("notification_rules", "contact_methods", "time_zone", "name"):
        op.drop_column("users", column)
