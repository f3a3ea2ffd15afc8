"""``/review``: the human review page, one static HTML file whose script calls the /v1 API.

The page needs no token (a browser navigation cannot send one) because it holds no data: its
script asks for the token and sends it with every API call. The Content-Security-Policy allows
only the page's own inline script and style (by hash) and requests to this server.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["review"])
PAGE = Path(__file__).resolve().parents[1] / "static" / "review.html"


def _hashes(html: str, tag: str) -> str:
    bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)


@cache
def _page() -> tuple[str, dict[str, str]]:
    html = PAGE.read_text(encoding="utf-8")
    policy = (f"default-src 'none'; script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
              "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    headers = {"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    return html, headers


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
async def review_page() -> HTMLResponse:
    """The review page: pending checkpoints to approve, edit or reject (no token needed)."""
    html, headers = _page()
    return HTMLResponse(html, headers=headers)
