"""Kubernetes-side conformance (area ``k8s``): what the cluster must show for a node to be
usable by an RDMA training job the way Spiderpool's designs expect.

Pure over ``ctx.cluster`` (ClusterFacts, gathered once per run by rdma_preflight/k8s) and the
node's host facts, which bind each rail to its NIC. Each finding belongs to one check:

* k8s.node_resources  Node allocatable: the rails' RDMA resources with the count the cluster
                      configured (rdmaHcaMax / VFs), the GPUs when GPUDirect is on.
* k8s.components      Spiderpool agent (on the node) and controller; the shared device plugin
                      and its ConfigMap (Macvlan) or the SR-IOV operator and config daemon.
* k8s.multus_config   the rail's SpiderMultusConfig against the v2beta1 CRD and the design.
* k8s.ippools         the IPPools that config allocates from on this node.
* k8s.sriov_state     SriovNetworkNodeState, SriovNetworkNodePolicies, SriovNetworkPoolConfig.
* k8s.node_ip         InternalIP and Calico's address on the management network.
* k8s.host_agreement  the node's facts and the cluster's record of the node agree (SR-IOV
                      interfaces, the rail IP inside its IPPool, an RDMA device behind each
                      advertised resource); a cluster object already wrong for the profile is
                      reported by its own check, not here.

Remediation is plan only: ``Result.fix`` holds the kubectl patch / manifest to apply.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from typing import Any

from ..k8s import fixes
from ..k8s.binding import PLUGIN_KEY, ClusterView, RailBinding, full_resource
from ..k8s.facts import CALICO_IPV4, ClusterFacts, name_of, spec_of, status_of
from ..k8s.ipam import Pool
from ..k8s.selectors import HostNic, label_selector_matches, policy_vfs_for
from .context import NodeContext, Rail, rail_slice
from .registry import check, sriov_only
from .result import Outcome, Result, failed, passed, skipped, worst

AGENT = "spiderpool-agent"
CONTROLLER = "spiderpool-controller"
SRIOV_OPERATOR = "spiderpool-sriov-operator"
CONFIG_DAEMON = "sriov-network-config-daemon"
SRIOV_DP_LABEL = "app=sriov-device-plugin"
COMPONENT_LABEL = "app.kubernetes.io/component"
LINK_TYPE = {"roce": "eth", "infiniband": "ib"}
HOST_LINK = {"Ethernet": "eth", "InfiniBand": "ib"}
NO_CLUSTER = ("no cluster given: run with --kubeconfig (or kube:// nodes) to check the Kubernetes side")


# -- shared plumbing ---------------------------------------------------------------------------

def cluster_of(ctx: NodeContext) -> ClusterFacts | None:
    return getattr(ctx, "cluster", None)


def _view(ctx: NodeContext, need_node: bool = True) -> tuple[ClusterView | None, Result | None]:
    """The node's view of the cluster, or why a check cannot look (skip / error)."""
    cluster = cluster_of(ctx)
    if cluster is None:
        return None, skipped(NO_CLUSTER)
    if cluster.error:
        return None, Result(Outcome.ERROR, f"cluster facts unavailable: {cluster.error}",
                            fix="check the kubeconfig (server, credentials) and that the API server is reachable")
    view = ClusterView(ctx, cluster)
    if need_node and view.knode is None:
        return None, skipped(f"{ctx.node} is not a Node of the cluster: see k8s.components")
    return view, None


def _unreadable(view: ClusterView, *what: str) -> Result | None:
    for w in what:
        why = view.cluster.why_missing(w)
        if why and "forbidden" in why:
            return Result(Outcome.ERROR, f"cannot read {w}: {why}",
                          fix="grant the kubeconfig's user get/list on it (read-only), then re-run")
        if why and "not found (404" not in why:       # a server error: absent is not known
            return Result(Outcome.ERROR, f"cannot read {w}: {why}", fix="check the API server, then re-run")
    return None


def _found_rails(ctx: NodeContext) -> list[Rail]:
    return [r for r in ctx.rails if r.found]


def _int(value: str | None) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# -- k8s.node_resources ----------------------------------------------------------------------------

def _resource_count(view: ClusterView, resource: str) -> tuple[int | None, str]:
    """How many of ``resource`` the node should advertise, and the source of that number."""
    if view.macvlan:
        entry = view.plugin.entry_for(resource) if view.plugin else None
        if entry is None or entry.rdma_hca_max is None:
            return None, "the shared device plugin ConfigMap has no entry for it: see k8s.components"
        return entry.rdma_hca_max, f"rdmaHcaMax of shared device plugin entry {entry.resource_name}"
    labels = view.knode.labels if view.knode else {}
    total, names = 0, []
    for nic in view.nics.values():
        for p in view.policies:
            if full_resource(str(spec_of(p).get("resourceName") or ""), view.spec.resource_prefix) != resource:
                continue
            vfs = policy_vfs_for(p, nic, labels)
            if vfs is not None:
                total += vfs
                names.append(f"{name_of(p)}:{nic.name}")
                break
    if not names:
        return None, "no SriovNetworkNodePolicy provides it on this node: see k8s.sriov_state"
    return total, f"VFs of {', '.join(names)}"


def _advertise_fix(view: ClusterView) -> str:
    if view.macvlan:
        pods = view.cluster.pods_of("DaemonSet", view.sp_ns, view.spec.shared_device_plugin, view.node_name)
        if pods:
            return fixes.restart_pod(view.sp_ns, pods[0].name) + "   # the plugin re-registers its resources"
        return fixes.restart_on_node(view.sp_ns, f"{COMPONENT_LABEL}={view.spec.shared_device_plugin}", view.node_name)
    return fixes.restart_on_node(view.sriov_ns, SRIOV_DP_LABEL, view.node_name) + "   # the device plugin re-registers"


def _allocatable(view: ClusterView, resource: str, want: int | None, source: str, rails: str) -> Result:
    node = view.node_name
    have = view.knode.allocatable.get(resource) if view.knode else None
    expected = f"allocatable {resource}: {want if want is not None else '>= 1'} ({source})"
    if have is None:
        cap = view.knode.capacity.get(resource) if view.knode else None
        return failed(f"{node} does not advertise {resource} ({rails})", expected,
                      f"no {resource} in allocatable" + (f" (capacity {cap})" if cap is not None else ""),
                      _advertise_fix(view), resource=resource)
    n = _int(have)
    ok = (n is not None and n == want) if want is not None else (n is not None and n >= 1)
    if not ok:
        return failed(f"{node} advertises {resource}: {have}, not {want if want is not None else '>= 1'} ({rails})",
                      expected, f"allocatable {resource}: {have}", _advertise_fix(view), resource=resource)
    return passed(f"{resource}: {have}", expected, f"allocatable {resource}: {have}", resource=resource)


def _gpu_part(ctx: NodeContext, view: ClusterView) -> Result:
    spec, gpu = view.spec, view.spec.gpu_resource
    host_gpus = len(getattr(ctx.facts.pcie, "gpus", []) or [])
    want = spec.gpu_count if spec.gpu_count is not None else (host_gpus or None)
    source = "kubernetes.gpu_count" if spec.gpu_count is not None else (
        f"{host_gpus} NVIDIA GPU(s) on the host's PCI bus" if host_gpus else "GPUDirect is on")
    have = view.knode.allocatable.get(gpu) if view.knode else None
    r = _allocatable(view, gpu, want, source, "GPUDirect")
    if r.outcome == Outcome.FAIL:
        r.fix = (f"kubectl delete pod -A -l app=nvidia-device-plugin-daemonset --field-selector spec.nodeName="
                 f"{view.node_name}   # GPU Operator's device plugin; allocatable was {have}")
    return r


@check("k8s.node_resources", "The node advertises the rails' RDMA resources (and GPUs) with the expected count",
       scope="node", designs="all (Kubernetes)", remediation="plan-only")
def node_resources(ctx: NodeContext) -> Result:
    """Shared device plugin: ``allocatable[<prefix>/<name>] == rdmaHcaMax`` of its ConfigMap entry
    (spec §5.2). SR-IOV: the VFs its policies give on this node's PFs (``spidernet.io/<policy
    resourceName>``, §5.3). GPUDirect: ``kubernetes.gpu_resource`` equals ``kubernetes.gpu_count``
    or the GPUs on the host's PCI bus."""
    view, why = _view(ctx)
    if why:
        return why
    groups: dict[str, list[str]] = {}
    parts: list[Result] = []
    for r in _found_rails(ctx):
        b = view.binding(r)
        if b.expected_resource is None:
            owner = "k8s.components" if view.macvlan else "k8s.sriov_state"
            parts.append(skipped(f"{r.name}: no RDMA resource is configured for {r.netdev}: see {owner}"))
        else:
            groups.setdefault(b.expected_resource, []).append(f"{r.name}:{r.netdev}")
    for resource, rails in groups.items():
        want, source = _resource_count(view, resource)
        if want is None:
            parts.append(skipped(f"{resource}: {source}"))
        else:
            parts.append(_allocatable(view, resource, want, source, ", ".join(rails)))
    if ctx.profile.gpudirect.enabled:
        parts.append(_gpu_part(ctx, view))
    return worst(parts)


# -- k8s.components ----------------------------------------------------------------------------------

def _daemon_on_node(view: ClusterView, ns: str, name: str, install: str) -> Result:
    node = view.node_name
    bad = _unreadable(view, f"pods in {ns}", f"daemonsets in {ns}")
    if bad:
        return bad
    ds = view.cluster.workload("DaemonSet", ns, name)
    pods = view.cluster.pods_of("DaemonSet", ns, name, node)
    if ds is None and not pods:
        return failed(f"DaemonSet {ns}/{name} does not exist", f"DaemonSet {ns}/{name} with a Ready pod on {node}",
                      f"no DaemonSet {name} in {ns}", install)
    if not pods:
        return failed(f"no {name} pod on {node}", f"a Ready {name} pod on {node}",
                      f"DaemonSet {ns}/{name}: {ds.ready}/{ds.desired} ready, none scheduled on {node}",
                      f"kubectl -n {ns} get daemonset {name} -o jsonpath='{{.spec.template.spec.nodeSelector}}"
                      f"{{\"\\n\"}}{{.spec.template.spec.tolerations}}'; kubectl get node {node} -o "
                      f"jsonpath='{{.spec.taints}}'   # make the DaemonSet select and tolerate {node}")
    pod = pods[0]
    if pod.phase != "Running" or not pod.ready:
        state = pod.phase + (f" ({pod.waiting})" if pod.waiting else "") + ("" if pod.ready else ", not Ready")
        return failed(f"{ns}/{pod.name} on {node} is {state}", f"{name} pod Running and Ready on {node}",
                      f"{ns}/{pod.name}: {state}",
                      f"kubectl -n {ns} logs {pod.name} --all-containers --tail=50; " + fixes.restart_pod(ns, pod.name))
    return passed(f"{name} Ready on {node}", found=f"{ns}/{pod.name} Running, Ready")


def _deployment_ready(view: ClusterView, ns: str, name: str, install: str) -> Result:
    bad = _unreadable(view, f"deployments in {ns}")
    if bad:
        return bad
    d = view.cluster.workload("Deployment", ns, name)
    if d is None:
        return failed(f"Deployment {ns}/{name} does not exist", f"Deployment {ns}/{name} with a Ready replica",
                      f"no Deployment {name} in {ns}", install)
    if d.ready < 1:
        return failed(f"Deployment {ns}/{name} has no Ready replica", f"{ns}/{name}: >= 1 Ready replica",
                      f"{ns}/{name}: {d.ready}/{d.desired} Ready",
                      f"kubectl -n {ns} describe deployment {name}; kubectl -n {ns} rollout restart deployment/{name}")
    return passed(f"{name} {d.ready}/{d.desired} Ready", found=f"{ns}/{name}: {d.ready}/{d.desired} Ready")


def _plugin_manifest(view: ClusterView, rails: list[RailBinding]) -> str:
    """The ConfigMap with one entry per rail NIC (by ifNames), keeping the resource names and
    counts in use, and keeping as written the entries that select nothing on this node (they
    may serve other nodes)."""
    data = view.cluster.configmap(view.sp_ns, view.spec.shared_device_plugin) or {}
    try:
        doc = json.loads(data.get(PLUGIN_KEY) or "{}")
        raw, interval = list(doc.get("configList") or []), doc.get("periodicUpdateInterval", 300)
    except (ValueError, AttributeError, TypeError):
        raw, interval = [], 300
    others = {e.index for e in (view.plugin.entries if view.plugin else ())
              if not any(e.selects(n) for n in view.nics.values())}
    entries = [raw[i] for i in sorted(others) if i < len(raw)]
    used = {str(e.get("resourceName")) for e in entries if isinstance(e, dict)}
    for b in rails:
        old = b.plugin_entries[0] if b.plugin_entries else None
        res = b.expected_resource or (old.resource if old else f"{view.spec.resource_prefix}/shared_{b.rail.name}")
        prefix, _, name = res.partition("/")
        if name in used:                        # one entry served several rails: one resource per rail
            name = f"{name}_{b.rail.name}"
        used.add(name)
        hca = view.spec.rdma_hca_max or (old.rdma_hca_max if old else None) or 100
        entries.append({"resourcePrefix": prefix, "resourceName": name, "rdmaHcaMax": hca,
                        "selectors": {"ifNames": [b.netdev]}})
    body = json.dumps({"periodicUpdateInterval": interval, "configList": entries}, indent=2)
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": view.spec.shared_device_plugin, "namespace": view.sp_ns},
          "data": {"config.json": body}}
    return (fixes.apply(cm) + f"\nkubectl -n {view.sp_ns} rollout restart daemonset/{view.spec.shared_device_plugin}")


def _plugin_config(view: ClusterView) -> Result:
    ns, name = view.sp_ns, view.spec.shared_device_plugin
    rails = [view.binding(r) for r in _found_rails(view.ctx)]
    fix = _plugin_manifest(view, rails)
    if view.plugin is None:
        why = view.cluster.why_missing(f"configmap {ns}/{name}")
        bad = _unreadable(view, f"configmap {ns}/{name}")
        return bad or failed(f"the shared device plugin ConfigMap {ns}/{name} is missing",
                             f"ConfigMap {ns}/{name} selecting {', '.join(b.netdev for b in rails)}",
                             why or "absent", fix)
    problems = list(view.plugin.problems)
    rail_nics = {b.netdev for b in rails}
    for b in rails:
        nic = b.nic
        if nic is None:
            continue
        hits = b.plugin_entries
        if not hits:
            problems.append(f"no entry selects {nic.name}" + ("" if nic.rdma else " (it has no RDMA device)"))
        elif len(hits) > 1:
            names = ", ".join(e.resource_name for e in hits)
            problems.append(f"{nic.name} is selected by {len(hits)} entries ({names})")
        elif b.rail.spec.resource and hits[0].resource != b.expected_resource:
            problems.append(f"{nic.name} gets {hits[0].resource}, the profile names {b.expected_resource} "
                            f"(rails.{b.rail.name}.resource)")
        want_hca = view.spec.rdma_hca_max
        if hits and want_hca is not None and hits[0].rdma_hca_max != want_hca:
            problems.append(f"{hits[0].resource_name} has rdmaHcaMax {hits[0].rdma_hca_max}, "
                            f"the profile wants {want_hca}")
    for nic in sorted(view.nics.values(), key=lambda n: n.name):
        if nic.name in rail_nics:
            continue
        for e in view.plugin.selecting(nic):
            problems.append(f"entry {e.resource_name} also selects {nic.name}, which is not a rail NIC")
    shown = "; ".join(e.describe() for e in view.plugin.entries) or "empty configList"
    expected = f"each rail NIC ({', '.join(sorted(rail_nics))}) selected by exactly one entry, nothing else selected"
    if problems:
        return failed(f"ConfigMap {ns}/{name}: " + "; ".join(problems), expected, shown, fix)
    return passed(f"ConfigMap {ns}/{name} selects exactly the rail NICs", expected, shown)


@check("k8s.components", "Spiderpool, the RDMA device plugin or SR-IOV operator run for this node",
       scope="node", designs="all (Kubernetes)", remediation="plan-only")
def components(ctx: NodeContext) -> Result:
    """The node is a Node; spiderpool-agent is Ready on it and spiderpool-controller has a
    Ready replica. Macvlan: the RDMA shared device plugin is Ready on the node and its ConfigMap
    selects exactly the rail NICs (selectors ANDed, values ORed; §5.2). SR-IOV: the operator
    Deployment is Ready and its config daemon runs on the node (§5.1, §5.3)."""
    view, why = _view(ctx, need_node=False)
    if why:
        return why
    if view.knode is None:
        bad = _unreadable(view, "nodes")
        return bad or failed(f"{ctx.node} is not a Node of the cluster", f"a Node named {ctx.node}",
                             f"Nodes: {', '.join(sorted(view.cluster.nodes)[:10]) or 'none'}",
                             "join the node (kubeadm join ...) or name it as its Node is named in the nodes file")
    ns = view.sp_ns
    parts = [_daemon_on_node(view, ns, AGENT, "helm install spiderpool spiderpool/spiderpool --create-namespace "
                             f"-n {ns}" + (" --set rdma.rdmaSharedDevicePlugin.install=true" if view.macvlan
                                           else " --set sriov.install=true")),
             _deployment_ready(view, ns, CONTROLLER, fixes.helm_set("spiderpoolController.replicas=1", namespace=ns))]
    if view.macvlan:
        parts.append(_daemon_on_node(view, ns, view.spec.shared_device_plugin,
                                     fixes.helm_set("rdma.rdmaSharedDevicePlugin.install=true", namespace=ns)))
        parts.append(_plugin_config(view))
    else:
        install = fixes.helm_set("sriov.install=true", namespace=ns)
        parts.append(_deployment_ready(view, view.sriov_ns, SRIOV_OPERATOR, install))
        parts.append(_daemon_on_node(view, view.sriov_ns, CONFIG_DAEMON, install))
    return worst(parts)


# -- k8s.multus_config -------------------------------------------------------------------------------

def _rail_pool_names(view: ClusterView, b: RailBinding) -> list[str]:
    """Existing SpiderIPPools that look like the rail's: its subnet, inside its pool, or
    holding the rail's host address (for a SpiderMultusConfig that lists none)."""
    s = b.rail.spec
    out = []
    for name, p in sorted(view.pools.items()):
        if p.subnet is None:
            continue
        if (s.subnet is not None and p.subnet == s.subnet) or (s.pool is not None and p.subnet.subnet_of(s.pool)) \
                or (s.subnet is None and s.pool is None and b.ipv4 is not None and b.ipv4.ip in p.subnet):
            out.append(name)
    return out


def _smc_manifest(view: ClusterView, b: RailBinding) -> str:
    cni = view.design_cni
    section: dict[str, Any]
    pools = [p.name for p in b.pools] or _rail_pool_names(view, b) or [f"<SpiderIPPool of {b.rail.name}>"]
    if cni == "macvlan":
        section = {"master": [b.netdev], "rdmaResourceName": b.expected_resource, "ippools": {"ipv4": pools}}
    else:
        section = {"resourceName": b.expected_resource, "rdmaIsolation": True, "ippools": {"ipv4": pools}}
        if view.profile.design.addressing == "per-node-subnet":
            section["ippools"]["matchMasterSubnet"] = True
    name = b.rail.spec.network or f"{b.rail.name}-{cni}"
    smc = {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderMultusConfig",
           "metadata": {"name": name.rpartition("/")[2], "namespace": view.sp_ns},
           "spec": {"cniType": cni, {"ib-sriov": "ibsriov"}.get(cni, cni): section}}
    return fixes.apply(smc)


def _smc_findings(view: ClusterView, b: RailBinding) -> tuple[list[str], dict[str, Any]]:
    """What is wrong with the rail's SpiderMultusConfig, and one merge patch that fixes it."""
    m, cni = b.smc, view.design_cni
    sec = {"ib-sriov": "ibsriov"}.get(cni, cni)
    problems: list[str] = []
    patch: dict[str, Any] = {}

    misplaced = {o.belongs for o in m.off_schema if o.belongs}

    def want(path: str, value: Any, problem: str) -> None:
        if path in misplaced and value is not None:
            return                      # the off-schema finding below names it and its place
        problems.append(problem)
        patch.update(fixes.merge(patch, fixes.nested(path, value)))

    if m.cni_type != cni:
        d = view.profile.design
        want("spec.cniType", cni, f"cniType {m.cni_type}, the {d.fabric} {d.scheme} design needs {cni}")
    if cni == "macvlan":
        if list(m.masters) != [b.netdev]:
            want(f"spec.{sec}.master", [b.netdev], f"spec.macvlan.master {list(m.masters)}, the rail NIC is {b.netdev}")
        if b.expected_resource and m.rdma_resource != b.expected_resource:
            want(f"spec.{sec}.rdmaResourceName", b.expected_resource,
                 f"spec.macvlan.rdmaResourceName {'is not set' if m.rdma_resource is None else m.rdma_resource}, "
                 f"{b.netdev} provides {b.expected_resource}")
        if m.match_master_subnet:
            want(f"spec.{sec}.ippools.matchMasterSubnet", None,
                 "spec.macvlan.ippools.matchMasterSubnet is true; the webhook rejects it for macvlan")
    else:
        if b.expected_resource and m.resource != b.expected_resource:
            want(f"spec.{sec}.resourceName", b.expected_resource,
                 f"spec.{sec}.resourceName {m.resource}, {b.netdev} provides {b.expected_resource}")
        if m.rdma_isolation is not True:
            want(f"spec.{sec}.rdmaIsolation", True, f"spec.{sec}.rdmaIsolation is "
                 f"{'false' if m.isolation_explicit else 'unset (CRD default false)'}; isolated RDMA needs true")
        all_bound = bool(b.pools) and all(p.node_names or p.node_affinity for p in b.pools)
        if view.profile.design.addressing == "per-node-subnet" and not m.match_master_subnet and not all_bound:
            want(f"spec.{sec}.ippools.matchMasterSubnet", True, f"spec.{sec}.ippools.matchMasterSubnet is not true; "
                 "per-node subnets need it to pick the pool of the PF's subnet")
    if not m.ipv4_pools:
        problems.append(f"spec.{sec}.ippools.ipv4 lists no SpiderIPPool")
    for ref in b.pool_refs_unresolved:
        problems.append(f"spec.{sec}.ippools.ipv4 names {ref!r}, which matches no SpiderIPPool")
    for off in m.off_schema:
        problems.append(off.describe())
        if off.source == "stored object":
            patch.update(fixes.merge(patch, fixes.nested(off.path, None)))
        if off.belongs and off.belongs.startswith(f"spec.{sec}."):
            have = _dig(m.section, off.belongs.split(".")[2:])
            if have is None:
                patch.update(fixes.merge(patch, fixes.nested(off.belongs, off.value)))
    return problems, patch


def _dig(obj: Any, keys: list[str]) -> Any:
    for k in keys:
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


@check("k8s.multus_config", "The rail's SpiderMultusConfig matches the design and the v2beta1 CRD",
       designs="all (Kubernetes)", remediation="plan-only")
def multus_config(ctx: NodeContext, rail: Rail) -> Result:
    """One SpiderMultusConfig per rail (``rails.<r>.network``, else the one naming the rail's
    resource, else its master): cniType macvlan / sriov / ib-sriov; Macvlan ``spec.macvlan.master
    == [rail NIC]`` and ``spec.macvlan.rdmaResourceName``; SR-IOV ``resourceName`` and
    ``rdmaIsolation: true``; ``ippools.ipv4`` naming existing pools (``matchMasterSubnet`` for
    per-node subnets). Fields the docs show but the CRD lacks (``spec.rdmaResourceName``,
    ``spec.ippools``, ``spec.sriov.enableRdma``, ``spec.sriov.matchMasterSubnet``) fail, found in
    the object or in its last-applied-configuration (§5.4, §7 item 9)."""
    view, why = _view(ctx)
    if why:
        return why
    bad = _unreadable(view, "spidermultusconfigs", "spiderippools")
    if bad:
        return bad
    b = view.binding(rail)
    if b.smc is None and b.expected_resource is None:
        owner = "k8s.components" if view.macvlan else "k8s.sriov_state"
        return skipped(f"no RDMA resource is configured for {rail.netdev} (and no SpiderMultusConfig has it as "
                       f"master): see {owner}")
    if b.smc is None:
        return failed(f"no SpiderMultusConfig for {rail.name} ({rail.netdev})",
                      f"a SpiderMultusConfig (cniType {view.design_cni}) for {rail.netdev}"
                      + (f" with resource {b.expected_resource}" if b.expected_resource else ""),
                      b.smc_how, _smc_manifest(view, b))
    problems, patch = _smc_findings(view, b)
    m = b.smc
    expected = _smc_expected(view, b)
    found = f"{m.ref}: cniType {m.cni_type}, " + (
        f"master {list(m.masters)}, rdmaResourceName {m.rdma_resource}" if m.cni_type in ("macvlan", "ipvlan")
        else f"resourceName {m.resource}, rdmaIsolation {m.rdma_isolation}") + f", ippools.ipv4 {list(m.ipv4_pools)}"
    if not problems:
        return passed(f"{m.ref} ({b.smc_how})", expected, found)
    fix = fixes.merge_patch(fixes.SMC, m.name, m.namespace, patch) if patch else ""
    pruned = [o for o in m.off_schema if o.source != "stored object"]
    if pruned:
        fix += ("\n" if fix else "") + ("# and remove " + ", ".join(o.path for o in pruned) +
                                        " from the manifest you kubectl apply (the API server pruned it on write)")
    if not patch and not pruned:
        fix = f"kubectl -n {m.namespace} edit {fixes.SMC} {m.name}   # list existing SpiderIPPools under ippools.ipv4"
    return failed(f"{m.ref}: " + "; ".join(problems), expected, found, fix, smc=m.ref)


def _smc_expected(view: ClusterView, b: RailBinding) -> str:
    cni = view.design_cni
    if cni == "macvlan":
        body = f"spec.macvlan.master [{b.netdev}], spec.macvlan.rdmaResourceName {b.expected_resource}"
    else:
        sec = {"ib-sriov": "ibsriov"}.get(cni, cni)
        body = f"spec.{sec}.resourceName {b.expected_resource}, spec.{sec}.rdmaIsolation true"
    return f"cniType {cni}, {body}, ippools.ipv4 naming existing SpiderIPPools, no fields outside the CRD"


# -- k8s.ippools ---------------------------------------------------------------------------------------

def _shift(pool: Pool, to: ipaddress.IPv4Network) -> list[str]:
    """Proposed ``ips`` in subnet ``to``: the pool's ranges when they lie inside it already, or
    moved by the same offsets, else every host address of ``to`` except its first (the gateway)."""
    if pool.ranges and all(a in to and b in to for a, b in pool.ranges):
        return [f"{a}-{b}" for a, b in pool.ranges]
    out = []
    if pool.subnet is not None and pool.subnet.prefixlen == to.prefixlen:
        delta = int(to.network_address) - int(pool.subnet.network_address)
        out = [f"{ipaddress.IPv4Address(int(a) + delta)}-{ipaddress.IPv4Address(int(b) + delta)}"
               for a, b in pool.ranges]
    hosts = list(to.hosts()) if to.num_addresses <= 1 << 16 else []
    return out or ([f"{hosts[1]}-{hosts[-1]}"] if len(hosts) > 2 else [])


def _clamped(pool: Pool, net: ipaddress.IPv4Network) -> list[str]:
    """The pool's ranges cut to the host addresses of ``net`` (what a fix can keep)."""
    lo_ok, hi_ok = int(net.network_address) + 1, int(net.broadcast_address) - 1
    out = []
    for a, b in pool.written:
        lo, hi = max(a, lo_ok), min(b, hi_ok)
        if lo <= hi:
            out.append(f"{ipaddress.IPv4Address(lo)}-{ipaddress.IPv4Address(hi)}")
    return out


def _want_subnet(view: ClusterView, rail: Rail, pool: Pool, host_ip: ipaddress.IPv4Interface | None
                 ) -> tuple[ipaddress.IPv4Network | None, ipaddress.IPv4Address | None, str]:
    """The subnet and gateway this pool must have (None: the profile does not fix it), and a
    structural problem of a per-node pool (not a slice of the rail's pool)."""
    spec = rail.spec
    if view.profile.design.addressing != "per-node-subnet":
        return spec.subnet, spec.gateway, ""
    problem = ""
    if spec.address is not None:
        net = rail_slice(rail, spec.address)
    elif pool.subnet is not None and spec.pool is not None and spec.slice_prefix is not None and \
            pool.subnet.subnet_of(spec.pool) and pool.subnet.prefixlen == spec.slice_prefix:
        net = pool.subnet
    else:
        if pool.subnet is not None:
            problem = f"subnet {pool.subnet} is not a /{spec.slice_prefix} slice of {rail.name}'s pool {spec.pool}"
        net = rail_slice(rail, host_ip) if host_ip is not None else None
    if net is None:
        return None, None, problem
    gw = spec.gateway if spec.gateway is not None and spec.gateway in net else next(net.hosts())
    return net, gw, problem


def _route_findings(view: ClusterView, rail: Rail, pool: Pool, gw: str) -> tuple[list[str], list[dict] | None]:
    """Per-node design: rail 1 carries ``{dst: <RDMA CIDR>, gw}``, the other rails do not."""
    cidr = view.profile.rdma.cidr
    if view.profile.design.addressing != "per-node-subnet" or cidr is None:
        return [], None
    keep = [{"dst": d, "gw": g} for d, g in pool.routes if d != str(cidr)]
    has = [(d, g) for d, g in pool.routes if d == str(cidr)]
    if rail.index == 1 and has != [(str(cidr), gw)]:
        return ([f"no route {{dst: {cidr}, gw: {gw}}} (rail 1 carries the RDMA CIDR route)"],
                keep + [{"dst": str(cidr), "gw": gw}])
    if rail.index != 1 and has:
        return [f"route to {cidr} on {rail.name}: only rail 1 carries the RDMA CIDR route"], keep
    return [], None


def _pool_findings(view: ClusterView, rail: Rail, pool: Pool, host_ip: ipaddress.IPv4Interface | None
                   ) -> tuple[list[str], dict[str, Any]]:
    want_net, want_gw, problem = _want_subnet(view, rail, pool, host_ip)
    problems = list(pool.problems) + ([problem] if problem else [])
    patch: dict[str, Any] = {}
    if want_net is not None and pool.subnet != want_net:
        if pool.subnet is not None and not problem:
            problems.append(f"subnet {pool.subnet}, {rail.name} is {want_net}")
        patch = fixes.merge(patch, {"spec": {"subnet": str(want_net), "ips": _shift(pool, want_net)}})
    elif pool.subnet is not None and any(p.startswith(("ips ", "excludeIPs ")) for p in pool.problems):
        patch = fixes.merge(patch, {"spec": {"ips": _clamped(pool, pool.subnet)}})
    if want_gw is not None and pool.gateway != want_gw:
        problems.append(f"gateway {pool.gateway_text or 'unset'}, {rail.name}'s is {want_gw}")
        patch = fixes.merge(patch, {"spec": {"gateway": str(want_gw)}})
    if any(p.startswith("ipVersion ") for p in pool.problems):
        patch = fixes.merge(patch, {"spec": {"ipVersion": 4}})
    routes = [{"dst": d, "gw": g} for d, g in pool.routes]
    if any(p.startswith("routes[") for p in pool.problems):
        patch = fixes.merge(patch, {"spec": {"routes": routes}})
    more, fixed = _route_findings(view, rail, pool, str(want_gw or pool.gateway or ""))
    problems += more
    if fixed is not None:
        patch = fixes.merge(patch, {"spec": {"routes": fixed}})
    return problems, patch


def _exhausted(pools: list[Pool]) -> tuple[list[str], list[str]]:
    if not pools or not all(p.exhausted for p in pools):
        return [], []
    msgs, cmds = [], []
    for p in pools:
        msgs.append(f"{p.name} is exhausted (allocatedIPCount {p.allocated} of {p.total_count})")
        free = p.free_block()
        if free:
            cmds.append(fixes.json_patch(fixes.IPPOOL, p.name, None,
                                         [{"op": "add", "path": "/spec/ips/-", "value": f"{free[0]}-{free[1]}"}]))
        else:
            cmds.append(f"# {p.name}: {p.subnet_text} has no free address: add another SpiderIPPool to the "
                        "SpiderMultusConfig's ippools.ipv4")
    return msgs, cmds


def _no_usable_pool(view: ClusterView, b: RailBinding) -> Result:
    """Every pool the SpiderMultusConfig names is disabled or bound to other nodes."""
    node = view.node_name
    named = [p for n, p in sorted(view.pools.items()) if any(fnmatch.fnmatchcase(n, r) for r in b.smc.ipv4_pools)]
    cmds, found = [], []
    for p in named:
        if p.disabled:
            found.append(f"{p.name}: disable true")
            cmds.append(fixes.merge_patch(fixes.IPPOOL, p.name, None, {"spec": {"disable": False}}))
        elif p.node_names:
            found.append(f"{p.name}: nodeName {list(p.node_names)}")
            cmds.append(fixes.json_patch(fixes.IPPOOL, p.name, None,
                                         [{"op": "add", "path": "/spec/nodeName/-", "value": node}]))
        else:
            found.append(f"{p.name}: nodeAffinity {json.dumps(p.node_affinity)}")
            cmds.append(f"kubectl edit {fixes.IPPOOL} {p.name}   # let spec.nodeAffinity select {node}")
    return failed(f"no pool of {b.smc.ref} serves {node}", f"a SpiderIPPool of {b.smc.ref} usable on {node}",
                  "; ".join(found), cmds[0] if cmds else "")


def ippools_result(view: ClusterView, b: RailBinding) -> Result:
    rail = b.rail
    if b.smc is None:
        return skipped(f"no SpiderMultusConfig for {rail.name}: see k8s.multus_config")
    if not b.pools:
        if not b.smc.ipv4_pools or b.pool_refs_unresolved:
            return skipped(f"{b.smc.ref} lists no existing SpiderIPPool: see k8s.multus_config")
        return _no_usable_pool(view, b)
    checked = list(b.node_pools)
    if b.pool_mode == "by-subnet":   # which pool is this node's follows its host IP: host_agreement
        checked = list(dict.fromkeys(checked + [p for p in b.pools if p.problems or (
            rail.spec.pool is not None and p.subnet is not None and not p.subnet.subnet_of(rail.spec.pool))]))
    problems, cmds = [], []
    for pool in checked:
        ps, patch = _pool_findings(view, rail, pool, b.ipv4)
        problems += [f"{pool.name}: {p}" for p in ps]
        if patch:
            cmds.append(fixes.merge_patch(fixes.IPPOOL, pool.name, None, patch))
    full, more = _exhausted(list(b.node_pools))
    problems += full
    cmds += more
    expected = _pool_expected(view, rail)
    found = "; ".join(p.describe() for p in checked) or f"no pool of {b.smc.ref} for this node ({b.pool_mode})"
    if problems:
        return failed(f"{rail.name} IPPools: " + "; ".join(problems), expected, found, "\n".join(cmds),
                      pools=[p.name for p in checked])
    if not b.node_pools:
        return skipped(f"no pool of {b.smc.ref} holds {view.node_name}'s {rail.netdev} address: see k8s.host_agreement")
    return passed(", ".join(p.name for p in b.node_pools), expected, found)


def _pool_expected(view: ClusterView, rail: Rail) -> str:
    s = rail.spec
    if view.profile.design.addressing == "per-node-subnet":
        where = f"this node's slice of {s.address}" if s.address else f"a /{s.slice_prefix} slice of {s.pool}"
        route = (f", route {{dst: {view.profile.rdma.cidr}, gw: <gateway>}}" if rail.index == 1
                 else f", no route to {view.profile.rdma.cidr}")
        return f"subnet {where}, gateway its first host{route}, ips inside the subnet, free addresses"
    if s.subnet is None:
        return "a network subnet, ips inside it, free addresses"
    return f"subnet {s.subnet}, gateway {s.gateway}, ips inside the subnet, free addresses"


@check("k8s.ippools", "The rail's SpiderIPPools have the rail's subnet, gateway, valid ranges and free IPs",
       designs="all (Kubernetes)", remediation="plan-only")
def ippools(ctx: NodeContext, rail: Rail) -> Result:
    """The SpiderIPPools the rail's SpiderMultusConfig allocates from on this node. Shared
    subnet: the rail's subnet and gateway. Per-node subnet: the node's /slice of the rail pool
    (bound by nodeName, nodeAffinity or the docs' ``-<node>`` name suffix; else the one holding
    the rail IP, as matchMasterSubnet does), gateway its first host, ``{dst: <RDMA CIDR>, gw}``
    on rail 1 only. Subnets must be network addresses, ranges valid and inside (the docs'
    ``172.16.11.0/16`` and ``172.16.1.226-172.16.1.256`` fail), and not every pool exhausted."""
    view, why = _view(ctx)
    if why:
        return why
    bad = _unreadable(view, "spidermultusconfigs", "spiderippools")
    return bad or ippools_result(view, view.binding(rail))


# -- k8s.sriov_state -----------------------------------------------------------------------------------

def _policy_manifest(view: ClusterView, b: RailBinding) -> str:
    res = (b.expected_resource or f"{view.spec.resource_prefix}/{b.netdev}").rpartition("/")[2]
    pol = {"apiVersion": "sriovnetwork.openshift.io/v1", "kind": "SriovNetworkNodePolicy",
           "metadata": {"name": f"{b.rail.name}-nic-policy", "namespace": view.sriov_ns},
           "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "resourceName": res, "priority": 99,
                    "numVfs": view.profile.sriov.num_vfs or 8, "nicSelector": {"pfNames": [b.netdev]},
                    "linkType": LINK_TYPE[view.profile.design.fabric], "deviceType": "netdevice", "isRdma": True}}
    return fixes.apply(pol)


def _node_state(view: ClusterView) -> dict | None:
    return next((s for s in view.cluster.sriov_node_states if name_of(s) == view.node_name), None)


def _state_part(view: ClusterView) -> Result:
    ns, node = view.sriov_ns, view.node_name
    state = _node_state(view)
    if state is None:
        return failed(f"no SriovNetworkNodeState for {node}", f"SriovNetworkNodeState {ns}/{node} Succeeded",
                      "absent: the operator has not synced this node "
                      "(is its config daemon running? see k8s.components)",
                      f"kubectl -n {ns} get pods -l app={CONFIG_DAEMON} --field-selector spec.nodeName={node}")
    st = status_of(state)
    sync = st.get("syncStatus") or "unknown"
    ann = (state.get("metadata") or {}).get("annotations") or {}
    keys = ("sriovnetwork.openshift.io/desired-state", "sriovnetwork.openshift.io/current-state")
    found = (f"syncStatus {sync}" + (f", lastSyncError {st['lastSyncError']!r}" if st.get("lastSyncError") else "")
             + "".join(f", {k.rpartition('/')[2]} {ann[k]}" for k in keys if k in ann))
    if sync != "Succeeded":
        return failed(f"SriovNetworkNodeState {node} is {sync}, not Succeeded", f"{ns}/{node}: syncStatus Succeeded",
                      found,
                      f"kubectl -n {ns} wait {fixes.NODESTATE}/{node} "
                      f"--for=jsonpath='{{.status.syncStatus}}'=Succeeded "
                      f"--timeout=30m   # the operator drains (and may reboot) {node}; if it Failed: "
                      f"kubectl -n {ns} logs -l app={CONFIG_DAEMON} --field-selector spec.nodeName={node} --tail=100")
    return passed(f"SriovNetworkNodeState {node} Succeeded", found=found)


def _policy_part(view: ClusterView, b: RailBinding) -> Result:
    if not b.policies:
        return failed(f"no SriovNetworkNodePolicy selects {b.netdev} on {view.node_name}",
                      f"a policy with nicSelector.pfNames [{b.netdev}], isRdma true, linkType "
                      f"{LINK_TYPE[view.profile.design.fabric]}", "none (nodeSelector and nicSelector checked)",
                      _policy_manifest(view, b))
    pol = b.policies[0]
    spec = spec_of(pol.obj)
    problems, patch = [], {}
    link = LINK_TYPE[view.profile.design.fabric]
    if spec.get("isRdma") is not True:
        problems.append(f"isRdma {spec.get('isRdma', 'unset')}")
        patch["isRdma"] = True
    if str(spec.get("linkType") or "").lower() != link:
        problems.append(f"linkType {spec.get('linkType', 'unset')}, "
                        f"the {view.profile.design.fabric} design needs {link}")
        patch["linkType"] = link
    if (spec.get("deviceType") or "netdevice") != "netdevice":
        problems.append(f"deviceType {spec['deviceType']}; RDMA VFs need netdevice")
        patch["deviceType"] = "netdevice"
    want_vfs = view.profile.sriov.num_vfs
    if want_vfs is not None and int(spec.get("numVfs") or 0) != want_vfs:
        problems.append(f"numVfs {spec.get('numVfs')}, the profile's sriov.num_vfs is {want_vfs}")
        patch["numVfs"] = want_vfs
    if b.rail.spec.resource and pol.resource != b.expected_resource:
        problems.append(f"resourceName {spec.get('resourceName')}, the profile names {b.expected_resource}")
        patch["resourceName"] = b.expected_resource.rpartition("/")[2]
    found = (f"{pol.name}: resourceName {spec.get('resourceName')}, numVfs {spec.get('numVfs')}, isRdma "
             f"{spec.get('isRdma')}, linkType {spec.get('linkType')}")
    if problems:
        return failed(f"SriovNetworkNodePolicy {pol.name} ({b.netdev}): " + "; ".join(problems),
                      f"isRdma true, linkType {link}, deviceType netdevice", found,
                      fixes.merge_patch(fixes.POLICY, pol.name, view.sriov_ns, {"spec": patch}))
    return passed(f"{pol.name} selects {b.netdev}", found=found)


def _pool_config_part(view: ClusterView) -> Result:
    labels = view.knode.labels if view.knode else {}
    hits = [p for p in view.cluster.sriov_pool_configs
            if label_selector_matches(spec_of(p).get("nodeSelector"), labels)]
    wrong = [p for p in hits if spec_of(p).get("rdmaMode") and spec_of(p)["rdmaMode"] != "exclusive"]
    if wrong:
        p = wrong[0]
        return failed(f"SriovNetworkPoolConfig {name_of(p)} sets rdmaMode {spec_of(p)['rdmaMode']} on {view.node_name}",
                      "rdmaMode exclusive (isolated RDMA)", f"{name_of(p)}: rdmaMode {spec_of(p)['rdmaMode']}",
                      fixes.merge_patch(fixes.POOLCONFIG, name_of(p), view.sriov_ns,
                                        {"spec": {"rdmaMode": "exclusive"}}))
    shown = ", ".join(f"{name_of(p)}: rdmaMode {spec_of(p).get('rdmaMode') or 'unset'}" for p in hits)
    return passed("no pool config contradicts exclusive mode",
                  found=shown or ("no SriovNetworkPoolConfig selects the node "
                                  "(the host's netns mode stands: rdma.netns_mode)"))


@check("k8s.sriov_state", "SR-IOV operator: node state Succeeded, RDMA policies, exclusive pool config",
       scope="node", designs="SR-IOV (Kubernetes)", applies=sriov_only, remediation="plan-only")
def sriov_state(ctx: NodeContext) -> Result:
    """``SriovNetworkNodeState/<node>`` syncStatus Succeeded (§5.3); a SriovNetworkNodePolicy
    selecting each rail PF with ``isRdma: true``, ``linkType`` eth (RoCE) / ib (IB), deviceType
    netdevice and the profile's numVfs; no SriovNetworkPoolConfig selecting the node with an
    ``rdmaMode`` other than exclusive."""
    view, why = _view(ctx)
    if why:
        return why
    bad = _unreadable(view, "sriovnetworknodestates", "sriovnetworknodepolicies", "sriovnetworkpoolconfigs")
    if bad:
        return bad
    missing = view.cluster.why_missing("sriovnetworknodestates")
    if missing:
        return failed("the SR-IOV operator's CRDs are not installed", "sriovnetwork.openshift.io/v1 CRDs", missing,
                      fixes.helm_set("sriov.install=true", namespace=view.sp_ns))
    parts = [_state_part(view)]
    parts += [_policy_part(view, view.binding(r)) for r in _found_rails(ctx)]
    parts.append(_pool_config_part(view))
    return worst(parts)


# -- k8s.node_ip -------------------------------------------------------------------------------------

def _rail_networks(view: ClusterView) -> dict[ipaddress.IPv4Network, str]:
    out: dict[ipaddress.IPv4Network, str] = {}
    for r in view.ctx.rails:
        net = r.spec.subnet or r.spec.pool
        if net is None:
            ip = view.host_ipv4(r.netdev)
            net = ip.network if ip else None
        if net is not None:
            out.setdefault(net, f"{r.name} ({net})")
    cidr = view.profile.rdma.cidr
    if cidr is not None:
        out.setdefault(cidr, f"the RDMA CIDR {cidr}")
    return out


def _ip_problem(view: ClusterView, text: str) -> str:
    try:
        ip = ipaddress.IPv4Interface(text.strip()).ip
    except ValueError:
        return f"{text!r} is not an IPv4 address"
    on = [label for net, label in _rail_networks(view).items() if ip in net]
    if on:
        return f"{ip} is on {on[0]}"
    mgmt = view.spec.management_cidr
    if mgmt is not None and ip not in mgmt:
        return f"{ip} is outside the management network {mgmt}"
    return ""


def _calico_fix(view: ClusterView, internal_ok: bool) -> str:
    """Calico's IP autodetection pointed at the management network (manifest install, or the
    Tigera operator's Installation), then the node's calico-node pod restarted."""
    mgmt, ifaces = view.spec.management_cidr, sorted(view.ctx.management_interfaces())
    rails = "|".join(r.netdev for r in view.ctx.rails if r.netdev)
    if mgmt is not None:
        env, tigera = f"cidr={mgmt}", {"cidrs": [str(mgmt)]}
    elif ifaces:
        env, tigera = f"interface={ifaces[0]}", {"interface": ifaces[0]}
    elif internal_ok:
        env, tigera = "kubernetes-internal-ip", {"kubernetes": "NodeInternalIP"}
    else:
        env, tigera = f"skip-interface={rails}", {"skipInterface": rails}
    body = {"spec": {"calicoNetwork": {"nodeAddressAutodetectionV4": tigera}}}
    return (f"kubectl -n kube-system set env daemonset/calico-node IP_AUTODETECTION_METHOD={env}   # or, with the "
            f"Tigera operator: " + fixes.merge_patch("installation.operator.tigera.io", "default", None, body) + "\n"
            f"kubectl -n kube-system delete pod -l k8s-app=calico-node --field-selector spec.nodeName={view.node_name}")


@check("k8s.node_ip", "Node InternalIP and Calico's address are on the management network, not a rail",
       scope="node", designs="all (Kubernetes)", remediation="plan-only")
def node_ip(ctx: NodeContext) -> Result:
    """The Node's InternalIP and the default CNI's autodetected address (Calico's
    ``projectcalico.org/IPv4Address`` annotation) lie on no rail subnet / rail pool / RDMA CIDR
    (and inside ``kubernetes.management_cidr`` when the profile gives one)."""
    view, why = _view(ctx)
    if why:
        return why
    node, k = view.node_name, view.knode
    internal = k.addresses_of("InternalIP")
    calico = k.annotations.get(CALICO_IPV4)
    problems, fix = [], []
    bad_internal = [f"InternalIP {p}" for p in (_ip_problem(view, a) for a in internal) if p]
    if bad_internal:
        mgmt = [a.address for i in sorted(ctx.management_interfaces()) for a in ctx.facts.net.ipv4(i)]
        problems += bad_internal
        fix.append(f"# on {node}: echo 'KUBELET_EXTRA_ARGS=--node-ip={mgmt[0] if mgmt else '<management IP>'}' "
                   f">> /etc/default/kubelet && systemctl restart kubelet")
    if calico:
        p = _ip_problem(view, calico)
        if p:
            problems.append(f"Calico {CALICO_IPV4} {p}")
            fix.append(_calico_fix(view, not bad_internal))
    expected = "off the rails (" + ", ".join(_rail_networks(view).values()) + ")" + (
        f", inside {view.spec.management_cidr}" if view.spec.management_cidr else "")
    found = f"InternalIP {', '.join(internal) or 'none'}; {CALICO_IPV4} {calico or 'not set (no Calico?)'}"
    if problems:
        return failed(f"{node}: " + "; ".join(problems), expected, found, "\n".join(fix))
    return passed(found, expected, found)


# -- k8s.host_agreement ----------------------------------------------------------------------------------

def _host_link(ctx: NodeContext, netdev: str) -> str | None:
    layers = {p.link_layer for p in ctx.facts.rdma.ports_of_netdev(netdev) if p.link_layer}
    return HOST_LINK.get(next(iter(layers))) if len(layers) == 1 else None


def _sriov_agreement(view: ClusterView, b: RailBinding) -> Result:
    state = _node_state(view)
    if state is None or status_of(state).get("syncStatus") != "Succeeded":
        return skipped("SriovNetworkNodeState not Succeeded: see k8s.sriov_state")
    nic: HostNic = b.nic
    ifaces = status_of(state).get("interfaces") or []
    mine = next((i for i in ifaces if str(i.get("pciAddress", "")).lower() == (nic.pci or "")), None) or \
        next((i for i in ifaces if i.get("name") == nic.name), None)
    host = f"host: {nic.name} at {nic.pci}, sriov_numvfs {nic.numvfs}"
    if mine is None:
        return failed(f"the operator does not list {nic.name} ({nic.pci}) on {view.node_name}",
                      host, f"cluster: SriovNetworkNodeState {view.node_name} lists "
                      + (", ".join(f"{i.get('name')} ({i.get('pciAddress')})" for i in ifaces) or "no interfaces"),
                      f"kubectl -n {view.sriov_ns} logs -l app={CONFIG_DAEMON} --field-selector spec.nodeName="
                      f"{view.node_name} --tail=100   # the config daemon discovers the NICs")
    cl = f"cluster: SriovNetworkNodeState {view.node_name}: {mine.get('name')} at {mine.get('pciAddress')}, " \
         f"numVfs {mine.get('numVfs')}, linkType {mine.get('linkType')}"
    problems = []
    if mine.get("name") != nic.name:
        problems.append(f"the operator calls {nic.pci} {mine.get('name')}, the host {nic.name} (pfNames match by name)")
    if nic.numvfs is not None and mine.get("numVfs") is not None and int(mine["numVfs"]) != nic.numvfs:
        problems.append(f"numVfs {mine['numVfs']} in the cluster, sriov_numvfs {nic.numvfs} on the host")
    host_link = _host_link(view.ctx, nic.name)
    if host_link and mine.get("linkType") and str(mine["linkType"]).lower() != host_link:
        problems.append(f"linkType {mine['linkType']} in the cluster, {host_link.upper()} on the host")
    if problems:
        return failed(f"{nic.name}: " + "; ".join(problems), host, cl,
                      f"kubectl -n {view.sriov_ns} delete pod -l app={CONFIG_DAEMON} --field-selector spec.nodeName="
                      f"{view.node_name}   # the daemon re-reads the host and re-syncs")
    return passed(f"{nic.name}: operator and host agree", host, cl)


def _subnet_agreement(view: ClusterView, b: RailBinding) -> Result:
    verdict = ippools_result(view, b)
    if verdict.outcome in (Outcome.FAIL, Outcome.ERROR, Outcome.WARN) or b.smc is None or not b.pools:
        return skipped("IPPools not conformant: see k8s.ippools")
    if b.ipv4 is None:
        return skipped(f"{b.netdev} has no IPv4 address: see net.address")
    host = f"host: {b.netdev} {b.ipv4}"
    holding = [p for p in b.node_pools if p.contains(b.ipv4.ip)]
    if holding:
        return passed(f"{b.ipv4.ip} lies in {holding[0].name}", host, f"cluster: {holding[0].describe()}")
    pools = b.node_pools or b.pools
    cl = "cluster: " + "; ".join(p.describe() for p in pools)
    if b.pool_mode == "by-subnet":
        summary = (f"no pool of {b.smc.ref} holds {b.netdev}'s {b.ipv4.ip}: matchMasterSubnet allocation fails "
                   "(filterPoolCandidatesByPfSubnet)")
    else:
        summary = f"{b.netdev}'s {b.ipv4.ip} is outside {', '.join(p.name for p in pools)}"
    return failed(summary, host, cl,
                  f"# give {b.netdev} on {view.node_name} an address in {pools[0].subnet_text} "
                  f"(setNicAddr.sh), or move this node's pool to {b.ipv4.network}")


@check("k8s.host_agreement", "Host facts and the cluster agree on the rail's NIC, subnet and resource",
       designs="all (Kubernetes)", remediation="plan-only")
def host_agreement(ctx: NodeContext, rail: Rail) -> Result:
    """The cluster's record of this rail matches the host: the NIC behind the rail's resource
    has an RDMA device; SR-IOV: the operator's SriovNetworkNodeState lists the PF by the host's
    name and PCI address with the host's sriov_numvfs and link layer; the rail's host IP lies in
    this node's SpiderIPPool (what matchMasterSubnet needs). Cluster objects wrong for the
    profile are left to their own checks."""
    view, why = _view(ctx)
    if why:
        return why
    b = view.binding(rail)
    parts: list[Result] = []
    if b.provided_resource and not rail.rdma_devices:
        parts.append(failed(f"{b.provided_resource} is advertised from {rail.netdev}, which has no RDMA device",
                            f"host: an RDMA device on {rail.netdev}", f"cluster: {b.provided_by} selects {rail.netdev}",
                            "# load mlx5_ib on the node (modprobe mlx5_ib; see rdma.driver), or select the RDMA NIC"))
    if not view.macvlan and b.nic is not None:
        parts.append(_sriov_agreement(view, b))
    parts.append(_subnet_agreement(view, b))
    result = worst(parts)
    if result.outcome == Outcome.SKIP and all(p.outcome == Outcome.SKIP for p in parts):
        return passed(f"nothing disagrees for {rail.netdev} ({'; '.join(p.summary for p in parts)})")
    return result

