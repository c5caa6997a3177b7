"""Address plans of Spiderpool's two RoCE subnet designs (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

Design = Literal["shared-subnet", "per-node-subnet"]
SHARED: Design = "shared-subnet"
PER_NODE: Design = "per-node-subnet"
DESIGNS: tuple[Design, ...] = (SHARED, PER_NODE)

MGMT_IFNAME = "mgmt0"
MGMT_GATEWAY = IPv4Interface("192.0.2.1/24")
SLICE_PREFIX = 27
DEFAULT_TABLE_BASE = 150
QUIRK_TABLE_START = 151  # setNicAddr.sh: `for (( i=150 ; i++ ; i<200 ))`
QUIRK_RDMA_PRIORITY = 2000  # setRdmaRule.sh
QUIRK_DEFAULT_METRIC = 10  # setNicAddr.sh, ENABLE_RDMA_DEFAULT_ROUTE without policy route
MAX_INDEX: dict[Design, int] = {SHARED: 100, PER_NODE: 256 // 2**(32 - SLICE_PREFIX)}


@dataclass(frozen=True)
class LabRail:
    """One RDMA rail NIC of a node, as built."""

    index: int
    name: str
    ifname: str
    address: IPv4Interface
    gateway: IPv4Address
    table: int | None
    subnet: IPv4Network
    pool: IPv4Network
    rule_priority: int | None = None

    @property
    def gateway_interface(self) -> IPv4Interface:
        """The gateway address as configured on the fabric's rail bridge."""
        return IPv4Interface(f"{self.gateway}/{self.subnet.prefixlen}")


def rail_ifname(rail: int) -> str:
    """ConnectX-style PF name of rail ``rail``."""
    return f"ens{rail}f0np0"


def rail_pool(rail: int) -> IPv4Network:
    """The /24 of rail ``rail`` (172.16.<rail>.0/24)."""
    return IPv4Network(f"172.16.{rail}.0/24")


def mgmt_address(index: int) -> IPv4Interface:
    """Management address of node ``index``."""
    return IPv4Interface(f"{MGMT_GATEWAY.network[10 + index]}/{MGMT_GATEWAY.network.prefixlen}")


def check_index(design: Design, index: int) -> None:
    """Reject designs or node indexes the address plan cannot hold."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; expected one of {DESIGNS}")
    if not 1 <= index <= MAX_INDEX[design]:
        raise ValueError(f"{design} node index must be 1..{MAX_INDEX[design]}, got {index}")


def policy_rails(design: Design, rails: int) -> list[int]:
    """Rails that get a source-based policy table (all but rail 1 in Solution 2)."""
    first = 2 if design == PER_NODE else 1
    return list(range(first, rails + 1))


def policy_tables(design: Design, rails: int, quirks: bool, table_base: int) -> dict[int, int]:
    """Table per policy rail: ``table_base + r``, or 151, 152, ... like the script."""
    routed = policy_rails(design, rails)
    if quirks:
        return {r: QUIRK_TABLE_START + k for k, r in enumerate(routed)}
    return {r: table_base + r for r in routed}


def plan_rail(design: Design, node_index: int, rail: int, table: int | None) -> LabRail:
    """Address, gateway and subnet of one rail of one node."""
    pool = rail_pool(rail)
    if design == SHARED:
        subnet = pool
        gateway = pool[1]
        address = IPv4Interface(f"{pool[10 + node_index]}/{pool.prefixlen}")
    else:
        size = 2 ** (32 - SLICE_PREFIX)
        subnet = IPv4Network(f"{pool[size * (node_index - 1)]}/{SLICE_PREFIX}")
        gateway = subnet[1]
        address = IPv4Interface(f"{subnet[2]}/{SLICE_PREFIX}")
    return LabRail(rail, f"rail{rail}", rail_ifname(rail), address, gateway, table, subnet, pool)


def plan_rails(
    design: Design, node_index: int, rails: int, quirks: bool, table_base: int = DEFAULT_TABLE_BASE
) -> list[LabRail]:
    """All rails of node ``node_index``."""
    check_index(design, node_index)
    tables = policy_tables(design, rails, quirks, table_base)
    return [plan_rail(design, node_index, r, tables.get(r)) for r in range(1, rails + 1)]


def spare_address(design: Design, rail: LabRail, node_index: int) -> IPv4Interface:
    """A second in-subnet address for ``rail`` no other lab node uses."""
    offset = node_index if design == SHARED else 1
    return IPv4Interface(f"{rail.subnet.broadcast_address - offset}/{rail.subnet.prefixlen}")
