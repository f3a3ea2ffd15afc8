"""The app database (SQLAlchemy + alembic): SQLite embedded, Postgres when scaled out.

Reads and inserts; a job's status and its checkpoints are written by :mod:`services.lifecycle`.
"""

from services.store.checkpoints import (
    get_checkpoint,
    get_decision,
    list_checkpoints,
    list_decisions,
)
from services.store.db import Store, open_store
from services.store.events import append_event, events_after
from services.store.experiments import get_experiment, list_experiments
from services.store.jobs import (
    ask_for_paper,
    create_job,
    get_job,
    list_jobs,
    new_job_id,
)
from services.store.journal import SqlJournal

__all__ = [
    "SqlJournal",
    "Store",
    "append_event",
    "ask_for_paper",
    "create_job",
    "events_after",
    "get_checkpoint",
    "get_decision",
    "get_experiment",
    "get_job",
    "list_checkpoints",
    "list_decisions",
    "list_experiments",
    "list_jobs",
    "new_job_id",
    "open_store",
]
