"""Evaluate every k8s.* check on a node as the harness does: host facts from a synthetic
snapshot, cluster facts gathered from the API double through the real client."""

from __future__ import annotations

from rdma_preflight.checks.context import NodeContext
from rdma_preflight.checks.registry import REGISTRY, load_all
from rdma_preflight.checks.result import Outcome, Result, skipped
from rdma_preflight.k8s.facts import ClusterFacts
from rdma_preflight.profile.schema import Profile

from .cluster import Cluster
from .host import Host

Key = tuple[str, str | None]
BAD = (Outcome.FAIL, Outcome.WARN, Outcome.ERROR)


def run_all(ctx: NodeContext) -> dict[Key, Result]:
    load_all()
    out: dict[Key, Result] = {}
    for cid, spec in sorted(REGISTRY.items()):
        if not cid.startswith("k8s."):
            continue
        reason = spec.not_applicable(ctx.profile)
        if spec.scope == "rail":
            for r in ctx.rails:
                out[(cid, r.name)] = skipped(reason) if reason else (
                    spec.fn(ctx, r) if r.found else skipped(f"{r.name}: NIC not found"))
        else:
            out[(cid, None)] = skipped(reason) if reason else spec.fn(ctx)
    return out


def node_results(cluster: Cluster | ClusterFacts | None, host: Host, profile: Profile | None = None
                 ) -> dict[Key, Result]:
    ctx = host.ctx(profile)
    ctx.cluster = cluster.facts() if isinstance(cluster, Cluster) else cluster
    return run_all(ctx)


def findings(results: dict[Key, Result]) -> dict[Key, Result]:
    return {k: r for k, r in results.items() if r.outcome in BAD}


def text(r: Result) -> str:
    return "\n".join((r.summary, r.expected, r.found, r.fix))
