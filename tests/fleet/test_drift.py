"""Run drift (two runs) and fleet-majority fact drift (SYNTHETIC documents and snapshots)."""

from __future__ import annotations

import json

import pytest

from rdma_preflight.collect.snapshot import Snapshot
from rdma_preflight.facts.build import build_facts
from rdma_preflight.reports import fleet
from rdma_preflight.reports.drift import compare_runs, fact_fingerprint, fleet_drift
from tests.fleet.synth import CHECKS, NodeVariant, rail_node, record, save_tar, synthetic_doc

WAIVER = {"check": "qos.ecn", "nodes": "gpu-004", "rail": None, "owner": "o", "reason": "r", "expires": "2099-01-01",
          "active": True}


def before(node, check, rail):
    c = next(c for c in CHECKS if c[0] == check)
    if (node, check, rail) in {("gpu-001", "qos.ecn", "rail1"), ("gpu-003", "net.mtu", "rail2"),
                               ("gpu-004", "qos.ecn", "rail1"), ("gpu-005", "rdma.netns_mode", None)}:
        return "fail"
    if (node, check, rail) == ("gpu-006", "qos.ecn", "rail2"):
        return record(node, c, "waived", rail, waiver=WAIVER)
    return "pass"


def after(node, check, rail):
    c = next(c for c in CHECKS if c[0] == check)
    if (node, check, rail) in {("gpu-002", "net.mtu", "rail1"), ("gpu-003", "net.mtu", "rail2"),
                               ("gpu-new", "qos.ecn", "rail1")}:
        return "fail"
    if (node, check, rail) == ("gpu-004", "qos.ecn", "rail1"):
        return record(node, c, "waived", rail, waiver=WAIVER)
    if (node, check, rail) == ("gpu-006", "qos.ecn", "rail2"):      # the waiver expired
        return record(node, c, "fail", rail, waiver=dict(WAIVER, active=False))
    return "pass"


@pytest.fixture
def runs():
    """Two SYNTHETIC runs a week apart; gpu-005's rdma.netns_mode was deselected in the second."""
    prev = synthetic_doc(["gpu-001", "gpu-002", "gpu-003", "gpu-004", "gpu-005", "gpu-006", "gpu-old"], before,
                         started="2026-11-22T10:00:00+00:00")
    cur = synthetic_doc(["gpu-001", "gpu-002", "gpu-003", "gpu-004", "gpu-005", "gpu-006", "gpu-new"], after)
    cur["results"] = [r for r in cur["results"] if not (r["node"] == "gpu-005" and r["check"] == "rdma.netns_mode")]
    return prev, cur


def keys(entries):
    return [(e["node"], e["check"], e["rail"], e["before"], e["now"]) for e in entries]


def test_compare_runs(runs):
    prev, cur = runs
    d = compare_runs(prev, cur)
    assert d["baseline"] == {"started": "2026-11-22T10:00:00+00:00", "finished": "2026-11-22T10:05:00+00:00"}
    assert keys(d["newly_failing"]) == [("gpu-002", "net.mtu", "rail1", "pass", "fail"),
                                        ("gpu-006", "qos.ecn", "rail2", "waived", "fail")]
    assert keys(d["newly_fixed"]) == [("gpu-001", "qos.ecn", "rail1", "fail", "pass"),
                                      ("gpu-004", "qos.ecn", "rail1", "fail", "waived")]
    assert keys(d["still_failing"]) == [("gpu-003", "net.mtu", "rail2", "fail", "fail")]
    assert keys(d["no_longer_checked"]) == [("gpu-005", "rdma.netns_mode", None, "fail", None)]
    assert d["nodes_added"] == [{"node": "gpu-new", "failing": 1}]
    assert d["nodes_gone"] == ["gpu-old"]


def test_drift_shown_in_every_report(tmp_path, runs):
    prev, cur = runs
    fleet.render_all(cur, tmp_path, baseline_doc=prev, acceptance=True)
    f = json.loads((tmp_path / "fleet.json").read_text())
    assert keys(f["drift"]["newly_failing"]) == keys(compare_runs(prev, cur)["newly_failing"])
    md = (tmp_path / "fleet.md").read_text()
    assert ("Against the run of 2026-11-22T10:05:00+00:00: 2 newly failing, 2 newly fixed, 1 still failing, "
            "1 no longer checked, 1 nodes added, 1 nodes gone") in md
    assert "- failing: **net.mtu** on gpu-002 rail1 (pass → fail)" in md
    assert "- fixed: **qos.ecn** on gpu-004 rail1 (fail → waived)" in md
    assert "- node added: gpu-new (1 failing)" in md and "- node gone: gpu-old" in md
    html = (tmp_path / "fleet.html").read_text()
    assert "newly failing (2)</summary>" in html and "nodes gone (1)</summary><p>gpu-old</p>" in html
    acc = (tmp_path / "acceptance" / "gpu-002.md").read_text()
    assert "## Changes since the baseline" in acc and "| newly failing | net.mtu | rail1 (ens1f0np0) | pass | fail |" in acc


def test_unusable_baseline_is_reported_not_fatal(tmp_path, runs):
    _, cur = runs
    base, err = fleet.load_baseline(str(tmp_path / "missing.json"))
    assert base is None and "missing.json" in err
    fleet.render_fleet(cur, tmp_path, None, None, err)
    assert "_Baseline not usable: " in (tmp_path / "fleet.md").read_text()
    assert json.loads((tmp_path / "fleet.json").read_text())["drift"] == {"error": err}


def _fp(ecn_nic4: str = "on", fw: str = "28.39.1002") -> dict[str, str]:
    fp = {"kernel": "6.8.0-45-generic", "fw[MT4129]": fw}
    for i in range(1, 9):
        fp.update({f"nic{i}.device": f"mlx5_{i - 1}", f"nic{i}.netdev": f"ens{i}f0np0", f"nic{i}.fw_ver": fw,
                   f"nic{i}.ecn_np.p5": ecn_nic4 if i == 4 else "on"})
    return fp


def test_fleet_drift_ecn_off_on_32_of_512():
    """512 SYNTHETIC fingerprints: ECN NP prio 5 off on NIC 4 of 32 nodes, none pinned by the profile."""
    prints = {f"n{i:03d}": _fp("off" if i % 16 == 0 else "on") for i in range(512)}
    found = fleet_drift(prints, {n: "p" for n in prints})
    assert len(found) == 1
    d = found[0]
    assert d.key == "nic4.ecn_np.p5" and d.majority == "on" and d.majority_count == 480 and d.total == 512
    assert d.describe() == "ECN NP priority 5 on nic4 (mlx5_3/ens4f0np0): off on 32 of 512 nodes; majority on (480) [p]"
    assert d.deviants == [f"n{i:03d}" for i in range(0, 512, 16)]
    assert d.to_json()["deviating"] == {"off": d.deviants}


def test_fleet_drift_groups_by_profile_merges_nics_and_reports_splits():
    prints = {"a1": _fp(), "a2": _fp(), "a3": _fp(fw="28.40.1000"),
              "b1": _fp(fw="28.40.1000"), "b2": _fp(fw="28.40.1000"),          # other profile: not compared to a*
              "c1": _fp(), "c2": dict(_fp(), kernel="6.5.0")}
    del prints["a2"]["nic4.ecn_np.p5"]
    profiles = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C", "c2": "C"}
    found = {(d.profile, d.key): d for d in fleet_drift(prints, profiles)}
    assert set(found) == {("A", "fw[MT4129]"), ("A", "nic1.fw_ver"), ("A", "nic4.ecn_np.p5"), ("C", "kernel")}
    fw = found[("A", "nic1.fw_ver")]
    assert fw.also == tuple(f"nic{i}.fw_ver" for i in range(2, 9))
    assert fw.label == "firmware on 8 NICs (nic1, nic2, nic3, nic4, nic5, nic6, nic7, nic8)"
    assert found[("A", "nic4.ecn_np.p5")].values == {"on": ["a1", "a3"], "(absent)": ["a2"]}
    split = found[("C", "kernel")]
    assert split.majority is None
    assert split.describe() == "kernel: no majority (6.5.0 on 1, 6.8.0-45-generic on 1) among 2 nodes [C]"


VARIANTS = {3: NodeVariant(fw="28.40.1000"), 5: NodeVariant(kernel="6.5.0-1-generic"),
            7: NodeVariant(ecn_off_nics=(4,)), 9: NodeVariant(mtu=1500)}


def test_fleet_drift_from_snapshots(tmp_path):
    """12 SYNTHETIC 8-rail nodes built as snapshots; four differ from the rest in one fact each."""
    facts = {f"gpu-{i:02d}": build_facts(rail_node(f"gpu-{i:02d}", i, VARIANTS.get(i))) for i in range(12)}
    prints = {n: fact_fingerprint(f, {"rail1": "ens1f0np0"}) for n, f in facts.items()}
    found = fleet_drift(prints, {n: "roce-8" for n in prints})
    text = sorted(d.describe() for d in found)
    assert text == sorted([
        "firmware of HCA type MT4129: 28.40.1000 on 1 of 12 nodes; majority 28.39.1002 (11) [roce-8]",
        "firmware on 8 NICs (nic1, nic2, nic3, nic4, nic5, nic6, nic7, nic8): 28.40.1000 on 1 of 12 nodes; "
        "majority 28.39.1002 (11) [roce-8]",
        "kernel: 6.5.0-1-generic on 1 of 12 nodes; majority 6.8.0-45-generic (11) [roce-8]",
        "ECN NP priority 5 on nic4 (mlx5_3/ens4f0np0): off on 1 of 12 nodes; majority on (11) [roce-8]",
        "MTU on 8 NICs (nic1, nic2, nic3, nic4, nic5, nic6, nic7, nic8): 1500 on 1 of 12 nodes; majority 4200 (11) "
        "[roce-8]",
        "MTU on rail1: 1500 on 1 of 12 nodes; majority 4200 (11) [roce-8]",
    ])
    assert {n for d in found for n in d.deviants} == {"gpu-03", "gpu-05", "gpu-07", "gpu-09"}


def test_fingerprint_same_from_a_saved_snapshot(tmp_path):
    snap = rail_node("gpu-42", 42, NodeVariant(ecn_off_nics=(2,)))
    live = fact_fingerprint(build_facts(snap))
    loaded = Snapshot.load(save_tar(snap, tmp_path / "gpu-42.tar.gz"))
    assert fact_fingerprint(build_facts(loaded)) == live
    assert live["nic2.ecn_np.p5"] == "off" and live["nic3.ecn_np.p5"] == "on"
    assert live["ofed"] == "MLNX_OFED 23.07-0.5.1.2"                 # real recorded ofed_info -s output
    assert live["netns_mode"] == "exclusive" and live["module.mlx5_core"] == "23.07-0.5.1"
    assert live["nic8.device"] == "mlx5_7" and live["nic8.rate"] == "400 Gb/sec (4X NDR)"
    assert "nic1.node_guid" not in live and not any("serial" in k or "hostname" in k for k in live)
