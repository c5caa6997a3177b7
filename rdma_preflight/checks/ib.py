"""InfiniBand checks (area ``ib``): a subnet manager serves every rail port, IPoIB is loaded."""

from __future__ import annotations

from ..facts.rdma import RdmaPort
from .context import NodeContext, Rail
from .rdma import loaded_modules, rail_ports
from .registry import check, ib_only
from .result import Result, failed, passed, worst

SM_FIX = ("start a subnet manager for the fabric: `systemctl enable --now opensm` on one host, or "
          "check UFM / the managed switch's SM; `sminfo` shows the master SM")


@check("ib.sm", "Subnet manager: port LID assigned and SM LID non-zero", applies=ib_only, designs="InfiniBand")
def sm(ctx: NodeContext, rail: Rail) -> Result:
    """Every InfiniBand port of the rail has a LID (``lid`` != 0) and knows its subnet manager
    (``sm_lid`` != 0): sysfs, else ``rdma link`` / ``ibstat`` / ``ibv_devinfo``. Without an SM
    a port stays in INIT and carries no traffic."""
    ports, problem = rail_ports(ctx, rail)
    if problem:
        return problem
    return worst([_sm_one(ctx, p) for p in ports])


def _sm_one(ctx: NodeContext, p: RdmaPort) -> Result:
    found = (f"{p.name}: lid {_hex(p.lid)}, sm_lid {_hex(p.sm_lid)} "
             f"(from {p.sources.get('sm_lid', p.sources.get('lid', 'nowhere'))}), state {p.state or 'unknown'}")
    if p.lid is None or p.sm_lid is None:
        why = ctx.facts.rdma.tool_problem("rdma_link", "ibstat", "ibv_devinfo")
        return failed(f"{p.name} LID / SM LID unknown", "lid != 0 and sm_lid != 0", found + (f"; {why}" if why else ""),
                      fix="re-run with sysfs readable or infiniband-diags (ibstat) installed")
    if p.sm_lid == 0:
        return failed(f"{p.name} knows no subnet manager (SM LID 0)", "sm_lid != 0", found, fix=SM_FIX,
                      port=p.name, lid=p.lid, sm_lid=p.sm_lid)
    if p.lid == 0:
        return failed(f"{p.name} has no LID assigned", "lid != 0", found, fix=SM_FIX, port=p.name, lid=p.lid)
    return passed(f"{p.name} LID {_hex(p.lid)}, SM LID {_hex(p.sm_lid)}", expected="lid != 0 and sm_lid != 0",
                  found=found, lid=p.lid, sm_lid=p.sm_lid)


def _hex(v: int | None) -> str:
    return "unknown" if v is None else f"{v} ({v:#x})"


@check("ib.ipoib", "ib_ipoib loaded (IPoIB)", scope="node", applies=ib_only, designs="InfiniBand",
       remediation="apply")
def ipoib(ctx: NodeContext) -> Result:
    """The ``ib_ipoib`` module is loaded (``lsmod | grep ib_ipoib``): the IPoIB netdevs that carry
    the rail addresses exist only with it."""
    loaded, source = loaded_modules(ctx)
    if loaded is None:
        return failed("cannot tell whether ib_ipoib is loaded", "ib_ipoib loaded", source,
                      fix="re-run the collector as a user that can read /proc/modules")
    if "ib_ipoib" in loaded:
        return passed("ib_ipoib loaded", expected="ib_ipoib loaded", found=f"ib_ipoib in {source}")
    return failed("ib_ipoib is not loaded", "ib_ipoib loaded", f"not in {source}",
                  fix="modprobe ib_ipoib (persist: echo ib_ipoib > /etc/modules-load.d/ib_ipoib.conf)")
