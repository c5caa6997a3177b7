"""Verdict labels written back to Nodes through the real kubernetes client (against KubeDouble)."""

from __future__ import annotations

import pytest

from rdma_preflight.kube import labels
from tests.fleet.synth import CHECKS, record, synthetic_doc

pytest.importorskip("aiohttp", reason="KubeDouble needs aiohttp")
from kubernetes import client as k8s  # noqa: E402

from tests.kube_double.double import KubeDouble  # noqa: E402


def outcome(node, check, rail):
    if node == "node-2" and check == "qos.ecn":
        return "fail"
    if node == "node-1" and check == "net.mtu" and rail == "rail1":
        return record(node, next(c for c in CHECKS if c[0] == check), "warn", rail)
    return "pass"


@pytest.fixture
def doc():
    """SYNTHETIC results: node-1 warns, node-2 fails qos.ecn, node-3 unreachable, ssh-only not in the cluster."""
    return synthetic_doc(["node-1", "node-2", "node-3", "ssh-only"], outcome, node_errors={"node-3": "timed out"})


def test_verdicts_and_patch(doc):
    v = labels.verdicts(doc)
    assert v == {"node-1": ("warn", []), "node-2": ("fail", ["qos.ecn"]), "node-3": ("error", [c[0] for c in CHECKS]),
                 "ssh-only": ("pass", [])}
    assert labels.label_patch("fail", ["qos.ecn", "net.mtu"], "2026-11-29T10:05:00+00:00") == {"metadata": {
        "labels": {"rdma-preflight.io/verdict": "fail"},
        "annotations": {"rdma-preflight.io/checked-at": "2026-11-29T10:05:00+00:00",
                        "rdma-preflight.io/failing": "qos.ecn,net.mtu"}}}


def test_labels_applied_through_the_api(doc):
    with KubeDouble(nodes=("node-1", "node-2", "node-3"), pod_netns=False) as kd:
        api_client = kd.api_client()
        try:
            api = k8s.CoreV1Api(api_client)
            assert labels.apply_verdict_labels(doc, api, dry_run=True)["node-2"] == "labelled fail"
            assert "rdma-preflight.io/verdict" not in api.read_node("node-2").metadata.labels   # dry run
            result = labels.apply_verdict_labels(doc, api)
            assert result == {"node-1": "labelled warn", "node-2": "labelled fail", "node-3": "labelled error",
                              "ssh-only": "not a Kubernetes node (404)"}
            n2 = api.read_node("node-2")
            assert n2.metadata.labels["rdma-preflight.io/verdict"] == "fail"
            assert n2.metadata.annotations["rdma-preflight.io/failing"] == "qos.ecn"
            assert n2.metadata.annotations["rdma-preflight.io/checked-at"] == "2026-11-29T10:05:00+00:00"
            assert api.read_node("node-1").metadata.labels["rdma-preflight.io/verdict"] == "warn"
            assert n2.metadata.labels["kubernetes.io/hostname"] == "node-2"          # other labels kept
        finally:
            api_client.close()
