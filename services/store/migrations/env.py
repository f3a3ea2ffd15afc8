"""Alembic environment: run on the connection labloop hands over (see Store.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from services.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - labloop always passes its connection
    raise RuntimeError("run migrations through services.store.db.Store.migrate()")

if connection.dialect.name == "postgresql":
    # Several API and worker processes may start at once: one migrates, the others wait.
    connection.execute(text("SELECT pg_advisory_xact_lock(7243001)"))

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
