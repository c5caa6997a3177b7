"""The pytest harness end to end: ids, outcomes, JSON and JUnit field by field, exit codes."""

from __future__ import annotations

import pytest

from tests.snapbuild import SnapshotBuilder
from tests.spine.harness_util import ROOT, run_checks, two_rail_profile


def two_rail_snapshot(tmp_path, name="gpu-node-1"):
    # hand-made node: two rail netdevs, a management interface with the default route
    b = (SnapshotBuilder(name).iface("lo", 65536, link_type="loopback")
         .iface("eth0", 1500, ipv4=["192.0.2.11/24"])
         .iface("ens1f0np0", 4200, ipv4=["172.16.1.11/24"], pci="0000:86:00.0", driver="mlx5_core")
         .iface("ens2f0np0", 4200, ipv4=["172.16.2.11/24"], pci="0000:87:00.0", driver="mlx5_core")
         .default_rules().route("default", dev="eth0", gateway="192.0.2.1"))
    return b.build().save(tmp_path / name)


def test_pass_reports_and_ids(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap}", "--profile", str(prof),
                     "--check", "net.rail_count", "-vv")
    assert run.rc == 0, run.stdout + run.stderr
    assert "test_rail_count[gpu-node-1] PASSED" in run.stdout
    doc = run.results
    assert doc["schema"] == "rdma-preflight/results" and doc["version"] == 1
    assert doc["run"]["exit_code"] == 0 and doc["run"]["partial"] is False
    assert doc["summary"]["pass"] == 1 and doc["summary"]["fail"] == 0
    node = doc["nodes"][0]
    assert node["name"] == "gpu-node-1" and node["status"] == "ok" and node["profile"] == "test-two-rails"
    assert node["target"] == f"snapshot://{snap}"
    rec = run.records("net.rail_count")[0]
    assert rec["outcome"] == "pass" and rec["found"] == "rail1=ens1f0np0, rail2=ens2f0np0"
    assert rec["test_id"] == "test_rail_count[gpu-node-1]"
    suites = run.junit.findall("testsuite")
    assert [s.get("name") for s in suites] == ["gpu-node-1"]
    assert suites[0].get("tests") == "1" and suites[0].get("failures") == "0"


def test_failure_is_actionable_and_exit_1(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path, rails=3)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap}", "--profile", str(prof),
                     "--check", "net.rail_count")
    assert run.rc == 1
    rec = run.records("net.rail_count")[0]
    assert rec["outcome"] == "fail"
    assert rec["summary"] == "2 of 3 rails found"
    assert "rail3 (netdev=ens3f0np0): no netdev named ens3f0np0" in rec["found"]
    assert rec["fix"]
    assert "[net.rail_count] gpu-node-1: 2 of 3 rails found" in run.stdout
    failure = run.junit.find("testsuite/testcase/failure")
    assert failure is not None and "2 of 3 rails found" in failure.get("message")


def test_unreachable_node_is_an_error_and_others_go_on(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap},netns://rpf-no-such-ns",
                     "--profile", str(prof), "--check", "net.rail_count")
    assert run.rc == 3, run.stdout + run.stderr
    doc = run.results
    by_name = {n["name"]: n for n in doc["nodes"]}
    assert by_name["rpf-no-such-ns"]["status"] == "error"
    assert "network namespace rpf-no-such-ns does not exist" in by_name["rpf-no-such-ns"]["error"]
    assert by_name["gpu-node-1"]["status"] == "ok"
    assert run.records("net.rail_count", "gpu-node-1")[0]["outcome"] == "pass"
    assert run.records("net.rail_count", "rpf-no-such-ns")[0]["outcome"] == "error"
    suites = {s.get("name"): s for s in run.junit.findall("testsuite")}
    assert suites["rpf-no-such-ns"].find("testcase/error") is not None
    assert suites["rpf-no-such-ns"].find("testcase/failure") is None


def test_fail_wins_over_unreachable(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path, rails=3)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap}", "--nodes", "netns://rpf-no-such-ns",
                     "--profile", str(prof), "--check", "net.rail_count")
    assert run.rc == 1


def test_bad_profile_is_usage_error(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap}", "--profile",
                     str(ROOT / "tests/fixtures/bad_profiles/wrong_type.yaml"))
    assert run.rc == 2
    assert "wrong_type.yaml:6: rails.rail1.mtu: found 'jumbo'" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_bad_target_is_usage_error(tmp_path):
    run = run_checks(tmp_path / "rep", "--nodes", "gopher://x", "--profile",
                     str(ROOT / "profiles/roce-sriov-shared-subnet.yaml"))
    assert run.rc == 2
    assert "unknown target scheme 'gopher'" in run.stderr


def test_nodes_file_mixed_profiles(tmp_path):
    a = two_rail_snapshot(tmp_path, "roce-a")
    b = two_rail_snapshot(tmp_path, "ib-b")
    prof = two_rail_profile(tmp_path)
    nf = tmp_path / "fleet.yaml"
    nf.write_text(f"profiles:\n  'ib-*': {ROOT / 'profiles/infiniband-sriov.yaml'}\n"
                  f"defaults:\n  profile: {prof}\n"
                  f"nodes:\n  - target: snapshot://{a}\n  - {{name: ib-b, target: 'snapshot://{b}'}}\n")
    run = run_checks(tmp_path / "rep", "--nodes-file", str(nf), "--check", "net.rail_count")
    profiles = {n["name"]: n["profile"] for n in run.results["nodes"]}
    assert profiles == {"roce-a": "test-two-rails", "ib-b": "infiniband-sriov"}
    # the IB profile asks for 8 rails found by RDMA position: this hand-made node has none
    assert run.records("net.rail_count", "ib-b")[0]["outcome"] == "fail"
    assert run.records("net.rail_count", "roce-a")[0]["outcome"] == "pass"
    assert run.rc == 1


def test_check_selection_by_glob(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap}", "--profile", str(prof),
                     "--check", "net.*", "--skip-check", "net.rail_count")
    assert all(r["check"].startswith("net.") and r["check"] != "net.rail_count" for r in run.records())


def test_apply_on_many_nodes_needs_yes(tmp_path):
    snaps = [two_rail_snapshot(tmp_path, f"n{i}") for i in range(6)]
    prof = two_rail_profile(tmp_path)
    nodes = ",".join(f"snapshot://{s}" for s in snaps)
    run = run_checks(tmp_path / "rep", "--nodes", nodes, "--profile", str(prof), "--remediate", "apply",
                     "--check", "net.rail_count")
    assert run.rc == 2
    assert "--remediate apply on 6 nodes needs --yes" in run.stderr


def test_node_granularity_keeps_one_record_per_rail(tmp_path):
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{snap}", "--profile", str(prof),
                     "--check", "net.mtu", "--granularity", "node", "-vv")
    assert "test_mtu[gpu-node-1] PASSED" in run.stdout
    recs = run.records("net.mtu")
    assert [(r["rail"], r["netdev"], r["outcome"]) for r in recs] == [
        ("rail1", "ens1f0np0", "pass"), ("rail2", "ens2f0np0", "pass")]
