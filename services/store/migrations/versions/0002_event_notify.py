"""Postgres: every new event row sends NOTIFY labloop_events with its job id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:00:00

A worker in another process (or on another machine) appends events; the API's SSE streams
LISTEN on this channel, so they wake at once instead of waiting for their poll. SQLite (one
process) needs nothing: the API is woken by its own session hooks.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHANNEL = "labloop_events"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE OR REPLACE FUNCTION labloop_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.job_id);
            RETURN NEW;
        END;
        $$
    """)
    op.execute("""
        CREATE TRIGGER labloop_event_notify AFTER INSERT ON events
        FOR EACH ROW EXECUTE FUNCTION labloop_notify_event()
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS labloop_event_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS labloop_notify_event()")
