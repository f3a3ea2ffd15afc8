"""The claim check: every numeral in the prose that no reference or the task text accounts for.

The AI Scientist's known failure is prose whose numbers drift from what was run. Here the prose
states results only through references (:mod:`agents.paper.journal`), so any numeral typed into
it is suspect unless the task's own text states it (``the 1996 election``) or it is a count the
journal holds (``3 rounds``, ``5 pairs``). Numbers inside references, inline code and code blocks
are not prose; digits inside a word (``r2s0``, ``log1p``) are not numerals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from agents.paper.journal import REFERENCE
from agents.paper.review_form import Claim

_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_NUMERAL = re.compile(r"(?<![\w.])[-+−]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?%?(?![\w])")
CONTEXT = 40


def numerals(text: str) -> set[str]:
    """The numerals of ``text``, normalised (``0.50`` and ``.5`` aside, ``1,000`` is ``1000``)."""
    return {_normal(m.group(0)) for m in _NUMERAL.finditer(text)}


def _normal(numeral: str) -> str:
    bare = numeral.replace("−", "-").lstrip("+-").rstrip("%").replace(",", "")
    try:
        value = float(bare)
    except ValueError:
        return bare
    return str(int(value)) if value.is_integer() else repr(value)


def check(prose: Mapping[str, str], *, task_text: str, counts: Iterable[int]) -> list[Claim]:
    """The numerals of each section of ``prose`` that neither a reference, the task text nor the
    journal's counts account for, each with a little of the text around it."""
    allowed = numerals(task_text) | {str(c) for c in counts}
    claims = []
    for section, text in prose.items():
        bare = _CODE.sub(lambda m: " " * len(m.group(0)), REFERENCE.sub(lambda m: " " * len(m.group(0)), text))
        for match in _NUMERAL.finditer(bare):
            if _normal(match.group(0)) in allowed:
                continue
            start, end = max(0, match.start() - CONTEXT), min(len(text), match.end() + CONTEXT)
            claims.append(Claim(numeral=match.group(0), section=section,
                                context=" ".join(text[start:end].split())))
    return claims


def describe(claims: list[Claim]) -> str:
    """The claim check's result in words (shown to reviewers and at the paper gate)."""
    if not claims:
        return "The claim check found no numeral that no reference or the task text accounts for."
    return "The claim check lists numerals the journal does not account for:\n" + "\n".join(
        f"- {c.numeral!r} in {c.section}: …{c.context}…" for c in claims)
