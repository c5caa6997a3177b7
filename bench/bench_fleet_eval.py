"""Fleet-scale evaluation: N synthetic 8-rail snapshot nodes through the real pytest harness,
and the same evaluation without pytest (to see what pytest's per-item cost is).

    python3 bench/bench_fleet_eval.py                        # 1,000 and 5,000 nodes
    python3 bench/bench_fleet_eval.py --sizes 200 1000 --check 'net.*'

Nodes are SYNTHETIC (tests/fleet/synth.py: hand-made sysfs/ip state, real ofed_info and rdma
system outputs), with realistic scatter: ~3% ECN off on NIC 4, 1% other firmware, 0.5% MTU
1500, 0.2% a NIC missing. Every check registered when the script runs is measured, so the
figures follow the suite as areas are added. Each size runs in a fresh process per mode:

* ``pytest``: ``pytest checks/ --nodes-file ... --report-dir ...`` in-process, with hooks
  timing collection (fact gathering + parametrisation), the test loop and report writing
* ``direct``: the same RunState, gather, ``evaluate_subject`` per subject and
  ``write_reports``, with no pytest items

Prints a table, writes bench/results/fleet_eval.json. Snapshots are cached in --workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
REPORT_FILES = ("results.json", "junit.xml", "fleet.html", "fleet.json", "fleet.csv", "fleet.md",
                "rdma_preflight.prom")


# -- synthetic fleet ---------------------------------------------------------------------------

def variant(i: int):
    from tests.fleet.synth import NodeVariant

    if i % 500 == 499:
        return NodeVariant(rails=7)
    if i % 200 == 101:
        return NodeVariant(mtu=1500)
    if i % 100 == 37:
        return NodeVariant(fw="28.40.1000")
    if i % 33 == 5:
        return NodeVariant(ecn_off_nics=(4,))
    return None


def _make_range(args: tuple[str, int, int]) -> int:
    from tests.fleet.synth import rail_node, save_tar

    snaps, start, stop = args
    for i in range(start, stop):
        name = f"gpu-{i:05d}"
        dest = Path(snaps) / f"{name}.tar.gz"
        if not dest.exists():
            save_tar(rail_node(name, i, variant(i)), dest)
    return stop - start


def make_fleet(workdir: Path, n: int, jobs: int) -> Path:
    """Snapshots gpu-00000.. (cached across runs) and a nodes file for the first n."""
    import yaml

    snaps = workdir / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    step = 250
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_make_range, [(str(snaps), s, min(s + step, n)) for s in range(0, n, step)]))
    nodes = [{"name": f"gpu-{i:05d}", "target": f"snapshot://snapshots/gpu-{i:05d}.tar.gz"} for i in range(n)]
    nf = workdir / f"nodes-{n}.yaml"
    nf.write_text(yaml.safe_dump({"defaults": {"profile": str(ROOT / "profiles" / "roce-sriov-shared-subnet.yaml")},
                                  "nodes": nodes}, sort_keys=False))
    return nf


# -- child: one measured run -------------------------------------------------------------------

class Clock:
    """Wall and CPU seconds per phase (CPU time is what to compare on a shared, busy machine)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.active: set[str] = set()
        self.items = 0

    def add(self, key: str, wall: float, cpu: float) -> None:
        self.t[key] = self.t.get(key, 0.0) + wall
        self.cpu[key] = self.cpu.get(key, 0.0) + cpu

    def span(self, key: str):
        """A generator: time what runs between its first and second ``next``."""
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        self.add(key, time.perf_counter() - t0, time.process_time() - c0)

    def wrap(self, owner, name: str, key) -> None:
        """Time every call of ``owner.name`` under ``key`` (or ``key()``, chosen at call time)."""
        orig = getattr(owner, name)

        def timed(*a, **kw):
            k = key() if callable(key) else key
            self.active.add(k)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return orig(*a, **kw)
            finally:
                self.add(k, time.perf_counter() - t0, time.process_time() - c0)
                self.calls[k] = self.calls.get(k, 0) + 1
                self.active.discard(k)
        setattr(owner, name, timed)


class PytestPhases:
    """Hooks timing pytest's phases around the harness."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def _wrap(self, key: str):
        yield from self.clock.span(key)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session):
        yield from self._wrap("collect")
        self.clock.items = len(session.items)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session):
        yield from self._wrap("test_loop")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_sessionfinish(self, session, exitstatus):
        yield from self._wrap("sessionfinish")


def instrument(clock: Clock, stream: bool) -> None:
    from rdma_preflight.harness import plugin, session
    from rdma_preflight.reports import fleet, junit, results_json, writer

    if not stream and hasattr(plugin, "_stream_reports"):
        plugin._stream_reports = lambda state, every=2.0: None
    clock.wrap(results_json, "write", lambda: "json_final" if "reports" in clock.active else "json_streamed")
    clock.wrap(session.RunState, "gather", "gather")
    clock.wrap(plugin, "evaluate_subject", "evaluate")
    clock.wrap(writer, "write_reports", "reports")
    clock.wrap(results_json, "build", "results_json_build")
    clock.wrap(junit, "write", "junit")
    clock.wrap(fleet, "render_fleet", "fleet_reports")


def bound_checks() -> set[str]:
    """Check ids that checks/test_*.py bind to pytest (what a pytest run collects)."""
    import re

    return {m for f in (ROOT / "checks").glob("test_*.py") for m in re.findall(r'bind\("([^"]+)"\)', f.read_text())}


def run_pytest(clock: Clock, granularity: str, nodes_file: str, report_dir: str, checks: list[str]) -> int:
    args = [str(ROOT / "checks"), "--rootdir", str(ROOT), "-p", "no:cacheprovider", "-q", "--no-header",
            "--tb=no", "--nodes-file", nodes_file, "--report-dir", report_dir, "--granularity", granularity]
    for c in checks:
        args += ["--check", c]
    return int(pytest.main(args, plugins=[PytestPhases(clock)]))


def run_direct(clock: Clock, granularity: str, nodes_file: str, report_dir: str, checks: list[str]) -> int:
    from rdma_preflight.harness import plugin
    from rdma_preflight.harness.session import Options, RunState
    from rdma_preflight.reports.writer import write_reports

    state = RunState(Options(nodes_file=nodes_file, report_dir=report_dir, select=checks, granularity=granularity),
                     out=open(os.devnull, "w"))
    state.resolve_nodes()
    state.gather()
    bound = bound_checks()
    for cid, spec in sorted(state.registry.items()):
        if cid in bound and state.selected(cid):
            for subj in state.subjects(spec):
                clock.items += 1
                first = plugin.evaluate_subject(state, subj)[0]
                for record in first if isinstance(first, list) else [first]:
                    state.store.add(record)
    state.finished = time.time()
    write_reports(state, report_dir)
    return plugin.exit_code(state)


def child(mode: str, granularity: str, stream: bool, nodes_file: str, report_dir: str, checks: list[str],
          out: str) -> None:
    """One measured run; its figures are written even if the run breaks late (shared tree)."""
    clock = Clock()
    instrument(clock, stream)
    t0 = time.perf_counter()
    rc: int | str = "did not finish"
    try:
        rc = (run_pytest if mode == "pytest" else run_direct)(clock, granularity, nodes_file, report_dir, checks)
    except BaseException as exc:  # noqa: BLE001 - report what was measured, then say why it stopped
        rc = f"crashed: {type(exc).__name__}: {exc}"
    finally:
        wall = time.perf_counter() - t0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        sizes = {f: (Path(report_dir) / f).stat().st_size for f in REPORT_FILES if (Path(report_dir) / f).exists()}
        Path(out).write_text(json.dumps({
            "mode": mode, "granularity": granularity, "stream": stream, "rc": rc, "calls": clock.calls,
            "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "items": clock.items, "phases": clock.t,
            "phases_cpu": clock.cpu, "peak_rss_mb": ru.ru_maxrss / 1024, "report_bytes": sizes}))


def measure(mode: str, granularity: str, stream: bool, nodes_file: Path, n: int, workdir: Path,
            checks: list[str]) -> dict:
    tag = f"{mode}-{granularity}-{'stream' if stream else 'nostream'}-{n}"
    out, rep = workdir / f"run-{tag}.json", workdir / f"reports-{tag}"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", mode, granularity, "1" if stream else "0", str(nodes_file), str(rep),
           str(out), *checks]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if not out.exists():
        raise SystemExit(f"{mode} run for {n} nodes failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    res = json.loads(out.read_text())
    res["nodes"] = n
    return res


def browser_load_seconds(html: Path) -> float | None:
    """Headless Chromium: load fleet.html and run its script (dump-dom), offline."""
    import shutil
    import tempfile

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None or not html.exists():
        return None
    with tempfile.TemporaryDirectory() as prof:
        t0 = time.perf_counter()
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={prof}", "--dump-dom", html.as_uri() + "#outcome=bad"],
                       capture_output=True, timeout=600)
        return time.perf_counter() - t0


# -- table -------------------------------------------------------------------------------------

def overhead_ms(r: dict) -> float:
    """CPU ms per item spent in the item loop on neither check evaluation nor streamed
    results.json writes (pytest's own cost)."""
    c = r["phases_cpu"]
    loop = c.get("test_loop", c.get("evaluate", 0.0))
    return 1e3 * (loop - c.get("evaluate", 0.0) - c.get("json_streamed", 0.0)) / max(r["items"], 1)


def table(rows: list[dict]) -> str:
    head = ("mode", "gran", "nodes", "items", "wall s", "cpu s", "gather", "collect", "loop", "eval", "ovh ms/it",
            "stream s", "writes", "reports", "fleet rep", "cpu ms/nd", "peak MB")
    lines = ["(phase columns: CPU seconds; ovh ms/it: CPU per item in the loop beyond check evaluation and the "
             "streamed results.json rewrites; stream s / writes: those partial rewrites during the loop)",
             " ".join(f"{h:>9}" for h in head)]
    for r in rows:
        c = r["phases_cpu"]
        vals = (r["mode"], r["granularity"], r["nodes"], r["items"], r["wall"], r["cpu"], c.get("gather", 0.0),
                c.get("collect", 0.0), c.get("test_loop", c.get("evaluate", 0.0)), c.get("evaluate", 0.0),
                overhead_ms(r), c.get("json_streamed", 0.0), r["calls"].get("json_streamed", 0),
                c.get("reports", 0.0), c.get("fleet_reports", 0.0), 1e3 * r["cpu"] / r["nodes"],
                r["peak_rss_mb"])
        lines.append(" ".join(f"{v:>9.2f}" if isinstance(v, float) else f"{v:>9}" for v in vals))
    return "\n".join(lines)


def growth(rows: list[dict]) -> list[str]:
    out = []
    for mode, gran in sorted({(r["mode"], r["granularity"]) for r in rows}):
        rs = sorted((r for r in rows if (r["mode"], r["granularity"]) == (mode, gran)), key=lambda r: r["nodes"])
        if len(rs) >= 2:
            a, b = rs[0], rs[-1]
            k = b["nodes"] / a["nodes"]
            out.append(f"{mode}/{gran}: {a['nodes']} -> {b['nodes']} nodes (x{k:g}): wall x{b['wall'] / a['wall']:.2f}, "
                       f"CPU x{b['cpu'] / a['cpu']:.2f}, peak memory x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}, "
                       f"CPU per node x{(b['cpu'] / b['nodes']) / (a['cpu'] / a['nodes']):.2f}")
    for n, gran in sorted({(r["nodes"], r["granularity"]) for r in rows}):
        pair = {r["mode"]: r for r in rows if (r["nodes"], r["granularity"]) == (n, gran)}
        if len(pair) == 2:
            p, d = pair["pytest"], pair["direct"]
            pc = p["phases_cpu"]
            pl, de = pc.get("test_loop", 0.0), pc.get("evaluate", 0.0)
            out.append(f"{n} nodes/{gran}: pytest CPU / direct CPU = {p['cpu'] / d['cpu']:.2f} (wall {p['wall'] / d['wall']:.2f});"
                       f" pytest's item loop {pl:.1f} CPU-s for {p['items']} items of which check evaluation {de:.1f}s, "
                       f"so {overhead_ms(p):.2f} ms per item is pytest's own cost; collection "
                       f"{pc.get('collect', 0.0) - pc.get('gather', 0.0):.1f} CPU-s beyond fact gathering")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--modes", nargs="+", default=["pytest", "direct"], choices=["pytest", "direct"])
    ap.add_argument("--check", action="append", default=[], help="only these check ids (globs)")
    ap.add_argument("--granularity", nargs="+", default=["auto"], choices=["auto", "rail", "node", "fleet"],
                    help="the harness's --granularity (auto: node above 64 nodes); several: measure each")
    ap.add_argument("--workdir", default=str(RESULTS / "fleet-work"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-stream", action="store_true",
                    help="turn off the harness's partial results.json rewrite every 2 s (to see its cost)")
    ap.add_argument("--out", default="fleet_eval.json", help="results file name under bench/results/")
    ap.add_argument("--browser", action="store_true", help="also time headless Chromium loading fleet.html")
    ap.add_argument("--summarize", action="store_true", help="measure nothing: tabulate the run-*.json of --workdir")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        mode, granularity, stream, nodes_file, rep, out, *checks = a.child
        child(mode, granularity, stream == "1", nodes_file, rep, checks, out)
        return 0
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    if a.summarize:                      # earlier runs' figures, e.g. sizes measured by separate invocations
        for f in sorted(work.glob("run-*.json")):
            r = json.loads(f.read_text())
            r["nodes"] = int(f.stem.rsplit("-", 1)[1])
            if r["nodes"] in a.sizes and r["mode"] in a.modes and "calls" in r:
                rows.append(r)
        a.sizes = []
    for n in sorted(a.sizes):
        t0 = time.perf_counter()
        nf = make_fleet(work, n, a.jobs)
        print(f"{n} synthetic snapshots ready in {time.perf_counter() - t0:.1f}s", flush=True)
        for gran in a.granularity:
            for mode in a.modes:
                r = measure(mode, gran, not a.no_stream, nf, n, work, a.check)
                if a.browser and mode == a.modes[0]:
                    tag = f"{mode}-{gran}-{'nostream' if a.no_stream else 'stream'}-{n}"
                    r["browser_load_s"] = browser_load_seconds(work / f"reports-{tag}" / "fleet.html")
                rows.append(r)
            print(table([r]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    for line in growth(rows):
        print(line)
    for r in rows:
        sizes = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in r["report_bytes"].items())
        print(f"{r['mode']} {r['nodes']} nodes, exit {r['rc']}: {sizes}"
              + (f"; Chromium load+script {r['browser_load_s']:.1f}s" if r.get("browser_load_s") else ""))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / a.out).write_text(json.dumps({"rows": rows, "growth": growth(rows)}, indent=1) + "\n")
    print(f"wrote {RESULTS / a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
