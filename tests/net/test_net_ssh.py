"""A remote node: the same checks and remediation over ssh (collector facts from ``ip -j``,
changes as ``ip`` argv over the transport), on a lab node with a real sshd."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.hosts import LabNode
from tests.lab.sshd import SshdLab
from tests.lab.state import snapshot
from tests.net.netlab import compliant, rollback, run_checks

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def test_remote_apply_runs_ip_argv_and_rollback_restores(lab_node_shared: LabNode, sshd_lab: SshdLab,
                                                         tmp_path: Path) -> None:
    node = lab_node_shared
    sshd_lab.start(node)
    profile, _ = compliant(node, tmp_path)
    node.set_mtu(2, 1500)
    node.del_rule(4)
    drifted = snapshot(node.netns)
    ssh = ("--ssh-config", str(sshd_lab.ssh_config_path))
    run = run_checks(f"ssh://{node.name}", profile, tmp_path / "apply", remediate="apply", extra=ssh,
                     lock_dir=tmp_path / "locks")
    assert run.with_outcome("remediated") == {("net.mtu", "rail2"), ("net.policy_rule", "rail4")}, run.output
    assert run.with_outcome("fail", "error") == set()
    r4 = node.rail(4)
    assert run.record("net.policy_rule", "rail4")["remediation"]["actions"] == [
        f"ip rule add from {r4.address.ip} lookup {r4.table} priority {r4.rule_priority} protocol static"]
    assert snapshot(node.netns).link("ens2f0np0").mtu == 4200
    [journal] = run.journals()
    done = rollback(journal, "--ssh-config", str(sshd_lab.ssh_config_path), lock_dir=tmp_path / "locks")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{node.name}: ip rule del from {r4.address.ip} lookup {r4.table} priority {r4.rule_priority}",
        f"{node.name}: ip link set dev ens2f0np0 mtu 1500"]
    assert snapshot(node.netns) == drifted
