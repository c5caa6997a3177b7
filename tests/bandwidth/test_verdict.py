"""Thresholds and localisation on result matrices, without any transport.

``simulate`` plays the runner's loop (planned rounds, retests against known-good partners,
judge) with bandwidths from :class:`BwPlan` (a labelled double of the hardware), so each
planted fault can be checked against the verdict it must produce.
"""

from __future__ import annotations

from rdma_preflight.bandwidth import schedule
from rdma_preflight.bandwidth.discover import RailEndpoint
from rdma_preflight.bandwidth.failures import Classified, FailureClass as C
from rdma_preflight.bandwidth.schedule import Flow
from rdma_preflight.bandwidth.verdict import Judge, Measurement, nominal_rates
from tests.bandwidth.doubles import BwPlan

NODES = [f"node-{i}" for i in range(1, 6)]
RAILS = ["rail1", "rail2"]


def endpoints(nodes, rails, rate=None):
    rate = rate or {}
    return {n: {r: RailEndpoint(r, netdev=f"net{k}", ip=f"172.16.{k}.{i}", device=f"mlx5_{k - 1}", port=1,
                                gid_index=3, rate_gbps=float(rate.get((n, r), "200").split()[0]),
                                rate_text=rate.get((n, r), "200 Gb/sec (4X HDR)"))
                for k, r in enumerate(rails, start=1)} for i, n in enumerate(nodes, start=1)}


def simulate(plan: BwPlan, nodes=NODES, strategy="ring", known_good=(), floor=0.9, outlier=0.8,
             rate_gbps=200.0, retest=True, classified=None):
    rails = plan.rails
    eps = endpoints(nodes, rails, plan.rate)
    rounds = schedule.plan(strategy, nodes, rails)
    planned = schedule.planned_flows(rounds)

    def measure(rnd):
        out = []
        for f in rnd.flows():
            got = (classified or {}).get(f.id) or Classified(plan.gbps(f.src, f.dst, f.rail))
            out.append(Measurement(f, rnd.index, rnd.retest, got, {}))
        return out

    ms = [m for r in rounds for m in measure(r)]

    def judge():
        return Judge(floor, outlier, nominal_rates(rails, rate_gbps, eps, ms), eps, ms)

    j = judge()
    again = j.retest_flows(planned, nodes, known_good) if retest else []
    for rnd in schedule.pack(again, len(rounds) + 1, True):
        ms += measure(rnd)
    j = judge()
    return {f.id: j.verdict(f) for f in planned}, again


def failing(verdicts):
    return {k: v for k, v in verdicts.items() if v.outcome != "pass"}


def test_healthy_fleet_passes_without_retests():
    verdicts, again = simulate(BwPlan(RAILS))
    assert len(verdicts) == 2 * len(NODES) * len(RAILS)
    assert failing(verdicts) == {}
    assert again == []
    v = verdicts["node-1->node-2:rail1"]
    assert v.expected == "BW average >= 180.0 Gb/s (90% of nominal 200 Gb/s, profile rdma.rate_gbps)"
    assert v.summary == "196.50 Gb/s"


def test_slow_nic_is_that_nic_cable_or_leaf_port():
    verdicts, again = simulate(BwPlan(RAILS, slow_nic={("node-3", "rail2"): 0.5}))
    bad = failing(verdicts)
    assert sorted(bad) == ["node-2->node-3:rail2", "node-3->node-2:rail2", "node-3->node-4:rail2",
                           "node-4->node-3:rail2"]
    for v in bad.values():
        assert (v.outcome, v.cls, v.blame.kind, v.blame.node, v.blame.rail) == (
            "fail", C.BELOW_FLOOR, "nic", "node-3", "rail2")
        assert "node-3 rail2 is slow with every partner: its NIC, cable or leaf switch port" in v.summary
        assert v.fix.startswith("check node-3 rail2: port error counters")
    assert verdicts["node-3->node-4:rail1"].outcome == "pass"
    # each failing flow was retested alone and through a known-good partner, never node-3
    for fid in bad:
        src, dst = fid.split(":")[0].split("->")
        assert Flow(src, dst, "rail2") in again
        partners = {f.dst for f in again if f.src == src} & {f.src for f in again if f.dst == dst}
        assert partners and not partners & {src, dst, "node-3"}


def test_every_rail_of_a_node_slow_is_a_host_problem():
    verdicts, _ = simulate(BwPlan(RAILS, slow_node={"node-2": 0.6}))
    bad = failing(verdicts)
    assert len(bad) == 4 * len(RAILS)
    assert {(v.blame.kind, v.blame.node) for v in bad.values()} == {("host", "node-2")}
    assert all("every rail of node-2 is slow: a host problem" in v.summary for v in bad.values())
    assert "PCIe link width" in bad["node-2->node-3:rail1"].fix


def test_slow_pair_with_both_ends_fine_elsewhere_is_the_path():
    verdicts, _ = simulate(BwPlan(RAILS, slow_pair={("node-1", "node-2", "rail1"): 0.5}))
    bad = failing(verdicts)
    assert sorted(bad) == ["node-1->node-2:rail1", "node-2->node-1:rail1"]
    assert {(v.cls, v.blame.kind, v.blame.node) for v in bad.values()} == {(C.BELOW_FLOOR, "path", None)}
    assert "the path between them (switch, routing/ECMP)" in bad["node-1->node-2:rail1"].summary


def test_one_direction_of_a_pair_is_asymmetric_optics_on_the_path():
    verdicts, _ = simulate(BwPlan(RAILS, slow_flow={("node-2", "node-3", "rail2"): 0.5}))
    bad = failing(verdicts)
    assert list(bad) == ["node-2->node-3:rail2"]
    v = bad["node-2->node-3:rail2"]
    assert (v.cls, v.blame.kind) == (C.ASYMMETRIC, "path-one-way")
    assert v.summary.startswith("asymmetric: node-2->node-3 98.25 Gb/s is below the floor 180.0 Gb/s but "
                                "node-3->node-2 gives 196.50 Gb/s")
    assert verdicts["node-3->node-2:rail2"].outcome == "pass"


def test_slow_only_when_sending_is_the_transmit_side():
    verdicts, _ = simulate(BwPlan(RAILS, slow_tx={("node-4", "rail1"): 0.4}))
    bad = failing(verdicts)
    assert sorted(bad) == ["node-4->node-3:rail1", "node-4->node-5:rail1"]
    for v in bad.values():
        assert (v.cls, v.blame.kind, v.blame.node) == (C.ASYMMETRIC, "nic-tx", "node-4")
        assert "slow only when sending (it receives fine): the transmit side of its optic" in v.summary
    assert verdicts["node-3->node-4:rail1"].outcome == "pass"


def test_known_good_retest_clears_a_transient():
    plan = BwPlan(RAILS, transient={("node-1", "node-2", "rail1"): 1})
    verdicts, again = simulate(plan)
    v = verdicts["node-1->node-2:rail1"]
    assert (v.outcome, v.cls, v.blame.kind) == ("pass", None, "transient")
    assert v.summary == ("passed on retest; below floor in the first run (58.95 Gb/s), 196.50 Gb/s on retest: "
                         "not reproducible")
    assert [r["gbps"] for r in v.evidence["runs"]] == [58.95, 196.5]
    assert again == [Flow("node-1", "node-2", "rail1"), Flow("node-1", "node-3", "rail1"),
                     Flow("node-3", "node-2", "rail1")]
    assert failing(verdicts) == {}


def test_listed_known_good_nodes_are_the_first_partners():
    _, again = simulate(BwPlan(RAILS, slow_flow={("node-1", "node-2", "rail1"): 0.5}), known_good=["node-5"])
    assert again == [Flow("node-1", "node-2", "rail1"), Flow("node-1", "node-5", "rail1"),
                     Flow("node-5", "node-2", "rail1")]


def test_trained_down_port_is_reported_as_such_not_as_low_bandwidth():
    plan = BwPlan(RAILS, rate={("node-5", "rail2"): "100 Gb/sec (2X HDR)"}, slow_nic={("node-5", "rail2"): 0.5})
    verdicts, again = simulate(plan)
    bad = failing(verdicts)
    assert sorted(bad) == ["node-1->node-5:rail2", "node-4->node-5:rail2", "node-5->node-1:rail2",
                           "node-5->node-4:rail2"]
    v = bad["node-5->node-1:rail2"]
    assert (v.cls, v.blame.kind, v.blame.node) == (C.LINK_DEGRADED, "link", "node-5")
    assert v.summary == ("link trained down: node-5 rail2 mlx5_1 at 100 Gb/s, nominal 200 Gb/s "
                         "(bandwidth not judged)")
    assert v.found.startswith("mlx5_1 rate 100 Gb/sec (2X HDR); measured 98.25 Gb/s")
    assert again == []                       # a retest cannot fix a link rate


def test_relative_outlier_warns_above_a_lenient_floor():
    verdicts, _ = simulate(BwPlan(RAILS, slow_flow={("node-2", "node-3", "rail1"): 0.6}), floor=0.5)
    bad = failing(verdicts)
    assert list(bad) == ["node-2->node-3:rail1"]
    v = bad["node-2->node-3:rail1"]
    assert (v.outcome, v.cls) == ("warn", C.OUTLIER)
    assert v.summary.startswith("117.90 Gb/s is below 80% of the best pair on rail1 (196.50 Gb/s)")


def test_two_nodes_cannot_tell_which_end():
    verdicts, _ = simulate(BwPlan(["rail1"], slow_nic={("node-2", "rail1"): 0.5}), nodes=NODES[:2])
    assert {v.blame.kind for v in verdicts.values()} == {"pair"}
    assert "add a third node or a known-good partner" in verdicts["node-1->node-2:rail1"].fix


def test_without_a_nominal_rate_the_highest_port_rate_is_the_basis():
    verdicts, _ = simulate(BwPlan(RAILS), rate_gbps=None)
    assert verdicts["node-1->node-2:rail1"].expected == (
        "BW average >= 180.0 Gb/s (90% of nominal 200 Gb/s, highest port rate seen on rail1)")


def test_static_failures_are_not_retested_and_carry_their_fix():
    refused = Classified(None, C.NO_DEVICE, "node-2: no interface for rail1", "server")
    verdicts, again = simulate(BwPlan(RAILS), classified={"node-1->node-2:rail1": refused})
    v = verdicts["node-1->node-2:rail1"]
    assert (v.outcome, v.cls, v.blame) == ("fail", C.NO_DEVICE, None)
    assert v.summary == "no RDMA device: server: node-2: no interface for rail1"
    assert v.fix.startswith("give the pod the rail's RDMA device")
    assert again == []


def test_tournament_still_finds_known_good_partners_although_everyone_met_the_bad_node():
    nodes = [f"node-{i}" for i in range(1, 9)]
    plan = BwPlan(RAILS, slow_node={"node-5": 0.5}, slow_nic={("node-2", "rail2"): 0.5})
    verdicts, again = simulate(plan, nodes=nodes, strategy="tournament")
    blamed = {(v.blame.kind, v.blame.node) for v in failing(verdicts).values()}
    assert blamed == {("host", "node-5"), ("nic", "node-2")}
    assert len(failing(verdicts)) == 2 * 7 * 2 + 2 * 6               # node-5 everywhere, node-2 rail2 with others
    for fid, v in failing(verdicts).items():                          # each was retested via a good partner
        f = v.flow
        partners = {g.dst for g in again if g.src == f.src and g.rail == f.rail} & {
            g.src for g in again if g.dst == f.dst and g.rail == f.rail}
        assert partners - {"node-5", f.src, f.dst}, fid
