"""Embedders for the findings memory, and the rule that picks one per collection.

Three kinds, in order of preference when nothing is recorded yet:

1. the configured OpenAI-compatible embeddings endpoint (``LABLOOP_EMBEDDING_MODEL``);
2. Chroma's default model (all-MiniLM-L6-v2 on ONNX) — only when it loads: it downloads on
   first use, so offline it is skipped after a short connection probe instead of hanging;
3. :class:`LexicalEmbedder`, which needs no download. It is *lexical*, not semantic: it sees
   shared words and word pieces, not synonyms, and its name says so.

A collection records the embedder's name and dimension in its metadata the first time it is
made; :class:`EmbedderSource` builds that same embedder again on every later open, or raises
:class:`~sandbox.errors.EmbedderMismatch` when that is impossible or another one is pinned.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt

from services.errors import EmbedderMismatch, MemoryStoreError

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

LEXICAL_NAME = "lexical-hash-v1"
CHROMA_DEFAULT_NAME = "chroma-default:all-MiniLM-L6-v2"
OPENAI_PREFIX = "openai:"


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of one fixed dimension."""

    @property
    def name(self) -> str:
        """A stable name recorded in each collection's metadata."""
        ...

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        ...

    @property
    def novelty_threshold(self) -> float:
        """Cosine distance below which two ideas count as the same idea for this embedder."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, float32, unit length (an empty text gives a zero row)."""
        ...


def _normalise_rows(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


# Words that carry no idea of their own; dropping them keeps "the learning rate" and
# "learning rate" together.
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
    "its", "of", "on", "or", "so", "than", "that", "the", "this", "to", "use", "using", "was",
    "we", "were", "will", "with",
})
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def _stem(word: str) -> str:
    """A crude, deterministic stemmer: -ise → -ize, then one common suffix off."""
    if len(word) <= 3 or not word.isalpha():
        return word
    word = re.sub(r"is(e|ed|es|er|ers|ing|ation|ations)$", r"iz\1", word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


_SUFFIXES = ("ations", "ation", "ements", "ement", "ings", "ing", "edly", "ed", "ers", "er", "est",
             "ly", "es", "s")


class LexicalEmbedder:
    """A download-free, *lexical* embedder: feature-hashed word stems, word pairs and trigrams.

    Each text is NFKC-normalised and lower-cased; its words lose stop words and are crudely
    stemmed ("regularisation" and "regularization" both become "regulariz"). Features are
    the stems, unordered pairs of neighbouring stems (so swapping two words barely moves the
    vector) and character trigrams of each stem (shared word pieces). Counts are dampened
    (1 + log tf), hashed with CRC-32 (stable across processes, unlike ``hash``) into
    ``dimension`` signed buckets, and the vector is L2-normalised. Reworded, reordered or
    re-cased text that keeps its key words stays close; synonyms with no shared letters
    ("CNN" for "convolutional network") do not — that needs a semantic model.
    """

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 16:
            raise ValueError("the lexical embedder needs at least 16 dimensions")
        self._dimension = dimension

    @property
    def name(self) -> str:
        """``lexical-hash-v1``: the dimension is recorded beside it."""
        return LEXICAL_NAME

    @property
    def dimension(self) -> int:
        """Number of hash buckets."""
        return self._dimension

    @property
    def novelty_threshold(self) -> float:
        """Calibrated on paraphrased vs. different ideas: paraphrases that keep their key
        words fall below it, distinct ideas of the same domain stay above (tests/memory)."""
        return 0.4

    @staticmethod
    def features(text: str) -> Counter[str]:
        """The weighted features of ``text`` (exposed for tests and debugging)."""
        clean = unicodedata.normalize("NFKC", text).lower()
        words = [_stem(w) for w in _TOKEN.findall(clean) if w not in _STOPWORDS]
        feats: Counter[str] = Counter()
        for word in words:
            feats["w:" + word] += 2
            padded = f"<{word}>"
            for i in range(len(padded) - 2):
                feats["c:" + padded[i : i + 3]] += 1
        for left, right in zip(words, words[1:], strict=False):
            a, b = sorted((left, right))
            feats[f"b:{a} {b}"] += 1
        return feats

    def _vector(self, text: str) -> Vectors:
        vec = np.zeros(self._dimension, dtype=np.float32)
        for feat, count in self.features(text).items():
            weight = 1.0 + math.log(count)
            if feat.startswith("b:"):
                weight *= 0.5
            h = zlib.crc32(feat.encode("utf-8"))
            vec[h % self._dimension] += weight if (h >> 31) & 1 else -weight
        return vec

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``, one row each."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return _normalise_rows(np.stack([self._vector(t) for t in texts]))


class OpenAIEmbedder:
    """The configured OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama...)."""

    def __init__(
        self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 30.0
    ) -> None:
        import openai

        self._model = model
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=2
        )
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        """``openai:MODEL``."""
        return OPENAI_PREFIX + self._model

    @property
    def dimension(self) -> int:
        """Learnt from the endpoint on first use."""
        if self._dimension is None:
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    @property
    def novelty_threshold(self) -> float:
        """Semantic models put paraphrases well inside this cosine distance."""
        return 0.2

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors from the endpoint, in batches of 256."""
        import openai

        rows: list[list[float]] = []
        try:
            for start in range(0, len(texts), 256):
                batch = [t or " " for t in texts[start : start + 256]]
                reply = self._client.embeddings.create(model=self._model, input=batch)
                rows.extend(item.embedding for item in sorted(reply.data, key=lambda d: d.index))
        except openai.OpenAIError as exc:
            raise MemoryStoreError(
                f"the embeddings endpoint failed for model {self._model!r}: {exc}; check "
                "LABLOOP_LLM_BASE_URL / LABLOOP_LLM_API_KEY / LABLOOP_EMBEDDING_MODEL"
            ) from exc
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(texts):
            raise MemoryStoreError(f"the embeddings endpoint returned {matrix.shape} for {len(texts)} texts")
        self._dimension = int(matrix.shape[1])
        return _normalise_rows(matrix)


class ChromaDefaultEmbedder:
    """Chroma's own default model (all-MiniLM-L6-v2, ONNX) — use :func:`chroma_default` to get one."""

    def __init__(self, function: Any) -> None:
        self._function = function

    @property
    def name(self) -> str:
        """``chroma-default:all-MiniLM-L6-v2``."""
        return CHROMA_DEFAULT_NAME

    @property
    def dimension(self) -> int:
        """MiniLM-L6 has 384 dimensions."""
        return 384

    @property
    def novelty_threshold(self) -> float:
        """Paraphrases under MiniLM sit well inside this cosine distance."""
        return 0.25

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors from the ONNX model."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return _normalise_rows(np.asarray(self._function(list(texts)), dtype=np.float32))


def _reachable(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TCP connection opens within ``timeout_s`` — name lookup included, which
    ``create_connection``'s own timeout does not bound (a silent resolver can hang it)."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(True)
        except OSError:
            outcome.append(False)

    worker = threading.Thread(target=attempt, name="labloop-model-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(outcome and outcome[0])


@lru_cache(maxsize=1)
def chroma_default(probe_timeout_s: float = 1.5) -> ChromaDefaultEmbedder | None:
    """Chroma's default model when it loads, else None — never hangs offline.

    The model is used straight away when its files are already on disk; otherwise a TCP
    connection to its download host is tried for ``probe_timeout_s`` seconds and, only if
    that answers, Chroma downloads it. The answer is cached for the process.
    """
    try:
        from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2
    except ImportError:
        return None
    model_file = ONNXMiniLM_L6_V2.DOWNLOAD_PATH / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME / "model.onnx"
    if not model_file.is_file():
        host = urlparse(ONNXMiniLM_L6_V2.MODEL_DOWNLOAD_URL).hostname or ""
        if not _reachable(host, 443, probe_timeout_s):
            log.info("Chroma's default embedding model is not on disk and cannot be downloaded")
            return None
    try:
        embedder = ChromaDefaultEmbedder(ONNXMiniLM_L6_V2())
        embedder.embed(["probe"])
    except Exception as exc:  # any failure to load means "not available", never a crash
        log.info("Chroma's default embedding model did not load: %s", exc)
        return None
    return embedder


class EmbedderSource:
    """Builds the embedder for each collection: the recorded one, or the best available.

    ``pinned`` (an explicit embedder, or the configured endpoint) is the only one allowed;
    otherwise a collection's recorded embedder is rebuilt, and a new collection gets the
    endpoint, then Chroma's default model when it loads, then the lexical embedder.
    """

    def __init__(
        self,
        *,
        pinned: Embedder | None = None,
        endpoint_model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        try_chroma_default: bool = True,
    ) -> None:
        if pinned is None and endpoint_model:
            pinned = OpenAIEmbedder(endpoint_model, base_url=base_url, api_key=api_key)
        self.pinned = pinned
        self._try_chroma_default = try_chroma_default

    def for_new_collection(self, siblings: Sequence[tuple[str, int]] = ()) -> Embedder:
        """The embedder a collection made now should use.

        ``siblings`` are the (name, dimension) pairs recorded by the memory's other
        collections: the first of them that can be built again is preferred, so one memory
        keeps one kind of vector (search across collections compares their distances).
        """
        if self.pinned is not None:
            return self.pinned
        for recorded, dimension in siblings:
            try:
                return self.for_collection("(sibling)", recorded, dimension)
            except EmbedderMismatch:
                continue
        if self._try_chroma_default and (model := chroma_default()) is not None:
            return model
        return LexicalEmbedder()

    def for_collection(self, collection: str, recorded: str, dimension: int) -> Embedder:
        """The embedder for an existing collection made with ``recorded``/``dimension``."""
        if self.pinned is not None:
            ours = self.pinned
            # Compare names first: an endpoint's dimension costs a call to learn.
            if ours.name != recorded or ours.dimension != dimension:
                raise EmbedderMismatch(_mismatch(collection, recorded, dimension, ours))
            return ours
        if recorded == LEXICAL_NAME:
            return LexicalEmbedder(dimension)
        if recorded == CHROMA_DEFAULT_NAME and (model := chroma_default()) is not None:
            return model
        hint = (
            f"set LABLOOP_EMBEDDING_MODEL={recorded.removeprefix(OPENAI_PREFIX)} with its endpoint"
            if recorded.startswith(OPENAI_PREFIX)
            else "put Chroma's default model back in its cache (or go online once)"
        )
        raise EmbedderMismatch(
            f"collection '{collection}' was made with embedder {recorded} ({dimension} dims), "
            f"which is not available here: {hint}, or move the memory folder aside to start a "
            "fresh memory"
        )


def _mismatch(collection: str, recorded: str, dim: int, configured: Embedder) -> str:
    ours = configured.name
    if ours == recorded:  # same family, other size
        ours = f"{ours} ({configured.dimension} dims)"
    return (
        f"collection '{collection}' was made with embedder {recorded} ({dim} dims) but "
        f"{ours} is configured; vectors of two embedders cannot be "
        f"compared. Configure {recorded} again (LABLOOP_EMBEDDING_MODEL), or point the memory "
        "at a fresh location (LABLOOP_HOME or LABLOOP_CHROMA_URL) to start over with the new one"
    )
