"""A real OpenSSH server per lab node, on 127.0.0.1:22 inside the node's namespace.

The root namespace reaches it without any routed address: ssh_config's
``ProxyCommand ip netns exec <ns> socat STDIO TCP:127.0.0.1:22`` connects
to the node's own loopback.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko

from tests.lab.hosts import Lab, LabNode
from tests.lab.nsutil import kill_ns_processes, ns_argv

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; its systemd unit creates it
READY_LINE = "Server listening on 127.0.0.1 port 22"
READY_TIMEOUT = 10.0
REQUIRED_TOOLS = ("ssh", "ssh-keygen", "socat", SSHD)

SSHD_CONFIG = """\
Port 22
ListenAddress 127.0.0.1
AddressFamily inet
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
LogLevel INFO
Subsystem sftp internal-sftp
"""

HOST_ENTRY = """\
Host {name}
  HostName 127.0.0.1
  Port 22
  User root
  IdentityFile {identity}
  IdentitiesOnly yes
  UserKnownHostsFile {known_hosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  HostKeyAlias {name}
  BatchMode yes
  ProxyCommand {proxy}
"""


def missing_tools() -> list[str]:
    """Tools the ssh lab needs that are not installed (Debian: openssh-server, socat)."""
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def proxy_command(node: LabNode) -> str:
    """ProxyCommand reaching the node's loopback sshd from the root namespace."""
    return " ".join(ns_argv(node.netns, ["socat", "STDIO", "TCP:127.0.0.1:22"]))


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    log: Path
    mode: str


class SshdLab:
    """sshd per node of ``lab``, plus the client-side ssh_config, key and known_hosts."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{lab.prefix}-ssh-"))
        self.host_key = self.workdir / "ssh_host_ed25519_key"
        self.client_key = self.workdir / "id_ed25519"
        self.authorized_keys = self.workdir / "authorized_keys"
        self.known_hosts_path = self.workdir / "known_hosts"
        self.ssh_config_path = self.workdir / "ssh_config"
        self._nodes: dict[str, LabNode] = {}
        self._servers: dict[str, _Server] = {}
        _keygen(self.host_key, "rdma-preflight-lab-host")
        _keygen(self.client_key, "rdma-preflight-lab-client")
        shutil.copyfile(f"{self.client_key}.pub", self.authorized_keys)
        self._write_client_files()

    def __enter__(self) -> SshdLab:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    def _node(self, node: LabNode | str) -> LabNode:
        return self.lab.node(node) if isinstance(node, str) else node

    def _write_client_files(self) -> None:
        host_pub = Path(f"{self.host_key}.pub").read_text().split()
        key = f"{host_pub[0]} {host_pub[1]}"
        hosts = ["127.0.0.1", *self._nodes]
        self.known_hosts_path.write_text("".join(f"{h} {key}\n" for h in hosts))
        entries = [
            HOST_ENTRY.format(
                name=name,
                identity=self.client_key,
                known_hosts=self.known_hosts_path,
                proxy=proxy_command(node),
            )
            for name, node in self._nodes.items()
        ]
        self.ssh_config_path.write_text("\n".join(entries))

    def _write_server_config(self, node: LabNode, force_command: str | None) -> Path:
        text = SSHD_CONFIG.format(
            host_key=self.host_key,
            pid_file=self.workdir / f"{node.name}.pid",
            authorized_keys=self.authorized_keys,
        )
        if force_command:
            text += f"ForceCommand {force_command}\n"
        path = self.workdir / f"sshd_config.{node.name}"
        path.write_text(text)
        return path

    def start(self, node: LabNode | str, *, force_command: str | None = None) -> None:
        """Start (or restart) the node's sshd and list it in ssh_config; waits until it listens."""
        node = self._node(node)
        self.stop(node)
        self._nodes[node.name] = node
        self._write_client_files()
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        config = self._write_server_config(node, force_command)
        log = self.workdir / f"sshd.{node.name}.log"
        log.write_text("")
        argv = ns_argv(node.netns, [SSHD, "-D", "-f", str(config), "-E", str(log)])
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._servers[node.name] = _Server(process, log, "hanging" if force_command else "normal")
        self._wait_ready(node.name)

    def start_all(self) -> None:
        """Start an sshd on every node of the lab."""
        for node in list(self.lab.nodes.values()):
            self.start(node)

    def _wait_ready(self, name: str) -> None:
        server = self._servers[name]
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if READY_LINE in server.log.read_text():
                return
            if server.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sshd for {name} did not start: {server.log.read_text()!r}")

    def stop(self, node: LabNode | str) -> None:
        """Stop the node's sshd and end its sessions (the node stays in ssh_config)."""
        node = self._node(node)
        server = self._servers.pop(node.name, None)
        if server is None:
            return
        server.process.terminate()
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
        kill_ns_processes(node.netns)

    def make_unreachable(self, node: LabNode | str) -> None:
        """ssh to the node now fails at connect (nothing listens on its 127.0.0.1:22)."""
        self.stop(node)

    def make_hanging(self, node: LabNode | str, seconds: int = 3600) -> None:
        """ssh to the node authenticates, then every command sleeps ``seconds``."""
        self.start(node, force_command=f"/bin/sleep {seconds}")

    def mode(self, node: LabNode | str) -> str:
        """``normal``, ``hanging`` or ``stopped``."""
        server = self._servers.get(self._node(node).name)
        return server.mode if server else "stopped"

    def ssh_argv(self, node: LabNode | str, *command: str) -> list[str]:
        """OpenSSH client argv running ``command`` on the node."""
        return ["ssh", "-F", str(self.ssh_config_path), self._node(node).name, *command]

    def paramiko_client(self, node: LabNode | str, timeout: float = 10.0) -> paramiko.SSHClient:
        """A connected paramiko client, host key checked, via the same ProxyCommand."""
        node = self._node(node)
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts_path))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            hostname=node.name,
            username="root",
            key_filename=str(self.client_key),
            sock=paramiko.ProxyCommand(proxy_command(node)),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            look_for_keys=False,
            allow_agent=False,
        )
        return client

    def cleanup(self) -> None:
        """Stop every sshd and remove the temp dir."""
        for name in list(self._servers):
            self.stop(self._nodes[name])
        shutil.rmtree(self.workdir, ignore_errors=True)


__all__ = ["SshdLab", "missing_tools", "proxy_command"]
