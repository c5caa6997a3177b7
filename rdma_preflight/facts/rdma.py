"""RDMA devices, ports and GIDs (sysfs first), netns mode, and the netdev <-> device map.

Sysfs under /sys/class/infiniband is the first source; tool outputs (``rdma``, ``ibstat``...)
add evidence and cover hosts where sysfs was not readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .netdev import _bdf_of

STATE_RE = re.compile(r"^\s*(\d+)\s*:\s*(\S+)")
RATE_RE = re.compile(r"^\s*([\d.]+)\s*Gb/sec")


@dataclass(frozen=True)
class Gid:
    index: int
    gid: str
    type: str | None = None           # "RoCE v2", "RoCE v1", "IB/RoCE v1"
    ndev: str | None = None

    @property
    def is_roce_v2(self) -> bool:
        return (self.type or "").lower().replace(" ", "") == "rocev2"

    @property
    def ipv4(self) -> str | None:
        """The IPv4 embedded in an IPv4-mapped GID (``0000:...:ffff:ac10:000a``)."""
        g = self.gid.lower().replace(":", "")
        if len(g) == 32 and g[:20] == "0" * 20 and g[20:24] == "ffff":
            b = bytes.fromhex(g[24:])
            return ".".join(str(x) for x in b)
        return None


@dataclass
class RdmaPort:
    device: str
    port: int
    state: str | None = None          # ACTIVE, DOWN, INIT, ARMED...
    phys_state: str | None = None     # LinkUp, Disabled, Polling...
    rate_gbps: float | None = None
    rate_text: str | None = None
    link_layer: str | None = None     # Ethernet | InfiniBand
    lid: int | None = None
    sm_lid: int | None = None
    gids: list[Gid] = field(default_factory=list)
    netdev: str | None = None


@dataclass
class RdmaDevice:
    name: str
    pci: str | None = None
    pci_path: str | None = None
    node_guid: str | None = None
    sys_image_guid: str | None = None
    fw_ver: str | None = None
    hca_type: str | None = None
    board_id: str | None = None
    ports: dict[int, RdmaPort] = field(default_factory=dict)
    traffic_class: dict[int, str] = field(default_factory=dict)   # tc index -> raw "Global tclass=160"
    roce_tos: dict[int, int] = field(default_factory=dict)        # port -> configfs default_roce_tos


@dataclass
class RdmaFacts:
    devices: dict[str, RdmaDevice] = field(default_factory=dict)
    netns_mode: str | None = None            # live, from `rdma system` (shared|exclusive|unknown)
    netns_mode_source: str | None = None
    netns_mode_param: str | None = None      # /sys/module/ib_core/parameters/netns_mode: Y|N (runtime mirror)
    sysfs_readable: bool = False

    def device_for_netdev(self, netdev: str) -> list[str]:
        return sorted({p.device for d in self.devices.values() for p in d.ports.values() if p.netdev == netdev})

    def netdevs_of(self, device: str) -> list[str]:
        d = self.devices.get(device)
        return sorted({p.netdev for p in d.ports.values() if p.netdev}) if d else []


def _int(v: str | None, base: int = 0) -> int | None:
    if v is None:
        return None
    try:
        return int(v, base)
    except ValueError:
        return None


def from_snapshot(snap, netdevs: dict) -> RdmaFacts:
    facts = RdmaFacts()
    pci_to_netdevs: dict[str, list[str]] = {}
    for nd in netdevs.values():
        if nd.pci:
            pci_to_netdevs.setdefault(nd.pci, []).append(nd.name)
    for name in snap.children("/sys/class/infiniband"):
        base = f"/sys/class/infiniband/{name}"
        dev_path = snap.links.get(f"{base}/device")
        dev = RdmaDevice(name=name, pci=_bdf_of(dev_path), pci_path=dev_path,
                         node_guid=snap.value(f"{base}/node_guid"),
                         sys_image_guid=snap.value(f"{base}/sys_image_guid"),
                         fw_ver=snap.value(f"{base}/fw_ver"), hca_type=snap.value(f"{base}/hca_type"),
                         board_id=snap.value(f"{base}/board_id"))
        for tcp in snap.glob(f"{base}/tc/*/traffic_class"):
            idx = tcp.split("/")[-2]
            if idx.isdigit():
                dev.traffic_class[int(idx)] = snap.value(tcp) or ""
        for pnum in snap.children(f"{base}/ports"):
            if not pnum.isdigit():
                continue
            pb = f"{base}/ports/{pnum}"
            port = RdmaPort(device=name, port=int(pnum))
            m = STATE_RE.match(snap.value(f"{pb}/state") or "")
            port.state = m.group(2) if m else None
            m = STATE_RE.match(snap.value(f"{pb}/phys_state") or "")
            port.phys_state = m.group(2) if m else None
            rate = snap.value(f"{pb}/rate")
            port.rate_text = rate
            m = RATE_RE.match(rate or "")
            port.rate_gbps = float(m.group(1)) if m else None
            port.link_layer = snap.value(f"{pb}/link_layer")
            port.lid = _int(snap.value(f"{pb}/lid"))
            port.sm_lid = _int(snap.value(f"{pb}/sm_lid"))
            for gp in snap.glob(f"{pb}/gids/*"):
                idx = gp.rsplit("/", 1)[-1]
                gid = snap.value(gp)
                if not idx.isdigit() or not gid or gid.replace("0", "").replace(":", "") == "":
                    continue
                port.gids.append(Gid(index=int(idx), gid=gid,
                                     type=snap.value(f"{pb}/gid_attrs/types/{idx}"),
                                     ndev=snap.value(f"{pb}/gid_attrs/ndevs/{idx}")))
            port.gids.sort(key=lambda g: g.index)
            ndevs = {g.ndev for g in port.gids if g.ndev}
            if len(ndevs) == 1:
                port.netdev = ndevs.pop()
            elif dev.pci and len(pci_to_netdevs.get(dev.pci, [])) == 1:
                port.netdev = pci_to_netdevs[dev.pci][0]
            tos = snap.int_value(f"/sys/kernel/config/rdma_cm/{name}/ports/{pnum}/default_roce_tos")
            if tos is not None:
                dev.roce_tos[int(pnum)] = tos
            dev.ports[int(pnum)] = port
        facts.devices[name] = dev
    facts.sysfs_readable = bool(facts.devices)
    facts.netns_mode_param = snap.value("/sys/module/ib_core/parameters/netns_mode")
    facts.netns_mode, facts.netns_mode_source = _netns_mode(snap, facts.netns_mode_param)
    return facts


def _netns_mode(snap, param: str | None) -> tuple[str | None, str | None]:
    """Live netns mode: parse the token after ``netns`` (never compare whole lines)."""
    for cmd in ("rdma_system", "rdma_system_json"):
        text = snap.cmd_text(cmd)
        if not text:
            continue
        m = re.search(r'"?netns"?\s*[:\s]\s*"?(shared|exclusive|unknown)', text)
        if m:
            return m.group(1), f"rdma system ({cmd})"
    if param in ("Y", "N", "1", "0"):
        return ("shared" if param in ("Y", "1") else "exclusive"), "/sys/module/ib_core/parameters/netns_mode"
    return None, None
