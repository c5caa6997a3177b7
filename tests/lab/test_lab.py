"""Real lab hosts: built state, drift, traffic, cleanup and root-namespace safety."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from ipaddress import IPv4Interface

import pytest
from pyroute2 import netns

from tests.lab.addressing import PER_NODE, SHARED
from tests.lab.hosts import Lab, LabNode
from tests.lab.nsutil import LAB_PREFIX, cleanup_stale
from tests.lab.state import AddrRow, HostState, LinkRow, RouteRow, RuleRow, snapshot

pytest_plugins = ["tests.lab.fixtures"]
pytestmark = pytest.mark.netns

V4 = socket.AF_INET
STATIC, KERNEL = 4, 2
UNICAST, LOCAL = 1, 2
MAIN = 254
RAILS = range(1, 9)


def rail_if(r: int) -> str:
    return f"ens{r}f0np0"


def rule(priority: int, table: int, src: str | None = None, dst: str | None = None) -> RuleRow:
    return RuleRow(V4, priority, src, dst, table, invert=dst is not None)


def route(table: int, dst: str, gw: str | None, ifname: str, metric: int = 0, onlink: bool = False) -> RouteRow:
    return RouteRow(V4, table, dst, gw, ifname, metric, onlink, STATIC, UNICAST)


def nic_rules(state: HostState) -> set[RuleRow]:
    """Rules other than the kernel's local/main/default ones."""
    return {r for r in state.rules if r.priority not in (0, 32766, 32767)}


def mgmt_default() -> RouteRow:
    return route(MAIN, "default", "192.0.2.1", "mgmt0")


def drift(node: LabNode, change: Callable[[], object]) -> dict[str, tuple[set[object], set[object]]]:
    before = snapshot(node.netns)
    change()
    return before.diff(snapshot(node.netns))


# -- built state ---------------------------------------------------------------


def test_shared_subnet_node(lab_node_shared: LabNode) -> None:
    state = snapshot(lab_node_shared.netns)
    for r in RAILS:
        assert state.link(rail_if(r)) == LinkRow(rail_if(r), 4200, True)
        assert AddrRow(rail_if(r), f"172.16.{r}.11/24") in state.addresses
        assert state.table(150 + r) == {route(150 + r, "default", f"172.16.{r}.1", rail_if(r))}
    assert state.link("mgmt0") == LinkRow("mgmt0", 1500, True)
    assert AddrRow("mgmt0", "192.0.2.11/24") in state.addresses
    expected = {rule(32766 - r, 150 + r, src=f"172.16.{r}.11/32") for r in RAILS}
    expected.add(rule(32757, MAIN, dst="172.16.0.0/16"))
    assert nic_rules(state) == expected
    assert {r for r in state.table(MAIN) if r.gateway} == {mgmt_default()}
    assert [(r.table, r.rule_priority) for r in lab_node_shared.rails] == [(150 + r, 32766 - r) for r in RAILS]
    assert lab_node_shared.rdma_rule_priority == 32757


def test_per_node_subnet_node(lab_node_per_node: LabNode) -> None:
    state = snapshot(lab_node_per_node.netns)
    for r in RAILS:
        assert state.link(rail_if(r)) == LinkRow(rail_if(r), 4200, True)
        assert AddrRow(rail_if(r), f"172.16.{r}.34/27") in state.addresses
    for r in range(2, 9):
        assert state.table(150 + r) == {route(150 + r, "default", f"172.16.{r}.33", rail_if(r))}
    expected = {rule(32767 - r, 150 + r, src=f"172.16.{r}.34/32") for r in range(2, 9)}
    expected.add(rule(32758, MAIN, dst="172.16.0.0/16"))
    assert nic_rules(state) == expected
    rdma_route = route(MAIN, "172.16.0.0/16", "172.16.1.33", "ens1f0np0", onlink=True)
    assert {r for r in state.table(MAIN) if r.gateway} == {mgmt_default(), rdma_route}
    assert lab_node_per_node.rails[0].table is None


def test_quirks_node(lab_node_quirks: LabNode) -> None:
    state = snapshot(lab_node_quirks.netns)
    assert AddrRow("ens1f0np0", "172.16.1.66/27") in state.addresses
    for k, r in enumerate(range(2, 9)):
        assert state.table(151 + k) == {route(151 + k, "default", f"172.16.{r}.65", rail_if(r))}
    expected = {rule(32767 - r, 149 + r, src=f"172.16.{r}.66/32") for r in range(2, 9)}
    expected.add(rule(2000, MAIN, dst="172.16.0.0/16"))
    assert nic_rules(state) == expected
    assert {r for r in state.table(MAIN) if r.gateway} == {
        mgmt_default(),
        route(MAIN, "172.16.0.0/16", "172.16.1.65", "ens1f0np0", onlink=True),
        route(MAIN, "default", "172.16.1.65", "ens1f0np0", metric=10),
    }
    assert lab_node_quirks.rdma_rule_priority == 2000


def test_shared_subnet_quirks_has_no_main_default_on_rail1(lab: Lab) -> None:
    node = lab.add_node("q", 4, SHARED, rails=2, quirks=True, mtu=9000, rdma_cidr="172.16.0.0/12")
    state = snapshot(node.netns)
    assert nic_rules(state) == {
        rule(32765, 151, src="172.16.1.14/32"),
        rule(32764, 152, src="172.16.2.14/32"),
        rule(2000, MAIN, dst="172.16.0.0/12"),
    }
    assert {r for r in state.table(MAIN) if r.gateway} == {mgmt_default()}
    assert state.link("ens2f0np0").mtu == 9000


def test_fabric_bridges_and_gateways(lab: Lab, lab_node_shared: LabNode, lab_node_per_node: LabNode) -> None:
    state = snapshot(lab.fabric_netns)
    for r in RAILS:
        assert state.link(f"rail{r}") == LinkRow(f"rail{r}", 4200, True)
        assert state.link(f"n1r{r}") == LinkRow(f"n1r{r}", 4200, True)
        assert {a.address for a in state.addresses if a.ifname == f"rail{r}"} == {
            f"172.16.{r}.1/24",
            f"172.16.{r}.33/27",
        }
    assert AddrRow("mgmt", "192.0.2.1/24") in state.addresses


def test_address_clash_rejected(lab: Lab) -> None:
    lab.add_node("a", 2, PER_NODE, rails=1)
    with pytest.raises(ValueError, match="reuse lab addresses"):
        lab.add_node("b", 24, SHARED, rails=1)  # 172.16.1.34 = node a's rail-1 address
    with pytest.raises(ValueError, match="already used"):
        lab.add_node("a", 5, PER_NODE, rails=1)


# -- drift ---------------------------------------------------------------------


def test_set_mtu(lab_node_shared: LabNode) -> None:
    diff = drift(lab_node_shared, lambda: lab_node_shared.set_mtu(2, 1500))
    assert diff == {"links": ({LinkRow("ens2f0np0", 4200, True)}, {LinkRow("ens2f0np0", 1500, True)})}


def test_del_rule(lab_node_shared: LabNode) -> None:
    diff = drift(lab_node_shared, lambda: lab_node_shared.del_rule(2))
    assert diff == {"rules": ({rule(32764, 152, src="172.16.2.11/32")}, set())}


def test_rule_to_wrong_table(lab_node_shared: LabNode) -> None:
    tables: list[object] = []
    diff = drift(lab_node_shared, lambda: tables.append(lab_node_shared.rule_to_wrong_table(3)))
    assert tables == [1153]
    assert diff == {
        "rules": ({rule(32763, 153, src="172.16.3.11/32")}, {rule(32763, 1153, src="172.16.3.11/32")})
    }


def test_flush_table(lab_node_shared: LabNode) -> None:
    diff = drift(lab_node_shared, lambda: lab_node_shared.flush_table(4))
    assert diff == {"routes": ({route(154, "default", "172.16.4.1", "ens4f0np0")}, set())}


def test_del_rdma_rule(lab_node_shared: LabNode) -> None:
    diff = drift(lab_node_shared, lab_node_shared.del_rdma_rule)
    assert diff == {"rules": ({rule(32757, MAIN, dst="172.16.0.0/16")}, set())}


def test_rdma_rule_after_rails(lab_node_quirks: LabNode) -> None:
    moved: list[object] = []
    diff = drift(lab_node_quirks, lambda: moved.append(lab_node_quirks.rdma_rule_after_rails()))
    assert moved == [32766]
    assert diff == {
        "rules": ({rule(2000, MAIN, dst="172.16.0.0/16")}, {rule(32766, MAIN, dst="172.16.0.0/16")})
    }


def test_del_rdma_subnet_route(lab_node_per_node: LabNode, lab_node_shared: LabNode) -> None:
    diff = drift(lab_node_per_node, lab_node_per_node.del_rdma_subnet_route)
    assert diff == {"routes": ({route(MAIN, "172.16.0.0/16", "172.16.1.33", "ens1f0np0", onlink=True)}, set())}
    with pytest.raises(ValueError):
        lab_node_shared.del_rdma_subnet_route()
    with pytest.raises(ValueError):
        lab_node_per_node.del_rule(1)  # rail 1 has no policy table in Solution 2


def test_set_down(lab_node_shared: LabNode) -> None:
    diff = drift(lab_node_shared, lambda: lab_node_shared.set_down(5))
    assert diff["links"] == ({LinkRow("ens5f0np0", 4200, True)}, {LinkRow("ens5f0np0", 4200, False)})
    # the kernel drops IPv4 routes through an admin-down device (not the local address)
    assert diff["routes"] == (
        {
            route(155, "default", "172.16.5.1", "ens5f0np0"),
            RouteRow(V4, MAIN, "172.16.5.0/24", None, "ens5f0np0", 0, False, KERNEL, UNICAST),
            RouteRow(V4, 255, "172.16.5.255/32", None, "ens5f0np0", 0, False, KERNEL, 3),
        },
        set(),
    )
    assert set(diff) == {"links", "routes"}


def test_add_second_address(lab_node_per_node: LabNode) -> None:
    added: list[object] = []
    diff = drift(lab_node_per_node, lambda: added.append(lab_node_per_node.add_second_address(6)))
    assert added == [IPv4Interface("172.16.6.62/27")]
    assert diff == {
        "addresses": (set(), {AddrRow("ens6f0np0", "172.16.6.62/27")}),
        "routes": (set(), {RouteRow(V4, 255, "172.16.6.62/32", None, "ens6f0np0", 0, False, KERNEL, LOCAL)}),
    }


# -- traffic -------------------------------------------------------------------


def test_ping_reaches_every_rail_gateway(lab_node_shared: LabNode) -> None:
    for r in RAILS:
        result = lab_node_shared.ping(r)
        assert result.ok, result.output
        assert f"from 172.16.{r}.1" in result.output
    lab_node_shared.set_down(3)
    assert not lab_node_shared.ping(3).ok


def test_per_node_traffic_crosses_the_fabric(lab_node_per_node: LabNode, lab_node_quirks: LabNode) -> None:
    peer = lab_node_quirks
    rail1 = lab_node_per_node.ping(1, str(peer.rail(1).address.ip))  # via the RDMA subnet route
    assert rail1.ok, rail1.output
    rail4 = lab_node_per_node.ping(4, str(peer.rail(4).address.ip), from_address=True)  # via table 154
    assert rail4.ok, rail4.output
    get = ["ip", "-o", "route", "get", str(peer.rail(4).address.ip), "from", "172.16.4.34"]
    assert "dev ens4f0np0 table 154" in lab_node_per_node.run(get).stdout
    lab_node_per_node.flush_table(4)
    assert "dev ens1f0np0" in lab_node_per_node.run(get).stdout  # falls through to main


# -- cleanup and root namespace safety -----------------------------------------


def _ours(prefix: str) -> list[str]:
    return [name for name in netns.listnetns() if name.startswith(prefix)]


def test_cleanup_removes_namespaces_and_processes(lab_supported: None) -> None:
    lab = Lab()
    try:
        node = lab.add_node("n1", 1, SHARED, rails=2)
        sleeper = subprocess.Popen(node.argv(["sleep", "600"]))
        assert sorted(_ours(lab.prefix)) == sorted([lab.fabric_netns, node.netns])
    finally:
        lab.cleanup()
    assert sleeper.wait() == -9
    assert _ours(lab.prefix) == []
    assert lab.namespaces == []


def test_cleanup_stale_removes_dead_owners_only(lab_supported: None) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Lab(prefix=f"{LAB_PREFIX}{dead.pid}xdead")
    try:
        stale.add_node("n1", 1, SHARED, rails=1)
        with Lab() as live:
            live.start()
            removed = cleanup_stale()
            assert {stale.fabric_netns, f"{stale.prefix}-n1"} <= set(removed)
            assert _ours(stale.prefix) == []
            assert _ours(live.prefix) == [live.fabric_netns]
    finally:
        stale.cleanup()


def test_root_namespace_untouched(lab_supported: None) -> None:
    families = (socket.AF_INET, socket.AF_INET6)
    before = snapshot(None, families)
    with Lab() as lab:
        node = lab.add_node("n1", 1, PER_NODE, rails=2, quirks=True)
        assert node.ping(1).ok
        node.set_mtu(2, 1500)
        node.rdma_rule_after_rails()
        node.del_rdma_subnet_route()
        assert snapshot(None, families) == before
    assert snapshot(None, families) == before
