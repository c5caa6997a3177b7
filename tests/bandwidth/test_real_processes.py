"""The real driver script, real ``timeout``, real TCP side channels over real veths, with the
perftest stand-in (tests/bandwidth/perftest_standin.py, a labelled double moving no RDMA).

* pods: the Kubernetes API double runs every exec for real in the pod's netns, except
  ``discover``, whose RDMA part comes from the RDMA view double;
* hosts: host mode over real SSH into the lab's node namespaces (tests/lab), with the same
  discover double wrapped around the real ssh target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from rdma_preflight.bandwidth import driver
from rdma_preflight.bandwidth.host import run_hosts
from rdma_preflight.bandwidth.pods import run_kubernetes
from rdma_preflight.bandwidth.runner import RunConfig
from rdma_preflight.targets.base import CommandResult, Target
from rdma_preflight.targets.local import NetnsTarget
from rdma_preflight.targets.ssh import SshTarget
from tests.bandwidth.conftest import NAMESPACE, make_profile
from tests.bandwidth.doubles import STANDIN, BwPlan, RdmaViewDouble, install_standin
from tests.lab.addressing import SHARED

pytestmark = [pytest.mark.netns, pytest.mark.slow]


@pytest.fixture
def standin(tmp_path: Path):
    """The perftest stand-in (a double) at ``<tmp>/bin/ib_write_bw`` and a function setting its plan."""
    log = tmp_path / "standin.jsonl"

    def plan(gbps: dict[str, float]) -> Path:
        install_standin(tmp_path / "bin", {"gbps": gbps, "default": 196.5, "sleep": 0.3, "log": str(log)})
        return log

    return tmp_path / "bin" / "ib_write_bw", plan


def live_standins() -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(STANDIN).encode() in cmd:
            out.append(int(pid))
    return out


def workdirs() -> set[str]:
    return {p.name for p in Path("/tmp").glob("rpf-bw-*")}


def overlapping(entries: list[dict]) -> bool:
    return max(e["start"] for e in entries) < min(e["end"] for e in entries)


def test_pods_run_the_real_driver_over_veth_rails(bw_lab_factory, standin, monkeypatch):
    exe, plan = standin
    log = plan({"172.16.1.12->172.16.1.13": 90.0})          # node-2 -> node-3 on rail1 only
    monkeypatch.setenv("PATH", f"{exe.parent}:{os.environ['PATH']}")
    lab = bw_lab_factory([f"node-{i}" for i in range(1, 5)], 2, netns=True, real_processes=True)
    profile = make_profile(2)
    cfg = RunConfig.from_profile(profile, listen_wait=5, connect_slack=5, exec_margin=15)
    api = lab.api_client()
    try:
        report = run_kubernetes(api, profile, lab.nodes, config=cfg, ready_timeout=10)
    finally:
        api.close()
    failing = {k: v for k, v in report.verdicts.items() if v.outcome != "pass"}
    assert list(failing) == ["node-2->node-3:rail1"]
    v = failing["node-2->node-3:rail1"]
    assert (v.cls.name, v.blame.kind, v.gbps) == ("ASYMMETRIC", "path-one-way", 90.0)
    assert report.verdicts["node-3->node-2:rail1"].gbps == 196.5
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    clients = [e for e in entries if e["role"] == "client"]
    assert len(clients) == len([m for m in report.measurements if m.got.gbps is not None])
    by_pair: dict[tuple[str, float], list[dict]] = {}
    for e in clients:                                       # the rails of one pair ran at once
        by_pair.setdefault((e["local"].rsplit(".", 1)[1], round(e["start"])), []).append(e)
    pair = next(es for es in by_pair.values() if len(es) == 2)
    assert overlapping(pair) and {e["port"] for e in pair} == {18515, 18516}
    assert live_standins() == []
    lab.double.settle()
    assert lab.double.pods(NAMESPACE) == []


@dataclass
class RdmaViewTarget(Target):
    """DOUBLE around a real transport: ``discover`` gets its RDMA part from the RDMA view
    double (ip addresses read for real over the transport); every other command is real."""

    inner: Target | None = None
    view: RdmaViewDouble | None = None

    def _run(self, argv, stdin, timeout):
        if argv[:3] == ["sh", "-c", driver.DRIVER] and argv[4] == "discover":
            ip_json = self.inner.run(["ip", "-j", "addr", "show"], timeout=timeout).stdout.decode()
            rails = sorted((a["ifname"], a["addr_info"][0]["local"]) for a in json.loads(ip_json)
                           if a["ifname"].startswith("ens") and a.get("addr_info"))
            text = self.view.discover_for(self.node, rails, ip_json, argv[6])
            return CommandResult(argv, 0, text.encode())
        return self.inner.run(argv, stdin, timeout)


def test_host_mode_over_ssh(lab, sshd_lab, standin):
    exe, plan = standin
    before = workdirs()
    nodes = [lab.add_node(f"host-{i}", i, SHARED, rails=2) for i in (1, 2, 3)]
    sshd_lab.start_all()
    log = plan({"172.16.2.13->172.16.2.11": 60.0, "172.16.2.13->172.16.2.12": 60.0})   # host-3 rail2 sends slowly
    view = RdmaViewDouble(BwPlan(["rail1", "rail2"]))
    targets = [RdmaViewTarget(node=n.name, url=f"ssh://{n.name}", view=view,
                              inner=SshTarget(node=n.name, url=f"ssh://{n.name}", hostspec=n.name,
                                              ssh_config=str(sshd_lab.ssh_config_path), connect_timeout=5))
               for n in nodes]
    profile = make_profile(2, perftest=str(exe), retest=False)      # 3 nodes: the ring alone localises
    cfg = RunConfig.from_profile(profile, pod=False, listen_wait=5, connect_slack=5, exec_margin=20)
    report = run_hosts(targets, profile, config=cfg)
    assert report.mode == "hosts" and report.not_ready == {}
    assert report.endpoints["host-1"]["rail2"].netdev == "ens2f0np0"
    failing = {k: v for k, v in report.verdicts.items() if v.outcome != "pass"}
    assert sorted(failing) == ["host-3->host-1:rail2", "host-3->host-2:rail2"]
    assert {(v.blame.kind, v.blame.node) for v in failing.values()} == {("nic-tx", "host-3")}
    assert len(report.verdicts) == 3 * 2 * 2 and live_standins() == []
    assert workdirs() == before                           # the driver removed its files on every host
    assert any(e["role"] == "server" for e in map(json.loads, log.read_text().splitlines()))


def lab_hosts(lab, view, count: int = 3) -> list[RdmaViewTarget]:
    nodes = [lab.add_node(f"host-{i}", i, SHARED, rails=2) for i in range(1, count + 1)]
    return [RdmaViewTarget(node=n.name, url=f"netns://{n.netns}", view=view,
                           inner=NetnsTarget(node=n.name, url=f"netns://{n.netns}", netns=n.netns)) for n in nodes]


def test_host_mode_interrupted_stops_the_servers_it_started(lab, standin):
    exe, plan = standin
    plan({})
    before = workdirs()
    targets = lab_hosts(lab, RdmaViewDouble(BwPlan(["rail1", "rail2"])))
    runs = []

    class Interrupting(RdmaViewTarget):
        def _run(self, argv, stdin, timeout):
            if argv[:3] == ["sh", "-c", driver.DRIVER] and argv[4] == "run":
                runs.append(self.node)
                raise KeyboardInterrupt("operator pressed Ctrl-C")
            return super()._run(argv, stdin, timeout)

    targets[0] = Interrupting(node=targets[0].node, url=targets[0].url, view=targets[0].view, inner=targets[0].inner)
    profile = make_profile(2, perftest=str(exe), retest=False)
    cfg = RunConfig.from_profile(profile, pod=False, listen_wait=5, connect_slack=2, exec_margin=20)
    with pytest.raises(KeyboardInterrupt):
        run_hosts(targets, profile, config=cfg)
    assert runs == ["host-1"]                              # host-1's clients never ran: their servers waited
    assert live_standins() == []                           # ... and were stopped, not left to their timeout
    assert workdirs() == before
