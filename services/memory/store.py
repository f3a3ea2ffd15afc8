"""ChromaMemory: the :class:`~agents.protocols.Memory` protocol on ChromaDB.

One Chroma collection per memory kind (``findings``, ``ideas``, ``feedback``,
``literature``), cosine space, plus small index collections beside ``ideas`` that keep the
novelty check fast (:mod:`services.memory.task_index`). Vectors are computed here by the collection's embedder (see
:mod:`services.memory.embedders`), never by Chroma, and every collection records the
embedder's name and dimension in its metadata so vectors of two kinds are never mixed.
Chroma errors are translated into :class:`~sandbox.errors.MemoryStoreError` where they enter.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast, get_args

from agents.errors import InvalidInput
from agents.protocols import MemoryKind, MemoryRecord
from services.errors import EmbedderMismatch, MemoryStoreError
from services.memory.embedders import Embedder, EmbedderSource
from services.memory.filters import clean_metadata, where_clause
from services.memory.task_index import IdeaIndex

KINDS: tuple[MemoryKind, ...] = get_args(MemoryKind)


@dataclass
class _Collection:
    handle: Any
    embedder: Embedder


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn any Chroma failure into a MemoryStoreError that says what failed."""
    try:
        yield
    except (MemoryStoreError, InvalidInput):
        raise
    except Exception as exc:
        raise MemoryStoreError(
            f"the findings memory (Chroma) failed to {action}: {exc}; check LABLOOP_CHROMA_URL "
            "or the memory folder under LABLOOP_HOME"
        ) from exc


class ChromaMemory:
    """The long-term research memory in one Chroma database (embedded or a server).

    Build it with :func:`services.memory.open_memory`; it is a context manager. Collections
    are opened lazily, and each is checked against its recorded embedder on first use.
    """

    def __init__(
        self,
        client: Any,
        embedders: EmbedderSource | Embedder,
        *,
        namespace: str = "labloop",
        description: str = "",
    ) -> None:
        # Collections are named NAMESPACE_KIND, so several deployments (or test runs) can
        # share one Chroma server without seeing each other's records.
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,60}", namespace):
            raise InvalidInput(f"memory namespace {namespace!r} must be letters, digits, '.', '_' or '-'")
        self.namespace = namespace
        self._client = client
        self._source = embedders if isinstance(embedders, EmbedderSource) else EmbedderSource(pinned=embedders)
        self._collections: dict[MemoryKind, _Collection] = {}
        self._query_cache: dict[tuple[str, int, str], Any] = {}
        self._lock = threading.RLock()  # one memory may serve several job threads
        self._index: IdeaIndex | None = None
        self.description = description

    def __enter__(self) -> ChromaMemory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget open collections; an embedded client releases its files with the process."""
        self._collections.clear()

    # -- collections --------------------------------------------------------------------

    def collection(self, kind: MemoryKind) -> _Collection:
        """Open (or create) the collection of ``kind`` with its embedder, checking the record."""
        if kind not in KINDS:
            raise InvalidInput(f"unknown memory kind {kind!r}; use one of {', '.join(KINDS)}")
        with self._lock:
            if kind in self._collections:
                return self._collections[kind]
            opened = self._open(kind)
            self._collections[kind] = opened
            return opened

    def _open(self, kind: MemoryKind) -> _Collection:
        name = f"{self.namespace}_{kind}"
        with _translated(f"open collection {name}"):
            existing = {c if isinstance(c, str) else c.name for c in self._client.list_collections()}
            if name in existing:
                handle = self._client.get_collection(name, embedding_function=None)
                meta = handle.metadata or {}
                recorded, dim = meta.get("embedder"), meta.get("dimension")
                if not isinstance(recorded, str) or not isinstance(dim, int):
                    raise EmbedderMismatch(
                        f"collection '{name}' has no recorded embedder; it was not made by labloop. "
                        "Point the memory at a fresh location (LABLOOP_HOME or LABLOOP_CHROMA_URL)"
                    )
                embedder = self._source.for_collection(name, recorded, dim)
            else:
                embedder = self._source.for_new_collection(self._sibling_embedders(existing))
                handle = self._client.get_or_create_collection(
                    name,
                    metadata={"embedder": embedder.name, "dimension": embedder.dimension, "kind": kind},
                    configuration={"hnsw": {"space": "cosine", "ef_search": 64}},
                    embedding_function=None,
                )
        return _Collection(handle, embedder)

    def _sibling_embedders(self, existing: set[str]) -> list[tuple[str, int]]:
        """(embedder, dimension) recorded by this namespace's other collections."""
        found = []
        for other in KINDS:
            name = f"{self.namespace}_{other}"
            if name in existing:
                meta = self._client.get_collection(name, embedding_function=None).metadata or {}
                if isinstance(meta.get("embedder"), str) and isinstance(meta.get("dimension"), int):
                    found.append((meta["embedder"], meta["dimension"]))
        return found

    def embedder(self, kind: MemoryKind) -> Embedder:
        """The embedder recorded for ``kind``'s collection."""
        return self.collection(kind).embedder

    @property
    def novelty_threshold(self) -> float:
        """The cosine distance under which two ideas are the same, for the ideas' embedder."""
        return self.embedder("ideas").novelty_threshold

    # -- the Memory protocol ------------------------------------------------------------

    def add(self, kind: MemoryKind, record_id: str, text: str, metadata: Mapping[str, Any]) -> None:
        """Store (or overwrite, by id) one record."""
        self.add_many(kind, [(record_id, text, metadata)])

    def add_many(self, kind: MemoryKind, records: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Store (or overwrite) many records, embedding and writing them in batches."""
        if not records:
            return
        col = self.collection(kind)
        with _translated(f"write to {kind}"):
            batch = min(1000, int(self._client.get_max_batch_size()))
            for start in range(0, len(records), batch):
                chunk = records[start : start + batch]
                texts = [text for _, text, _ in chunk]
                vectors = col.embedder.embed(texts)
                ids = [rid for rid, _, _ in chunk]
                metadatas = [clean_metadata({**meta, "kind": kind}) for _, _, meta in chunk]
                col.handle.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)
                if kind == "ideas":
                    self._idea_index().write(ids, vectors, texts, metadatas)

    def nearest(
        self, kind: MemoryKind, text: str, *, k: int = 5, where: Mapping[str, Any] | None = None
    ) -> Sequence[MemoryRecord]:
        """The ``k`` records of ``kind`` closest to ``text`` (cosine distance), filtered by ``where``.

        ``ideas`` filtered by one task, or by ``fate="rejected"``, are answered from a small
        index collection (see :mod:`services.memory.task_index`): no metadata scan of all ideas.
        """
        col = self.collection(kind)
        vector = self._query_vector(col.embedder, text)
        clause = where_clause(where)
        if kind == "ideas":
            with _translated("open the idea indexes"):
                routed, handle, rest = self._idea_index().route(clause)
            if routed:
                return self._query(_Collection(handle, col.embedder), kind, vector, k, rest)
        return self._query(col, kind, vector, k, clause)

    def _query(
        self, col: _Collection, kind: MemoryKind, vector: Any, n: int, clause: dict[str, Any] | None
    ) -> list[MemoryRecord]:
        with _translated(f"query {kind}"):
            reply = col.handle.query(
                query_embeddings=vector, n_results=n, where=clause,
                include=["documents", "metadatas", "distances"],
            )
        ids = reply["ids"][0]
        docs = (reply.get("documents") or [[]])[0]
        metas = (reply.get("metadatas") or [[]])[0]
        dists = (reply.get("distances") or [[]])[0]
        return [
            MemoryRecord(id=rid, kind=kind, text=doc or "", metadata=dict(meta or {}), distance=float(dist))
            for rid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def _query_vector(self, embedder: Embedder, text: str) -> Any:
        # ideate asks about the same text in several collections; an endpoint embedder
        # would pay one HTTP call per collection without this small cache.
        key = (embedder.name, embedder.dimension, text)
        with self._lock:
            vector = self._query_cache.pop(key, None)
        if vector is None:
            vector = embedder.embed([text])
        with self._lock:
            self._query_cache[key] = vector
            while len(self._query_cache) > 64:
                self._query_cache.pop(next(iter(self._query_cache)))
        return vector

    def records(
        self, kind: MemoryKind, *, where: Mapping[str, Any] | None = None, limit: int = 100
    ) -> Sequence[MemoryRecord]:
        """Records of ``kind`` matching ``where`` (no ranking), at most ``limit``."""
        col = self.collection(kind)
        with _translated(f"read {kind}"):
            reply = col.handle.get(where=where_clause(where), limit=limit, include=["documents", "metadatas"])
        docs = reply.get("documents") or [""] * len(reply["ids"])
        metas = reply.get("metadatas") or [{}] * len(reply["ids"])
        return [
            MemoryRecord(id=rid, kind=kind, text=doc or "", metadata=dict(meta or {}))
            for rid, doc, meta in zip(reply["ids"], docs, metas, strict=True)
        ]

    def search(
        self,
        query: str,
        *,
        kinds: Sequence[MemoryKind] = ("findings", "ideas", "feedback", "literature"),
        where: Mapping[str, Any] | None = None,
        k: int = 10,
    ) -> Sequence[MemoryRecord]:
        """The ``k`` records closest to ``query`` over several kinds, best first.

        ``where`` applies to every kind; a kind whose records lack a filtered key simply
        contributes nothing (literature has no ``task``).
        """
        hits: list[MemoryRecord] = []
        for kind in kinds:
            if self.count(kind):
                hits.extend(self.nearest(kind, query, k=k, where=where))
        return sorted(hits, key=lambda r: cast(float, r.distance))[:k]

    def count(self, kind: MemoryKind) -> int:
        """How many records ``kind`` holds."""
        with _translated(f"count {kind}"):
            return int(self.collection(kind).handle.count())

    def delete(self, kind: MemoryKind, *, where: Mapping[str, Any]) -> None:
        """Delete the records of ``kind`` matching ``where`` (e.g. one literature source)."""
        clause = where_clause(where)
        if clause is None:
            raise InvalidInput("delete needs a non-empty where filter")
        with _translated(f"delete from {kind}"):
            self.collection(kind).handle.delete(where=clause)
            if kind == "ideas":
                self._idea_index().delete(clause)

    def _idea_index(self) -> IdeaIndex:
        with self._lock:
            if self._index is None:
                self._index = IdeaIndex(self._client, self.namespace, self.embedder("ideas"))
            return self._index
