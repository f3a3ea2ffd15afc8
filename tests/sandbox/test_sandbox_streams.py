"""stdout/stderr are streamed as they come, capped, and the service's memory stays bounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sandbox.streams import StreamCapture
from tests.sandbox.conftest import RunExperiment


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_capture_forwards_up_to_the_cap_and_keeps_only_a_tail() -> None:
    received: list[tuple[str, str]] = []
    capture = StreamCapture(lambda s, t: received.append((s, t)), cap_bytes=10, tail_bytes=4)

    capture.pump([(b"hello ", None), (None, b"oops\n"), (b"world and more", None)])

    assert received == [
        ("stdout", "hello "),
        ("stderr", "oops\n[labloop: output capped at 10 bytes; only the tail is kept]\n"),
    ]
    assert capture.tail("stdout") == "more" and capture.tail("stderr") == "ops\n"
    assert capture.total_bytes == {"stdout": 20, "stderr": 5}


def test_capture_survives_a_broken_sink() -> None:
    def sink(stream: str, text: str) -> None:
        raise RuntimeError("client went away")

    capture = StreamCapture(sink, cap_bytes=100, tail_bytes=100)
    capture.pump([(b"a", None), (b"b", None)])
    assert capture.tail("stdout") == "ab"


def test_capture_does_not_split_utf8_characters() -> None:
    received: list[str] = []
    capture = StreamCapture(lambda s, t: received.append(t), cap_bytes=100, tail_bytes=100)
    data = "é→ü".encode()
    capture.pump([(data[:1], None), (data[1:4], None), (data[4:], None)])
    assert "".join(received) == "é→ü"


@pytest.mark.docker
def test_output_flood_is_capped_and_memory_stays_bounded(run_experiment: RunExperiment) -> None:
    flood_mb = 60
    received = {"bytes": 0, "chunks": 0, "first_at": 0.0}
    started = time.monotonic()

    def sink(stream: str, text: str) -> None:
        if not received["chunks"]:
            received["first_at"] = time.monotonic() - started
        received["bytes"] += len(text.encode())
        received["chunks"] += 1

    baseline = _rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run_experiment(
            f"""
            import sys
            line = "x" * 65535 + "\\n"
            print("flood starts", flush=True)
            for _ in range({flood_mb} * 16):
                sys.stdout.write(line)
            sys.stdout.flush()
            sys.stderr.write("the very last words\\n")
            """,
            on_output=sink,
            stream_cap_bytes=64 * 1024,
            tail_bytes=4096,
            timeout_s=120,
        )
    finally:
        done.set()
        sampler.join()

    assert result.status == "failed" and "no metrics.json" in (result.error or "")
    assert received["bytes"] <= 64 * 1024 + 200  # the cap plus the one-line notice
    assert len(result.stdout_tail.encode()) <= 4096 and result.stdout_tail.endswith("x\n")
    assert result.stderr_tail == "the very last words\n"
    growth = peak[0] - baseline
    assert growth < 20 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB during a {flood_mb} MB flood"


def test_the_end_marker_ends_each_stream_even_when_split_across_chunks() -> None:
    marker = b"\x00labloop:end:abc:"
    received: list[tuple[str, str]] = []
    capture = StreamCapture(lambda s, t: received.append((s, t)), cap_bytes=1000, tail_bytes=100, end_marker=marker)

    capture.pump([
        (b"result 1\n\x00lab", None),  # the marker's start is held back ...
        (None, b"warn" + marker + b"007\x00late noise"),
        (b"loop:end:abc:0", None),  # ... recognised here, its status still incomplete ...
        (b"07\x00after the end", b"more noise"),  # ... and complete here
        (b"never read", None),
    ])

    assert capture.complete and capture.exit_code == 7
    assert "".join(t for s, t in received if s == "stdout") == "result 1\n"
    assert capture.tail("stdout") == "result 1\n" and capture.tail("stderr") == "warn"


def test_without_a_marker_held_back_bytes_are_output() -> None:
    capture = StreamCapture(None, cap_bytes=1000, tail_bytes=100, end_marker=b"\x00END\x00")
    capture.pump([(b"killed mid-line \x00EN", None)])
    assert not capture.complete
    assert capture.tail("stdout") == "killed mid-line \x00EN"
