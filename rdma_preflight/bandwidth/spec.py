"""The endpoint pod: one per node and run, used for every round and retest.

Why one pod per node rather than a server and a client pod per pair: a pod with eight
Multus attachments and eight RDMA resources costs scheduling, CNI, IPAM and device-plugin
work; a ring would create 4N pods and a 64-node tournament 4032, while one pod per node is
created once and serves as server and client in every round (separate processes, distinct
ports). It holds one RDMA resource per rail (one VF per rail in SR-IOV designs, not two).

The pod carries the profile's networks (``k8s.v1.cni.cncf.io/networks``, each rail's
SpiderMultusConfig in the Spiderpool namespace) and extra annotations (e.g. the Spiderpool
webhook's ``cni.spidernet.io/rdma-resource-inject``), requests 1 of each rail's RDMA
resource, adds CAP_IPC_LOCK (RDMA pins memory), is pinned to its node by node affinity on
``metadata.name`` (the scheduler checks the resources and says why a node does not fit),
tolerates every taint, mounts a memory-backed /dev/shm, and ends by itself after
``activeDeadlineSeconds``. Its main process only sleeps and reaps the perftest processes
the driver leaves in the background.
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from ..kube.manifests import _slug, node_label_value
from . import names
from .cleanup import COMPONENT, COMPONENT_LABEL, RUN_LABEL
from .discover import RailTarget

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NODE_LABEL = "rdma-preflight.io/node"
CONTAINER = "bw"
POD_PREFIX = "rpf-bw-"
# PID 1: sleep, and reap the background processes the driver leaves behind.
KEEPALIVE = "trap 'exit 0' TERM INT; while :; do sleep 5 & wait $!; done"


def pod_name(run_id: str, node: str) -> str:
    prefix = f"{POD_PREFIX}{names.run_id(run_id)}-"
    return prefix + _slug(names.node(node), 63 - len(prefix))


def networks_annotation(rails: Sequence[RailTarget], namespace: str) -> str | None:
    nets = [{"name": r.network, "namespace": names.namespace(namespace)} for r in rails if r.network]
    return json.dumps(nets, separators=(",", ":")) if nets else None


def rail_resources(rails: Sequence[RailTarget]) -> dict[str, str]:
    out: dict[str, int] = {}
    for r in rails:
        if r.resource:
            out[names.resource(r.resource)] = out.get(r.resource, 0) + 1
    return {k: str(v) for k, v in out.items()}


def endpoint_pod(*, node: str, run_id: str, namespace: str, rails: Sequence[RailTarget], image: str,
                 spiderpool_namespace: str, deadline_seconds: int,
                 annotations: Mapping[str, str] | None = None) -> dict:
    names.kube_node(node)
    annotations = {names.annotation_key(k): str(v) for k, v in (annotations or {}).items()}
    nets = networks_annotation(rails, spiderpool_namespace)
    if nets and NETWORKS_ANNOTATION not in annotations:
        annotations[NETWORKS_ANNOTATION] = nets
    resources = rail_resources(rails)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name(run_id, node), "namespace": names.namespace(namespace),
            "labels": {"app.kubernetes.io/name": "rdma-preflight", COMPONENT_LABEL: COMPONENT,
                       "app.kubernetes.io/managed-by": "rdma-preflight", RUN_LABEL: run_id,
                       NODE_LABEL: node_label_value(node)},
            "annotations": annotations,
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": max(1, int(deadline_seconds)),
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}},
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": CONTAINER, "image": names.image(image),
                "command": ["sh", "-c", KEEPALIVE],
                "securityContext": {"capabilities": {"add": ["IPC_LOCK"]}},
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
            }],
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
        },
    }
