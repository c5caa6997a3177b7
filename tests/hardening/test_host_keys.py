"""paramiko:// pins host keys (issue 9, security), against a real sshd in a lab namespace.

testinfra's paramiko backend loads no known_hosts and accepts any key (WarningPolicy), so any
machine answering for a node got the session. Now: a key listed in known_hosts (the
ssh_config's ``UserKnownHostsFile``, looked up by ``HostKeyAlias``; else ``~/.ssh/known_hosts``)
collects; an unknown key is a node error saying how to add it, refused before authenticating;
a changed key is refused, even with ``--ssh-accept-new-host-keys``, which otherwise trusts and
records a first key. ``ssh://`` (OpenSSH) honours the same flag.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rdma_preflight.collect.gather import gather_node
from rdma_preflight.targets.ssh import SshTarget
from rdma_preflight.timeouts import Timeouts
from tests.lab.sshd import proxy_command
from tests.spine.harness_util import run_checks, two_rail_profile

pytestmark = pytest.mark.netns

NODE = "node-shared"


def target(sshd_lab, backend="paramiko", ssh_config=None, **kw) -> SshTarget:
    return SshTarget(node=NODE, url=f"{backend}://{NODE}", hostspec=NODE, backend_name=backend,
                     ssh_config=str(ssh_config or sshd_lab.ssh_config_path), connect_timeout=5, **kw)


def host_key_line(sshd_lab, name: str) -> str:
    kind, b64 = Path(f"{sshd_lab.host_key}.pub").read_text().split()[:2]
    return f"{name} {kind} {b64}\n"


def other_key(tmp_path: Path) -> str:
    path = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def authenticated(sshd_lab) -> int:
    return (sshd_lab.workdir / f"sshd.{NODE}.log").read_text().count("Accepted publickey")


@pytest.fixture
def sshd(lab, lab_node_shared, sshd_lab):
    sshd_lab.start(lab_node_shared)
    return sshd_lab


def test_known_key_collects_and_keepalive_comes_from_the_timeouts(sshd):
    t = target(sshd, timeouts=Timeouts(ssh_alive_interval=3))
    res = t.run(["echo", "pinned"], timeout=30)
    assert res.stdout == b"pinned\n"
    backend = t._backend()
    assert backend.key_name == NODE                              # looked up by HostKeyAlias
    transport = backend.client.get_transport()
    assert transport.packetizer._Packetizer__keepalive_interval == 3
    t.close()
    sshd.known_hosts_path.write_text(host_key_line(sshd, NODE))     # only the alias: still known
    g = gather_node(target(sshd), timeout=30)
    assert g.error is None, g.error


def test_unknown_key_is_a_node_error_naming_the_fix_and_nothing_authenticates(sshd):
    sshd.known_hosts_path.write_text("")
    before = authenticated(sshd)
    g = gather_node(target(sshd), timeout=30)
    assert g.facts is None
    kh = sshd.known_hosts_path
    assert g.error.startswith(f"host key for {NODE} ({NODE}: ssh-ed25519 SHA256:")
    assert f"is not in {kh}; check the fingerprint and add it with " in g.error
    assert (f"`ssh -F {sshd.ssh_config_path} -o StrictHostKeyChecking=accept-new {NODE} true`, or pass "
            "--ssh-accept-new-host-keys to trust it on first use") in g.error
    assert authenticated(sshd) == before                        # refused before authenticating
    assert kh.read_text() == ""


def test_accept_new_trusts_the_first_key_and_records_it(sshd):
    sshd.known_hosts_path.write_text("")
    g = gather_node(target(sshd, accept_new_host_keys=True), timeout=30)
    assert g.error is None, g.error
    assert sshd.known_hosts_path.read_text() == host_key_line(sshd, NODE)
    assert gather_node(target(sshd), timeout=30).error is None  # now known without the flag


@pytest.mark.parametrize("accept_new", [False, True])
def test_changed_key_is_refused(sshd, tmp_path, accept_new):
    sshd.known_hosts_path.write_text(f"{NODE} {other_key(tmp_path)}\n")
    before = authenticated(sshd)
    g = gather_node(target(sshd, accept_new_host_keys=accept_new), timeout=30)
    assert g.facts is None
    assert g.error.startswith(f"host key for {NODE} ({NODE}) CHANGED: {sshd.known_hosts_path} has ssh-ed25519 SHA256:")
    assert "refusing to connect (possible man-in-the-middle)" in g.error
    assert f"`ssh-keygen -R {NODE} -f {sshd.known_hosts_path}`" in g.error
    assert authenticated(sshd) == before
    assert sshd.known_hosts_path.read_text().count("\n") == 1   # nothing written


def test_without_user_known_hosts_file_home_known_hosts_is_used(sshd, tmp_path, monkeypatch, lab_node_shared):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host {NODE}\n  HostName 127.0.0.1\n  User root\n  IdentityFile {sshd.client_key}\n"
                   f"  GlobalKnownHostsFile /dev/null\n  ProxyCommand {proxy_command(lab_node_shared)}\n")
    g = gather_node(target(sshd, ssh_config=cfg), timeout=30)
    assert g.facts is None and f"is not in {home / '.ssh' / 'known_hosts'};" in g.error
    (home / ".ssh" / "known_hosts").write_text(host_key_line(sshd, "127.0.0.1"))
    g = gather_node(target(sshd, ssh_config=cfg), timeout=30)
    assert g.error is None, g.error


def test_openssh_backend_honours_the_same_flag(sshd):
    sshd.known_hosts_path.write_text("")
    g = gather_node(target(sshd, backend="ssh"), timeout=30)
    assert g.facts is None and "Host key verification failed" in g.error
    g = gather_node(target(sshd, backend="ssh", accept_new_host_keys=True), timeout=30)
    assert g.error is None, g.error
    assert sshd.known_hosts_path.read_text().split()[:2] == [NODE, "ssh-ed25519"]


def test_harness_reports_the_unknown_key_and_the_flag_fixes_it(sshd, tmp_path):
    sshd.known_hosts_path.write_text("")
    args = ("--nodes", f"paramiko://{NODE}", "--ssh-config", str(sshd.ssh_config_path),
            "--profile", str(two_rail_profile(tmp_path, rails=8)), "--check", "net.rail_count")
    run = run_checks(tmp_path / "refused", *args)
    assert run.rc == 3, run.stdout + run.stderr
    [node] = run.results["nodes"]
    assert node["status"] == "error" and "--ssh-accept-new-host-keys" in node["error"]
    run = run_checks(tmp_path / "accepted", *args, "--ssh-accept-new-host-keys")
    assert run.rc == 0, run.stdout + run.stderr
    assert sshd.known_hosts_path.read_text() == host_key_line(sshd, NODE)
