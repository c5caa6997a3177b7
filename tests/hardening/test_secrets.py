"""Snapshots and reports never carry secrets (issue 9, part 4).

A canary secret is put where an operator's secrets live while rdma-preflight runs: environment
variables (RPF_SECRET_CANARY, cloud keys), a kubeconfig token passed with --kubeconfig, the
path and the body of the ssh private key passed with --ssh-identity-file. The real collector
then runs (locally, read-only, and over ssh to a netns test host) and every byte of every
snapshot and report file, and the terminal output, is searched for the canary.
docs/snapshot-contents.md lists what a snapshot holds and what it never holds.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spine.harness_util import ROOT, run_checks, two_rail_profile

CANARY = "RPFCANARY" + secrets.token_hex(12)


def _kubeconfig(tmp_path: Path) -> Path:
    """A valid kubeconfig whose bearer token is the canary; its API server refuses connections,
    so the cluster checks fail and report why (the path may be named, the token never)."""
    p = tmp_path / "kubeconfig"
    p.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:9\n"
                 "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n"
                 f"users:\n- name: u\n  user:\n    token: {CANARY}-token\n")
    return p


def _secret_env(monkeypatch) -> None:
    monkeypatch.setenv("RPF_SECRET_CANARY", CANARY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY + "aws")
    monkeypatch.setenv("KUBECONFIG_TOKEN", CANARY + "kube")


def _leaks(where: Path, *needles: bytes) -> list[str]:
    """Files (or file names) under ``where`` containing any needle."""
    out = []
    for p in sorted(where.rglob("*")):
        if any(n in str(p).encode() for n in needles):
            out.append(f"name: {p}")
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            out += [f"{p}: {n[:24]!r}" for n in needles if n in data]
    return out


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rdma_preflight", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=os.environ.copy())


def _collect_run_and_search(tmp_path: Path, nodes: list[str], run_args: list[str], needles: tuple[bytes, ...]):
    """`rdma-preflight collect` and a harness run with the same target options; then every
    snapshot and report file, and the terminal, are searched for the needles."""
    snaps = tmp_path / "snapshots"
    c = _cli("collect", *nodes, "--out", str(snaps), "--tar")
    assert c.returncode == 0, c.stdout + c.stderr
    (node,) = [p for p in snaps.iterdir() if p.is_dir()]
    assert (node / "snapshot.json").is_file() and (snaps / f"{node.name}.tar.gz").is_file()
    assert (node / "commands" / "ip_link.out").stat().st_size > 0
    run = run_checks(tmp_path / "rep", *nodes, *run_args, "--acceptance")
    assert (run.report_dir / "results.json").is_file() and (run.report_dir / "fleet.html").is_file()
    assert _leaks(snaps, *needles) == []
    assert _leaks(run.report_dir, *needles) == []
    assert CANARY not in run.stdout + run.stderr + c.stdout + c.stderr
    return run


def test_local_snapshot_and_reports_carry_no_secret(tmp_path, monkeypatch):
    _secret_env(monkeypatch)
    kube = str(_kubeconfig(tmp_path))
    run = _collect_run_and_search(tmp_path, ["--nodes", "local", "--kubeconfig", kube],
                                  ["--profile", str(two_rail_profile(tmp_path)), "-rA"], (CANARY.encode(),))
    assert run.rc in (1, 3), run.stdout + run.stderr          # this machine has no rails: findings


@pytest.mark.netns
def test_ssh_identity_path_and_key_never_reach_snapshot_or_reports(lab, lab_node_shared, sshd_lab, tmp_path,
                                                                   monkeypatch):
    _secret_env(monkeypatch)
    sshd_lab.start(lab_node_shared)
    key_dir = tmp_path / f"keys-{CANARY}"
    key_dir.mkdir()
    key = key_dir / "id_ed25519"
    shutil.copyfile(sshd_lab.client_key, key)
    key.chmod(0o600)
    body = [line.encode() for line in key.read_text().splitlines() if line and not line.startswith("-----")]
    nodes = ["--nodes", "ssh://node-shared", "--ssh-config", str(sshd_lab.ssh_config_path),
             "--ssh-identity-file", str(key), "--connect-timeout", "5"]
    run = _collect_run_and_search(tmp_path, nodes, ["--profile", str(two_rail_profile(tmp_path, rails=8)),
                                                    "--check", "net.*"], (CANARY.encode(), *body))
    assert run.results["nodes"][0]["status"] == "ok", run.stdout + run.stderr


@pytest.mark.netns
def test_failed_ssh_with_a_secret_identity_path_reports_no_path(lab, lab_node_shared, sshd_lab, tmp_path,
                                                              monkeypatch):
    """An unreachable node's error text is ssh's last stderr line: never the identity path."""
    _secret_env(monkeypatch)
    sshd_lab.start(lab_node_shared)
    sshd_lab.make_unreachable(lab_node_shared)
    missing_key = tmp_path / f"keys-{CANARY}" / "id_missing"
    prof = two_rail_profile(tmp_path, rails=8)
    run = run_checks(tmp_path / "rep", "--nodes", "ssh://node-shared", "--ssh-config", str(sshd_lab.ssh_config_path),
                     "--ssh-identity-file", str(missing_key), "--connect-timeout", "3", "--profile", str(prof),
                     "--check", "net.rail_count")
    assert run.rc == 3, run.stdout + run.stderr
    node = run.results["nodes"][0]
    assert node["status"] == "error" and node["error"].startswith("ssh failed")
    assert _leaks(run.report_dir, CANARY.encode()) == []
    assert CANARY not in run.stdout


def test_snapshot_contents_doc_lists_every_collected_path():
    """docs/snapshot-contents.md names every file, glob and command the collector reads."""
    doc = (ROOT / "docs" / "snapshot-contents.md").read_text()
    script = (ROOT / "rdma_preflight" / "collect" / "collector.sh").read_text()
    for path in ("/proc/sys/kernel/hostname", "/etc/os-release", "/proc/cmdline", "/proc/modules",
                 "/sys/class/dmi/id/product_serial", "/etc/netplan/*.yaml", "/etc/NetworkManager/dispatcher.d/*",
                 "/etc/modprobe.d/*.conf", "/sys/class/net/", "/sys/class/infiniband/", "/sys/bus/pci/devices/"):
        assert path in script and path in doc, path
    for tool in ("ip -j -d link show", "rdma system show", "ibstat", "ibv_devinfo", "mlnx_qos -i", "ethtool -S",
                 "lspci -vvv -D", "nvidia-smi topo -m", "mlxconfig -e -d", "dcb -j pfc show", "systemctl is-enabled"):
        assert tool in script and tool in doc, tool
