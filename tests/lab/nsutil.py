"""Namespace naming, process teardown and stale-leftover cleanup for lab hosts."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from pyroute2 import IPRoute, netns

LAB_PREFIX = "rpfl"
_OWNED = re.compile(rf"^{LAB_PREFIX}(?P<pid>\d+)x[0-9a-f]{{4}}(?:-|$)")


def default_prefix() -> str:
    """A prefix unique to this process and Lab: ``rpfl<pid>x<4 hex>``."""
    return f"{LAB_PREFIX}{os.getpid()}x{secrets.token_hex(2)}"


def ns_argv(ns: str, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` inside namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *argv]


def open_ns(ns: str) -> IPRoute:
    """An IPRoute bound to an existing namespace (never creates one)."""
    return IPRoute(netns=ns, flags=0)


def sysctl(ns: str, key: str, value: str) -> None:
    """Set a sysctl inside ``ns`` (never in the root namespace)."""
    subprocess.run(ns_argv(ns, ["sysctl", "-qw", f"{key}={value}"]), check=True)


def ns_pids(ns: str) -> list[int]:
    """Pids of processes living in ``ns``."""
    out = subprocess.run(
        ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False
    ).stdout
    return [int(tok) for tok in out.split() if tok.isdigit()]


def kill_ns_processes(ns: str) -> None:
    """SIGKILL every process in ``ns``; they can only be ours (the netns is ours)."""
    for pid in ns_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_ns(ns: str) -> None:
    """Kill the namespace's processes, then remove it (idempotent)."""
    if ns not in netns.listnetns():
        return
    kill_ns_processes(ns)
    netns.remove(ns)


def _is_stale(name: str, prefix: str, include_live: bool) -> bool:
    if not name.startswith(prefix):
        return False
    match = _OWNED.match(name)
    if match is None:  # no owner pid: only an explicit custom prefix claims it
        return include_live or prefix != LAB_PREFIX
    if include_live:
        return True
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def cleanup_stale(prefix: str = LAB_PREFIX, *, include_live: bool = False) -> list[str]:
    """Remove namespaces and temp dirs named ``prefix*`` left by earlier runs.

    Default-prefixed names embed the owner pid; those whose owner still runs
    (a parallel run) are kept unless ``include_live``. Returns what was removed.
    """
    removed: list[str] = []
    for name in sorted(netns.listnetns()):
        if _is_stale(name, prefix, include_live):
            remove_ns(name)
            removed.append(name)
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        if path.is_dir() and _is_stale(path.name, prefix, include_live):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed
