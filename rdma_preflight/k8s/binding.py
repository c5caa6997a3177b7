"""What serves a rail on a node, from the cluster's side, pure: its RDMA resource (the shared
device plugin entry or SR-IOV policy that selects the rail NIC), its SpiderMultusConfig and
the SpiderIPPools that config allocates from on this node.

The rail's NIC is the one the node's facts bound it to (ctx.rails); the profile may pin the
resource (``rails.<r>.resource``) and the SpiderMultusConfig (``rails.<r>.network``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..checks.context import NodeContext, Rail
from .facts import ClusterFacts, KNode, Obj, name_of, spec_of
from .ipam import Pool, read_pool
from .multus import MultusConfig, design_cni_type, read_smc
from .selectors import HostNic, PluginConfig, PluginEntry, host_nics, parse_plugin_config, policy_vfs_for

PLUGIN_KEY = "config.json"


def kspec(ctx: NodeContext) -> Any:
    return ctx.profile.kubernetes


def full_resource(name: str, prefix: str) -> str:
    return name if "/" in name else f"{prefix}/{name}"


@dataclass(frozen=True)
class Policy:
    name: str
    resource: str                 # with prefix
    vfs: int                      # VFs of this rail's PF it gives
    obj: Obj


@dataclass(frozen=True)
class RailBinding:
    rail: Rail
    nic: HostNic | None
    ipv4: ipaddress.IPv4Interface | None
    expected_resource: str | None            # the profile's, else what the cluster provides
    provided_resource: str | None            # what the cluster attaches to this NIC
    provided_by: str                         # "ConfigMap entry ..." / "SriovNetworkNodePolicy ..." / ""
    plugin_entries: tuple[PluginEntry, ...] = ()
    policies: tuple[Policy, ...] = ()
    smc: MultusConfig | None = None
    smc_how: str = ""                        # how it was found, or why none was
    pool_refs_unresolved: tuple[str, ...] = ()
    pools: tuple[Pool, ...] = ()             # the SMC's pools that this node may use
    node_pools: tuple[Pool, ...] = ()        # the ones this node's pods get (see pool_mode)
    pool_mode: str = ""                      # shared | bound | by-subnet | none
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def netdev(self) -> str | None:
        return self.rail.netdev


class ClusterView:
    """The cluster as one node sees it; built per evaluation (cheap, pure)."""

    def __init__(self, ctx: NodeContext, cluster: ClusterFacts):
        self.ctx, self.cluster = ctx, cluster
        self.spec = kspec(ctx)
        self.profile = ctx.profile
        self.design_cni = design_cni_type(ctx.profile.design.fabric, ctx.profile.design.scheme)
        self.knode: KNode | None = cluster.node(ctx.node, ctx.facts.system.hostname)
        self.nics = host_nics(ctx.facts)

    # -- components' namespaces and names ---------------------------------------------------
    @property
    def sp_ns(self) -> str:
        return self.spec.spiderpool_namespace

    @property
    def sriov_ns(self) -> str:
        return self.spec.sriov_namespace or self.spec.spiderpool_namespace

    @property
    def node_name(self) -> str:
        return self.knode.name if self.knode else self.ctx.node

    @property
    def macvlan(self) -> bool:
        return self.profile.design.scheme == "macvlan"

    @cached_property
    def plugin(self) -> PluginConfig | None:
        data = self.cluster.configmap(self.sp_ns, self.spec.shared_device_plugin)
        return None if data is None else parse_plugin_config(data.get(PLUGIN_KEY))

    @cached_property
    def smcs(self) -> list[MultusConfig]:
        return sorted((read_smc(o) for o in self.cluster.multus_configs), key=lambda m: (m.namespace, m.name))

    @cached_property
    def pools(self) -> dict[str, Pool]:
        return {name_of(o): read_pool(o) for o in self.cluster.ippools}

    @cached_property
    def policies(self) -> list[Obj]:
        def priority(p: Obj) -> int:               # lower wins; the operator's default is 99
            value = spec_of(p).get("priority")
            return value if isinstance(value, int) else 99

        return sorted(self.cluster.sriov_policies, key=lambda p: (priority(p), name_of(p)))

    # -- resources ------------------------------------------------------------------------------
    def _provided(self, nic: HostNic | None) -> tuple[str | None, str, tuple[PluginEntry, ...], tuple[Policy, ...]]:
        if nic is None:
            return None, "", (), ()
        if self.macvlan:
            entries = tuple(self.plugin.selecting(nic)) if self.plugin else ()
            if not entries:
                return None, "", (), ()
            return entries[0].resource, f"shared device plugin entry {entries[0].resource_name}", entries, ()
        labels = self.knode.labels if self.knode else {}
        pols = []
        for p in self.policies:
            vfs = policy_vfs_for(p, nic, labels)
            if vfs is not None:
                res = full_resource(str(spec_of(p).get("resourceName") or ""), self.spec.resource_prefix)
                pols.append(Policy(name_of(p), res, vfs, p))
        if not pols:
            return None, "", (), ()
        return pols[0].resource, f"SriovNetworkNodePolicy {pols[0].name}", (), tuple(pols)

    # -- SpiderMultusConfig ---------------------------------------------------------------------
    def _smc(self, rail: Rail, resource: str | None) -> tuple[MultusConfig | None, str]:
        if rail.spec.network:
            ns, _, name = rail.spec.network.rpartition("/")
            hit = next((m for m in self.smcs if m.name == name and (not ns or m.namespace == ns)), None)
            where = f"(rails.{rail.name}.network)"
            return hit, (f"named by the profile {where}" if hit
                         else f"the profile names {rail.spec.network} {where}, which does not exist")
        prefer = sorted(self.smcs, key=lambda m: m.cni_type != self.design_cni)
        if resource:
            for m in prefer:
                docs = {str(o.value) for o in m.off_schema if o.path.endswith("rdmaResourceName")}
                if resource in (m.resource, m.rdma_resource) or resource in docs:
                    return m, f"its resource is {resource}"
        if rail.netdev:
            for m in prefer:
                if rail.netdev in m.masters:
                    return m, f"its master is {rail.netdev}"
        if resource:
            return None, f"no SpiderMultusConfig names resource {resource}"
        return None, "no resource to look it up by"

    def _pools(self, smc: MultusConfig | None, rail: Rail, ip: ipaddress.IPv4Interface | None
               ) -> tuple[tuple[str, ...], tuple[Pool, ...], tuple[Pool, ...], str]:
        if smc is None:
            return (), (), (), "none"
        unresolved, pools = [], []
        for ref in smc.ipv4_pools:
            hits = [p for n, p in sorted(self.pools.items()) if fnmatch.fnmatchcase(n, ref)]
            if not hits:
                unresolved.append(ref)
            pools += [p for p in hits if p not in pools]
        if self.knode is None:
            return tuple(unresolved), tuple(pools), (), "none"
        usable = [p for p in pools if p.bound_to(self.knode) is not False and not p.disabled]
        if self.profile.design.addressing != "per-node-subnet":
            return tuple(unresolved), tuple(usable), tuple(usable), "shared"
        bound = [p for p in usable if p.bound_to(self.knode) or p.named_for(self.knode.name)]
        if bound:
            return tuple(unresolved), tuple(usable), tuple(bound), "bound"
        addr = rail.spec.address or ip
        mine = [p for p in usable if addr is not None and p.contains(addr.ip)]
        return tuple(unresolved), tuple(usable), tuple(mine), "by-subnet"

    def host_ipv4(self, netdev: str | None) -> ipaddress.IPv4Interface | None:
        if not netdev:
            return None
        addrs = self.ctx.facts.net.ipv4(netdev)
        return ipaddress.IPv4Interface(f"{addrs[0].address}/{addrs[0].prefixlen}") if addrs else None

    def binding(self, rail: Rail) -> RailBinding:
        nic = self.nics.get(rail.netdev) if rail.netdev else None
        provided, by, entries, pols = self._provided(nic)
        expected = full_resource(rail.spec.resource, self.spec.resource_prefix) if rail.spec.resource else provided
        smc, how = self._smc(rail, expected)
        ip = self.host_ipv4(rail.netdev)
        unresolved, pools, node_pools, mode = self._pools(smc, rail, ip)
        return RailBinding(rail=rail, nic=nic, ipv4=ip, expected_resource=expected, provided_resource=provided,
                           provided_by=by, plugin_entries=entries, policies=pols, smc=smc, smc_how=how,
                           pool_refs_unresolved=unresolved, pools=pools, node_pools=node_pools, pool_mode=mode)

    def bindings(self) -> list[RailBinding]:
        return [self.binding(r) for r in self.ctx.rails]
