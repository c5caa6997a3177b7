"""End to end: the real pytest harness over ``snapshot://`` for the qos/gpu/pcie checks,
reading back results.json. The node is tests/qos/node.py's H100 node with PFC on priority 3
(real mlnx_qos output) on eth0, run with ``--remediate plan``; the profile is the repo's 8-rail roce-sriov-shared-subnet, so
rails 3-8 are reported as not found."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.qos.node import REPO, H100Node
from tests.snapbuild import fixture_output


def test_harness_over_snapshot(tmp_path):
    node = H100Node(name="gpu-node-7")
    node.mlnx_qos["eth0"] = fixture_output("mlnx_qos", "netarbiter-after-pfc-0001000.txt")
    node.build().save(tmp_path / "snap")
    report = tmp_path / "report"
    argv = [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider",
            "--nodes", f"snapshot://{tmp_path / 'snap'}", "--profile", "profiles/roce-sriov-shared-subnet.yaml",
            "--report-dir", str(report), "--remediate", "plan", "--check", "qos.*", "--check", "gpu.*", "--check", "pcie.*"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((report / "results.json").read_text())
    got = {(r["check"], r["rail"]): r for r in doc["results"]}
    assert {r["check"] for r in doc["results"]} == {
        "qos.trust", "qos.pfc", "qos.ecn", "qos.cnp_dscp", "qos.roce_tos", "qos.traffic_class", "qos.tcp_ecn",
        "qos.discards", "qos.persistence", "gpu.peermem", "gpu.gdrcopy", "gpu.nic_affinity", "pcie.acs",
        "pcie.iommu"}
    pfc1 = got[("qos.pfc", "rail1")]
    assert (pfc1["outcome"], pfc1["netdev"]) == ("fail", "eth0")
    assert pfc1["summary"] == "PFC is on priority 3, expected priority 5 only"
    assert pfc1["found"] == "PFC on priority 3 (mlnx_qos)"
    assert pfc1["remediation"]["status"] == "planned"
    assert pfc1["remediation"]["actions"] == ["mlnx_qos -i eth0 --trust=dscp --pfc 0,0,0,0,0,1,0,0"]
    assert "overwritten within 20 s" in pfc1["remediation"]["reason"]
    assert got[("qos.pfc", "rail2")]["outcome"] == "pass"
    assert got[("qos.pfc", "rail3")]["outcome"] == "skip"
    assert got[("qos.ecn", "rail1")]["outcome"] == "pass"
    assert got[("qos.tcp_ecn", None)]["outcome"] == "pass"
    assert got[("gpu.gdrcopy", None)]["summary"] == "gpudirect.gdrcopy is false"
    assert got[("gpu.nic_affinity", None)]["outcome"] == "pass"
    assert got[("pcie.acs", "rail1")]["found"] == "bridges checked: 0000:17:01.0, 0000:17:02.0"
    assert doc["summary"]["fail"] == 1
