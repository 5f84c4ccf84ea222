"""HTTP latency and throughput of `plads serve` at 1, 8 and 32 concurrent clients.

The ledger is seeded through the bulk path (institutions with room, households and
children); then `plads serve` starts on loopback and a load generator — a separate
process — runs each level for a bounded time. Each client alternates a booking
(`POST /v1/bookings`, a fresh child each time) and an occupancy read
(`GET /v1/occupancy?institution_id=`). Reported: requests/s, p50 and p99 latency, and
any answer that is neither 2xx nor an expected 409.

    python bench/api_load.py --database URL [--seconds 10] [--levels 1,8,32]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from typing import Iterator

TOKEN = "bench-load-token"


def seed(database_url: str, children: int, institutions: int = 40) -> tuple[list[str], list[str]]:
    from ledger import Ledger, SimulatedClock
    from ledger import commands as c

    kids, insts = [], []
    with Ledger(database_url, clock=SimulatedClock(date(2025, 1, 6))) as ledger:
        with ledger.bulk(actor="bench", channel="system", batch_size=500) as bulk:
            bulk.execute(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=date(2025, 1, 1)))
            for i in range(institutions):
                inst = bulk.execute(c.RegisterInstitution(name=f"Load {i}", district="Valby", kind="integreret"))["id"]
                for group in ("nursery", "kindergarten"):
                    bulk.execute(c.ChangeCapacity(institution_id=inst, age_group=group, seats=min(children, 10_000),
                                                  effective_from=date(2025, 1, 1)))
                insts.append(inst)
            for k in range(children):
                hh = bulk.execute(c.RegisterHousehold(district="Valby"))["id"]
                kids.append(bulk.execute(c.RegisterChild(household_id=hh, birth_date=date(2024, 1 + k % 10, 10)))["id"])
    return kids, insts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_process(base: str, clients: int, seconds: float, children: list[str], insts: list[str]) -> dict:
    """The load generator's body (runs in its own process)."""
    import httpx

    latencies: list[float] = []
    unexpected: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    share = len(children) // clients

    def run(n: int) -> None:
        mine = children[n * share:(n + 1) * share]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            i = 0
            while time.monotonic() < deadline:
                inst = insts[(n + i) % len(insts)]
                t = time.perf_counter()
                if i % 2 == 0 and i // 2 < len(mine):
                    r = http.post("/v1/bookings", json={"child_id": mine[i // 2], "institution_id": inst,
                                                        "start_date": "2025-06-01"})
                else:
                    r = http.get("/v1/occupancy", params={"institution_id": inst})
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if not (200 <= r.status_code < 300 or r.status_code == 409):
                        unexpected.append(r.status_code)
                i += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0] if ms else 0.0] * 99
    return {"clients": clients, "requests": len(ms), "rps": len(ms) / elapsed, "p50_ms": q[49], "p99_ms": q[98],
            "unexpected": len(unexpected), "unexpected_codes": sorted(set(unexpected))}


def run(database_url: str, seconds: float, levels: list[int], children_per_level: int = 4000,
        workers: int = 1) -> Iterator[dict]:
    """Each level's figures as soon as it is done (the server runs until the last one)."""
    kids, insts = seed(database_url, children_per_level * len(levels))
    port = _free_port()
    env = {**os.environ, "PLADS_API_TOKENS": f"bench:caseworker:{TOKEN}"}
    server = subprocess.Popen([sys.executable, "-m", "replay.cli", "serve", "--database", database_url,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        for n, clients in enumerate(levels):
            mine = kids[n * children_per_level:(n + 1) * children_per_level]
            out = subprocess.run([sys.executable, __file__, "--client", base, "--clients", str(clients),
                                  "--seconds", str(seconds)], input=json.dumps({"children": mine, "insts": insts}),
                                 capture_output=True, text=True, timeout=seconds + 120)
            if out.returncode != 0:
                raise SystemExit(f"load generator failed: {out.stderr[-1000:]}")
            yield json.loads(out.stdout)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_healthy(base: str, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"plads serve exited: {server.stderr.read().decode()[-1000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("plads serve did not become healthy within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--workers", type=int, default=1, help="`plads serve` worker processes")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the load generator's own process
    parser.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        work = json.loads(sys.stdin.read())
        print(json.dumps(client_process(args.client, args.clients, args.seconds, work["children"], work["insts"])))
        return
    if not args.database:
        raise SystemExit("give --database URL")
    print("| clients | requests | requests/s | p50 ms | p99 ms | unexpected answers |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in run(args.database, args.seconds, [int(x) for x in args.levels.split(",")], workers=args.workers):
        print(f"| {r['clients']} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['unexpected']} {r['unexpected_codes'] or ''} |")


if __name__ == "__main__":
    main()
