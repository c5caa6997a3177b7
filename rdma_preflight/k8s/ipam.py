"""SpiderIPPool (spiderpool.spidernet.io/v2beta1) read strictly, pure.

CRD shape (SP:pkg/k8s/apis/spiderpool.spidernet.io/v2beta1/spiderippool_types.go): ``spec.subnet``
(required), ``spec.ips`` ("a-b" ranges or single addresses), ``spec.excludeIPs``,
``spec.gateway``, ``spec.routes: [{dst, gw}]``, ``spec.nodeName``, ``spec.nodeAffinity``,
``spec.disable``; ``status.totalIPCount`` / ``status.allocatedIPCount``.

The docs' examples that this reader refuses: ``subnet: 172.16.11.0/16`` (host bits set, not a
network), ``172.16.1.226-172.16.1.256`` (not an address), ``172.16.1.2-172.16.1.32`` in a /27
(past the broadcast address), routes written ``{to, via}`` (the CRD's Route is ``{dst, gw}``) and
``ipVersion: ipv4`` (the CRD's enum is the integers 4 and 6). Only IPv4 pools are read.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from .facts import KNode, Obj, name_of, spec_of, status_of
from .selectors import label_selector_matches

IPv4 = ipaddress.IPv4Address
Net = ipaddress.IPv4Network


def _addr(text: str) -> IPv4 | None:
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        return None


def lenient_int(text: str) -> int | None:
    """A dotted quad as an integer even when an octet is out of range (``172.16.1.256`` is one
    past ``172.16.1.255``), so a fix can clamp what the docs wrote; None if not four numbers."""
    parts = text.strip().split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return None
    return sum(int(p) << (8 * (3 - i)) for i, p in enumerate(parts))


def strict_subnet(text: str) -> tuple[Net | None, Net | None, str]:
    """(network, network, "") when ``text`` is a network; (None, enclosing network, why) when
    host bits are set (the CRD means a network); (None, None, why) when it is no network."""
    try:
        net = ipaddress.IPv4Network(text.strip())
        return net, net, ""
    except ValueError:
        pass
    try:
        loose = ipaddress.IPv4Network(text.strip(), strict=False)
    except ValueError:
        return None, None, f"subnet {text!r} is not an IPv4 network"
    return None, loose, f"subnet {text} is not a network address (host bits set; {text} lies in {loose})"


@dataclass(frozen=True)
class Pool:
    name: str
    subnet_text: str
    subnet: Net | None
    gateway: IPv4 | None
    gateway_text: str | None
    ranges: tuple[tuple[IPv4, IPv4], ...]
    written: tuple[tuple[int, int], ...]         # every ips entry as integers, valid or not (lenient_int)
    excludes: tuple[tuple[IPv4, IPv4], ...]
    routes: tuple[tuple[str, str], ...]          # (dst, gw) as written
    node_names: tuple[str, ...]
    node_affinity: dict[str, Any] | None
    disabled: bool
    allocated: int | None
    total: int | None
    problems: tuple[str, ...] = field(default_factory=tuple)   # malformed content, in words

    def bound_to(self, node: KNode) -> bool | None:
        """True/False when the pool names its nodes (nodeName, nodeAffinity, or the docs'
        ``<if>-rail<N>-<node>`` name suffix), None when any node may use it."""
        if self.node_names:
            return node.name in self.node_names
        if self.node_affinity:
            return label_selector_matches(self.node_affinity, node.labels)
        return None

    def named_for(self, node: str) -> bool:
        return self.name.endswith(f"-{node}")

    @property
    def size(self) -> int:
        return _count(self.ranges) - _count(self.excludes_in_ranges())

    def excludes_in_ranges(self) -> tuple[tuple[IPv4, IPv4], ...]:
        out = []
        for lo, hi in self.excludes:
            for a, b in self.ranges:
                s, e = max(lo, a), min(hi, b)
                if s <= e:
                    out.append((s, e))
        return tuple(out)

    @property
    def total_count(self) -> int:
        return self.total if self.total is not None else self.size

    @property
    def exhausted(self) -> bool:
        return self.allocated is not None and self.allocated >= self.total_count

    def contains(self, ip: IPv4) -> bool:
        return self.subnet is not None and ip in self.subnet

    def describe(self) -> str:
        rng = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in self.ranges)
        return (f"{self.name}: subnet {self.subnet_text}, gateway {self.gateway_text or 'none'}"
                + (f", ips [{rng}]" if rng else ""))

    def free_block(self) -> tuple[IPv4, IPv4] | None:
        """The first run of subnet host addresses not in ips, excludeIPs or the gateway."""
        if self.subnet is None or self.subnet.num_addresses < 4:
            return None
        gateway = [(self.gateway, self.gateway)] if self.gateway else []
        used = sorted(list(self.ranges) + list(self.excludes) + gateway)
        cur = int(self.subnet.network_address) + 1
        last = int(self.subnet.broadcast_address) - 1
        for a, b in used:
            if int(a) > cur:
                return IPv4(cur), IPv4(min(int(a) - 1, last))
            cur = max(cur, int(b) + 1)
            if cur > last:
                return None
        return (IPv4(cur), IPv4(last)) if cur <= last else None


def _count(ranges: tuple[tuple[IPv4, IPv4], ...]) -> int:
    return sum(int(b) - int(a) + 1 for a, b in ranges)


def _ranges(items: list[Any], subnet: Net | None, what: str, problems: list[str]) -> tuple[tuple[IPv4, IPv4], ...]:
    out = []
    for item in items or []:
        text = str(item).strip()
        lo_t, sep, hi_t = text.partition("-")
        hi_t = hi_t if sep else lo_t
        lo, hi = _addr(lo_t), _addr(hi_t)
        if lo is None or hi is None:
            bad = lo_t if lo is None else hi_t
            problems.append(f"{what} {text!r}: {bad.strip()!r} is not an IPv4 address")
            continue
        if lo > hi:
            problems.append(f"{what} {text!r}: the range runs backwards")
            continue
        if subnet is not None:
            if lo not in subnet or hi not in subnet:
                problems.append(f"{what} {text!r} reaches outside subnet {subnet} "
                                f"({subnet.network_address}-{subnet.broadcast_address})")
            elif what == "ips" and subnet.prefixlen <= 30:
                for special, label in ((subnet.network_address, "network"), (subnet.broadcast_address, "broadcast")):
                    if lo <= special <= hi:
                        problems.append(f"ips {text!r} includes the {label} address {special} of {subnet}")
        out.append((lo, hi))
    return tuple(out)


def read_pool(obj: Obj) -> Pool:
    spec, status = spec_of(obj), status_of(obj)
    problems: list[str] = []
    subnet_text = str(spec.get("subnet") or "")
    subnet, loose, why = strict_subnet(subnet_text) if subnet_text else (None, None, "no spec.subnet")
    if why:
        problems.append(why)
    gw_text = spec.get("gateway")
    gw = _addr(str(gw_text)) if gw_text else None
    if gw_text and gw is None:
        problems.append(f"gateway {gw_text!r} is not an IPv4 address")
    elif gw is not None and loose is not None and gw not in loose:
        problems.append(f"gateway {gw} is outside subnet {subnet_text}")
    ranges = _ranges(spec.get("ips") or [], loose, "ips", problems)
    written = []
    for item in spec.get("ips") or []:
        lo_t, _, hi_t = str(item).partition("-")
        lo, hi = lenient_int(lo_t), lenient_int(hi_t or lo_t)
        if lo is not None and hi is not None:
            written.append((lo, hi))
    excludes = _ranges(spec.get("excludeIPs") or [], loose, "excludeIPs", problems)
    routes = []
    for i, r in enumerate(spec.get("routes") or []):
        r = r if isinstance(r, dict) else {}
        if "dst" in r and "gw" in r:
            routes.append((str(r["dst"]), str(r["gw"])))
        else:
            shown = ", ".join(f"{k}: {v}" for k, v in r.items())
            problems.append(f"routes[{i}] {{{shown}}} is not the CRD's Route shape {{dst, gw}}"
                            + (" (the docs write to/via)" if "to" in r or "via" in r else ""))
    version = spec.get("ipVersion")
    if version is not None and version != 4:
        docs = " (the docs write ipv4)" if version == "ipv4" else ""
        problems.append(f"ipVersion {version!r} is not the CRD's 4{docs}")
    aff = spec.get("nodeAffinity")
    return Pool(name=name_of(obj), subnet_text=subnet_text, subnet=subnet, gateway=gw,
                gateway_text=str(gw_text) if gw_text else None, ranges=ranges, written=tuple(written),
                excludes=excludes,
                routes=tuple(routes), node_names=tuple(spec.get("nodeName") or ()),
                node_affinity=aff if isinstance(aff, dict) else None, disabled=bool(spec.get("disable")),
                allocated=_int(status.get("allocatedIPCount")), total=_int(status.get("totalIPCount")),
                problems=tuple(problems))


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
