"""Parse ``ethtool -S IF`` (full or grep'd) into counters, with per-priority helpers.

Lossless RoCE is verified on the wire by mlx5's per-priority counters
(``rx_prio5_pause``, ``tx_prio5_pause``, ``rx_prio5_discards``, ...), which Spiderpool's
exporter also reads. Section lines such as ``NIC statistics:`` are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._qos_text import source_lines
from ._text import to_int
from .base import ParseError

TOOL = "ethtool -S"

_COUNTER = re.compile(r"^(\S(?:.*?\S)?):\s+(\S+)$")
_SECTION = re.compile(r"^[^:]*\S:$")
_PRIO_KINDS = ("pause", "pause_duration", "pause_transition", "discards", "bytes", "packets")


@dataclass(frozen=True)
class PrioCounters:
    """The ``{rx,tx}_prio<N>_*`` counters for one priority; None when the NIC has none."""

    prio: int
    rx_pause: int | None
    tx_pause: int | None
    rx_pause_duration: int | None
    tx_pause_duration: int | None
    rx_pause_transition: int | None
    tx_pause_transition: int | None
    rx_discards: int | None
    tx_discards: int | None
    rx_bytes: int | None
    tx_bytes: int | None
    rx_packets: int | None
    tx_packets: int | None


@dataclass(frozen=True)
class EthtoolStats:
    """All counters in printed order (a repeated name keeps its last value)."""

    counters: dict[str, int]

    def get(self, name: str) -> int | None:
        return self.counters.get(name)

    def prio(self, prio: int) -> PrioCounters:
        """Per-priority counters, e.g. ``stats.prio(5).rx_pause`` reads ``rx_prio5_pause``."""
        values = {f"{d}_{k}": self.counters.get(f"{d}_prio{prio}_{k}")
                  for d in ("rx", "tx") for k in _PRIO_KINDS}
        return PrioCounters(prio=prio, **values)


def parse(text: str | bytes) -> EthtoolStats:
    """Parse ``name: value`` lines; any other non-section line is an error."""
    counters: dict[str, int] = {}
    for line in source_lines(TOOL, text):
        m = _COUNTER.match(line.stripped)
        if m:
            counters[m.group(1)] = to_int(TOOL, line, m.group(2), f"counter {m.group(1)}")
        elif not _SECTION.match(line.stripped):
            raise ParseError(TOOL, line.number, "not a 'name: value' counter line", line.text)
    if not counters:
        raise ParseError(TOOL, 0, "no counters in ethtool -S output")
    return EthtoolStats(counters)
