"""The caseworkers' HTTP API (FastAPI): `create_app` wires the ledger, the views, auth and errors.

Run it with `plads serve`. Tokens come from PLADS_API_TOKENS (`actor:role:token`, comma-separated).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from api import (allocation, billing, bookings, children, clusters, docs, forecast, households, institutions, lists,
                 models, occupancy, offers, people, problems, rule_sets)
from api.auth import Tokens, parse_tokens
from api.oidc import OidcVerifier
from api.views import Views
from ledger import Ledger
from projections.engine import ViewStalled

DESCRIPTION = """
An event-sourced booking ledger for municipal daycare. Every command is an immutable event;
the reads come from projections of the event log.

* **Auth**: `Authorization: Bearer <token>`; tokens and roles (caseworker, auditor, analyst, admin,
  family, cluster_leader) from `PLADS_API_TOKENS`, or OpenID Connect tokens from `PLADS_OIDC_ISSUER`.
  401 without a valid token, 403 for a wrong role. A family sees and acts for its own household only,
  a cluster leader sees its own cluster's institutions only (404 otherwise).
* **Errors**: RFC 9457 `application/problem+json` — 422 invalid input, 404 unknown id, 409 conflict
  (no seat, already booked, concurrent change, idempotency key reused), 503 database unavailable
  or views stopped before an event they cannot take (`/health` says which).
* **Idempotency**: send `Idempotency-Key` on a POST; a retry gets the first answer.
* **Consistency**: a command's answer has `position`; pass it as `min_position` to a read to see the
  command's effect. `as_of` reads the views as the ledger knew them then.
* Money is integer øre (fields ending `_ore`); dates ISO-8601.
"""


def create_app(database_url: str | None = None, *, tokens: str | None = None, follow: bool = True,
               ledger: Ledger | None = None, oidc_env: dict[str, str] | None = None) -> FastAPI:
    """The app. `tokens` defaults to $PLADS_API_TOKENS and `oidc_env` (PLADS_OIDC_*) to the environment;
    `follow=False` leaves the PostgreSQL views to a separate `plads project --follow`; a given `ledger`
    is used (and left open) instead of a new one."""

    def household_of_cpr(cpr: str) -> str | None:
        return app.state.ledger.household_of_cpr(cpr)

    token_list = Tokens(parse_tokens(tokens if tokens is not None else os.environ.get("PLADS_API_TOKENS")),
                        oidc=OidcVerifier.from_environment(household_of_cpr, oidc_env))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own = ledger is None
        app.state.ledger = ledger or Ledger(database_url)
        try:
            app.state.views = Views(app.state.ledger, follow=follow)
            try:
                yield
            finally:
                app.state.views.close()
        finally:
            if own:
                app.state.ledger.close()

    # Operation ids are the endpoint functions' names (stable, and what the OpenAPI links name).
    app = FastAPI(title="plads", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  generate_unique_id_function=lambda route: route.name, docs_url=None, redoc_url=None)
    app.state.tokens = token_list
    problems.install(app)
    docs.install(app)  # local assets, no CDN
    for resource in (institutions, clusters, rule_sets, households, children, bookings, offers, people, billing,
                     allocation, occupancy, lists, forecast):
        app.include_router(resource.router)

    @app.get("/health", response_model=models.Health, tags=["health"],
             responses={503: {"model": problems.Problem, "content": {"application/problem+json": {}}}})
    def health(request: Request):
        """Liveness and how far the views are behind the log (no auth); 503 while the store is down
        or a view has stopped before an event it cannot take."""
        ledger_: Ledger = request.app.state.ledger
        with request.app.state.views.current(own_writes=False) as store:
            views_position = store.position("views")
            stall = store.stall("views")
        if stall is not None:
            raise ViewStalled("views", *stall)
        return {"status": "ok", "store": ledger_.store.kind, "position": ledger_.max_position(),
                "views_position": views_position}

    return app


def app_from_environment() -> FastAPI:
    """The app `plads serve` runs: database, tokens and following from the environment."""
    return create_app(os.environ.get("PLADS_DATABASE_URL"), follow=os.environ.get("PLADS_API_FOLLOW", "1") != "0")
