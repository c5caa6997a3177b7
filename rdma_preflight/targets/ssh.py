"""``ssh://[user@]host[:port]`` and ``paramiko://...`` through pytest-testinfra backends.

testinfra builds the ssh invocation (ssh_config, identity, user, port, ControlMaster); we run
it with a hard deadline and kill the process group on expiry, since testinfra itself has no
per-command timeout. The remote command is the argv quoted with shlex (never interpolated).

Every wait comes from ``Target.timeouts`` (connect, keepalive, the command deadline).
``paramiko://`` verifies host keys against known_hosts (``hostkeys.PinnedParamikoBackend``);
``ssh://`` leaves that to OpenSSH (``BatchMode=yes``: an unknown key is refused unless the
ssh_config says otherwise). ``accept_new_host_keys`` (``--ssh-accept-new-host-keys``) trusts
a node's first key on both and records it; a changed key is always refused.
"""

from __future__ import annotations

import re
import shlex
import socket
import time
from dataclasses import dataclass, field, replace

from .base import MAX_OUTPUT_BYTES, CommandResult, OutputTooLarge, Target, TargetError, TimedOut
from .local import run_subprocess


@dataclass
class SshTarget(Target):
    hostspec: str = ""
    ssh_config: str | None = None
    identity_file: str | None = None
    connect_timeout: float | None = None      # overrides timeouts.connect when given
    backend_name: str = "ssh"
    accept_new_host_keys: bool = False
    _host: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.connect_timeout is not None:
            self.timeouts = replace(self.timeouts, connect=self.connect_timeout)
        self.connect_timeout = self.timeouts.connect

    def ssh_extra_args(self) -> str:
        """OpenSSH options of the ``ssh://`` backend (keepalive from the timeouts)."""
        t = self.timeouts
        args = (f"-o BatchMode=yes -o ServerAliveInterval={max(1, int(round(t.ssh_alive_interval)))} "
                f"-o ServerAliveCountMax={t.ssh_alive_count}")
        if self.accept_new_host_keys:
            args += " -o StrictHostKeyChecking=accept-new"
        return args

    def _backend(self):
        if self._host is None:
            connect = max(1, int(round(self.timeouts.connect)))
            if self.backend_name == "paramiko":
                from .hostkeys import PinnedParamikoBackend

                backend = PinnedParamikoBackend(self.hostspec, node=self.node, timeouts=self.timeouts,
                                                accept_new=self.accept_new_host_keys, ssh_config=self.ssh_config,
                                                ssh_identity_file=self.identity_file)
                self._host = _Backend(backend)
                return backend
            import testinfra

            kwargs = {"ssh_config": self.ssh_config, "ssh_identity_file": self.identity_file,
                      "timeout": connect, "ssh_extra_args": self.ssh_extra_args(), "controlpersist": 0}
            self._host = testinfra.get_host(f"{self.backend_name}://{self.hostspec}",
                                            **{k: v for k, v in kwargs.items() if v is not None})
        return self._host.backend

    def close(self) -> None:
        """Close a paramiko connection this target opened (ssh:// keeps no connection)."""
        backend = getattr(self._host, "backend", None)
        client = getattr(backend, "__dict__", {}).get("client") if self.backend_name == "paramiko" else None
        if client is not None:
            client.close()
            del backend.client
        self._host = None

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
                raise TargetError(self.node, "ssh failed: " + _ssh_failure(res.stderr, self.timeouts.connect))
            return res
        return self._run_paramiko(backend, remote, timeout)

    def _run_paramiko(self, backend, remote: str, timeout: float) -> CommandResult:
        import paramiko

        from .hostkeys import HostKeyError

        chan, connected = None, False
        out = bytearray()
        try:
            client = backend.client
            connected = True
            chan = client.get_transport().open_session(timeout=self.timeouts.connect)
            # issue 9: `timeout` is a deadline for the whole command, as with the ssh backend;
            # settimeout alone bounds each recv, so a node trickling output never timed out
            deadline = time.monotonic() + timeout
            chan.settimeout(timeout)
            chan.exec_command(remote)
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
                if len(out) > MAX_OUTPUT_BYTES:     # issue 9: a node streaming without end
                    chan.close()
                    raise OutputTooLarge(self.node, f"the command printed more than {MAX_OUTPUT_BYTES} bytes "
                                                    "on stdout: stopped reading and closed the session")
            while chan.recv_stderr_ready() and len(err) <= MAX_OUTPUT_BYTES:
                err += chan.recv_stderr(65536)
            if not chan.status_event.wait(max(0.1, deadline - time.monotonic())):
                raise socket.timeout()
            rc = chan.recv_exit_status()
            chan.close()
        except (socket.timeout, TimeoutError):
            if chan is not None:
                chan.close()          # ends the remote command's session
            if not connected:
                raise TargetError(self.node, "paramiko: " + _no_session(None, self.timeouts.connect)) from None
            raise TimedOut(self.node, f"timed out after {timeout:g}s (paramiko)", partial=bytes(out)) from None
        except HostKeyError as exc:
            raise TargetError(self.node, str(exc)) from None
        except paramiko.BadHostKeyException as exc:
            raise TargetError(self.node, backend.changed_key_message(exc.key, exc.expected_key)) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not connected and not isinstance(exc, paramiko.AuthenticationException):
                raise TargetError(self.node, "paramiko: " + _no_session(exc, self.timeouts.connect)) from None
            raise TargetError(self.node, f"paramiko: {exc or type(exc).__name__}") from None
        return CommandResult(argv=[remote], rc=rc, stdout=bytes(out), stderr=bytes(err))


@dataclass
class _Backend:
    """Holds a backend built directly (not through testinfra's process-wide host cache)."""

    backend: object


# ssh's stderr lines that say why it could not connect (issue 9, chaos run: the last line alone
# was "Connection closed by UNKNOWN port 65535" when the ProxyCommand's connect was refused, and
# "Connection to UNKNOWN port 65535 timed out" when no banner came)
_UNREACHABLE = re.compile(r"Connection refused|No route to host|Network is unreachable|Could not resolve hostname"
                          r"|banner exchange|Connection timed out|Operation timed out|Connection reset"
                          r"|Connection closed|kex_exchange_identification", re.I)


# a ProxyCommand's log prefix ("2026/11/29 22:49:52 socat[32148] E "): time and pid would make
# the same failure read differently on every run
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? ([\w.-]+)\[\d+\] [A-Z] ")


def _last_line(data: bytes, default: str = "connection failed (exit 255)") -> str:
    """The last non-blank line of a tool's stderr (300 characters at most), else ``default``."""
    lines = [l.strip() for l in data.decode(errors="replace").splitlines() if l.strip()]
    return lines[-1][:300] if lines else default


def _ssh_failure(stderr: bytes, connect_timeout: float) -> str:
    """Why ssh exited 255: ``unreachable: <the first line naming a connection failure>``, else
    ssh's last stderr line (authentication, host keys: the node answered)."""
    lines = [l.strip() for l in stderr.decode(errors="replace").splitlines() if l.strip()]
    line = next((l for l in lines if _UNREACHABLE.search(l)), None)
    if line is None:
        return _last_line(stderr)
    line = _LOG_PREFIX.sub(r"\1: ", line)[:300]
    if re.search(r"timed out", line, re.I):
        line += f" (connect timeout {connect_timeout:g}s)"
    return "unreachable: " + line


def _no_session(exc: BaseException | None, connect_timeout: float) -> str:
    """paramiko could not open an SSH session. Its ``start_client`` gives up silently at the
    timeout, so a node that never sends a banner surfaced as "No existing session"."""
    text = (str(exc) or type(exc).__name__) if exc is not None else ""
    if exc is None or isinstance(exc, (socket.timeout, TimeoutError, EOFError)) or text in (
            "No existing session", "Error reading SSH protocol banner"):
        why = f" ({text})" if text else ""
        return f"unreachable: no SSH session within the {connect_timeout:g}s connect timeout{why}"[:300]
    return f"unreachable: {text}"[:300]
