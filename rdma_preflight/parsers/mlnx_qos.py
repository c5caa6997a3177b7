"""Parse ``mlnx_qos -i IF`` (MLNX_OFED / DOCA) output.

Spiderpool's lossless-RoCE design asks for trust mode ``dscp``, PFC on exactly the RDMA
priority, and relies on the default dscp2prio table (DSCP 40 -> prio 5); all three are
read from this output. The same lines appear as an excerpt in ``rdma-qos.sh q``, so
:func:`parse_lines` is reused by :mod:`ecn_query`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._qos_text import source_lines
from ._text import Line, to_int
from .base import ParseError

TOOL = "mlnx_qos"

# Linear-time patterns (issue 9 fuzzing): a lazy ``(.+?)`` or a backtracking ``\s*`` before
# ``\s*$`` / ``\s*,`` rescans every blank run, so one long run in a line took minutes.
_DCBX = re.compile(r"^DCBX mode:\s*(\S(?:.*\S)?)\s*$")
_TRUST = re.compile(r"^Priority trust (?:state|mode):\s*(\S+)\s*$")
_CABLE = re.compile(r"^Cable len:\s*(\S+)\s*$")
_PFC_START = re.compile(r"^PFC configuration:\s*$")
_DSCP2PRIO_START = re.compile(r"^dscp2prio mapping:\s*$")
_DSCP2PRIO_ROW = re.compile(r"^prio:\s*(\S+)\s+dscp:\s*(\S*)\s*$")
_TABLE_ROW = re.compile(r"^(priority|enabled|buffer)\s++([^:]*+)$", re.IGNORECASE)
_TC = re.compile(
    r"^tc:\s*(\S+)\s+ratelimit:\s*+([^,]*[^,\s])\s*,\s*tsa:\s*([A-Za-z_]+)"
    r"(?:\s*,\s*bw:\s*(\S+?)%)?\s*$")
_TC_PRIO = re.compile(r"^priority:\s*(\S+)\s*$")


@dataclass(frozen=True)
class TcConfig:
    """One traffic class: its transmission selection algorithm, ETS share and priorities."""

    tc: int
    tsa: str
    ratelimit: str
    bw_percent: int | None
    priorities: tuple[int, ...]


@dataclass(frozen=True)
class MlnxQos:
    """What ``mlnx_qos -i IF`` shows; fields the output did not print are None/empty."""

    dcbx_mode: str | None = None
    trust: str | None = None
    dscp2prio: dict[int, int] = field(default_factory=dict)
    cable_len: int | None = None
    pfc_enabled: dict[int, bool] | None = None
    pfc_buffer: dict[int, int] | None = None
    tcs: dict[int, TcConfig] = field(default_factory=dict)

    @property
    def pfc_priorities(self) -> tuple[int, ...]:
        """Priorities with PFC enabled, ascending (empty if no PFC table was shown)."""
        return tuple(p for p, on in sorted((self.pfc_enabled or {}).items()) if on)

    def prio_for_dscp(self, dscp: int) -> int | None:
        """Priority a DSCP value maps to in the shown dscp2prio table."""
        return self.dscp2prio.get(dscp)

    def tc_for_priority(self, prio: int) -> int | None:
        """Traffic class that carries ``prio``."""
        for tc in self.tcs.values():
            if prio in tc.priorities:
                return tc.tc
        return None


class _Builder:
    """Mutable state while walking the lines; frozen into :class:`MlnxQos` at the end."""

    def __init__(self) -> None:
        self.dcbx: str | None = None
        self.trust: str | None = None
        self.cable: int | None = None
        self.dscp2prio: dict[int, int] = {}
        self.pfc_rows: dict[str, dict[int, int]] = {}
        self.pfc_columns: list[int] | None = None
        self.tcs: dict[int, dict] = {}
        self.section: str | None = None
        self.last_tc: int | None = None
        self.recognised = 0


def is_qos_line(text: str) -> bool:
    """True for lines of the excerpt ``rdma-qos.sh q`` copies from mlnx_qos."""
    return bool(_TRUST.match(text) or _PFC_START.match(text) or _TABLE_ROW.match(text))


def parse(text: str | bytes) -> MlnxQos:
    """Parse full ``mlnx_qos -i IF`` output."""
    return parse_lines(source_lines(TOOL, text))


def parse_lines(lines: list[Line], tool: str = TOOL) -> MlnxQos:
    """Parse already-split lines (also used for the excerpt inside ``rdma-qos.sh q``)."""
    b = _Builder()
    for line in lines:
        _feed(b, line, tool)
    if not b.recognised:
        where = lines[0] if lines else None
        raise ParseError(tool, where.number if where else 0, "no mlnx_qos fields found",
                         where.text if where else None)
    return _freeze(b)


def _feed(b: _Builder, line: Line, tool: str) -> None:
    text = line.stripped
    if b.section == "pfc" and _pfc_row(b, line, tool):
        return
    if b.section == "dscp2prio" and _dscp_row(b, line, tool):
        return
    b.section = None
    if m := _DCBX.match(text):
        b.dcbx = m.group(1)
    elif m := _TRUST.match(text):
        b.trust = m.group(1).lower()
    elif m := _CABLE.match(text):
        b.cable = to_int(tool, line, m.group(1), "cable length")
    elif _PFC_START.match(text):
        b.section = "pfc"
    elif _DSCP2PRIO_START.match(text):
        b.section = "dscp2prio"
    elif m := _TC.match(text):
        _tc_line(b, line, m, tool)
    elif m := _TC_PRIO.match(text):
        if b.last_tc is None:
            raise ParseError(tool, line.number, "priority line before any tc line", line.text)
        b.tcs[b.last_tc]["priorities"].append(
            to_int(tool, line, m.group(1), "tc priority", high=7))
    else:
        return  # other mlnx_qos lines (buffer sizes, default priority, ...) are not needed
    b.recognised += 1


def _pfc_row(b: _Builder, line: Line, tool: str) -> bool:
    m = _TABLE_ROW.match(line.stripped)
    if not m:
        return False
    name, values = m.group(1).lower(), m.group(2).split()
    if name == "priority":
        b.pfc_columns = [to_int(tool, line, v, "PFC priority", high=7) for v in values]
        return True
    if b.pfc_columns is None:
        raise ParseError(tool, line.number, f"PFC row {name!r} before the priority row",
                         line.text)
    if len(values) != len(b.pfc_columns):
        raise ParseError(tool, line.number,
                         f"PFC row {name!r} has {len(values)} values for "
                         f"{len(b.pfc_columns)} priorities", line.text)
    b.pfc_rows[name] = {p: to_int(tool, line, v, f"PFC {name}")
                        for p, v in zip(b.pfc_columns, values)}
    return True


def _dscp_row(b: _Builder, line: Line, tool: str) -> bool:
    m = _DSCP2PRIO_ROW.match(line.stripped)
    if not m:
        return False
    prio = to_int(tool, line, m.group(1), "dscp2prio priority", high=7)
    for token in filter(None, m.group(2).split(",")):
        b.dscp2prio[to_int(tool, line, token, "DSCP", high=63)] = prio
    return True


def _tc_line(b: _Builder, line: Line, m: re.Match[str], tool: str) -> None:
    tc = to_int(tool, line, m.group(1), "tc", high=7)
    bw = to_int(tool, line, m.group(4), "ETS bandwidth", high=100) if m.group(4) else None
    b.tcs[tc] = {"tsa": m.group(3).lower(), "ratelimit": m.group(2), "bw": bw,
                 "priorities": []}
    b.last_tc = tc


def _freeze(b: _Builder) -> MlnxQos:
    enabled = b.pfc_rows.get("enabled")
    return MlnxQos(
        dcbx_mode=b.dcbx,
        trust=b.trust,
        dscp2prio=dict(b.dscp2prio),
        cable_len=b.cable,
        pfc_enabled={p: v != 0 for p, v in enabled.items()} if enabled is not None else None,
        pfc_buffer=b.pfc_rows.get("buffer"),
        tcs={tc: TcConfig(tc, d["tsa"], d["ratelimit"], d["bw"], tuple(d["priorities"]))
             for tc, d in sorted(b.tcs.items())},
    )
