"""The review app: ``/`` serves one static page whose scripts use only the /v1 API.

The files (``static/app/``: HTML, CSS and ES modules, no build step) hold no data, so they are
served without a token: the page asks for the token and sends it with every API call. The
Content-Security-Policy allows scripts, styles and requests from this server only, and no inline
script or style at all. ``/review``, the old review page's address, leads to the checkpoint list.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from services.errors import NotFound

router = APIRouter(tags=["review app"])
APP_DIR = Path(__file__).resolve().parents[1] / "static" / "app"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": POLICY, "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-cache"}


@cache
def app_files() -> dict[str, tuple[bytes, str]]:
    """The app's files by name with their media types (read once; they ship in the package)."""
    return {p.name: (p.read_bytes(), TYPES[p.suffix]) for p in sorted(APP_DIR.iterdir()) if p.suffix in TYPES}


@router.get("/", include_in_schema=False)
async def app_page() -> Response:
    """The review app's page (no token needed: it holds no data)."""
    body, media = app_files()["index.html"]
    return Response(body, media_type=media, headers=HEADERS)


@router.get("/app/{name}", include_in_schema=False)
async def app_file(name: str = PathParam(pattern=r"^[a-z]+\.(js|css|html)$")) -> Response:
    """One of the app's scripts or its style sheet."""
    found = app_files().get(name)
    if found is None:
        raise NotFound(f"the review app has no file {name!r}")
    return Response(found[0], media_type=found[1], headers=HEADERS)


@router.get("/review", include_in_schema=False)
async def review_page() -> RedirectResponse:
    """The old review page's address: the app's list of pending checkpoints."""
    return RedirectResponse("/#/checkpoints", status_code=307)
