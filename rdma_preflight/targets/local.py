"""``local`` and ``netns://NAME``: run on this machine, optionally inside a network namespace."""

from __future__ import annotations

import os
import re
import select
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from .base import MAX_OUTPUT_BYTES, CommandResult, OutputTooLarge, Target, TargetError, TimedOut

NETNS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_TREES: set[int] = set()        # pids whose kill takes every descendant (run_subprocess kill_tree)


def kill_all_children() -> int:
    """Kill every process group this run started (Ctrl-C / SIGTERM): returns how many."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        _kill_group(p, wait=False)
    return len(procs)


def run_subprocess(node: str, argv: list[str], stdin: bytes | None, timeout: float,
                   max_output: int = MAX_OUTPUT_BYTES, kill_tree: bool = False) -> CommandResult:
    """Run argv (no shell) in its own process group; on timeout, or when stdout or stderr passes
    ``max_output`` bytes, kill the whole group (OutputTooLarge for the latter). ``kill_tree``:
    also every descendant that left the group (the ``ansible`` CLI's workers and their ssh run
    in sessions of their own, and outlived a killed ``ansible``)."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError:
        raise TargetError(node, f"{argv[0]} not found on this machine") from None
    except OSError as exc:
        raise TargetError(node, f"cannot start {argv[0]}: {exc.strerror}") from None
    if kill_tree:
        _TREES.add(proc.pid)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        out, err = _communicate(proc, stdin, timeout, max_output)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise TimedOut(node, f"timed out after {timeout:g}s running {argv[0]}", partial=exc.output or b"") from None
    except _TooMuch as exc:
        _kill_group(proc)
        raise OutputTooLarge(node, f"{argv[0]} printed more than {max_output} bytes on {exc.stream}: "
                                   "stopped reading and killed it") from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
        _TREES.discard(proc.pid)
    if proc.returncode is not None and proc.returncode < 0:
        raise TargetError(node, f"{argv[0]} was killed by signal {-proc.returncode}")
    return CommandResult(argv=argv, rc=proc.returncode, stdout=out, stderr=err)


class _TooMuch(Exception):
    def __init__(self, stream: str):
        self.stream = stream


def _communicate(proc: subprocess.Popen, stdin: bytes | None, timeout: float, cap: int) -> tuple[bytes, bytes]:
    """Popen.communicate with a deadline for the whole exchange and a cap on each output
    (issue 9: communicate() buffered a node's endless output until the timeout, ~1 GB in 8 s)."""
    deadline = time.monotonic() + timeout
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    names = {proc.stdout: "stdout", proc.stderr: "stderr"}
    pending = memoryview(stdin or b"")
    with selectors.DefaultSelector() as sel:
        for pipe in bufs:
            sel.register(pipe, selectors.EVENT_READ)
        if proc.stdin is not None:
            if pending:
                sel.register(proc.stdin, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout, output=bytes(bufs[proc.stdout]))
            for key, _ in sel.select(left):
                pipe = key.fileobj
                if pipe is proc.stdin:
                    try:
                        pending = pending[os.write(key.fd, pending[:select.PIPE_BUF]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(pipe)
                        pipe.close()
                    continue
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(pipe)
                    pipe.close()
                    continue
                buf = bufs[pipe]
                buf += data
                if len(buf) > cap:
                    raise _TooMuch(names[pipe])
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise subprocess.TimeoutExpired(proc.args, timeout, output=bytes(bufs[proc.stdout])) from None
    return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr])


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), whatever its process group or session."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_group(proc: subprocess.Popen, wait: bool = True) -> None:
    if proc.pid in _TREES:
        # freeze the tree (no new forks), look again, then kill it: while the leader lives its
        # descendants are still its own, once it dies they are reparented and lost
        first = _descendants(proc.pid)
        _signal_all([proc.pid, *first], signal.SIGSTOP)
        _signal_all(sorted({*first, *_descendants(proc.pid)}), signal.SIGKILL)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if not wait:
        return
    for pipe in (proc.stdin, proc.stdout, proc.stderr):   # not drained: the output is not wanted
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
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
