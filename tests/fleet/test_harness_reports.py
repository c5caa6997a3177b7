"""The fleet and acceptance writers run by the real harness (pytest checks/ in a subprocess)
over SYNTHETIC snapshot nodes, twice: a baseline run, then a run with waivers and --baseline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from rdma_preflight.reports import fleet
from tests.fleet.synth import ROOT, NodeVariant, write_fleet


def run(report_dir, *args):
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "checks"), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
           "-q", "--report-dir", str(report_dir), "--check", "net.rail_count", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.slow
def test_two_runs_with_waivers_baseline_and_acceptance(tmp_path):
    first = {1: NodeVariant(ecn_off_nics=(4,)), 2: NodeVariant(rails=7)}
    nodes = write_fleet(tmp_path / "w1", 3, first.get)
    r1 = run(tmp_path / "rep1", "--nodes-file", str(nodes))
    assert r1.returncode == 1, r1.stdout + r1.stderr
    # a week later: gpu-00000 lost a NIC too (its old waiver expired); gpu-00002's is now waived
    second = {0: NodeVariant(rails=7), 1: NodeVariant(ecn_off_nics=(4,)), 2: NodeVariant(rails=7)}
    nodes = write_fleet(tmp_path / "w2", 3, second.get)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(yaml.safe_dump({"waivers": [
        {"check": "net.rail_count", "nodes": "gpu-00002", "owner": "hw-team", "reason": "NIC 8 RMA <ticket #12>",
         "expires": "2099-12-31"},
        {"check": "net.rail_count", "nodes": "gpu-00000", "owner": "bob", "reason": "old", "expires": "2020-01-01"}]}))
    rep = tmp_path / "rep2"
    r2 = run(rep, "--nodes-file", str(nodes), "--baseline", str(tmp_path / "rep1" / "results.json"),
             "--waivers", str(waivers), "--acceptance")
    assert r2.returncode == 1, r2.stdout + r2.stderr

    f = json.loads((rep / "fleet.json").read_text())
    assert [(r["node"], r["cells"]) for r in f["matrix"]["rows"]] == [
        ("gpu-00000", ["fail"]), ("gpu-00001", ["pass"]), ("gpu-00002", ["waived"])]
    d = f["drift"]
    assert [(e["node"], e["before"], e["now"]) for e in d["newly_failing"]] == [("gpu-00000", "pass", "fail")]
    assert [(e["node"], e["before"], e["now"]) for e in d["newly_fixed"]] == [("gpu-00002", "fail", "waived")]
    assert d["nodes_added"] == [] and d["nodes_gone"] == []
    ecn = [x for x in f["fleet_drift"] if x["key"] == "nic4.ecn_np.p5"]
    assert [(x["majority"], x["deviating"]) for x in ecn] == [("on", {"off": ["gpu-00001"]})]
    assert {(w["owner"], w["active"]) for w in f["waivers"]} == {("hw-team", True), ("bob", False)}

    md = (rep / "fleet.md").read_text()
    assert "### Waivers (1 active, 1 expired)" in md and "NIC 8 RMA &lt;ticket \\#12&gt;" in md
    assert "- failing: **net.rail\\_count** on gpu-00000 (pass → fail)" in md
    assert "ECN NP priority 5 on nic4 (mlx5\\_3/ens4f0np0): off on 1 of 3 nodes" in md
    html = (rep / "fleet.html").read_text()
    assert html.count('<tr data-i="') == 3
    assert "rdma_preflight_check_passed{" in (rep / "rdma_preflight.prom").read_text()

    acc = (rep / "acceptance" / "gpu-00002.md").read_text()
    assert "| net.rail\\_count |  | active | 2099-12-31 | hw-team | NIC 8 RMA &lt;ticket \\#12&gt; |" in acc
    assert "| MT4129 | 28.39.1002 |" in acc and "| OFED | MLNX\\_OFED 23.07-0.5.1.2 |" in acc
    assert "| 7 | mlx5\\_6 | ens7f0np0 |" in acc and "| 8 |" not in acc
    assert (rep / "acceptance" / "index.md").exists() and (rep / "junit.xml").exists()

    # offline re-render from results.json alone (rdma-preflight report): facts from the snapshot targets
    doc = json.loads((rep / "results.json").read_text())
    base = json.loads((tmp_path / "rep1" / "results.json").read_text())
    fleet.render_all(doc, tmp_path / "offline", base, acceptance=True)
    again = json.loads((tmp_path / "offline" / "fleet.json").read_text())
    assert again["fleet_drift"] == f["fleet_drift"] and again["drift"] == f["drift"]
    assert (tmp_path / "offline" / "acceptance" / "gpu-00002.md").read_text() == acc
