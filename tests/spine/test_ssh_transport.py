"""The SSH transport for real: sshd inside test namespaces, reached through a ProxyCommand
that enters the namespace (no routed addresses; nothing leaves the machine)."""

from __future__ import annotations

import pytest

from rdma_preflight.collect.gather import gather_node
from rdma_preflight.facts import build_facts
from rdma_preflight.targets.local import NetnsTarget
from rdma_preflight.targets.ssh import SshTarget
from tests.spine.harness_util import run_checks, two_rail_profile

pytestmark = pytest.mark.netns


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_one_round_trip_and_same_facts_as_netlink(lab, lab_node_shared, sshd_lab, backend):
    sshd_lab.start(lab_node_shared)
    t = SshTarget(node="node-shared", url=f"{backend}://node-shared", hostspec="node-shared",
                  backend_name=backend, ssh_config=str(sshd_lab.ssh_config_path), connect_timeout=5)
    g = gather_node(t, timeout=30)
    assert g.error is None, g.error
    assert g.round_trips == 1
    facts = g.facts
    assert facts.net.source == "ip-json"
    assert facts.net.links["ens3f0np0"].mtu == 4200
    assert [a.address for a in facts.net.ipv4("ens3f0np0")] == ["172.16.3.11"]
    # the same host read live through pyroute2 decodes to the same network facts
    live = build_facts(facts.snapshot, netlink_ns=lab_node_shared.netns)
    assert live.net.source == "netlink"
    assert live.net.comparable() == facts.net.comparable()
    # and the netns target (collector via ip netns exec + netlink) agrees too
    n = gather_node(NetnsTarget(node="node-shared", url="netns://x", netns=lab_node_shared.netns))
    assert n.facts.net.comparable() == facts.net.comparable()


def test_unreachable_ssh_node_does_not_stop_the_run(tmp_path, lab, lab_node_shared, lab_node_per_node, sshd_lab):
    sshd_lab.start(lab_node_shared)
    sshd_lab.start(lab_node_per_node)
    sshd_lab.make_unreachable(lab_node_per_node)
    prof = two_rail_profile(tmp_path, rails=8)
    run = run_checks(tmp_path / "rep", "--nodes", "ssh://node-shared,ssh://node-per-node",
                     "--ssh-config", str(sshd_lab.ssh_config_path), "--connect-timeout", "5",
                     "--profile", str(prof), "--check", "net.rail_count")
    assert run.rc == 3, run.stdout + run.stderr
    nodes = {n["name"]: n for n in run.results["nodes"]}
    assert nodes["node-shared"]["status"] == "ok" and nodes["node-shared"]["round_trips"] == 1
    assert nodes["node-per-node"]["status"] == "error"
    assert "ssh failed" in nodes["node-per-node"]["error"]
    assert run.records("net.rail_count", "node-shared")[0]["outcome"] == "pass"


def test_hanging_node_times_out(tmp_path, lab, lab_node_shared, sshd_lab):
    sshd_lab.start(lab_node_shared)
    sshd_lab.make_hanging(lab_node_shared, seconds=600)
    t = SshTarget(node="node-shared", url="ssh://node-shared", hostspec="node-shared",
                  ssh_config=str(sshd_lab.ssh_config_path), connect_timeout=3)
    g = gather_node(t, timeout=4)
    assert g.facts is None
    assert "timed out after 4s" in g.error
