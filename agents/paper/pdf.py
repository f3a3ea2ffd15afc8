"""paper.md → HTML → paper.pdf, printed by headless Chromium.

Why Chromium and not LaTeX: the browser tests already install Debian's ``chromium`` (348 MB;
texlive's smallest usable set would add 373 MB more, and a Markdown → LaTeX converter), Markdown
tables and PNG figures print as they are, and a paper prints in about a second
(``benchmarks/paper.py``; ``docs/paper.md`` has the numbers). The prose is hostile input (a model wrote it, or a stranger edited it), so the HTML is
made to fetch nothing: raw HTML in the Markdown is escaped, every image is one of the paper's own
figures inlined as a ``data:`` URI (any other image becomes its alt text), a Content-Security-Policy
forbids every other load, and Chromium resolves no host name.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
import tempfile
from collections.abc import Collection
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from agents.errors import LabloopError

RENDER_TIMEOUT_S = 120
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
@page { size: A4; margin: 22mm 20mm; }
body { font-family: "DejaVu Serif", Georgia, serif; font-size: 10.5pt; line-height: 1.45; color: #111;
       font-variant-ligatures: none; }  /* the PDF's text copies and searches as typed */
h1 { font-size: 17pt; text-align: center; margin: 0 0 4mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; border-bottom: 0.5pt solid #999; }
h3 { font-size: 11pt; margin: 4mm 0 1mm; }
p { text-align: justify; margin: 0 0 2.5mm; }
blockquote { margin: 0 0 2.5mm 6mm; color: #333; font-style: italic; }
table { border-collapse: collapse; margin: 2mm 0 4mm; font-size: 8.5pt; width: 100%; page-break-inside: avoid; }
th, td { border: 0.4pt solid #888; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; }
img { display: block; max-width: 100%; max-height: 110mm; margin: 2mm auto; page-break-inside: avoid; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 2mm; }
em { color: #333; }
"""


class PdfUnavailable(LabloopError):
    """The PDF could not be rendered (no Chromium, or it failed); the Markdown paper stands."""


def to_html(markdown: str, folder: Path, figures: Collection[str]) -> str:
    """The paper as one self-contained HTML page: ``figures`` (files in ``folder``) inlined, nothing else loaded."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                _inline_image(child, folder, figures)
    body = md.renderer.render(tokens, md.options, {})
    title = html.escape(markdown.lstrip("# ").split("\n", 1)[0][:200])
    return (f'<!doctype html><html><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>")


def _inline_image(token: Token, folder: Path, figures: Collection[str]) -> None:
    src = str(token.attrGet("src") or "")
    if src in figures and (folder / src).is_file() and not (folder / src).is_symlink():
        data = base64.b64encode((folder / src).read_bytes()).decode("ascii")
        token.attrSet("src", f"data:image/png;base64,{data}")
        return
    # Not one of the paper's figures (a remote URL, a path elsewhere): its alt text, never a load.
    token.type, token.tag, token.attrs, token.content = "text", "", {}, f"[image: {token.content}]"
    token.children = None


def chromium() -> str | None:
    """The Chromium on the PATH (LABLOOP_CHROMIUM names another)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_pdf(markdown: str, folder: Path, figures: Collection[str], out: Path, *, browser: str | None = None) -> None:
    """Print the paper to ``out``; PdfUnavailable says why when it cannot."""
    browser = browser or chromium()
    if browser is None:
        raise PdfUnavailable("no Chromium to print the PDF with: install Debian's chromium (`make browser`) or "
                             "set LABLOOP_CHROMIUM; paper.md has the paper")
    with tempfile.TemporaryDirectory(prefix="labloop-paper-") as tmp:
        page = Path(tmp) / "paper.html"
        page.write_text(to_html(markdown, folder, figures), encoding="utf-8")
        partial = Path(tmp) / "paper.pdf"
        command = [browser, "--headless", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run",
                   "--disable-extensions", "--disable-background-networking", "--disable-sync",
                   "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp}/profile",
                   f"--print-to-pdf={partial}", page.as_uri()]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium's own sandbox refuses root; the page loads nothing
        try:
            done = subprocess.run(command, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False,
                                  env={**os.environ, "HOME": tmp}, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfUnavailable(f"Chromium could not print the PDF: {exc}") from exc
        if not partial.is_file() or partial.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise PdfUnavailable(f"Chromium printed no PDF (exit {done.returncode}): {' / '.join(tail)[:500]}")
        shutil.move(partial, out)
