"""Real Linux test hosts: a fabric namespace plus node namespaces built like Spiderpool's designs."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, replace
from ipaddress import IPv4Interface, IPv4Network
from types import TracebackType

from pyroute2 import IPRoute, netns

from tests.lab.addressing import (
    DEFAULT_TABLE_BASE,
    MGMT_GATEWAY,
    MGMT_IFNAME,
    PER_NODE,
    QUIRK_DEFAULT_METRIC,
    QUIRK_RDMA_PRIORITY,
    Design,
    LabRail,
    mgmt_address,
    plan_rails,
)
from tests.lab.node import RTPROT_STATIC, LabNode, add_rdma_rule, rail_rule_priority, rdma_rule_priority
from tests.lab.nsutil import cleanup_stale, default_prefix, open_ns, remove_ns, sysctl

__all__ = ["Lab", "LabNode", "LabRail", "cleanup_stale"]

MGMT_BRIDGE = "mgmt"
MAX_RAILS = 16
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


def _link(ipr: IPRoute, ifname: str) -> int:
    return ipr.link_lookup(ifname=ifname)[0]


def _ensure_bridge(ipr: IPRoute, ifname: str) -> int:
    if not ipr.link_lookup(ifname=ifname):
        ipr.link("add", ifname=ifname, kind="bridge")
    index = _link(ipr, ifname)
    ipr.link("set", index=index, state="up")
    return index


def _ensure_addr(ipr: IPRoute, index: int, iface: IPv4Interface) -> None:
    have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=socket.AF_INET)}
    if (str(iface.ip), iface.network.prefixlen) not in have:
        ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)


@dataclass
class _Port:
    """A veth from a fabric bridge to a node interface."""

    fabric_ifname: str
    bridge: str
    node_ifname: str
    mtu: int


class Lab:
    """Owns a fabric namespace (one bridge per rail + management bridge) and node namespaces."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or default_prefix()
        self.fabric_netns = f"{self.prefix}-fab"
        self.nodes: dict[str, LabNode] = {}
        self._namespaces: list[str] = []

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    @property
    def namespaces(self) -> list[str]:
        """Namespaces this lab created and has not removed yet."""
        return list(self._namespaces)

    def _create_ns(self, name: str) -> None:
        if name in netns.listnetns():
            raise RuntimeError(f"namespace {name} already exists")
        self._namespaces.append(name)
        netns.create(name)

    def start(self) -> None:
        """Create the fabric namespace with its management bridge (idempotent)."""
        if self.fabric_netns in self._namespaces:
            return
        self._create_ns(self.fabric_netns)
        with open_ns(self.fabric_netns) as ipr:
            ipr.link("set", index=_link(ipr, "lo"), state="up")
            _ensure_addr(ipr, _ensure_bridge(ipr, MGMT_BRIDGE), MGMT_GATEWAY)
        sysctl(self.fabric_netns, "net.ipv4.ip_forward", "1")

    def node(self, name: str) -> LabNode:
        return self.nodes[name]

    def add_node(
        self,
        name: str,
        index: int,
        design: Design,
        rails: int = 8,
        mtu: int = 4200,
        quirks: bool = False,
        rdma_cidr: str = "172.16.0.0/16",
        table_base: int = DEFAULT_TABLE_BASE,
    ) -> LabNode:
        """Build node ``name`` (unique ``index``) in ``design`` and return it.

        Rails ``ens<r>f0np0`` get MTU ``mtu`` and the design's addresses, per-rail
        policy tables (``table_base + r``) with kernel-chosen rule priorities, and
        ``not to <rdma_cidr> lookup main`` before them. ``quirks`` reproduces
        setNicAddr.sh/setRdmaRule.sh: tables 151, 152, ..., RDMA rule at 2000 and
        (Solution 2) ``default via <rail1 gw> metric 10`` in main.
        """
        planned = plan_rails(design, index, rails, quirks, table_base)
        self._validate(name, index, planned)
        self.start()
        node_ns = f"{self.prefix}-{name}"
        self._create_ns(node_ns)
        ports = [_Port(f"n{index}m", MGMT_BRIDGE, MGMT_IFNAME, 1500)]
        ports += [_Port(f"n{index}r{r.index}", r.name, r.ifname, mtu) for r in planned]
        self._wire_fabric(node_ns, ports, planned)
        cidr = IPv4Network(rdma_cidr)
        with open_ns(node_ns) as ipr:
            self._configure_links(ipr, index, ports, planned)
            self._configure_routing(ipr, design, quirks, cidr, planned)
            built = [replace(r, rule_priority=rail_rule_priority(ipr, r)) for r in planned]
            rdma_priority = rdma_rule_priority(ipr, cidr)
        node = LabNode(
            name=name,
            netns=node_ns,
            index=index,
            design=design,
            rails=built,
            mgmt_ifname=MGMT_IFNAME,
            mgmt_address=mgmt_address(index),
            mgmt_gateway=MGMT_GATEWAY.ip,
            rdma_cidr=cidr,
            rdma_rule_priority=rdma_priority,
            mtu=mtu,
            quirks=quirks,
            fabric_netns=self.fabric_netns,
        )
        self.nodes[name] = node
        return node

    def _validate(self, name: str, index: int, rails: list[LabRail]) -> None:
        if not _NAME.match(name):
            raise ValueError(f"node name {name!r} must match {_NAME.pattern}")
        if name in self.nodes or index in {n.index for n in self.nodes.values()}:
            raise ValueError(f"node name {name!r} or index {index} already used in this lab")
        if not 1 <= len(rails) <= MAX_RAILS:
            raise ValueError(f"rails must be 1..{MAX_RAILS}, got {len(rails)}")
        addrs = {r.address.ip for n in self.nodes.values() for r in n.rails}
        gateways = {r.gateway for n in self.nodes.values() for r in n.rails}
        clash = {r.address.ip for r in rails} & (addrs | gateways)
        clash |= {r.gateway for r in rails} & addrs
        if clash:
            raise ValueError(f"node {name} would reuse lab addresses {sorted(map(str, clash))}")

    def _wire_fabric(self, node_ns: str, ports: list[_Port], rails: list[LabRail]) -> None:
        with open_ns(self.fabric_netns) as ipr:
            for port in ports:
                bridge = _ensure_bridge(ipr, port.bridge)
                ipr.link(
                    "add",
                    ifname=port.fabric_ifname,
                    kind="veth",
                    peer={"ifname": port.node_ifname, "net_ns_fd": node_ns},
                )
                ipr.link(
                    "set", index=_link(ipr, port.fabric_ifname), master=bridge, mtu=port.mtu, state="up"
                )
                _raise_bridge_mtu(ipr, bridge, port.mtu)
            for rail in rails:
                _ensure_addr(ipr, _link(ipr, rail.name), rail.gateway_interface)

    @staticmethod
    def _configure_links(ipr: IPRoute, index: int, ports: list[_Port], rails: list[LabRail]) -> None:
        ipr.link("set", index=_link(ipr, "lo"), state="up")
        for port in ports:
            ipr.link("set", index=_link(ipr, port.node_ifname), mtu=port.mtu, state="up")
        mgmt = mgmt_address(index)
        ipr.addr("add", index=_link(ipr, MGMT_IFNAME), address=str(mgmt.ip), prefixlen=mgmt.network.prefixlen)
        ipr.route("add", dst="0.0.0.0/0", gateway=str(MGMT_GATEWAY.ip), oif=_link(ipr, MGMT_IFNAME))
        for rail in rails:
            ipr.addr(
                "add",
                index=_link(ipr, rail.ifname),
                address=str(rail.address.ip),
                prefixlen=rail.address.network.prefixlen,
            )

    @staticmethod
    def _configure_routing(
        ipr: IPRoute, design: Design, quirks: bool, cidr: IPv4Network, rails: list[LabRail]
    ) -> None:
        first = rails[0]
        if design == PER_NODE:
            oif = _link(ipr, first.ifname)
            ipr.route("add", dst=str(cidr), gateway=str(first.gateway), oif=oif, flags=["onlink"])
            if quirks:
                ipr.route(
                    "add", dst="0.0.0.0/0", gateway=str(first.gateway), oif=oif, priority=QUIRK_DEFAULT_METRIC
                )
        for rail in rails:
            if rail.table is None:
                continue
            ipr.route(
                "add", dst="0.0.0.0/0", gateway=str(rail.gateway), oif=_link(ipr, rail.ifname), table=rail.table
            )
            ipr.rule(
                "add",
                src=str(rail.address.ip),
                src_len=32,
                table=rail.table,
                priority=None,
                protocol=RTPROT_STATIC,
            )
        add_rdma_rule(ipr, cidr, QUIRK_RDMA_PRIORITY if quirks else None, quirks)

    def cleanup(self) -> None:
        """Remove every namespace (and the processes in it) this lab created."""
        errors: list[Exception] = []
        for name in reversed(self._namespaces):
            try:
                remove_ns(name)
            except Exception as exc:  # keep removing the rest
                errors.append(exc)
        self._namespaces.clear()
        self.nodes.clear()
        if errors:
            raise errors[0]


def _raise_bridge_mtu(ipr: IPRoute, bridge: int, mtu: int) -> None:
    current = ipr.get_links(bridge)[0].get("IFLA_MTU")
    if mtu > current:
        ipr.link("set", index=bridge, mtu=mtu)


