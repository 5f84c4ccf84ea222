"""An API client per store: the app over a fresh ledger with a simulated clock, and tokens per role."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

TOKENS = {
    "caseworker": "tok-caseworker-1",
    "admin": "tok-admin-0001",
    "auditor": "tok-auditor-01",
    "analyst": "tok-analyst-01",
}
# The family token is bound to this household (tests register it with this id).
FAMILY_HOUSEHOLD = "5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a"
TOKENS["family"] = "tok-family-001"
# The cluster leader's token is bound to this cluster (klynge).
LEADER_CLUSTER = "Nørrebro Klynge 1"
TOKENS["cluster_leader"] = "tok-cluster-leader-01"
BOUND = {"family": FAMILY_HOUSEHOLD, "cluster_leader": LEADER_CLUSTER}
TOKEN_ENV = ",".join(f"{role}-actor:{role}:{token}" + (f":{BOUND[role]}" if role in BOUND else "")
                     for role, token in TOKENS.items())


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


class Api:
    """A TestClient with helpers for the common set-up steps."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, path, role="caseworker", **kw):
        return self.client.post(path, headers={**auth(role), **kw.pop("headers", {})}, **kw)

    def put(self, path, role="admin", **kw):
        return self.client.put(path, headers={**auth(role), **kw.pop("headers", {})}, **kw)

    def get(self, path, role="caseworker", **kw):
        return self.client.get(path, headers={**auth(role), **kw.pop("headers", {})}, **kw)

    def ok(self, response, status=201):
        assert response.status_code == status, response.text
        return response.json()

    def activate(self, rule_set="copenhagen-book-en-plads@1"):
        return self.ok(self.post(f"/v1/rule-sets/{rule_set}/activate", role="admin",
                                 json={"effective_from": "2020-01-01"}))

    def institution(self, name="Solsikken", district="Nørrebro", kind="integreret", nursery=10, kindergarten=20):
        inst = self.ok(self.post("/v1/institutions", role="admin",
                                 json={"name": name, "district": district, "kind": kind}))["id"]
        for group, seats in (("nursery", nursery), ("kindergarten", kindergarten)):
            if seats is not None:
                self.ok(self.put(f"/v1/institutions/{inst}/capacity",
                                 json={"age_group": group, "seats": seats, "effective_from": "2025-01-01"}), 200)
        return inst

    def household(self, district="Nørrebro", income_kr=None, children=1, household_id=None):
        body = {"district": district, "children_under_18": children}
        if household_id is not None:
            body["household_id"] = household_id
        hh = self.ok(self.post("/v1/households", json=body))["id"]
        if income_kr is not None:
            self.ok(self.post(f"/v1/households/{hh}/income",
                              json={"annual_income_ore": income_kr * 100, "effective_from": "2025-01-01"}))
        return hh

    def child(self, household, birth="2024-03-15"):
        return self.ok(self.post("/v1/children", json={"household_id": household, "birth_date": birth}))["id"]


@pytest.fixture
def api(store):
    ledger = store.ledger(date(2025, 1, 6))
    app = create_app(tokens=TOKEN_ENV, ledger=ledger)
    with TestClient(app) as client:
        yield Api(client)
    ledger.close()
