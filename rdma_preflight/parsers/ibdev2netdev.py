"""Parse MLNX/DOCA-OFED ``ibdev2netdev`` (plain and ``-v``).

Plain:   ``mlx5_0 port 1 ==> enp4s0f0np0 (Up)``
Verbose: ``0000:02:00.0 mlx5_0 (MT4115 - ...) ... fw 12.23.1020 port 1 (ACTIVE) ==> enp2s0f0 (Up)``
No output is valid (no RDMA devices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import Line, read_lines, to_int
from .base import ParseError

TOOL = "ibdev2netdev"
_PLAIN = re.compile(r"(?P<dev>\S+)\s+port\s+(?P<port>[0-9]+)\s+==>\s+(?P<netdev>\S+)\s+\((?P<state>[^()]*)\)")
_VERBOSE = re.compile(
    r"(?P<pci>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+(?P<dev>\S+)\s.*?"
    r"\bport\s+(?P<port>[0-9]+)\s+\((?P<pstate>[^()]*)\)\s+==>\s+(?P<netdev>\S+)\s+\((?P<state>[^()]*)\)")


@dataclass(frozen=True)
class Ibdev2netdevEntry:
    """One RDMA device port and its netdev; ``up`` is the netdev's ``(Up)``."""

    device: str
    port: int
    netdev: str
    state: str
    pci: str | None = None
    port_state: str | None = None

    @property
    def up(self) -> bool:
        return self.state == "Up"


@dataclass(frozen=True)
class Ibdev2netdevResult:
    entries: tuple[Ibdev2netdevEntry, ...]
    elided: bool = False

    def netdev_of(self, device: str, port: int = 1) -> str | None:
        return next((e.netdev for e in self.entries if e.device == device and e.port == port), None)


def parse(text: str | bytes) -> Ibdev2netdevResult:
    """One entry per ``==>`` line."""
    lines = read_lines(TOOL, text)
    return Ibdev2netdevResult(tuple(_entry(line) for line in lines.content), lines.elided)


def _entry(line: Line) -> Ibdev2netdevEntry:
    match = _PLAIN.fullmatch(line.stripped) or _VERBOSE.fullmatch(line.stripped)
    if not match:
        raise ParseError(TOOL, line.number, "not an 'X port N ==> netdev (State)' line", line.text)
    groups = match.groupdict()
    return Ibdev2netdevEntry(
        device=groups["dev"], port=to_int(TOOL, line, groups["port"], "port", high=255),
        netdev=groups["netdev"], state=groups["state"].strip(),
        pci=groups.get("pci"), port_state=(groups.get("pstate") or "").strip() or None)
