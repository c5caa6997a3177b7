"""SIGTERM/Ctrl-C during collection: a valid report marked partial, no collector left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.spine.harness_util import ROOT, two_rail_profile
from tests.spine.test_harness import two_rail_snapshot

pytestmark = pytest.mark.netns


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_during_collection_leaves_partial_report(tmp_path, lab, lab_node_shared, sshd_lab, sig):
    sshd_lab.start(lab_node_shared)
    sshd_lab.make_hanging(lab_node_shared, seconds=600)
    snap = two_rail_snapshot(tmp_path)
    prof = two_rail_profile(tmp_path)
    rep = tmp_path / "rep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(ROOT / "checks"), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
         "-q", "--report-dir", str(rep), "--nodes", f"snapshot://{snap},ssh://node-shared",
         "--ssh-config", str(sshd_lab.ssh_config_path), "--collect-timeout", "300", "--profile", str(prof)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    # wait until the ssh collector is running (it hangs in the ForceCommand)
    deadline = time.monotonic() + 120
    cfg = str(sshd_lab.ssh_config_path)
    while time.monotonic() < deadline and not _ssh_using(cfg):
        time.sleep(0.2)
    if not _ssh_using(cfg):
        proc.kill()
        pytest.fail("collector never started: " + proc.communicate()[1].decode()[-1500:])
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out + err)[-2000:]          # pytest's "interrupted"
    doc = json.loads((rep / "results.json").read_text())
    assert doc["run"]["partial"] is True
    assert {n["name"] for n in doc["nodes"]} == {"gpu-node-1", "node-shared"}
    time.sleep(0.5)
    assert not _ssh_using(cfg), "an ssh collector survived the interrupt"


def _ssh_using(cfg: str) -> list[int]:
    """ssh client processes started with this test's ssh_config (the collector's transport).
    Read from /proc: the collector script makes the command line too long for ps."""
    hits = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == b"ssh" and any(cfg.encode() == a for a in argv):
            hits.append(int(entry))
    return hits
