"""Host network checks (area ``net``): rails, MTU, addresses, policy routing, RDMA rule.

Evaluators are pure over facts. The helpers below (rail address, gateway, policy rule and
table discovery, free table / priority choice) are shared with the remediation planners in
``rdma_preflight.remediation.net`` so a check's ``fix`` text and the planned actions agree.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..facts.net import Route, Rule, table_name
from .context import NodeContext, Rail, rail_slice
from .registry import check, ib_only
from .result import Result, failed, passed, skipped, warned

MAIN, LOCAL, DEFAULT, UNSPEC = 254, 255, 253, 0
RESERVED_TABLES = frozenset({UNSPEC, DEFAULT, MAIN, LOCAL})
FIRST_TABLE = 150                 # first policy table a careful operator picks (see free_tables)
SCRIPT_RDMA_PRIORITY = 2000       # setRdmaRule.sh: "must be bigger than 1000 used by spiderpool"
COORDINATOR_PRIORITY = 1000       # Spiderpool coordinator: `1000: from all lookup 500`
MAIN_RULE_PRIORITY = 32766
IB_L2_HEADER = 4                  # IPoIB encapsulation header (datagram MTU = IB MTU - 4)
IPOIB_CONNECTED_MAX = 65520
IB_NO_POLICY = ("InfiniBand: no gateway and no policy routing (\"RDMA traffic does not go "
                "through Ethernet, so policy routing is not required\", I-05)")
NOT_PERSISTED = "runtime only; persist it with setNicAddr.sh or the rail's netplan file"

V4Iface = ipaddress.IPv4Interface
V4Addr = ipaddress.IPv4Address


# ---- applicability -------------------------------------------------------------------------

def policy_applies(profile) -> str | None:
    if profile.is_ib:
        return IB_NO_POLICY
    if not profile.network.policy_routing:
        return "the profile sets network.policy_routing: false"
    return None


def rdma_rule_applies(profile) -> str | None:
    if profile.is_ib:
        return IB_NO_POLICY
    if not profile.network.rdma_rule or profile.rdma.cidr is None:
        return "the profile sets network.rdma_rule: false"
    return None


def subnet_route_applies(profile) -> str | None:
    if profile.is_ib:
        return IB_NO_POLICY
    if profile.design.addressing != "per-node-subnet":
        return "only the per-node-subnet design (Solution 2) routes the RDMA CIDR through rail 1"
    return None


# ---- shared, pure helpers ------------------------------------------------------------------

def rail_link(ctx: NodeContext, rail: Rail):
    return ctx.facts.net.links.get(rail.netdev or "")


def rail_ipv4(ctx: NodeContext, rail: Rail) -> list[V4Iface]:
    """IPv4 addresses on the rail netdev, in the kernel's order (primary first)."""
    return [ipaddress.IPv4Interface(f"{a.address}/{a.prefixlen}")
            for a in ctx.facts.net.addresses if a.ifname == rail.netdev and a.family == 4]


@dataclass(frozen=True)
class AddressRule:
    """What the profile asks of the rail's one IPv4 address."""

    network: ipaddress.IPv4Network | None   # the address must lie inside this
    prefixlen: int | None                   # with this prefix length
    exact: V4Iface | None                   # the node's address, when the profile gives it
    text: str                               # human form for `expected`

    def accepts(self, a: V4Iface) -> bool:
        if self.exact is not None:
            return a == self.exact
        return (self.network is None or a.ip in self.network) and \
            (self.prefixlen is None or a.network.prefixlen == self.prefixlen)

    def inside(self, a: V4Iface) -> bool:
        return self.network is None or a.ip in self.network


def address_rule(ctx: NodeContext, rail: Rail) -> AddressRule:
    s = rail.spec
    per_node = ctx.profile.design.addressing == "per-node-subnet"
    if s.address is not None:
        return AddressRule(s.address.network, s.address.network.prefixlen, s.address,
                           f"{s.address} (profile rails.{rail.name}.address)")
    if per_node and s.pool is not None and s.slice_prefix is not None:
        return AddressRule(s.pool, s.slice_prefix, None,
                           f"one IPv4 /{s.slice_prefix} inside pool {s.pool} (this node's slice)")
    if s.subnet is not None:
        return AddressRule(s.subnet, s.subnet.prefixlen, None, f"one IPv4 in {s.subnet}")
    return AddressRule(None, None, None, "one IPv4 address")


def rail_rules(ctx: NodeContext, ip: V4Addr | str) -> list[Rule]:
    """``from <ip> lookup <T>`` rules (no other selector), lowest priority first."""
    src = f"{ip}/32"
    return sorted((r for r in ctx.facts.net.rules
                   if r.src == src and not r.invert and r.action == "lookup" and r.dst is None
                   and r.iif is None and r.oif is None and r.fwmark is None),
                  key=lambda r: r.priority)


def rail_address(ctx: NodeContext, rail: Rail) -> V4Iface | None:
    """The address the rail's routing is judged by: the profile's if present, else the
    single address inside the expected network (or the one a policy rule uses)."""
    have = rail_ipv4(ctx, rail)
    want = address_rule(ctx, rail)
    if want.exact is not None and want.exact in have:
        return want.exact
    inside = [a for a in have if want.inside(a)]
    if len(inside) > 1:
        inside = [a for a in inside if rail_rules(ctx, a.ip)] or inside
    return inside[0] if len(inside) == 1 else None


def rail_gateway(ctx: NodeContext, rail: Rail, address: V4Iface | None) -> V4Addr | None:
    """The profile's gateway; per-node-subnet without one: the first host of the slice."""
    if rail.spec.gateway is not None:
        return rail.spec.gateway
    if ctx.profile.design.addressing == "per-node-subnet" and address is not None:
        sl = rail_slice(rail, address)
        return sl[1] if sl is not None else None
    return None


def routes_to(ctx: NodeContext, table: int, dst: str) -> list[Route]:
    return sorted((r for r in ctx.facts.net.table(table) if r.dst == dst and r.type == "unicast"),
                  key=lambda r: r.metric)


@dataclass(frozen=True)
class RailRouting:
    """A rail's source policy routing as found: rule(s), and tables holding its default."""

    rail: Rail
    address: V4Iface | None
    gateway: V4Addr | None
    rules: tuple[Rule, ...]
    default_tables: tuple[int, ...]      # non-reserved tables with `default via gw dev rail`
    required: bool                       # False: rail 1 of the per-node-subnet design

    @property
    def rule(self) -> Rule | None:
        return self.rules[0] if self.rules else None

    @property
    def rule_misdirected(self) -> bool:
        """The rule looks up a reserved table, or another table than the one holding the default."""
        r = self.rule
        return r is not None and (r.table in RESERVED_TABLES
                                  or bool(self.default_tables) and r.table not in self.default_tables)

    @property
    def table(self) -> int | None:
        """The rail's policy table: the rule's, unless misdirected; else the one holding its default."""
        if self.rule is not None and not self.rule_misdirected:
            return self.rule.table
        return self.default_tables[0] if self.default_tables else None


def rail_routing(ctx: NodeContext, rail: Rail) -> RailRouting:
    """The rail's address, gateway, rules and tables; shared by seven checks and the planners,
    so it is computed once per node context (``ctx.memo``)."""
    key = ("rail_routing", rail.name, rail.netdev)
    if key not in ctx.memo:
        ctx.memo[key] = _rail_routing(ctx, rail)
    return ctx.memo[key]


def _rail_routing(ctx: NodeContext, rail: Rail) -> RailRouting:
    addr = rail_address(ctx, rail)
    gw = rail_gateway(ctx, rail, addr)
    rules = tuple(rail_rules(ctx, addr.ip)) if addr else ()
    tables: list[int] = []
    if gw is not None:
        for r in ctx.facts.net.routes:
            if (r.is_default and r.type == "unicast" and r.table not in RESERVED_TABLES
                    and r.gateway == str(gw) and r.dev == rail.netdev and r.table not in tables):
                tables.append(r.table)
    required = not (ctx.profile.design.addressing == "per-node-subnet" and rail.index == 1)
    return RailRouting(rail, addr, gw, rules, tuple(sorted(tables)), required)


def all_routing(ctx: NodeContext) -> dict[str, RailRouting]:
    return {r.name: rail_routing(ctx, r) for r in ctx.rails if r.found}


def rdma_rules(ctx: NodeContext) -> list[Rule]:
    """``not to <RDMA CIDR> lookup main`` rules (any priority, any protocol), lowest first."""
    cidr = str(ctx.profile.rdma.cidr) if ctx.profile.rdma.cidr else None
    return sorted((r for r in ctx.facts.net.rules
                   if r.invert and r.dst == cidr and r.table == MAIN and r.src is None
                   and r.action == "lookup" and r.iif is None and r.oif is None and r.fwmark is None),
                  key=lambda r: r.priority)


def free_tables(ctx: NodeContext) -> dict[str, int]:
    """Policy tables to create, per rail that has none, in rail order.

    A careful operator reuses the rail's table when one already holds its default route
    (``RailRouting.table``); otherwise takes the first number from 150 up that no rule and
    no route uses (setNicAddr.sh starts at 151 because of its loop bug and looks at rules
    only; discovery never relies on either)."""
    used = {r.table for r in ctx.facts.net.rules} | {r.table for r in ctx.facts.net.routes}
    out: dict[str, int] = {}
    nxt = FIRST_TABLE
    for name, rr in all_routing(ctx).items():
        if rr.table is None and rr.address is not None and (rr.required or rr.rule is not None):
            while nxt in used or nxt in RESERVED_TABLES:
                nxt += 1
            out[name] = nxt
            used.add(nxt)
    return out


def table_for(ctx: NodeContext, rr: RailRouting) -> int | None:
    return rr.table if rr.table is not None else free_tables(ctx).get(rr.rail.name)


def policy_table_number(ctx: NodeContext, rr: RailRouting) -> int | None:
    """The table policy_table judges (and fills): the rail's table; else the table its rule
    looks up when nothing holds the default yet; else a free one."""
    if rr.table is not None:
        return rr.table
    if rr.rule is not None and rr.rule.table not in RESERVED_TABLES:
        return rr.rule.table
    return free_tables(ctx).get(rr.rail.name)


def rival_routes(ctx: NodeContext, table: int, dst: str, gateway: object, dev: str | None) -> list[Route]:
    """Routes to ``dst`` in ``table`` that are not ``via gateway dev`` and would win over, or
    clash with (same metric), the wanted one."""
    have = routes_to(ctx, table, dst)
    good = [r for r in have if r.gateway == str(gateway) and r.dev == dev]
    limit = good[0].metric if good else 0
    return [r for r in have if r not in good and r.metric <= limit]


def _taken_priorities(ctx: NodeContext) -> set[int]:
    return {r.priority for r in ctx.facts.net.rules}


def rule_priorities(ctx: NodeContext) -> dict[str, int]:
    """Priorities for the per-rail rules to (re)create: a misdirected rule keeps its priority
    when that is after the RDMA rule; a new one takes the first free priority below main's
    (32766) and after the RDMA rule (the kernel's own pick, the lowest priority minus one,
    would land before the RDMA rule)."""
    routing = all_routing(ctx)
    rdma = rdma_rules(ctx)
    lowest = min((r.priority for rr in routing.values() for r in rr.rules), default=MAIN_RULE_PRIORITY)
    floor = rdma[0].priority if rdma and rdma[0].priority < lowest else COORDINATOR_PRIORITY
    taken = _taken_priorities(ctx)
    out: dict[str, int] = {}
    for name, rr in routing.items():
        if rr.address is None or not (rr.required or rr.rule is not None):
            continue
        if rr.rule is not None and not rr.rule_misdirected:
            continue
        if rr.rule is not None and rr.rule.priority > floor:
            out[name] = rr.rule.priority
            continue
        p = MAIN_RULE_PRIORITY - 1
        while p > floor + 1 and p in taken:
            p -= 1
        out[name] = p
        taken.add(p)
    return out


def rdma_priority(ctx: NodeContext) -> int:
    """Where the RDMA rule goes: 2000 (setRdmaRule.sh) when free and before every per-rail
    rule, else the first free priority below the lowest per-rail rule."""
    rails = [r.priority for rr in all_routing(ctx).values() for r in rr.rules]
    rails += list(rule_priorities(ctx).values())
    first = min(rails, default=MAIN_RULE_PRIORITY)
    taken = _taken_priorities(ctx) - {r.priority for r in rdma_rules(ctx)}
    if SCRIPT_RDMA_PRIORITY < first and SCRIPT_RDMA_PRIORITY not in taken:
        return SCRIPT_RDMA_PRIORITY
    p = first - 1
    while p > 1 and p in taken:
        p -= 1
    return p


def rule_cmd(verb: str, ip: object, table: int, priority: int) -> str:
    return f"ip rule {verb} from {ip} lookup {table_name(table)} priority {priority}"


def rdma_rule_cmd(verb: str, cidr: object, priority: int) -> str:
    return f"ip rule {verb} not to {cidr} lookup main priority {priority}"


def _dependent_on_link(ctx: NodeContext, rail: Rail) -> Result | None:
    """Routes through an admin-down NIC were removed by the kernel: report the root cause once."""
    link = rail_link(ctx, rail)
    if link is not None and not link.admin_up:
        return skipped(f"{rail.name} ({rail.netdev}) is administratively down, so the kernel removed "
                       "its routes; fix net.rail_up first, then re-check")
    return None


def _no_address(rail: Rail) -> Result:
    return skipped(f"{rail.name} ({rail.netdev}) has no usable address; see net.address")


# ---- checks --------------------------------------------------------------------------------

@check("net.rail_count", "The profile's rails are found on the node", scope="node")
def rail_count(ctx: NodeContext) -> Result:
    """Every rail the profile names resolves to exactly one netdev (by netdev name, PCI
    address, RDMA device or position among RDMA netdevs in PCI order), and the count matches
    ``expected_rails``."""
    want = ctx.profile.expected_rails or len(ctx.rails)
    found = [r for r in ctx.rails if r.found]
    missing = [r for r in ctx.rails if not r.found]
    mapping = ", ".join(f"{r.name}={r.netdev}" for r in found) or "none"
    if len(found) == want and not missing:
        return passed(f"{len(found)} rail(s) found", expected=f"{want} rails", found=mapping)
    detail = "; ".join(f"{r.name} ({r.spec.nic.describe()}): {r.problem}" for r in missing)
    return failed(
        f"{len(found)} of {want} rails found",
        expected=f"{want} rails ({', '.join(f'{r.name}: {r.spec.nic.describe()}' for r in ctx.rails)})",
        found=f"{mapping}" + (f"; missing: {detail}" if detail else ""),
        fix="check cabling/driver for the missing NICs (`rdma link`, `ip -br link`), or correct the "
            "rail's `nic:` selector in the profile",
        missing=[r.name for r in missing])


@check("net.rail_up", "The rail NIC is administratively and operationally up", remediation="apply")
def rail_up(ctx: NodeContext, rail: Rail) -> Result:
    """The rail netdev is admin up (IFF_UP) and has carrier (LOWER_UP, operstate UP or
    UNKNOWN). An admin-down NIC is brought up by remediation; no carrier is a cable, optic
    or switch-port problem that nothing on the host can set."""
    link = rail_link(ctx, rail)
    state = (f"admin {'up' if link.admin_up else 'down'}, operstate {link.operstate}, "
             f"{'carrier' if link.lower_up else 'no carrier'}")
    expected = "admin up, operstate UP, carrier"
    if link.up:
        return passed("up", expected=expected, found=state)
    if not link.admin_up:
        return failed(f"{rail.netdev} is administratively down", expected, state,
                      f"ip link set dev {rail.netdev} up ({NOT_PERSISTED})")
    return failed(f"{rail.netdev} is up but has no link", expected, state,
                  f"check the cable/optic and the switch port (`ethtool {rail.netdev}`, `rdma link`); "
                  "nothing on the host can set carrier")


def ipoib_limit(ctx: NodeContext, rail: Rail) -> tuple[str | None, int]:
    """IPoIB mode (sysfs ``mode``) and the largest MTU it allows: IB MTU - 4 in datagram
    mode (4092 with a 4096 IB MTU), 65520 in connected mode."""
    nd = ctx.facts.netdevs.get(rail.netdev or "")
    mode = nd.ipoib_mode if nd else None
    if mode == "connected":
        return mode, IPOIB_CONNECTED_MAX
    return mode, (ctx.profile.rdma.active_mtu or 4096) - IB_L2_HEADER


@check("net.mtu", "The rail NIC's MTU is the profile's", remediation="apply",
       designs="all")
def mtu(ctx: NodeContext, rail: Rail) -> Result:
    """The MTU in effect on the rail netdev equals the profile's ``mtu``. On InfiniBand the
    IPoIB mode (``/sys/class/net/<if>/mode``) caps it: datagram mode (the only one on
    ConnectX-4+ Enhanced IPoIB) carries at most the IB MTU minus the 4-byte IPoIB header
    (4092 for 4096), so the docs' ``MTU="4200"`` cannot take effect and is reported as a
    profile problem, not fixed on the node."""
    link = rail_link(ctx, rail)
    want = rail.spec.mtu
    if want is None:
        return passed("the profile sets no MTU", found=f"mtu {link.mtu}")
    expected = f"mtu {want} (rails.{rail.name}.mtu)"
    found = f"mtu {link.mtu}"
    if ctx.profile.is_ib:
        mode, limit = ipoib_limit(ctx, rail)
        found += f" (IPoIB {mode or 'mode unknown, datagram assumed'}, at most {limit})"
        if want > limit:
            return failed(f"the profile asks for MTU {want}, more than IPoIB {mode or 'datagram'} mode allows",
                          expected, found,
                          f"set rails.{rail.name}.mtu: {limit} in the profile (and MTU=\"{limit}\" for "
                          "setNicAddr.sh); connected mode is not available on ConnectX-4+ Enhanced IPoIB",
                          limit=limit, mode=mode)
    if link.mtu == want:
        return passed(f"mtu {want}", expected=expected, found=found)
    return failed(f"MTU is {link.mtu}, the profile wants {want}", expected, found,
                  f"ip link set dev {rail.netdev} mtu {want} ({NOT_PERSISTED}: mtu: {want})")


@check("net.address", "The rail NIC has exactly one IPv4 address, the design's", remediation="apply",
       designs="all")
def address(ctx: NodeContext, rail: Rail) -> Result:
    """Exactly one IPv4 address on the rail netdev: inside the rail's subnet with its prefix
    (shared-subnet), or inside the rail pool with the slice prefix, i.e. in this node's
    slice (per-node-subnet); the profile's per-node ``address`` when it gives one. The
    slice's first host is its gateway and cannot be the node's address. Remediation needs
    the profile's per-node address (it will not guess one)."""
    have = rail_ipv4(ctx, rail)
    want = address_rule(ctx, rail)
    found = ", ".join(map(str, have)) or "no IPv4 address"
    if len(have) == 1 and want.accepts(have[0]):
        gw = rail_gateway(ctx, rail, have[0])
        if have[0].ip != gw:
            return passed(str(have[0]), expected=want.text, found=found)
        return failed(f"{have[0]} is the gateway of its subnet, not a host address", want.text, found,
                      f"give {rail.netdev} another host address of {have[0].network} ({NOT_PERSISTED})")
    target, remove = address_changes(ctx, rail)
    fix = [f"ip addr del {a} dev {rail.netdev}" for a in remove]
    if target is None:
        fix.append(f"ip addr add <{want.text}> dev {rail.netdev}")
    elif target not in have:
        fix.append(f"ip addr add {target} dev {rail.netdev}")
    if want.exact is None:
        fix[-1] += f" (remediation needs rails.{rail.name}.address in the profile's node overrides)"
    summary = ("no IPv4 address" if not have else
               f"{len(have)} IPv4 addresses where the design has one" if len(have) > 1 else
               f"{have[0]} is not {want.text}")
    return failed(summary, want.text, found, "; ".join(fix) + f" ({NOT_PERSISTED})",
                  addresses=[str(a) for a in have])


def address_changes(ctx: NodeContext, rail: Rail) -> tuple[V4Iface | None, list[V4Iface]]:
    """The address to keep (or add) and the ones to delete. The keeper is the profile's
    address; else the only acceptable one; else the acceptable one a policy rule uses; else
    a sole in-network address re-added with the right prefix. None: nothing to keep."""
    have = rail_ipv4(ctx, rail)
    want = address_rule(ctx, rail)
    good = [a for a in have if want.accepts(a)]
    target = want.exact
    if target is None and len(good) == 1:
        target = good[0]
    elif target is None and len(good) > 1:
        used = rail_address(ctx, rail)
        target = used if used in good else None
    elif target is None and want.prefixlen is not None:
        inside = [a for a in have if want.inside(a)]
        if len(inside) == 1:
            target = ipaddress.IPv4Interface(f"{inside[0].ip}/{want.prefixlen}")
    return target, [a for a in have if a != target]


@check("net.policy_rule", "A source rule sends the rail's traffic to its own table",
       applies=policy_applies, remediation="apply", designs="RoCE (Solution 2: rails 2+)")
def policy_rule(ctx: NodeContext, rail: Rail) -> Result:
    """``from <rail ip> lookup <T>`` exists, T discovered (never assumed 150/151/152), not
    main/local/default, used by no other rail, and T is the table holding the rail's
    default route when one does (a rule pointing elsewhere is reported here). Priority and
    protocol are not pinned. Rail 1 of the per-node-subnet design needs no rule: it reaches
    the RDMA CIDR through the main-table subnet route (R-B1)."""
    rr = rail_routing(ctx, rail)
    if not rr.required and rr.rule is None:
        return passed("rail 1 of the per-node-subnet design needs no policy rule (main-table RDMA "
                      "subnet route, R-B1)", found="no rule")
    if rr.address is None:
        return _no_address(rail)
    ip = rr.address.ip
    prios = rule_priorities(ctx)
    expected = f"from {ip} lookup <T>, T the rail's own table (not main/local/default)"
    rules = "; ".join(r.describe() for r in rr.rules) or f"no rule from {ip}"
    if rr.rule is None:
        t = table_for(ctx, rr)
        why = f"table {t} already holds its default" if rr.table is not None else f"table {t} is free"
        return failed(f"no policy rule for {ip}", expected, rules,
                      f"{rule_cmd('add', ip, t, prios[rail.name])} ({why}; {NOT_PERSISTED})")
    r = rr.rule
    if rr.rule_misdirected:
        t = table_for(ctx, rr)
        where = (f"table {table_name(r.table)} is reserved" if r.table in RESERVED_TABLES
                 else f"table {r.table} does not hold the rail's default; table {t} does")
        return failed(f"the rule for {ip} looks up the wrong table ({where})", expected, rules,
                      f"{rule_cmd('del', ip, r.table, r.priority)}; "
                      f"{rule_cmd('add', ip, t, prios[rail.name])} ({NOT_PERSISTED})")
    others = sorted({o.rail.name for o in all_routing(ctx).values()
                     if o.rail.name != rail.name and o.rule is not None and o.rule.table == r.table
                     and not o.rule_misdirected})
    if others:
        return failed(f"table {r.table} is shared with {', '.join(others)}", expected, rules,
                      "give each rail its own table: `ip rule del`/`ip rule add from <ip> lookup <T>` on "
                      "the rail whose default is not in that table", shared_with=others)
    if len({x.table for x in rr.rules}) > 1:
        return failed(f"several rules for {ip} look up different tables", expected, rules,
                      "keep one: " + "; ".join(rule_cmd("del", ip, x.table, x.priority) for x in rr.rules[1:]))
    return passed(r.describe(), expected=expected, found=rules, table=r.table)


@check("net.policy_table", "The rail's policy table routes default via the rail gateway",
       applies=policy_applies, remediation="apply", designs="RoCE (Solution 2: rails 2+)")
def policy_table(ctx: NodeContext, rail: Rail) -> Result:
    """The rail's policy table (the one its rule looks up; if the rule is missing or points
    elsewhere, the table already holding its default) contains ``default via <gateway> dev
    <rail netdev>``, with no other default there winning over it. The gateway is the
    profile's; per-node-subnet without one: the first host of the node's slice."""
    rr = rail_routing(ctx, rail)
    if not rr.required and rr.rule is None:
        return passed("rail 1 of the per-node-subnet design needs no policy table (R-B1)")
    down = _dependent_on_link(ctx, rail)
    if down:
        return down
    if rr.address is None or rr.gateway is None:
        return _no_address(rail)
    gw, nd = rr.gateway, rail.netdev
    expected = f"default via {gw} dev {nd} in the rail's table"
    t = policy_table_number(ctx, rr)
    defaults = routes_to(ctx, t, "0.0.0.0/0") if t is not None else []
    content = "; ".join(x.describe() for x in ctx.facts.net.table(t)) if t is not None else ""
    found = f"table {t}: {content or 'empty'}"
    good = [d for d in defaults if d.gateway == str(gw) and d.dev == nd]
    fix = f"ip route add default via {gw} dev {nd} table {t} ({NOT_PERSISTED})"
    if not good:
        return failed(f"table {t} has no default via the rail gateway {gw}", expected, found, fix, table=t)
    rivals = rival_routes(ctx, t, "0.0.0.0/0", gw, nd)
    if rivals:
        return failed(f"table {t} also has {rivals[0].describe()}, which competes with the rail default",
                      expected, found, "; ".join(f"ip route del {d.describe()}" for d in rivals), table=t)
    note = "" if rr.rule is not None and not rr.rule_misdirected else " (no rule uses it yet; see net.policy_rule)"
    return passed(f"table {t}: default via {gw} dev {nd}{note}", expected=expected, found=found, table=t)


@check("net.rdma_rule", "`not to <RDMA CIDR> lookup main` comes before the per-rail rules",
       scope="node", applies=rdma_rule_applies, remediation="apply", designs="RoCE")
def rdma_rule(ctx: NodeContext) -> Result:
    """A rule ``not to <RDMA CIDR> lookup main`` exists with a lower priority number than
    every per-rail ``from <ip>`` rule, so non-RDMA traffic from rail addresses uses the main
    table. Matched on selector and table only: setRdmaRule.sh's ``2000:`` and the docs'
    ``32762: ... proto static`` both comply; the coordinator's ``1000: from all lookup 500``
    is tolerated."""
    cidr = ctx.profile.rdma.cidr
    mine = rdma_rules(ctx)
    rail_rules_ = sorted((r for rr in all_routing(ctx).values() for r in rr.rules), key=lambda r: r.priority)
    expected = f"not to {cidr} lookup main, before every per-rail rule"
    listing = "; ".join(r.describe() for r in sorted(ctx.facts.net.rules, key=lambda r: r.priority))
    p = rdma_priority(ctx)
    persist = f"persist: RDMA_CIDR={cidr} ./setRdmaRule.sh (rdma-routing.service)"
    if not mine:
        return failed(f"no `not to {cidr} lookup main` rule on {ctx.node}", expected, listing,
                      f"{rdma_rule_cmd('add', cidr, p)} ({persist})")
    first = mine[0]
    late = [r for r in rail_rules_ if r.priority <= first.priority]
    if late:
        return failed(f"the RDMA rule (priority {first.priority}) is evaluated after per-rail rule(s) "
                      f"{', '.join(str(r.priority) for r in late)}", expected, listing,
                      f"{rdma_rule_cmd('del', cidr, first.priority)}; {rdma_rule_cmd('add', cidr, p)} ({persist})")
    coord = [r for r in ctx.facts.net.rules if r.priority == COORDINATOR_PRIORITY and r.src is None
             and r.dst is None and not r.invert]
    note = f"; coordinator rule tolerated: {coord[0].describe()}" if coord else ""
    lowest = f", lowest per-rail rule at {rail_rules_[0].priority}" if rail_rules_ else ""
    return passed(f"{first.describe()}{lowest}{note}", expected=expected, found=listing)


@check("net.rdma_subnet_route", "Rail 1 routes the RDMA CIDR via its gateway in main",
       scope="node", applies=subnet_route_applies, remediation="apply", designs="RoCE Solution 2")
def rdma_subnet_route(ctx: NodeContext) -> Result:
    """Per-node-subnet design (Solution 2): the main table holds ``<RDMA CIDR> via <rail 1
    gateway> dev <rail 1 netdev>`` (``onlink`` optional: netplan writes it, nmcli does not),
    with no other route to the CIDR winning over it. Other rails need not have it (R-B1)."""
    rail = ctx.first_rail
    if rail is None or not rail.found:
        return skipped("rail 1 is not found on the node; see net.rail_count")
    down = _dependent_on_link(ctx, rail)
    if down:
        return down
    rr = rail_routing(ctx, rail)
    if rr.gateway is None:
        return _no_address(rail)
    cidr, gw, nd = ctx.profile.rdma.cidr, rr.gateway, rail.netdev
    expected = f"{cidr} via {gw} dev {nd} in main ({rail.name})"
    have = routes_to(ctx, MAIN, str(cidr))
    found = "; ".join(r.describe() for r in have) or f"no route to {cidr} in main"
    good = [r for r in have if r.gateway == str(gw) and r.dev == nd]
    if not good:
        return failed(f"{rail.name} ({nd}) lacks the RDMA subnet route", expected, found,
                      f"ip route add {cidr} via {gw} dev {nd} onlink ({NOT_PERSISTED}: "
                      f"ENABLE_RDMA_DEFAULT_ROUTE=true RDMA_SUBNET={cidr})")
    rivals = rival_routes(ctx, MAIN, str(cidr), gw, nd)
    if rivals:
        return failed(f"another route to {cidr} competes: {rivals[0].describe()}", expected, found,
                      "; ".join(f"ip route del {r.describe()}" for r in rivals))
    return passed(good[0].describe(), expected=expected, found=found)


@check("net.rail_default_in_main", "No main-table default route through a rail NIC",
       severity="warn", designs="all")
def rail_default_in_main(ctx: NodeContext, rail: Rail) -> Result:
    """A main-table default route through a rail NIC (setNicAddr.sh writes ``default via
    <gw> metric 10`` on rail 1 when ENABLE_POLICY_ROUTE is not set, as in the documented
    Solution 2 command) competes with the node's primary default route: it carries
    non-RDMA traffic as soon as it has the lower metric or the primary route disappears.
    A warning; ``network.allow_rail_default_in_main: true`` accepts it."""
    mains = ctx.facts.net.main_defaults()
    mine = [r for r in mains if r.dev == rail.netdev]
    if not mine:
        return passed("no main-table default through the rail")
    rails = {r.netdev for r in ctx.rails if r.netdev}
    primary = sorted((r for r in mains if r.dev not in rails), key=lambda r: r.metric)
    found = "; ".join(r.describe() for r in mine)
    if ctx.profile.network.allow_rail_default_in_main:
        return passed(f"allowed by the profile: {found}", found=found)
    if not primary:
        why = "it is the node's only default route: all non-RDMA traffic leaves through the RDMA NIC"
    elif mine[0].metric < primary[0].metric or (mine[0].metric == primary[0].metric):
        why = f"it wins over (or ties with) the primary `{primary[0].describe()}`: non-RDMA traffic uses the rail now"
    else:
        why = (f"it competes with the primary `{primary[0].describe()}`: non-RDMA traffic moves to the rail "
               "whenever the primary route disappears")
    return warned(f"main-table default through {rail.netdev}: {why}",
                  "no default route through rail NICs in main (RDMA replies use the policy tables)",
                  found, "; ".join(f"ip route del {r.describe()}" for r in mine)
                  + " (persist: drop the `to: default` route from the rail's netplan file, or set "
                    "network.allow_rail_default_in_main: true to accept it)")


# ---- persistence (netplan / NetworkManager dispatcher / rdma-routing.service) ---------------

NETPLAN_KINDS = ("ethernets", "bonds", "vlans", "bridges")
RDMA_UNIT = "rdma-routing.service"


@dataclass
class NetplanIf:
    """What the netplan files say about one interface (merged across files)."""

    files: list[str]
    addresses: set[str]
    mtu: int | None
    routes: list[dict]
    policies: list[dict]


def _iface(value: object) -> V4Iface | None:
    if isinstance(value, dict) and len(value) == 1:      # `- 10.0.0.1/24: {lifetime: 0}`
        value = next(iter(value))
    try:
        return ipaddress.IPv4Interface(str(value))
    except ValueError:
        return None


def netplan_interfaces(files: dict[str, str]) -> tuple[dict[str, NetplanIf], list[str]]:
    """Interfaces configured in /etc/netplan/*.yaml (netplan merges files in name order),
    and the files that could not be read as YAML."""
    import yaml

    out: dict[str, NetplanIf] = {}
    bad: list[str] = []
    for path in sorted(p for p in files if p.startswith("/etc/netplan/") and p.endswith(".yaml")):
        try:
            net = (yaml.safe_load(files[path]) or {}).get("network") or {}
            _netplan_file(out, path, net)
        except (yaml.YAMLError, AttributeError, TypeError, RecursionError):   # issue 9: odd YAML types
            bad.append(path)
    return out, bad


def _netplan_file(out: dict[str, NetplanIf], path: str, net: dict) -> None:
    """Merge one netplan file's interfaces into ``out`` (odd value types raise TypeError/AttributeError)."""
    for kind in NETPLAN_KINDS:
        for key, conf in ((net.get(kind) if isinstance(net, dict) else None) or {}).items():
            if not isinstance(conf, dict):
                continue
            name = str(conf.get("set-name") or key)
            cur = out.setdefault(name, NetplanIf([], set(), None, [], []))
            cur.files.append(path)
            cur.addresses |= {str(a) for a in map(_iface, conf.get("addresses") or []) if a}
            mtu = str(conf.get("mtu", ""))   # ASCII only (issue 9): "²" passed isdigit(), int() raised
            cur.mtu = int(mtu) if mtu.isascii() and mtu.isdigit() and len(mtu) < 7 else cur.mtu
            cur.routes += [r for r in conf.get("routes") or [] if isinstance(r, dict)]
            cur.policies += [r for r in conf.get("routing-policy") or [] if isinstance(r, dict)]


def _same_net(value: object, want: str) -> bool:
    v = "0.0.0.0/0" if str(value) == "default" else str(value)
    try:
        return ipaddress.ip_network(v, strict=False) == ipaddress.ip_network(want, strict=False)
    except ValueError:
        return False


def _netplan_policy(np_if: NetplanIf, ip: V4Addr, gw: V4Addr) -> int | None:
    """The table netplan persists `from ip` + `default via gw` in, if both are there."""
    for pol in np_if.policies:
        t = pol.get("table")
        if _same_net(pol.get("from", ""), f"{ip}/32") and any(
                _same_net(r.get("to", ""), "0.0.0.0/0") and str(r.get("via")) == str(gw) and r.get("table") == t
                for r in np_if.routes):
            return t
    return None


def _dispatcher(files: dict[str, str], netdev: str, kind: str) -> tuple[str, str] | None:
    """setNicAddr.sh's nmcli backend: /etc/NetworkManager/dispatcher.d/99-<IF>-policy-route
    and 98-<IF>-rdma-route."""
    prefix = "99" if kind == "policy-route" else "98"
    path = f"/etc/NetworkManager/dispatcher.d/{prefix}-{netdev}-{kind}"
    return (path, files[path]) if path in files else None


def _persisted_items(ctx: NodeContext, rail: Rail, np: dict[str, NetplanIf]) -> dict[str, str | None]:
    """Item -> where it is persisted (None: nowhere)."""
    files = ctx.facts.system.config_files
    nd = rail.netdev or ""
    np_if = np.get(nd)
    rr = rail_routing(ctx, rail)
    out: dict[str, str | None] = {}
    nm = _dispatcher(files, nd, "policy-route") or _dispatcher(files, nd, "rdma-route")
    nm_note = "NetworkManager connection (not collected, not verified)" if nm else None
    if rr.address is not None:
        out["address"] = (np_if.files[0] if np_if and str(rr.address) in np_if.addresses else nm_note)
    if rail.spec.mtu is not None:
        out["MTU"] = np_if.files[0] if np_if and np_if.mtu == rail.spec.mtu else nm_note
    if policy_applies(ctx.profile) is None and rr.required and rr.address and rr.gateway:
        t = _netplan_policy(np_if, rr.address.ip, rr.gateway) if np_if else None
        disp = _dispatcher(files, nd, "policy-route")
        ok_disp = disp and f"from {rr.address.ip}" in disp[1] and f"default via {rr.gateway}" in disp[1]
        out["policy rule+table"] = (f"{np_if.files[0]} (table {t})" if t is not None
                                    else disp[0] if ok_disp else None)
    if subnet_route_applies(ctx.profile) is None and rail.index == 1 and rr.gateway:
        cidr = str(ctx.profile.rdma.cidr)
        in_np = np_if and any(_same_net(r.get("to", ""), cidr) and str(r.get("via")) == str(rr.gateway)
                              for r in np_if.routes)
        disp = _dispatcher(files, nd, "rdma-route")
        out["RDMA subnet route"] = (np_if.files[0] if in_np else
                                    disp[0] if disp and cidr in disp[1] else None)
    return out


def _rdma_rule_persisted(ctx: NodeContext) -> tuple[str | None, str]:
    unit = f"/etc/systemd/system/{RDMA_UNIT}"
    text = ctx.facts.system.config_files.get(unit)
    state = ctx.facts.system.systemd_enabled.get(RDMA_UNIT, "not collected")
    if text is None:
        return None, f"no {unit}"
    if f"not to {ctx.profile.rdma.cidr}" not in text:
        return None, f"{unit} does not add `not to {ctx.profile.rdma.cidr}`"
    if state != "enabled":
        return None, f"{RDMA_UNIT} is {state or 'not enabled'}"
    return f"{RDMA_UNIT} (enabled)", ""


def _set_nic_addr(ctx: NodeContext, rail: Rail) -> str:
    rr = rail_routing(ctx, rail)
    env = [f'INTERFACE="{rail.netdev}"', f'IPV4_IP="{rr.address or "<ip/prefix>"}"']
    if rr.gateway is not None:
        env.append(f'IPV4_GATEWAY="{rr.gateway}"')
    if rail.spec.mtu is not None:
        env.append(f'MTU="{rail.spec.mtu}"')
    if policy_applies(ctx.profile) is None and rr.required:
        env.append('ENABLE_POLICY_ROUTE="true"')
    if subnet_route_applies(ctx.profile) is None and rail.index == 1:
        env += ['ENABLE_RDMA_DEFAULT_ROUTE="true"', f'RDMA_SUBNET="{ctx.profile.rdma.cidr}"']
    return " ".join(env) + " ./setNicAddr.sh"


@check("net.persistence", "The rail configuration survives a reboot", scope="node", severity="warn")
def persistence(ctx: NodeContext) -> Result:
    """Reads the netplan files, the NetworkManager dispatcher scripts setNicAddr.sh writes
    (99-<IF>-policy-route, 98-<IF>-rdma-route) and rdma-routing.service, and says per rail
    what is persisted: address, MTU, policy rule + table, rail 1's RDMA subnet route, and
    the RDMA rule (an enabled rdma-routing.service adding it). NetworkManager connection
    profiles are not collected, so an address or MTU kept only there is reported as not
    verified. A warning: the live state can be right and still be lost on reboot."""
    np, bad = netplan_interfaces(ctx.facts.system.config_files)
    missing: dict[str, list[str]] = {}
    by_status: dict[str, list[str]] = {}
    fixes = []
    for rail in (r for r in ctx.rails if r.found):
        items = _persisted_items(ctx, rail, np)
        have = sorted({f"{k}: {v}" for k, v in items.items() if v})
        lack = [k for k, v in items.items() if not v]
        for k in lack:
            missing.setdefault(k, []).append(rail.name)
        status = ("; ".join(have) or "nothing persisted") + (f"; NOT persisted: {', '.join(lack)}" if lack else "")
        by_status.setdefault(status, []).append(f"{rail.name} ({rail.netdev})")
        if lack:
            fixes.append(_set_nic_addr(ctx, rail))
    lines = [f"{', '.join(names)}: {status}" for status, names in by_status.items()]
    if rdma_rule_applies(ctx.profile) is None:
        where, why = _rdma_rule_persisted(ctx)
        lines.append(f"RDMA rule: {where or 'NOT persisted (' + why + ')'}")
        if not where:
            missing["RDMA rule"] = []
            fixes.append(f"RDMA_CIDR={ctx.profile.rdma.cidr} ./setRdmaRule.sh")
    if bad:
        lines.append(f"unreadable netplan files: {', '.join(bad)}")
    found = " | ".join(lines)
    expected = "address, MTU, policy routing, RDMA rule (and Solution 2's rail-1 route) persisted"
    if not missing:
        return passed("everything checked is persisted", expected=expected, found=found)
    summary = "not persisted: " + ", ".join(f"{k}" + (f" ({', '.join(v)})" if v else "")
                                            for k, v in missing.items())
    return warned(summary, expected, found, "; ".join(fixes), missing=missing)


@check("net.arp_rpfilter", "rp_filter, arp_ignore and arp_announce suit a multi-rail host",
       severity="warn")
def arp_rpfilter(ctx: NodeContext, rail: Rail) -> Result:
    """Effective values are max(all, <rail>) for all three knobs. Accepted: rp_filter in
    ``network.rp_filter_accept`` (default 0 or 2): strict mode (1) drops packets whose
    reverse route leaves by another NIC, as happens with several rails and rail 1's RDMA
    CIDR route; loose mode (2) still drops unroutable sources. arp_ignore >=
    ``arp_ignore_min`` (1): answer ARP only for addresses of the receiving NIC, and
    arp_announce >= ``arp_announce_min`` (2): use the outgoing NIC's own address as ARP
    source; without them rails answer for each other's IPs (ARP flux) and RoCE peers
    resolve a rail IP to the wrong NIC's MAC."""
    net = ctx.profile.network
    s_all = ctx.facts.net.sysctl.get("all", {})
    s_if = ctx.facts.net.sysctl.get(rail.netdev or "", {})
    knobs = ("rp_filter", "arp_ignore", "arp_announce")
    if not all(k in s_all or k in s_if for k in knobs):
        return warned("rp_filter/arp_ignore/arp_announce were not collected",
                      found="no /proc/sys/net/ipv4/conf values in the snapshot")
    eff = {k: max(s_all.get(k, 0), s_if.get(k, 0)) for k in knobs}
    found = ", ".join(f"{k} {eff[k]} (all {s_all.get(k, '?')}, {rail.netdev} {s_if.get(k, '?')})" for k in knobs)
    expected = (f"rp_filter in {net.rp_filter_accept}, arp_ignore >= {net.arp_ignore_min}, "
                f"arp_announce >= {net.arp_announce_min}")
    bad, fix = [], []
    key = (rail.netdev or "").replace(".", "/")
    if eff["rp_filter"] not in net.rp_filter_accept:
        good = 2 if 2 in net.rp_filter_accept else net.rp_filter_accept[0]
        bad.append(f"rp_filter {eff['rp_filter']}")
        fix.append(f"net.ipv4.conf.all.rp_filter={good} net.ipv4.conf.{key}.rp_filter={good}")
    if eff["arp_ignore"] < net.arp_ignore_min:
        bad.append(f"arp_ignore {eff['arp_ignore']}")
        fix.append(f"net.ipv4.conf.{key}.arp_ignore={net.arp_ignore_min}")
    if eff["arp_announce"] < net.arp_announce_min:
        bad.append(f"arp_announce {eff['arp_announce']}")
        fix.append(f"net.ipv4.conf.{key}.arp_announce={net.arp_announce_min}")
    if not bad:
        return passed(found, expected=expected, found=found)
    return warned(f"{', '.join(bad)} on a multi-rail host", expected, found,
                  "sysctl -w " + " ".join(fix) + " (persist in /etc/sysctl.d/)")


@check("net.ipoib_mode", "The IPoIB mode of the rail netdev", applies=ib_only, designs="InfiniBand")
def ipoib_mode(ctx: NodeContext, rail: Rail) -> Result:
    """Reports the IPoIB mode from ``/sys/class/net/<if>/mode`` (datagram or connected) and
    the MTU it allows. A rail netdev without that attribute is not an IPoIB interface
    (whether ``ib_ipoib`` is loaded is an rdma-area check)."""
    mode, limit = ipoib_limit(ctx, rail)
    link = rail_link(ctx, rail)
    if mode in ("datagram", "connected"):
        return passed(f"IPoIB {mode} mode, MTU at most {limit}",
                      found=f"/sys/class/net/{rail.netdev}/mode = {mode}", mode=mode, limit=limit)
    return failed(f"{rail.netdev} reports no IPoIB mode", "/sys/class/net/<if>/mode = datagram|connected",
                  f"mode {mode!r}, link type {link.link_type if link else '?'}",
                  "point the rail's nic selector at the IPoIB netdev (ib0, ibp...); see the rdma checks "
                  "for ib_ipoib")
