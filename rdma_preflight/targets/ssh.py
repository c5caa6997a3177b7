"""``ssh://[user@]host[:port]`` and ``paramiko://...`` through pytest-testinfra backends.

testinfra builds the ssh invocation (ssh_config, identity, user, port, ControlMaster); we run
it with a hard deadline and kill the process group on expiry, since testinfra itself has no
per-command timeout. The remote command is the argv quoted with shlex (never interpolated).
"""

from __future__ import annotations

import shlex
import socket
import time
from dataclasses import dataclass, field

from .base import CommandResult, Target, TargetError
from .local import run_subprocess


@dataclass
class SshTarget(Target):
    hostspec: str = ""
    ssh_config: str | None = None
    identity_file: str | None = None
    connect_timeout: float = 10.0
    backend_name: str = "ssh"
    _host: object = field(default=None, init=False, repr=False)

    def _backend(self):
        if self._host is None:
            import testinfra

            kwargs = {"ssh_config": self.ssh_config, "ssh_identity_file": self.identity_file,
                      "timeout": max(1, int(self.connect_timeout))}
            if self.backend_name == "ssh":
                kwargs["ssh_extra_args"] = ("-o BatchMode=yes -o ServerAliveInterval=5 "
                                            "-o ServerAliveCountMax=2")
                kwargs["controlpersist"] = 0
            self._host = testinfra.get_host(f"{self.backend_name}://{self.hostspec}",
                                            **{k: v for k, v in kwargs.items() if v is not None})
        return self._host.backend

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        if stdin is not None:
            raise TargetError(self.node, "stdin is not supported over testinfra transports")
        remote = shlex.join(argv)
        backend = self._backend()
        if self.backend_name == "ssh":
            cmd, cmd_args = backend._build_ssh_command(remote)
            shell_line = backend.quote(" ".join(cmd), *cmd_args)
            res = run_subprocess(self.node, ["sh", "-c", shell_line], None, timeout)
            if res.rc == 255:
                raise TargetError(self.node, "ssh failed: " + _last_line(res.stderr))
            return res
        return self._run_paramiko(backend, remote, timeout)

    def _run_paramiko(self, backend, remote: str, timeout: float) -> CommandResult:
        import paramiko

        chan = None
        try:
            client = backend.client
            chan = client.get_transport().open_session(timeout=self.connect_timeout)
            # issue 9: `timeout` is a deadline for the whole command, as with the ssh backend;
            # settimeout alone bounds each recv, so a node trickling output never timed out
            deadline = time.monotonic() + timeout
            chan.settimeout(timeout)
            chan.exec_command(remote)
            out = bytearray()
            err = bytearray()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                chan.settimeout(left)
                data = chan.recv(65536)
                if not data:
                    break
                out += data
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if not chan.status_event.wait(max(0.1, deadline - time.monotonic())):
                raise socket.timeout()
            rc = chan.recv_exit_status()
            chan.close()
        except (socket.timeout, TimeoutError):
            if chan is not None:
                chan.close()          # ends the remote command's session
            raise TargetError(self.node, f"timed out after {timeout:g}s (paramiko)") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(self.node, f"paramiko: {exc or type(exc).__name__}") from None
        return CommandResult(argv=[remote], rc=rc, stdout=bytes(out), stderr=bytes(err))


def _last_line(data: bytes) -> str:
    lines = [l for l in data.decode(errors="replace").splitlines() if l.strip()]
    return lines[-1][:300] if lines else "connection failed (exit 255)"
