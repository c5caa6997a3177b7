"""A real sshd per node namespace, reached by OpenSSH, paramiko and testinfra."""

from __future__ import annotations

import socket
import subprocess

import paramiko
import pytest
import testinfra

from tests.lab.hosts import LabNode
from tests.lab.sshd import SshdLab, proxy_command

pytest_plugins = ["tests.lab.fixtures"]
pytestmark = pytest.mark.netns

SHARED_ADDRS = [f"172.16.{r}.11/24" for r in range(1, 9)]


def ssh(sshd_lab: SshdLab, node: LabNode, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sshd_lab.ssh_argv(node, *command), capture_output=True, text=True, timeout=timeout)


def assert_rail_addresses(output: str, expected: list[str]) -> None:
    for address in expected:
        assert f"inet {address} " in output, output


def test_openssh_reaches_the_namespace(lab_node_shared: LabNode, sshd_lab: SshdLab) -> None:
    sshd_lab.start(lab_node_shared)
    done = ssh(sshd_lab, lab_node_shared, "ip", "-o", "addr")
    assert done.returncode == 0, done.stderr
    assert_rail_addresses(done.stdout, SHARED_ADDRS)
    assert "inet 192.0.2.11/24 " in done.stdout


def test_paramiko_uses_the_same_proxy_command(lab_node_shared: LabNode, sshd_lab: SshdLab) -> None:
    sshd_lab.start(lab_node_shared)
    config = paramiko.SSHConfig.from_path(str(sshd_lab.ssh_config_path)).lookup(lab_node_shared.name)
    assert config["proxycommand"] == proxy_command(lab_node_shared)
    assert config["hostname"] == "127.0.0.1"
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd_lab.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        lab_node_shared.name,
        username=config["user"],
        key_filename=config["identityfile"][0],
        sock=paramiko.ProxyCommand(config["proxycommand"]),
        look_for_keys=False,
        allow_agent=False,
    )
    with client:
        _, stdout, _ = client.exec_command("ip -o addr")
        assert_rail_addresses(stdout.read().decode(), SHARED_ADDRS)
        assert stdout.channel.recv_exit_status() == 0


@pytest.mark.parametrize("scheme", ["ssh", "paramiko"])
def test_testinfra_backends(scheme: str, lab_node_shared: LabNode, sshd_lab: SshdLab) -> None:
    sshd_lab.start(lab_node_shared)
    host = testinfra.get_host(f"{scheme}://{lab_node_shared.name}", ssh_config=str(sshd_lab.ssh_config_path))
    result = host.run("ip -o addr")
    assert result.rc == 0
    assert_rail_addresses(result.stdout, SHARED_ADDRS)
    assert "172.16.3.11" in host.interface("ens3f0np0").addresses


def test_each_host_entry_reaches_its_own_node(
    lab_node_shared: LabNode, lab_node_per_node: LabNode, sshd_lab: SshdLab
) -> None:
    sshd_lab.start_all()
    shared = ssh(sshd_lab, lab_node_shared, "ip", "-o", "-4", "addr", "show", "ens1f0np0")
    per_node = ssh(sshd_lab, lab_node_per_node, "ip", "-o", "-4", "addr", "show", "ens1f0np0")
    assert "inet 172.16.1.11/24 " in shared.stdout
    assert "inet 172.16.1.34/27 " in per_node.stdout
    with sshd_lab.paramiko_client(lab_node_per_node) as client:
        _, stdout, _ = client.exec_command("ip -o -4 addr show ens2f0np0")
        assert "inet 172.16.2.34/27 " in stdout.read().decode()


def test_unreachable_then_restarted(lab_node_shared: LabNode, sshd_lab: SshdLab) -> None:
    sshd_lab.start(lab_node_shared)
    sshd_lab.make_unreachable(lab_node_shared)
    assert sshd_lab.mode(lab_node_shared) == "stopped"
    refused = ssh(sshd_lab, lab_node_shared, "true")
    assert refused.returncode == 255
    assert "Connection refused" in refused.stderr
    with pytest.raises(paramiko.SSHException):
        sshd_lab.paramiko_client(lab_node_shared, timeout=2)
    sshd_lab.start(lab_node_shared)
    assert ssh(sshd_lab, lab_node_shared, "true").returncode == 0


def test_hanging_node_never_answers(lab_node_shared: LabNode, sshd_lab: SshdLab) -> None:
    sshd_lab.make_hanging(lab_node_shared)
    assert sshd_lab.mode(lab_node_shared) == "hanging"
    with pytest.raises(subprocess.TimeoutExpired):
        ssh(sshd_lab, lab_node_shared, "true", timeout=2)
    with sshd_lab.paramiko_client(lab_node_shared) as client:
        _, stdout, _ = client.exec_command("true", timeout=1)
        with pytest.raises(socket.timeout):
            stdout.read()
