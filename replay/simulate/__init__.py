"""The synthetic Copenhagen: a city, its families and their daycare, through the real commands.

    from replay.simulate import simulate
    report = simulate(ledger, years=3, scale=0.25, seed=1, policy="book-en-plads")

The ledger must carry a SimulatedClock; the simulation starts on its day (or the
parameters' start, if later). See docs/simulator.md and params.toml.
"""

from __future__ import annotations

from typing import Callable

from ledger import Ledger
from replay.simulate.behaviour import RULE_SETS, Simulation, SimulationReport, policy_rule_set
from replay.simulate.params import Params, load_params

POLICIES = tuple(RULE_SETS)


def simulate(ledger: Ledger, *, years: float, scale: float, seed: int, policy: str,
             progress: Callable[[int, int], None] | None = None, params: Params | None = None) -> SimulationReport:
    """Simulate `years` of the city at `scale` under `policy` ("book-en-plads" or
    "waitinglist"), writing every fact to `ledger` through its bulk path. Deterministic
    for a seed: the same seed on an empty ledger gives the same events, in the same order."""
    sim = Simulation(ledger, params or load_params(), years=years, scale=scale, seed=seed, policy=policy,
                     progress=progress)
    return sim.simulate()


__all__ = ["POLICIES", "Params", "SimulationReport", "load_params", "policy_rule_set", "simulate"]
