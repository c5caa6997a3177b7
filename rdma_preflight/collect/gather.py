"""Gather facts: one collector execution per node, nodes concurrently, errors kept per node."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..facts.build import FactsError, build_facts
from ..facts.model import NodeFacts
from ..targets.base import OutputTooLarge, Target, TargetError, TimedOut
from ..targets.snapshot import SnapshotTarget
from .snapshot import Snapshot
from ..timeouts import DEFAULTS
from .redact import redact_snapshot
from .stream import StreamError, bytes_after_end, decode_stream, new_nonce

DEFAULT_COLLECT_TIMEOUT = DEFAULTS.collect     # kept for callers; timeouts live in rdma_preflight/timeouts.py
# the reason's prefix when a node answered with something that is not a complete collector
# stream (random bytes, a truncated or replayed stream, output without end)
GARBLED = "garbled collector stream"


@dataclass
class Gathered:
    node: str
    target: str
    facts: NodeFacts | None = None
    error: str | None = None
    seconds: float = 0.0
    round_trips: int = 0


def collect_snapshot(target: Target, timeout: float | None = None, options: str = "") -> Snapshot:
    """Run the collector once on the node and decode its stream (raises TargetError).

    ``timeout`` bounds the whole run (default: ``target.timeouts.collect``); each command on
    the node is bounded by ``target.timeouts.command``."""
    if isinstance(target, SnapshotTarget):
        snap = target.load()
        return snap
    nonce = new_nonce()
    argv, stdin = target.collector_command(nonce, options)
    try:
        res = target.run(argv, stdin=stdin, timeout=target.timeouts.collect if timeout is None else timeout)
    except OutputTooLarge as exc:
        raise TargetError(target.node, f"{GARBLED}: {exc.reason}") from None
    except TimedOut as exc:
        # the stream ended and the node kept printing: garbage, whatever the link's speed made
        # come first, the size cap or the collect timeout (issue 9, chaos run)
        extra = bytes_after_end(exc.partial, nonce)
        if extra:
            raise TargetError(target.node, f"{GARBLED}: output went on after the end record ({extra} more bytes "
                                           f"when the collect timeout cut it: {exc.reason})") from None
        raise
    if not res.stdout:
        err = res.stderr.decode(errors="replace").strip().splitlines()
        raise TargetError(target.node, f"collector printed nothing (exit {res.rc})"
                          + (f": {err[-1][:300]}" if err else ""))
    try:
        snap = decode_stream(res.stdout, nonce, target.node)
    except StreamError as exc:
        raise TargetError(target.node, f"{GARBLED}: {exc}") from None
    snap.meta.setdefault("target", target.url)
    redact_snapshot(snap)                 # before anything is stored or evaluated
    return snap


def gather_node(target: Target, timeout: float | None = None, options: str = "") -> Gathered:
    t0 = time.monotonic()
    g = Gathered(node=target.node, target=target.url)
    try:
        snap = collect_snapshot(target, timeout, options)
        if isinstance(target, SnapshotTarget) and snap.node and snap.node != target.node:
            snap.meta.setdefault("snapshot_node", snap.node)
        snap.node = target.node
        facts = build_facts(snap, netlink_ns=target.netlink_namespace(), target=target.url,
                            netlink_timeout=target.timeouts.netlink_read)
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


def gather_all(targets: Iterable[Target], concurrency: int = 16, timeout: float | None = None,
               on_done: Callable[[Gathered, int, int], None] | None = None, options: str = "") -> dict[str, Gathered]:
    targets = list(targets)
    out: dict[str, Gathered] = {}
    if not targets:
        return out
    if all(t.offline for t in targets):
        # snapshot replay is pure CPU: threads only add GIL hand-offs (a fifth of a 1,000-node
        # replay), so read them in turn
        for i, t in enumerate(targets, start=1):
            g = gather_node(t, timeout, options)
            out[g.node] = g
            if on_done:
                on_done(g, i, len(targets))
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
