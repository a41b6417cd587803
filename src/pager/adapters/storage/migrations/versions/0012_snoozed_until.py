"""When a snoozed incident is triggered again, on its read-model row (null: not snoozed).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pager.adapters.storage.types import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as incidents:
        incidents.add_column(sa.Column("snoozed_until", UtcDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as incidents:
        incidents.drop_column("snoozed_until")
