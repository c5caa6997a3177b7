"""Synthetic clusters for the k8s.* tests: compliant Spiderpool installs per design, seeded into
the in-process API double and read back through the real ``kubernetes`` client.

SYNTHETIC: every object here is hand-made test content in the real CRD shapes the spec cites
(spiderpool.spidernet.io/v2beta1 SpiderMultusConfig / SpiderIPPool, sriovnetwork.openshift.io/v1
SriovNetworkNodeState / SriovNetworkNodePolicy / SriovNetworkPoolConfig, apps/v1 workloads,
v1 pods / nodes / configmaps), labelled ``rdma-preflight.io/synthetic: "true"``. Names and values
follow the Spiderpool docs (spiderpool namespace, spidernet.io resources, rdmaHcaMax 100,
per-node pools ``<if>-rail<N>-<node>`` with the Solution 2 SpiderMultusConfigs in kube-system).

A test takes ``compliant(design)``, changes one object in ``objects`` / ``nodes`` / ``pods``,
then ``facts(...)`` seeds a fresh double and gathers ClusterFacts with the real client.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from rdma_preflight.k8s.facts import CALICO_IPV4, ClusterFacts
from rdma_preflight.k8s.gather import Query, gather_cluster
from tests.kube_double.double import KubeDouble

from .host import IB_NICS, NODE_INDEX, ROCE_NICS, mgmt_address

SYNTH = {"rdma-preflight.io/synthetic": "true"}
NS = "spiderpool"
PREFIX = "spidernet.io"
SPIDER = "spiderpool.spidernet.io/v2beta1"
SRIOV = "sriovnetwork.openshift.io/v1"
RDMA_CIDR = "172.16.0.0/16"


def _uid(text: str) -> str:
    return str(hashlib.sha256(text.encode()).hexdigest()[:8]) + "-0000-4000-8000-000000000000"


def _md(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": dict(SYNTH)}
    if namespace:
        md["namespace"] = namespace
    md.update(extra)
    return md


def _template(app: str) -> dict[str, Any]:
    return {"selector": {"matchLabels": {"app.kubernetes.io/component": app}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/component": app}},
                         "spec": {"containers": [{"name": app, "image": f"ghcr.io/spidernet-io/{app}:synthetic"}]}}}


def daemonset(name: str, nodes: int, ready: int | None = None, namespace: str = NS) -> dict[str, Any]:
    ready = nodes if ready is None else ready
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _md(name, namespace), "spec": _template(name),
            "status": {"currentNumberScheduled": nodes, "desiredNumberScheduled": nodes, "numberMisscheduled": 0,
                       "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": nodes}}


def deployment(name: str, ready: int = 1, namespace: str = NS) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _md(name, namespace),
            "spec": {"replicas": 1, **_template(name)},
            "status": {"replicas": 1, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": 1}}


def pod(ds: str, node: str, ready: bool = True, phase: str = "Running", waiting: str = "",
        namespace: str = NS) -> dict[str, Any]:
    """A DaemonSet's pod on a node (status set after create, as a kubelet would)."""
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2026-11-29T00:00:00Z"}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": _md(f"{ds}-{node}", namespace, ownerReferences=[
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds, "uid": _uid(ds), "controller": True}]),
            "spec": {"nodeName": node, "hostNetwork": True,
                     "containers": [{"name": ds, "image": f"ghcr.io/spidernet-io/{ds}:synthetic"}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": ds, "ready": ready, "restartCount": 0,
                                              "image": f"ghcr.io/spidernet-io/{ds}:synthetic", "imageID": "",
                                              "state": state}]}}


def plugin_configmap(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _md("spiderpool-rdma-shared-device-plugin", NS),
            "data": {"config.json": json.dumps({"periodicUpdateInterval": 300, "configList": entries}, indent=2)}}


def ippool(name: str, subnet: str, gateway: str | None, ips: list[str], allocated: int = 3,
           routes: list[dict[str, str]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"subnet": subnet, "ips": ips, **spec}
    if gateway:
        body["gateway"] = gateway
    if routes:
        body["routes"] = routes
    total = sum(int(ipaddress.IPv4Address(r.split("-")[-1])) - int(ipaddress.IPv4Address(r.split("-")[0])) + 1
                for r in ips)
    return {"apiVersion": SPIDER, "kind": "SpiderIPPool", "metadata": _md(name), "spec": body,
            "status": {"allocatedIPCount": allocated, "totalIPCount": total}}


def smc(name: str, cni: str, section: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {"apiVersion": SPIDER, "kind": "SpiderMultusConfig", "metadata": _md(name, namespace),
            "spec": {"cniType": cni, {"ib-sriov": "ibsriov"}.get(cni, cni): section}}


def policy(name: str, pf: str, resource: str, link: str, num_vfs: int = 8) -> dict[str, Any]:
    """As get-started-sriov-roce.md#L374-L395, one PF per policy."""
    return {"apiVersion": SRIOV, "kind": "SriovNetworkNodePolicy", "metadata": _md(name, NS),
            "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "resourceName": resource, "priority": 99,
                     "numVfs": num_vfs, "nicSelector": {"pfNames": [pf]}, "linkType": link,
                     "deviceType": "netdevice", "isRdma": True}}


def node_state(node: str, nics: tuple, link: str, sync: str = "Succeeded", num_vfs: int = 8) -> dict[str, Any]:
    return {"apiVersion": SRIOV, "kind": "SriovNetworkNodeState",
            "metadata": _md(node, NS, annotations={"sriovnetwork.openshift.io/desired-state": "Idle",
                                                   "sriovnetwork.openshift.io/current-state": "Idle"}),
            "spec": {"interfaces": [{"name": n, "pciAddress": bdf, "numVfs": num_vfs, "linkType": link} for n, _, bdf in nics]},
            "status": {"syncStatus": sync, "interfaces": [
                {"name": n, "pciAddress": bdf, "numVfs": num_vfs, "totalvfs": 16, "linkType": link, "vendor": "15b3",
                 "deviceID": "101b" if link == "IB" else "1017", "driver": "mlx5_core"} for n, _, bdf in nics]}}


@dataclass
class Cluster:
    """A synthetic cluster as data: change one thing, then seed it."""

    design: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)     # name -> add_node kwargs
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)   # key -> object
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)      # key -> pod

    def seed(self, double: KubeDouble) -> None:
        double.add_namespace(NS, SYNTH)
        for name, fields in self.nodes.items():
            double.add_node(name, **fields)
        for obj in self.objects.values():
            double.add(obj)
        for p in self.pods.values():
            double.add(p)
            double.replace(p)              # the status as given (the double's kubelet is slowed down)

    def query(self) -> Query:
        macvlan = self.design == "macvlan-shared"
        return Query(macvlan=macvlan, sriov=not macvlan)

    def facts(self, double: KubeDouble | None = None, query: Query | None = None) -> ClusterFacts:
        """Seed a fresh double (or gather from ``double`` as it is) through the real client."""
        own = double is None
        double = double or KubeDouble(pod_netns=False, start_delay=3600).start()
        try:
            if own:
                self.seed(double)
            api = double.api_client()
            try:
                return gather_cluster(api, [query or self.query()])
            finally:
                api.close()
        finally:
            if own:
                double.stop()

    def smc(self, rail: int) -> dict[str, Any]:
        return self.objects[f"smc/rail{rail}"]

    def section(self, rail: int) -> dict[str, Any]:
        spec = self.smc(rail)["spec"]
        return spec[{"ib-sriov": "ibsriov"}.get(spec["cniType"], spec["cniType"])]


def compliant(design: str, nodes: tuple[str, ...] = ("node-1", "node-2")) -> Cluster:
    """A Spiderpool install that every k8s.* check passes for ``design`` (see host.py)."""
    c = Cluster(design)
    ib, sriov = design == "ib-sriov", design != "macvlan-shared"
    nics = IB_NICS if ib else ROCE_NICS
    alloc: dict[str, str] = {"nvidia.com/gpu": "2"}
    daemons = ["spiderpool-agent"] + (["sriov-network-config-daemon", "sriov-device-plugin"] if sriov
                                      else ["spiderpool-rdma-shared-device-plugin"])
    c.objects["deploy/spiderpool-controller"] = deployment("spiderpool-controller")
    for ds in daemons:
        c.objects[f"ds/{ds}"] = daemonset(ds, len(nodes))
        for n in nodes:
            c.pods[f"{ds}/{n}"] = pod(ds, n)
    if sriov:
        c.objects["deploy/spiderpool-sriov-operator"] = deployment("spiderpool-sriov-operator")
        c.objects["poolconfig"] = {"apiVersion": SRIOV, "kind": "SriovNetworkPoolConfig", "metadata": _md("rdma-exclusive", NS),
                                   "spec": {"nodeSelector": {"matchLabels": {"kubernetes.io/os": "linux"}},
                                            "maxUnavailable": 1, "rdmaMode": "exclusive"}}
        for n in nodes:
            c.objects[f"state/{n}"] = node_state(n, nics, "IB" if ib else "ETH")
    entries = []
    for r, (netdev, _, _) in enumerate(nics, start=1):
        if sriov:
            res = netdev
            c.objects[f"policy/rail{r}"] = policy(f"rail{r}-nic-policy", netdev, res, "ib" if ib else "eth")
            alloc[f"{PREFIX}/{res}"] = "8"
        else:
            res = f"shared_cx5_rail{r}"
            entries.append({"resourcePrefix": PREFIX, "resourceName": res, "rdmaHcaMax": 100,
                            "selectors": {"ifNames": [netdev]}})
            alloc[f"{PREFIX}/{res}"] = "100"
        _network(c, design, r, netdev, f"{PREFIX}/{res}", nodes)
    if entries:
        c.objects["cm/plugin"] = plugin_configmap(entries)
    for n in nodes:
        ip = mgmt_address(n)
        c.nodes[n] = {"labels": dict(SYNTH), "allocatable": dict(alloc),
                      "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": n}],
                      "annotations": {CALICO_IPV4: f"{ip}/24"}}
    return c


def _network(c: Cluster, design: str, r: int, netdev: str, resource: str, nodes: tuple[str, ...]) -> None:
    """The rail's SpiderMultusConfig and its pools."""
    if design == "sriov-per-node":
        for n in nodes:
            base = 32 * (NODE_INDEX[n] - 1)
            gw = f"172.16.{r}.{base + 1}"
            routes = [{"dst": RDMA_CIDR, "gw": gw}] if r == 1 else None
            c.objects[f"pool/rail{r}/{n}"] = ippool(f"{netdev}-rail{r}-{n}", f"172.16.{r}.{base}/27", gw,
                                                    [f"172.16.{r}.{base + 2}-172.16.{r}.{base + 9}",
                                                     f"172.16.{r}.{base + 11}-172.16.{r}.{base + 30}"], routes=routes)
        c.objects[f"smc/rail{r}"] = smc(f"sriov-{netdev}", "sriov", {
            "resourceName": resource, "rdmaIsolation": True, "mtu": 4200,
            "ippools": {"ipv4": [f"{netdev}-rail{r}*"], "matchMasterSubnet": True}}, namespace="kube-system")
        return
    ib = design == "ib-sriov"
    pool = f"rail{r}-net"
    c.objects[f"pool/rail{r}"] = ippool(pool, f"172.16.{r}.0/24", None if ib else f"172.16.{r}.1",
                                        [f"172.16.{r}.100-172.16.{r}.200"])
    if design == "macvlan-shared":
        c.objects[f"smc/rail{r}"] = smc(f"gpu{r}-macvlan", "macvlan", {
            "master": [netdev], "rdmaResourceName": resource, "ippools": {"ipv4": [pool]}})
    elif ib:
        c.objects[f"smc/rail{r}"] = smc(f"gpu{r}-ib-sriov", "ib-sriov", {"resourceName": resource, "ippools": {"ipv4": [pool]}})
    else:
        c.objects[f"smc/rail{r}"] = smc(f"gpu{r}-sriov", "sriov", {
            "resourceName": resource, "rdmaIsolation": True, "ippools": {"ipv4": [pool]}})


def changed(c: Cluster, fn: Callable[[Cluster], Any]) -> Cluster:
    out = copy.deepcopy(c)
    fn(out)
    return out
