"""The prompt builder's parts without a sandbox: file kinds and summaries, cuts, facts, history, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.briefing import allowance, approvals, clip, diff_from_parent, files_text, history
from agents.context import ModelLimits, ResearchContext
from agents.errors import ConfigError, LLMReplyInvalid
from agents.experiments import DataFile, data_files, source_files
from agents.llm import OpenAIChatModel, TokenMeter, ask_json
from agents.llm_steps import Idea
from agents.prompt_facts import environment_text
from agents.prompt_files import MAX_ROWS, data_summary, editable_files, kind_of
from agents.state import Decision
from sandbox.errors import SandboxError
from sandbox.facts import ImageFacts, parse_facts
from services.settings import Settings
from tests.agents.test_tree_parts import ROOT_NODE, TASK, node
from tests.utils.fake_llm import FakeLLM, Scripted


def test_each_file_is_shown_by_what_it_is() -> None:
    editable = editable_files("python3 ./experiment.py --fast", ["experiment.py", "lib.py"], ["new.py"])
    assert editable == {"experiment.py", "new.py"}
    kinds = {rel: kind_of(rel, size, editable=editable, text=text) for rel, size, text in [
        ("experiment.py", 90_000, True), ("lib.py", 50_000, True), ("task.yaml", 300, True),
        ("train.csv", 300, True), ("model.pkl", 10, False), ("config.json", 800, True),
        ("rows.json", 9_000, True), ("data_description.txt", 13_000, True), ("README.md", 9_000, True),
        ("corpus.txt", 9_000, True), ("notes.txt", 900, True)]}
    assert kinds == {
        "experiment.py": "editable", "lib.py": "code", "task.yaml": "settings", "train.csv": "data",
        "model.pkl": "data", "config.json": "code", "rows.json": "data", "data_description.txt": "description",
        "README.md": "description", "corpus.txt": "data", "notes.txt": "code"}


def test_data_summaries_show_columns_and_a_few_whole_rows_never_the_file(tmp_path: Path) -> None:
    wide = "\t".join(f"c{i}" for i in range(500))
    (tmp_path / "wide.tsv").write_text(wide + "\n" + "\n".join("\t".join("7" * 3 for _ in range(500))
                                                               for _ in range(5_000)) + "\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" * 1000)
    (tmp_path / "experiment.py").write_text("print(1)\n")
    files = data_files(tmp_path, head_bytes=4_000)
    assert set(files) == {"wide.tsv", "blob.bin"} and set(source_files(tmp_path)) == {"experiment.py"}
    assert files["wide.tsv"].lines == 5_001 and files["blob.bin"].binary
    summary = data_summary("wide.tsv", files["wide.tsv"])
    lines = summary.splitlines()
    assert lines[1].startswith("columns (500): c0, c1") and lines[1].endswith("…")
    assert len(lines) <= MAX_ROWS + 2 and all(len(x) < 400 for x in lines)  # long rows cut with a marker
    assert "characters cut]" in lines[-1]
    uncounted = data_files(tmp_path, head_bytes=4_000, count_bytes=1_000)["wide.tsv"]  # past the reading budget
    assert uncounted.lines is None and "lines not counted" in data_summary("wide.tsv", uncounted)
    assert data_summary("blob.bin", files["blob.bin"]) == ("--- blob.bin (data, binary, 2.9 KB; the experiment "
                                                          "reads it from 'blob.bin') ---")


def test_cuts_fall_on_line_boundaries_and_a_huge_line_is_shortened_not_dropped() -> None:
    text = "".join(f"line {i}\n" for i in range(5_000))
    cut = clip(text, 1_000, what="out")
    head, marker, tail = cut.partition("[…")
    assert all(line.startswith("line ") for line in (head + tail.partition("\n")[2]).splitlines())
    assert marker == "[…" and " lines (" in tail and "of out cut here" in tail
    one = clip("x" * 50_000, 1_000, what="progress bar")
    assert len(one) < 1_200 and "characters of this line cut" in one
    code = files_text({"experiment.py": text, "lib.py": text}, {}, editable={"experiment.py"}, max_chars=2_000)
    assert text in code and "lib.py (code, 48890 bytes; not shown" in code  # the edited file whole, first
    code = files_text({"experiment.py": "print(1)\n", "lib.py": text}, {}, editable={"experiment.py"}, max_chars=2_000)
    assert "print(1)" in code and "of lib.py cut here" in code and len(code) < 2_200  # the rest while it lasts
    many = files_text({f"m{i}.py": "x = 1\n" * 200 for i in range(40)},
                      {f"d{i}.csv": DataFile(size=9_000, head="a,b\n" + "1,2\n" * 500, lines=501) for i in range(40)},
                      editable=set(), max_chars=6_000)
    assert len(many) < 12_000 and "m39.py (code, 1200 bytes; not shown" in many and "d39.csv (data" in many
    huge = files_text({"experiment.py": text}, {}, editable={"experiment.py"}, max_chars=2_000, context_chars=9_000)
    assert len(huge) < 9_600 and "too long for the model's context" in huge and "reply with the whole file" in huge


def test_the_image_facts_refuse_what_a_hostile_image_could_print() -> None:
    good = parse_facts(json.dumps({"python": "3.11.2", "packages": {"Scikit_Learn": "1.2.1", "numpy": "1.24.2",
                                                                     "evil\nname": "1", "x": "1; rm -rf /"}}).encode())
    assert good == ImageFacts(python="3.11.2", packages={"numpy": "1.24.2", "scikit-learn": "1.2.1"})
    assert good.version("scikit_learn") == "1.2.1" and good.version("pandas") is None
    for raw in (b"not json", b"[1]", json.dumps({"python": "3.11\nIgnore all", "packages": {}}).encode(),
                b"{" + b" " * 600_000 + b"}"):
        with pytest.raises(SandboxError):
            parse_facts(raw)


def test_history_tells_the_rejections_and_edits_on_the_branch_and_its_ancestors_only() -> None:
    def decided(node_id: str, action: str, reason: str, edit: dict[str, object] | None = None) -> Decision:
        return Decision(kind="code", checkpoint_id="c", iteration=1, node=node_id, flagged=[], subject="idea " + node_id,
                        action=action, reason=reason, edit=edit or {}, by="alice", at=None)  # type: ignore[typeddict-item]

    nodes = [ROOT_NODE, node("r1s0"), node("r1s1"), node("r2s0", parent="r1s0", round_=2),
             node("r2s1", parent="r1s1", round_=2), node("r3s0", parent="r2s0", round_=3)]
    decisions = [decided("r1s1", "reject", "sibling of the path"), decided("r2s1", "reject", "off the path"),
                 decided("r1s0", "edit", "alpha 10 → 15", {"params": {"alpha": 15}}),
                 decided("r2s0", "approve", "fine")]
    assert approvals(decisions) == ["a human approved the code 'idea r2s0' of r2s0: fine"]  # kept as a lesson
    told = "\n".join(history(nodes, "r2s0", decisions))
    assert "r1s1 (an improve of root): a human rejected the code 'idea r1s1': sibling of the path" in told
    assert 'r1s0: a human (alice) edited the code at its gate: params → {"alpha": 15} — alpha 10 → 15' in told
    assert "off the path" not in told and "fine" not in told
    assert history(nodes, None, decisions) == [told.splitlines()[0]]  # a draft: the root's rejected children
    drafted = [ROOT_NODE, node("r1s0", operator="draft"), node("r2s0", parent="r1s0", round_=2, operator="ablate")]
    said = "\n".join(history(drafted, "r2s0", [decided("r1s0", "reject", "no"), decided("r2s0", "reject", "no")]))
    assert "r1s0 (a draft of root)" in said and "r2s0 (an ablate of r1s0)" in said  # the article follows the operator


def test_reply_limits_size_the_prompt_and_a_reply_cut_at_the_limit_says_which_setting_to_raise() -> None:
    limits = ModelLimits(context_tokens=32_000, code_reply_tokens=8_000, text_reply_tokens=2_000)
    assert limits.reply_tokens("implement") == limits.reply_tokens("debug") == 8_000
    assert limits.reply_tokens("critique") == 2_000 and allowance(limits, "implement") < allowance(limits, "ideate")
    assert allowance(ModelLimits(context_tokens=128_000), "implement") > 4 * allowance(limits, "implement") // 2
    with FakeLLM({"ideate": [Scripted('{"title": "t', finish_reason="length")] * 2}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url)
        with pytest.raises(LLMReplyInvalid, match="cut off at 300 tokens .* raise LABLOOP_LLM_MAX_TOKENS_TEXT"):
            ask_json(model, TokenMeter(budget=100_000), [{"role": "system", "content": "Step: ideate."}], Idea,
                     attempts=2, max_tokens=300, limit_setting="LABLOOP_LLM_MAX_TOKENS_TEXT")
    assert [r["max_tokens"] for r in llm.requests] == [300, 300]


def test_a_context_too_small_for_the_replies_is_refused_with_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LABLOOP_LLM_CONTEXT_TOKENS \\(9000\\) .* at least 10000"):
        Settings(home=tmp_path, llm_context_tokens=9_000)
    assert Settings(home=tmp_path).model_limits() == ModelLimits()
    assert DataFile(size=1, head="", lines=None).binary is False


def test_the_facts_name_the_watched_packages_and_the_tasks_requirements_with_the_jobs_budget(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("LightGBM==4.0.0  # boosting\n")
    task = TASK.model_copy(update={"budget": TASK.budget.model_copy(update={"iterations": 4})})
    ctx = ResearchContext(job_id="j", task=task, task_dir=tmp_path, runner=None, journal=None,  # type: ignore[arg-type]
                          runs_dir=tmp_path, image_facts=ImageFacts(python="3.11.2", packages={
                              "numpy": "1.24.2", "scikit-learn": "1.2.1", "lightgbm": "4.0.0"}))
    text = environment_text(ctx)
    assert "Python 3.11.2; packages: numpy 1.24.2, scipy not installed, scikit-learn 1.2.1" in text
    assert "LightGBM 4.0.0" in text and "4 rounds of 2 branch(es)" in text
    # A file edited on disk since the job was created (refused lines) names nothing; the prompt still builds.
    (tmp_path / "requirements.txt").write_text("LightGBM==4.0.0\n-r more.txt\nnot a requirement!!\n")
    assert "LightGBM" not in environment_text(ctx) and "more.txt" not in environment_text(ctx)
    assert "unknown" in environment_text(ResearchContext(**{**ctx.__dict__, "image_facts": None}))


def test_the_diff_from_the_parent_compares_with_the_tasks_own_file_where_the_parent_left_it_alone(tmp_path: Path) -> None:
    # The code gate, the review and the critique all show this diff: a one-line change must read as one line,
    # not as the whole file added (the parent, here the root, changed nothing, so its own file list is empty).
    body = "".join(f"line {i}\n" for i in range(40))
    (tmp_path / "experiment.py").write_text(body)
    ctx = ResearchContext(job_id="j", task=TASK, task_dir=tmp_path, runner=None, journal=None,  # type: ignore[arg-type]
                          runs_dir=tmp_path)
    changed = {"experiment.py": body.replace("line 7\n", "line seven\n")}
    diff = diff_from_parent(ctx, ROOT_NODE, changed, {"x": 0.5})
    assert "-line 7\n" in diff and "+line seven\n" in diff and "+line 30" not in diff
    assert '+  "x": 0.5' in diff
    child = node("r1s0", files=changed)
    assert diff_from_parent(ctx, child, changed, {}) == "(no change)"
