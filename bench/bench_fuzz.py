"""A longer fuzz campaign over every parser entry point (the CI suite runs a short one).

    python3 bench/bench_fuzz.py [--examples 2000] [--seed N] [--only ibstat.parse ...]

Uses the same seeds and mutations as tests/hardening/test_fuzz_parsers.py (tests/hardening/
fuzzlib.py). A crash is any exception other than ParseError, or a ParseError that does not
name the parser's tool and a line of the input; crashes are counted, not stopped at, and the
distinct ones (exception and first message) are listed. Also runs each parser on the thorough
5 MB / 100k-line inputs and on every seed line stretched every way (a blank run inside and
after each word, each word repeated), counting inputs still running after 20 s (a regex that
backtracks) as crashes. Prints a table and writes bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import given, seed, settings  # noqa: E402

from tests.hardening.fuzzlib import (FUZZ_SETTINGS, TARGETS, Target, check_outcome, fuzzed_input,  # noqa: E402
                                     huge_inputs, stretched_inputs)

RESULTS = ROOT / "bench" / "results" / "fuzz.json"


def campaign(target: Target, examples: int, rng_seed: int | None) -> dict:
    """Run ``examples`` fuzzed inputs through one parser; count runs and contract breaks."""
    runs = 0
    crashes: dict[str, dict] = {}

    @settings(FUZZ_SETTINGS, max_examples=examples, derandomize=rng_seed is None)
    @given(fuzzed_input(target.seeds))
    def one(data):
        nonlocal runs
        runs += 1
        problem = check_outcome(target, data)
        if problem:
            entry = crashes.setdefault(problem.split(":", 1)[0], {"problem": problem, "count": 0,
                                                                   "example": repr(data[:300])})
            entry["count"] += 1

    if rng_seed is not None:
        one = seed(rng_seed)(one)
    t0 = time.perf_counter()
    one()
    return {"parser": target.name, "examples": runs, "crashes": sum(c["count"] for c in crashes.values()),
            "distinct_crashes": list(crashes.values()), "seconds": round(time.perf_counter() - t0, 2)}


class _Hung(BaseException):
    pass


def _timed(target: Target, data: str, limit: int) -> tuple[float, str | None]:
    """Seconds and contract problem of one input; a run past ``limit`` seconds is a hang."""
    def on_alarm(signum, frame):
        raise _Hung()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    t0 = time.perf_counter()
    try:
        problem = check_outcome(target, data)
    except _Hung:
        problem = f"still running after {limit}s (backtracking regex)"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return round(time.perf_counter() - t0, 3), problem


def huge(target: Target) -> dict:
    """The 5 MB / 100k-line inputs (thorough set), each timed."""
    out = {}
    for name, data in huge_inputs(target, thorough=True).items():
        seconds, problem = _timed(target, data, 60)
        out[name] = {"bytes": len(data), "lines": data.count("\n") + 1, "seconds": seconds, "problem": problem}
    return out


def stretched(target: Target, width: int) -> dict:
    """Every line of every seed stretched every way (thorough): count, slowest, problems."""
    inputs = stretched_inputs(target, width, thorough=True)
    worst, problems = 0.0, []
    for label, data in inputs:
        seconds, problem = _timed(target, data, 20)
        worst = max(worst, seconds)
        if problem:
            problems.append(f"{label}: {problem}")
    return {"inputs": len(inputs), "width": width, "slowest_seconds": worst, "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="fuzzed inputs per parser (default 2000)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: derandomized, reproducible)")
    ap.add_argument("--only", nargs="*", default=None, help="parser names, e.g. ibstat.parse")
    ap.add_argument("--no-huge", action="store_true", help="skip the 5 MB inputs and the stretched lines")
    ap.add_argument("--width", type=int, default=64 * 1024, help="stretched-line width (default 64 KiB)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = []
    print(f"{'parser':<24} {'examples':>8} {'crashes':>8} {'fuzz time':>10} {'5MB worst':>10} {'stretched':>9}"
          f" {'slowest':>8} {'hangs':>5}", flush=True)
    for target in TARGETS:
        if args.only and target.name not in args.only:
            continue
        row = campaign(target, args.examples, args.seed)
        row["huge_5mb"] = {} if args.no_huge else huge(target)
        row["stretched"] = {"inputs": 0, "slowest_seconds": 0.0, "problems": []} if args.no_huge else \
            stretched(target, args.width)
        rows.append(row)
        slowest = max((v["seconds"] for v in row["huge_5mb"].values()), default=0.0)
        hangs = sum(1 for v in row["huge_5mb"].values() if v["problem"]) + len(row["stretched"]["problems"])
        print(f"{target.name:<24} {row['examples']:>8} {row['crashes']:>8} {row['seconds']:>9.1f}s"
              f" {slowest:>9.2f}s {row['stretched']['inputs']:>9} {row['stretched']['slowest_seconds']:>7.2f}s"
              f" {hangs:>5}", flush=True)
    total = sum(r["examples"] for r in rows)
    crashes = sum(r["crashes"] for r in rows) + sum(len(r["stretched"]["problems"]) for r in rows) + sum(
        1 for r in rows for v in r["huge_5mb"].values() if v["problem"])
    print(f"{'total':<24} {total:>8} {crashes:>8}")
    doc = {"bench": "fuzz", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "python": platform.python_version(), "examples_per_parser": args.examples,
           "seed": args.seed if args.seed is not None else "derandomized", "total_examples": total,
           "total_crashes": crashes, "parsers": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    for r in rows:
        for c in r["distinct_crashes"]:
            print(f"  {r['parser']}: {c['count']}x {c['problem']}\n    e.g. {c['example'][:200]}")
        for p in r["stretched"]["problems"] + [f"{k}: {v['problem']}" for k, v in r["huge_5mb"].items()
                                                if v["problem"]]:
            print(f"  {r['parser']}: {p}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
