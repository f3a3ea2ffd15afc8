"""jobs.paper: the job ends with a write-up of its results

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 08:00:00

`labloop run --paper`, `"paper": true` in POST /v1/jobs or a schedule's template: after the
report, the job writes runs/JOB/paper/ (paper.md, paper.pdf, review.json). Existing jobs did not
ask for one (false).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paper", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("paper")
