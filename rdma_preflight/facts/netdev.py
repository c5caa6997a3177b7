"""Per-netdev hardware facts from sysfs: PCI address, driver, SR-IOV, IPoIB mode, ECN tree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from glob import escape as glob_escape

BDF_RE = re.compile(r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def normalize_bdf(bdf: str) -> str:
    """``86:00.0`` -> ``0000:86:00.0`` (lower case)."""
    b = bdf.strip().lower()
    return b if b.count(":") == 2 else "0000:" + b


@dataclass
class NetDevice:
    name: str
    pci: str | None = None             # BDF with domain
    pci_path: str | None = None        # resolved /sys/devices/... path (PCIe tree walk)
    driver: str | None = None
    physfn: str | None = None          # PF BDF when this netdev is a VF
    sriov_numvfs: int | None = None
    sriov_totalvfs: int | None = None
    ipoib_mode: str | None = None      # datagram | connected (IPoIB only)
    ecn_np: dict[int, int] = field(default_factory=dict)   # priority -> enable
    ecn_rp: dict[int, int] = field(default_factory=dict)
    cnp_dscp: int | None = None
    has_ecn_tree: bool = False

    @property
    def is_vf(self) -> bool:
        return self.physfn is not None


def _bdf_of(path: str | None) -> str | None:
    if not path:
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return normalize_bdf(last) if BDF_RE.match(last) else None


def from_snapshot(snap) -> dict[str, NetDevice]:
    devs: dict[str, NetDevice] = {}
    for name in snap.children("/sys/class/net"):
        base = f"/sys/class/net/{name}"
        dev_path = snap.links.get(f"{base}/device")
        drv = snap.links.get(f"{base}/device/driver")
        d = NetDevice(
            name=name, pci=_bdf_of(dev_path), pci_path=dev_path if _bdf_of(dev_path) else None,
            driver=drv.rstrip("/").rsplit("/", 1)[-1] if drv else None,
            physfn=_bdf_of(snap.links.get(f"{base}/device/physfn")),
            sriov_numvfs=snap.int_value(f"{base}/device/sriov_numvfs"),
            sriov_totalvfs=snap.int_value(f"{base}/device/sriov_totalvfs"),
            ipoib_mode=snap.value(f"{base}/mode"),
            cnp_dscp=snap.int_value(f"{base}/ecn/roce_np/cnp_dscp"))
        for kind, target in (("roce_np", d.ecn_np), ("roce_rp", d.ecn_rp)):
            # names are escaped (an interface may be called "e*") and indexes ASCII (issue 9)
            for p in snap.glob(f"{glob_escape(base)}/ecn/{kind}/enable/*"):
                prio = p.rsplit("/", 1)[-1]
                v = snap.int_value(p)
                if prio.isascii() and prio.isdigit() and len(prio) < 5 and v is not None:
                    target[int(prio)] = v
        d.has_ecn_tree = bool(d.ecn_np or d.ecn_rp or d.cnp_dscp is not None)
        devs[name] = d
    return devs
