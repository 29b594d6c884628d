"""The web page's routes: `/` (index.html) and its static assets under `/web/`, mounted by the REST app.

The page is plain HTML, CSS and ES modules from `static/`; it calls the REST API (same origin) with the key
the user types, kept in the tab's sessionStorage. The files hold no data, so they are served without a key,
like /docs. A Content-Security-Policy limits the page to this origin: nothing is fetched from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/web"
# Same origin only; page images come back as blob: URLs (fetched with the key), the favicon is a data: URL.
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; script-src 'self'; "
    "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The page: search, ask with cited boxes, upload and the document list."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


def install(app: FastAPI) -> None:
    """Add the page's routes to `app`: `/` and the static assets under `/web/`."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="web")
