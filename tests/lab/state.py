"""Read-only snapshots of a namespace's links, addresses, rules and routes."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute

from tests.lab.nsutil import open_ns

IFF_UP = 0x1
FIB_RULE_INVERT = 0x2
RTNH_F_ONLINK = 0x4
MAIN_TABLE = 254


@dataclass(frozen=True, order=True)
class LinkRow:
    ifname: str
    mtu: int
    up: bool


@dataclass(frozen=True, order=True)
class AddrRow:
    ifname: str
    address: str


@dataclass(frozen=True, order=True)
class RuleRow:
    family: int
    priority: int
    src: str | None
    dst: str | None
    table: int
    invert: bool


@dataclass(frozen=True, order=True)
class RouteRow:
    family: int
    table: int
    dst: str
    gateway: str | None
    ifname: str | None
    metric: int
    onlink: bool
    proto: int
    type: int


@dataclass(frozen=True)
class HostState:
    """Everything the network checks look at, as comparable sets."""

    links: frozenset[LinkRow]
    addresses: frozenset[AddrRow]
    rules: frozenset[RuleRow]
    routes: frozenset[RouteRow]

    def link(self, ifname: str) -> LinkRow:
        return next(row for row in self.links if row.ifname == ifname)

    def table(self, table: int) -> set[RouteRow]:
        return {row for row in self.routes if row.table == table}

    def diff(self, after: HostState) -> dict[str, tuple[set[Any], set[Any]]]:
        """Per field, (rows only in self, rows only in after); unchanged fields omitted."""
        out: dict[str, tuple[set[Any], set[Any]]] = {}
        for field in ("links", "addresses", "rules", "routes"):
            old, new = getattr(self, field), getattr(after, field)
            if old != new:
                out[field] = (set(old - new), set(new - old))
        return out


def _prefix(msg: Any, key: str, length: int) -> str | None:
    value = msg.get(key)
    return None if value is None else f"{value}/{length}"


def _route_row(msg: Any, names: dict[int, str]) -> RouteRow:
    return RouteRow(
        family=msg["family"],
        table=msg.get("RTA_TABLE") or msg["table"],
        dst=_prefix(msg, "RTA_DST", msg["dst_len"]) or "default",
        gateway=msg.get("RTA_GATEWAY"),
        ifname=names.get(msg.get("RTA_OIF")),
        metric=msg.get("RTA_PRIORITY") or 0,
        onlink=bool(msg["flags"] & RTNH_F_ONLINK),
        proto=msg["proto"],
        type=msg["type"],
    )


def rule_row(msg: Any) -> RuleRow:
    return RuleRow(
        family=msg["family"],
        priority=msg.get("FRA_PRIORITY") or 0,
        src=_prefix(msg, "FRA_SRC", msg["src_len"]),
        dst=_prefix(msg, "FRA_DST", msg["dst_len"]),
        table=msg.get("FRA_TABLE") or msg["table"],
        invert=bool(msg["flags"] & FIB_RULE_INVERT),
    )


def read_state(ipr: IPRoute, families: tuple[int, ...] = (socket.AF_INET,)) -> HostState:
    """Dump links, addresses, rules and routes of ``families`` through ``ipr``."""
    names = {msg["index"]: msg.get("IFLA_IFNAME") for msg in ipr.get_links()}
    links = {
        LinkRow(msg.get("IFLA_IFNAME"), msg.get("IFLA_MTU"), bool(msg["flags"] & IFF_UP))
        for msg in ipr.get_links()
    }
    addrs, rules, routes = set(), set(), set()
    for family in families:
        addrs |= {
            AddrRow(names.get(msg["index"], "?"), f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}")
            for msg in ipr.get_addr(family=family)
        }
        rules |= {rule_row(msg) for msg in ipr.get_rules(family=family)}
        routes |= {_route_row(msg, names) for msg in ipr.get_routes(family=family)}
    return HostState(frozenset(links), frozenset(addrs), frozenset(rules), frozenset(routes))


def snapshot(ns: str | None = None, families: tuple[int, ...] = (socket.AF_INET,)) -> HostState:
    """Read-only state of namespace ``ns`` (None = the root namespace)."""
    with (IPRoute() if ns is None else open_ns(ns)) as ipr:
        return read_state(ipr, families)
