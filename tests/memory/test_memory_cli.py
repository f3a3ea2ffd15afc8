"""``labloop findings`` and ``labloop literature add`` through the real CLI app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.recall import feedback_record, outcome_record
from services.cli import _register, app
from services.memory import open_memory
from services.settings import get_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LABLOOP_HOME", str(tmp_path))
    monkeypatch.delenv("LABLOOP_CHROMA_URL", raising=False)
    monkeypatch.delenv("LABLOOP_EMBEDDING_MODEL", raising=False)
    get_settings.cache_clear()
    _register()
    yield tmp_path
    get_settings.cache_clear()


def test_findings_filters_and_prints_json(home: Path) -> None:
    with open_memory(get_settings()) as memory:
        memory.add("findings", *outcome_record(job_id="j1", task="digits", iteration=1, metric="accuracy",
                                               metric_value=0.97, params={"C": 0.5}, verified=True,
                                               title="Tune C of the logistic regression"))
        memory.add("findings", *outcome_record(job_id="j2", task="iris", iteration=1, metric="accuracy",
                                               metric_value=0.91, params={"C": 0.5},
                                               title="Tune C of the logistic regression"))
        memory.add("feedback", *feedback_record(job_id="j1", task="digits", iteration=2, checkpoint_id="c1",
                                                checkpoint_kind="idea", action="reject",
                                                subject="Deep CNN on pixels", reason="too slow"))
    runner = CliRunner()
    result = runner.invoke(app, ["findings", "tune C", "--task", "digits", "--verified", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["id"] for r in doc["results"]] == ["finding:j1:1"]
    assert doc["results"][0]["metadata"]["params"] == {"C": 0.5}
    result = runner.invoke(app, ["findings", "deep cnn", "--kind", "feedback"])
    assert result.exit_code == 0 and "reason: too slow" in result.stdout
    result = runner.invoke(app, ["findings", "x", "--kind", "bogus"])
    assert result.exit_code != 0


def test_literature_add_reports_progress_on_stderr_and_json_on_stdout(home: Path, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("Shallow trees make gradient boosting robust.\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["literature", "add", str(note), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passages"] == 1
    assert "note.txt: 1 passages" in result.stderr
    found = CliRunner().invoke(app, ["findings", "gradient boosting trees", "--json"])
    assert json.loads(found.stdout)["results"][0]["metadata"]["source"] == "note.txt"
