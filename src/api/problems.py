"""RFC 9457 problem details for every error a client can cause (and 503 for outages).

Nothing a client sends yields a 500: domain errors carry their status, validation errors
are 422 with the fields named, oversized bodies 413, and anything unexpected is logged
and answered with a plain 500 problem without internals.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import AuthError
from ledger import LedgerError

logger = logging.getLogger("plads.api")
MEDIA = "application/problem+json"
MAX_BODY = 256 * 1024  # bytes; a command is a few hundred


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "https://plads.example/problems/no-free-seat", "title": "No free seat", "status": 409,
        "detail": "Solsikken has no free nursery seat in the general pool from 2025-02-01 to 2026-12-31"}]})
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def _slug(title: str) -> str:
    return "https://plads.example/problems/" + "-".join(title.lower().split())


def problem(status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": _slug(title), "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA, headers=headers)


def _fields(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for e in errors[:20]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        out.append({"field": ".".join(loc) or "body", "message": e.get("msg", "invalid")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, e: LedgerError) -> JSONResponse:
        headers = {"Retry-After": "5"} if e.status == 503 else None
        return problem(e.status, e.title, e.detail, headers=headers)

    @app.exception_handler(AuthError)
    async def auth_error(_: Request, e: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return problem(e.status, "Unauthorized" if e.status == 401 else "Forbidden", e.detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        if any(x.get("type") == "json_invalid" for x in e.errors()):
            return problem(400, "Bad request", "the body is not valid JSON")  # as docs/api.md says
        errors = _fields(e.errors())
        detail = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:3])
        return problem(422, "Invalid request", detail or "the request is not valid", errors)

    @app.exception_handler(ValidationError)
    async def command_invalid(_: Request, e: ValidationError) -> JSONResponse:
        errors = _fields(e.errors())
        detail = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:3])
        return problem(422, "Invalid request", detail or "the request is not valid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 413: "Request too large",
                  503: "Unavailable"}
        headers = e.headers
        documented = allowed_methods(app, request.url.path) if e.status_code == 405 else []
        if documented:  # else (a page outside the API document, /docs) Starlette's own Allow stands
            headers = {**(headers or {}), "Allow": ", ".join(documented)}
        return problem(e.status_code, titles.get(e.status_code, "Error"), str(e.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged")

    app.add_middleware(BodyLimit, limit=MAX_BODY)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API documents for this path: Starlette's 405 names only the methods of the
    first route that matches the path, and a resource has a route per method (GET and POST
    /v1/institutions). Read from the OpenAPI document, so Allow says what it says."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{[^/]+?\})", template))
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in operations if m in _METHODS}
    return sorted(methods)


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body has more than {limit} bytes; at most {limit}")


class BodyLimit:
    """Refuses a body over `limit` bytes as it streams in: by its Content-Length before reading,
    and, for a chunked body, as soon as the bytes read pass the limit, so the server never holds
    more than the limit and one chunk. A pure ASGI middleware, so the count is of what the
    server actually receives."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            refusal = (problem(400, "Bad request", "Content-Length is not a number") if not length.isdigit() else
                       problem(413, "Request too large", f"the body has {length} bytes; at most {self.limit}"))
            await refusal(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)  # answered by the HTTP error handler as a 413 problem
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyTooLarge as e:  # read outside a route (a middleware): answer here
            if started:
                raise
            await problem(413, "Request too large", str(e.detail))(scope, receive, send)
