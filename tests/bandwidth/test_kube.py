"""End to end against the Kubernetes API double with the real client (HTTP + WebSocket exec).

Pods are real network namespaces where it matters (rails are veths into per-rail bridges,
``RailFabric``); execs of the driver are answered by the labelled ``PerftestDouble`` (the
driver script's protocol with perftest's text and the bandwidths each test plants).
"""

from __future__ import annotations

import _thread
import json
import os
import signal
import time

import pytest

from rdma_preflight.bandwidth import cleanup, schedule
from rdma_preflight.bandwidth.failures import FailureClass as C
from rdma_preflight.bandwidth.pods import run_kubernetes
from rdma_preflight.bandwidth.runner import RunConfig
from rdma_preflight.bandwidth.spec import endpoint_pod
from rdma_preflight.bandwidth.discover import RailTarget
from tests.bandwidth.conftest import NAMESPACE, make_profile

FIVE = [f"node-{i}" for i in range(1, 6)]


def measure(lab, profile=None, ready_timeout: float = 10, **config):
    profile = profile or make_profile(len(lab.plan.rails))
    cfg = RunConfig.from_profile(profile, **({"listen_wait": 2, "connect_slack": 2, "exec_margin": 10} | config))
    api = lab.api_client()
    try:
        return run_kubernetes(api, profile, lab.nodes, config=cfg, ready_timeout=ready_timeout)
    finally:
        api.close()


def bad(report):
    return {k: v for k, v in report.verdicts.items() if v.outcome != "pass"}


def assert_no_pods(lab):
    lab.double.settle()
    assert lab.double.pods(NAMESPACE) == []


def test_pods_carry_networks_resources_ipc_lock_and_are_pinned(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:3], 2)
    seen = {}
    lab.perftest.on_exec = lambda mode, pod, jobs: seen.setdefault(pod["metadata"]["name"], pod)
    report = measure(lab)
    assert bad(report) == {}
    assert len(seen) == 3
    for node in FIVE[:3]:
        pod = seen[f"rpf-bw-{report.run_id}-{node}"]
        assert pod["spec"]["nodeName"] == node                              # placed by the scheduler
        assert pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"][0]["matchFields"][0]["values"] == [node]
        assert json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
            {"name": "gpu1-macvlan", "namespace": "spiderpool"}, {"name": "gpu2-macvlan", "namespace": "spiderpool"}]
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"spidernet.io/shared_cx5_gpu1": "1",
                                                    "spidernet.io/shared_cx5_gpu2": "1"}
        assert container["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
        assert pod["metadata"]["labels"]["rdma-preflight.io/run"] == report.run_id
        assert pod["spec"]["activeDeadlineSeconds"] > 60
    assert sorted(report.deleted) == sorted(seen)
    assert_no_pods(lab)


def test_ring_is_two_rounds_with_rails_in_parallel_on_distinct_ports(bw_lab_factory):
    lab = bw_lab_factory(FIVE, 3)
    report = measure(lab)
    assert bad(report) == {} and lab.perftest.problems == []
    assert [(r.index, r.retest) for r in report.rounds] == [(1, False), (2, False)]
    assert sorted(lab.perftest.rounds("serve")) == sorted(f"/tmp/rpf-bw-{report.run_id}-r{k}-{n}"
                                                          for k in (1, 2) for n in FIVE)
    for mode in ("serve", "run"):
        calls = lab.perftest.jobs(mode)
        assert len(calls) == 2 * len(FIVE)                  # every node once per round, as server and as client
        for _node, _round, jobs in calls:
            cut = jobs.index(["--"]) if ["--"] in jobs else len(jobs)
            assert [j[0] for j in jobs[:cut]] == (["s-rail1", "s-rail2", "s-rail3"] if mode == "serve"
                                                  else ["c-rail1", "c-rail2", "c-rail3"])
            assert sorted(int(j[1]) for j in jobs[:cut]) == [18515, 18516, 18517]   # all rails in one exec
            if mode == "run":                                # the same exec then collects the node's servers
                assert [j[0] for j in jobs[cut + 1:]] == ["s-rail1", "s-rail2", "s-rail3"]
    assert len(report.verdicts) == 2 * 5 * 3
    v = report.verdicts["node-2->node-3:rail2"]
    assert v.gbps == 196.5 and v.evidence["runs"][0]["port"] == 18516
    assert v.evidence["runs"][0]["src"] == {"netdev": "net2", "ip": "172.16.2.12", "device": "mlx5_1", "port": 1,
                                            "gid_index": 3, "link_layer": "Ethernet", "rate": "200 Gb/sec (4X HDR)",
                                            "mtu": 4200, "numa_node": 0}
    assert_no_pods(lab)


def test_api_calls_per_run(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:4], 2)
    lab.double.clear_calls()
    measure(lab)
    d = lab.double
    assert (d.count("create", "pods"), d.count("delete", "pods")) == (4, 4)
    assert d.count("exec", "pods") == 4 + 2 * (4 + 4)        # discover, then per round serve + run(+collect)
    assert d.count("list", "pods") == 2 and d.count("watch", "pods") <= 1


def test_an_expired_watch_is_listed_again(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:3], 1)
    lab.double.settings.start_delay = 0.3                   # pods are not Ready at the first list
    lab.double.inject_fault("watch", "pods", code=410, message="too old resource version")
    lab.double.clear_calls()
    report = measure(lab, make_profile(1))
    assert bad(report) == {} and report.not_ready == {}
    assert [c.code for c in lab.double.calls if c.verb == "watch"][0] == 410
    assert lab.double.count("list", "pods") == 3             # list, list again after the 410, list at delete


def test_tournament_is_n_minus_1_rounds(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:4], 1)
    report = measure(lab, make_profile(1, strategy="tournament"))
    assert [r.index for r in report.rounds] == [1, 2, 3]
    assert len(report.verdicts) == 12 and bad(report) == {}


@pytest.mark.netns
@pytest.mark.parametrize("fault, failing, kind, node", [
    ({"slow_nic": {("node-3", "rail2"): 0.5}},
     ["node-2->node-3:rail2", "node-3->node-2:rail2", "node-3->node-4:rail2", "node-4->node-3:rail2"], "nic", "node-3"),
    ({"slow_node": {"node-2": 0.6}}, None, "host", "node-2"),
    ({"slow_pair": {("node-4", "node-5", "rail1"): 0.5}}, ["node-4->node-5:rail1", "node-5->node-4:rail1"], "path", None),
    ({"slow_tx": {("node-1", "rail1"): 0.4}}, ["node-1->node-2:rail1", "node-1->node-5:rail1"], "nic-tx", "node-1"),
    ({"slow_flow": {("node-5", "node-1", "rail2"): 0.5}}, ["node-5->node-1:rail2"], "path-one-way", None),
], ids=["slow-nic", "slow-node", "slow-pair", "one-way-tx", "one-way-path"])
def test_planted_faults_are_localised(bw_lab_factory, fault, failing, kind, node):
    lab = bw_lab_factory(FIVE, 2, netns=True)
    for attr, value in fault.items():
        getattr(lab.plan, attr).update(value)
    report = measure(lab)
    got = bad(report)
    if failing is None:
        failing = sorted(f.id for f in report.planned if "node-2" in (f.src, f.dst))
    assert sorted(got) == sorted(failing)
    assert {(v.blame.kind, v.blame.node) for v in got.values()} == {(kind, node)}
    assert any(r.retest for r in report.rounds)             # blamed only after known-good retests
    assert lab.perftest.problems == [] and lab.double.errors == []
    assert_no_pods(lab)


def test_known_good_retest_clears_a_transient(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:4], 2)
    lab.plan.transient[("node-2", "node-3", "rail1")] = 1
    report = measure(lab)
    v = report.verdicts["node-2->node-3:rail1"]
    assert (v.outcome, v.blame.kind) == ("pass", "transient")
    assert [(r["round"], r["retest"], r["gbps"]) for r in v.evidence["runs"]] == [(1, False, 58.95), (3, True, 196.5)]
    retested = {(f.src, f.dst) for r in report.rounds if r.retest for f in schedule.Round(0, tuple(
        schedule.Job(s, d, rs) for s, d, rs in r.jobs)).flows()}
    assert retested == {("node-2", "node-3"), ("node-2", "node-1"), ("node-1", "node-3")}
    assert bad(report) == {}


@pytest.mark.parametrize("plant, flow, cls, text", [
    (lambda p: p.port_state.update({("node-2", "rail1"): "1: DOWN"}), "node-1->node-2:rail1", C.PORT_NOT_ACTIVE,
     "mlx5_0/1 state DOWN"),
    (lambda p: p.no_roce_gid.add(("node-2", "rail1")), "node-1->node-2:rail1", C.GID, "no RoCE v2 GID carries"),
    (lambda p: p.rate.update({("node-2", "rail1"): "100 Gb/sec (2X HDR)"}), "node-1->node-2:rail1",
     C.LINK_DEGRADED, "link trained down: node-2 rail1 mlx5_0 at 100 Gb/s"),
    (lambda p: p.version.update({"node-2": "5.60"}), "node-1->node-2:rail1", C.VERSION_SKEW,
     "perftest 6.22 on node-1, 5.60 on node-2"),
    (lambda p: p.missing_perftest.add("node-2"), "node-1->node-2:rail1", C.BINARY_MISSING, "ib_write_bw: not found"),
    (lambda p: p.server_fail.update({("node-2", "rail1"): "memlock"}), "node-1->node-2:rail1", C.MEMLOCK,
     "Couldn't allocate MR"),
    (lambda p: p.client_fail.update({("node-1", "node-2", "rail1"): "transport"}), "node-1->node-2:rail1",
     C.TRANSPORT, "Failed status 12"),
    (lambda p: p.client_fail.update({("node-1", "node-2", "rail1"): "hang"}), "node-1->node-2:rail1",
     C.SIDE_CHANNEL, "killed by the outer timeout"),
    (lambda p: p.mtu_fallback.add(("node-1", "node-2", "rail1")), "node-1->node-2:rail1", C.MTU_FALLBACK,
     "perftest fell back to RDMA MTU 1024"),
], ids=["port-down", "no-gid", "trained-down", "version-skew", "no-perftest", "memlock", "transport", "hang",
        "mtu-fallback"])
def test_failure_classes_end_to_end(bw_lab_factory, plant, flow, cls, text):
    lab = bw_lab_factory(FIVE[:3], 1)
    plant(lab.plan)
    report = measure(lab, make_profile(1, retest=False))
    v = report.verdicts[flow]
    assert v.cls is cls and text in v.summary
    assert v.outcome == ("warn" if cls is C.MTU_FALLBACK else "fail")
    assert_no_pods(lab)


def test_a_profile_without_rail_networks_is_refused_before_any_pod(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:2], 1)
    profile = make_profile(1)
    profile = profile.model_copy(update={"rails": {"rail1": profile.rails["rail1"].model_copy(update={"network": None})}})
    with pytest.raises(ValueError, match="set rails.<rail>.network"):
        measure(lab, profile)
    assert lab.double.count("create", "pods") == 0


def test_pods_are_gone_after_a_failure_everywhere(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:3], 2)
    for node in lab.nodes:
        for rail in lab.plan.rails:
            lab.plan.server_fail[(node, rail)] = "port_down"
    report = measure(lab)
    assert {v.cls for v in report.verdicts.values()} == {C.PORT_NOT_ACTIVE}
    assert_no_pods(lab)


def test_pods_are_gone_after_a_ready_timeout_and_the_reason_is_shown(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:4], 2, allocatable={"node-3": {"spidernet.io/shared_cx5_gpu2": "0"}})
    report = measure(lab, ready_timeout=1.5)
    v = report.verdicts["node-2->node-3:rail1"]
    assert (v.cls, v.outcome) == (C.NOT_READY, "fail")
    assert "not Ready after 1.5s: Unschedulable: 0/4 nodes are available:" in v.summary
    assert "Insufficient spidernet.io/shared_cx5_gpu2" in v.summary
    assert "allocatable RDMA resources" in v.fix
    assert report.verdicts["node-1->node-2:rail1"].outcome == "pass"
    assert_no_pods(lab)


def test_pods_are_gone_after_an_exec_timeout(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:3], 1)
    lab.perftest.on_exec = lambda mode, pod, jobs: time.sleep(3) if mode == "serve" else None
    report = measure(lab, make_profile(1, retest=False), listen_wait=0, exec_margin=1)
    v = report.verdicts["node-1->node-2:rail1"]
    assert v.cls is C.NO_RESULT and "timed out after 1s" in v.summary
    assert_no_pods(lab)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_pods_are_gone_after_an_interrupt(bw_lab_factory, how):
    lab = bw_lab_factory(FIVE[:3], 2)

    def interrupt(mode, pod, jobs):
        if mode == "run":
            _thread.interrupt_main() if how == "ctrl-c" else os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)

    lab.perftest.on_exec = interrupt
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        measure(lab)
    assert signal.getsignal(signal.SIGTERM) is previous
    assert lab.double.count("delete", "pods") >= 3
    assert_no_pods(lab)


def test_cleanup_deletes_leftovers_by_label(bw_lab_factory):
    lab = bw_lab_factory(FIVE[:2], 1)
    api = lab.api_client()
    from kubernetes import client

    core = client.CoreV1Api(api)
    rails = RailTarget.from_profile(make_profile(1))
    for run_id in ("aaaa1111", "bbbb2222"):
        for node in lab.nodes:
            core.create_namespaced_pod(NAMESPACE, endpoint_pod(
                node=node, run_id=run_id, namespace=NAMESPACE, rails=rails, image="busybox",
                spiderpool_namespace="spiderpool", deadline_seconds=60))
    core.create_namespaced_pod(NAMESPACE, {"metadata": {"name": "unrelated", "labels": {"rdma-preflight.io/run": "x"}},
                                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert sorted(cleanup(api, NAMESPACE, "aaaa1111")) == ["rpf-bw-aaaa1111-node-1", "rpf-bw-aaaa1111-node-2"]
    assert sorted(cleanup(api, NAMESPACE)) == ["rpf-bw-bbbb2222-node-1", "rpf-bw-bbbb2222-node-2"]
    assert [p["metadata"]["name"] for p in lab.double.pods(NAMESPACE)] == ["unrelated"]
    api.close()
