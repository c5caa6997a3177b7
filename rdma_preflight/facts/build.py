"""Snapshot (+ optional live netlink) -> NodeFacts. Pure except for the netlink read."""

from __future__ import annotations

from ..collect.snapshot import Snapshot
from . import netdev as netdev_mod
from . import rdma as rdma_mod
from . import system as system_mod
from .model import NodeFacts
from .net import NetFacts, NetFactsError, add_sysctls, from_ip_json, from_netlink


class FactsError(Exception):
    """The node's evidence cannot be turned into facts (the node is reported as an error)."""


def build_facts(snap: Snapshot, netlink_ns: str | None = None, target: str = "",
                netlink_timeout: float | None = None) -> NodeFacts:
    """Decode a snapshot. ``netlink_ns``: read network state live through pyroute2 instead
    of the collector's ``ip -j`` output ("" = this namespace, None = use the snapshot);
    ``netlink_timeout`` bounds that read (Timeouts.netlink_read; None: unbounded)."""
    notes: list[str] = []
    if netlink_ns is not None:
        net = _read_netlink(netlink_ns, netlink_timeout)
    else:
        missing = [c for c in ("ip_link", "ip_addr", "ip_rule", "ip_route") if snap.cmd_text(c) is None]
        if "ip" in snap.missing:
            raise FactsError("iproute2 'ip' is not installed on the node: network facts unavailable")
        if missing:
            out = snap.cmd(missing[0])
            why = (out.stderr.decode(errors="replace").strip()[:200] if out else "not collected") or f"exit {out.rc}"
            raise FactsError(f"'ip -j' output missing for {', '.join(missing)}: {why}")
        try:
            net = from_ip_json(snap.cmd_text("ip_link"), snap.cmd_text("ip_addr"),
                               snap.cmd_text("ip_rule"), snap.cmd_text("ip_route"))
        except NetFactsError as exc:
            raise FactsError(str(exc)) from None
        if not snap.cmd_text("ip_link").strip():   # issue 9: say so rather than show a node without NICs
            notes.append("'ip -j -d link show' printed nothing: the node's interfaces are unknown")
    add_sysctls(net, snap)
    devs = netdev_mod.from_snapshot(snap)
    rdma = rdma_mod.from_snapshot(snap, devs)
    system = system_mod.from_snapshot(snap)
    facts = NodeFacts(node=snap.node, snapshot=snap, net=net, netdevs=devs, rdma=rdma,
                      system=system, target=target, notes=notes)
    for area in OPTIONAL_AREAS:
        mod = _area_module(area)
        if mod is not None:
            setattr(facts, area, mod.from_snapshot(snap, facts))
    return facts


OPTIONAL_AREAS = ("qos", "pcie", "gpu")


def _read_netlink(netns: str, timeout: float | None) -> NetFacts:
    if timeout is None:
        return from_netlink(netns)
    from ..timeouts import Overdue, bounded

    try:
        return bounded(lambda: from_netlink(netns), timeout, name=f"rpf-netlink-{netns or 'self'}")
    except Overdue:
        raise FactsError(f"netlink read of {'namespace ' + netns if netns else 'this host'} "
                         f"gave no answer within {timeout:g}s") from None


def _area_module(area: str):
    """Area fact builders live in facts/<area>.py with ``from_snapshot(snap, facts)``."""
    import importlib

    name = f"{__package__}.{area}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
