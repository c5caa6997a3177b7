"""Hand-made node state for unit tests of the pure net evaluators (all values hand-made,
shaped after the docs' outputs in spec §1.4: tables discovered, rules at kernel-chosen
priorities, the RDMA rule at setRdmaRule.sh's 2000)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rdma_preflight.checks.context import NodeContext, node_context
from rdma_preflight.collect.snapshot import Snapshot
from rdma_preflight.facts.model import NodeFacts
from rdma_preflight.facts.net import Address, Link, NetFacts, Route, Rule
from rdma_preflight.facts.netdev import NetDevice
from rdma_preflight.facts.rdma import RdmaFacts
from rdma_preflight.facts.system import SystemFacts
from rdma_preflight.profile.schema import Profile

CIDR = "172.16.0.0/16"
MGMT = "mgmt0"


def profile(addressing: str = "shared-subnet", rails: int = 2, fabric: str = "roce", mtu: int = 4200,
            network: dict | None = None, rail_extra: dict | None = None) -> Profile:
    """A RoCE (or IB) SR-IOV profile with ``rails`` rails bound to ens<r>f0np0."""
    specs = {}
    for r in range(1, rails + 1):
        s: dict = {"nic": {"netdev": f"ens{r}f0np0"}, "mtu": mtu}
        if fabric == "roce" and addressing == "shared-subnet":
            s.update(subnet=f"172.16.{r}.0/24", gateway=f"172.16.{r}.1")
        elif addressing == "per-node-subnet":
            s.update(pool=f"172.16.{r}.0/24", slice_prefix=27)
        s.update((rail_extra or {}).get(r, {}))
        specs[f"rail{r}"] = s
    data: dict = {"name": "hand-made", "design": {"fabric": fabric, "scheme": "sriov", "addressing": addressing},
                  "rails": specs, "network": network or {}}
    if fabric == "roce":
        data["rdma"] = {"cidr": CIDR}
    else:
        data["network"] = {"policy_routing": False, "rdma_rule": False, **(network or {})}
    return Profile.model_validate(data)


@dataclass
class HandNode:
    """Mutable hand-made network state; ``ctx()`` turns it into a NodeContext."""

    net: NetFacts = field(default_factory=NetFacts)
    netdevs: dict[str, NetDevice] = field(default_factory=dict)
    config_files: dict[str, str] = field(default_factory=dict)
    enabled: dict[str, str] = field(default_factory=dict)

    def link(self, name: str, mtu: int = 4200, admin_up: bool = True, lower_up: bool | None = None) -> "HandNode":
        lower_up = admin_up if lower_up is None else lower_up     # an admin-down NIC has no LOWER_UP
        self.net.links[name] = Link(name=name, ifindex=len(self.net.links) + 1, mtu=mtu,
                                    operstate="UP" if admin_up and lower_up else "DOWN",
                                    admin_up=admin_up, lower_up=lower_up, link_type="ether")
        return self

    def addr(self, ifname: str, cidr: str) -> "HandNode":
        ip, plen = cidr.split("/")
        self.net.addresses.append(Address(ifname, ip, int(plen)))
        return self

    def rule(self, priority: int, table: int, src: str | None = None, dst: str | None = None,
             invert: bool = False, protocol: str | None = None) -> "HandNode":
        self.net.rules.append(Rule(priority, table, src, dst, invert, protocol=protocol))
        return self

    def route(self, dst: str, gateway: str | None, dev: str, table: int = 254, metric: int = 0,
              onlink: bool = False) -> "HandNode":
        self.net.routes.append(Route(table, dst, gateway, dev, metric, onlink=onlink))
        return self

    def drop_rules(self, pred) -> "HandNode":
        self.net.rules = [r for r in self.net.rules if not pred(r)]
        return self

    def drop_routes(self, pred) -> "HandNode":
        self.net.routes = [r for r in self.net.routes if not pred(r)]
        return self

    def sysctl(self, ifname: str, **values: int) -> "HandNode":
        self.net.sysctl.setdefault(ifname, {}).update(values)
        return self

    def ctx(self, prof: Profile, node: str = "node-1") -> NodeContext:
        facts = NodeFacts(node=node, snapshot=Snapshot(node=node), net=self.net, netdevs=self.netdevs,
                          rdma=RdmaFacts(), system=SystemFacts(config_files=self.config_files,
                                                               systemd_enabled=self.enabled))
        return node_context(node, prof, facts)


def base(node: HandNode | None = None) -> HandNode:
    """Kernel rules, management NIC with the primary default route, sane ARP sysctls."""
    n = node or HandNode()
    n.link("lo", mtu=65536).link(MGMT, mtu=1500).addr(MGMT, "10.0.0.11/24")
    n.rule(0, 255).rule(32766, 254).rule(32767, 253)
    n.route("0.0.0.0/0", "10.0.0.1", MGMT)
    n.sysctl("all", rp_filter=2, arp_ignore=1, arp_announce=2)
    return n


def shared_node(rails: int = 2, tables: tuple[int, ...] = (151, 152), rdma_priority: int | None = 2000,
                rdma_protocol: str | None = None) -> HandNode:
    """Solution 1 as the reference scripts leave it: tables 151, 152 (loop bug), rules at
    32763, 32762 proto static, ``2000: not to 172.16.0.0/16 lookup main``."""
    n = base()
    for r in range(1, rails + 1):
        dev, ip = f"ens{r}f0np0", f"172.16.{r}.11"
        n.link(dev).addr(dev, f"{ip}/24").sysctl(dev, rp_filter=0, arp_ignore=0, arp_announce=0)
        n.route(f"172.16.{r}.0/24", None, dev)
        n.route("0.0.0.0/0", f"172.16.{r}.1", dev, table=tables[r - 1])
        n.rule(32764 - r, tables[r - 1], src=f"{ip}/32", protocol="static")
    if rdma_priority is not None:
        n.rule(rdma_priority, 254, dst=CIDR, invert=True, protocol=rdma_protocol)
    return n


def per_node_node(rails: int = 2, metric10: bool = False) -> HandNode:
    """Solution 2, node 3: slices 172.16.<r>.64/27, gateway .65, address .66; rail 1 has the
    RDMA subnet route (onlink), the others policy tables 151...; optional metric-10 default."""
    n = base()
    for r in range(1, rails + 1):
        dev, ip, gw = f"ens{r}f0np0", f"172.16.{r}.66", f"172.16.{r}.65"
        n.link(dev).addr(dev, f"{ip}/27").sysctl(dev, rp_filter=0)
        n.route(f"172.16.{r}.64/27", None, dev)
        if r == 1:
            n.route(CIDR, gw, dev, onlink=True)
            if metric10:
                n.route("0.0.0.0/0", gw, dev, metric=10)
        else:
            n.route("0.0.0.0/0", gw, dev, table=149 + r)
            n.rule(32764 - r, 149 + r, src=f"{ip}/32", protocol="static")
    n.rule(2000, 254, dst=CIDR, invert=True)
    return n
