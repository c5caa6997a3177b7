"""Planners for the host network checks: pure functions from a failed check to a Plan.

Numbers are chosen as a careful operator would (see rdma_preflight.checks.net): a rail's
policy table is the one already holding its default route, else the first table from 150
up that no rule or route uses; a new per-rail rule goes after the RDMA rule, at the first
free priority below main's 32766; the RDMA rule goes at 2000 (setRdmaRule.sh) when that is
free and before every per-rail rule, else just below the lowest per-rail rule.
"""

from __future__ import annotations

from ..checks.context import NodeContext, Rail
from ..checks.net import (
    MAIN,
    address_changes,
    ipoib_limit,
    policy_table_number,
    rail_gateway,
    rail_ipv4,
    rail_link,
    rail_routing,
    rdma_priority,
    rdma_rules,
    rival_routes,
    rule_priorities,
    table_for,
)
from ..checks.result import Result
from ..facts.net import Route, Rule
from .actions import (
    AddRoute,
    AddRule,
    DelRoute,
    DelRule,
    Plan,
    SetAddresses,
    SetLinkState,
    SetMtu,
    refuse,
)
from .executor import RouteSpec, RuleSpec
from .registry import remedy

STATIC = 4


def rule_spec(r: Rule) -> RuleSpec:
    return RuleSpec(priority=r.priority, table=r.table, src=r.src, dst=r.dst, invert=r.invert)


def route_spec(r: Route) -> RouteSpec:
    return RouteSpec(table=r.table, dst=r.dst, gateway=r.gateway, dev=r.dev, metric=r.metric)


def _no_address(rail: Rail) -> Plan:
    return refuse(f"{rail.name} ({rail.netdev}) has no usable address; fix net.address first")


@remedy("net.rail_up")
def plan_rail_up(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    if rail_link(ctx, rail).admin_up:
        return refuse(f"{rail.netdev} is admin up but has no carrier: a cable, optic or switch-port "
                      "problem that nothing on the host can set")
    return Plan([SetLinkState(rail.netdev, up=True)],
                "Routes the kernel removed while the NIC was down are re-checked by net.policy_table "
                "and net.rdma_subnet_route.")


@remedy("net.mtu")
def plan_mtu(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    want = rail.spec.mtu
    if ctx.profile.is_ib:
        mode, limit = ipoib_limit(ctx, rail)
        if want > limit:
            return refuse(f"the profile asks for MTU {want}, IPoIB {mode or 'datagram'} mode allows at most "
                          f"{limit}: correct rails.{rail.name}.mtu in the profile")
    return Plan([SetMtu(rail.netdev, want)])


@remedy("net.address")
def plan_address(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    want = rail.spec.address
    if want is None:
        return refuse(f"the profile does not give this node's {rail.name} address; rdma-preflight will not "
                      f"guess one (add `nodes: [{{match: {ctx.node}, set: {{rails: {{{rail.name}: "
                      "{address: <ip/prefix>}}}}]`)")
    if want.ip == rail_gateway(ctx, rail, want):
        return refuse(f"the profile's address {want} is the gateway of its subnet")
    keep, remove = address_changes(ctx, rail)
    present = keep in rail_ipv4(ctx, rail)
    return Plan([SetAddresses(rail.netdev, keep=str(keep), remove=[str(a) for a in remove], present=present)],
                "Routes through the NIC that the kernel drops with a removed address are put back.")


@remedy("net.policy_rule")
def plan_policy_rule(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    rr = rail_routing(ctx, rail)
    if rr.address is None:
        return _no_address(rail)
    table = table_for(ctx, rr)
    prio = rule_priorities(ctx).get(rail.name)
    actions: list = []
    if rr.rule is not None and not rr.rule_misdirected:
        extra = [r for r in rr.rules if r.table != rr.rule.table]
        if not extra:
            return refuse(f"table {rr.rule.table} is shared with another rail and no default route shows "
                          "which rail owns it; fix by hand")
        return Plan([DelRule(rule_spec(r)) for r in extra], f"keeps {rr.rule.describe()}")
    actions += [DelRule(rule_spec(r)) for r in rr.rules]
    actions.append(AddRule(RuleSpec(priority=prio, table=table, src=f"{rr.address.ip}/32", proto=STATIC)))
    why = ("already holds the rail's default route" if rr.table is not None
           else "is the first table from 150 up that no rule or route uses")
    return Plan(actions, f"Table {table} {why}; priority {prio} is after the RDMA rule, the first free "
                         "one below main (32766).")


@remedy("net.policy_table")
def plan_policy_table(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    rr = rail_routing(ctx, rail)
    if rr.address is None or rr.gateway is None:
        return _no_address(rail)
    table = policy_table_number(ctx, rr)
    rivals = rival_routes(ctx, table, "0.0.0.0/0", rr.gateway, rail.netdev)
    add = RouteSpec(table=table, dst="0.0.0.0/0", gateway=str(rr.gateway), dev=rail.netdev, proto=STATIC)
    return Plan([DelRoute(route_spec(r)) for r in rivals] + [AddRoute(add)],
                f"Table {table} is {rail.name}'s policy table.")


@remedy("net.rdma_rule")
def plan_rdma_rule(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    cidr = ctx.profile.rdma.cidr
    prio = rdma_priority(ctx)
    firsts = [r.priority for rr in (rail_routing(ctx, x) for x in ctx.rails if x.found) for r in rr.rules]
    late = [r for r in rdma_rules(ctx) if firsts and r.priority >= min(firsts)]
    add = RuleSpec(priority=prio, table=MAIN, dst=str(cidr), invert=True, proto=STATIC)
    return Plan([DelRule(rule_spec(r)) for r in late] + [AddRule(add)],
                f"Priority {prio}: " + ("setRdmaRule.sh's value, free and before every per-rail rule."
                                        if prio == 2000 else "the first free one before every per-rail rule."))


@remedy("net.rdma_subnet_route")
def plan_rdma_subnet_route(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    first = ctx.first_rail
    rr = rail_routing(ctx, first)
    if rr.gateway is None:
        return _no_address(first)
    cidr = str(ctx.profile.rdma.cidr)
    rivals = rival_routes(ctx, MAIN, cidr, rr.gateway, first.netdev)
    add = RouteSpec(table=MAIN, dst=cidr, gateway=str(rr.gateway), dev=first.netdev, onlink=True, proto=STATIC)
    return Plan([DelRoute(route_spec(r)) for r in rivals] + [AddRoute(add)],
                "onlink as netplan writes it (setNicAddr.sh, Solution 2).")
