"""The paper's references: the job's own literature, and an optional literature search.

The job's literature is the free-form strings its ideas cited (``smith2020.pdf p. 3``). When a
Semantic Scholar-compatible API is configured, :func:`search` adds papers found for the task's
goal. The search is a courtesy, never a dependency: it does not raise, it is bounded in time
and in bytes, and whatever goes wrong comes back as :attr:`LiteratureSearch.error`, a sentence
the paper can print. What it returns is hostile input (a title may hold Markdown, HTML or
control characters), so text is cleaned on the way in and escaped on the way out.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

TITLE_CHARS = 300
AUTHORS = 20
AUTHOR_CHARS = 100
VENUE_CHARS = 200
URL_CHARS = 500
MAX_REPLY_BYTES = 2 * 1024 * 1024
"""A page of five results is a few kilobytes; anything near this is not a search reply."""
MAX_RETRY_AFTER_S = 30.0
SEARCH_PATH = "/graph/v1/paper/search"
FIELDS = "title,authors,year,venue,url"
NO_LITERATURE = "No literature was cited."


class Citation(BaseModel):
    """One entry of the references; ``key`` is unique within a list (``vaswani2017``, ``mem1``)."""

    key: str
    title: str
    authors: list[str] = []
    year: int | None = None
    venue: str = ""
    url: str = ""
    source: Literal["memory", "search"]


@dataclass(frozen=True)
class LiteratureSearch:
    """What a search found, or why it found nothing (``error``, a sentence for the paper)."""

    citations: list[Citation] = field(default_factory=list)
    error: str | None = None


def clean(text: str, limit: int) -> str:
    """``text`` on one line without control or format characters, at most ``limit`` characters."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[: limit - 1].rstrip() + "…"


def key_stem(authors: Sequence[str], year: int | None) -> str:
    """The first author's last name and the year, lowercase ASCII (``vaswani2017``)."""
    last = authors[0].split()[-1] if authors and authors[0].split() else ""
    ascii_name = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z]", "", ascii_name) or "anon"
    return f"{name}{year}" if year is not None else name


def _suffix(n: int) -> str:
    """a, b, …, z, aa, ab, …: the n-th (1-based) disambiguating suffix."""
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def unique_key(stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem`` with the first suffix (a, b, …) not in ``taken``; adds it to ``taken``."""
    key, n = stem, 0
    while key in taken:
        n += 1
        key = stem + _suffix(n)
    taken.add(key)
    return key


def from_memory(citations: Iterable[str]) -> list[Citation]:
    """One citation per distinct string of the job's literature, keyed ``mem1``, ``mem2``… in sorted order."""
    distinct = sorted({c for c in (clean(s, TITLE_CHARS) for s in citations) if c})
    return [Citation(key=f"mem{i}", title=t, source="memory") for i, t in enumerate(distinct, 1)]


def references(memory: Iterable[str], found: Sequence[Citation]) -> list[Citation]:
    """The job's literature first, then the papers found (a title already listed is left out), keys unique."""
    merged = from_memory(memory)
    taken = {c.key for c in merged}
    titles = {c.title.casefold() for c in merged}
    for c in found:
        if c.title.casefold() in titles:
            continue
        titles.add(c.title.casefold())
        merged.append(c.model_copy(update={"key": unique_key(key_stem(c.authors, c.year), taken)}))
    return merged


_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]()<>*_`!&~|#])")


def escape(text: str) -> str:
    """``text`` as literal Markdown: no link, image, emphasis, code or HTML can start in it."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", clean(text, len(text) + 1))


def safe_url(url: str) -> str | None:
    """``url`` if it is an http(s) address that can sit in a ``<…>`` autolink unchanged, else None."""
    if not url or len(url) > URL_CHARS or any(c in url for c in " <>\\\"") or not url.isprintable():
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def markdown(citations: Sequence[Citation]) -> str:
    """The references as a numbered Markdown list, every piece of text escaped."""
    if not citations:
        return NO_LITERATURE
    return "\n".join(f"{i}. {_entry(c)}" for i, c in enumerate(citations, 1))


def _entry(c: Citation) -> str:
    title = escape(c.title) if c.source == "memory" else f"*{escape(c.title)}*"
    parts = [", ".join(escape(a) for a in c.authors if a.strip()), title,
             ", ".join(p for p in (escape(c.venue), str(c.year) if c.year is not None else "") if p)]
    text = " ".join(f"{p}." for p in parts if p)
    url = safe_url(c.url)
    return f"{text} <{url}>" if url else text


def _year(value: Any) -> int | None:
    """A plausible publication year, or None (a bool, a string or 10**30 is not a year)."""
    return value if type(value) is int and 1000 <= value <= 9999 else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _Author(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, BeforeValidator(_text)] = ""


class _Paper(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: Annotated[str, BeforeValidator(_text)] = ""
    authors: list[_Author] = []
    year: Annotated[int | None, BeforeValidator(_year)] = None
    venue: Annotated[str, BeforeValidator(_text)] = ""
    url: Annotated[str, BeforeValidator(_text)] = ""


class _Reply(BaseModel):
    """The Academic Graph API's search reply; ``data`` is absent when nothing matched."""

    model_config = ConfigDict(extra="ignore")
    data: list[_Paper] = []


FALLBACK = "the paper cites the job's own literature only"


class _Failed(Exception):
    """Why the search gave nothing, as the end of "literature search at ADDRESS …"."""


def search(base_url: str, query: str, *, limit: int = 5, timeout_s: float = 5.0, attempts: int = 3,
           backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep,
           client: httpx.Client | None = None, api_key: str | None = None) -> LiteratureSearch:
    """Papers a Semantic Scholar-compatible API at ``base_url`` finds for ``query``; never raises.

    A request waits at most ``timeout_s`` to connect and for each read, and a reply still
    arriving ``timeout_s`` after the request began is abandoned (so one request takes at most
    about twice ``timeout_s``); the reply is read up to :data:`MAX_REPLY_BYTES`. HTTP 429 and 5xx are tried again, up to ``attempts`` in
    all, after ``backoff_s * 2**i`` seconds or the ``Retry-After`` asked for if longer (never
    more than 30 s). Redirects are not followed, the environment is not read (no proxy, no
    credentials) and only ``api_key`` is sent, as ``x-api-key``. A timeout or a refused
    connection is not retried: the paper should not wait on a service that is not there.
    """
    where = _origin(base_url)
    if where is None:
        # the address itself is not repeated: it may carry a password
        return LiteratureSearch(error=f"the literature search address is not an http(s) URL; {FALLBACK}")
    url = base_url.strip().rstrip("/") + SEARCH_PATH
    params = {"query": clean(query, 1000), "limit": str(max(1, min(limit, 100))), "fields": FIELDS}
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    if api_key:
        headers["x-api-key"] = api_key
    owned = client is None  # a client the caller passed in is the caller's to close
    http = client or httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False)
    try:
        reply = _retrying(lambda: _get(http, url, params, headers, timeout_s),
                          attempts=max(1, attempts), backoff_s=backoff_s, sleep=sleep)
        return LiteratureSearch(citations=_citations(reply, max(1, limit)))
    except _Failed as exc:
        return LiteratureSearch(error=f"literature search at {where} {exc}; {FALLBACK}")
    except Exception as exc:  # the search is optional: no failure of it may cost the paper
        return LiteratureSearch(error=f"literature search at {where} failed ({type(exc).__name__}); {FALLBACK}")
    finally:
        if owned:
            http.close()


def _origin(base_url: str) -> str | None:
    """``scheme://host:port`` of ``base_url`` (no credentials, path or query), or None if not http(s)."""
    try:
        parts = urlsplit(base_url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return clean(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", 200)


def _retrying(get: Callable[[], tuple[int, bytes | bytearray, str | None]], *, attempts: int,
              backoff_s: float, sleep: Callable[[float], None]) -> _Reply:
    statuses: list[int] = []
    for i in range(attempts):
        status, body, retry_after = get()
        if status == 200:
            return _parse(body)
        statuses.append(status)
        if 300 <= status < 400:
            raise _Failed(f"answered with a redirect (HTTP {status}), which is not followed")
        if status != 429 and status < 500:
            raise _Failed(f"gave HTTP {status}")
        if i + 1 < attempts:
            sleep(_delay(i, backoff_s, retry_after))
    if len(set(statuses)) == 1:
        raise _Failed(f"gave HTTP {statuses[0]} {_times(attempts)}")
    raise _Failed(f"gave HTTP {', '.join(map(str, statuses[:-1]))} and {statuses[-1]}")


def _times(n: int) -> str:
    return {1: "once", 2: "twice", 3: "three times"}.get(n, f"{n} times")


def _delay(i: int, backoff_s: float, retry_after: str | None) -> float:
    """The wait before try ``i + 2``: the backoff, or the server's numeric Retry-After if longer; at most 30 s."""
    try:
        asked = float(retry_after) if retry_after else 0.0
    except ValueError:  # an HTTP date: not honoured, the backoff stands
        asked = 0.0
    delay = max(backoff_s * 2.0**i, asked if math.isfinite(asked) else 0.0, 0.0)
    return min(delay, MAX_RETRY_AFTER_S)


def _get(http: httpx.Client, url: str, params: dict[str, str], headers: dict[str, str],
         timeout_s: float) -> tuple[int, bytes | bytearray, str | None]:
    """One request: the status, the body (when 200, read up to the cap) and any Retry-After."""
    deadline = time.monotonic() + timeout_s
    try:
        with http.stream("GET", url, params=params, headers=headers, timeout=timeout_s,
                         follow_redirects=False) as response:
            if response.status_code != 200:
                return response.status_code, b"", response.headers.get("Retry-After")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):  # a compressed body could expand past any cap
                raise _Failed(f"sent a {clean(encoding, 40)}-encoded reply, which is not read")
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
                raise _Failed(f"sent a reply of {int(declared)} bytes (more than {MAX_REPLY_BYTES} are not read)")
            body = bytearray()
            for chunk in response.iter_raw():  # as it arrives: a chunk_size would wait to fill it
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise _Failed(f"sent a reply of more than {MAX_REPLY_BYTES} bytes, which is not read")
                if time.monotonic() > deadline:
                    raise _Failed(f"timed out: the reply took more than {timeout_s:g} s")
            return 200, body, None
    except httpx.TimeoutException as exc:
        raise _Failed(f"timed out after {timeout_s:g} s ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise _Failed(f"could not be reached ({type(exc).__name__})") from exc


def _parse(body: bytes | bytearray) -> _Reply:
    try:
        return _Reply.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise _Failed("sent a reply that is not JSON") from exc
        raise _Failed(f"sent a reply not shaped like a paper search ({exc.error_count()} problems)") from exc


def _citations(reply: _Reply, limit: int) -> list[Citation]:
    """The first ``limit`` papers with a title, cleaned and capped, keyed uniquely."""
    found: list[Citation] = []
    taken: set[str] = set()
    for paper in reply.data:
        title = clean(paper.title, TITLE_CHARS)
        if not title:
            continue
        authors = [a for a in (clean(x.name, AUTHOR_CHARS) for x in paper.authors) if a][:AUTHORS]
        url = paper.url.strip()
        found.append(Citation(key=unique_key(key_stem(authors, paper.year), taken), title=title,
                              authors=authors, year=paper.year, venue=clean(paper.venue, VENUE_CHARS),
                              url=url if safe_url(url) else "", source="search"))
        if len(found) == limit:
            break
    return found
