"""GPUDirect facts: the peer-memory and gdrcopy modules, /dev/gdrdrv, and the GPU/NIC
topology matrix from ``nvidia-smi topo -m`` (GPUs themselves are PCI facts: facts/pcie.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..parsers.base import ParseError

PEERMEM_MODULES = ("nvidia_peermem", "nv_peer_mem")    # current name, legacy MLNX name


@dataclass
class GpuFacts:
    modules_readable: bool = False
    peermem: str | None = None               # the peer-memory module loaded, if any
    peermem_seen_as: str = ""                # how it was seen: own line, or as another module's user
    gdrdrv: bool = False
    dev_gdrdrv: bool = False
    nvidia_loaded: bool | None = None
    topo: object | None = None               # parsers.nvidia_smi_topo.Topology
    topo_problem: str = ""                   # why the matrix is not available
    problems: list[str] = field(default_factory=list)


def _topology(snap, out: GpuFacts) -> None:
    from ..parsers import nvidia_smi_topo

    text = snap.cmd_text("nvidia_smi_topo")
    if text is None:
        out.topo_problem = ("nvidia-smi is not installed" if "nvidia-smi" in snap.missing
                            else "nvidia-smi topo -m did not run or failed")
        return
    try:
        out.topo = nvidia_smi_topo.parse(text)
    except ParseError as exc:
        out.topo_problem = f"nvidia-smi topo -m output could not be read: {exc}"
        out.problems.append(out.topo_problem)


def _peermem(mods: dict) -> tuple[str | None, str]:
    """The peer-memory module: its own /proc/modules line, or (in a partial listing) the
    'used by' column of another module (``nvidia ... nvidia_uvm,nvidia_peermem``)."""
    for name in PEERMEM_MODULES:
        if name in mods:
            return name, f"{name} in /proc/modules"
    for name in PEERMEM_MODULES:
        users = sorted(m.name for m in mods.values() if name in m.used_by)
        if users:
            return name, f"{name} listed as a user of {', '.join(users)}"
    return None, ""


def from_snapshot(snap, facts) -> GpuFacts:
    out = GpuFacts(dev_gdrdrv="/dev/gdrdrv" in facts.system.dev_exists)
    mods = facts.system.modules
    if mods is not None:
        out.modules_readable = True
        out.peermem, out.peermem_seen_as = _peermem(mods)
        out.gdrdrv = "gdrdrv" in mods
        out.nvidia_loaded = "nvidia" in mods
    else:
        out.problems.append("/proc/modules was not readable: loaded modules unknown")
    _topology(snap, out)
    return out
