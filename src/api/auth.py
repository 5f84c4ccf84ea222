"""Who is asking: bearer tokens from PLADS_API_TOKENS, or OpenID Connect tokens (api/oidc.py).

PLADS_API_TOKENS is a comma-separated list of `actor:role:token`; a family's entry carries
its household as a fourth field, `actor:family:token:household_id`, and a cluster leader's its
cluster (klynge), `actor:cluster_leader:token:cluster`. Tokens are compared in
constant time, against every configured token, so neither a token's content nor its
position in the list shows in the response time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable
from uuid import UUID

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError

from ledger.commands import ClusterName

if TYPE_CHECKING:
    from api.oidc import OidcVerifier

STAFF = ("caseworker", "auditor", "analyst", "admin")
ROLES = STAFF + ("family", "cluster_leader")
# The channel a role's commands carry into their events.
CHANNEL = {"caseworker": "caseworker", "admin": "system", "family": "self_service"}


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str
    household_id: str | None = None  # a family's own household: it sees and acts for nothing else
    cluster: str | None = None  # a cluster leader's own cluster: it sees no other institution

    @property
    def channel(self) -> str:
        return CHANNEL.get(self.role, "system")

    @property
    def is_family(self) -> bool:
        return self.role == "family"


class AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _entry(n: int, entry: str) -> tuple[bytes, Principal]:
    parts = entry.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"PLADS_API_TOKENS entry {n} is not actor:role:token")
    actor, role, token = parts
    if role not in ROLES:
        raise ValueError(f"PLADS_API_TOKENS entry {n} has role {role!r}; roles: {', '.join(ROLES)}")
    household = None
    if role == "family":
        token, _, household = token.rpartition(":")
        try:
            household = str(UUID(household))
        except ValueError:
            raise ValueError(f"PLADS_API_TOKENS entry {n}: a family token is actor:family:token:household_id "
                             "(the household's id, a UUID)") from None
    cluster = None
    if role == "cluster_leader":
        token, _, cluster = token.rpartition(":")
        cluster = cluster_name(cluster)
        if cluster is None:
            raise ValueError(f"PLADS_API_TOKENS entry {n}: a cluster leader's token is actor:cluster_leader:token:cluster "
                             "(the cluster's name, as assigned to its institutions)")
    if len(token) < 8:
        raise ValueError(f"PLADS_API_TOKENS entry {n}: a token needs at least 8 characters")
    return token.encode(), Principal(actor, role, household, cluster)


_CLUSTER = TypeAdapter(ClusterName)


def cluster_name(text: object) -> str | None:
    """A cluster's name as the ledger keeps it (trimmed, NFC), or None when it cannot be one."""
    try:
        return _CLUSTER.validate_python(text)
    except ValidationError:
        return None


def parse_tokens(text: str | None) -> list[tuple[bytes, Principal]]:
    """`actor:role:token[:household_id],...` → tokens; a malformed entry is an error naming it (never the token)."""
    return [_entry(n, entry.strip()) for n, entry in enumerate((text or "").split(","), start=1) if entry.strip()]


def _looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


class Tokens:
    def __init__(self, tokens: list[tuple[bytes, Principal]], oidc: "OidcVerifier | None" = None) -> None:
        self._tokens = tokens
        self.oidc = oidc

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError(401, "send Authorization: Bearer <token>")
        text = authorization[7:].strip()
        if self.oidc is not None and _looks_like_jwt(text):
            return self.oidc.principal(text)
        given = text.encode()
        found = None
        for token, principal in self._tokens:
            if hmac.compare_digest(given, token) and found is None:
                found = principal
        if found is None:
            raise AuthError(401, "the token is not valid")
        return found

    def may_block(self, authorization: str | None) -> bool:
        """Whether checking this header may wait on I/O: an OIDC token may fetch the provider's keys
        and look its person up in the ledger; a configured token is compared in memory."""
        return self.oidc is not None and bool(authorization) and _looks_like_jwt(authorization[7:].strip())


def require(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller's principal, if its role is one of `roles` (else 401/403)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        # Async, so a configured token costs no hand-off to the thread pool; one that may block goes there.
        tokens, header = request.app.state.tokens, request.headers.get("authorization")
        principal = (await run_in_threadpool(tokens.principal, header) if tokens.may_block(header)
                     else tokens.principal(header))
        if principal.role not in allowed:
            raise AuthError(403, f"the role {principal.role} may not do this; it needs one of: "
                                 f"{', '.join(sorted(allowed))}")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the role-table test and docs
    return dependency


EVERYONE = STAFF
PERSON_LEVEL = ("caseworker", "auditor", "admin")  # never analysts
