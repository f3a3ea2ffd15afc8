"""The configured OpenAI-compatible embeddings endpoint, through the real ``openai`` client."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.novelty import check_novelty
from agents.recall import idea_record, recall_for_ideation
from services.errors import EmbedderMismatch, MemoryStoreError
from services.memory import open_memory
from services.settings import Settings
from tests.memory.conftest import EmbeddingsServer


def _settings(home: Path, url: str | None, model: str | None) -> Settings:
    return Settings(home=home, llm_base_url=url, llm_api_key="test-key", embedding_model=model)


def test_the_configured_endpoint_is_used_and_recorded(tmp_path: Path, embeddings_server: EmbeddingsServer) -> None:
    with open_memory(_settings(tmp_path, embeddings_server.url, "fake-embed")) as memory:
        memory.add("ideas", *idea_record(job_id="j1", task="digits", iteration=1,
                                         title="Increase the L2 regularisation of the logistic regression"))
        embedder = memory.embedder("ideas")
        assert (embedder.name, embedder.dimension) == ("openai:fake-embed", 64)
        calls = len(embeddings_server.calls)
        idea = "stronger L2 regularization for the logistic regression"
        verdict = check_novelty(memory, task="digits", idea_text=idea)
        assert verdict.neighbours[0].id == "idea:j1:1:0"
        recall_for_ideation(memory, task="digits", query=idea, direction="maximize")
        # One call for the checked text, however many collections were asked about it.
        assert [texts for texts in embeddings_server.calls[calls:] if texts == [idea]] == [[idea]]
    # Without the endpoint configured, the collection made with it refuses to open.
    with open_memory(_settings(tmp_path, None, None)) as memory, pytest.raises(EmbedderMismatch) as err:
        memory.nearest("ideas", "anything")
    assert "openai:fake-embed" in str(err.value) and "LABLOOP_EMBEDDING_MODEL=fake-embed" in str(err.value)


def test_an_unreachable_endpoint_is_a_memory_error_that_says_what_to_check(tmp_path: Path) -> None:
    with open_memory(_settings(tmp_path, "http://127.0.0.1:9/v1", "fake-embed")) as memory, \
            pytest.raises(MemoryStoreError) as err:
        memory.add("ideas", "idea:x", "some idea", {"task": "t"})
    assert "fake-embed" in str(err.value) and "LABLOOP_LLM_BASE_URL" in str(err.value)
