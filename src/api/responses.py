"""What every route declares besides its answer, written once: the error answers (RFC 9457
problems, see api.problems) and the OpenAPI links from a creation's id to the operations that use it."""

from __future__ import annotations

from typing import Any

from api.problems import Problem

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem, "content": {"application/problem+json": {}}} for s in (400, 401, 403, 404, 409, 413, 422, 503)
}


def linked(status: int, param: str, *operations: str, body_field: str = "id") -> dict[int | str, dict[str, Any]]:
    """The error answers plus OpenAPI links: the new id feeds `param` of the named operations."""
    links = {op: {"operationId": op, "parameters": {param: f"$response.body#/{body_field}"}} for op in operations}
    return {**ERRORS, status: {"links": links}}
