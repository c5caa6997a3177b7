"""One remediating run per node: an exclusive ``flock`` on a per-node lock file.

The lock lives on the machine running rdma-preflight (``$RDMA_PREFLIGHT_LOCK_DIR``, else
/run/lock/rdma-preflight, else a temp folder) and is keyed by the node's target URL. It is
held until the process exits (the kernel drops it if the process dies), and a second run
that wants to change the same node is refused with the holder's pid and start time.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOCK_DIR_ENV = "RDMA_PREFLIGHT_LOCK_DIR"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class LockBusy(Exception):
    """Another run holds the node's lock."""


@dataclass
class NodeLock:
    node: str
    target: str
    path: Path
    fd: int


_HELD: dict[str, NodeLock] = {}


def lock_dir() -> Path:
    env = os.environ.get(LOCK_DIR_ENV)
    for cand in ([Path(env)] if env else []) + [Path("/run/lock/rdma-preflight"),
                                                Path(tempfile.gettempdir()) / "rdma-preflight-locks"]:
        try:
            cand.mkdir(parents=True, exist_ok=True)
            if os.access(cand, os.W_OK):
                return cand
        except OSError:
            continue
    raise LockBusy("no writable folder for lock files (set RDMA_PREFLIGHT_LOCK_DIR)")


def lock_path(node: str, target: str) -> Path:
    digest = hashlib.sha256(target.encode()).hexdigest()[:12]
    return lock_dir() / f"{_SAFE.sub('_', node)[:64]}-{digest}.lock"


def acquire(node: str, target: str) -> NodeLock:
    """Take (or return the already held) lock for ``target``; raises LockBusy."""
    if target in _HELD:
        return _HELD[target]
    path = lock_path(node, target)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "unknown holder"
        os.close(fd)
        raise LockBusy(f"another rdma-preflight run is changing {node} ({holder}; lock {path})") from None
    os.ftruncate(fd, 0)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    os.pwrite(fd, f"pid {os.getpid()} since {now} target {target}\n".encode(), 0)
    lock = NodeLock(node, target, path, fd)
    _HELD[target] = lock
    return lock


def is_held(target: str) -> bool:
    return target in _HELD


def release(lock: NodeLock) -> None:
    if _HELD.get(lock.target) is lock:
        del _HELD[lock.target]
        os.close(lock.fd)


def release_all() -> None:
    for lock in list(_HELD.values()):
        release(lock)
