"""What a check sees: the node's facts, its effective profile, and its rails bound to NICs.

Rail discovery is pure: each profile rail's NIC selector (netdev, PCI address, RDMA device,
or position among RDMA netdevs in PCI order) is resolved against the node's facts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..facts.model import NodeFacts
from ..facts.netdev import normalize_bdf
from ..profile.schema import Profile, RailSpec


@dataclass(frozen=True)
class Rail:
    name: str
    index: int                      # 1-based order in the profile
    spec: RailSpec
    netdev: str | None              # None: not found on this node
    rdma_devices: tuple[str, ...] = ()
    problem: str = ""               # why it was not found / ambiguous

    @property
    def found(self) -> bool:
        return self.netdev is not None

    @property
    def label(self) -> str:
        return f"{self.name}:{self.netdev or 'missing'}"


@dataclass
class NodeContext:
    node: str
    profile: Profile
    facts: NodeFacts
    rails: list[Rail] = field(default_factory=list)
    cluster: object | None = None       # k8s ClusterFacts when a cluster is given (k8s.* checks)
    # derived values several checks share (e.g. a rail's routing), computed once per context;
    # facts are not changed after a context is built (a re-collection builds a new context)
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def rail(self, name: str) -> Rail | None:
        return next((r for r in self.rails if r.name == name), None)

    @property
    def first_rail(self) -> Rail | None:
        return self.rails[0] if self.rails else None

    def management_interfaces(self) -> set[str]:
        """Interfaces remediation must never touch: the profile's, and those carrying the
        node's main default route that are not rails."""
        rails = {r.netdev for r in self.rails if r.netdev}
        out = {d for d in self.facts.net.default_route_devs() if d not in rails}
        if self.profile.network.management_interface:
            out.add(self.profile.network.management_interface)
        return out


def rdma_netdevs_in_pci_order(facts: NodeFacts) -> list[str]:
    """Netdevs that have an RDMA device, PFs only, sorted by PCI address (then name)."""
    mapped = set()
    for dev in facts.rdma.devices.values():
        for p in dev.ports.values():
            if p.netdev:
                mapped.add(p.netdev)
    out = []
    for name in mapped:
        nd = facts.netdevs.get(name)
        if nd is not None and nd.is_vf:
            continue
        out.append((nd.pci if nd and nd.pci else "~", name))
    return [n for _, n in sorted(out)]


def bind_rails(profile: Profile, facts: NodeFacts) -> list[Rail]:
    rails = []
    ordered = None
    for i, (name, spec) in enumerate(profile.rails.items(), start=1):
        sel = spec.nic
        netdev, problem = None, ""
        if sel.netdev is not None:
            if sel.netdev in facts.net.links:
                netdev = sel.netdev
            else:
                problem = f"no netdev named {sel.netdev}"
        elif sel.pci is not None:
            want = normalize_bdf(sel.pci)
            hits = sorted(n for n, d in facts.netdevs.items() if d.pci == want)
            if len(hits) == 1:
                netdev = hits[0]
            else:
                problem = f"no netdev at PCI {want}" if not hits else f"several netdevs at PCI {want}: {', '.join(hits)}"
        elif sel.rdma_device is not None:
            if sel.rdma_device not in facts.rdma.devices:
                problem = f"no RDMA device {sel.rdma_device}"
            else:
                nds = facts.rdma.netdevs_of(sel.rdma_device)
                if len(nds) == 1:
                    netdev = nds[0]
                else:
                    problem = (f"RDMA device {sel.rdma_device} has no netdev" if not nds
                               else f"RDMA device {sel.rdma_device} maps to several netdevs: {', '.join(nds)}")
        elif sel.position is not None:
            if ordered is None:
                ordered = rdma_netdevs_in_pci_order(facts)
            if sel.position <= len(ordered):
                netdev = ordered[sel.position - 1]
            else:
                problem = (f"position {sel.position} asked, but the node has {len(ordered)} RDMA netdev(s)"
                           + (f" ({', '.join(ordered)})" if ordered else ""))
        devs = tuple(facts.rdma.device_for_netdev(netdev)) if netdev else ()
        rails.append(Rail(name=name, index=i, spec=spec, netdev=netdev, rdma_devices=devs, problem=problem))
    return rails


def node_context(node: str, profile: Profile, facts: NodeFacts) -> NodeContext:
    return NodeContext(node=node, profile=profile, facts=facts, rails=bind_rails(profile, facts))


def rail_slice(rail: Rail, address: ipaddress.IPv4Interface) -> ipaddress.IPv4Network | None:
    """Per-node-subnet design: the node's slice of the rail pool that holds ``address``."""
    spec = rail.spec
    if spec.pool is None or spec.slice_prefix is None or address.ip not in spec.pool:
        return None
    return ipaddress.ip_network(f"{address.ip}/{spec.slice_prefix}", strict=False)
