"""HTTP latency and throughput of `plads serve` at 1, 8 and 32 concurrent clients.

The ledger is seeded through the bulk path (institutions with room, households and
children); then `plads serve` starts on loopback and a load generator — a separate
process — runs each level for a bounded time. Each client alternates a booking
(`POST /v1/bookings`, a fresh child each time) and an occupancy read
(`GET /v1/occupancy?institution_id=`). Reported: requests/s, p50 and p99 latency, any
answer that is neither 2xx nor an expected 409, and the CPU each request cost the server,
PostgreSQL (its processes on this machine) and the load generator — at that cost the
machine's cores allow at most cores ÷ CPU per request requests/s, whatever the latency.

A level is N clients (`32`): closed loop, each sends its next request as soon as the last is
answered — the server's saturation, where latency is N ÷ throughput (Little's law). Or N users
with a think time (`32@1000`): each waits that many ms after an answer before its next request
(the first after a random part of it, so the users do not move in step) — latency at a load
below saturation, as N caseworkers at their screens would meet it. Each level's offered load
shows as its requests/s.

    python bench/api_load.py --database URL [--seconds 10] [--levels 1,8,32,32@1000]
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
from pathlib import Path
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


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each of these processes so far (Linux /proc; left out when it is gone)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)
    return found


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at both: one that exited in between
    (another client's backend) would otherwise count its whole life as negative time."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _processes(parent: int | None = None, named: str | None = None) -> list[int]:
    """`parent` and its descendants, or the processes whose command is `named`."""
    found: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        found[int(stat.parent.name)] = (int(tail.split()[1]), head.split("(", 1)[1])
    if named is not None:
        return [pid for pid, (_, comm) in found.items() if comm == named]
    tree, grew = {parent}, True
    while grew:
        more = {pid for pid, (ppid, _) in found.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_levels(text: str) -> list[tuple[int, float]]:
    """"1,8,32,32@1000" -> [(1, 0), (8, 0), (32, 0), (32, 1000)]: clients and think time in ms."""
    levels = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        clients, _, think = part.partition("@")
        try:
            levels.append((int(clients), float(think or 0)))
        except ValueError:
            raise SystemExit(f"bench: a level is CLIENTS or CLIENTS@THINK_MS, not {part!r}") from None
        if levels[-1][0] < 1 or levels[-1][1] < 0:
            raise SystemExit(f"bench: a level needs at least one client and a think time >= 0, not {part!r}")
    return levels


def level_name(level: dict) -> str:
    think = level.get("think_ms") or 0
    return f"{level['clients']}" if not think else f"{level['clients']} users, {think:,.0f} ms think"


def client_process(base: str, clients: int, seconds: float, children: list[str], insts: list[str],
                   think_ms: float = 0.0) -> dict:
    """The load generator's body (runs in its own process)."""
    import random

    import httpx

    latencies: list[float] = []
    unexpected: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    share = len(children) // clients

    def run(n: int) -> None:
        mine = children[n * share:(n + 1) * share]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        pause = random.Random(n)  # a fixed stream per user: runs stay comparable
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            i = 0
            if think_ms:
                time.sleep(pause.uniform(0, think_ms) / 1000)
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
                if think_ms:
                    time.sleep(min(think_ms / 1000, max(deadline - time.monotonic(), 0)))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    cpu = time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0] if ms else 0.0] * 99
    return {"clients": clients, "think_ms": think_ms, "requests": len(ms), "rps": len(ms) / elapsed,
            "p50_ms": q[49], "p99_ms": q[98],
            "unexpected": len(unexpected), "unexpected_codes": sorted(set(unexpected)), "client_cpu_s": cpu}


def run(database_url: str, seconds: float, levels: list[tuple[int, float]], children_per_level: int = 4000,
        workers: int = 1, separate_follower: bool = False) -> Iterator[dict]:
    """Each level's figures as soon as it is done (the server runs until the last one); a level is
    (clients, think time in ms). `separate_follower`: `plads serve --no-follow` and a `plads project
    --follow` process beside it, whose CPU counts as the server's."""
    kids, insts = seed(database_url, children_per_level * len(levels))
    port = _free_port()
    env = {**os.environ, "PLADS_API_TOKENS": f"bench:caseworker:{TOKEN}"}
    cli = [sys.executable, "-m", "replay.cli"]
    server = subprocess.Popen([*cli, "serve", "--database", database_url, "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(workers), *(["--no-follow"] if separate_follower else [])], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    follower = (subprocess.Popen([*cli, "project", "--follow", "--database", database_url], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if separate_follower else None)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        for n, (clients, think_ms) in enumerate(levels):
            mine = kids[n * children_per_level:(n + 1) * children_per_level]
            # CPU spent per request by the server (its processes), PostgreSQL (its processes on this
            # machine; none when the server is elsewhere) and the load generator: at that cost the
            # machine's cores allow at most cores ÷ CPU per request requests/s.
            server_pids = _processes(parent=server.pid) + (_processes(parent=follower.pid) if follower else [])
            postgres_pids = _processes(named="postgres") if database_url.startswith("postgres") else []
            before = _cpu_seconds(server_pids), _cpu_seconds(postgres_pids)
            out = subprocess.run([sys.executable, __file__, "--client", base, "--clients", str(clients),
                                  "--seconds", str(seconds), "--think-ms", str(think_ms)],
                                 input=json.dumps({"children": mine, "insts": insts}),
                                 capture_output=True, text=True, timeout=seconds + 120)
            if out.returncode != 0:
                raise SystemExit(f"load generator failed: {out.stderr[-1000:]}")
            level = json.loads(out.stdout)
            server_s = _spent(before[0], _cpu_seconds(server_pids))
            postgres_s = _spent(before[1], _cpu_seconds(postgres_pids))
            per = 1000 / max(level["requests"], 1)
            level["cpu_ms_per_request"] = {"server": server_s * per, "postgresql": postgres_s * per,
                                           "load_generator": level.pop("client_cpu_s") * per}
            total_ms = sum(level["cpu_ms_per_request"].values())
            level["cpu_bound_rps"] = (os.cpu_count() or 1) * 1000 / total_ms if total_ms else None
            yield level
    finally:
        for process in (server, follower):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


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
    parser.add_argument("--levels", default="1,8,32,32@1000",
                        help="clients per level, closed loop (N) or with a think time in ms (N@MS)")
    parser.add_argument("--workers", type=int, default=1, help="`plads serve` worker processes")
    parser.add_argument("--separate-follower", action="store_true",
                        help="serve with --no-follow and run `plads project --follow` beside it")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the load generator's own process
    parser.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--think-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        work = json.loads(sys.stdin.read())
        print(json.dumps(client_process(args.client, args.clients, args.seconds, work["children"], work["insts"],
                                        args.think_ms)))
        return
    if not args.database:
        raise SystemExit("give --database URL")
    print(f"| clients | requests | requests/s | p50 ms | p99 ms | unexpected answers | {CPU_COLUMNS} |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in run(args.database, args.seconds, parse_levels(args.levels), workers=args.workers,
                 separate_follower=args.separate_follower):
        print(f"| {level_name(r)} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['unexpected']} {r['unexpected_codes'] or ''} | {cpu_cells(r)} |")


CPU_COLUMNS = "CPU ms per request: server / PostgreSQL / load generator | requests/s the cores allow at that cost"


def cpu_cells(level: dict) -> str:
    c, bound = level["cpu_ms_per_request"], level["cpu_bound_rps"]
    allowed = f"{bound:,.0f}" if bound else "n/a"
    return f"{c['server']:.1f} / {c['postgresql']:.1f} / {c['load_generator']:.1f} | {allowed}"


if __name__ == "__main__":
    main()
