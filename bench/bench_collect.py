"""Collection over SSH from N real test hosts (network namespaces, each with OpenSSH's sshd on
its own loopback), rdma-preflight's way against the naive testinfra way.

What is measured, at N nodes (``--nodes N``, default 1):

* **ours, N nodes**: ``RunState.gather`` -- the harness's own gathering, i.e.
  ``rdma_preflight.collect.gather.gather_all`` over the run's ``ssh://`` targets with
  ``--concurrency`` threads (default: the harness default, 16). One collector execution, one
  round trip, per node; facts and node contexts are built as in a run (profile loading is
  outside the clock).
* **ours, one node alone**: the same call with the first node only.
* **ours, N nodes one at a time**: the same call with concurrency 1 (what concurrency buys).
* **naive testinfra**: a hand-written check set that calls the host once per fact
  (``host.run`` per command and per file), replaying exactly the commands and files our
  collector gathered from that node (so both read the same facts). Two ways over the N
  nodes: one node after the other (a folder of shell scripts run in turn), and the same
  thread count as ours (one thread per node at a time). Two transports: testinfra's default
  ``ssh://`` (ControlMaster=auto and ControlPersist=60s, but no ControlPath, so OpenSSH shares
  nothing: every call is a new SSH connection) and its best case, with a ControlPath (one
  multiplexed connection per node).
  A full naive run over 50 nodes with the default transport takes about an hour here, so
  ``--naive-sample K`` measures those two runs on fewer nodes and scales the wall time to N
  (marked "scaled"): one node after the other on the first K nodes (x N/K), the threaded one
  on the first max(K, concurrency) nodes -- a full wave of threads, on a machine whose CPUs
  they saturate, so throughput is flat and x N/measured holds. The multiplexed runs and ours
  always cover all N. Round trips are always counted for all N (they follow from the facts).

Shell start-up: every SSH command starts root's login shell, and bash sources ~/.bashrc when
sshd runs it. On this machine /root/.bashrc runs ``pyenv init`` (about 0.35 s per command), which
a GPU node's root shell does not. The test hosts' sshd therefore start in their own mount
namespace (``ip netns exec`` makes one, slave to the host's) with /dev/null bind-mounted over
/root/.bashrc -- the host's file is untouched. ``--keep-shell-rc`` measures with it.

The machine has 2 cores and may be shared: the load average (``os.getloadavg``) before and
after every phase is recorded and printed; before each phase the script waits up to
``--settle`` seconds (default 60) for the 1-minute load to drop below the CPU count, so a phase
does not start inside the load the previous one made (other users' load stays, and shows). Every namespace, sshd and ssh master this script
starts is removed on exit, Ctrl-C or SIGTERM (a second Ctrl-C during cleanup is ignored).

    python3 bench/bench_collect.py --nodes 50 [--concurrency 16] [--repeat 3] [--naive-sample K]

Needs root, iproute2, openssh-server, socat (scripts/setup.sh --test). Prints a table and
writes bench/results/collect-<N>.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdma_preflight.harness.session import Options, RunState  # noqa: E402
from tests.lab.addressing import SHARED  # noqa: E402
from tests.lab.hosts import Lab  # noqa: E402
from tests.lab.sshd import SshdLab  # noqa: E402

HARNESS_CONCURRENCY = Options().concurrency
NAIVE_COMMANDS = {  # what a hand-written testinfra check set would run for each command record
    "ip_link": "ip -j -d link show", "ip_addr": "ip -j addr show", "ip_rule": "ip -j -4 rule show",
    "ip_route": "ip -j -4 route show table all", "rdma_system": "rdma system show",
    "rdma_link": "rdma link show", "pci_devices": "ls -l /sys/bus/pci/devices/",
}


def start_sshd(ssh: SshdLab, keep_shell_rc: bool) -> None:
    """Start every node's sshd; unless ``keep_shell_rc``, inside a mount namespace where
    /root/.bashrc reads empty (see the module docstring)."""
    from unittest import mock

    from tests.lab import sshd as sshd_mod

    plain = sshd_mod.ns_argv

    def ns_argv(ns: str, argv: list[str]) -> list[str]:
        if argv and argv[0] == sshd_mod.SSHD and Path("/root/.bashrc").exists():
            import shlex

            return plain(ns, ["sh", "-c", "mount --bind /dev/null /root/.bashrc && exec " + shlex.join(argv)])
        return plain(ns, argv)

    if keep_shell_rc:
        ssh.start_all()
        return
    with mock.patch.object(sshd_mod, "ns_argv", ns_argv):
        ssh.start_all()


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- ours: the harness's gathering ------------------------------------------------------------

PROFILE = ROOT / "profiles" / "roce-sriov-shared-subnet.yaml"      # the lab's design (shared subnet)


def ours(names: list[str], ssh_config: str, concurrency: int) -> dict:
    """``RunState.gather`` as a run over ``--nodes ssh://...`` calls it: targets from the run's
    options, ``gather_all`` with ``concurrency`` threads, facts and node contexts built."""
    with open(os.devnull, "w") as quiet:
        state = RunState(Options(nodes=[",".join(f"ssh://{n}" for n in names)], profile=str(PROFILE),
                                 ssh_config=ssh_config, concurrency=concurrency), out=quiet)
        state.resolve_nodes()                   # profiles loaded before the clock starts
        t0 = time.perf_counter()
        state.gather()
        wall = time.perf_counter() - t0
    got = {name: st.gathered for name, st in state.nodes.items()}
    errors = {n: (g.error if g else "not gathered") for n, g in got.items() if g is None or g.facts is None}
    secs = [g.seconds for g in got.values() if g]
    return {"wall": wall, "round_trips": sum(g.round_trips for g in got.values() if g), "errors": errors,
            "node_seconds_median": statistics.median(secs), "node_seconds_max": max(secs),
            "snapshots": {n: g.facts.snapshot for n, g in got.items() if g and g.facts is not None}}


# -- naive: one testinfra call per fact -------------------------------------------------------

def naive_calls(snap) -> list[tuple[str, tuple[str, ...]]]:
    calls = [(NAIVE_COMMANDS[name.split("/")[0]], ()) for name in snap.commands
             if name.split("/")[0] in NAIVE_COMMANDS]
    calls += [("cat %s", (path,)) for path in snap.files]
    calls += [("readlink -f %s", (path,)) for path in snap.links]
    return calls


class Naive:
    def __init__(self, ssh_config: str, control_dir: str | None, stop: threading.Event):
        self.ssh_config, self.control_dir, self.stop = ssh_config, control_dir, stop

    def host(self, node: str):
        import testinfra

        kw = {"ssh_config": self.ssh_config}
        if self.control_dir:      # one socket per node (testinfra %-formats the command: no %C)
            kw.update(controlpath=f"{self.control_dir}/{node}", controlpersist=30)
        return testinfra.get_host(f"ssh://{node}", **kw)

    def node(self, node: str, snap) -> tuple[float, int]:
        host = self.host(node)
        calls = 0
        t0 = time.perf_counter()
        for cmd, args in naive_calls(snap):
            if self.stop.is_set():
                raise KeyboardInterrupt
            host.run(cmd, *args)
            calls += 1
        return time.perf_counter() - t0, calls

    def sequential(self, names: list[str], snaps: dict) -> dict:
        t0 = time.perf_counter()
        per = [self.node(n, snaps[n]) for n in names]
        return {"wall": time.perf_counter() - t0, "round_trips": sum(c for _, c in per),
                "node_seconds_median": statistics.median(s for s, _ in per)}

    def concurrent(self, names: list[str], snaps: dict, threads: int) -> dict:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(threads, len(names))))
        t0 = time.perf_counter()
        try:
            per = list(pool.map(lambda n: self.node(n, snaps[n]), names))
        except BaseException:
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return {"wall": time.perf_counter() - t0, "round_trips": sum(c for _, c in per),
                "node_seconds_median": statistics.median(s for s, _ in per)}

    def close(self, names: list[str]) -> None:
        """Stop the ssh masters a ControlPath run left (ControlPersist keeps them 30 s)."""
        if not self.control_dir:
            return
        for n in names:
            if Path(f"{self.control_dir}/{n}").exists():
                subprocess.run(["ssh", "-F", self.ssh_config, "-o", f"ControlPath={self.control_dir}/{n}", "-O",
                                "exit", n], capture_output=True, timeout=10, check=False)


# -- the run ----------------------------------------------------------------------------------

SETTLE = {"seconds": 60.0, "below": float(os.cpu_count() or 1)}


def settle() -> float:
    """Wait (at most SETTLE["seconds"]) for the 1-minute load to fall below SETTLE["below"], so
    a phase does not start inside the load the previous one made; returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < SETTLE["seconds"] and os.getloadavg()[0] >= SETTLE["below"]:
        time.sleep(2)
    return round(time.monotonic() - t0, 1)


def phase(results: list, name: str, what: str, nodes: int, fn, **extra) -> dict:
    waited = settle()
    print(f"  {name} ... (waited {waited} s for the load to settle)", file=sys.stderr, flush=True)
    extra["settle_seconds"] = waited
    before = load()
    r = fn()
    r.update(phase=name, what=what, nodes=nodes, load_before=before, load_after=load(), **extra)
    r.pop("snapshots", None)
    results.append(r)
    print(f"  {name}: {r['wall']:.2f} s, {r['round_trips']} round trips, load {r['load_after'][0]}",
          file=sys.stderr, flush=True)
    return r


def run(args) -> dict:
    n = args.nodes
    stop = threading.Event()
    out: dict = {"nodes": n, "concurrency": args.concurrency, "naive_sample": args.naive_sample, "settle": dict(SETTLE),
                 "shell_rc": "kept" if args.keep_shell_rc else "hidden (/dev/null over /root/.bashrc)", "harness_default_concurrency": HARNESS_CONCURRENCY,
                 "repeat": args.repeat, "cpus": os.cpu_count(), "python": platform.python_version(),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_start": load(), "phases": []}
    phases = out["phases"]
    control_dir = tempfile.mkdtemp(prefix="rpfb-cm-")
    names: list[str] = []
    t_setup = time.perf_counter()
    lab = Lab()
    ssh = None
    naive_mux = None
    try:
        lab.start()
        for i in range(1, n + 1):
            names.append(lab.add_node(f"bench-{i}", i, SHARED).name)
        ssh = SshdLab(lab)
        start_sshd(ssh, args.keep_shell_rc)
        cfg = str(ssh.ssh_config_path)
        out["setup_seconds"] = round(time.perf_counter() - t_setup, 2)
        print(f"lab: {n} namespaces with sshd in {out['setup_seconds']} s, load {load()}", file=sys.stderr)

        warm = ours(names[:1], cfg, 1)                       # warm caches (not counted)
        assert not warm["errors"], warm["errors"]

        def best(fn):
            runs = [fn() for _ in range(args.repeat)]
            r = min(runs, key=lambda x: x["wall"])
            r["walls"] = [round(x["wall"], 3) for x in runs]
            r["wall"] = statistics.median(x["wall"] for x in runs)
            return r

        snaps: dict = {}

        def ours_all():
            r = ours(names, cfg, args.concurrency)
            snaps.update(r["snapshots"])
            return r

        phase(phases, "ours_all", f"ours: harness gather, {args.concurrency} threads", n, lambda: best(ours_all))
        phase(phases, "ours_one", "ours: one node alone", 1, lambda: best(lambda: ours(names[:1], cfg, 1)))
        if n > 1:
            phase(phases, "ours_serial", "ours: harness gather, 1 thread", n, lambda: best(lambda: ours(names, cfg, 1)))
        missing = [x for x in names if x not in snaps]
        if missing:
            raise RuntimeError(f"no facts from {missing[:5]}: {phases[0]['errors']}")
        all_trips = sum(len(naive_calls(snaps[x])) for x in names)
        k = args.naive_sample or n
        seq_sample, conc_sample = names[:k], names[:min(n, max(k, args.concurrency))]

        def scaled(r: dict, measured: list[str]) -> None:
            if len(measured) < n:
                r.update(extrapolated=True, measured_wall=round(r["wall"], 3), measured_round_trips=r["round_trips"],
                         wall=r["wall"] * n / len(measured), round_trips=all_trips)

        for mux in ([False, True] if args.mux else [False]):
            nv = Naive(cfg, control_dir if mux else None, stop)
            naive_mux = nv if mux else naive_mux
            label = "testinfra+ControlPath" if mux else "testinfra default ssh"
            key = "naive_mux" if mux else "naive"
            seq, conc = (names, names) if mux else (seq_sample, conc_sample)
            try:
                r = phase(phases, f"{key}_sequential", f"naive {label}: one node after another", n,
                          lambda: nv.sequential(seq, snaps), measured_nodes=len(seq))
                scaled(r, seq)
                if args.naive_concurrent and n > 1:
                    r = phase(phases, f"{key}_concurrent", f"naive {label}: {args.concurrency} threads", n,
                              lambda: nv.concurrent(conc, snaps, args.concurrency), measured_nodes=len(conc))
                    scaled(r, conc)
            finally:
                nv.close(names)
        out["naive_calls_per_node"] = sorted({len(naive_calls(snaps[x])) for x in names})
    finally:
        # cleanup even on Ctrl-C / SIGTERM; a second signal must not cut it short
        stop.set()
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if naive_mux is not None:
                naive_mux.close(names)
            lab_namespaces = lab.namespaces
            sshd_pids = [s.process.pid for s in (ssh._servers.values() if ssh else [])]
            if ssh is not None:
                ssh.cleanup()
            lab.cleanup()
            import shutil

            shutil.rmtree(control_dir, ignore_errors=True)
            left_ns = [x for x in lab_namespaces if Path(f"/run/netns/{x}").exists()]
            left_sshd = [p for p in sshd_pids if Path(f"/proc/{p}").exists()]
            out["cleanup"] = {"namespaces_removed": len(lab_namespaces), "namespaces_left": left_ns,
                              "sshd_started": len(sshd_pids), "sshd_left": left_sshd}
            print(f"cleanup: removed {len(lab_namespaces)} namespaces and {len(sshd_pids)} sshd; left: "
                  f"{len(left_ns)} namespaces, {len(left_sshd)} sshd", file=sys.stderr)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
    out["load_end"] = load()
    return out


def _x(r: float) -> str:
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def table(res: dict) -> str:
    ph = {p["phase"]: p for p in res["phases"]}
    base = ph["ours_all"]
    one = ph["ours_one"]
    lines = [f"collection from {res['nodes']} SSH test host(s) (netns + sshd on loopback), concurrency "
             f"{res['concurrency']} (harness default {res['harness_default_concurrency']}), {res['cpus']} CPUs, "
             f"repeat {res['repeat']}",
             f"load average (1/5/15 min): start {res['load_start']}, end {res['load_end']}; root shell rc "
             f"{res['shell_rc']}",
             f"{'what':<74} {'nodes':>5} {'wall s':>9} {'trips':>7} {'s/node':>7} {'vs ours N':>9} "
             f"{'vs 1 node':>9} {'load1 before/after':>18}"]
    for p in res["phases"]:
        ratio = p["wall"] / base["wall"]
        one_ratio = p["wall"] / one["wall"]
        what = p["what"] + (f" [{p['measured_nodes']} measured, scaled]" if p.get("extrapolated") else "")
        lines.append(f"{what:<74} {p['nodes']:>5} {p['wall']:>9.2f} {p['round_trips']:>7} "
                     f"{p['wall'] / p['nodes']:>7.3f} {_x(ratio):>9} {_x(one_ratio):>9} "
                     f"{p['load_before'][0]:>9}/{p['load_after'][0]:<8}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=HARNESS_CONCURRENCY,
                    help=f"threads for our gathering and the concurrent naive run (harness default {HARNESS_CONCURRENCY})")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each of our phases (median reported)")
    ap.add_argument("--naive-sample", type=int, default=0,
                    help="measure the default-transport naive runs on this many nodes (the threaded one on at "
                         "least --concurrency) and scale to --nodes (0: all)")
    ap.add_argument("--keep-shell-rc", action="store_true",
                    help="leave /root/.bashrc visible to the test hosts' SSH sessions")
    ap.add_argument("--no-naive-concurrent", dest="naive_concurrent", action="store_false")
    ap.add_argument("--no-mux", dest="mux", action="store_false", help="skip the ControlPath (multiplexed) naive runs")
    ap.add_argument("--settle", type=float, default=SETTLE["seconds"],
                    help="before each phase, wait up to this long for the 1-min load to fall below the CPU count")
    ap.add_argument("--out", help="results file (default bench/results/collect-<N>.json)")
    args = ap.parse_args()
    SETTLE["seconds"] = args.settle

    main_pid = os.getpid()

    def term(signum, frame):
        if os.getpid() != main_pid:      # a forked helper (pyroute2's netns.create) must not run our cleanup
            os._exit(128 + signum)
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, term)
    try:
        res = run(args)
    except KeyboardInterrupt:
        print("interrupted (lab cleaned up)", file=sys.stderr)
        return 130
    res["table"] = table(res).splitlines()
    print("\n".join(res["table"]))
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"collect-{args.nodes}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
