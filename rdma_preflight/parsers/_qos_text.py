"""Helpers the QoS, PCIe, GPU-topology and perftest parsers share on top of :mod:`._text`.

Their outputs are often captured inside ``set -x`` traces (``+ mlnx_qos -i eth4``), so
trace lines are dropped here as well as the header, blanks and elisions ``_text`` drops.
Also: lspci-style ``Flag+``/``Flag-`` tokens and the ToS byte (DSCP << 2 | ECN) that
cma_roce_tos, traffic_class and rdma-qos.sh all print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import Line, read_lines, to_int
from .base import ParseError

_TRACE = re.compile(r"^\s*\++\s")


def source_lines(tool: str, data: str | bytes) -> list[Line]:
    """Numbered non-blank lines of the tool's output, without traces and elisions."""
    return [line for line in read_lines(tool, data).content if not _TRACE.match(line.text)]


def flags_from_tokens(tool: str, line: Line, tokens: list[str]) -> dict[str, bool]:
    """Turn ``Name+ Other-`` tokens (lspci style) into ``{"Name": True, "Other": False}``."""
    flags: dict[str, bool] = {}
    for token in tokens:
        if len(token) < 2 or token[-1] not in "+-":
            raise ParseError(tool, line.number, f"expected a Flag+/Flag- token, got {token!r}",
                             line.text)
        flags[token[:-1]] = token[-1] == "+"
    return flags


@dataclass(frozen=True)
class TosValue:
    """An IP ToS / RoCE traffic-class byte: DSCP in the top 6 bits, ECN in the low 2."""

    tos: int

    @property
    def dscp(self) -> int:
        return self.tos >> 2

    @property
    def ecn(self) -> int:
        return self.tos & 0x3


def tos_value(tool: str, line: Line, token: str) -> TosValue:
    """Parse a ToS byte (0..255) from ``token``."""
    return TosValue(to_int(tool, line, token, "ToS", high=255))
