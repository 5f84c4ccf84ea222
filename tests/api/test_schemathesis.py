"""Schemathesis against the app's own OpenAPI schema, on both stores: no 500, no answer that
breaks the schema (status codes, content types, bodies), over every operation; and a
stateful run that follows the links between operations (create → use the id)."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date

import pytest
import schemathesis
from schemathesis.specs.openapi import checks
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import api
import ledger
import projections
import rules
from api.app import create_app
from api.views import Views
from ledger import commands as c

from .conftest import TOKEN_ENV, auth
from .test_roles import ROLES

# Checks that assume any schema-valid request succeeds do not hold for a ledger: a valid UUID
# that names no child is a 404, a valid booking for a full institution a 409. They are left out;
# everything else (server errors, status codes, content types, response schemas) is checked.
EXCLUDED = [checks.positive_data_acceptance, checks.use_after_free, checks.ensure_resource_availability]


# Hypothesis draws constants from the project's modules as they are imported; a module first
# imported in the middle of a run (a lazy import on some request's path) changes what it draws,
# and the run stops with "inconsistent data generation". So every module is imported up front.
for _package in (rules, ledger, projections, api):
    for _module in pkgutil.walk_packages(_package.__path__, _package.__name__ + "."):
        importlib.import_module(_module.name)


def _token_for(method: str, path: str) -> dict[str, str]:
    roles = ROLES.get((method.upper(), path))
    return auth(sorted(roles)[0]) if roles else {}


@pytest.fixture
def api_schema(store):
    ledger = store.ledger(date(2025, 1, 6))
    app = create_app(tokens=TOKEN_ENV, ledger=ledger)
    with TestClient(app) as client:  # runs the lifespan: the app's ledger and views are set up
        client.post("/v1/rule-sets/copenhagen-book-en-plads@1/activate", headers=auth("admin"),
                    json={"effective_from": "2020-01-01"})
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    ledger.close()


def test_no_server_error_and_no_schema_violation(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20

    @given(case=st.one_of([op.as_strategy() for op in operations]))
    @settings(max_examples=25 * len(operations), deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def check(case):
        case.call_and_validate(headers=_token_for(case.operation.method, case.operation.path),
                               excluded_checks=EXCLUDED)

    check()


def test_stateful_sequences_follow_the_links(api_schema, store):
    """Create an institution, a household, a child, a booking — and use their ids in the next calls."""
    base = api_schema.as_state_machine()
    calls: list[tuple[str, int]] = []
    app = api_schema.app

    class Sequences(base):  # type: ignore[misc, valid-type]
        # Every scenario on an empty ledger: with one ledger for all, a call's answer depends on the
        # scenarios before it (a month issued twice, a seat taken), so a scenario Hypothesis replays
        # takes another path and the run stops as "flaky".
        def setup(self):
            self._old = (app.state.ledger, app.state.views)
            app.state.views.close()
            app.state.ledger = store.ledger(date(2025, 1, 6), url=store.new_url())
            app.state.ledger.execute(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1",
                                                       effective_from=date(2020, 1, 1)),
                                     actor="admin", channel="system")
            app.state.views = Views(app.state.ledger)

        def teardown(self):
            app.state.views.close()
            app.state.ledger.close()
            app.state.ledger, app.state.views = self._old
            app.state.views = Views(app.state.ledger)

        def get_call_kwargs(self, case):
            return {"headers": _token_for(case.operation.method, case.operation.path)}

        def after_call(self, response, case):
            calls.append((case.operation.path, response.status_code))

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    Sequences.run(settings=settings(max_examples=40, stateful_step_count=6, deadline=None, derandomize=True,
                                    database=None, suppress_health_check=list(HealthCheck)))
    # The links were followed: an operation on an id the API had just created answered 2xx.
    assert any(path in ("/v1/institutions/{institution_id}/capacity", "/v1/households/{household_id}/income",
                        "/v1/children/{child_id}/history") and 200 <= status < 300 for path, status in calls), calls
