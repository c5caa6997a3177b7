"""The chaos run as a benchmark: a fleet of netns test hosts over real SSH, ~40% of them broken
on purpose (unreachable, hanging mid-collection, returning garbage), ~10% hostile, run once
through the real CLI with tight timeouts, next to a reference run of the intact nodes alone.

    python3 bench/bench_chaos.py [--nodes 20] [--faults refused/ssh,stall/ssh,...]
                                 [--connect-timeout 3] [--collect-timeout 8] [--concurrency 8]

Prints nodes, faults injected by kind, results lost (intact nodes whose outcome for some check
and rail differs from the reference run, or is missing), wall time against the timeout budget
(ceil(nodes / concurrency) waves x (connect + collect) + the harness's own overhead), and the
processes the harness left behind. Writes bench/results/chaos.json. The fleet is described in
tests/hardening/chaos.py. Needs root, iproute2, openssh-server, socat (scripts/setup.sh --test).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.lab.addressing import MAX_INDEX, SHARED  # noqa: E402
from tests.hardening.chaos import (DEFAULT_FAULTS, FAULT_BY_KEY, HARNESS_OVERHEAD, ChaosFleet, Timing,  # noqa: E402
                                   lost_results, plan, run_fleet)


MAIN_PID = os.getpid()


def _sigterm(signum, frame):
    if os.getpid() != MAIN_PID:      # a forked helper (pyroute2's netns.create) must not run our cleanup
        os._exit(128 + signum)
    raise KeyboardInterrupt(f"signal {signum}")       # the fleet's cleanup runs on the way out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--faults", default=",".join(DEFAULT_FAULTS),
                    help=f"fault kinds cycled over ~40%% of the nodes; known: {', '.join(FAULT_BY_KEY)}")
    ap.add_argument("--connect-timeout", type=float, default=3.0)
    ap.add_argument("--collect-timeout", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--overhead", type=float, default=HARNESS_OVERHEAD,
                    help="the harness's own allowance in the budget (start-up, evaluation, reports)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "chaos.json"))
    args = ap.parse_args()
    if not 1 <= args.nodes <= MAX_INDEX[SHARED]:
        ap.error(f"--nodes must be 1..{MAX_INDEX[SHARED]} (the lab's address plan)")
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = [f for f in faults if f not in FAULT_BY_KEY]
    if unknown:
        ap.error(f"unknown fault(s) {unknown}; known: {', '.join(FAULT_BY_KEY)}")
    timing = Timing(args.connect_timeout, args.collect_timeout, args.concurrency, args.overhead)
    signal.signal(signal.SIGTERM, _sigterm)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rpf-bench-chaos-") as tmp, \
            ChaosFleet(plan(args.nodes, faults)) as fleet:
        build = time.monotonic() - t0
        reference = run_fleet(fleet, fleet.intact, Path(tmp) / "reference", timing)
        run = run_fleet(fleet, fleet.nodes, Path(tmp) / "chaos", timing)
        doc = run.doc
        lost = lost_results(run, reference, fleet.intact)
        listed = {n["name"] for n in doc["nodes"]}
        missing = [n.name for n in fleet.nodes if n.name not in listed]
        broken = []
        for n in fleet.broken:
            entry = run.node_entry(n.name)
            broken.append({"node": n.name, "kind": n.kind, "backend": n.backend, "class": n.fault_class,
                           "status": entry["status"], "seconds": entry["collect_seconds"], "reason": entry["error"]})
        unexplained = [b["node"] for b in broken if b["status"] != "error" or not b["reason"]]
        slowest = max((n["collect_seconds"] or 0) for n in doc["nodes"])
        row = {
            "nodes": len(fleet.nodes), "intact": len(fleet.intact),
            "healthy": sum(n.role == "healthy" for n in fleet.nodes),
            "hostile": sum(n.role == "hostile" for n in fleet.nodes),
            "faults": len(fleet.broken), "faults_by_kind": fleet.faults_by_kind(),
            "faults_by_class": dict(Counter(n.fault_class for n in fleet.broken)),
            "results_compared": sum(len(reference.outcomes(n.name)) for n in fleet.intact),
            "results_lost": len(lost), "lost": lost, "nodes_missing": missing,
            "broken_without_reason": unexplained,
            "wall_seconds": round(run.wall, 2), "budget_seconds": timing.budget(len(fleet.nodes)),
            "ratio": round(run.wall / timing.budget(len(fleet.nodes)), 3),
            "slowest_node_seconds": round(slowest, 2), "node_bound_seconds": timing.node_bound(),
            "reference_wall_seconds": round(reference.wall, 2), "build_seconds": round(build, 1),
            "exit_code": run.rc, "leftover_processes": run.leftovers + reference.leftovers,
            "harness_peak_rss_mb": run.peak_rss_mb,
            "timeouts": {"connect": timing.connect, "collect": timing.collect, "concurrency": timing.concurrency,
                         "overhead": timing.overhead},
            "broken": broken,
        }
    _print(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=1, ensure_ascii=False) + "\n")
    ok = (not lost and not missing and not unexplained and run.wall < row["budget_seconds"]
          and not row["leftover_processes"])
    return 0 if ok else 1


def _print(r: dict) -> None:
    kinds = ", ".join(f"{k} {v}" for k, v in r["faults_by_kind"].items())
    print(f"{'nodes':<22} {r['nodes']} ({r['healthy']} healthy, {r['hostile']} hostile, {r['faults']} faults)")
    print(f"{'faults injected':<22} {kinds}")
    print(f"{'faults by class':<22} " + ", ".join(f"{k} {v}" for k, v in r["faults_by_class"].items()))
    print(f"{'results lost':<22} {r['results_lost']} of {r['results_compared']} (intact nodes vs their reference run)")
    print(f"{'nodes missing':<22} {len(r['nodes_missing'])}; broken nodes without a reason: "
          f"{len(r['broken_without_reason'])}")
    print(f"{'wall time':<22} {r['wall_seconds']:.1f} s (reference run of the intact nodes: "
          f"{r['reference_wall_seconds']:.1f} s)")
    print(f"{'timeout budget':<22} {r['budget_seconds']:.1f} s = {r['timeouts']['overhead']:g} + "
          f"ceil({r['nodes']}/{r['timeouts']['concurrency']}) x ({r['timeouts']['connect']:g} + "
          f"{r['timeouts']['collect']:g})")
    print(f"{'ratio':<22} {r['ratio']:.2f}")
    print(f"{'slowest node':<22} {r['slowest_node_seconds']:.1f} s (allowance {r['node_bound_seconds']:g} s)")
    print(f"{'leftover processes':<22} {len(r['leftover_processes'])}")
    print(f"{'harness peak memory':<22} {r['harness_peak_rss_mb']:.0f} MB (max RSS of the harness process)")
    print()
    print(f"{'broken node':<24} {'class':<12} {'s':>5}  reason")
    for b in r["broken"]:
        print(f"{b['node']:<24} {b['class']:<12} {b['seconds'] or 0:>5.1f}  {(b['reason'] or '')[:90]!r}")


if __name__ == "__main__":
    sys.exit(main())
