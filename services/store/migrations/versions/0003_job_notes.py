"""jobs.notes: one-line notices about how a job was set up (e.g. the llm → search fallback)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00

A job created with strategy llm where no LLM endpoint is configured runs with search; the
job says so in its notes, which the API returns and the report shows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("notes")
