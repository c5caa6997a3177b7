"""Pairing strategies (bandwidth-practice.md §3).

A :class:`Job` sends from ``src`` (the ``ib_write_bw`` client: it writes) to ``dst`` (the
server) on a set of rails, all rails at once, rail r to rail r. A :class:`Round` holds
jobs that may run together: every (node, rail) transmits at most once and receives at
most once, so no NIC carries two flows in one direction (:func:`check_round`).

* ``ring``: i -> i+1, then i+1 -> i: every node sends and receives once per round, both
  directions of every neighbour pair, 2 rounds whatever the node count (1 for two nodes).
* ``tournament``: the circle method, every pair in N-1 rounds (N rounds when N is odd:
  one node rests per round), both directions of a pair in the same round.
* ``pairs``: from a file, lines ``node-a node-b`` (packed into rounds) or
  ``<round> node-a node-b`` (ClusterKit ``-f``); ``#`` starts a comment.
* retests: :func:`pack` puts any flows into as few rounds as the constraint allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from . import names

STRATEGIES = ("ring", "tournament", "pairs")


class ScheduleError(ValueError):
    """An impossible plan (too few nodes, a bad pairs file, an overloaded round)."""


@dataclass(frozen=True, order=True)
class Flow:
    """One measured direction on one rail: ``src`` writes to ``dst``."""

    src: str
    dst: str
    rail: str

    @property
    def id(self) -> str:
        return f"{self.src}->{self.dst}:{self.rail}"

    @property
    def reverse(self) -> "Flow":
        return Flow(self.dst, self.src, self.rail)


@dataclass(frozen=True)
class Job:
    src: str
    dst: str
    rails: tuple[str, ...]

    def flows(self) -> list[Flow]:
        return [Flow(self.src, self.dst, r) for r in self.rails]


@dataclass(frozen=True)
class Round:
    index: int
    jobs: tuple[Job, ...]
    retest: bool = False

    def flows(self) -> list[Flow]:
        return [f for j in self.jobs for f in j.flows()]

    @property
    def nodes(self) -> set[str]:
        return {n for j in self.jobs for n in (j.src, j.dst)}


def check_round(rnd: Round) -> None:
    """Refuse a round in which a (node, rail) would send or receive twice, or a node talks to itself."""
    tx: set[tuple[str, str]] = set()
    rx: set[tuple[str, str]] = set()
    for f in rnd.flows():
        if f.src == f.dst:
            raise ScheduleError(f"round {rnd.index}: {f.src} paired with itself")
        for used, key, what in ((tx, (f.src, f.rail), "sends"), (rx, (f.dst, f.rail), "receives")):
            if key in used:
                raise ScheduleError(f"round {rnd.index}: {key[0]} {what} twice on {key[1]}")
            used.add(key)


def _nodes(nodes: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(names.node(n) for n in nodes))
    if len(out) < 2:
        raise ScheduleError(f"a bandwidth run needs at least 2 nodes, got {len(out)}")
    return out


def _both(a: str, b: str, rails: tuple[str, ...]) -> list[Job]:
    return [Job(a, b, rails), Job(b, a, rails)]


def ring(nodes: Sequence[str], rails: Sequence[str]) -> list[Round]:
    ns, rs = _nodes(nodes), tuple(rails)
    n = len(ns)
    forward = tuple(Job(ns[i], ns[(i + 1) % n], rs) for i in range(n))
    if n == 2:
        return [Round(1, forward)]
    backward = tuple(Job(ns[(i + 1) % n], ns[i], rs) for i in range(n))
    return [Round(1, forward), Round(2, backward)]


def tournament(nodes: Sequence[str], rails: Sequence[str]) -> list[Round]:
    ns, rs = _nodes(nodes), tuple(rails)
    circle: list[str | None] = list(ns) + ([None] if len(ns) % 2 else [])
    size = len(circle)
    rounds = []
    for r in range(size - 1):
        jobs: list[Job] = []
        for i in range(size // 2):
            a, b = circle[i], circle[size - 1 - i]
            if a is not None and b is not None:
                jobs += _both(a, b, rs)
        rounds.append(Round(r + 1, tuple(jobs)))
        circle = [circle[0], circle[-1], *circle[1:-1]]
    return rounds


def parse_pairs(text: str, source: str = "pairs file") -> list[tuple[int | None, str, str]]:
    """``node-a node-b`` or ``<round> node-a node-b`` per line; ``#`` comments."""
    out: list[tuple[int | None, str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        rnd: int | None = None
        if len(words) == 3 and words[0].isdigit():
            rnd, words = int(words[0]), words[1:]
        if len(words) != 2:
            raise ScheduleError(f"{source}:{number}: expected 'node-a node-b' or '<round> node-a node-b'")
        try:
            a, b = names.node(words[0]), names.node(words[1])
        except names.BadName as exc:
            raise ScheduleError(f"{source}:{number}: {exc}") from None
        if a == b:
            raise ScheduleError(f"{source}:{number}: {a} paired with itself")
        out.append((rnd, a, b))
    if not out:
        raise ScheduleError(f"{source}: no pairs")
    if len({r is None for r, _, _ in out}) > 1:
        raise ScheduleError(f"{source}: give a round number on every line or on none")
    return out


def pairs(pairs: Sequence[tuple[int | None, str, str]], nodes: Sequence[str], rails: Sequence[str]) -> list[Round]:
    known, rs = set(_nodes(nodes)), tuple(rails)
    unknown = sorted({n for _, a, b in pairs for n in (a, b)} - known)
    if unknown:
        raise ScheduleError(f"pairs name nodes outside the run: {', '.join(unknown)}")
    if pairs[0][0] is None:
        return pack([f for _, a, b in pairs for j in _both(a, b, rs) for f in j.flows()])
    by_round: dict[int, list[Job]] = {}
    for rnd, a, b in pairs:
        by_round.setdefault(rnd or 0, []).extend(_both(a, b, rs))
    rounds = [Round(i + 1, tuple(by_round[k])) for i, k in enumerate(sorted(by_round))]
    for r in rounds:
        check_round(r)
    return rounds


def pack(flows: Iterable[Flow], first_index: int = 1, retest: bool = False) -> list[Round]:
    """Greedy: each flow goes to the first round where its src may send and dst receive;
    flows of the same (src, dst) in a round share one job (their rails run together)."""
    slots: list[tuple[set[tuple[str, str]], set[tuple[str, str]], dict[tuple[str, str], list[str]]]] = []
    for f in dict.fromkeys(flows):
        for tx, rx, jobs in slots:
            if (f.src, f.rail) not in tx and (f.dst, f.rail) not in rx:
                break
        else:
            tx, rx, jobs = set(), set(), {}
            slots.append((tx, rx, jobs))
        tx.add((f.src, f.rail))
        rx.add((f.dst, f.rail))
        jobs.setdefault((f.src, f.dst), []).append(f.rail)
    return [Round(first_index + i, tuple(Job(s, d, tuple(r)) for (s, d), r in jobs.items()), retest)
            for i, (_, _, jobs) in enumerate(slots)]


def plan(strategy: str, nodes: Sequence[str], rails: Sequence[str],
         pairs_text: str | None = None, pairs_source: str = "pairs file") -> list[Round]:
    for r in rails:
        names.rail(r)
    if not rails:
        raise ScheduleError("no rails to measure")
    if strategy == "ring":
        rounds = ring(nodes, rails)
    elif strategy == "tournament":
        rounds = tournament(nodes, rails)
    elif strategy == "pairs":
        if pairs_text is None:
            raise ScheduleError("strategy 'pairs' needs a pairs file")
        rounds = pairs(parse_pairs(pairs_text, pairs_source), nodes, rails)
    else:
        raise ScheduleError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    for r in rounds:
        check_round(r)
    return rounds


def planned_flows(rounds: Iterable[Round]) -> list[Flow]:
    """Every flow of the plan once, in round order (the pytest items)."""
    return list(dict.fromkeys(f for r in rounds for f in r.flows()))
