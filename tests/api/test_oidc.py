"""OpenID Connect bearer tokens, against a local issuer whose keys are made here.

Checked: a valid staff token acts with its role; expired, wrong-audience, wrong-issuer and
wrong-key tokens answer 401; the issuer rotates its key and the new one is accepted without a
restart; a family is bound to its household through the CPR claim (looked up in the person
registry) and the CPR number reaches no event.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from api.app import create_app
from api.oidc import CPR_CLAIM

AUDIENCE = "plads-test"


class Issuer:
    """A minimal OpenID provider: discovery document and JWKS over loopback HTTP."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.fetches += 1
                    body = {"keys": [{**json.loads(RSAAlgorithm.to_jwk(k.public_key())), "kid": kid, "use": "sig",
                                      "alg": "RS256"} for kid, k in issuer.keys.items()]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def new_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, *, key: rsa.RSAPrivateKey | None = None, expires_in: int = 300, **claims) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "subject-1", "iat": now, "exp": now + expires_in, **claims}
        return jwt.encode(body, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer():
    found = Issuer()
    found.new_key("k1")
    yield found
    found.close()


@pytest.fixture
def client(store, issuer):
    ledger = store.ledger(date(2025, 1, 6))
    app = create_app(tokens="", ledger=ledger,
                     oidc_env={"PLADS_OIDC_ISSUER": issuer.url, "PLADS_OIDC_AUDIENCE": AUDIENCE,
                               "PLADS_OIDC_REFETCH_SECONDS": "0"})
    with TestClient(app) as c:
        yield c, ledger
    ledger.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_staff_token_acts_with_the_role_its_claim_names(client, issuer):
    c, _ = client
    admin = issuer.token("k1", sub="admin-7", roles=["admin"])
    answer = c.post("/v1/rule-sets/copenhagen-book-en-plads@1/activate", headers=_bearer(admin),
                    json={"effective_from": "2020-01-01"})
    assert answer.status_code == 201, answer.text
    caseworker = issuer.token("k1", sub="cw-1", roles="caseworker")
    assert c.post("/v1/institutions", headers=_bearer(caseworker),
                  json={"name": "X", "district": "Nørrebro", "kind": "integreret"}).status_code == 403


@pytest.mark.parametrize("case", ["expired", "audience", "issuer", "foreign key", "no role or cpr", "garbled"])
def test_tokens_that_do_not_hold_are_refused(client, issuer, case):
    c, _ = client
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = {
        "expired": lambda: issuer.token("k1", roles=["admin"], expires_in=-120),
        "audience": lambda: issuer.token("k1", roles=["admin"], aud="another-service"),
        "issuer": lambda: issuer.token("k1", roles=["admin"], iss="https://elsewhere.example"),
        "foreign key": lambda: issuer.token("k1", roles=["admin"], key=stranger),
        "no role or cpr": lambda: issuer.token("k1"),
        "garbled": lambda: issuer.token("k1", roles=["admin"])[:-6] + "AAAAAA",
    }[case]()
    answer = c.get("/v1/budget", headers=_bearer(token))
    assert answer.status_code == (403 if case == "no role or cpr" else 401), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if case == "expired":
        assert "expired" in answer.json()["detail"]


def test_the_issuer_rotates_its_key_without_a_restart(client, issuer):
    c, _ = client
    assert c.get("/v1/budget", headers=_bearer(issuer.token("k1", roles=["analyst"]))).status_code == 200
    issuer.new_key("k2")
    del issuer.keys["k1"]
    fetched = issuer.fetches
    assert c.get("/v1/budget", headers=_bearer(issuer.token("k2", roles=["analyst"]))).status_code == 200
    assert issuer.fetches == fetched + 1  # the unknown key id made the server fetch the keys again


def test_a_family_is_bound_to_its_household_through_the_cpr_claim(client, issuer):
    c, ledger = client
    admin = _bearer(issuer.token("k1", roles=["admin"]))
    caseworker = _bearer(issuer.token("k1", sub="cw-1", roles=["caseworker"]))
    c.post("/v1/rule-sets/copenhagen-book-en-plads@1/activate", headers=admin, json={"effective_from": "2020-01-01"})
    household = c.post("/v1/households", headers=caseworker,
                       json={"district": "Nørrebro", "payer": {"cpr": "0101901234", "name": "Ane Hansen"}}).json()["id"]
    other = c.post("/v1/households", headers=caseworker,
                   json={"district": "Nørrebro", "payer": {"cpr": "0202905678"}}).json()["id"]
    family = _bearer(issuer.token("k1", sub="mitid-uuid-42", **{CPR_CLAIM: "0101901234"}))
    mine = c.get(f"/v1/households/{household}", headers=family)
    assert mine.status_code == 200, mine.text
    assert c.get(f"/v1/households/{other}", headers=family).status_code == 404
    stranger = _bearer(issuer.token("k1", **{CPR_CLAIM: "0303903333"}))
    assert c.get(f"/v1/households/{household}", headers=stranger).status_code == 403
    # the CPR number is in no event; the family's actor is the token's pseudonymous subject
    child = c.post("/v1/children", headers=caseworker, json={"household_id": household,
                                                             "birth_date": "2024-03-15"}).json()["id"]
    inst = c.post("/v1/institutions", headers=admin,
                  json={"name": "Solsikken", "district": "Nørrebro", "kind": "integreret"}).json()["id"]
    for group in ("nursery", "kindergarten"):
        c.put(f"/v1/institutions/{inst}/capacity", headers=admin,
              json={"age_group": group, "seats": 10, "effective_from": "2025-01-01"})
    booked = c.post("/v1/bookings", headers=family,
                    json={"child_id": child, "institution_id": inst, "start_date": "2025-08-01"})
    assert booked.status_code == 201, booked.text
    history = c.get(f"/v1/children/{child}/history", headers=family).json()["items"]
    assert [(r["actor"], r["channel"]) for r in history if r["event"] == "PlaceBooked"] == \
        [("mitid-uuid-42", "self_service")]
    for notification in ledger.recorder.select_notifications(start=1, limit=1000):
        assert b"0101901234" not in notification.state and b"010190" not in notification.state


def test_a_cluster_leader_takes_its_cluster_from_a_claim(client, issuer):
    c, _ = client
    admin = _bearer(issuer.token("k1", roles=["admin"]))
    c.post("/v1/rule-sets/copenhagen-book-en-plads@1/activate", headers=admin, json={"effective_from": "2020-01-01"})
    ids = {}
    for name, cluster in (("Mine", "Valby Klynge 1"), ("Theirs", "Valby Klynge 2")):
        ids[name] = c.post("/v1/institutions", headers=admin,
                           json={"name": name, "district": "Valby", "kind": "integreret"}).json()["id"]
        assert c.put(f"/v1/institutions/{ids[name]}/cluster", headers=admin,
                     json={"cluster": cluster, "effective_from": "2025-01-01"}).status_code == 200
    leader = _bearer(issuer.token("k1", sub="leader-3", roles=["cluster_leader"], cluster="Valby Klynge 1"))
    listed = c.get("/v1/institutions", headers=leader)
    assert listed.status_code == 200, listed.text
    assert [r["name"] for r in listed.json()["items"]] == ["Mine"]
    assert c.get(f"/v1/institutions/{ids['Theirs']}", headers=leader).status_code == 404
    assert c.get("/v1/budget", headers=leader).status_code == 403
    for claims in ({}, {"cluster": ""}, {"cluster": ["Valby Klynge 1"]}, {"cluster": "A,B"}):
        nameless = _bearer(issuer.token("k1", roles=["cluster_leader"], **claims))
        answer = c.get("/v1/institutions", headers=nameless)
        assert answer.status_code == 403 and "cluster" in answer.json()["detail"], claims
