"""A built lab node and the drift its tests introduce."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from pyroute2 import IPRoute

from tests.lab.addressing import PER_NODE, Design, LabRail, spare_address
from tests.lab.nsutil import ns_argv, open_ns
from tests.lab.state import FIB_RULE_INVERT, MAIN_TABLE, RuleRow, rule_row

RTPROT_STATIC = 4
WRONG_TABLE_OFFSET = 1000


def _rules(ipr: IPRoute) -> list[RuleRow]:
    return [rule_row(msg) for msg in ipr.get_rules(family=socket.AF_INET)]


def _is_rail_rule(row: RuleRow, rail: LabRail) -> bool:
    return row.src == f"{rail.address.ip}/32" and not row.invert


def _is_rdma_rule(row: RuleRow, cidr: IPv4Network) -> bool:
    return row.invert and row.dst == str(cidr) and row.table == MAIN_TABLE


def rail_rule_priority(ipr: IPRoute, rail: LabRail) -> int | None:
    """Priority of ``from <rail ip> lookup <table>`` (None when absent)."""
    rows = [r for r in _rules(ipr) if _is_rail_rule(r, rail) and r.table == rail.table]
    return rows[0].priority if rows else None


def rdma_rule_priority(ipr: IPRoute, cidr: IPv4Network) -> int | None:
    """Priority of ``not to <cidr> lookup main`` (None when absent)."""
    rows = [r for r in _rules(ipr) if _is_rdma_rule(r, cidr)]
    return rows[0].priority if rows else None


def add_rdma_rule(ipr: IPRoute, cidr: IPv4Network, priority: int | None, script: bool) -> None:
    """``not to <cidr> lookup main``; ``priority=None`` lets the kernel pick (before all others)."""
    ipr.rule(
        "add",
        dst=str(cidr.network_address),
        dst_len=cidr.prefixlen,
        table=MAIN_TABLE,
        flags=FIB_RULE_INVERT,
        priority=priority,
        protocol=0 if script else RTPROT_STATIC,
    )


@dataclass(frozen=True)
class PingResult:
    """Outcome of one ping inside a node namespace."""

    ok: bool
    returncode: int
    output: str

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class LabNode:
    """One node namespace as built (``rails`` hold the intended, not the drifted, state)."""

    name: str
    netns: str
    index: int
    design: Design
    rails: list[LabRail]
    mgmt_ifname: str
    mgmt_address: IPv4Interface
    mgmt_gateway: IPv4Address
    rdma_cidr: IPv4Network
    rdma_rule_priority: int | None
    mtu: int
    quirks: bool
    fabric_netns: str

    def rail(self, rail: int | str) -> LabRail:
        """Rail by index (1-based) or interface name."""
        for item in self.rails:
            if rail in (item.index, item.ifname):
                return item
        raise KeyError(f"{self.name} has no rail {rail!r}")

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` wrapped to run inside this node's namespace."""
        return ns_argv(self.netns, argv)

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the node namespace, capturing text output."""
        return subprocess.run(self.argv(argv), capture_output=True, text=True, check=False)

    def _set_link(self, rail: int | str, **kwarg: object) -> None:
        with open_ns(self.netns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=self.rail(rail).ifname)[0], **kwarg)

    def set_mtu(self, rail: int | str, mtu: int) -> None:
        """Change the node-side MTU of one rail NIC."""
        self._set_link(rail, mtu=mtu)

    def set_down(self, rail: int | str) -> None:
        """Set one rail NIC admin-down (the kernel then drops routes through it)."""
        self._set_link(rail, state="down")

    def _policy_rail(self, rail: int | str) -> LabRail:
        item = self.rail(rail)
        if item.table is None:
            raise ValueError(f"rail {item.index} of {self.name} has no policy table")
        return item

    def _rail_rule(self, ipr: IPRoute, rail: LabRail) -> RuleRow:
        rows = [r for r in _rules(ipr) if _is_rail_rule(r, rail)]
        if not rows:
            raise LookupError(f"no 'from {rail.address.ip}' rule on {self.name}")
        return rows[0]

    @staticmethod
    def _del_rule(ipr: IPRoute, row: RuleRow) -> None:
        net = IPv4Network(row.src or row.dst or "0.0.0.0/0")
        key = "src" if row.src else "dst"
        ipr.rule(
            "del",
            **{key: str(net.network_address), f"{key}_len": net.prefixlen},
            table=row.table,
            priority=row.priority,
            flags=FIB_RULE_INVERT if row.invert else 0,
        )

    def del_rule(self, rail: int | str) -> None:
        """Delete the rail's ``from <ip> lookup <table>`` rule."""
        item = self._policy_rail(rail)
        with open_ns(self.netns) as ipr:
            self._del_rule(ipr, self._rail_rule(ipr, item))

    def rule_to_wrong_table(self, rail: int | str, table: int | None = None) -> int:
        """Re-point the rail's rule (same priority) at ``table`` (default: an empty table); returns it."""
        item = self._policy_rail(rail)
        wrong = table if table is not None else item.table + WRONG_TABLE_OFFSET
        with open_ns(self.netns) as ipr:
            row = self._rail_rule(ipr, item)
            self._del_rule(ipr, row)
            ipr.rule(
                "add",
                src=str(item.address.ip),
                src_len=32,
                table=wrong,
                priority=row.priority,
                protocol=RTPROT_STATIC,
            )
        return wrong

    def flush_table(self, rail: int | str) -> None:
        """Delete every route in the rail's policy table (so it has no default route)."""
        item = self._policy_rail(rail)
        with open_ns(self.netns) as ipr:
            ipr.flush_routes(table=item.table, family=socket.AF_INET)

    def del_rdma_rule(self) -> None:
        """Delete every ``not to <rdma_cidr> lookup main`` rule."""
        with open_ns(self.netns) as ipr:
            for row in _rules(ipr):
                if _is_rdma_rule(row, self.rdma_cidr):
                    self._del_rule(ipr, row)

    def rdma_rule_after_rails(self) -> int:
        """Re-add the RDMA rule with a priority after all per-rail rules; returns that priority."""
        self.del_rdma_rule()
        with open_ns(self.netns) as ipr:
            prios = [r.priority for r in _rules(ipr) for rail in self.rails if _is_rail_rule(r, rail)]
            if not prios:
                raise ValueError(f"{self.name} has no per-rail rules to come after")
            priority = max(prios) + 1
            add_rdma_rule(ipr, self.rdma_cidr, priority, self.quirks)
        return priority

    def del_rdma_subnet_route(self) -> None:
        """Delete rail 1's ``<rdma_cidr> via <gw>`` main-table route (Solution 2 only)."""
        if self.design != PER_NODE:
            raise ValueError(f"{self.name} ({self.design}) has no RDMA subnet route")
        first = self.rails[0]
        with open_ns(self.netns) as ipr:
            ipr.route(
                "del",
                dst=str(self.rdma_cidr),
                gateway=str(first.gateway),
                oif=ipr.link_lookup(ifname=first.ifname)[0],
                table=MAIN_TABLE,
            )

    def add_second_address(self, rail: int | str, address: str | None = None) -> IPv4Interface:
        """Add a second in-subnet address to a rail NIC; returns it."""
        item = self.rail(rail)
        extra = IPv4Interface(address) if address else spare_address(self.design, item, self.index)
        with open_ns(self.netns) as ipr:
            ipr.addr(
                "add",
                index=ipr.link_lookup(ifname=item.ifname)[0],
                address=str(extra.ip),
                prefixlen=extra.network.prefixlen,
            )
        return extra

    def ping(self, rail: int | str, target_ip: str | None = None, *, from_address: bool = False) -> PingResult:
        """One ping out of a rail NIC (``-I <ifname>``, or ``-I <rail ip>`` to exercise policy rules)."""
        item = self.rail(rail)
        source = str(item.address.ip) if from_address else item.ifname
        target = target_ip or str(item.gateway)
        done = self.run(["ping", "-n", "-c1", "-W1", "-I", source, target])
        return PingResult(done.returncode == 0, done.returncode, done.stdout + done.stderr)
