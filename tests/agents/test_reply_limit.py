"""A model reply far larger than its max_tokens is cut while it arrives, before parsing; the job goes on.

Before, a 50 MB reply was read, parsed, kept in the state and checkpointed whole (1.13 GB RSS,
a 1.26 GB checkpoint file) before the token budget noticed anything.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from pydantic import BaseModel

from agents.errors import LLMReplyInvalid, LLMReplyTooLarge
from agents.llm import OpenAIChatModel, TokenMeter, ask_json
from agents.reply_limit import ALLOWANCE_BYTES, BYTES_PER_TOKEN, reply_cap
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import QUALITY, make_task, model_parts, run_job
from tests.agents.test_llm_job import CRITIQUE, IDEA, REVIEW
from tests.utils.fake_llm import FakeLLM, Huge

REPLY_BYTES = 50 * 1024 * 1024
SYSTEM = [{"role": "system", "content": "Step: ideate."}, {"role": "user", "content": "an idea, please"}]


class Reply(BaseModel):
    title: str


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextmanager
def peak_rss_growth() -> Iterator[Callable[[], int]]:
    """Sample this process's RSS every 5 ms; yields a function giving the peak growth over the start."""
    start, peak, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes() - start)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0]
    finally:
        done.set()
        sampler.join()


def test_the_cap_follows_the_requests_max_tokens() -> None:
    def request(body: object) -> httpx2.Request:
        return httpx2.Request("POST", "http://model/v1/chat/completions", content=json.dumps(body).encode())

    assert reply_cap(request({"max_tokens": 100}), 2048) == 100 * BYTES_PER_TOKEN + ALLOWANCE_BYTES
    assert reply_cap(request({"max_completion_tokens": 10}), 2048) == 10 * BYTES_PER_TOKEN + ALLOWANCE_BYTES
    assert reply_cap(request({"messages": []}), 2048) == 2048 * BYTES_PER_TOKEN + ALLOWANCE_BYTES
    assert reply_cap(request({"max_tokens": True}), 7) == 7 * BYTES_PER_TOKEN + ALLOWANCE_BYTES


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_50_mb_reply_is_cut_before_parsing_in_bounded_memory(declared: bool) -> None:
    with FakeLLM({"ideate": ['{"title": "warm-up"}', Huge(REPLY_BYTES, declared=declared)]}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url, max_tokens=2048, max_retries=0)
        model.complete(SYSTEM, json_mode=True)  # connections and imports warm before measuring
        with peak_rss_growth() as growth, pytest.raises(LLMReplyTooLarge) as refused:
            model.complete(SYSTEM, json_mode=True)
        time.sleep(0.2)  # the server notices the client left

    cap = 2048 * BYTES_PER_TOKEN + ALLOWANCE_BYTES
    assert f"the model's reply exceeded {cap} bytes" in str(refused.value)
    print(f"peak RSS growth {growth() / 2**20:.2f} MiB, {llm.streamed[0]} bytes sent before the client left")
    assert growth() < 10 * 1024 * 1024, f"RSS grew {growth() / 2**20:.1f} MiB for a {REPLY_BYTES >> 20} MiB reply"
    assert llm.streamed[0] < REPLY_BYTES // 4  # the client stopped reading long before the end


def test_ask_json_makes_a_huge_reply_a_failed_attempt_it_tells_the_model() -> None:
    with FakeLLM({"ideate": [Huge(REPLY_BYTES), '{"title": "short"}']}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url, max_tokens=512, max_retries=0)
        meter = TokenMeter(budget=100_000, reply_allowance=512)
        reply = ask_json(model, meter, list(SYSTEM), Reply)

        assert reply.title == "short"
        retry = llm.requests[1]["messages"][-1]
        assert retry["role"] == "user" and "exceeded" in retry["content"] and "shorter" in retry["content"]
        assert meter.calls == 2 and meter.used >= 512  # the dropped reply counts as its whole allowance

    with FakeLLM({"ideate": [Huge(REPLY_BYTES)] * 3}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url, max_tokens=512, max_retries=0)
        with pytest.raises(LLMReplyInvalid, match="exceeded"):
            ask_json(model, TokenMeter(budget=100_000, reply_allowance=512), list(SYSTEM), Reply)


def test_a_job_whose_model_sends_50_mb_goes_on_and_checkpoints_stay_small(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1})
    llm.add("ideate", Huge(REPLY_BYTES), IDEA)
    llm.add("implement", Huge(REPLY_BYTES, declared=False), json.dumps({"explanation": "bonus", "edits": [
        {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.75"}]}))
    llm.add("review", REVIEW)
    llm.add("critique", CRITIQUE)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    assert llm.calls("ideate") == 2 and llm.calls("implement") == 2
    for step in ("ideate", "implement"):
        retry = llm.prompts(step)[1]
        assert "the model's reply exceeded" in retry and "dropped before parsing" in retry
    assert any(r.role == "candidate" and r.status == "succeeded" for r in list_experiments(store, outcome.job_id))
    stored = sum(f.stat().st_size for f in llm_settings.home.rglob("*") if f.is_file())
    assert stored < 20 * 1024 * 1024, f"{stored} bytes under LABLOOP_HOME"  # nothing of the replies was kept
