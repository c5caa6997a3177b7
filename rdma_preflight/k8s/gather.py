"""Read ClusterFacts through the official ``kubernetes`` client: the only I/O of the k8s checks.

Read-only and least privilege: ``list`` and one ``get``, nothing else, each at most once per
run (lists are paged), whatever the number of nodes:

* cluster scope: nodes; spidermultusconfigs (they may live in any namespace: the docs put
  Solution 2's in kube-system); spiderippools (cluster-scoped);
* in the Spiderpool namespace (and the SR-IOV operator's, when it differs): pods, daemonsets,
  deployments; ``get`` of the shared device plugin ConfigMap (Macvlan designs only);
* in the SR-IOV operator namespace (SR-IOV designs only): sriovnetworknodestates,
  sriovnetworknodepolicies, sriovnetworkpoolconfigs.

A list the user may not read (403) or a CRD that is not installed (404) is recorded in
``ClusterFacts.unavailable`` with the reason, and the checks say so; an API server that cannot
be reached at all sets ``ClusterFacts.error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from ..timeouts import DEFAULTS, Timeouts
from .facts import ClusterFacts, KNode, PodInfo, Workload

PAGE = 500
SPIDER = ("spiderpool.spidernet.io", "v2beta1")
SRIOV = ("sriovnetwork.openshift.io", "v1")


@dataclass(frozen=True)
class Query:
    """Where the components live (from the profiles' ``kubernetes`` sections)."""

    spiderpool_namespace: str = "spiderpool"
    sriov_namespace: str = "spiderpool"
    device_plugin_configmap: str = "spiderpool-rdma-shared-device-plugin"
    macvlan: bool = True               # read the shared device plugin ConfigMap
    sriov: bool = True                 # read the SR-IOV operator's custom resources


class _Unreachable(Exception):
    pass


def _why(exc: ApiException, what: str) -> str:
    if exc.status == 404:
        return f"{what}: not found (404; the CRD or object does not exist)"
    if exc.status in (401, 403):
        return f"{what}: forbidden ({exc.status}); the kubeconfig's user needs read access ({exc.reason})"
    return f"{what}: HTTP {exc.status} {exc.reason}"


class _Reader:
    def __init__(self, api: k8s.ApiClient, facts: ClusterFacts, timeouts: Timeouts = DEFAULTS):
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)
        self.facts = facts
        self.request_timeout = timeouts.kube_list_timeout()      # (connect, read) seconds per request

    def _call(self, fn: Callable, *args: Any, **kw: Any) -> Any:
        self.facts.calls += 1
        try:
            return fn(*args, _request_timeout=self.request_timeout, **kw)
        except ApiException:
            raise
        except Exception as exc:  # urllib3 / socket errors: the server is not reachable
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from None

    def typed(self, what: str, fn: Callable, *args: Any) -> list:
        items: list = []
        token = None
        try:
            while True:
                kw: dict[str, Any] = {"limit": PAGE, **({"_continue": token} if token else {})}
                page = self._call(fn, *args, **kw)
                items.extend(page.items or [])
                token = page.metadata._continue if page.metadata else None
                if not token:
                    return items
        except ApiException as exc:
            self.facts.unavailable[what] = _why(exc, what)
            return []

    def custom_list(self, what: str, group_version: tuple[str, str], plural: str,
                    namespace: str | None = None) -> list[dict]:
        group, version = group_version
        items: list[dict] = []
        token = None
        try:
            while True:
                kw: dict[str, Any] = {"limit": PAGE}
                if token:
                    kw["_continue"] = token
                if namespace is None:
                    page = self._call(self.custom.list_cluster_custom_object, group, version, plural, **kw)
                else:
                    page = self._call(self.custom.list_namespaced_custom_object, group, version, namespace, plural,
                                      **kw)
                items.extend(page.get("items") or [])
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    return items
        except ApiException as exc:
            self.facts.unavailable[what] = _why(exc, what)
            return []


def _node(n: Any) -> KNode:
    md, st, sp = n.metadata, n.status, n.spec
    return KNode(name=md.name, labels=dict(md.labels or {}), annotations=dict(md.annotations or {}),
                 allocatable=dict((st.allocatable if st else None) or {}),
                 capacity=dict((st.capacity if st else None) or {}),
                 addresses=tuple((a.type, a.address) for a in ((st.addresses if st else None) or [])),
                 unschedulable=bool(sp and sp.unschedulable))


def _pod(p: Any) -> PodInfo:
    md, st = p.metadata, p.status
    owner = next((o for o in (md.owner_references or []) if o.controller), None) or \
        next(iter(md.owner_references or []), None)
    ready = any(c.type == "Ready" and c.status == "True" for c in ((st.conditions if st else None) or []))
    waiting = ""
    for cs in (st.container_statuses if st else None) or []:
        if cs.state and cs.state.waiting and cs.state.waiting.reason:
            waiting = cs.state.waiting.reason
            break
    return PodInfo(namespace=md.namespace, name=md.name, node=p.spec.node_name if p.spec else None,
                   phase=(st.phase if st else None) or "Unknown", ready=ready,
                   owner_kind=owner.kind if owner else None, owner_name=owner.name if owner else None,
                   waiting=waiting)


def _daemonset(d: Any) -> Workload:
    st = d.status
    return Workload("DaemonSet", d.metadata.namespace, d.metadata.name,
                    desired=(st.desired_number_scheduled if st else 0) or 0, ready=(st.number_ready if st else 0) or 0)


def _deployment(d: Any) -> Workload:
    st = d.status
    return Workload("Deployment", d.metadata.namespace, d.metadata.name,
                    desired=(d.spec.replicas if d.spec and d.spec.replicas is not None else 1),
                    ready=(st.ready_replicas if st else 0) or 0)


def gather_cluster(api: k8s.ApiClient, queries: Iterable[Query] = (Query(),),
                   timeouts: Timeouts = DEFAULTS) -> ClusterFacts:
    """Every fact the k8s.* checks read, in one pass. Never raises for API errors.
    Each request is bounded by ``timeouts.kube_connect`` / ``timeouts.kube_list``."""
    queries = list(queries) or [Query()]
    first = queries[0]
    facts = ClusterFacts(server=api.configuration.host, spiderpool_namespace=first.spiderpool_namespace,
                         sriov_namespace=first.sriov_namespace)
    r = _Reader(api, facts, timeouts)
    try:
        for n in r.typed("nodes", r.core.list_node):
            facts.nodes[n.metadata.name] = _node(n)
        namespaces = list(dict.fromkeys(ns for q in queries for ns in (q.spiderpool_namespace,)
                                        + ((q.sriov_namespace,) if q.sriov else ())))
        for ns in namespaces:
            facts.pods += [_pod(p) for p in r.typed(f"pods in {ns}", r.core.list_namespaced_pod, ns)]
            for d in r.typed(f"daemonsets in {ns}", r.apps.list_namespaced_daemon_set, ns):
                w = _daemonset(d)
                facts.workloads[(w.kind, w.namespace, w.name)] = w
            for d in r.typed(f"deployments in {ns}", r.apps.list_namespaced_deployment, ns):
                w = _deployment(d)
                facts.workloads[(w.kind, w.namespace, w.name)] = w
        for ns, cm in dict.fromkeys((q.spiderpool_namespace, q.device_plugin_configmap) for q in queries if q.macvlan):
            what = f"configmap {ns}/{cm}"
            try:
                obj = r._call(r.core.read_namespaced_config_map, cm, ns)
                facts.configmaps[(ns, cm)] = dict(obj.data or {})
            except ApiException as exc:
                facts.unavailable[what] = _why(exc, what)
        facts.multus_configs = r.custom_list("spidermultusconfigs", SPIDER, "spidermultusconfigs")
        facts.ippools = r.custom_list("spiderippools", SPIDER, "spiderippools")
        for ns in dict.fromkeys(q.sriov_namespace for q in queries if q.sriov):
            facts.sriov_node_states += r.custom_list("sriovnetworknodestates", SRIOV, "sriovnetworknodestates", ns)
            facts.sriov_policies += r.custom_list("sriovnetworknodepolicies", SRIOV, "sriovnetworknodepolicies", ns)
            facts.sriov_pool_configs += r.custom_list("sriovnetworkpoolconfigs", SRIOV, "sriovnetworkpoolconfigs", ns)
    except _Unreachable as exc:
        facts.error = f"the API server at {facts.server} could not be read: {exc}"
    return facts
