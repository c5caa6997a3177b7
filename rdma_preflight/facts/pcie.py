"""PCIe facts: the device tree (from sysfs paths), GPUs, bridges and their ACS control bits.

The tree comes from resolved sysfs paths (``/sys/devices/pci0000:15/0000:15:01.0/.../BDF``):
the collector's ``ls -l /sys/bus/pci/devices/`` plus the netdev / RDMA device links. ACS
control bits come from ``lspci -vvv -D``. Nothing here raises on odd node data: problems are
recorded in ``PcieFacts.problems``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..parsers.base import ParseError
from .netdev import BDF_RE, normalize_bdf

NVIDIA_VENDOR = "0x10de"
GPU_CLASSES = ("0x0300", "0x0302")          # VGA / 3D controller (class code prefix)
BRIDGE_CLASS = "0x0604"
ACS_FLAGS_OFF = ("SrcValid", "ReqRedir", "CmpltRedir", "EgressCtrl")   # must be '-' for P2P
_LS_LINE = re.compile(r"(\S+) -> (\S+)\s*$")
_ROOT = re.compile(r"^pci[0-9a-fA-F]{4}:[0-9a-fA-F]{2}$")


@dataclass(frozen=True)
class PciDev:
    bdf: str                                  # 0000:17:01.0
    chain: tuple[str, ...] = ()               # BDFs from the root port down to this device
    root: str | None = None                   # host bridge, e.g. pci0000:15
    vendor: str | None = None                 # 0x10de
    pci_class: str | None = None              # 0x030200
    listed: bool = False                      # has an lspci -vvv block
    bridge: bool = False
    port_type: str | None = None              # Root Port, Downstream Port...
    acs_ctl: dict[str, bool] | None = None    # None: no ACS capability (or not listed)
    numa_node: int | None = None

    @property
    def parents(self) -> tuple[str, ...]:
        return self.chain[:-1]

    @property
    def is_gpu(self) -> bool:
        return self.vendor == NVIDIA_VENDOR and (self.pci_class or "").startswith(GPU_CLASSES)


@dataclass
class PcieFacts:
    devices: dict[str, PciDev] = field(default_factory=dict)
    lspci_read: bool = False                 # lspci -vvv output was parsed
    caps_hidden: bool = False                # lspci ran without root: capabilities hidden
    problems: list[str] = field(default_factory=list)

    @property
    def gpus(self) -> list[str]:
        return sorted(b for b, d in self.devices.items() if d.is_gpu)

    def get(self, bdf: str | None) -> PciDev | None:
        return self.devices.get(normalize_bdf(bdf)) if bdf else None

    def path_bridges(self, a: str, b: str) -> list[str] | None:
        """Bridges a peer-to-peer transfer between ``a`` and ``b`` crosses, or None when either
        device's place in the tree is unknown. Below a common bridge (a switch's upstream port)
        traffic turns inside the switch, so that bridge and those above it are not on the path;
        without one (different root ports) every ancestor of both is."""
        da, db = self.get(a), self.get(b)
        if da is None or db is None or not da.chain or not db.chain:
            return None
        pa, pb = da.parents, db.parents
        common = 0
        if da.root == db.root:
            while common < min(len(pa), len(pb)) and pa[common] == pb[common]:
                common += 1
        return list(dict.fromkeys(pa[common:] + pb[common:]))

    def relation(self, a: str, b: str) -> str | None:
        """nvidia-smi's names for the link between two devices, derived from the tree:
        PIX (at most one bridge), PXB (several, no host bridge), PHB (through the host bridge),
        NODE / SYS (across host bridges, same / other NUMA node)."""
        da, db = self.get(a), self.get(b)
        if da is None or db is None or not da.chain or not db.chain:
            return None
        if da.root != db.root:
            same_numa = da.numa_node is None or db.numa_node is None or da.numa_node == db.numa_node
            return "NODE" if same_numa else "SYS"
        bridges = self.path_bridges(a, b) or []
        shared = [p for p in da.parents if p in db.parents]
        if not shared:
            return "PHB"
        crossed = len(bridges) + 1          # the lowest shared bridge is crossed too
        return "PIX" if crossed <= 1 else "PXB"


def acs_violations(flags: dict[str, bool] | None) -> list[str]:
    """ACS control bits that are on but must be off for GPUDirect peer-to-peer."""
    return [f for f in ACS_FLAGS_OFF if (flags or {}).get(f)]


def sysfs_chain(path: str | None) -> tuple[str | None, tuple[str, ...]]:
    """``/sys/devices/pci0000:15/0000:15:01.0/0000:16:00.0`` -> (``pci0000:15``, BDF chain)."""
    if not path or "/devices/" not in path:
        return None, ()
    parts = path.split("/devices/", 1)[1].strip("/").split("/")
    if not parts or not _ROOT.match(parts[0]):
        return None, ()
    chain = []
    for p in parts[1:]:
        if not BDF_RE.match(p):
            break
        chain.append(normalize_bdf(p))
    return parts[0].lower(), tuple(chain)


def _ls_paths(text: str) -> dict[str, str]:
    """``ls -l /sys/bus/pci/devices/`` -> {BDF: /sys/devices/... path}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LS_LINE.search(line)
        if not m or not BDF_RE.match(m.group(1)) or "devices/" not in m.group(2):
            continue
        out[normalize_bdf(m.group(1))] = "/sys/" + m.group(2)[m.group(2).index("devices/"):]
    return out


def _known_paths(snap, facts) -> dict[str, str]:
    paths = _ls_paths(snap.cmd_text("pci_devices") or "")
    for dev in list(facts.netdevs.values()) + list(facts.rdma.devices.values()):
        if dev.pci and dev.pci_path and dev.pci not in paths:
            paths[dev.pci] = dev.pci_path
    return paths


def _lspci(snap, out: PcieFacts) -> dict:
    from ..parsers import lspci

    text = snap.cmd_text("lspci_vvv")
    if text is None:
        why = "lspci is not installed" if "lspci" in snap.missing else "lspci -vvv did not run or failed"
        out.problems.append(f"{why}: ACS state unknown")
        return {}
    out.caps_hidden = "<access denied>" in text
    if out.caps_hidden:
        out.problems.append("lspci -vvv ran without root: capabilities (ACS) are hidden")
    try:
        parsed = lspci.parse_vvv(text)
    except ParseError as exc:
        out.problems.append(f"lspci -vvv output could not be read: {exc}")
        return {}
    out.lspci_read = True
    return {normalize_bdf(d.bdf): d for d in parsed.devices}


def from_snapshot(snap, facts) -> PcieFacts:
    out = PcieFacts()
    paths = _known_paths(snap, facts)
    blocks = _lspci(snap, out)
    for bdf in sorted(set(paths) | set(blocks)):
        root, chain = sysfs_chain(paths.get(bdf))
        base = f"/sys/bus/pci/devices/{bdf}"
        blk = blocks.get(bdf)
        cls = snap.value(f"{base}/class")
        out.devices[bdf] = PciDev(
            bdf=bdf, chain=chain if chain and chain[-1] == bdf else (), root=root,
            vendor=(snap.value(f"{base}/vendor") or "").lower() or None,
            pci_class=cls.lower() if cls else None, listed=blk is not None,
            bridge=bool(blk and blk.is_bridge) or (cls or "").lower().startswith(BRIDGE_CLASS),
            port_type=blk.port_type if blk else None, acs_ctl=blk.acs_ctl if blk else None,
            numa_node=blk.numa_node if blk else None)
    if not paths:
        out.problems.append("no PCI device paths collected (ls -l /sys/bus/pci/devices/ empty)")
    return out
