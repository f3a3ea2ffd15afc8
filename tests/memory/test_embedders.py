"""The offline lexical embedder and the rule that picks an embedder per collection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.memory.embedders import LEXICAL_NAME, EmbedderSource, LexicalEmbedder, chroma_default
from services.memory.literature import chunk_text

# Paraphrases that keep their key words (what a lexical embedder can see) ...
PARAPHRASES = [
    ("Increase the L2 regularisation strength of the logistic regression to reduce overfitting",
     "To reduce overfitting, use stronger L2 regularization in logistic regression"),
    ("Standardise the pixel features before fitting",
     "Before the fit, standardize every pixel feature"),
    ("Use a random forest with 500 trees instead of logistic regression",
     "Replace logistic regression by a random forest of 500 trees"),
    ("Lower the learning rate to 0.001 and train for more epochs",
     "Train for more epochs with a smaller learning rate of 0.001"),
    ("Apply PCA to reduce the input to 30 components",
     "Reduce input dimensionality with PCA to 30 components"),
    ("Switch the optimizer from SGD to Adam", "Use Adam instead of SGD as the optimiser"),
]
# Synonym paraphrases ("scale to unit variance" for "standardise", "CNN" for "convolutional
# network") share too few letters: catching them needs a semantic embedder (endpoint or
# Chroma's model), which is why the lexical one names itself lexical.
# ... and distinct ideas from the same domain, which must stay apart.
DIFFERENT = [
    ("Increase the L2 regularisation strength of the logistic regression",
     "Standardise the pixel features before fitting the logistic regression"),
    ("Use a random forest with 500 trees", "Use gradient boosting with shallow trees"),
    ("Add early stopping based on validation loss", "Lower the learning rate and train for more epochs"),
    ("Increase the number of trees in the random forest", "Limit the depth of the trees in the random forest"),
    ("Use the l1 penalty with the saga solver", "Use the l2 penalty with the lbfgs solver"),
    ("Tune C of the logistic regression on a log grid", "Tune gamma of the RBF SVM on a log grid"),
]


def _distance(embedder: LexicalEmbedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return 1.0 - float(va @ vb)


def test_lexical_embedder_separates_paraphrases_from_different_ideas() -> None:
    embedder = LexicalEmbedder()
    for a, b in PARAPHRASES:
        assert _distance(embedder, a, b.upper()) < embedder.novelty_threshold, (a, b)
    for a, b in DIFFERENT:
        assert _distance(embedder, a, b) > embedder.novelty_threshold, (a, b)


def test_case_and_word_order_barely_move_a_vector() -> None:
    embedder = LexicalEmbedder()
    text = "Increase the number of trees in the random forest"
    assert _distance(embedder, text, text.upper()) < 1e-6
    assert _distance(embedder, text, "in the random forest, increase the number of trees") < 0.15


def test_vectors_are_unit_length_and_identical_across_processes() -> None:
    embedder = LexicalEmbedder()
    vectors = embedder.embed(["tune C", "", "dropout"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1.0)
    assert not vectors[1].any()
    here = embedder.embed(["stable hashing across processes"])[0]
    code = ("import json; from services.memory.embedders import LexicalEmbedder;"
            "print(json.dumps(LexicalEmbedder().embed(['stable hashing across processes'])[0].tolist()))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           timeout=60).stdout
    assert np.allclose(here, np.array(json.loads(there), dtype=np.float32))


def test_offline_the_default_choice_is_the_lexical_embedder_and_it_is_fast() -> None:
    import time

    chroma_default.cache_clear()
    started = time.monotonic()
    chosen = EmbedderSource().for_new_collection()
    elapsed = time.monotonic() - started
    # On this offline machine Chroma's model cannot load; the probe must not hang.
    if chroma_default() is None:
        assert chosen.name == LEXICAL_NAME
    assert elapsed < 5.0


@pytest.mark.parametrize("max_chars", [80, 400])
def test_chunks_respect_the_size_and_keep_line_numbers(max_chars: int) -> None:
    text = "# Title\n\nfirst paragraph.\n\n" + "A long sentence here. " * 50 + "\n\nlast words\n"
    chunks = chunk_text(text, max_chars=max_chars)
    assert all(len(chunk) <= max_chars for _, chunk in chunks)
    assert chunks[0][0] == 1 and "Title" in chunks[0][1]
    assert "last words" in chunks[-1][1]
    joined = " ".join(chunk for _, chunk in chunks)
    assert joined.count("A long sentence here.") == 50


def test_a_new_collection_reuses_the_embedder_its_siblings_recorded(tmp_path: Path) -> None:
    from services.memory import ChromaMemory, chroma_client

    client = chroma_client(url=None, path=tmp_path / "chroma")
    with ChromaMemory(client, LexicalEmbedder(dimension=256)) as pinned:
        pinned.add("ideas", "idea:a", "tune the learning rate", {"task": "t"})
    with ChromaMemory(chroma_client(url=None, path=tmp_path / "chroma"), EmbedderSource()) as auto:
        auto.add("findings", "finding:a", "learning rate 0.1 helped", {"task": "t"})
        assert (auto.embedder("findings").name, auto.embedder("findings").dimension) == (LEXICAL_NAME, 256)
        assert auto.search("learning rate", k=2)[0].id in {"idea:a", "finding:a"}
