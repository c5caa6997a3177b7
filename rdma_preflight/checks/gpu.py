"""GPUDirect RDMA checks (area ``gpu``): peer-memory module, gdrcopy, GPU <-> rail NIC affinity."""

from __future__ import annotations

from ..facts.gpu import PEERMEM_MODULES, GpuFacts
from ..facts.pcie import PcieFacts
from .context import NodeContext, Rail
from .registry import check
from .result import Result, failed, passed, skipped

DESIGNS = "designs with gpudirect.enabled (RoCE and InfiniBand)"
CLOSE = ("PIX", "PXB")


def gpudirect_applies(profile) -> str | None:
    return None if profile.gpudirect.enabled else "gpudirect.enabled is false in the profile"


def gpu_facts(ctx: NodeContext) -> GpuFacts:
    return ctx.facts.gpu if isinstance(ctx.facts.gpu, GpuFacts) else GpuFacts()


def pcie_facts(ctx: NodeContext) -> PcieFacts:
    return ctx.facts.pcie if isinstance(ctx.facts.pcie, PcieFacts) else PcieFacts()


@check("gpu.peermem", "nvidia_peermem loaded", scope="node", designs=DESIGNS,
       applies=lambda p: gpudirect_applies(p) or (None if p.gpudirect.peermem else "gpudirect.peermem is false"),
       remediation="apply")
def peermem(ctx: NodeContext) -> Result:
    """The GPU peer-memory module is loaded (``nvidia_peermem``, or the legacy ``nv_peer_mem``),
    so the RDMA stack can register GPU memory (``lsmod | grep nvidia_peermem``)."""
    g = gpu_facts(ctx)
    want = "nvidia_peermem (or legacy nv_peer_mem) loaded"
    if not g.modules_readable:
        return failed("loaded modules unknown", want, "/proc/modules not readable")
    if g.peermem:
        return passed(f"{g.peermem} loaded", expected=want, found=g.peermem_seen_as)
    found = f"none of {', '.join(PEERMEM_MODULES)} in /proc/modules"
    if g.nvidia_loaded is False:
        found += " (the nvidia driver itself is not loaded)"
    return failed("GPU peer-memory module not loaded: GPUDirect RDMA falls back to host memory", want, found,
                  fix="modprobe nvidia_peermem; make it permanent with gpu-operator "
                      "--set driver.rdma.enabled=true (useHostMofed=true with host MLNX_OFED) or /etc/modules-load.d")


@check("gpu.gdrcopy", "gdrcopy driver loaded and /dev/gdrdrv present", scope="node", designs=DESIGNS,
       applies=lambda p: gpudirect_applies(p) or (None if p.gpudirect.gdrcopy else "gpudirect.gdrcopy is false"))
def gdrcopy(ctx: NodeContext) -> Result:
    """``gdrdrv`` is loaded and ``/dev/gdrdrv`` exists (gpu-operator ``gdrcopy.enabled=true``)."""
    g = gpu_facts(ctx)
    want = "gdrdrv loaded and /dev/gdrdrv present"
    found = (f"gdrdrv {'loaded' if g.gdrdrv else 'not loaded' if g.modules_readable else 'unknown'}, "
             f"/dev/gdrdrv {'present' if g.dev_gdrdrv else 'absent'}")
    if g.gdrdrv and g.dev_gdrdrv:
        return passed("gdrdrv loaded, /dev/gdrdrv present", expected=want, found=found)
    fix = ("create the device node: mknod /dev/gdrdrv c <major of gdrdrv in /proc/devices> 0"
           if g.gdrdrv else "install gdrcopy (gpu-operator --set gdrcopy.enabled=true) and load gdrdrv")
    return failed("gdrcopy not ready", want, found, fix=fix)


def _close_gpus_topo(g: GpuFacts, dev: str) -> tuple[list[str], str]:
    topo = g.topo
    try:
        col = topo.column(dev)
    except KeyError:
        return [], f"{dev} not in the nvidia-smi topo matrix"
    cells = {gpu: topo.cells[gpu][col] for gpu in topo.gpus}
    close = [gpu for gpu, c in cells.items() if c in CLOSE]
    return close, ", ".join(f"{gpu} {c}" for gpu, c in cells.items()) or "no GPU in the matrix"


def _close_gpus_tree(p: PcieFacts, nic: str | None) -> tuple[list[str], str]:
    if nic is None or p.get(nic) is None or not p.get(nic).chain:
        return [], f"PCIe position of {nic or 'the NIC'} unknown"
    rel = {gpu: p.relation(gpu, nic) or "?" for gpu in p.gpus}
    return [gpu for gpu, r in rel.items() if r in CLOSE], ", ".join(f"{gpu} {r}" for gpu, r in rel.items())


def one_to_one(close: dict[str, list[str]]) -> dict[str, str] | None:
    """A pairing giving every rail its own close GPU (bipartite matching), or None."""
    owner: dict[str, str] = {}

    def assign(rail: str, seen: set[str]) -> bool:
        for gpu in close[rail]:
            if gpu in seen:
                continue
            seen.add(gpu)
            if gpu not in owner or assign(owner[gpu], seen):
                owner[gpu] = rail
                return True
        return False

    for rail in close:
        if not assign(rail, set()):
            return None
    return {rail: gpu for gpu, rail in owner.items()}


def _source(ctx: NodeContext, rails: list[Rail]) -> str:
    """nvidia-smi topo when it parsed and names every rail NIC, else the PCI tree."""
    g = gpu_facts(ctx)
    if g.topo is None:
        return "tree"
    for r in rails:
        if not r.rdma_devices:
            return "tree"
        try:
            g.topo.column(r.rdma_devices[0])
        except KeyError:
            return "tree"
    return "topo"


@check("gpu.nic_affinity", "Each rail NIC shares a PCIe switch with a GPU", scope="node", designs=DESIGNS,
       applies=lambda p: gpudirect_applies(p) or (None if p.gpudirect.nic_affinity != "off"
                                                  else "gpudirect.nic_affinity is off"))
def nic_affinity(ctx: NodeContext) -> Result:
    """Every rail NIC is PIX or PXB (behind the same PCIe switch, not across the host bridge or
    socket) to at least one GPU, read from ``nvidia-smi topo -m`` (NIC legend) or, without it,
    from the PCIe tree; with ``nic_affinity: one_to_one`` each rail gets a GPU of its own."""
    rails = [r for r in ctx.rails if r.found]
    if not rails:
        return skipped("no rail NIC found on the node (see net.rail_count)")
    g, p = gpu_facts(ctx), pcie_facts(ctx)
    source = _source(ctx, rails)
    if (source == "topo" and not g.topo.gpus) or (source == "tree" and not p.gpus):
        return failed("no NVIDIA GPU found on the node", "at least one GPU (PCI vendor 0x10de, class 0x0300/0x0302)",
                      "none" + (f" ({g.topo_problem})" if g.topo_problem else ""),
                      fix="check the GPU driver and PCIe (`lspci -d 10de:`), or set gpudirect.enabled: false "
                          "for this node")
    label = "nvidia-smi topo -m" if source == "topo" else "PCIe tree (" + (g.topo_problem or "topo lacks a rail NIC") + ")"
    close: dict[str, list[str]] = {}
    lines = []
    for r in rails:
        nd = ctx.facts.netdevs.get(r.netdev)
        if source == "topo":
            close[r.name], cells = _close_gpus_topo(g, r.rdma_devices[0])
        else:
            close[r.name], cells = _close_gpus_tree(p, nd.pci if nd else None)
        lines.append(f"{r.name} ({r.netdev}{'/' + r.rdma_devices[0] if r.rdma_devices else ''}): {cells}")
    found = "; ".join(lines) + f" [from {label}]"
    far = [n for n, gpus in close.items() if not gpus]
    want = "each rail NIC PIX or PXB to a GPU"
    if far:
        return failed(f"{', '.join(far)}: no GPU behind the same PCIe switch (PIX/PXB)", want, found,
                      fix="GPU<->NIC placement is physical: move the NIC (or GPU) to a slot under the same PCIe "
                          "switch, or accept the lower GPUDirect bandwidth (waiver)", far=far, source=source)
    if ctx.profile.gpudirect.nic_affinity == "one_to_one":
        want = "each rail NIC PIX/PXB to a GPU of its own (one-to-one)"
        pairing = one_to_one(close)
        if pairing is None:
            return failed("rail NICs cannot each get their own close GPU (not one-to-one)", want, found,
                          fix="rebalance NICs across the PCIe switches so each has its own GPU", source=source)
        return passed("one-to-one GPU<->NIC pairing", expected=want,
                      found="; ".join(f"{r}: {gpu}" for r, gpu in pairing.items()) + f" [from {label}]")
    return passed("every rail NIC is PIX/PXB to a GPU", expected=want, found=found)
