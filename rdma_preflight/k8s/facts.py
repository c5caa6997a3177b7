"""ClusterFacts: what the API server says about the cluster, read once per run.

Plain data only: built by gather.py, read by the pure k8s.* evaluators through
``ctx.cluster``. Custom resources stay the dicts the API returned (their CRDs change between
releases; the readers in multus.py / ipam.py know the v2beta1 and sriovnetwork v1 shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
CALICO_IPV4 = "projectcalico.org/IPv4Address"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Obj) -> str | None:
    return meta(obj).get("namespace")


def spec_of(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def status_of(obj: Obj) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


@dataclass(frozen=True)
class KNode:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    addresses: tuple[tuple[str, str], ...] = ()      # (type, address), e.g. ("InternalIP", "10.0.0.10")
    unschedulable: bool = False

    def addresses_of(self, kind: str) -> list[str]:
        return [a for t, a in self.addresses if t == kind]


@dataclass(frozen=True)
class Workload:
    """A DaemonSet or Deployment of a component, with the counts its status reports."""

    kind: str                  # DaemonSet | Deployment
    namespace: str
    name: str
    desired: int = 0
    ready: int = 0


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    node: str | None
    phase: str
    ready: bool
    owner_kind: str | None = None
    owner_name: str | None = None
    waiting: str = ""          # a container's waiting reason (CrashLoopBackOff, ImagePullBackOff...)


@dataclass
class ClusterFacts:
    server: str = ""
    spiderpool_namespace: str = "spiderpool"
    sriov_namespace: str = "spiderpool"
    nodes: dict[str, KNode] = field(default_factory=dict)
    workloads: dict[tuple[str, str, str], Workload] = field(default_factory=dict)   # (kind, ns, name)
    pods: list[PodInfo] = field(default_factory=list)
    configmaps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (ns, name) -> data
    multus_configs: list[Obj] = field(default_factory=list)
    ippools: list[Obj] = field(default_factory=list)
    sriov_node_states: list[Obj] = field(default_factory=list)
    sriov_policies: list[Obj] = field(default_factory=list)
    sriov_pool_configs: list[Obj] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)   # what -> why it could not be read
    error: str | None = None                                     # nothing could be read at all
    aliases: dict[str, str] = field(default_factory=dict)       # preflight node name -> k8s node name
    calls: int = 0                                               # API requests made

    def node(self, name: str, *alternatives: str | None) -> KNode | None:
        """The Node for a preflight node name (alias first), else the first alternative that
        names a Node (the host's hostname)."""
        for candidate in (self.aliases.get(name), name, *alternatives):
            if candidate and candidate in self.nodes:
                return self.nodes[candidate]
        return None

    def workload(self, kind: str, namespace: str, name: str) -> Workload | None:
        return self.workloads.get((kind, namespace, name))

    def pods_of(self, kind: str, namespace: str, name: str, node: str | None = None) -> list[PodInfo]:
        return [p for p in self.pods if p.namespace == namespace and p.owner_kind == kind
                and p.owner_name == name and (node is None or p.node == node)]

    def configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.configmaps.get((namespace, name))

    def ippool(self, name: str) -> Obj | None:
        return next((p for p in self.ippools if name_of(p) == name), None)

    def why_missing(self, what: str) -> str:
        """Why a kind of object is absent: unreadable (with the reason) or simply none exist."""
        return self.unavailable.get(what, "")
