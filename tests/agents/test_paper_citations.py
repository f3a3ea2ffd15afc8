"""The paper's references: keys, the job's literature, the literature search against a real local
fake of the Academic Graph API (retries, timeouts, hostile and huge replies, redirects), and the
Markdown they are rendered to."""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from markdown_it import MarkdownIt

from agents.paper.citations import (
    MAX_REPLY_BYTES,
    Citation,
    from_memory,
    key_stem,
    markdown,
    references,
    search,
    unique_key,
)
from tests.utils.fake_literature import Drip, FakeLiterature, Hang, Huge, Reply, paper

ATTENTION = paper("Attention Is All You Need", "Ashish Vaswani", "Noam Shazeer", year=2017,
                  venue="NeurIPS", url="https://example.org/attention")


@pytest.fixture
def lit() -> Iterator[FakeLiterature]:
    with FakeLiterature() as server:
        yield server


def found(title: str, *authors: str, year: int | None = 2020) -> Citation:
    return Citation(key="x", title=title, authors=list(authors), year=year, source="search")


# Keys and the job's own literature


def test_keys_are_last_name_and_year_deduplicated_with_letters() -> None:
    taken: set[str] = set()
    keys = [unique_key(key_stem(["Jane Smith"], 2020), taken) for _ in range(3)]
    assert keys == ["smith2020", "smith2020a", "smith2020b"]
    assert key_stem(["José Müller-Lüdenscheidt"], 1999) == "mullerludenscheidt1999"
    assert key_stem([], None) == "anon"
    assert key_stem(["李"], 2021) == "anon2021"
    many: set[str] = set()
    assert [unique_key("k", many) for _ in range(29)][-2:] == ["kaa", "kab"]


def test_from_memory_is_one_citation_per_distinct_string_in_sorted_order() -> None:
    cited = from_memory(["smith2020.pdf p. 3", "", "  ", "notes.md line 4", "smith2020.pdf p. 3"])
    assert [(c.key, c.title, c.source) for c in cited] == [
        ("mem1", "notes.md line 4", "memory"), ("mem2", "smith2020.pdf p. 3", "memory")]
    assert from_memory([]) == []


def test_references_put_memory_first_and_keep_keys_unique() -> None:
    papers = [found("One", "Jane Smith"), found("Two", "John Smith"), found("one", "Jane Smith"),
              found("Three", "Mem", year=1)]
    merged = references(["b.pdf p. 1", "a.pdf p. 2"], papers)
    assert [c.key for c in merged] == ["mem1", "mem2", "smith2020", "smith2020a", "mem1a"]
    assert [c.title for c in merged] == ["a.pdf p. 2", "b.pdf p. 1", "One", "Two", "Three"]
    assert papers[0].key == "x"  # the caller's citations are not changed


# Markdown


def test_markdown_renders_a_numbered_list_with_autolinks() -> None:
    ok = Citation(key="vaswani2017", title="Attention Is All You Need", authors=["Ashish Vaswani", "Noam Shazeer"],
                  year=2017, venue="NeurIPS", url="https://example.org/attention", source="search")
    mem = Citation(key="mem1", title="smith2020.pdf p. 3", authors=[], year=None, source="memory")
    assert markdown([ok, mem]).splitlines() == [
        "1. Ashish Vaswani, Noam Shazeer. *Attention Is All You Need*. NeurIPS, 2017. <https://example.org/attention>",
        "2. smith2020.pdf p. 3."]
    assert markdown([]) == "No literature was cited."


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://a b", "https://x/<script>", "ftp://x/y",
                                 "https://", "data:text/html,hi"])
def test_markdown_leaves_out_urls_that_are_not_plain_http(url: str) -> None:
    c = Citation(key="k", title="T", authors=[], year=None, url=url, source="search")
    assert markdown([c]) == "1. *T*."


# The search against a real local server


def test_search_returns_cleaned_papers_with_keys(lit: FakeLiterature) -> None:
    lit.add(Reply(200, {"total": 5, "data": [
        ATTENTION, paper(None, "No Title"), paper("   ", "Blank"), paper("Second", "Ashish Vaswani", year="2017"),
        paper("Third", year=True), paper("Fourth")]}))
    result = search(lit.base_url + "/", "transformers for translation", limit=3)
    assert result.error is None
    assert [(c.key, c.title, c.year, c.source) for c in result.citations] == [
        ("vaswani2017", "Attention Is All You Need", 2017, "search"),
        ("vaswani", "Second", None, "search"),  # a string is not a year
        ("anon", "Third", None, "search")]
    assert result.citations[0].authors == ["Ashish Vaswani", "Noam Shazeer"]
    assert (result.citations[0].venue, result.citations[0].url) == ("NeurIPS", "https://example.org/attention")
    [request] = lit.requests
    assert request.path == "/graph/v1/paper/search"
    assert request.query == {"query": "transformers for translation", "limit": "3",
                             "fields": "title,authors,year,venue,url"}


def test_search_sends_no_credentials_but_the_api_key_given(lit: FakeLiterature,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLiterature(default=Reply(200, {"data": []})) as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://user:secret@127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        lit.add(Reply(200, {"data": []}), Reply(200, {"data": []}))
        assert search(lit.base_url, "q").error is None
        assert search(lit.base_url, "q", api_key="k-123").error is None
        assert proxy.requests == []  # the environment's proxy (and its password) is not used
    plain, keyed = lit.requests
    assert "x-api-key" not in plain.headers and "authorization" not in plain.headers
    assert keyed.headers["x-api-key"] == "k-123"


def test_search_retries_429_with_growing_backoff(lit: FakeLiterature) -> None:
    lit.add(Reply(429), Reply(429), Reply(200, {"data": [ATTENTION]}))
    slept: list[float] = []
    result = search(lit.base_url, "q", backoff_s=0.5, sleep=slept.append)
    assert result.error is None and [c.key for c in result.citations] == ["vaswani2017"]
    assert len(lit.requests) == 3
    assert slept == [0.5, 1.0]


def test_search_honours_a_numeric_retry_after_up_to_30_s(lit: FakeLiterature) -> None:
    lit.add(Reply(429, headers={"Retry-After": "7"}), Reply(503, headers={"Retry-After": "3600"}),
            Reply(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), Reply(200, {"data": []}))
    slept: list[float] = []
    result = search(lit.base_url, "q", attempts=4, backoff_s=1.0, sleep=slept.append)
    assert result.error is None
    assert slept == [7.0, 30.0, 4.0]


def test_search_gives_up_after_attempts_with_an_error_not_an_exception() -> None:
    slept: list[float] = []
    with FakeLiterature(default=Reply(429)) as lit:
        result = search(lit.base_url, "q", attempts=3, sleep=slept.append)
        assert len(lit.requests) == 3
    assert result.citations == []
    assert result.error == (f"literature search at {lit.base_url} gave HTTP 429 three times; "
                            "the paper cites the job's own literature only")
    assert slept == [1.0, 2.0]


def test_search_does_not_retry_a_client_error(lit: FakeLiterature) -> None:
    lit.add(Reply(400, {"error": "bad query"}), Reply(200, {"data": [ATTENTION]}))
    result = search(lit.base_url, "q", sleep=lambda _s: pytest.fail("a 400 must not be retried"))
    assert result.error is not None and "HTTP 400" in result.error
    assert len(lit.requests) == 1


def test_search_that_hangs_times_out_in_about_timeout_s(lit: FakeLiterature) -> None:
    lit.add(Hang(), Hang(), Hang())
    start = time.monotonic()
    result = search(lit.base_url, "q", timeout_s=0.4, sleep=lambda _s: pytest.fail("a timeout is not retried"))
    assert time.monotonic() - start < 1.5
    assert result.error is not None and "timed out" in result.error
    assert len(lit.requests) == 1


def test_search_bounds_a_reply_that_trickles_in(lit: FakeLiterature) -> None:
    lit.add(Drip(every_s=0.05))  # each read is quick; the whole reply never ends
    start = time.monotonic()
    result = search(lit.base_url, "q", timeout_s=0.4)
    assert time.monotonic() - start < 1.5
    assert result.error is not None and "timed out" in result.error


def test_search_reports_an_unreachable_service() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = search(f"http://user:pw@127.0.0.1:{port}/", "q", timeout_s=1.0)
    assert result.error is not None and "could not be reached" in result.error
    assert "pw" not in result.error and f"http://127.0.0.1:{port}" in result.error


@pytest.mark.parametrize("base_url", ["ftp://127.0.0.1/", "not a url", "", "file:///etc/passwd"])
def test_search_refuses_an_address_that_is_not_http(base_url: str) -> None:
    result = search(base_url, "q")
    assert result.citations == [] and result.error is not None and "not an http(s) URL" in result.error


def test_search_reply_that_is_not_json_is_an_error(lit: FakeLiterature) -> None:
    lit.add(Reply(200, b"<html>rate limited</html>"))
    result = search(lit.base_url, "q")
    assert result.citations == [] and result.error is not None and "not JSON" in result.error


@pytest.mark.parametrize("body", [[ATTENTION], {"data": "papers"}, {"data": [{"title": "T", "authors": "Bob"}]},
                                  {"data": [1, 2]}, "[" * 100_000])
def test_search_reply_of_the_wrong_shape_is_an_error(lit: FakeLiterature, body: object) -> None:
    lit.add(Reply(200, body if not isinstance(body, str) else body.encode()))
    result = search(lit.base_url, "q")
    assert result.citations == [] and result.error is not None
    assert "not shaped like a paper search" in result.error or "not JSON" in result.error


@pytest.mark.parametrize("declared", [True, False])
def test_search_stops_reading_a_huge_reply(lit: FakeLiterature, declared: bool) -> None:
    lit.add(Huge(10 * 1024 * 1024, declared=declared))
    tracemalloc.start()
    try:
        result = search(lit.base_url, "q")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.citations == [] and result.error is not None and "bytes" in result.error
    assert peak < 2 * MAX_REPLY_BYTES  # the 10 MB were never held


def test_search_does_not_follow_a_redirect_to_another_host() -> None:
    with FakeLiterature(default=Reply(200, {"data": [ATTENTION]})) as other:
        location = f"http://localhost:{other.port}/graph/v1/paper/search?query=q"
        with FakeLiterature([Reply(302, headers={"Location": location})]) as lit:
            result = search(lit.base_url, "q")
        assert other.requests == []
    assert result.citations == []
    assert result.error is not None and "redirect (HTTP 302)" in result.error and "not followed" in result.error


def test_hostile_titles_and_authors_are_cleaned_capped_and_rendered_inert(lit: FakeLiterature) -> None:
    lit.add(Reply(200, {"data": [
        paper("![x](http://evil)", "Eve <script>alert(1)</script>", url="javascript:alert(1)"),
        paper("[click](http://evil) <img src=x onerror=alert(1)> *bold* `code` _i_",
              *[f"Author{i} " + "y" * 500 for i in range(50)], url="https://ok.example/p"),
        paper("\x1b[31mred\x00\nline\u202e" + "t" * 1000, "Mallory\r\n# heading"),
    ]}))
    result = search(lit.base_url, "q")
    assert result.error is None and len(result.citations) == 3
    image, links, long = result.citations
    assert image.url == "" and links.url == "https://ok.example/p"
    assert len(links.authors) == 20 and all(len(a) <= 100 for a in links.authors)
    assert len(long.title) <= 300 and long.title.startswith("[31mred line")
    assert not any(ord(ch) < 32 or ch == "\u202e" for c in result.citations for ch in c.title + "".join(c.authors))

    text = markdown(result.citations)
    assert len(text.splitlines()) == 3  # no title or author could start a line of its own
    html = MarkdownIt("commonmark").render(text)
    assert "<img" not in html and "<script" not in html and "<code>" not in html and "<strong>" not in html
    assert html.count("<em>") == 3  # each title's own italics, and nothing a title asked for
    assert html.count("<a ") == 1 and 'href="https://ok.example/p"' in html
    assert "![x](http://evil)" in html  # shown as the literal text it is
