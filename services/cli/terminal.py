"""Text from experiments and models made safe to show on an operator's terminal.

An experiment's output, an error that quotes it, a model's idea or diff are hostile: an
escape sequence in them could retitle the window (OSC 0), clear the screen (CSI 2J), rewrite
what the operator already read (``\\r``, cursor moves), write to the clipboard (OSC 52) or
reverse text (bidirectional overrides). :func:`printable` keeps the text and newlines and tabs,
and drops every escape sequence and every other control character. ``--json`` output needs
none of this: JSON escapes control characters itself.
"""

from __future__ import annotations

import re

from rich.markup import escape

# ESC [ ... final (CSI); ESC ] ... BEL or ST (OSC); ESC P/X/^/_ ... ST (DCS, SOS, PM, APC);
# ESC and one more character (the rest). The C1 forms (0x9b CSI, 0x9d OSC, ...) likewise.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
# Every C0 control but tab and newline, DEL, C1, and the bidirectional overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without escape sequences or control characters (``\\n`` and ``\\t`` kept; ``\\r`` ends a line)."""
    text = _SEQUENCE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def shown(value: object) -> str:
    """``value`` as printable text for a rich console line: no control characters, no markup."""
    return escape(printable(str(value)))
