"""The app database (SQLAlchemy + alembic): SQLite embedded, Postgres when scaled out."""

from services.store.checkpoints import (
    create_checkpoint,
    decide_checkpoint,
    get_checkpoint,
    get_decision,
    list_checkpoints,
    list_decisions,
)
from services.store.db import Store, open_store
from services.store.events import append_event, events_after
from services.store.experiments import get_experiment, list_experiments
from services.store.jobs import (
    FINISHED,
    create_job,
    get_job,
    list_jobs,
    new_job_id,
    request_cancel,
    set_job_status,
)
from services.store.journal import SqlJournal

__all__ = [
    "FINISHED",
    "SqlJournal",
    "Store",
    "append_event",
    "create_checkpoint",
    "create_job",
    "decide_checkpoint",
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
    "request_cancel",
    "set_job_status",
]
