"""collect -> snapshot -> replay gives exactly the results of the live run (real netns host)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.spine.harness_util import ROOT, run_checks, two_rail_profile

pytestmark = pytest.mark.netns


def _outcomes(run) -> dict:
    return {(r["check"], r["rail"]): (r["outcome"], r["found"]) for r in run.records()}


def test_collect_then_replay_gives_identical_results(tmp_path, lab, lab_node_shared):
    prof = two_rail_profile(tmp_path, rails=8)
    live = run_checks(tmp_path / "live", "--nodes", f"netns://{lab_node_shared.netns}", "--profile", str(prof),
                      "--check", "net.*")
    out = tmp_path / "snaps"
    c = subprocess.run([sys.executable, "-m", "rdma_preflight", "collect", "--nodes",
                        f"netns://{lab_node_shared.netns}", "--out", str(out), "--tar"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert c.returncode == 0, c.stderr
    replay = run_checks(tmp_path / "replay", "--nodes", f"snapshot://{out / lab_node_shared.netns}.tar.gz",
                        "--profile", str(prof), "--check", "net.*")
    assert live.rc == replay.rc
    assert _outcomes(live) and _outcomes(live) == _outcomes(replay)
    assert live.results["nodes"][0]["round_trips"] == 1
