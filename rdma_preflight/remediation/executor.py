"""Executors: how actions read and change a node.

``NetlinkExecutor`` talks netlink through pyroute2 to a live local or netns target;
``ArgvExecutor`` runs ``ip`` argv over the target's transport (remote nodes). Both expose
the same typed operations, so an action never knows which one it has. Commands, files and
sysfs writes always go through ``target.run`` (inside the netns for netns targets).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

from ..netlink import open_netlink
from ..targets.base import CommandResult, Target, TargetError

FIB_RULE_INVERT = 0x2
RTNH_F_ONLINK = 0x4
TABLE_NAMES = {254: "main", 255: "local", 253: "default"}
PROTO_NAMES = {2: "kernel", 3: "boot", 4: "static", 16: "dhcp"}
PROTO_NUMBERS = {v: k for k, v in PROTO_NAMES.items()}
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 6: "blackhole", 7: "unreachable", 8: "prohibit"}


class ExecError(Exception):
    """A change or read on the node failed."""


def _table(value: object) -> int:
    names = {v: k for k, v in TABLE_NAMES.items()}
    s = str(value)
    return names[s] if s in names else int(s)


@dataclass(frozen=True)
class LinkState:
    ifname: str
    mtu: int
    admin_up: bool


@dataclass(frozen=True)
class RuleSpec:
    """One IPv4 policy rule, exact enough to delete and re-create it."""

    priority: int
    table: int
    src: str | None = None          # CIDR or None (all)
    dst: str | None = None
    invert: bool = False
    proto: int = 0

    def argv(self, verb: str) -> list[str]:
        out = ["ip", "rule", verb]
        if self.invert:
            out.append("not")
        if self.src or not self.dst:
            out += ["from", _host(self.src) if self.src else "all"]
        if self.dst:
            out += ["to", self.dst]
        out += ["lookup", TABLE_NAMES.get(self.table, str(self.table)), "priority", str(self.priority)]
        if verb == "add" and self.proto:
            out += ["protocol", PROTO_NAMES.get(self.proto, str(self.proto))]
        return out

    def same_rule(self, other: "RuleSpec") -> bool:
        """Same selector, table and priority (protocol ignored, as the kernel's delete does)."""
        return (self.priority, self.table, self.src, self.dst, self.invert) == \
            (other.priority, other.table, other.src, other.dst, other.invert)


@dataclass(frozen=True)
class RouteSpec:
    """One IPv4 route, exact enough to delete and re-create it."""

    table: int
    dst: str                        # CIDR; 0.0.0.0/0 = default
    gateway: str | None = None
    dev: str | None = None
    metric: int = 0
    onlink: bool = False
    proto: int = 4
    scope: int = 0
    type: int = 1

    def argv(self, verb: str) -> list[str]:
        out = ["ip", "route", verb]
        if self.type != 1:
            out.append(ROUTE_TYPES.get(self.type, str(self.type)))
        out.append("default" if self.dst == "0.0.0.0/0" else self.dst)
        if self.gateway:
            out += ["via", self.gateway]
        if self.dev:
            out += ["dev", self.dev]
        if self.metric:
            out += ["metric", str(self.metric)]
        if self.onlink:
            out.append("onlink")
        if self.table != 254:
            out += ["table", TABLE_NAMES.get(self.table, str(self.table))]
        if verb == "add" and self.proto not in (3, 0):
            out += ["proto", PROTO_NAMES.get(self.proto, str(self.proto))]
        if verb == "add" and self.scope == 253:
            out += ["scope", "link"]
        return out

    def key(self) -> tuple:
        return (self.table, self.dst, self.gateway, self.dev, self.metric)


def _host(cidr: str) -> str:
    return cidr[:-3] if cidr.endswith("/32") else cidr


def command_text(argv: list[str]) -> str:
    return shlex.join(argv)


class Executor(ABC):
    """Typed reads and changes on one node; every change is one ``ip``-equivalent command."""

    def __init__(self, target: Target):
        self.target = target

    # generic: commands and files (always over the target, i.e. inside the node/netns)
    def run(self, argv: list[str], check: bool = True, timeout: float | None = None) -> CommandResult:
        if timeout is None:
            timeout = self.target.timeouts.remediation_command
        try:
            res = self.target.run(argv, timeout=timeout)
        except TargetError as exc:
            raise ExecError(exc.reason) from None
        if check and res.rc != 0:
            err = res.stderr.decode(errors="replace").strip().splitlines()
            raise ExecError(f"`{command_text(argv)}` exited {res.rc}" + (f": {err[-1]}" if err else ""))
        return res

    def read_file(self, path: str) -> str | None:
        res = self.run(["cat", "--", path], check=False)
        return res.stdout.decode(errors="replace") if res.rc == 0 else None

    def write_file(self, path: str, text: str) -> None:
        self.run(["sh", "-c", 'printf "%s" "$1" > "$2"', "rdma-preflight-write", text, path])

    def remove_file(self, path: str) -> None:
        self.run(["rm", "-f", "--", path])

    # network reads
    @abstractmethod
    def link(self, ifname: str) -> LinkState | None: ...

    @abstractmethod
    def addresses(self, ifname: str) -> list[str]: ...

    @abstractmethod
    def rules(self) -> list[RuleSpec]: ...

    @abstractmethod
    def routes(self) -> list[RouteSpec]: ...

    # network changes
    @abstractmethod
    def set_link(self, ifname: str, mtu: int | None = None, up: bool | None = None) -> None: ...

    @abstractmethod
    def address(self, verb: str, ifname: str, cidr: str) -> None: ...

    @abstractmethod
    def rule(self, verb: str, spec: RuleSpec) -> None: ...

    @abstractmethod
    def route(self, verb: str, spec: RouteSpec) -> None: ...

    def close(self) -> None:
        return None


class ArgvExecutor(Executor):
    """``ip`` argv over the transport (ssh, ansible, kube ...)."""

    def _json(self, argv: list[str]) -> list:
        out = self.run(argv).stdout.decode(errors="replace").strip()
        try:
            return json.loads(out) if out else []
        except ValueError:
            raise ExecError(f"`{command_text(argv)}` did not print JSON") from None

    def link(self, ifname: str) -> LinkState | None:
        res = self.run(["ip", "-j", "link", "show", "dev", ifname], check=False)
        if res.rc != 0:
            return None
        data = json.loads(res.stdout or b"[]")
        return LinkState(ifname, int(data[0]["mtu"]), "UP" in data[0].get("flags", [])) if data else None

    def addresses(self, ifname: str) -> list[str]:
        data = self._json(["ip", "-j", "-4", "addr", "show", "dev", ifname])
        return [f"{a['local']}/{a['prefixlen']}" for l in data for a in l.get("addr_info", [])
                if a.get("family") == "inet"]

    def rules(self) -> list[RuleSpec]:
        out = []
        for r in self._json(["ip", "-j", "-4", "rule", "show"]):
            if "table" not in r:
                continue
            out.append(RuleSpec(int(r.get("priority", 0)), _table(r["table"]),
                                _cidr(r.get("src"), r.get("srclen")), _cidr(r.get("dst"), r.get("dstlen")),
                                "not" in r, PROTO_NUMBERS.get(r.get("protocol"), 0)))
        return out

    def routes(self) -> list[RouteSpec]:
        out = []
        types = {v: k for k, v in ROUTE_TYPES.items()}
        for r in self._json(["ip", "-j", "-4", "route", "show", "table", "all"]):
            out.append(RouteSpec(_table(r.get("table", "main")), _cidr(r["dst"], None) or "0.0.0.0/0",
                                 r.get("gateway"), r.get("dev"), int(r.get("metric", 0)),
                                 "onlink" in r.get("flags", []), PROTO_NUMBERS.get(r.get("protocol"), 3),
                                 253 if r.get("scope") == "link" else 0, types.get(r.get("type", "unicast"), 1)))
        return out

    def set_link(self, ifname: str, mtu: int | None = None, up: bool | None = None) -> None:
        if mtu is not None:
            self.run(["ip", "link", "set", "dev", ifname, "mtu", str(mtu)])
        if up is not None:
            self.run(["ip", "link", "set", "dev", ifname, "up" if up else "down"])

    def address(self, verb: str, ifname: str, cidr: str) -> None:
        self.run(["ip", "addr", verb, cidr, "dev", ifname])

    def rule(self, verb: str, spec: RuleSpec) -> None:
        self.run(spec.argv(verb))

    def route(self, verb: str, spec: RouteSpec) -> None:
        self.run(spec.argv(verb))


def _cidr(addr: str | None, plen: int | None) -> str | None:
    if addr in (None, "all", ""):
        return None
    if addr == "default":
        return "0.0.0.0/0"
    if "/" in addr:
        return addr
    return f"{addr}/{32 if plen is None else plen}"


class NetlinkExecutor(Executor):
    """pyroute2 on this machine, in the target's netns ("" = this namespace)."""

    def __init__(self, target: Target, netns: str):
        super().__init__(target)
        try:
            self.ipr = open_netlink(netns)
        except OSError as exc:
            raise ExecError(f"cannot open netlink in {netns or 'this namespace'}: {exc}") from None

    def close(self) -> None:
        self.ipr.close()

    def _call(self, fn, *args, **kwargs):
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            return fn(*args, **kwargs)
        except NetlinkError as exc:
            raise ExecError(f"netlink: {exc.args[1] if len(exc.args) > 1 else exc}") from None

    def _index(self, ifname: str) -> int:
        idx = self.ipr.link_lookup(ifname=ifname)
        if not idx:
            raise ExecError(f"no interface {ifname}")
        return idx[0]

    def _names(self) -> dict[int, str]:
        return {m["index"]: m.get("IFLA_IFNAME") for m in self.ipr.get_links()}

    def link(self, ifname: str) -> LinkState | None:
        idx = self.ipr.link_lookup(ifname=ifname)
        if not idx:
            return None
        m = self.ipr.get_links(idx[0])[0]
        return LinkState(ifname, m.get("IFLA_MTU"), bool(m["flags"] & 1))

    def addresses(self, ifname: str) -> list[str]:
        return [f"{m.get('IFA_ADDRESS')}/{m['prefixlen']}"
                for m in self.ipr.get_addr(index=self._index(ifname), family=socket.AF_INET)]

    def rules(self) -> list[RuleSpec]:
        out = []
        for m in self.ipr.get_rules(family=socket.AF_INET):
            if m["action"] != 1:
                continue
            src, dst = m.get("FRA_SRC"), m.get("FRA_DST")
            out.append(RuleSpec(m.get("FRA_PRIORITY") or 0, m.get("FRA_TABLE") or m["table"],
                                f"{src}/{m['src_len']}" if src else None, f"{dst}/{m['dst_len']}" if dst else None,
                                bool(m["flags"] & FIB_RULE_INVERT), m.get("FRA_PROTOCOL") or 0))
        return out

    def routes(self) -> list[RouteSpec]:
        names = self._names()
        out = []
        for m in self.ipr.route("dump", family=socket.AF_INET):
            dst = m.get("RTA_DST")
            out.append(RouteSpec(m.get("RTA_TABLE") or m["table"], f"{dst}/{m['dst_len']}" if dst else "0.0.0.0/0",
                                 m.get("RTA_GATEWAY"), names.get(m.get("RTA_OIF")), m.get("RTA_PRIORITY") or 0,
                                 bool(m["flags"] & RTNH_F_ONLINK), m["proto"], m["scope"], m["type"]))
        return out

    def set_link(self, ifname: str, mtu: int | None = None, up: bool | None = None) -> None:
        idx = self._index(ifname)
        if mtu is not None:
            self._call(self.ipr.link, "set", index=idx, mtu=mtu)
        if up is not None:
            self._call(self.ipr.link, "set", index=idx, state="up" if up else "down")

    def address(self, verb: str, ifname: str, cidr: str) -> None:
        ip, _, plen = cidr.partition("/")
        self._call(self.ipr.addr, verb, index=self._index(ifname), address=ip, prefixlen=int(plen or 32))

    def rule(self, verb: str, spec: RuleSpec) -> None:
        kw: dict = {"table": spec.table, "priority": spec.priority,
                    "flags": FIB_RULE_INVERT if spec.invert else 0}
        for key, cidr in (("src", spec.src), ("dst", spec.dst)):
            if cidr:
                ip, _, plen = cidr.partition("/")
                kw[key], kw[f"{key}_len"] = ip, int(plen)
        if verb == "add" and spec.proto:
            kw["protocol"] = spec.proto
        self._call(self.ipr.rule, verb, **kw)

    def route(self, verb: str, spec: RouteSpec) -> None:
        kw: dict = {"dst": spec.dst, "table": spec.table, "type": spec.type}
        if spec.gateway:
            kw["gateway"] = spec.gateway
        if spec.dev:
            kw["oif"] = self._index(spec.dev)
        if spec.metric:
            kw["priority"] = spec.metric
        if verb == "add":
            kw.update(proto=spec.proto, scope=spec.scope)
            if spec.onlink:
                kw["flags"] = RTNH_F_ONLINK
        self._call(self.ipr.route, verb, **kw)


def executor_for(target: Target) -> Executor:
    """Netlink for live local/netns targets, ``ip`` argv for remote ones."""
    if target.offline:
        raise ExecError("a snapshot replay is read-only: nothing can be changed")
    ns = target.netlink_namespace()
    return ArgvExecutor(target) if ns is None else NetlinkExecutor(target, ns)


def spec_json(spec: RuleSpec | RouteSpec | LinkState) -> dict:
    return asdict(spec)
