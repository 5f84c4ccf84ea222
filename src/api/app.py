"""The HTTP API (FastAPI). This module is the start of the caseworkers' API of
SPEC §7; the endpoints arrive with the API issue. For now: `/health`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger import Ledger


def create_app(database_url: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ledger = Ledger(database_url)
        try:
            yield
        finally:
            app.state.ledger.close()

    app = FastAPI(title="plads", version="0.1.0", lifespan=lifespan)

    @app.get("/health")
    def health() -> dict:
        ledger: Ledger = app.state.ledger
        return {"status": "ok", "store": ledger.store.kind, "position": ledger.max_position()}

    return app
