"""Helpers for the host-network tests on real lab nodes (tests/lab): profiles matching a
lab node, a compliant finish (ARP sysctls, persisted configuration), and the real harness
run in a subprocess with its results.json read back.

Persisted configuration is rendered the way setNicAddr.sh/setRdmaRule.sh write it and is
shown to the node only: the harness runs in a private mount namespace with an overlay on
/etc (``unshare -m`` + ``mount -t overlay``), so the machine's own /etc is never changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.lab.addressing import PER_NODE, SHARED
from tests.lab.hosts import LabNode
from tests.lab.nsutil import sysctl

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
BASE_PROFILE = {"shared-subnet": PROFILES / "roce-sriov-shared-subnet.yaml",
                "per-node-subnet": PROFILES / "roce-sriov-per-node-subnet.yaml"}
OVERLAY_SH = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"'
RDMA_UNIT = """[Unit]
Description=RDMA routing rule
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash -c 'ip rule add not to {cidr} table main priority 2000'
ExecStop=/bin/bash -c 'ip rule del not to {cidr} table main priority 2000 || true'

[Install]
WantedBy=multi-user.target
"""


def write_profile(path: Path, node: LabNode, *, addresses: bool = False, mgmt_as_rail1: bool = False,
                  network: dict | None = None, node_name: str | None = None) -> Path:
    """A profile for ``node``'s design with rails bound by netdev name (hand-made test data)."""
    rails: dict = {f"rail{r.index}": {"nic": {"netdev": r.ifname}} for r in node.rails}
    if mgmt_as_rail1:
        rails["rail1"] = {"nic": {"netdev": node.mgmt_ifname}}
    data: dict = {"name": f"lab-{node.design}", "extends": str(BASE_PROFILE[node.design]), "rails": rails}
    if network:
        data["network"] = network
    if addresses:
        data["nodes"] = [{"match": node_name or node.netns,
                          "set": {"rails": {f"rail{r.index}": {"address": str(r.address)} for r in node.rails}}}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def harden(node: LabNode) -> None:
    """ARP settings a multi-rail host should have (net.arp_rpfilter), inside the node only."""
    sysctl(node.netns, "net.ipv4.conf.all.arp_ignore", "1")
    sysctl(node.netns, "net.ipv4.conf.all.arp_announce", "2")


def netplan_text(node: LabNode, rail) -> str:
    """/etc/netplan/12-<if>.yaml as setNicAddr.sh renders it for this rail (template render)."""
    conf: dict = {"addresses": [str(rail.address)], "mtu": node.mtu}
    if node.design == PER_NODE and rail.index == 1:
        conf["routes"] = ([{"to": "default", "via": str(rail.gateway), "metric": 10}] if node.quirks else [])
        conf["routes"].append({"to": str(node.rdma_cidr), "via": str(rail.gateway), "on-link": True})
    else:
        conf["routes"] = [{"to": "0.0.0.0/0", "via": str(rail.gateway), "table": rail.table}]
        conf["routing-policy"] = [{"from": str(rail.address.ip), "table": rail.table}]
    doc = {"network": {"version": 2, "renderer": "networkd", "ethernets": {rail.ifname: conf}}}
    return yaml.safe_dump(doc, sort_keys=False)


def persisted_etc(node: LabNode, upper: Path, skip_rails: tuple[int, ...] = (), rdma_unit: bool = True) -> Path:
    """An /etc overlay upper dir holding the node's persisted configuration."""
    netplan = upper / "netplan"
    netplan.mkdir(parents=True, exist_ok=True)
    for rail in node.rails:
        if rail.index not in skip_rails:
            (netplan / f"12-{rail.ifname}.yaml").write_text(netplan_text(node, rail))
    if rdma_unit:
        units = upper / "systemd" / "system"
        (units / "multi-user.target.wants").mkdir(parents=True, exist_ok=True)
        (units / "rdma-routing.service").write_text(RDMA_UNIT.format(cidr=node.rdma_cidr))
        link = units / "multi-user.target.wants" / "rdma-routing.service"
        if not link.is_symlink():
            link.symlink_to("/etc/systemd/system/rdma-routing.service")
    return upper


def design_skips(node: LabNode) -> set[tuple[str, str | None]]:
    """Items a RoCE profile skips by design: IPoIB on every rail; rail-1 route in Solution 1."""
    out = {("net.ipoib_mode", f"rail{r.index}") for r in node.rails}
    if node.design == SHARED:
        out.add(("net.rdma_subnet_route", None))
    return out


def compliant(node: LabNode, tmp: Path, **profile_kw) -> tuple[Path, Path]:
    """Finish ``node`` as a compliant host: ARP sysctls, persisted config (overlay), profile."""
    harden(node)
    if node.quirks:
        profile_kw.setdefault("network", {"allow_rail_default_in_main": True})
    profile = write_profile(tmp / "profile.yaml", node, **profile_kw)
    return profile, persisted_etc(node, tmp / "etc")


def overlay_argv(upper: Path) -> list[str]:
    work = upper.parent / (upper.name + "-work")
    work.mkdir(exist_ok=True)
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", OVERLAY_SH, "rdma-preflight-overlay",
            str(upper), str(work)]


@dataclass
class Run:
    """One harness run: exit code, output, and results.json."""

    rc: int
    output: str
    doc: dict
    report_dir: Path

    @property
    def results(self) -> list[dict]:
        return self.doc["results"]

    def outcomes(self) -> dict[tuple[str, str | None], str]:
        return {(r["check"], r["rail"]): r["outcome"] for r in self.results}

    def with_outcome(self, *outcomes: str) -> set[tuple[str, str | None]]:
        return {k for k, v in self.outcomes().items() if v in outcomes}

    def record(self, check: str, rail: str | None = None) -> dict:
        return next(r for r in self.results if r["check"] == check and r["rail"] == rail)

    def journals(self) -> list[Path]:
        return sorted((self.report_dir / "journal").glob("*.json"))


def run_checks(url: str, profile: Path, report_dir: Path, *, remediate: str = "off", upper: Path | None = None,
               lock_dir: Path | None = None, extra: tuple[str, ...] = ()) -> Run:
    """``pytest checks/test_net.py --nodes URL --profile P`` in a subprocess (the real harness)."""
    argv = [sys.executable, "-m", "pytest", "checks/test_net.py", "--nodes", url, "--profile", str(profile),
            "--report-dir", str(report_dir), "--remediate", remediate, "-q", "-p", "no:cacheprovider",
            "--tb=no", "--no-header", "-p", "no:hypothesispytest", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if lock_dir is not None:
        env["RDMA_PREFLIGHT_LOCK_DIR"] = str(lock_dir)
    done = subprocess.run((overlay_argv(upper) if upper else []) + argv, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    results = report_dir / "results.json"
    if not results.exists():
        raise AssertionError(f"no results.json (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return Run(done.returncode, done.stdout + done.stderr, json.loads(results.read_text()), report_dir)


def rollback(journal: Path, *args: str, lock_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``rdma-preflight rollback JOURNAL`` in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if lock_dir is not None:
        env["RDMA_PREFLIGHT_LOCK_DIR"] = str(lock_dir)
    return subprocess.run([sys.executable, "-m", "rdma_preflight.cli", "rollback", str(journal), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
