"""Gather facts: one collector execution per node, nodes concurrently, errors kept per node."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..facts.build import FactsError, build_facts
from ..facts.model import NodeFacts
from ..targets.base import Target, TargetError
from ..targets.snapshot import SnapshotTarget
from .snapshot import Snapshot
from .stream import StreamError, decode_stream, new_nonce

DEFAULT_COLLECT_TIMEOUT = 60.0


@dataclass
class Gathered:
    node: str
    target: str
    facts: NodeFacts | None = None
    error: str | None = None
    seconds: float = 0.0
    round_trips: int = 0


def collect_snapshot(target: Target, timeout: float = DEFAULT_COLLECT_TIMEOUT, options: str = "") -> Snapshot:
    """Run the collector once on the node and decode its stream (raises TargetError)."""
    if isinstance(target, SnapshotTarget):
        snap = target.load()
        return snap
    nonce = new_nonce()
    argv, stdin = target.collector_command(nonce, options)
    res = target.run(argv, stdin=stdin, timeout=timeout)
    if not res.stdout:
        err = res.stderr.decode(errors="replace").strip().splitlines()
        raise TargetError(target.node, f"collector printed nothing (exit {res.rc})"
                          + (f": {err[-1][:300]}" if err else ""))
    try:
        snap = decode_stream(res.stdout, nonce, target.node)
    except StreamError as exc:
        raise TargetError(target.node, f"collector output rejected: {exc}") from None
    snap.meta.setdefault("target", target.url)
    return snap


def gather_node(target: Target, timeout: float = DEFAULT_COLLECT_TIMEOUT, options: str = "") -> Gathered:
    t0 = time.monotonic()
    g = Gathered(node=target.node, target=target.url)
    try:
        snap = collect_snapshot(target, timeout, options)
        if isinstance(target, SnapshotTarget) and snap.node and snap.node != target.node:
            snap.meta.setdefault("snapshot_node", snap.node)
        snap.node = target.node
        facts = build_facts(snap, netlink_ns=target.netlink_namespace(), target=target.url)
        facts.round_trips = target.round_trips
        g.facts = facts
    except (TargetError, FactsError) as exc:
        g.error = getattr(exc, "reason", None) or str(exc)
    except Exception as exc:  # a bug or hostile data must not stop the other nodes
        g.error = f"internal error while gathering facts: {type(exc).__name__}: {exc}"
    finally:
        g.seconds = time.monotonic() - t0
        g.round_trips = target.round_trips
        if g.facts is not None:
            g.facts.collect_seconds = g.seconds
        try:
            target.close()
        except Exception:
            pass
    return g


def gather_all(targets: Iterable[Target], concurrency: int = 16, timeout: float = DEFAULT_COLLECT_TIMEOUT,
               on_done: Callable[[Gathered, int, int], None] | None = None, options: str = "") -> dict[str, Gathered]:
    targets = list(targets)
    out: dict[str, Gathered] = {}
    if not targets:
        return out
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets))))
    try:
        futs = {pool.submit(gather_node, t, timeout, options): t for t in targets}
        for i, fut in enumerate(concurrent.futures.as_completed(futs), start=1):
            g = fut.result()
            out[g.node] = g
            if on_done:
                on_done(g, i, len(targets))
    except BaseException:
        # Ctrl-C / SIGTERM: stop queued nodes, kill running collectors, don't wait for them
        pool.shutdown(wait=False, cancel_futures=True)
        from ..targets.kube import delete_live_pods
        from ..targets.local import kill_all_children

        kill_all_children()
        delete_live_pods()
        raise
    pool.shutdown(wait=True)
    return {t.node: out[t.node] for t in targets}
