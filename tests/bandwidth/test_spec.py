"""The endpoint pod manifest and the names that reach it."""

from __future__ import annotations

import json

import pytest

from rdma_preflight.bandwidth import names
from rdma_preflight.bandwidth.discover import RailTarget
from rdma_preflight.bandwidth.spec import KEEPALIVE, endpoint_pod, pod_name
from tests.bandwidth.conftest import make_profile


def manifest(node: str = "gpu-node-07", **kw) -> dict:
    prof = make_profile(2)
    args = {"node": node, "run_id": "ab12cd34", "namespace": "rdma-preflight", "rails": RailTarget.from_profile(prof),
            "image": prof.bandwidth.image, "spiderpool_namespace": "spiderpool", "deadline_seconds": 900} | kw
    return endpoint_pod(**args)


def test_pod_carries_networks_resources_ipc_lock_placement_and_run_label():
    pod = manifest()
    md, spec = pod["metadata"], pod["spec"]
    assert md["name"] == "rpf-bw-ab12cd34-gpu-node-07"
    assert md["labels"]["rdma-preflight.io/run"] == "ab12cd34"
    assert md["labels"]["app.kubernetes.io/component"] == "bandwidth"
    assert json.loads(md["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "gpu1-macvlan", "namespace": "spiderpool"}, {"name": "gpu2-macvlan", "namespace": "spiderpool"}]
    (c,) = spec["containers"]
    assert c["image"] == "ghcr.io/spidernet-io/rdma-tools:v12.5.8"
    assert c["resources"] == {"requests": {"spidernet.io/shared_cx5_gpu1": "1", "spidernet.io/shared_cx5_gpu2": "1"},
                              "limits": {"spidernet.io/shared_cx5_gpu1": "1", "spidernet.io/shared_cx5_gpu2": "1"}}
    assert c["securityContext"] == {"capabilities": {"add": ["IPC_LOCK"]}}
    assert c["command"] == ["sh", "-c", KEEPALIVE]
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-node-07"]}]}]}
    assert (spec["activeDeadlineSeconds"], spec["restartPolicy"], spec["automountServiceAccountToken"]) == (
        900, "Never", False)
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]


def test_webhook_annotations_and_shared_resources():
    rails = [RailTarget("rail1", 0, resource="spidernet.io/hca"), RailTarget("rail2", 1, resource="spidernet.io/hca")]
    pod = manifest(rails=rails, annotations={"cni.spidernet.io/rdma-resource-inject": "rdma-network"})
    assert pod["metadata"]["annotations"] == {"cni.spidernet.io/rdma-resource-inject": "rdma-network"}
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"spidernet.io/hca": "2"}


def test_long_node_names_fit_a_pod_name():
    name = pod_name("ab12cd34", "a" * 80 + ".example.com")
    assert len(name) <= 63 and name.startswith("rpf-bw-ab12cd34-aaaa")


@pytest.mark.parametrize("field, value, message", [
    ("node", "Node_1", "invalid Kubernetes node name 'Node_1'"),
    ("namespace", "Bad NS", "invalid namespace 'Bad NS'"),
    ("image", "rdma-tools; rm -rf /", "invalid image 'rdma-tools; rm -rf /'"),
    ("run_id", "AB", "invalid run id 'AB'"),
    ("annotations", {"bad key!": "x"}, "invalid annotation key 'bad key!'"),
    ("rails", [RailTarget("rail1", 0, resource="spidernet.io/x y")], "invalid resource name 'spidernet.io/x y'"),
])
def test_bad_names_never_reach_the_manifest(field, value, message):
    with pytest.raises(names.BadName, match=message.replace("(", r"\(").replace(";", ";")):
        manifest(**{field: value})
