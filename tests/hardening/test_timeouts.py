"""One dead or slow node must not hang the gate (issue 9, part 5).

A node whose command trickles output forever (one line a second) is cut at the collect
timeout by both ssh transports: the ssh backend kills the process group at the deadline; the
paramiko backend used to bound only each ``recv``, so it waited as long as bytes kept coming.
The wall-clock guard only detects a hang (the test would otherwise never end); the assertions
are on the reported reason.
"""

from __future__ import annotations

import pytest

from rdma_preflight.collect.gather import gather_node
from rdma_preflight.targets.ssh import SshTarget
from tests.hardening.test_fuzz_parsers import wall_clock_guard

pytestmark = pytest.mark.netns

TRICKLE = "/bin/sh -c 'while :; do echo still-here; sleep 1; done'"


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_node_trickling_output_times_out_at_the_collect_timeout(lab, lab_node_shared, sshd_lab, backend):
    sshd_lab.start(lab_node_shared, force_command=TRICKLE)
    target = SshTarget(node="node-shared", url=f"{backend}://node-shared", hostspec="node-shared",
                       backend_name=backend, ssh_config=str(sshd_lab.ssh_config_path), connect_timeout=5)
    with wall_clock_guard(90, f"{backend} collection from a trickling node"):
        g = gather_node(target, timeout=4)
    assert g.facts is None
    assert g.error == ("timed out after 4s running sh" if backend == "ssh" else "timed out after 4s (paramiko)")
