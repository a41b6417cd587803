"""Urgency: the severities a service pages at low urgency; an incident's urgency and the
highest severity of its alerts. Incidents opened before were all high urgency.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import json_type

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as services:
        services.add_column(
            sa.Column("low_urgency_severities", json_type(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("incidents") as incidents:
        incidents.add_column(
            sa.Column("urgency", sa.String(8), nullable=False, server_default="high")
        )
        incidents.add_column(sa.Column("severity", sa.String(16)))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35 and later), as 0005 does.
    op.drop_column("incidents", "severity")
    op.drop_column("incidents", "urgency")
    op.drop_column("services", "low_urgency_severities")
