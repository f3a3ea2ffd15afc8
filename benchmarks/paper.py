"""The paper's PDF step: what printing with headless Chromium costs beside the rest of the write-up.

    .venv/bin/python benchmarks/paper.py PAPER_DIR [--runs 5]

PAPER_DIR is a job's ``runs/JOB/paper/`` (``make demo`` writes one). Times, side by side and in
one run: (a) Markdown → self-contained HTML only (the baseline: what a paper costs without a PDF),
(b) the whole print with Chromium (a new browser each time, as a job does), and prints the median
and p90 of each, (b)'s ratio to (a), and the PDF's size. Also prints the Debian packages' installed
size of the renderer beside texlive's, the alternative (apt's own numbers, nothing installed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.paper.pdf import render_pdf, to_html  # noqa: E402

TEXLIVE = ("texlive-latex-recommended", "texlive-fonts-recommended", "lmodern")


def _times(run: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return samples


def _installed_mb(packages: tuple[str, ...], *, simulate: bool) -> tuple[int, float]:
    """How many Debian packages and MB installing ``packages`` takes (simulated: what apt would add)."""
    if simulate:
        plan = subprocess.run(["apt-get", "-s", "install", *packages], capture_output=True, text=True, check=False)
        names = [line.split()[1] for line in plan.stdout.splitlines() if line.startswith("Inst ")]
    else:
        names = list(packages)
    total = 0
    for name in names:
        shown = subprocess.run(["apt-cache", "show", name], capture_output=True, text=True, check=False).stdout
        sizes = [int(line.split()[1]) for line in shown.splitlines() if line.startswith("Installed-Size:")]
        total += sizes[0] if sizes else 0
    return len(names), total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paper_dir", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder: Path = args.paper_dir
    markdown = (folder / "paper.md").read_text(encoding="utf-8")
    figures = {f["file"] for f in json.loads((folder / "review.json").read_text(encoding="utf-8"))["figures"]}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "paper.pdf"
        html = _times(lambda: to_html(markdown, folder, figures), args.runs)
        pdf = _times(lambda: render_pdf(markdown, folder, figures, out), args.runs)
        size = out.stat().st_size
    print(f"paper: {folder} ({len(markdown)} characters, {len(figures)} figures), {args.runs} runs each\n")
    print("| step | median (s) | p90 (s) | × (a) |")
    print("|---|---|---|---|")
    base = statistics.median(html)
    for name, samples in (("(a) Markdown → HTML (baseline)", html), ("(b) Markdown → PDF, a new Chromium each time", pdf)):
        p90 = sorted(samples)[max(0, round(0.9 * len(samples)) - 1)]
        print(f"| {name} | {statistics.median(samples):.3f} | {p90:.3f} | {statistics.median(samples) / base:.0f} |")
    print(f"\nPDF: {size / 1024:.0f} KiB")
    count, chromium_mb = _installed_mb(("chromium", "chromium-common"), simulate=False)
    texlive_count, texlive_mb = _installed_mb(TEXLIVE, simulate=True)
    print("\n| renderer | Debian packages | installed size (MB) |")
    print("|---|---|---|")
    print(f"| chromium (installed by make setup; the browser tests use it too) | {count} | {chromium_mb:.0f} |")
    print(f"| texlive ({', '.join(TEXLIVE)}; what apt would add here) | {texlive_count} | {texlive_mb:.0f} |")


if __name__ == "__main__":
    main()
