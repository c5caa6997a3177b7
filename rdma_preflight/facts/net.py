"""Host network facts: links, addresses, policy rules, routes, per-interface sysctls.

Two decoders give the same dataclasses: ``from_ip_json`` (the collector's ``ip -j`` output,
used for remote targets and snapshots) and ``from_netlink`` (pyroute2, used for live local and
netns targets). Normalisation makes them agree: table names -> numbers, ``default`` ->
``0.0.0.0/0``, host sources -> ``/32``, and the protocols ``ip`` hides (kernel for rules, boot
for routes) -> None.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass, field

TABLE_NAMES = {"local": 255, "main": 254, "default": 253, "unspec": 0}
RULE_PROTOCOLS = {0: None, 1: "redirect", 2: None, 3: "boot", 4: "static"}
ROUTE_PROTOCOLS = {0: None, 1: "redirect", 2: "kernel", 3: None, 4: "static", 16: "dhcp"}
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
               6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
SCOPES = {0: None, 200: "site", 253: "link", 254: "host", 255: "nowhere"}
FIB_RULE_INVERT = 0x2
RTNH_F_ONLINK = 0x4
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
ARPHRD = {1: "ether", 32: "infiniband", 772: "loopback", 65534: "none"}


class NetFactsError(ValueError):
    """The ip -j output could not be decoded."""


@dataclass(frozen=True)
class Link:
    name: str
    ifindex: int
    mtu: int
    operstate: str
    admin_up: bool
    lower_up: bool
    kind: str | None = None
    mac: str | None = None
    link_type: str | None = None

    @property
    def up(self) -> bool:
        """Operationally usable: admin up with carrier (operstate UP, or UNKNOWN with LOWER_UP)."""
        return self.admin_up and self.lower_up and self.operstate in ("UP", "UNKNOWN")


@dataclass(frozen=True)
class Address:
    ifname: str
    address: str
    prefixlen: int
    family: int = 4

    @property
    def interface(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        return ipaddress.ip_interface(f"{self.address}/{self.prefixlen}")


@dataclass(frozen=True)
class Rule:
    priority: int
    table: int
    src: str | None = None          # CIDR, None = all
    dst: str | None = None          # CIDR, None = all
    invert: bool = False            # "not"
    action: str = "lookup"
    protocol: str | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None

    def describe(self) -> str:
        parts = [f"{self.priority}:"]
        if self.invert:
            parts.append("not")
        parts.append(f"from {self.src or 'all'}")
        if self.dst:
            parts.append(f"to {self.dst}")
        if self.iif:
            parts.append(f"iif {self.iif}")
        if self.oif:
            parts.append(f"oif {self.oif}")
        if self.fwmark is not None:
            parts.append(f"fwmark {self.fwmark:#x}")
        parts.append(f"lookup {table_name(self.table)}" if self.action == "lookup" else self.action)
        if self.protocol:
            parts.append(f"proto {self.protocol}")
        return " ".join(parts)


@dataclass(frozen=True)
class Route:
    table: int
    dst: str                         # CIDR; default = 0.0.0.0/0
    gateway: str | None = None
    dev: str | None = None
    metric: int = 0
    protocol: str | None = None
    scope: str | None = None
    onlink: bool = False
    type: str = "unicast"

    @property
    def is_default(self) -> bool:
        return self.dst in ("0.0.0.0/0", "::/0")

    def describe(self) -> str:
        s = "default" if self.is_default else self.dst
        if self.gateway:
            s += f" via {self.gateway}"
        if self.dev:
            s += f" dev {self.dev}"
        if self.metric:
            s += f" metric {self.metric}"
        if self.onlink:
            s += " onlink"
        if self.table != 254:
            s += f" table {table_name(self.table)}"
        return s


@dataclass
class NetFacts:
    links: dict[str, Link] = field(default_factory=dict)
    addresses: list[Address] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    sysctl: dict[str, dict[str, int]] = field(default_factory=dict)   # ifname|all|default -> knob -> value
    tcp_ecn: int | None = None
    source: str = "ip-json"

    def ipv4(self, ifname: str) -> list[Address]:
        return [a for a in self.addresses if a.ifname == ifname and a.family == 4]

    def table(self, table: int) -> list[Route]:
        return [r for r in self.routes if r.table == table]

    def main_defaults(self) -> list[Route]:
        return [r for r in self.table(254) if r.is_default and r.type == "unicast"]

    def default_route_devs(self) -> set[str]:
        return {r.dev for r in self.main_defaults() if r.dev}

    def comparable(self) -> tuple:
        """Everything the checks read, in a canonical order (netlink vs ip -j agreement)."""
        return (
            sorted(self.links.values(), key=lambda l: l.name),
            sorted(self.addresses, key=lambda a: (a.ifname, a.family, a.address)),
            sorted(self.rules, key=lambda r: (r.priority, r.table, str(r.src), str(r.dst))),
            sorted(self.routes, key=lambda r: (r.table, r.dst, str(r.dev), r.metric, str(r.gateway))),
        )


def table_number(value: object) -> int:
    if isinstance(value, int):
        return value
    s = str(value)
    if s in TABLE_NAMES:
        return TABLE_NAMES[s]
    try:
        return int(s)
    except ValueError:
        raise NetFactsError(f"unknown routing table {s!r}") from None


def table_name(num: int) -> str:
    for name, n in TABLE_NAMES.items():
        if n == num and name != "unspec":
            return name
    return str(num)


def _cidr(addr: str | None, plen: int | None, family: int = 4) -> str | None:
    if addr in (None, "all", ""):
        return None
    if addr == "default":
        return "0.0.0.0/0" if family == 4 else "::/0"
    if "/" in str(addr):
        return str(ipaddress.ip_network(addr, strict=False))
    full = 32 if family == 4 else 128
    return str(ipaddress.ip_network(f"{addr}/{full if plen is None else plen}", strict=False))


# ---- ip -j ---------------------------------------------------------------------------------

def _load(text: str | None, what: str) -> list:
    if text is None or not text.strip():
        return []
    try:
        # strict=False (issue 9): iproute2 writes control characters of interface names raw
        # ("\x1b[31m" is a valid Linux name); strict JSON refused the whole node for it
        data = json.loads(text, strict=False)
    except ValueError as exc:
        raise NetFactsError(f"{what}: not JSON ({exc})") from None
    except RecursionError:     # deeply nested brackets (issue 9 hostile facts)
        raise NetFactsError(f"{what}: not JSON (nested too deeply)") from None
    if not isinstance(data, list):
        raise NetFactsError(f"{what}: expected a JSON list")
    return data


def from_ip_json(link_json: str | None, addr_json: str | None, rule_json: str | None,
                 route_json: str | None) -> NetFacts:
    facts = NetFacts(source="ip-json")
    try:
        for l in _load(link_json, "ip -j link"):
            flags = l.get("flags", [])
            facts.links[l["ifname"]] = Link(
                name=l["ifname"], ifindex=int(l["ifindex"]), mtu=int(l["mtu"]),
                operstate=str(l.get("operstate", "UNKNOWN")), admin_up="UP" in flags,
                lower_up="LOWER_UP" in flags, kind=(l.get("linkinfo") or {}).get("info_kind"),
                mac=l.get("address"), link_type=l.get("link_type"))
        for l in _load(addr_json, "ip -j addr"):
            for a in l.get("addr_info", []):
                fam = {"inet": 4, "inet6": 6}.get(a.get("family"))
                if fam is None:
                    continue
                facts.addresses.append(Address(ifname=l["ifname"], address=a["local"],
                                               prefixlen=int(a["prefixlen"]), family=fam))
        for r in _load(rule_json, "ip -j rule"):
            facts.rules.append(Rule(
                priority=int(r.get("priority", 0)), table=table_number(r.get("table", "unspec")),
                src=_cidr(r.get("src"), r.get("srclen")), dst=_cidr(r.get("dst"), r.get("dstlen")),
                invert="not" in r, action="lookup" if "table" in r else str(r.get("action", "unknown")),
                protocol=_rule_proto_name(r.get("protocol")), iif=r.get("iif"), oif=r.get("oif"),
                fwmark=int(r["fwmark"], 16) if isinstance(r.get("fwmark"), str) else r.get("fwmark")))
        for r in _load(route_json, "ip -j route"):
            flags = r.get("flags", [])
            facts.routes.append(Route(
                table=table_number(r.get("table", "main")), dst=_cidr(r["dst"], None) or "",
                gateway=r.get("gateway"), dev=r.get("dev"), metric=int(r.get("metric", 0)),
                protocol=_route_proto_name(r.get("protocol")), scope=r.get("scope"),
                onlink="onlink" in flags, type=str(r.get("type", "unicast"))))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:   # AttributeError: a non-object item
        if isinstance(exc, NetFactsError):
            raise
        raise NetFactsError(f"unexpected ip -j content: {exc!r}") from None
    return facts


def _rule_proto_name(p: object) -> str | None:
    if p in (None, "kernel", "unspec", 0, 2):
        return None
    return str(p)


def _route_proto_name(p: object) -> str | None:
    if p in (None, "boot", 3, "unspec", 0):
        return None
    return str(p)


# ---- netlink (pyroute2) --------------------------------------------------------------------

def from_netlink(netns: str | None) -> NetFacts:
    """Read links, addresses, IPv4 rules and routes (all tables) through pyroute2.

    ``netns`` is a network namespace name, or None/"" for the caller's own namespace.
    """
    from ..netlink import open_netlink

    ipr = open_netlink(netns)
    try:
        facts = NetFacts(source="netlink")
        names: dict[int, str] = {}
        for l in ipr.get_links():
            name = l.get("IFLA_IFNAME")
            names[l["index"]] = name
            info = l.get("IFLA_LINKINFO")
            flags = l["flags"]
            facts.links[name] = Link(
                name=name, ifindex=l["index"], mtu=l.get("IFLA_MTU"),
                operstate=str(l.get("IFLA_OPERSTATE") or "UNKNOWN"), admin_up=bool(flags & IFF_UP),
                lower_up=bool(flags & IFF_LOWER_UP), kind=info.get("IFLA_INFO_KIND") if info else None,
                mac=l.get("IFLA_ADDRESS"), link_type=ARPHRD.get(l["ifi_type"], str(l["ifi_type"])))
        for a in ipr.get_addr():
            fam = {socket.AF_INET: 4, socket.AF_INET6: 6}.get(a["family"])
            if fam is None:
                continue
            addr = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
            facts.addresses.append(Address(ifname=names.get(a["index"], str(a["index"])), address=addr,
                                           prefixlen=a["prefixlen"], family=fam))
        for r in ipr.get_rules(family=socket.AF_INET):
            table = r.get("FRA_TABLE") or r["table"]
            facts.rules.append(Rule(
                priority=r.get("FRA_PRIORITY") or 0, table=table,
                src=_cidr(r.get("FRA_SRC"), r["src_len"]) if r.get("FRA_SRC") else None,
                dst=_cidr(r.get("FRA_DST"), r["dst_len"]) if r.get("FRA_DST") else None,
                invert=bool(r["flags"] & FIB_RULE_INVERT),
                action="lookup" if r["action"] == 1 else {6: "blackhole", 7: "unreachable", 8: "prohibit"}.get(r["action"], str(r["action"])),
                protocol=RULE_PROTOCOLS.get(r.get("FRA_PROTOCOL") or 0, str(r.get("FRA_PROTOCOL"))),
                iif=r.get("FRA_IIFNAME"), oif=r.get("FRA_OIFNAME"), fwmark=r.get("FRA_FWMARK")))
        for r in ipr.route("dump", family=socket.AF_INET):
            oif = r.get("RTA_OIF")
            dst = r.get("RTA_DST")
            facts.routes.append(Route(
                table=r.get("RTA_TABLE") or r["table"],
                dst=_cidr(dst, r["dst_len"]) if dst else "0.0.0.0/0",
                gateway=r.get("RTA_GATEWAY"), dev=names.get(oif) if oif is not None else None,
                metric=r.get("RTA_PRIORITY") or 0,
                protocol=ROUTE_PROTOCOLS.get(r["proto"], str(r["proto"])),
                scope=SCOPES.get(r["scope"], str(r["scope"])), onlink=bool(r["flags"] & RTNH_F_ONLINK),
                type=ROUTE_TYPES.get(r["type"], str(r["type"]))))
        return facts
    finally:
        ipr.close()


def add_sysctls(facts: NetFacts, snap) -> None:
    """Per-interface rp_filter / arp_ignore / arp_announce and tcp_ecn from the snapshot."""
    for path in snap.glob("/proc/sys/net/ipv4/conf/*/*"):
        _, _, _, _, _, _, ifname, knob = path.split("/")
        if knob in ("rp_filter", "arp_ignore", "arp_announce"):
            v = snap.int_value(path)
            if v is not None:
                facts.sysctl.setdefault(ifname, {})[knob] = v
    facts.tcp_ecn = snap.int_value("/proc/sys/net/ipv4/tcp_ecn")
