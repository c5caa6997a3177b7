"""kube://NODE through the real kubernetes client against the in-process API double.

Double, labelled: the API server is tests/kube_double (real client over HTTP + WebSocket).
It has no node PID 1 to enter, so an exec rewrite checks that the probe runs
``nsenter -t 1 -m -u -i -n -- sh -s ...`` and lets the rest run for real, with the script on
stdin, in the hostNetwork pod's namespace, i.e. the node's (what nsenter on a node reaches).
"""

from __future__ import annotations

import subprocess

import pytest

from rdma_preflight.collect.gather import gather_node
from rdma_preflight.targets.kube import HOST_ENTER, KubeTarget, delete_live_pods
from tests.spine.harness_util import run_checks, two_rail_profile

pytestmark = pytest.mark.netns


def enter_node_netns(seen):
    """exec_rewrite for the double: record and strip `nsenter -t 1 ...`; the rest runs for real
    (stdin included) in the hostNetwork pod's namespace, i.e. the node's."""
    def rewrite(pod, argv):
        seen.append((pod["spec"]["nodeName"], list(argv[:len(HOST_ENTER)])))
        assert list(argv[:len(HOST_ENTER)]) == HOST_ENTER, argv[:12]
        return argv[len(HOST_ENTER):]
    return rewrite


@pytest.fixture
def rails_on_node1(node_netns):
    ns = node_netns["node-1"]
    for i in (1, 2):
        subprocess.run(["ip", "-n", ns, "link", "add", f"ens{i}f0np0", "type", "veth", "peer", "name", f"peer{i}"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", f"ens{i}f0np0", "mtu", "4200", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"172.16.{i}.11/24", "dev", f"ens{i}f0np0"], check=True)
    return ns


def test_probe_pod_spec_one_exec_and_no_leftovers(netns_kube_double, node_netns, rails_on_node1):
    d = netns_kube_double
    d.add_namespace("rdma-preflight")
    seen = []
    d.exec_rewrite = enter_node_netns(seen)
    t = KubeTarget(node="node-1", url="kube://node-1", api_client=d.api_client(), ready_timeout=30)
    created = []
    orig = t._ensure_pod

    def spy(timeout):
        name = orig(timeout)
        created.append(d.pod(name, "rdma-preflight"))
        return name
    t._ensure_pod = spy
    g = gather_node(t, timeout=60)
    assert g.error is None, g.error
    pod = created[0]
    spec = pod["spec"]
    assert spec["nodeName"] == "node-1"
    assert spec["hostNetwork"] and spec["hostPID"] and spec["hostIPC"]
    assert spec["containers"][0]["securityContext"] == {"privileged": True}
    assert spec["automountServiceAccountToken"] is False
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["activeDeadlineSeconds"] == 900 and spec["restartPolicy"] == "Never"
    assert pod["metadata"]["labels"]["rdma-preflight.io/role"] == "probe"
    assert seen == [("node-1", HOST_ENTER)]                  # exactly one exec: one round trip
    assert d.count(verb="exec") == 1 and g.round_trips == 1
    assert g.facts.net.links["ens2f0np0"].mtu == 4200
    assert [a.address for a in g.facts.net.ipv4("ens1f0np0")] == ["172.16.1.11"]
    assert d.pods("rdma-preflight") == []                     # deleted after use


def test_pod_deleted_on_failure_and_error_is_reported(netns_kube_double, node_netns):
    d = netns_kube_double
    d.add_namespace("rdma-preflight")
    d.exec_handler = lambda pod, argv: (0, b"garbage, not a collector stream\n", b"")
    g = gather_node(KubeTarget(node="node-2", url="kube://node-2", api_client=d.api_client()), timeout=30)
    assert g.facts is None and "not a collector stream" in g.error
    assert d.pods("rdma-preflight") == []


def test_missing_namespace_is_a_clear_error(kube_double):
    g = gather_node(KubeTarget(node="node-1", url="kube://node-1", api_client=kube_double.api_client(),
                               namespace="nope"), timeout=10)
    assert "cannot create probe pod in namespace nope: 404" in g.error


def test_interrupt_cleanup_deletes_live_probe_pods(kube_double):
    kube_double.add_namespace("rdma-preflight")
    t = KubeTarget(node="node-3", url="kube://node-3", api_client=kube_double.api_client())
    t._ensure_pod(30)
    assert len(kube_double.pods("rdma-preflight")) == 1
    assert delete_live_pods() == 1
    assert kube_double.pods("rdma-preflight") == []


def test_harness_over_kube(tmp_path, netns_kube_double, node_netns, rails_on_node1):
    d = netns_kube_double
    d.add_namespace("rdma-preflight")
    d.exec_rewrite = enter_node_netns([])
    # the harness runs in a subprocess; serve it through a kubeconfig file for the double
    cfg = d.kubeconfig(tmp_path / "kubeconfig")
    prof = two_rail_profile(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", "kube://node-1", "--kubeconfig", str(cfg),
                     "--profile", str(prof), "--check", "net.rail_count")
    assert run.rc == 0, run.stdout + run.stderr
    assert run.results["nodes"][0]["target"] == "kube://node-1"
    assert run.records("net.rail_count")[0]["found"] == "rail1=ens1f0np0, rail2=ens2f0np0"
    assert d.pods("rdma-preflight") == []


def test_runaway_output_is_cut_and_the_pod_deleted(netns_kube_double, node_netns, monkeypatch):
    """A node whose probe prints without end: the exec stops reading at the output cap (as the
    ssh and local transports do), the node is an error naming it, the pod is deleted."""
    from rdma_preflight.targets import kube as kube_mod

    monkeypatch.setattr(kube_mod, "MAX_OUTPUT_BYTES", 256 * 1024)
    d = netns_kube_double
    d.add_namespace("rdma-preflight")
    d.exec_handler = lambda pod, argv: (0, b"y\n" * (1024 * 1024), b"")
    g = gather_node(KubeTarget(node="node-2", url="kube://node-2", api_client=d.api_client()), timeout=30)
    assert g.facts is None
    assert "printed more than 262144 bytes on stdout (exec in probe pod)" in g.error
    assert d.pods("rdma-preflight") == []
