"""Alembic environment: run with the connection that `pager.adapters.storage.migrate` passes."""

from __future__ import annotations

from alembic import context

from pager.adapters.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
