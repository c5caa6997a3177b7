"""Each rail's netdev, IP, RDMA device, port state and rate, and local GID index, as seen
from inside the pod (or on the host), from one ``driver`` discover run.

A rail's netdev is found, in order, by: the pod's Multus ``network-status`` entry for the
rail's network; the profile's ``nic.netdev``; ``nic.rdma_device``; an address inside the
rail's subnet/pool; ``nic.position`` (RDMA devices in PCI order, hosts); the rail's Multus
position ``net<k>`` (pods). RoCE: the device, port and GID index are those of the lowest
RoCE v2 GID carrying the rail's IPv4 (the pod sees its macvlan/VF addresses in the GID
table; in exclusive mode only its own VFs, from index 0). InfiniBand: the device behind the
netdev, GID index 0. Values read from the pod are validated before they reach an argv.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from ..facts.rdma import RATE_RE, Gid, norm_phys, norm_state
from ..parsers import ParseError
from ..parsers import rdma_link as p_rdma_link
from . import names
from .failures import FailureClass

_SYSFS = re.compile(r"^/sys/class/infiniband/([^/]+)/(.+)$")
_PORT_ATTR = re.compile(r"^ports/(\d+)/(state|phys_state|rate|link_layer|gids/(\d+)|gid_attrs/(types|ndevs)/(\d+))$")
_VERSION = re.compile(r"(?i)version\s*:?\s*([0-9][0-9A-Za-z._-]*)")
_MISSING = re.compile(r"not found|No such file or directory|cannot execute|Permission denied")
ZERO_GID = re.compile(r"^[0:]+$")


@dataclass(frozen=True)
class RailTarget:
    """What the profile says about one rail, as the bandwidth run needs it."""

    name: str
    index: int                                  # 0-based order in the profile
    network: str | None = None                  # SpiderMultusConfig name
    resource: str | None = None                 # RDMA resource, one per pod
    netdev: str | None = None
    rdma_device: str | None = None
    position: int | None = None
    networks: tuple[ipaddress.IPv4Network, ...] = ()
    address: str | None = None
    mtu: int | None = None

    @classmethod
    def from_profile(cls, profile) -> list["RailTarget"]:
        out = []
        for i, (name, r) in enumerate(profile.rails.items()):
            nets = tuple(n for n in (r.subnet, r.pool, r.address.network if r.address else None) if n is not None)
            out.append(cls(name=names.rail(name), index=i,
                           network=names.network(r.network) if r.network else None,
                           resource=names.resource(r.resource) if r.resource else None,
                           netdev=r.nic.netdev, rdma_device=r.nic.rdma_device, position=r.nic.position,
                           networks=nets, address=str(r.address.ip) if r.address else None, mtu=r.mtu))
        return out


@dataclass
class PortView:
    device: str
    port: int
    state: str | None = None
    phys_state: str | None = None
    rate_gbps: float | None = None
    rate_text: str | None = None
    link_layer: str | None = None
    gids: dict[int, str] = field(default_factory=dict)
    gid_types: dict[int, str] = field(default_factory=dict)
    gid_ndevs: dict[int, str] = field(default_factory=dict)

    def gid(self, index: int) -> Gid | None:
        value = self.gids.get(index)
        return Gid(index, value, self.gid_types.get(index), self.gid_ndevs.get(index)) if value else None

    def roce_v2(self, ipv4: str) -> list[Gid]:
        found = (self.gid(i) for i in sorted(self.gids))
        return [g for g in found if g is not None and g.is_roce_v2 and g.ipv4 == ipv4]


@dataclass
class HostView:
    """Everything one discover run saw."""

    addrs: dict[str, list[ipaddress.IPv4Interface]] = field(default_factory=dict)
    mtus: dict[str, int] = field(default_factory=dict)
    ports: dict[tuple[str, int], PortView] = field(default_factory=dict)
    device_netdevs: dict[str, set[str]] = field(default_factory=dict)
    numa: dict[str, int] = field(default_factory=dict)
    pci: dict[str, str] = field(default_factory=dict)
    perftest_version: str | None = None
    perftest_missing: bool = False
    perftest_text: str = ""
    notes: list[str] = field(default_factory=list)

    def port(self, device: str, port: int | None = None) -> PortView | None:
        if port is not None:
            return self.ports.get((device, port))
        return next((p for (d, _), p in sorted(self.ports.items()) if d == device), None)

    def devices_of(self, netdev: str) -> list[str]:
        owners = {d for d, nets in self.device_netdevs.items() if netdev in nets}
        owners |= {p.device for p in self.ports.values() if netdev in p.gid_ndevs.values()}
        return sorted(owners)

    def netdev_ip(self, netdev: str, within: Sequence[ipaddress.IPv4Network] = ()) -> str | None:
        addrs = self.addrs.get(netdev, [])
        inside = [a for a in addrs if any(a.ip in n for n in within)] if within else addrs
        chosen = inside or addrs
        return str(chosen[0].ip) if chosen else None


def parse_view(sections: Mapping[str, str]) -> HostView:
    view = HostView()
    _ip(view, sections.get("ip", ""))
    _rdma(view, sections.get("rdma", ""))
    _sysfs(view, sections.get("sysfs", ""))
    text = sections.get("perftest", "")
    view.perftest_text = text.strip()
    m = _VERSION.search(text)
    view.perftest_version = m.group(1) if m else None
    view.perftest_missing = m is None and bool(_MISSING.search(text))
    return view


def _ip(view: HostView, text: str) -> None:
    try:
        links = json.loads(text) if text.strip() else []
    except ValueError:
        view.notes.append("ip -j addr: not JSON: " + text.strip()[:200])
        return
    for link in links if isinstance(links, list) else []:
        name = link.get("ifname") if isinstance(link, dict) else None
        if not isinstance(name, str):
            continue
        if isinstance(link.get("mtu"), int):
            view.mtus[name] = link["mtu"]
        for a in link.get("addr_info") or []:
            if a.get("family") == "inet" and a.get("local"):
                try:
                    view.addrs.setdefault(name, []).append(
                        ipaddress.IPv4Interface(f"{a['local']}/{a.get('prefixlen', 32)}"))
                except ValueError:
                    view.notes.append(f"ip -j addr: bad address {a.get('local')!r} on {name}")


def _rdma(view: HostView, text: str) -> None:
    if not text.strip().startswith(("[", "{")):
        if text.strip():
            view.notes.append("rdma -j link: " + text.strip().splitlines()[0][:200])
        return
    try:
        links = p_rdma_link.parse(text).links
    except ParseError as exc:
        view.notes.append(f"rdma -j link: {exc}")
        return
    for link in links:
        port = view.ports.setdefault((link.device, link.port), PortView(link.device, link.port))
        port.state = port.state or norm_state(link.state)
        port.phys_state = port.phys_state or norm_phys(link.physical_state)
        if link.netdev:
            view.device_netdevs.setdefault(link.device, set()).add(link.netdev)


def _sysfs(view: HostView, text: str) -> None:
    for line in text.splitlines():
        path, sep, value = line.partition(":")
        m = _SYSFS.match(path) if sep else None
        if m is None:
            continue
        device, rest = m.group(1), m.group(2)
        value = value.strip()
        if rest.startswith("device/net/") and rest.endswith("/ifindex"):
            view.device_netdevs.setdefault(device, set()).add(rest.split("/")[2])
        elif rest == "device/numa_node" and value.lstrip("-").isdigit():
            view.numa[device] = int(value)
        elif rest == "device/uevent" and value.startswith("PCI_SLOT_NAME="):
            view.pci[device] = value.split("=", 1)[1]
        elif pm := _PORT_ATTR.match(rest):
            _port_attr(view.ports.setdefault((device, int(pm.group(1))), PortView(device, int(pm.group(1)))),
                       pm, value)


def _port_attr(port: PortView, m: re.Match[str], value: str) -> None:
    attr = m.group(2)
    if attr == "state":
        port.state = norm_state(value)
    elif attr == "phys_state":
        port.phys_state = norm_phys(value)
    elif attr == "rate":
        port.rate_text = value
        r = RATE_RE.match(value)
        port.rate_gbps = float(r.group(1)) if r else None
    elif attr == "link_layer":
        port.link_layer = value
    elif m.group(3) is not None:
        if not ZERO_GID.match(value):
            port.gids[int(m.group(3))] = value
        elif int(m.group(3)) == 0:
            port.gids.setdefault(0, "")
    elif m.group(4) == "types":
        port.gid_types[int(m.group(5))] = value
    else:
        port.gid_ndevs[int(m.group(5))] = value


# -- binding rails ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RailEndpoint:
    """One rail of one node, ready for perftest (``problem`` None) or why not."""

    rail: str
    netdev: str | None = None
    ip: str | None = None
    device: str | None = None
    port: int | None = None
    gid_index: int | None = None
    link_layer: str | None = None
    state: str | None = None
    phys_state: str | None = None
    rate_gbps: float | None = None
    rate_text: str | None = None
    mtu: int | None = None
    numa_node: int | None = None
    problem: FailureClass | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def evidence(self) -> dict:
        return {k: v for k, v in (("netdev", self.netdev), ("ip", self.ip), ("device", self.device),
                                  ("port", self.port), ("gid_index", self.gid_index),
                                  ("link_layer", self.link_layer), ("rate", self.rate_text),
                                  ("mtu", self.mtu), ("numa_node", self.numa_node)) if v is not None}


def network_status(annotations: Mapping[str, str] | None) -> list[dict]:
    """Multus ``k8s.v1.cni.cncf.io/network-status`` entries (``[]`` when absent or unreadable)."""
    raw = (annotations or {}).get("k8s.v1.cni.cncf.io/network-status")
    try:
        data = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _status_entry(status: list[dict], network: str | None, namespace: str | None) -> dict | None:
    if not network:
        return None
    wanted = {f"{namespace}/{network}"} if namespace else set()
    for entry in status:
        name = str(entry.get("name", ""))
        if name in wanted or name == network or name.endswith("/" + network):
            return entry
    return None


def _pf_netdevs_in_pci_order(view: HostView) -> list[str]:
    ordered = sorted((view.pci.get(d, "~"), d) for d in view.device_netdevs)
    return [sorted(view.device_netdevs[d])[0] for _, d in ordered if view.device_netdevs[d]]


def _find_netdev(view: HostView, rail: RailTarget, status: list[dict], namespace: str | None,
                 pod: bool) -> tuple[str | None, str | None, str]:
    """(netdev, ip, how) for the rail; netdev None when nothing matched."""
    entry = _status_entry(status, rail.network, namespace)
    if entry is not None and entry.get("interface"):
        ips = [str(i) for i in entry.get("ips") or [] if ":" not in str(i)]
        nd = str(entry["interface"])
        return nd, (ips[0] if ips else view.netdev_ip(nd, rail.networks)), f"network-status {entry.get('name')}"
    if rail.netdev and rail.netdev in view.addrs:
        return rail.netdev, view.netdev_ip(rail.netdev, rail.networks), "nic.netdev"
    if rail.rdma_device and view.device_netdevs.get(rail.rdma_device):
        nd = sorted(view.device_netdevs[rail.rdma_device])[0]
        return nd, view.netdev_ip(nd, rail.networks), "nic.rdma_device"
    for nd, addrs in sorted(view.addrs.items()):
        if rail.address and any(str(a.ip) == rail.address for a in addrs):
            return nd, rail.address, "rail address"
    for nd, addrs in sorted(view.addrs.items()):
        if nd != "lo" and rail.networks and any(a.ip in n for a in addrs for n in rail.networks):
            return nd, view.netdev_ip(nd, rail.networks), "rail subnet"
    if not pod and rail.position is not None:
        pfs = _pf_netdevs_in_pci_order(view)
        if len(pfs) >= rail.position:
            nd = pfs[rail.position - 1]
            return nd, view.netdev_ip(nd, rail.networks), "nic.position"
    multus = f"net{rail.index + 1}"
    if pod and multus in view.addrs:
        return multus, view.netdev_ip(multus, rail.networks), "Multus order"
    return None, None, ""


def bind(view: HostView, rails: Sequence[RailTarget], fabric: str, *,
         annotations: Mapping[str, str] | None = None, namespace: str | None = None,
         pod: bool = True) -> dict[str, RailEndpoint]:
    status = network_status(annotations)
    return {r.name: _bind_one(view, r, fabric, status, namespace, pod) for r in rails}


def _bind_one(view: HostView, rail: RailTarget, fabric: str, status: list[dict],
              namespace: str | None, pod: bool) -> RailEndpoint:
    nd, ip, how = _find_netdev(view, rail, status, namespace, pod)
    if nd is None:
        where = f"network {rail.network!r}" if rail.network else "the profile's NIC selector"
        return RailEndpoint(rail.name, problem=FailureClass.NO_DEVICE,
                            detail=f"no interface for {rail.name} ({where}) among {sorted(view.addrs) or 'none'}")
    try:
        nd = names.netdev(nd)
        ip = names.ipv4(ip) if ip else None
    except names.BadName as exc:
        return RailEndpoint(rail.name, problem=FailureClass.NO_DEVICE, detail=str(exc))
    base = {"rail": rail.name, "netdev": nd, "ip": ip, "mtu": view.mtus.get(nd)}
    if fabric == "roce":
        found = _roce(view, nd, ip)
    else:
        found = _ib(view, nd)
    if isinstance(found, RailEndpoint):
        return replace(found, **base, detail=found.detail + f" (found by {how})")
    device, port, gid = found
    pv = view.port(device, port)
    try:
        names.rdma_device(device)
    except names.BadName as exc:
        return RailEndpoint(**base, problem=FailureClass.NO_DEVICE, detail=str(exc))
    ep = RailEndpoint(**base, device=device, port=port, gid_index=gid,
                      link_layer=pv.link_layer if pv else None, state=pv.state if pv else None,
                      phys_state=pv.phys_state if pv else None, rate_gbps=pv.rate_gbps if pv else None,
                      rate_text=pv.rate_text if pv else None, numa_node=view.numa.get(device),
                      detail=f"found by {how}")
    if pv is not None and pv.state not in (None, "ACTIVE"):
        return replace(ep, problem=FailureClass.PORT_NOT_ACTIVE,
                       detail=f"{device}/{port} state {pv.state}, physical state {pv.phys_state or 'unknown'}")
    return ep


def _roce(view: HostView, netdev: str, ip: str | None) -> tuple[str, int, int] | RailEndpoint:
    owners = view.devices_of(netdev)
    if ip:
        hits = [(g.ndev != netdev, g.index, p.device, p.port, g)
                for p in view.ports.values() for g in p.roce_v2(ip)]
        if hits:
            _, index, device, port, _ = min(hits)
            return device, port, index
    if not owners and not view.ports:
        return RailEndpoint("", problem=FailureClass.NO_DEVICE,
                            detail=f"no RDMA device is visible (netdev {netdev})")
    if not owners:
        return RailEndpoint("", problem=FailureClass.NO_DEVICE,
                            detail=f"no RDMA device owns {netdev} and no RoCE v2 GID carries {ip or 'its address'}")
    device = owners[0]
    pv = view.port(device)
    gids = ", ".join(f"{i}:{pv.gid_types.get(i, '?')}" for i in sorted(pv.gids) if pv.gids[i]) if pv else ""
    why = f"{netdev} has no IPv4 address" if not ip else f"no RoCE v2 GID carries {ip}"
    return RailEndpoint("", device=device, port=pv.port if pv else None, problem=FailureClass.GID,
                        detail=f"{device}: {why} (GIDs: {gids or 'none'})")


def _ib(view: HostView, netdev: str) -> tuple[str, int, int] | RailEndpoint:
    owners = view.devices_of(netdev)
    if not owners:
        return RailEndpoint("", problem=FailureClass.NO_DEVICE, detail=f"no RDMA device owns {netdev}")
    pv = view.port(owners[0])
    if pv is None:
        return RailEndpoint("", device=owners[0], problem=FailureClass.NO_DEVICE,
                            detail=f"{owners[0]} has no port in sysfs")
    if not pv.gids.get(0):
        return RailEndpoint("", device=pv.device, port=pv.port, problem=FailureClass.GID,
                            detail=f"{pv.device}/{pv.port} GID 0 is empty")
    return pv.device, pv.port, 0
