"""SIGTERM / Ctrl-C while `--remediate apply` is changing a real netns node (issue 9): the run
ends with a valid report marked partial, the journal on disk is valid and names the
in-flight change, `rollback` restores the node exactly, and no child process is left.

The in-flight moment is made wide by a test-only plugin (tests/hardening/slow_apply_plugin.py,
loaded with -p in the child) that makes each action wait 30 s before it changes anything;
the production code is unchanged."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hardening.killpoints import ns_state
from tests.lab.node import LabNode
from tests.net.netlab import REPO, compliant, rollback

pytestmark = pytest.mark.netns


def ipv4_state(netns: str) -> dict:
    """The namespace's canonical state (killpoints.ns_state) without IPv6 entries: a fresh
    veth's link-local address finishes duplicate-address detection on its own time."""
    return {k: tuple(row for row in rows if socket.AF_INET6 not in row) for k, rows in ns_state(netns).items()}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_during_apply_leaves_report_journal_and_restorable_node(lab_node_shared: LabNode, tmp_path: Path,
                                                                           sig) -> None:
    node = lab_node_shared
    profile, _ = compliant(node, tmp_path)
    node.set_mtu(2, 1500)                                     # the drift remediation will fix
    before = ipv4_state(node.netns)
    assert any(link[0] == node.rail(2).ifname and link[1] == 1500 for link in before["links"])
    rep, mark, locks = tmp_path / "rep", tmp_path / "mark", tmp_path / "locks"
    env = dict(os.environ, PYTHONPATH=str(REPO), RPF_SLOW_MARK=str(mark), RDMA_PREFLIGHT_LOCK_DIR=str(locks))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "checks/test_net.py", "--nodes", f"netns://{node.netns}", "--profile",
         str(profile), "--report-dir", str(rep), "--remediate", "apply", "-q", "-p", "no:cacheprovider",
         "-p", "tests.hardening.slow_apply_plugin", "--check", "net.mtu"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (mark.exists() and mark.read_text()):
        time.sleep(0.1)
    assert mark.exists(), "no remediation started: " + proc.communicate(timeout=60)[1].decode()[-1500:]
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out + err).decode()[-2000:]      # pytest's "interrupted"

    doc = json.loads((rep / "results.json").read_text())
    assert doc["run"]["partial"] is True
    assert [n["name"] for n in doc["nodes"]] == [node.netns]
    (journal,) = sorted((rep / "journal").glob("*.json"))
    jdoc = json.loads(journal.read_text())
    assert [e["status"] for e in jdoc["entries"]] == ["captured"]    # journalled, not yet applied
    assert jdoc["entries"][0]["prior"]["mtu"] == 1500

    undo = rollback(journal, lock_dir=locks)                   # the lock died with the run
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert ipv4_state(node.netns) == before
    leftovers = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
