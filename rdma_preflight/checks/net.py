"""Host network checks (area ``net``): rails, MTU, addresses, policy routing, RDMA rule."""

from __future__ import annotations

from .context import NodeContext
from .registry import check
from .result import Result, failed, passed


@check("net.rail_count", "The profile's rails are found on the node", scope="node")
def rail_count(ctx: NodeContext) -> Result:
    """Every rail the profile names resolves to exactly one netdev (by netdev name, PCI
    address, RDMA device or position among RDMA netdevs in PCI order), and the count matches
    ``expected_rails``."""
    want = ctx.profile.expected_rails or len(ctx.rails)
    found = [r for r in ctx.rails if r.found]
    missing = [r for r in ctx.rails if not r.found]
    mapping = ", ".join(f"{r.name}={r.netdev}" for r in found) or "none"
    if len(found) == want and not missing:
        return passed(f"{len(found)} rail(s) found", expected=f"{want} rails", found=mapping)
    detail = "; ".join(f"{r.name} ({r.spec.nic.describe()}): {r.problem}" for r in missing)
    return failed(
        f"{len(found)} of {want} rails found",
        expected=f"{want} rails ({', '.join(f'{r.name}: {r.spec.nic.describe()}' for r in ctx.rails)})",
        found=f"{mapping}" + (f"; missing: {detail}" if detail else ""),
        fix="check cabling/driver for the missing NICs (`rdma link`, `ip -br link`), or correct the "
            "rail's `nic:` selector in the profile",
        missing=[r.name for r in missing])
