"""Maintenance windows of services, for the API and the console: written from the services'
events (MaintenanceScheduled, MaintenanceEnded, AlertSuppressed).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        sa.Column("start_at", UtcDateTime(), nullable=False),
        sa.Column("end_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime()),
        sa.Column("ended_by", sa.String(254)),
        sa.Column("suppressed", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
    )
    op.create_index("ix_maintenance_windows_service_id", "maintenance_windows", ["service_id"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_service_id", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
