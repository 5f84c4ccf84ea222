"""The try-it page at /docs, served with Swagger UI's files from the swagger-ui-py package:
no CDN, so it works on a municipal network without internet."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(swagger_ui.__file__).parent / "static"


def install(app: FastAPI) -> None:
    """/docs and its assets under /docs/assets (plain routes: outside the schema and the role table)."""
    app.mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")

    async def docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js", swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png", oauth2_redirect_url=None,
            # No validator badge: it would send the schema to a public validator.
            swagger_ui_parameters={"validatorUrl": None})

    app.add_route("/docs", docs, include_in_schema=False)
