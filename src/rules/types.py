"""The small closed vocabularies the rules speak in."""

from __future__ import annotations

from typing import Literal, get_args

AgeGroup = Literal["nursery", "kindergarten"]
Pool = Literal["general", "basis", "special"]
Channel = Literal["self_service", "caseworker", "system", "import"]
InstitutionKind = Literal["vuggestue", "boernehave", "integreret", "dagpleje"]
Policy = Literal["waitinglist", "book-en-plads"]

AGE_GROUPS: tuple[str, ...] = get_args(AgeGroup)
POOLS: tuple[str, ...] = get_args(Pool)
CHANNELS: tuple[str, ...] = get_args(Channel)
INSTITUTION_KINDS: tuple[str, ...] = get_args(InstitutionKind)
POLICIES: tuple[str, ...] = get_args(Policy)

# Bek. nr. 2058 af 15/11/2021 § 2: the subsidies of DTL § 43 stk. 1 nr. 1-4 are computed in
# this order. The rule data repeats it (with its source) and is checked against it.
SUBSIDY_ORDER = (
    "okonomisk_friplads",
    "soeskendetilskud",
    "behandlingsmaessig_friplads",
    "socialpaedagogisk_friplads",
)
