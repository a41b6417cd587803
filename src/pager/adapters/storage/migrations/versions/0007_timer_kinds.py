"""Timers of more than one kind: the ack timer of an incident's level was the only one; a
`kind` column and a `subject` (what the timer is for: the incident, for an ack timer) make
room for the others. Existing rows are ack timers of the incident they named.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.drop_constraint("uq_timers_incident_id_round_level", type_="unique")
        batch.alter_column("incident_id", new_column_name="subject")
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="ack"))
    # A second pass: SQLite's table copy would lose a constraint on a column it adds.
    with op.batch_alter_table("timers") as batch:
        batch.create_unique_constraint(
            "uq_timers_kind_subject_round_level", ["kind", "subject", "round", "level"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM timers WHERE kind <> 'ack'")
    with op.batch_alter_table("timers") as batch:
        batch.drop_constraint("uq_timers_kind_subject_round_level", type_="unique")
        batch.drop_column("kind")
        batch.alter_column("subject", new_column_name="incident_id")
    with op.batch_alter_table("timers") as batch:
        batch.create_unique_constraint(
            "uq_timers_incident_id_round_level", ["incident_id", "round", "level"]
        )
