"""Limits on what a client sends (issue 21, findings 4, 6 and 8): a chunked body is cut off at the
limit as it streams in; out-of-range `as_of` and control characters in query parameters are 422,
never 500; unparseable JSON is 400; the docs page needs no internet."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import MAX_BODY

from .conftest import TOKEN_ENV, auth
from .test_hostile import problem

CHUNK = 64 * 1024


@pytest.fixture
def app(store):
    ledger = store.ledger(date(2025, 1, 6))
    app = create_app(tokens=TOKEN_ENV, ledger=ledger)
    with TestClient(app):  # runs the lifespan: the ledger and the views are set up
        yield app
    ledger.close()


def _chunked_upload(app, total: int, headers: dict[str, str]) -> tuple[httpx.Response, int]:
    """POST `total` bytes as a chunked body (no Content-Length) to the ASGI app; the answer and the
    bytes the app pulled from the stream."""
    sent = 0

    async def body():
        nonlocal sent
        while sent < total:
            sent += CHUNK
            yield b" " * CHUNK

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plads") as client:
            return await client.post("/v1/households", content=body(),
                                     headers={**headers, "Content-Type": "application/json"})

    return asyncio.run(post()), sent


@pytest.mark.parametrize("headers", [auth("caseworker"), {}], ids=["with-token", "without-token"])
def test_a_chunked_body_is_cut_off_at_the_limit_without_reading_it_all(app, headers):
    total = 64 * 1024 * 1024
    response, read = _chunked_upload(app, total, headers)
    assert "content-length" not in response.request.headers  # really chunked
    problem(response, 413)
    assert read <= MAX_BODY + CHUNK  # the limit and one chunk, not the 64 MiB


def test_a_chunked_body_within_the_limit_still_works(app):
    async def body():
        yield b'{"district": '
        yield b'"Valby"}'

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plads") as client:
            return await client.post("/v1/households", content=body(),
                                     headers={**auth("caseworker"), "Content-Type": "application/json"})

    response = asyncio.run(post())
    assert response.status_code == 201, response.text


READS = ["/v1/occupancy", "/v1/budget", "/v1/guarantee-watch", "/v1/availability?age_group=nursery&start=2025-08-01"]


def test_as_of_out_of_range_is_422_on_every_read(api):
    for path in READS:
        sep = "&" if "?" in path else "?"
        for as_of in ("9999-12-31", "9999-12-31T23:59:59", "2100-12-31T23:00:00-12:00x", "0001-01-01",
                      "1899-12-31", "0000-01-01", "2101-01-01"):
            problem(api.get(f"{path}{sep}as_of={as_of}"), 422)
    for as_of in ("2100-12-31", "2100-12-31T23:59:59+00:00", "1990-01-01T00:00:00+14:00", "1990-01-01"):
        assert api.get("/v1/occupancy", params={"as_of": as_of}).status_code == 200, as_of


def test_control_characters_in_query_parameters_are_422(api):
    for path in READS:
        sep = "&" if "?" in path else "?"
        for value in ("\x00", "Valby\x00", "\x1b[31m", "a\rb", "\x7f", "\x85"):
            body = problem(api.get(f"{path}{sep}{httpx.QueryParams({'district': value})}"), 422)
            assert "district" in body["detail"]
    assert api.get("/v1/occupancy", params={"district": "Nørrebro – øst"}).status_code == 200


def test_malformed_json_is_400_as_documented(api):
    for raw in (b"{not json", b'{"district": "Valby"', b"\xff\xfe", b'{"district": "Valby"}}'):
        body = problem(api.post("/v1/households", content=raw, headers={"Content-Type": "application/json"}), 400)
        assert "JSON" in body["detail"]


def test_the_docs_page_loads_nothing_from_another_host(api):
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text.lower()
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        url = next(part.split('"')[0] for part in page.text.split('="')[1:] if asset in part.split('"')[0])
        served = api.client.get(url)
        assert served.status_code == 200 and len(served.content) > 10_000, url


def test_no_text_query_parameter_of_any_read_takes_a_control_character(api):
    """Every free-text query parameter the schema declares, on every GET: NUL and friends are 422 (on
    PostgreSQL a NUL reaching a query was a 500: `GET /v1/waiting-lists?district=%00`)."""
    schema = api.client.get("/openapi.json").json()
    probed = []
    for path, ops in schema["paths"].items():
        if "get" not in ops or "{" in path:
            continue
        for param in ops["get"].get("parameters", []):
            types = param["schema"].get("anyOf", [param["schema"]])
            if param["in"] != "query" or not any(t.get("type") == "string" and "format" not in t
                                                 and "enum" not in t for t in types):
                continue
            for value in ("\x00", "a\x00b", "\x1b[31m"):
                response = api.get(f"{path}?{httpx.QueryParams({param['name']: value})}")
                assert response.status_code == 422, (path, param["name"], value, response.status_code)
            probed.append((path, param["name"]))
    assert ("/v1/waiting-lists", "district") in probed and ("/v1/institutions", "q") in probed
