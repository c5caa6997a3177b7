"""Cluster facts through the real client: one read-only pass per run (least privilege, paged,
independent of the node count), unreadable and missing kinds reported by the checks, no
cluster at all, and the harness hook over snapshot nodes with a kubeconfig file."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
import yaml
from kubernetes import client as k8s

from rdma_preflight.checks.registry import REGISTRY, load_all
from rdma_preflight.checks.result import Outcome
from rdma_preflight.harness.evaluate import evaluate_subject
from rdma_preflight.harness.session import Options, RunState
from rdma_preflight.k8s import gather as gather_mod
from rdma_preflight.k8s.gather import Query, gather_cluster
from rdma_preflight.k8s.harness import aliases, attach_cluster_facts, queries
from rdma_preflight.targets.resolve import TargetSpec
from tests.kube_double.double import KubeDouble

from .cluster import compliant
from .host import Host, design_profile
from .run import findings, node_results, run_all

READS = {"list", "get"}


@pytest.fixture
def double():
    with KubeDouble(pod_netns=False, start_delay=3600) as d:
        yield d


def _calls(d: KubeDouble) -> list[tuple[str, str, str | None]]:
    return [(c.verb, c.resource, c.namespace) for c in d.calls]


def test_one_read_only_pass_whatever_the_node_count(double):
    c = compliant("sriov-per-node", nodes=("node-1", "node-2"))
    c.seed(double)
    double.clear_calls()
    facts = c.facts(double)
    calls = _calls(double)
    assert {v for v, _, _ in calls} == {"list"}
    assert calls == [("list", "nodes", None), ("list", "pods", "spiderpool"), ("list", "daemonsets", "spiderpool"),
                     ("list", "deployments", "spiderpool"), ("list", "spidermultusconfigs", None),
                     ("list", "spiderippools", None), ("list", "sriovnetworknodestates", "spiderpool"),
                     ("list", "sriovnetworknodepolicies", "spiderpool"), ("list", "sriovnetworkpoolconfigs", "spiderpool")]
    assert facts.calls == 9 and sorted(facts.nodes) == ["node-1", "node-2"]
    assert {m["metadata"]["namespace"] for m in facts.multus_configs} == {"kube-system"}   # cluster-wide list
    assert len(facts.ippools) == 4 and len(facts.pods) == 6


def test_more_nodes_same_calls():
    counts = []
    for nodes in (("node-1",), ("node-1", "node-2")):
        counts.append(compliant("macvlan-shared", nodes=nodes).facts().calls)
    assert counts == [7, 7]            # nodes, pods, daemonsets, deployments, configmap get, SMCs, pools


def test_macvlan_reads_the_configmap_and_no_sriov_kinds(double):
    c = compliant("macvlan-shared")
    c.seed(double)
    double.clear_calls()
    c.facts(double)
    assert ("get", "configmaps", "spiderpool") in _calls(double)
    assert not [r for _, r, _ in _calls(double) if r.startswith("sriov")]
    assert {v for v, _, _ in _calls(double)} <= READS
    assert [c.name for c in double.calls if c.verb == "get"] == ["spiderpool-rdma-shared-device-plugin"]


def test_lists_are_paged(double, monkeypatch):
    monkeypatch.setattr(gather_mod, "PAGE", 1)
    c = compliant("sriov-shared")
    c.seed(double)
    double.clear_calls()
    facts = c.facts(double)
    assert sorted(facts.nodes) == ["node-1", "node-2"]
    assert len(facts.pods) == 6 and len(facts.ippools) == 2
    node_calls = [c for c in double.calls if c.resource == "nodes"]
    assert [c.param("limit") for c in node_calls] == ["1", "1"] and node_calls[1].param("continue")


def test_forbidden_pools_are_an_error_not_a_finding(double):
    c = compliant("macvlan-shared")
    c.seed(double)
    double.inject_fault("list", "spiderippools", code=403, times=None)
    facts = c.facts(double)
    assert facts.unavailable["spiderippools"].startswith("spiderippools: forbidden (403)")
    results = node_results(facts, Host("node-1", "macvlan-shared"))
    bad = findings(results)
    assert {k: r.outcome for k, r in bad.items()} == {
        (cid, rail): Outcome.ERROR for cid in ("k8s.ippools", "k8s.multus_config") for rail in ("rail1", "rail2")}
    r = bad[("k8s.ippools", "rail1")]
    assert r.summary.startswith("cannot read spiderippools: spiderippools: forbidden (403)")
    assert r.fix == "grant the kubeconfig's user get/list on it (read-only), then re-run"


def test_sriov_operator_not_installed(double):
    c = compliant("sriov-shared")
    for key in [k for k in c.objects if k.startswith(("state/", "policy/", "poolconfig"))]:
        del c.objects[key]
    c.seed(double)
    for plural in ("sriovnetworknodestates", "sriovnetworknodepolicies", "sriovnetworkpoolconfigs"):
        double.uninstall_crd("sriovnetwork.openshift.io", plural)
    facts = c.facts(double)
    results = node_results(facts, Host("node-1", "sriov-shared"))
    bad = findings(results)
    assert set(bad) == {("k8s.sriov_state", None)}
    r = bad[("k8s.sriov_state", None)]
    assert r.summary == "the SR-IOV operator's CRDs are not installed"
    assert r.fix == "helm upgrade spiderpool spiderpool/spiderpool -n spiderpool --reuse-values --set sriov.install=true"
    assert results[("k8s.multus_config", "rail1")].summary.endswith("see k8s.sriov_state")


def test_unreachable_api_server_is_an_error():
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    api.configuration.retries = 0
    facts = gather_cluster(api, [Query()])
    api.close()
    assert facts.error.startswith("the API server at http://127.0.0.1:9 could not be read: ")
    results = node_results(facts, Host("node-1", "sriov-shared"))
    assert {r.outcome for k, r in results.items() if k[0] != "k8s.sriov_state"} == {Outcome.ERROR}


def test_no_cluster_skips_every_check():
    ctx = Host("node-1", "macvlan-shared").ctx()
    results = run_all(ctx)                         # ctx has no cluster attribute at all
    assert {r.outcome for r in results.values()} == {Outcome.SKIP}
    assert results[("k8s.node_ip", None)].summary.startswith("no cluster given: run with --kubeconfig")


def test_node_unknown_to_the_cluster():
    facts = compliant("macvlan-shared", nodes=("node-2",)).facts()
    results = node_results(facts, Host("node-1", "macvlan-shared"))
    bad = findings(results)
    assert set(bad) == {("k8s.components", None)}
    assert bad[("k8s.components", None)].summary == "node-1 is not a Node of the cluster"
    assert results[("k8s.node_ip", None)].summary == "node-1 is not a Node of the cluster: see k8s.components"


# -- the harness hook ------------------------------------------------------------------------------

def test_attach_cluster_facts_over_snapshot_nodes(tmp_path, double):
    design = "sriov-per-node"
    compliant(design).seed(double)
    for node in ("node-1", "node-2"):
        Host(node, design).build().save(tmp_path / node)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(design_profile(design).model_dump(mode="json"), sort_keys=False))
    opts = Options(profile=str(profile), nodes=[f"snapshot://{tmp_path / n}" for n in ("node-1", "node-2")],
                   kubeconfig=str(double.kubeconfig(tmp_path / "kubeconfig")))
    state = RunState(opts, out=io.StringIO())
    state.resolve_nodes()
    state.gather()
    double.clear_calls()
    facts = attach_cluster_facts(state)
    assert facts is not None and facts.error is None and facts.calls == 9
    assert len(double.calls) == 9                          # once per run, not per node
    assert all(st.ctx.cluster is facts for st in state.nodes.values())
    assert state.notes[-1] == f"cluster facts: 2 Node(s) from {double.url} in 9 API call(s)"
    load_all()
    outcomes = {}
    for cid, spec in REGISTRY.items():
        if cid.startswith("k8s."):
            for subj in state.subjects(spec):
                records, outcome, message = evaluate_subject(state, subj)
                outcomes[(cid, subj.node.name, subj.rail.name if subj.rail else None)] = outcome
    assert set(outcomes.values()) == {"pass"}, outcomes
    assert len(outcomes) == 2 * (4 + 3 * 2)


def test_attach_without_a_cluster_sets_none(tmp_path):
    Host("node-1", "macvlan-shared").build().save(tmp_path / "node-1")
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(design_profile("macvlan-shared").model_dump(mode="json"), sort_keys=False))
    state = RunState(Options(profile=str(profile), nodes=[f"snapshot://{tmp_path / 'node-1'}"]), out=io.StringIO())
    state.resolve_nodes()
    state.gather()
    assert attach_cluster_facts(state) is None
    assert state.nodes["node-1"].ctx.cluster is None


def test_attach_with_a_bad_kubeconfig_reports_an_error(tmp_path):
    Host("node-1", "macvlan-shared").build().save(tmp_path / "node-1")
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(design_profile("macvlan-shared").model_dump(mode="json"), sort_keys=False))
    (tmp_path / "kubeconfig").write_text("not: a kubeconfig\n")
    state = RunState(Options(profile=str(profile), nodes=[f"snapshot://{tmp_path / 'node-1'}"],
                             kubeconfig=str(tmp_path / "kubeconfig")), out=io.StringIO())
    state.resolve_nodes()
    state.gather()
    facts = attach_cluster_facts(state)
    assert facts.error.startswith("the kubeconfig could not be loaded: ")
    r = REGISTRY["k8s.components"].fn(state.nodes["node-1"].ctx)
    assert r.outcome == Outcome.ERROR and r.summary.startswith("cluster facts unavailable: the kubeconfig")


@dataclass
class _Spec:
    target: TargetSpec


@dataclass
class _St:
    spec: _Spec
    profile: object = None
    ctx: object = None


@dataclass
class _State:
    nodes: dict = field(default_factory=dict)


def test_kube_targets_alias_their_node_and_queries_follow_the_profiles():
    state = _State({"gpu-a": _St(_Spec(TargetSpec("kube", "worker-17")), design_profile("sriov-shared")),
                    "gpu-b": _St(_Spec(TargetSpec("ssh", "10.0.0.5")), design_profile("macvlan-shared",
                                                                                   kubernetes={"sriov_namespace": "sriov"}))})
    assert aliases(state) == {"gpu-a": "worker-17"}
    assert queries(state) == [Query("spiderpool", "spiderpool", macvlan=False, sriov=True),
                              Query("spiderpool", "sriov", macvlan=True, sriov=False)]
