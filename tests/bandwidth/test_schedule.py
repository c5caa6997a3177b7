"""Pairing strategies: rounds promised, every NIC sends and receives at most once per round."""

from __future__ import annotations

from collections import Counter
from itertools import permutations

import pytest

from rdma_preflight.bandwidth import schedule
from rdma_preflight.bandwidth.schedule import Flow, ScheduleError

RAILS = ["rail1", "rail2"]


def nodes(n: int) -> list[str]:
    return [f"node-{i}" for i in range(1, n + 1)]


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 17, 64, 65])
def test_ring_is_two_rounds_whatever_the_size_and_each_node_sends_and_receives_once(n: int) -> None:
    rounds = schedule.ring(nodes(n), RAILS)
    assert len(rounds) == (1 if n == 2 else 2)
    for rnd in rounds:
        schedule.check_round(rnd)
        assert Counter(j.src for j in rnd.jobs) == Counter({x: 1 for x in nodes(n)})
        assert Counter(j.dst for j in rnd.jobs) == Counter({x: 1 for x in nodes(n)})
        assert all(j.rails == ("rail1", "rail2") for j in rnd.jobs)
    flows = schedule.planned_flows(rounds)
    assert len(flows) == (2 if n == 2 else 2 * n) * len(RAILS)
    assert all(f.reverse in flows for f in flows)           # both directions of every pair


def test_ring_order_for_four_nodes() -> None:
    rounds = schedule.ring(nodes(4), ["r1"])
    assert [(j.src, j.dst) for j in rounds[0].jobs] == [
        ("node-1", "node-2"), ("node-2", "node-3"), ("node-3", "node-4"), ("node-4", "node-1")]
    assert [(j.src, j.dst) for j in rounds[1].jobs] == [
        ("node-2", "node-1"), ("node-3", "node-2"), ("node-4", "node-3"), ("node-1", "node-4")]


@pytest.mark.parametrize("n", [2, 3, 4, 7, 8, 64])
def test_tournament_covers_every_ordered_pair_once_in_n_minus_1_rounds(n: int) -> None:
    rounds = schedule.tournament(nodes(n), ["r1"])
    assert len(rounds) == (n - 1 if n % 2 == 0 else n)
    seen = [(f.src, f.dst) for r in rounds for f in r.flows()]
    assert sorted(seen) == sorted(permutations(nodes(n), 2))
    for rnd in rounds:
        schedule.check_round(rnd)
        assert len(rnd.jobs) == 2 * (n // 2)                 # all disjoint pairs at once, both ways


def test_pairs_file_with_and_without_rounds() -> None:
    text = "# rail-optimised leaf pairs\nnode-1 node-2\nnode-3 node-4  # second leaf\nnode-1 node-3\n"
    rounds = schedule.plan("pairs", nodes(4), ["r1"], text)
    assert [[(j.src, j.dst) for j in r.jobs] for r in rounds] == [
        [("node-1", "node-2"), ("node-2", "node-1"), ("node-3", "node-4"), ("node-4", "node-3")],
        [("node-1", "node-3"), ("node-3", "node-1")]]
    numbered = schedule.plan("pairs", nodes(4), ["r1"], "2 node-1 node-3\n1 node-3 node-4\n1 node-1 node-2\n")
    assert [sorted({j.src for j in r.jobs}) for r in numbered] == [["node-1", "node-2", "node-3", "node-4"],
                                                                   ["node-1", "node-3"]]
    assert [r.index for r in numbered] == [1, 2]


@pytest.mark.parametrize("text, message", [
    ("node-1\n", "pairs.txt:1: expected 'node-a node-b'"),
    ("node-1 node-1\n", "pairs.txt:1: node-1 paired with itself"),
    ("node-1 node-9\n", "pairs name nodes outside the run: node-9"),
    ("1 node-1 node-2\nnode-3 node-4\n", "give a round number on every line or on none"),
    ("1 node-1 node-2\n1 node-1 node-3\n", "round 1: node-1 sends twice on r1"),
    ("node-1 $(reboot)\n", "invalid node name '$(reboot)'"),
    ("# nothing\n", "pairs.txt: no pairs"),
])
def test_bad_pairs_files_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        schedule.plan("pairs", nodes(4), ["r1"], text, "pairs.txt")


def test_pack_keeps_each_nic_to_one_flow_per_direction_and_groups_rails() -> None:
    flows = [Flow("a", "b", "r1"), Flow("a", "b", "r2"), Flow("a", "g", "r1"), Flow("g", "b", "r1"),
             Flow("c", "g", "r1")]
    rounds = schedule.pack(flows, first_index=3, retest=True)
    assert [r.index for r in rounds] == [3, 4]
    assert all(r.retest for r in rounds)
    for r in rounds:
        schedule.check_round(r)
    assert sorted(f for r in rounds for f in r.flows()) == sorted(flows)
    assert [(j.src, j.dst, j.rails) for j in rounds[0].jobs] == [("a", "b", ("r1", "r2")), ("c", "g", ("r1",))]
    assert [(j.src, j.dst, j.rails) for j in rounds[1].jobs] == [("a", "g", ("r1",)), ("g", "b", ("r1",))]


def test_plan_refuses_too_few_nodes_and_unknown_strategies() -> None:
    with pytest.raises(ScheduleError, match="at least 2 nodes, got 1"):
        schedule.plan("ring", ["node-1", "node-1"], ["r1"])
    with pytest.raises(ScheduleError, match="unknown strategy 'mesh'"):
        schedule.plan("mesh", nodes(3), ["r1"])
    with pytest.raises(ScheduleError, match="no rails"):
        schedule.plan("ring", nodes(3), [])


def test_flow_ids_are_the_pytest_ids() -> None:
    assert Flow("node-1", "node-2", "rail3").id == "node-1->node-2:rail3"
