"""An experiment's stdout/stderr: forwarded as it comes up to a byte cap, with a bounded tail.

Under an output flood the service keeps reading (so the container is never blocked on a full
pipe) but holds at most ``tail_bytes`` per stream: its memory stays bounded.

When the run's command has exited, the launcher writes an end marker (a per-run nonce the
experiment never sees: the launcher is not dumpable, so no process of the experiment can read
its memory) followed by the command's exit status in three digits, to stdout and to stderr.
Everything before the markers is the command's output; once both have arrived the command is
over (the runner still makes sure the container has stopped before it reads any file).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Iterable

from sandbox.result import OutputSink

log = logging.getLogger(__name__)
STREAMS = ("stdout", "stderr")
STATUS_DIGITS = 3


class StreamCapture:
    """Receives (stdout, stderr) chunks; forwards up to ``cap_bytes`` and keeps the tails."""

    def __init__(
        self, sink: OutputSink | None, cap_bytes: int, tail_bytes: int, end_marker: bytes | None = None
    ) -> None:
        self._sink = sink
        self._marker = end_marker
        self._held = {name: b"" for name in STREAMS}  # a possible start of the marker
        self.ended = {name: False for name in STREAMS}
        self._statuses: dict[str, int | None] = {name: None for name in STREAMS}
        self._cap = cap_bytes
        self._tail_bytes = tail_bytes
        self._forwarded = 0
        self._tails = {name: bytearray() for name in STREAMS}
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in STREAMS}
        self.total_bytes = {name: 0 for name in STREAMS}
        self.capped = False

    def receive(self, stream: str, data: bytes) -> None:
        """Take one chunk of ``stream`` as it came from the engine (it may hold the marker)."""
        if self.ended[stream]:
            return  # output of leftover background processes after the command exited
        if self._marker is None:
            self.feed(stream, data)
            return
        data = self._held[stream] + data
        at = data.find(self._marker)
        if at >= 0:
            end = at + len(self._marker) + STATUS_DIGITS
            if len(data) < end:  # the status has not all arrived yet
                self._held[stream] = data[at:]
            else:
                digits = data[at + len(self._marker) : end]
                self._statuses[stream] = int(digits) if digits.isdigit() else None
                self.ended[stream] = True
                self._held[stream] = b""
            self.feed(stream, data[:at])
            return
        keep = next(
            (k for k in range(min(len(self._marker) - 1, len(data)), 0, -1) if data.endswith(self._marker[:k])),
            0,
        )
        self._held[stream] = data[len(data) - keep :]
        self.feed(stream, data[: len(data) - keep])

    @property
    def complete(self) -> bool:
        """True once both streams carried the end marker."""
        return all(self.ended.values())

    @property
    def exit_code(self) -> int | None:
        """The command's exit status as the launcher reported it after both markers, or None."""
        codes = set(self._statuses.values())
        return codes.pop() if self.complete and len(codes) == 1 else None

    def feed(self, stream: str, data: bytes) -> None:
        """Take one chunk of the command's own output on ``stream``."""
        if not data:
            return
        self.total_bytes[stream] += len(data)
        tail = self._tails[stream]
        tail += data[-self._tail_bytes :]
        if len(tail) > self._tail_bytes:
            del tail[: len(tail) - self._tail_bytes]
        if self._sink is None or self.capped:
            return
        room = self._cap - self._forwarded
        part = data[:room]
        self._forwarded += len(part)
        text = self._decoders[stream].decode(part)
        if len(data) > room:
            self.capped = True
            text += f"\n[labloop: output capped at {self._cap} bytes; only the tail is kept]\n"
        if text:
            self._send(stream, text)

    def _send(self, stream: str, text: str) -> None:
        try:
            self._sink(stream, text)  # type: ignore[misc]
        except Exception:  # a broken sink must not break the run
            log.exception("the output sink failed; no more output is forwarded")
            self._sink = None

    def pump(self, frames: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Read a demultiplexed docker stream until both end markers (or its end)."""
        try:
            for out, err in frames:
                if out:
                    self.receive("stdout", out)
                if err:
                    self.receive("stderr", err)
                if self.complete:
                    return
        except Exception as exc:  # the stream breaks when the container is killed
            log.debug("output stream ended: %s", exc)
        for stream in STREAMS:  # no marker came (killed): what was held back is output too
            if not self.ended[stream]:
                self.feed(stream, self._held[stream])
                self._held[stream] = b""

    def tail(self, stream: str) -> str:
        """The last ``tail_bytes`` of ``stream`` as text."""
        return bytes(self._tails[stream]).decode("utf-8", "replace")
