"""Bearer tokens from PLADS_API_TOKENS (`actor:role:token`, comma-separated) and roles.

Tokens are compared in constant time, against every configured token, so neither a
token's content nor its position in the list shows in the response time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Callable

from fastapi import Request

ROLES = ("caseworker", "auditor", "analyst", "admin")


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str


class AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def parse_tokens(text: str | None) -> list[tuple[bytes, Principal]]:
    """`actor:role:token,...` → tokens; a malformed entry is an error naming it (never the token)."""
    out = []
    for n, entry in enumerate((text or "").split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"PLADS_API_TOKENS entry {n} is not actor:role:token")
        actor, role, token = parts
        if role not in ROLES:
            raise ValueError(f"PLADS_API_TOKENS entry {n} has role {role!r}; roles: {', '.join(ROLES)}")
        if len(token) < 8:
            raise ValueError(f"PLADS_API_TOKENS entry {n}: a token needs at least 8 characters")
        out.append((token.encode(), Principal(actor, role)))
    return out


class Tokens:
    def __init__(self, tokens: list[tuple[bytes, Principal]]) -> None:
        self._tokens = tokens

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError(401, "send Authorization: Bearer <token>")
        given = authorization[7:].strip().encode()
        found = None
        for token, principal in self._tokens:
            if hmac.compare_digest(given, token) and found is None:
                found = principal
        if found is None:
            raise AuthError(401, "the token is not valid")
        return found


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency: the caller's principal, if its role is one of `roles` (else 401/403)."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        principal = request.app.state.tokens.principal(request.headers.get("authorization"))
        if principal.role not in allowed:
            raise AuthError(403, f"the role {principal.role} may not do this; it needs one of: "
                                 f"{', '.join(sorted(allowed))}")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the role-table test and docs
    return dependency


EVERYONE = ("caseworker", "auditor", "analyst", "admin")
PERSON_LEVEL = ("caseworker", "auditor", "admin")  # never analysts
