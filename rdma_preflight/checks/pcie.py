"""PCIe checks for GPUDirect RDMA (area ``pcie``): ACS on the GPU <-> NIC path, IOMMU mode."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..facts.pcie import PcieFacts, acs_violations
from .context import NodeContext, Rail
from .gpu import DESIGNS, gpudirect_applies, pcie_facts
from .registry import check
from .result import Result, failed, passed, skipped, warned, worst

ACS_NOT_PERSISTENT = "setpci changes are lost at reboot: re-run after every boot, or disable ACS / VT-d in the BIOS"


def acs_applies(profile) -> str | None:
    return gpudirect_applies(profile) or (
        "gpudirect.acs is ignore in the profile" if profile.gpudirect.acs == "ignore" else None)


def setpci_argv(bdf: str) -> list[str]:
    """Clear every ACS control bit of one bridge (Spiderpool's loop, one BDF)."""
    return ["setpci", "-s", bdf, "ECAP_ACS+0x6.w=0000"]


@dataclass
class AcsFindings:
    """ACS on the paths between every GPU and one NIC."""

    bad: dict[str, list[str]] = field(default_factory=dict)    # bridge -> ACS flags that are on
    via: dict[str, list[str]] = field(default_factory=dict)    # bridge -> GPUs whose path crosses it
    unlisted: list[str] = field(default_factory=list)          # bridges missing from lspci -vvv
    unplaced: list[str] = field(default_factory=list)          # GPUs without a sysfs device path


def acs_findings(p: PcieFacts, nic: str) -> AcsFindings:
    out = AcsFindings()
    for gpu in p.gpus:
        bridges = p.path_bridges(gpu, nic)
        if bridges is None:
            out.unplaced.append(gpu)
        for b in bridges or []:
            dev = p.get(b)
            out.via.setdefault(b, []).append(gpu)
            if dev is None or not dev.listed:
                if b not in out.unlisted:
                    out.unlisted.append(b)
            elif acs_violations(dev.acs_ctl):
                out.bad[b] = acs_violations(dev.acs_ctl)
    return out


@check("pcie.acs", "ACS off on the PCIe path between GPUs and the rail NIC", designs=DESIGNS,
       applies=acs_applies, remediation="apply")
def acs(ctx: NodeContext, rail: Rail) -> Result:
    """Every bridge on the PCIe path between each GPU and the rail NIC that has ACS keeps
    SrcValid, ReqRedir, CmpltRedir and EgressCtrl off (``lspci -vvv`` ACSCtl), so GPUDirect
    peer-to-peer is not redirected through the root complex. The path is walked in the sysfs
    device tree; below a shared switch the switch's upstream port is not on it."""
    p = pcie_facts(ctx)
    nd = ctx.facts.netdevs.get(rail.netdev)
    want = "ACSCtl SrcValid- ReqRedir- CmpltRedir- EgressCtrl- on every bridge between GPU and NIC"
    if not p.gpus:
        return skipped("no NVIDIA GPU found on the node: no GPU<->NIC path to check (see gpu.nic_affinity)")
    if not p.lspci_read or p.caps_hidden:
        return failed("ACS state unknown", want, "; ".join(p.problems) or "lspci -vvv not read",
                      fix="install pciutils and run the collector as root")
    nic = nd.pci if nd else None
    if nic is None or p.get(nic) is None or not p.get(nic).chain:
        return failed(f"PCIe position of {rail.netdev} unknown", want, f"no sysfs device path for {rail.netdev}")
    f = acs_findings(p, nic)
    path = ", ".join(f.via) or "no bridge between GPU and NIC"
    results = []
    for b, flags in f.bad.items():
        kind = p.get(b).port_type or "bridge"
        results.append(failed(
            f"bridge {b} ({kind}) has ACS {' '.join(x + '+' for x in flags)} on the path NIC {nic} <-> "
            f"GPU {', '.join(f.via[b])}", want, f"{b} ACSCtl: {' '.join(x + '+' for x in flags)}",
            fix=f"{' '.join(setpci_argv(b))} ({ACS_NOT_PERSISTENT})", bridge=b, flags=flags))
    if f.unlisted:
        results.append(warned(f"ACS state of {', '.join(f.unlisted)} unknown (not in lspci -vvv output)", want,
                              f"bridges on the path: {path}"))
    if f.unplaced:
        results.append(warned(f"PCIe path to GPU {', '.join(f.unplaced)} unknown (no sysfs device path)", want,
                              f"bridges on the known paths: {path}"))
    if results:
        r = worst(results)
        r.evidence = {"bridges": sorted(f.bad), "path": list(f.via), "nic": nic, **r.evidence}
        return r
    return passed("ACS off on the GPU<->NIC path", expected=want, found=f"bridges checked: {path}")


IOMMU_FIX = {
    "passthrough": "add iommu=pt (keeping intel_iommu=on / amd_iommu=on if SR-IOV needs it) to the kernel "
                   "command line (GRUB_CMDLINE_LINUX), update-grub, reboot",
    "off": "add intel_iommu=off (or amd_iommu=off) to the kernel command line, or disable VT-d/IOMMU in the BIOS",
}


def iommu_mode(cmdline: str) -> str:
    """passthrough | off | on | default (no IOMMU option on the kernel command line)."""
    params: dict[str, str] = {}
    for tok in cmdline.split():
        k, _, v = tok.partition("=")
        params[k] = v
    if params.get("iommu") == "off" or "off" in (params.get("intel_iommu", ""), params.get("amd_iommu", "")):
        return "off"
    if params.get("iommu") == "pt" or params.get("iommu.passthrough") in ("1", "y", "on"):
        return "passthrough"
    if (params.get("intel_iommu", "").startswith("on") or params.get("amd_iommu") in ("on", "force_isolation")
            or params.get("iommu") in ("force", "on") or params.get("iommu.passthrough") in ("0", "n", "off")):
        return "on"
    return "default"


@check("pcie.iommu", "IOMMU mode suits GPUDirect", scope="node", designs=DESIGNS, applies=gpudirect_applies)
def iommu(ctx: NodeContext) -> Result:
    """The IOMMU mode read from ``/proc/cmdline`` (``iommu=pt`` passthrough; ``intel_iommu=off`` /
    ``amd_iommu=off`` off; ``intel_iommu=on`` translated DMA, which can route GPU peer-to-peer
    through the root complex). A mismatch with ``gpudirect.iommu`` is a warning unless
    ``gpudirect.iommu_required`` is set."""
    gd = ctx.profile.gpudirect
    cmdline = ctx.facts.system.cmdline
    if cmdline is None:
        return warned("kernel command line unreadable: IOMMU mode unknown", found="/proc/cmdline not collected")
    mode = iommu_mode(cmdline)
    found = f"IOMMU {mode} (/proc/cmdline: {cmdline[:300]})"
    if gd.iommu == "any":
        return passed(f"IOMMU {mode} (any accepted)", expected="any IOMMU mode (recorded)", found=found, mode=mode)
    want = f"IOMMU {gd.iommu}"
    if mode == gd.iommu:
        return passed(want, expected=want, found=found, mode=mode)
    summary = f"IOMMU is {mode}, expected {gd.iommu}"
    if mode == "on":
        summary += ": translated DMA can send GPU peer-to-peer through the CPU (slow, or hangs)"
    make = failed if gd.iommu_required else warned
    return make(summary, want, found, fix=IOMMU_FIX[gd.iommu], mode=mode)
