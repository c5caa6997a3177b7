"""Bandwidth orchestration at fleet size on the Kubernetes API double: rounds, wall time,
API calls per pair, ring vs tournament, and the overhead per round beyond perftest's ``-D``.

    python3 bench/bench_bandwidth.py                       # 64 nodes x 8 rails, ring and tournament
    python3 bench/bench_bandwidth.py --nodes 16 --standin 0.2 --strategies ring

What is real: the ``kubernetes`` client, HTTP and WebSocket exec against the API double
(tests/kube_double), pod create/watch/delete, the runner's threads, rounds and parsing.
What is a double: the API server (run in its own process, as an API server would be), pods
without netns, exec answers from the PerftestDouble of tests/bandwidth/doubles.py (the
driver's protocol with perftest's text); each ``run`` exec sleeps ``--standin`` seconds,
standing in for ``-D``. The overhead per round is the round's wall time minus that. Prints
a table and writes bench/results/bandwidth.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client, watch  # noqa: E402,F401
from kubernetes.stream import stream  # noqa: E402,F401

client.CoreV1Api  # noqa: B018 - loads the API and models up front (seconds), outside the timings

from rdma_preflight.bandwidth.pods import run_kubernetes  # noqa: E402
from rdma_preflight.bandwidth.runner import RunConfig  # noqa: E402
from tests.bandwidth.conftest import build_lab, make_profile  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def serve_lab(conn, names: list[str], rails: int, standin: float) -> None:
    """Child process: the API double with the lab's nodes and doubles, until told to stop."""
    double, lab = build_lab(names, rails, netns=False, run_seconds=standin)
    try:
        conn.send((double.url, double.token))
        conn.recv()                                     # clear the call record
        double.clear_calls()
        conn.send("ok")
        conn.recv()                                     # stop: report what the double saw
        verbs: dict[str, int] = {}
        for call in double.calls:
            verbs[call.verb] = verbs.get(call.verb, 0) + 1
        conn.send({"api_calls": verbs, "problems": lab.perftest.problems[:5], "errors": double.errors[:5]})
    finally:
        double.stop()


def one(nodes: int, rails: int, strategy: str, standin: float) -> dict:
    names = [f"node-{i:03d}" for i in range(1, nodes + 1)]
    parent, child = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=serve_lab, args=(child, names, rails, standin))
    proc.start()
    try:
        url, token = parent.recv()
        cfg_api = client.Configuration(host=url)
        cfg_api.api_key = {"BearerToken": token}
        cfg_api.api_key_prefix = {"BearerToken": "Bearer"}
        api = client.ApiClient(cfg_api)
        profile = make_profile(rails, duration=1, strategy=strategy)
        cfg = RunConfig.from_profile(profile)
        parent.send("clear")
        parent.recv()
        t0 = time.perf_counter()
        report = run_kubernetes(api, profile, names, config=cfg, ready_timeout=60)
        wall = time.perf_counter() - t0
        api.close()
        parent.send("stop")
        seen = parent.recv()
    finally:
        proc.join(timeout=60)
    calls = seen["api_calls"]
    rounds = [r for r in report.rounds if not r.retest]
    overhead = [r.seconds - standin for r in rounds]
    pairs = sum(len(r.jobs) for r in rounds)               # (src, dst) jobs: one direction, all rails
    in_rounds = sum(r.seconds for r in report.rounds)
    return {
        "nodes": nodes, "rails": rails, "strategy": strategy, "standin_seconds": standin,
        "rounds": len(rounds), "retest_rounds": len(report.rounds) - len(rounds),
        "flows": len(report.verdicts), "failing": sum(v.outcome != "pass" for v in report.verdicts.values()),
        "wall_seconds": round(wall, 2), "setup_teardown_seconds": round(wall - in_rounds, 2),
        "setup_teardown": {k: round(v, 2) for k, v in report.timings.items()},
        "round_seconds_mean": round(statistics.mean(r.seconds for r in rounds), 3),
        "overhead_per_round_mean": round(statistics.mean(overhead), 3),
        "overhead_per_round_max": round(max(overhead), 3),
        "phases_mean": {k: round(statistics.mean(r.phases.get(k, 0.0) for r in rounds), 3)
                        for k in ("serve", "run", "collect")},
        "api_calls": dict(sorted(calls.items())), "api_calls_total": sum(calls.values()),
        "api_calls_per_pair": round(sum(calls.values()) / pairs, 2),
        "exec_per_pair": round(calls.get("exec", 0) / pairs, 2),
        "problems": seen["problems"], "double_errors": seen["errors"],
    }


def table(rows: list[dict]) -> str:
    head = ("strategy", "nodes", "rails", "rounds", "flows", "wall s", "setup+teardown s", "round s",
            "overhead/round s (mean/max)", "API calls", "calls/pair", "execs/pair")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        lines.append(" | ".join(str(x) for x in (
            r["strategy"], r["nodes"], r["rails"], r["rounds"], r["flows"], r["wall_seconds"],
            r["setup_teardown_seconds"], r["round_seconds_mean"],
            f"{r['overhead_per_round_mean']}/{r['overhead_per_round_max']}", r["api_calls_total"],
            r["api_calls_per_pair"], r["exec_per_pair"])))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--rails", type=int, default=8)
    ap.add_argument("--standin", type=float, default=0.5, help="seconds each run exec sleeps (stands in for -D)")
    ap.add_argument("--strategies", nargs="+", default=["ring", "tournament"])
    args = ap.parse_args()
    rows = [one(args.nodes, args.rails, s, args.standin) for s in args.strategies]
    print(table(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bandwidth.json"
    out.write_text(json.dumps({"bench": "bandwidth", "python": sys.version.split()[0], "runs": rows}, indent=1) + "\n")
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 0 if all(r["failing"] == 0 and not r["problems"] and not r["double_errors"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
