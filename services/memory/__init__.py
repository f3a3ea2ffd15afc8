"""The findings memory on ChromaDB: the store, its embedders and literature ingestion.

:func:`open_memory` is the one way services get a memory: an embedded ``PersistentClient``
under ``settings.home / "chroma"`` by default, an ``HttpClient`` when ``LABLOOP_CHROMA_URL``
is set; telemetry off either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from agents.errors import ConfigError
from services.errors import MemoryStoreError
from services.memory.embedders import Embedder, EmbedderSource, LexicalEmbedder
from services.memory.store import ChromaMemory

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["ChromaMemory", "Embedder", "EmbedderSource", "LexicalEmbedder", "open_memory",
           "chroma_client"]


def chroma_client(*, url: str | None, path: Path | None) -> Any:
    """A Chroma client: ``HttpClient`` for ``url``, else ``PersistentClient`` at ``path``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise ConfigError(f"LABLOOP_CHROMA_URL={url!r} has no host; use e.g. http://127.0.0.1:8001")
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
            return client
        assert path is not None
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except ConfigError:
        raise
    except Exception as exc:
        where = f"the Chroma server at {url}" if url else f"the embedded Chroma at {path}"
        raise MemoryStoreError(
            f"cannot open {where}: {exc}; start the server (chroma run --path DIR --port N) or "
            "unset LABLOOP_CHROMA_URL to use the embedded memory"
        ) from exc


def open_memory(
    settings: Settings, *, embedder: Embedder | None = None, namespace: str = "labloop"
) -> ChromaMemory:
    """The memory the settings describe; ``embedder`` pins one (tests, benchmarks).

    ``namespace`` prefixes the collection names (``labloop_findings``, ...) so separate
    deployments or test runs can share one Chroma server.

    Without a pin: the configured embeddings endpoint (``LABLOOP_EMBEDDING_MODEL``), else
    each collection's recorded embedder, else Chroma's default model when it loads, else the
    offline lexical embedder.
    """
    path = (settings.home / "chroma").resolve()
    client = chroma_client(url=settings.chroma_url, path=None if settings.chroma_url else path)
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    source = EmbedderSource(
        pinned=embedder,
        endpoint_model=settings.embedding_model,
        base_url=settings.llm_base_url,
        api_key=api_key,
    )
    return ChromaMemory(client, source, namespace=namespace, description=settings.chroma_url or str(path))
