"""``local`` and ``netns://NAME``: run on this machine, optionally inside a network namespace."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass

from .base import CommandResult, Target, TargetError

NETNS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def kill_all_children() -> int:
    """Kill every process group this run started (Ctrl-C / SIGTERM): returns how many."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        _kill_group(p, wait=False)
    return len(procs)


def run_subprocess(node: str, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
    """Run argv (no shell) in its own process group; on timeout kill the whole group."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError:
        raise TargetError(node, f"{argv[0]} not found on this machine") from None
    except OSError as exc:
        raise TargetError(node, f"cannot start {argv[0]}: {exc.strerror}") from None
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise TargetError(node, f"timed out after {timeout:g}s running {argv[0]}") from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    if proc.returncode is not None and proc.returncode < 0:
        raise TargetError(node, f"{argv[0]} was killed by signal {-proc.returncode}")
    return CommandResult(argv=argv, rc=proc.returncode, stdout=out, stderr=err)


def _kill_group(proc: subprocess.Popen, wait: bool = True) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if not wait:
        return
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError):
        pass


@dataclass
class LocalTarget(Target):
    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        return run_subprocess(self.node, argv, stdin, timeout)

    def netlink_namespace(self) -> str | None:
        return ""


@dataclass
class NetnsTarget(Target):
    netns: str = ""

    def __post_init__(self) -> None:
        if not NETNS_RE.match(self.netns):
            raise TargetError(self.node, f"invalid network namespace name {self.netns!r}")

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        if not os.path.exists(f"/run/netns/{self.netns}"):
            raise TargetError(self.node, f"network namespace {self.netns} does not exist")
        return run_subprocess(self.node, ["ip", "netns", "exec", self.netns, *argv], stdin, timeout)

    def netlink_namespace(self) -> str | None:
        return self.netns
