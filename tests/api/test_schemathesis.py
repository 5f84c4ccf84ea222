"""Schemathesis against the app's own OpenAPI schema, on both stores: no 500, no answer that
breaks the schema (status codes, content types, bodies), over every operation; and a
stateful run that follows the links between operations (create → use the id)."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections import Counter
from datetime import date

import pytest
import schemathesis
from schemathesis.specs.openapi import checks
from schemathesis.specs.openapi import stateful as openapi_stateful
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import api
import ledger
import projections
import rules
from api.app import create_app
from api.views import Views
from ledger import commands as c
from ledger.handlers import administration, children, households

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


# Creations whose answer the links (or the test, for ids a body names) feed into later calls.
CREATES = {"/v1/households": "household", "/v1/institutions": "institution", "/v1/children": "child",
           "/v1/bookings": "booking", "/v1/bookings/{booking_id}/transfer": "booking"}


def test_stateful_sequences_follow_the_links(api_schema, store, monkeypatch):
    """Sequences of calls on the ids the API has just answered: the links carry an id into a path
    (a booking's into its cancellation and transfer); ids a body names (the household of a child,
    the child and institution of a booking) the test takes from earlier answers, with dates that
    fit. Children, bookings, cancellations and transfers must have been made that way."""
    # Schemathesis decides with true randomness (outside Hypothesis's choices) whether a step uses
    # the linked id or a generated one; a scenario replayed then draws differently and Hypothesis
    # stops the run as flaky. Here a link is always followed (the other test covers random ids).
    monkeypatch.setattr(openapi_stateful, "BASE_EXPLORATION_RATE", 0.0)
    monkeypatch.setattr(openapi_stateful, "DEFAULT_USE_PROBABILITY", 1.0)
    base = api_schema.as_state_machine()
    calls: list[tuple[str, str, int]] = []
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
            self.ids: dict[str, list[str]] = {kind: [] for kind in set(CREATES.values())}
            self.booked_in: dict[str, str] = {}  # booking -> institution
            self.calls = self.made = 0
            # The ids the ledger makes itself (an institution, household or child created without one)
            # too, for the same reason.
            handler_ids = iter(range(1, 10**6))
            for module in (administration, households, children):
                monkeypatch.setattr(module, "uuid4",
                                    lambda: uuid.uuid5(uuid.NAMESPACE_URL, f"plads-test/made/{next(handler_ids)}"))
            # A household, three children and two institutions with seats, so that children and
            # bookings can be made from the first steps on; the API's own creations join them.
            household = self._run(c.RegisterHousehold(district="Valby", household_id=self._new_id("household")))
            self.ids["household"].append(household["id"])
            for _ in range(3):
                self.ids["child"].append(self._run(c.RegisterChild(
                    household_id=household["id"], birth_date=date(2024, 3, 15), child_id=self._new_id("child")))["id"])
            for name in ("Solsikken", "Mælkebøtten"):
                inst = self._run(c.RegisterInstitution(name=name, district="Valby", kind="integreret",
                                                       institution_id=self._new_id("institution")))["id"]
                self._seats(inst)
                self.ids["institution"].append(inst)

        def _run(self, command):
            return app.state.ledger.execute(command, actor="admin", channel="system").result

        def _seats(self, inst):
            for group in ("nursery", "kindergarten"):
                self._run(c.ChangeCapacity(institution_id=inst, age_group=group, seats=20,
                                           effective_from=date(2024, 1, 1)))

        def teardown(self):
            app.state.views.close()
            app.state.ledger.close()
            app.state.ledger, app.state.views = self._old
            app.state.views = Views(app.state.ledger)

        def before_call(self, case):
            # Three calls in four get a body that names ids of this scenario and dates that fit;
            # the fourth keeps its generated body (the error paths), except a cancellation or
            # transfer, which only a booking's link reaches; negative cases keep theirs.
            self.calls += 1
            body, path = case.body, case.operation.path
            meta = getattr(case, "_meta", None)  # a case meant to be invalid stays invalid
            negative = meta is not None and meta.generation.mode.is_negative
            follows_a_booking = "{booking_id}" in path  # reached only through a booking's link
            if negative or (self.calls % 4 == 0 and not follows_a_booking) or \
                    case.operation.method.upper() != "POST" or not isinstance(body, dict):
                return
            pick = self._pick
            changes: dict = {}
            if path == "/v1/institutions":
                changes = dict(kind="integreret", institution_id=self._new_id("institution"))
            elif path == "/v1/households":
                changes = dict(household_id=self._new_id("household"))
            elif path == "/v1/children" and self.ids["household"]:
                changes = dict(household_id=pick("household"), birth_date="2024-03-15", child_id=self._new_id("child"),
                               identifiers=None)
            elif path == "/v1/bookings" and self.ids["child"]:
                changes = dict(child_id=pick("child"), institution_id=pick("institution"), start_date="2025-03-01",
                               pool="general", override=False, reason=None, booking_id=self._new_id("booking"))
            elif path == "/v1/bookings/{booking_id}/cancel":
                changes = dict(effective_date="2025-06-01", reason="the family moved")
            elif path == "/v1/bookings/{booking_id}/transfer":
                here = self.booked_in.get(str(case.path_parameters.get("booking_id")))
                others = [i for i in self.ids["institution"] if i != here]
                changes = dict(institution_id=others[self.calls % len(others)], effective_date="2025-09-01",
                               reason="closer to home", kind="parent_request", pool=None)
            if changes:  # a new body: the generated one is Hypothesis's and stays as it was drawn
                case.body = {**body, **changes}

        def _new_id(self, kind):
            # Ids the scenario chooses, the same on every replay: a random id in an answer that a
            # link carries on would make Hypothesis's replay of the scenario draw differently.
            self.made += 1
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"plads-test/{kind}/{self.made}"))

        def _pick(self, kind):
            found = self.ids[kind]
            return found[self.calls % len(found)]

        def get_call_kwargs(self, case):
            return {"headers": _token_for(case.operation.method, case.operation.path)}

        def after_call(self, response, case):
            path, method = case.operation.path, case.operation.method.upper()
            calls.append((method, path, response.status_code))
            if method == "POST" and path in CREATES and response.status_code == 201:
                body = response.json()
                seated = isinstance(case.body, dict) and case.body.get("kind") == "integreret"
                if path != "/v1/institutions" or seated:  # bookings go only where there are seats
                    self.ids[CREATES[path]].append(body["id"])
                if path == "/v1/institutions" and seated:
                    self._seats(body["id"])
                if CREATES[path] == "booking":
                    self.booked_in[body["id"]] = body["institution_id"]

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    # A fixed seed, not only derandomize: Hypothesis derandomizes by a digest that depends on where the
    # code lies, so another checkout (CI's clean clone) drew other sequences, one with no cancellation.
    seed(6)(Sequences)  # with this seed: 22 children, 21 bookings, 4 cancellations, 2 transfers
    Sequences.run(settings=settings(max_examples=40, stateful_step_count=10, deadline=None, derandomize=True,
                                    database=None, suppress_health_check=list(HealthCheck)))
    ok = Counter((method, path) for method, path, status in calls if 200 <= status < 300)
    made = {what: ok[("POST", path)] for what, path in (
        ("children", "/v1/children"), ("bookings", "/v1/bookings"),
        ("cancellations", "/v1/bookings/{booking_id}/cancel"),
        ("transfers", "/v1/bookings/{booking_id}/transfer"))}
    assert all(made.values()), (made, sorted(Counter(c for c in calls if "booking" in c[1] or "children" in c[1]).items()))
