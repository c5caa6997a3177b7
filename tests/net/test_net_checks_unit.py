"""Pure net evaluators over hand-made NetFacts (tests/net/handmade.py; all values hand-made)."""

from __future__ import annotations

from rdma_preflight.checks import net
from rdma_preflight.checks.result import Outcome
from rdma_preflight.facts.netdev import NetDevice
from tests.net.handmade import CIDR, HandNode, base, per_node_node, profile, shared_node

P_SHARED = profile("shared-subnet")
P_PER_NODE = profile("per-node-subnet")


def rail(ctx, n: int):
    return ctx.rail(f"rail{n}")


def run(check, ctx, n: int | None = None):
    return check(ctx, rail(ctx, n)) if n is not None else check(ctx)


# ---- links -----------------------------------------------------------------------------------

def test_mtu_pass_and_fail_name_values_and_fix() -> None:
    ctx = shared_node().link("ens2f0np0", mtu=1500).ctx(P_SHARED)
    assert run(net.mtu, ctx, 1).outcome == Outcome.PASS
    r = run(net.mtu, ctx, 2)
    assert (r.outcome, r.summary, r.expected, r.found) == (
        Outcome.FAIL, "MTU is 1500, the profile wants 4200", "mtu 4200 (rails.rail2.mtu)", "mtu 1500")
    assert r.fix.startswith("ip link set dev ens2f0np0 mtu 4200 (runtime only")


def test_rail_up_admin_down_vs_no_carrier() -> None:
    ctx = shared_node().link("ens1f0np0", admin_up=False).link("ens2f0np0", lower_up=False).ctx(P_SHARED)
    down, dark = run(net.rail_up, ctx, 1), run(net.rail_up, ctx, 2)
    assert down.found == "admin down, operstate DOWN, no carrier"
    assert down.fix.startswith("ip link set dev ens1f0np0 up")
    assert dark.summary == "ens2f0np0 is up but has no link"
    assert "nothing on the host can set carrier" in dark.fix


def _ib(mode: str | None, mtu: int, want: int) -> object:
    n = base().link("ib0", mtu=mtu)
    n.netdevs["ib0"] = NetDevice(name="ib0", ipoib_mode=mode)
    p = profile("none", rails=1, fabric="infiniband", mtu=want, rail_extra={1: {"nic": {"netdev": "ib0"}}})
    return n.ctx(p)


def test_ipoib_datagram_mode_caps_mtu_at_ib_mtu_minus_4() -> None:
    ctx = _ib("datagram", 4092, 4200)
    r = run(net.mtu, ctx, 1)
    assert r.outcome == Outcome.FAIL
    assert r.summary == "the profile asks for MTU 4200, more than IPoIB datagram mode allows"
    assert r.found == "mtu 4092 (IPoIB datagram, at most 4092)"
    assert r.fix.startswith("set rails.rail1.mtu: 4092 in the profile")
    assert run(net.mtu, _ib("datagram", 4092, 4092), 1).outcome == Outcome.PASS
    assert run(net.mtu, _ib("connected", 4200, 4200), 1).outcome == Outcome.PASS


def test_ipoib_mode_reported_from_sysfs() -> None:
    assert run(net.ipoib_mode, _ib("datagram", 4092, 4092), 1).summary == "IPoIB datagram mode, MTU at most 4092"
    r = run(net.ipoib_mode, _ib(None, 1500, 4092), 1)
    assert (r.outcome, r.summary) == (Outcome.FAIL, "ib0 reports no IPoIB mode")


def test_infiniband_skips_policy_routing_with_the_reason() -> None:
    p = profile("none", rails=1, fabric="infiniband", mtu=4092)
    for applies in (net.policy_applies, net.rdma_rule_applies, net.subnet_route_applies):
        assert applies(p) == net.IB_NO_POLICY
    assert "policy routing is not required" in net.IB_NO_POLICY


# ---- addresses -------------------------------------------------------------------------------

def test_address_shared_two_addresses_keeps_the_one_the_rule_uses() -> None:
    ctx = shared_node().addr("ens1f0np0", "172.16.1.250/24").ctx(P_SHARED)
    r = run(net.address, ctx, 1)
    assert (r.summary, r.found) == ("2 IPv4 addresses where the design has one", "172.16.1.11/24, 172.16.1.250/24")
    assert r.fix.startswith("ip addr del 172.16.1.250/24 dev ens1f0np0 (remediation needs")


def test_address_per_node_wrong_prefix_and_gateway() -> None:
    n = per_node_node()
    n.net.addresses = [a for a in n.net.addresses if a.ifname != "ens2f0np0"]
    n.addr("ens2f0np0", "172.16.2.66/24")
    r = run(net.address, n.ctx(P_PER_NODE), 2)
    assert r.expected == "one IPv4 /27 inside pool 172.16.2.0/24 (this node's slice)"
    assert r.fix.startswith("ip addr del 172.16.2.66/24 dev ens2f0np0; ip addr add 172.16.2.66/27 dev ens2f0np0")
    n.net.addresses = [a for a in n.net.addresses if a.ifname != "ens2f0np0"]
    n.addr("ens2f0np0", "172.16.2.65/27")
    assert run(net.address, n.ctx(P_PER_NODE), 2).summary == "172.16.2.65/27 is the gateway of its subnet, not a host address"


def test_address_profile_gives_the_node_address() -> None:
    p = profile("shared-subnet", rail_extra={1: {"address": "172.16.1.12/24"}})
    r = run(net.address, shared_node().ctx(p), 1)
    assert r.summary == "172.16.1.11/24 is not 172.16.1.12/24 (profile rails.rail1.address)"
    assert r.fix.startswith("ip addr del 172.16.1.11/24 dev ens1f0np0; ip addr add 172.16.1.12/24 dev ens1f0np0")


# ---- policy routing --------------------------------------------------------------------------

def test_policy_rule_discovers_tables_151_152_from_the_script() -> None:
    ctx = shared_node().ctx(P_SHARED)
    r1, r2 = run(net.policy_rule, ctx, 1), run(net.policy_rule, ctx, 2)
    assert r1.summary == "32763: from 172.16.1.11/32 lookup 151 proto static"
    assert r2.evidence["table"] == 152
    assert run(net.policy_table, ctx, 2).summary == "table 152: default via 172.16.2.1 dev ens2f0np0"


def test_policy_rule_to_main_is_reserved() -> None:
    n = shared_node().drop_rules(lambda r: r.src == "172.16.1.11/32").rule(32763, 254, src="172.16.1.11/32")
    r = run(net.policy_rule, n.ctx(P_SHARED), 1)
    assert r.summary == ("the rule for 172.16.1.11 looks up the wrong table "
                         "(table main is reserved)")
    assert r.fix.startswith("ip rule del from 172.16.1.11 lookup main priority 32763; "
                            "ip rule add from 172.16.1.11 lookup 151 priority 32763")


def test_rule_pointing_at_another_rails_table_blames_only_that_rail() -> None:
    n = shared_node().drop_rules(lambda r: r.src == "172.16.2.11/32").rule(32762, 151, src="172.16.2.11/32")
    ctx = n.ctx(P_SHARED)
    assert run(net.policy_rule, ctx, 1).outcome == Outcome.PASS
    r = run(net.policy_rule, ctx, 2)
    assert r.summary.endswith("(table 151 does not hold the rail's default; table 152 does)")


def test_missing_rule_and_table_picks_first_table_unused_by_rules_and_routes() -> None:
    n = shared_node(tables=(151, 152)).drop_rules(lambda r: r.src == "172.16.2.11/32")
    n.drop_routes(lambda r: r.table == 152).route("0.0.0.0/0", "10.9.9.1", "mgmt0", table=150)
    ctx = n.ctx(P_SHARED)
    assert net.free_tables(ctx) == {"rail2": 152}
    n.route("10.8.0.0/16", None, "mgmt0", table=152)
    ctx = n.ctx(P_SHARED)
    assert net.free_tables(ctx) == {"rail2": 153}
    r = run(net.policy_rule, ctx, 2)
    assert r.fix.startswith("ip rule add from 172.16.2.11 lookup 153 priority 32765 (table 153 is free")
    t = run(net.policy_table, ctx, 2)
    assert t.fix.startswith("ip route add default via 172.16.2.1 dev ens2f0np0 table 153")


def test_policy_table_rival_default_with_lower_metric() -> None:
    n = shared_node().drop_routes(lambda r: r.table == 152)
    n.route("0.0.0.0/0", "172.16.2.1", "ens2f0np0", table=152, metric=100)
    n.route("0.0.0.0/0", "172.16.2.254", "ens2f0np0", table=152, metric=5)
    r = run(net.policy_table, n.ctx(P_SHARED), 2)
    assert r.summary == ("table 152 also has default via 172.16.2.254 dev ens2f0np0 metric 5 table 152, "
                         "which competes with the rail default")


def test_per_node_rail1_needs_no_policy_rule_and_gateway_is_slice_first_host() -> None:
    ctx = per_node_node().ctx(P_PER_NODE)
    assert run(net.policy_rule, ctx, 1).found == "no rule"
    assert net.rail_gateway(ctx, rail(ctx, 2), net.rail_address(ctx, rail(ctx, 2))).exploded == "172.16.2.65"
    assert run(net.policy_table, ctx, 2).summary == "table 151: default via 172.16.2.65 dev ens2f0np0"


# ---- RDMA rule -------------------------------------------------------------------------------

def test_rdma_rule_script_priority_2000_and_docs_32762_proto_static_both_comply() -> None:
    assert run(net.rdma_rule, shared_node().ctx(P_SHARED)).outcome == Outcome.PASS
    docs = shared_node(rails=1, tables=(152,), rdma_priority=32762, rdma_protocol="static").ctx(profile(rails=1))
    r = run(net.rdma_rule, docs)
    assert r.summary == f"32762: not from all to {CIDR} lookup main proto static, lowest per-rail rule at 32763"


def test_rdma_rule_tolerates_coordinator_rule() -> None:
    r = run(net.rdma_rule, shared_node().rule(1000, 500).ctx(P_SHARED))
    assert r.outcome == Outcome.PASS
    assert r.summary.endswith("; coordinator rule tolerated: 1000: from all lookup 500")


def test_rdma_rule_after_rail_rules_fails_and_missing_rule_fix_uses_2000() -> None:
    late = shared_node(rdma_priority=32765).ctx(P_SHARED)
    r = run(net.rdma_rule, late)
    assert r.summary == "the RDMA rule (priority 32765) is evaluated after per-rail rule(s) 32762, 32763"
    assert r.fix.startswith(f"ip rule del not to {CIDR} lookup main priority 32765; "
                            f"ip rule add not to {CIDR} lookup main priority 2000")
    missing = run(net.rdma_rule, shared_node(rdma_priority=None).ctx(P_SHARED))
    assert missing.fix.startswith(f"ip rule add not to {CIDR} lookup main priority 2000 (persist: RDMA_CIDR=")


def test_rdma_priority_goes_below_rail_rules_placed_before_2000() -> None:
    n = shared_node(rdma_priority=None).drop_rules(lambda r: r.src is not None)
    n.rule(1500, 151, src="172.16.1.11/32").rule(1501, 152, src="172.16.2.11/32").rule(1499, 600)
    assert net.rdma_priority(n.ctx(P_SHARED)) == 1498


# ---- rail-1 RDMA subnet route ----------------------------------------------------------------

def test_rdma_subnet_route_with_or_without_onlink() -> None:
    assert run(net.rdma_subnet_route, per_node_node().ctx(P_PER_NODE)).summary == (
        f"{CIDR} via 172.16.1.65 dev ens1f0np0 onlink")
    n = per_node_node().drop_routes(lambda r: r.dst == CIDR).route(CIDR, "172.16.1.65", "ens1f0np0")
    assert run(net.rdma_subnet_route, n.ctx(P_PER_NODE)).outcome == Outcome.PASS


def test_rdma_subnet_route_missing_and_wrong_gateway() -> None:
    n = per_node_node().drop_routes(lambda r: r.dst == CIDR)
    r = run(net.rdma_subnet_route, n.ctx(P_PER_NODE))
    assert r.fix.startswith(f"ip route add {CIDR} via 172.16.1.65 dev ens1f0np0 onlink")
    n.route(CIDR, "172.16.1.70", "ens1f0np0")
    r = run(net.rdma_subnet_route, n.ctx(P_PER_NODE))
    assert r.found == f"{CIDR} via 172.16.1.70 dev ens1f0np0"
    assert net.subnet_route_applies(P_SHARED).startswith("only the per-node-subnet design")


# ---- main-table default through a rail ------------------------------------------------------

def test_rail_default_in_main_metric10_competes_or_wins_or_is_allowed() -> None:
    ctx = per_node_node(metric10=True).ctx(P_PER_NODE)
    r = run(net.rail_default_in_main, ctx, 1)
    assert r.outcome == Outcome.WARN
    assert r.found == "default via 172.16.1.65 dev ens1f0np0 metric 10"
    assert "competes with the primary `default via 10.0.0.1 dev mgmt0`" in r.summary
    n = per_node_node(metric10=True).drop_routes(lambda r: r.dev == "mgmt0" and r.dst == "0.0.0.0/0")
    n.route("0.0.0.0/0", "10.0.0.1", "mgmt0", metric=100)
    assert "wins over (or ties with)" in run(net.rail_default_in_main, n.ctx(P_PER_NODE), 1).summary
    allowed = profile("per-node-subnet", network={"allow_rail_default_in_main": True})
    assert run(net.rail_default_in_main, per_node_node(metric10=True).ctx(allowed), 1).outcome == Outcome.PASS


# ---- ARP / rp_filter -------------------------------------------------------------------------

def test_arp_rpfilter_effective_value_is_max_of_all_and_interface() -> None:
    n = shared_node().sysctl("all", rp_filter=1)
    r = run(net.arp_rpfilter, n.ctx(P_SHARED), 1)
    assert r.outcome == Outcome.WARN and r.summary == "rp_filter 1 on a multi-rail host"
    assert "rp_filter 1 (all 1, ens1f0np0 0)" in r.found
    assert r.fix.startswith("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.ens1f0np0.rp_filter=2")
    n = shared_node().sysctl("all", arp_ignore=0).sysctl("ens1f0np0", arp_ignore=1)
    assert run(net.arp_rpfilter, n.ctx(P_SHARED), 1).outcome == Outcome.PASS
    n = shared_node().sysctl("all", arp_announce=1)
    assert run(net.arp_rpfilter, n.ctx(P_SHARED), 2).summary == "arp_announce 1 on a multi-rail host"


# ---- persistence -----------------------------------------------------------------------------

NETPLAN_152 = """network:
  version: 2
  renderer: networkd
  ethernets:
    ens2f0np0:

      addresses:
       - "172.16.2.11/24"

      mtu: 4200
      routes:
        - to: 0.0.0.0/0
          via: 172.16.2.1
          table: 152
      routing-policy:
        - from: 172.16.2.11
          table: 152
"""
UNIT = "ExecStart=/bin/bash -c 'ip rule add not to 172.16.0.0/16 table main priority 2000'\n"
DISPATCHER = ("ip route add default via 172.16.1.1 dev ens1f0np0 table 151\n"
              "ip rule add from 172.16.1.11 table 151\n")


def test_persistence_reads_netplan_dispatcher_and_rdma_unit() -> None:
    n = shared_node()
    n.config_files = {"/etc/netplan/12-ens2f0np0.yaml": NETPLAN_152,
                      "/etc/NetworkManager/dispatcher.d/99-ens1f0np0-policy-route": DISPATCHER,
                      "/etc/systemd/system/rdma-routing.service": UNIT}
    n.enabled = {"rdma-routing.service": "enabled"}
    r = run(net.persistence, n.ctx(P_SHARED))
    assert r.outcome == Outcome.PASS, r.found
    assert "policy rule+table: /etc/netplan/12-ens2f0np0.yaml (table 152)" in r.found
    assert "address: NetworkManager connection (not collected, not verified)" in r.found
    n.enabled = {"rdma-routing.service": "disabled"}
    r = run(net.persistence, n.ctx(P_SHARED))
    assert (r.outcome, r.summary) == (Outcome.WARN, "not persisted: RDMA rule")
    assert "RDMA rule: NOT persisted (rdma-routing.service is disabled)" in r.found
    assert r.fix == "RDMA_CIDR=172.16.0.0/16 ./setRdmaRule.sh"


def test_persistence_nothing_persisted_names_setnicaddr_commands() -> None:
    r = run(net.persistence, per_node_node().ctx(P_PER_NODE))
    assert r.summary == ("not persisted: address (rail1, rail2), MTU (rail1, rail2), RDMA subnet route (rail1), "
                         "policy rule+table (rail2), RDMA rule")
    assert r.fix.startswith('INTERFACE="ens1f0np0" IPV4_IP="172.16.1.66/27" IPV4_GATEWAY="172.16.1.65" MTU="4200" '
                            'ENABLE_RDMA_DEFAULT_ROUTE="true" RDMA_SUBNET="172.16.0.0/16" ./setNicAddr.sh; ')


def test_dependent_checks_skip_when_the_rail_is_admin_down() -> None:
    ctx = per_node_node().link("ens1f0np0", admin_up=False).link("ens2f0np0", admin_up=False).ctx(P_PER_NODE)
    assert run(net.policy_table, ctx, 2).outcome == Outcome.SKIP
    assert "fix net.rail_up first" in run(net.rdma_subnet_route, ctx).summary


def test_new_rail_rule_priority_is_after_the_rdma_rule_and_below_main() -> None:
    n = shared_node().drop_rules(lambda r: r.src == "172.16.2.11/32")
    assert net.rule_priorities(n.ctx(P_SHARED)) == {"rail2": 32765}
    assert HandNode is not None
