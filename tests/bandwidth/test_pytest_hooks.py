"""checks/test_bandwidth.py as a user runs it: ``python -m pytest checks/test_bandwidth.py ...``
in a subprocess, against the Kubernetes API double (served from this process, over HTTP and
WebSocket, through a kubeconfig file); execs answered by the labelled PerftestDouble."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.bandwidth.conftest import NAMESPACE, profile_data

ROOT = Path(__file__).resolve().parents[2]
NODES = ["node-1", "node-2", "node-3"]
pytestmark = pytest.mark.slow


def pytest_run(tmp_path: Path, lab, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(profile_data(2)))
    kubeconfig = lab.double.kubeconfig(tmp_path / "kubeconfig")
    argv = [sys.executable, "-m", "pytest", "checks/test_bandwidth.py", "-p", "rdma_preflight.bandwidth.pytest_hooks",
            "-q", "-rA", "--profile", str(profile), "--kubeconfig", str(kubeconfig), "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_one_result_per_pair_rail_and_direction(bw_lab_factory, tmp_path):
    lab = bw_lab_factory(NODES, 2)
    lab.plan.slow_tx[("node-2", "rail2")] = 0.5
    res = pytest_run(tmp_path, lab, "--bandwidth", "--nodes", ",".join(f"kube://{n}" for n in NODES),
                     "--report-dir", str(tmp_path / "out"))
    assert res.returncode == 1, res.stdout + res.stderr
    passed = sorted(line.split("[", 1)[1].rstrip("]") for line in res.stdout.splitlines() if line.startswith("PASSED"))
    failed = sorted(line.split("[", 1)[1].split("]", 1)[0] for line in res.stdout.splitlines()
                    if line.startswith("FAILED"))
    assert failed == ["node-2->node-1:rail2", "node-2->node-3:rail2"]
    assert len(passed) == 10 and "node-1->node-2:rail1" in passed
    assert "[bw.write] node-2->node-1 rail2: asymmetric: node-2->node-1 98.25 Gb/s is below the floor" in res.stdout
    assert "fix:      swap the optic/cable of node-2 rail2" in res.stdout
    doc = json.loads((tmp_path / "out" / "bandwidth.json").read_text())
    assert [r["index"] for r in doc["rounds"]] == [1, 2, 3, 4]          # ring, then retests
    assert {f["flow"] for f in doc["flows"] if f["outcome"] == "fail"} == set(failed)
    lab.double.settle()
    assert lab.double.pods(NAMESPACE) == []


def test_nodes_from_the_profile_selector(bw_lab_factory, tmp_path):
    lab = bw_lab_factory(NODES, 2)
    res = pytest_run(tmp_path, lab, "--check", "bw.*")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "12 passed" in res.stdout


def test_skipped_with_the_reason_unless_asked(bw_lab_factory, tmp_path):
    lab = bw_lab_factory(NODES, 2)
    res = pytest_run(tmp_path, lab, "--nodes", "kube://node-1,kube://node-2")
    assert "SKIPPED [1]" in res.stdout and "bandwidth not measured: it creates pods and moves traffic" in res.stdout
    assert lab.double.count("create", "pods") == 0


def test_verdicts_become_records_of_the_run():
    """With node checks in the same session, each bandwidth item adds a Record to the run's store."""
    from types import SimpleNamespace

    from rdma_preflight.bandwidth.pytest_hooks import _record
    from rdma_preflight.bandwidth.schedule import Flow
    from rdma_preflight.bandwidth.verdict import FlowVerdict
    from rdma_preflight.harness.plugin import STATE_KEY
    from rdma_preflight.harness.records import RecordStore

    store = RecordStore()
    config = SimpleNamespace(stash={STATE_KEY: SimpleNamespace(store=store)})
    flow = Flow("node-1", "node-2", "rail3")
    verdict = FlowVerdict(flow, "fail", None, 90.0, "90.00 Gb/s is below the floor 180.0 Gb/s", "BW average >= 180.0",
                          "90.00 Gb/s BW average", "swap the optic", None,
                          {"runs": [{"src": {"netdev": "net3"}, "gbps": 90.0}], "dst": "node-2"})
    _record(config, flow, verdict, "test_write_bw[node-1->node-2:rail3]")
    (rec,) = store.records
    assert (rec.node, rec.check, rec.area, rec.rail, rec.netdev, rec.outcome, rec.test_id) == (
        "node-1", "bw.write", "bw", "rail3", "net3", "fail", "test_write_bw[node-1->node-2:rail3]")
    assert rec.evidence["dst"] == "node-2" and rec.fix == "swap the optic"
