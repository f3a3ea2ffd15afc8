"""``/v1/experiments``: one experiment, and its artifacts (safe against path traversal)."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from services.api.deps import StoreDep
from services.api.edge import UNTRUSTED_FILE_HEADERS
from services.api.errors import BadRequest
from services.api.schemas import ExperimentOut
from services.errors import NotFound
from services.store import get_experiment
from services.tasks import clean_relative_path

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])
ExperimentId = Annotated[str, Path(min_length=1, max_length=120)]


@router.get("/{experiment_id}", response_model=ExperimentOut)
def read_experiment(experiment_id: ExperimentId, store: StoreDep) -> ExperimentOut:
    """One experiment with its result (metrics, output tails, artifact manifest)."""
    return ExperimentOut.model_validate(get_experiment(store, experiment_id))


def artifact_file(output_dir: str, relative: str) -> FsPath:
    """The file ``relative`` inside ``output_dir``; nothing outside it, links included."""
    if not output_dir:
        raise NotFound("this experiment has no outputs (it has not run yet)")
    try:
        clean = clean_relative_path(relative)
    except Exception as exc:
        raise BadRequest(f"artifact path {relative!r} must be relative and stay inside the outputs") from exc
    root = FsPath(output_dir).resolve()
    target = (root / clean).resolve()
    if not target.is_relative_to(root):
        raise BadRequest(f"artifact path {relative!r} leaves the experiment's outputs")
    if not target.is_file():
        raise NotFound(f"no artifact {relative!r}; the experiment's result lists its artifacts")
    return target


@router.get(
    "/{experiment_id}/artifacts/{path:path}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(experiment_id: ExperimentId, path: str, store: StoreDep) -> FileResponse:
    """One file the experiment wrote under its outputs (as a download no browser runs or sniffs)."""
    experiment = get_experiment(store, experiment_id)
    target = artifact_file(experiment.output_dir, path)
    return FileResponse(target, filename=target.name, headers=UNTRUSTED_FILE_HEADERS)
