"""Alembic environment: migrations run on the connection that :mod:`vigia.store.schema` gives."""

from __future__ import annotations

from alembic import context

from vigia.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Vigía's migrations through vigia.store.schema (vigia db upgrade)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
