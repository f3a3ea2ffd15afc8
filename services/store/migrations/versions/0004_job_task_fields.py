"""jobs.task_fields: the task fields a job gives an AI Scientist template (e.g. its metric)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:30:00

A template (experiment.py, prompt.json; no task.yaml) names no metric; the job does
(`labloop run DIR --metric NAME:minimize`, `metric` in POST /v1/jobs), and its task is
loaded with these fields over the template's labloop.yaml each time the job runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_fields", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("task_fields")
