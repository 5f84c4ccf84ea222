"""OpenID Connect bearer tokens (JWT), validated against the issuer's published keys.

Configured by PLADS_OIDC_ISSUER (its `/.well-known/openid-configuration` names the JWKS) and
PLADS_OIDC_AUDIENCE. PyJWT checks the signature, `exp`, `iss` and `aud`; its JWKS client keeps
the keys cached and fetches them again when a token names a key id it does not know, so the
issuer can rotate keys without a restart.

Staff take their role from a claim (PLADS_OIDC_ROLE_CLAIM, default `roles`); a cluster leader
(role `cluster_leader`) takes its cluster from PLADS_OIDC_CLUSTER_CLAIM (default `cluster`). A family has no staff
role: the MitID broker's CPR claim (PLADS_OIDC_CPR_CLAIM) is looked up in the person registry and
binds the token to that person's household. The CPR number is used for that look-up only: never
logged, never put in an event (the actor is the token's pseudonymous `sub`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from typing import Any, Callable

import jwt

from api.auth import STAFF, AuthError, Principal, cluster_name

logger = logging.getLogger("plads.oidc")

# The CPR claim of the Danish OIDC profile (OIO OIDC) that MitID brokers send.
CPR_CLAIM = "https://data.gov.dk/model/core/eid/cprNumber"
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
LEEWAY_SECONDS = 30


class OidcVerifier:
    def __init__(self, issuer: str, audience: str, *, household_of_cpr: Callable[[str], str | None],
                 role_claim: str = "roles", cpr_claim: str = CPR_CLAIM, timeout: float = 5.0,
                 refetch_after: float = 30.0, cluster_claim: str = "cluster") -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.role_claim = role_claim
        self.cpr_claim = cpr_claim
        self.cluster_claim = cluster_claim
        self.timeout = timeout
        # An unknown key id fetches the keys again, at most once per `refetch_after` seconds (so tokens
        # with made-up key ids cannot make this server hammer the issuer).
        self.refetch_after = refetch_after
        self._household_of_cpr = household_of_cpr
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, household_of_cpr: Callable[[str], str | None],
                         env: dict[str, str] | None = None) -> "OidcVerifier | None":
        env = dict(os.environ if env is None else env)
        issuer = env.get("PLADS_OIDC_ISSUER")
        if not issuer:
            return None
        audience = env.get("PLADS_OIDC_AUDIENCE")
        if not audience:
            raise ValueError("PLADS_OIDC_ISSUER is set but PLADS_OIDC_AUDIENCE is not: tokens must name this service")
        return cls(issuer, audience, household_of_cpr=household_of_cpr,
                   role_claim=env.get("PLADS_OIDC_ROLE_CLAIM", "roles"),
                   cpr_claim=env.get("PLADS_OIDC_CPR_CLAIM", CPR_CLAIM),
                   cluster_claim=env.get("PLADS_OIDC_CLUSTER_CLAIM", "cluster"),
                   refetch_after=float(env.get("PLADS_OIDC_REFETCH_SECONDS", "30")))

    def _client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                try:
                    with urllib.request.urlopen(url, timeout=self.timeout) as answer:  # noqa: S310 - configured URL
                        config = json.load(answer)
                except (OSError, ValueError):
                    raise AuthError(503, "the identity provider cannot be reached; try again shortly") from None
                if config.get("issuer", "").rstrip("/") != self.issuer or not config.get("jwks_uri"):
                    raise AuthError(503, "the identity provider's configuration does not match PLADS_OIDC_ISSUER")
                self._jwks = jwt.PyJWKClient(config["jwks_uri"], cache_keys=True, lifespan=300,
                                             timeout=self.timeout, cooldown_duration=self.refetch_after)
            return self._jwks

    def claims(self, token: str) -> dict[str, Any]:
        try:
            key = self._client().get_signing_key_from_jwt(token).key
            return jwt.decode(token, key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                              leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(401, "the token is not issued for this service") from None
        except jwt.PyJWKClientConnectionError:
            raise AuthError(503, "the identity provider's keys cannot be fetched; try again shortly") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise AuthError(401, "the token is not valid") from None

    def principal(self, token: str) -> Principal:
        claims = self.claims(token)
        actor = claims["sub"]
        if not isinstance(actor, str) or not 0 < len(actor) <= 200 or not actor.isprintable():
            raise AuthError(401, "the token's subject is not usable as an actor")
        raw = claims.get(self.role_claim) or []
        roles = {raw} if isinstance(raw, str) else set(raw) if isinstance(raw, list) else set()
        staff = sorted(roles & {*STAFF, "cluster_leader"})
        if len(staff) > 1:
            raise AuthError(403, f"the token carries several roles ({', '.join(staff)}); use one per token")
        if staff == ["cluster_leader"]:
            cluster = cluster_name(claims.get(self.cluster_claim))
            if cluster is None:
                raise AuthError(403, f"a cluster leader's token names its cluster in the claim {self.cluster_claim!r}")
            return Principal(actor, "cluster_leader", cluster=cluster)
        if staff:
            return Principal(actor, staff[0])
        cpr = claims.get(self.cpr_claim)
        if not isinstance(cpr, str) or not cpr:
            raise AuthError(403, "the token carries neither a staff role nor a CPR number")
        household = self._household_of_cpr(cpr)
        if household is None:
            raise AuthError(403, "no household in this municipality's ledger belongs to the signed-in person")
        return Principal(actor, "family", household)
