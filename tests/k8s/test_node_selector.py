"""``kube://*?selector=LABELS``: a fleet named by a Kubernetes label selector.

Double, labelled: the API server is tests/kube_double, driven by the real ``kubernetes``
client over HTTP (list_node with labelSelector, limit and continue tokens). Nodes node-1..3
come from the double; the test labels two of them as GPU nodes and adds 600 more Nodes to
cross the 500-per-page boundary.
"""

from __future__ import annotations

import pytest

from rdma_preflight.harness.session import Options, RunState, UsageError
from rdma_preflight.targets.kube_nodes import expand_selectors
from rdma_preflight.targets.resolve import NodesError, NodeSpec, nodes_from_args, parse_target
from rdma_preflight.timeouts import Timeouts
from tests.spine.harness_util import ROOT, run_checks

PROFILE = str(ROOT / "profiles" / "roce-sriov-shared-subnet.yaml")


@pytest.fixture
def labelled(kube_double, tmp_path):
    d = kube_double
    d.add_node("gpu-a", labels={"nvidia.com/gpu.present": "true", "rack": "r1"})
    d.add_node("gpu-b", labels={"nvidia.com/gpu.present": "true", "rack": "r2"})
    return d, str(d.kubeconfig(tmp_path / "kubeconfig"))


def test_selector_expands_to_the_matching_nodes_with_their_labels(labelled):
    d, kubeconfig = labelled
    state = RunState(Options(nodes=["kube://*?selector=nvidia.com/gpu.present=true"], profile=PROFILE,
                             kubeconfig=kubeconfig))
    state.resolve_nodes()
    assert list(state.nodes) == ["gpu-a", "gpu-b"]
    st = state.nodes["gpu-b"]
    assert st.spec.target.url == "kube://gpu-b"
    assert st.spec.labels["rack"] == "r2" and st.spec.labels["kubernetes.io/hostname"] == "gpu-b"
    lists = [c for c in d.calls if c.matches("list", "nodes")]
    assert lists[0].param("labelSelector") == "nvidia.com/gpu.present=true"


def test_selector_pages_through_large_clusters(kube_double, tmp_path):
    d = kube_double
    for i in range(600):
        d.add_node(f"gpu-{i:04d}", labels={"pool": "h100"})
    specs = expand_selectors(nodes_from_args(["kube://*?selector=pool=h100"]),
                             str(d.kubeconfig(tmp_path / "kc")), Timeouts())
    assert [s.name for s in specs] == [f"gpu-{i:04d}" for i in range(600)]
    pages = [c for c in d.calls if c.matches("list", "nodes")]
    assert len(pages) == 2 and pages[0].param("limit") == "500" and pages[1].param("continue")


def test_without_selector_every_node_is_checked(labelled):
    _, kubeconfig = labelled
    specs = expand_selectors(nodes_from_args(["kube://*"]), kubeconfig, Timeouts())
    assert {s.name for s in specs} == {"node-1", "node-2", "node-3", "gpu-a", "gpu-b"}


def test_nodes_file_labels_win_and_other_targets_stay(labelled, tmp_path):
    _, kubeconfig = labelled
    specs = [NodeSpec("*", parse_target("kube://*?selector=rack=r1"), "p.yaml", {"rack": "override"}),
             NodeSpec("snap", parse_target("snapshot:///tmp/x"), "p.yaml")]
    out = expand_selectors(specs, kubeconfig, Timeouts())
    assert [(s.name, s.labels.get("rack"), s.profile) for s in out] == [("gpu-a", "override", "p.yaml"),
                                                                         ("snap", None, "p.yaml")]


@pytest.mark.parametrize("url, message", [
    ("kube://*?selector=rack=nowhere", "no Node matches; nothing to check"),
    ("kube://*?selector=a=b;rm -rf /", "kube://* takes only ?selector=LABEL-SELECTOR"),
    ("kube://*?label=x", "kube://* takes only ?selector=LABEL-SELECTOR"),
    ("kube://*?selector=in in in", "listing Nodes failed: 400"),
])
def test_selector_problems_are_usage_errors(labelled, url, message):
    _, kubeconfig = labelled
    state = RunState(Options(nodes=[url], profile=PROFILE, kubeconfig=kubeconfig))
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("?", r"\?").replace("*", r"\*")):
        state.resolve_nodes()


def test_unreachable_api_server_is_a_usage_error(tmp_path):
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
                  "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "current-context: x\n")
    with pytest.raises(NodesError, match="listing Nodes failed"):
        expand_selectors(nodes_from_args(["kube://*"]), str(kc), Timeouts(kube_connect=2, kube_list=2))


def test_harness_run_over_a_selector_exits_2_when_nothing_matches(labelled, tmp_path):
    _, kubeconfig = labelled
    run = run_checks(tmp_path / "rep", "--nodes", "kube://*?selector=rack=nowhere", "--profile", PROFILE,
                     "--kubeconfig", kubeconfig, "--check", "net.mtu")
    assert run.rc == 2
    assert "no Node matches; nothing to check" in run.stderr
