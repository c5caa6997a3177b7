"""Network-namespace helpers; every command is an argv list, never a shell string."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from typing import Sequence

IP = shutil.which("ip") or "/usr/sbin/ip"
POD_NETNS_PREFIX = "kdpod-"


def pod_netns_name(uid: str) -> str:
    """The netns a non-hostNetwork pod gets, derived from its uid."""
    return f"{POD_NETNS_PREFIX}{uid}"


def netns_supported() -> bool:
    """True when we can create network namespaces (root and iproute2 present)."""
    return os.geteuid() == 0 and os.path.exists(IP)


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """argv wrapped with `ip netns exec` when a netns is given."""
    return [IP, "netns", "exec", netns, *argv] if netns else list(argv)


async def run(argv: Sequence[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def add_netns(name: str) -> None:
    """Create a netns with loopback up; raises RuntimeError on failure."""
    for argv in ([IP, "netns", "add", name], [IP, "-n", name, "link", "set", "lo", "up"]):
        rc, out = await run(argv)
        if rc != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {out.strip()}")


async def delete_netns(name: str) -> None:
    await run([IP, "netns", "del", name])


def add_netns_sync(name: str) -> None:
    """Blocking twin of add_netns, for fixtures."""
    for argv in ([IP, "netns", "add", name], [IP, "-n", name, "link", "set", "lo", "up"]):
        subprocess.run(argv, check=True, capture_output=True)


def delete_netns_sync(name: str) -> None:
    subprocess.run([IP, "netns", "del", name], check=False, capture_output=True)


def list_netns() -> list[str]:
    out = subprocess.run([IP, "netns", "list"], check=False, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]
