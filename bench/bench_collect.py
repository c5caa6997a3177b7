"""Collection over SSH from netns test hosts: rdma-preflight's one-round-trip collector
side by side with a naive testinfra check set that calls the host once per fact.

Both read the same evidence: the naive side replays, one `host.run`/`host.file` per item,
every command and file our collector gathered from that node (so the fact set is equal).
testinfra's ControlMaster connection reuse is left ON for the naive side (its best case).

    python3 bench/bench_collect.py [--nodes 1] [--repeat 3]

Needs root, iproute2, openssh-server, socat (scripts/setup.sh --test). Prints a table and
writes bench/results/collect.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdma_preflight.collect.gather import collect_snapshot  # noqa: E402
from rdma_preflight.targets.ssh import SshTarget  # noqa: E402
from tests.lab.addressing import SHARED  # noqa: E402
from tests.lab.hosts import Lab  # noqa: E402
from tests.lab.sshd import SshdLab  # noqa: E402

NAIVE_COMMANDS = {  # what a hand-written testinfra check set would run for each command record
    "ip_link": "ip -j -d link show", "ip_addr": "ip -j addr show", "ip_rule": "ip -j -4 rule show",
    "ip_route": "ip -j -4 route show table all", "rdma_system": "rdma system show",
    "rdma_link": "rdma link show", "pci_devices": "ls -l /sys/bus/pci/devices/",
}


def ours(node: str, cfg: str) -> tuple[float, int, object]:
    t = SshTarget(node=node, url=f"ssh://{node}", hostspec=node, ssh_config=cfg, connect_timeout=5)
    t0 = time.perf_counter()
    snap = collect_snapshot(t, timeout=60)
    return time.perf_counter() - t0, t.round_trips, snap


def naive(node: str, cfg: str, snap) -> tuple[float, int]:
    import testinfra

    host = testinfra.get_host(f"ssh://{node}", ssh_config=cfg)
    calls = 0
    t0 = time.perf_counter()
    for name in snap.commands:
        cmd = NAIVE_COMMANDS.get(name.split("/")[0])
        if cmd:
            host.run(cmd)
            calls += 1
    for path in snap.files:
        host.run("cat %s", path)
        calls += 1
    for path in snap.links:
        host.run("readlink -f %s", path)
        calls += 1
    return time.perf_counter() - t0, calls


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with Lab() as lab:
        nodes = [lab.add_node(f"bench-{i}", i, SHARED) for i in range(1, args.nodes + 1)]
        with SshdLab(lab) as ssh:
            ssh.start_all()
            cfg = str(ssh.ssh_config_path)
            for n in nodes:
                ours_t, naive_t = [], []
                for _ in range(args.repeat):
                    t, trips, snap = ours(n.name, cfg)
                    ours_t.append(t)
                    nt, calls = naive(n.name, cfg, snap)
                    naive_t.append(nt)
                rows.append({"node": n.name, "ours_round_trips": trips, "ours_seconds": statistics.median(ours_t),
                             "naive_round_trips": calls, "naive_seconds": statistics.median(naive_t),
                             "facts_items": len(snap.commands) + len(snap.files) + len(snap.links)})
    print(f"{'node':<10} {'ours trips':>10} {'ours s':>8} {'naive trips':>12} {'naive s':>8} {'trip ratio':>10} {'time ratio':>10}")
    for r in rows:
        print(f"{r['node']:<10} {r['ours_round_trips']:>10} {r['ours_seconds']:>8.3f} {r['naive_round_trips']:>12} "
              f"{r['naive_seconds']:>8.3f} {r['naive_round_trips'] / r['ours_round_trips']:>9.0f}x "
              f"{r['naive_seconds'] / r['ours_seconds']:>9.1f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "collect.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
