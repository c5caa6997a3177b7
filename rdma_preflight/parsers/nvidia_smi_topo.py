"""Parse ``nvidia-smi topo -m``: the GPU/NIC connection matrix, affinities and legends.

GPUDirect RDMA in Spiderpool's AI designs wants each rail NIC behind the same PCIe switch
as a GPU (PIX/PXB), not across the host bridge or socket (PHB/NODE/SYS). Newer drivers
name NICs ``NIC0..`` and map them in a ``NIC Legend:`` block; older ones print ``mlx5_0``
directly as column names. Both are accepted and NIC lookups take either name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._qos_text import source_lines
from ._text import Line
from .base import ParseError

TOOL = "nvidia-smi topo"

_AFFINITY_COLUMNS = (("CPU", "Affinity"), ("NUMA", "Affinity"), ("GPU", "NUMA", "ID"))
_CELL = re.compile(r"^[A-Z]+\d*$")
# linear: ``(.+?)\s*$`` rescanned every blank run of the description (issue 9 fuzzing)
_LEGEND_ENTRY = re.compile(r"^(\S+)\s*=\s*(\S(?:.*\S)?)\s*$")
_NIC_LEGEND_ENTRY = re.compile(r"^(\S+):\s*(\S+)\s*$")
_DEFAULT_LEVELS = frozenset({"PIX", "PXB"})


@dataclass(frozen=True)
class TopoAffinity:
    """The affinity columns of one row, as printed (``0-31``, ``0``, ``N/A``)."""

    cpu: str | None = None
    numa: str | None = None
    gpu_numa_id: str | None = None


@dataclass(frozen=True)
class Topology:
    """The matrix (``cells[row][column]``), affinities per row and both legends."""

    devices: tuple[str, ...]
    cells: dict[str, dict[str, str]]
    row_affinity: dict[str, TopoAffinity]
    legend: dict[str, str]
    nic_legend: dict[str, str]

    @property
    def gpus(self) -> tuple[str, ...]:
        return tuple(d for d in self.devices if re.fullmatch(r"GPU\d+", d))

    @property
    def nics(self) -> tuple[str, ...]:
        return tuple(d for d in self.devices if d not in self.gpus)

    def nic_name(self, column: str) -> str:
        """The RDMA device behind a matrix name (``NIC0`` -> ``mlx5_0``; ``mlx5_0`` stays)."""
        return self.nic_legend.get(column, column)

    def column(self, name: str) -> str:
        """The matrix name for a device given as ``GPU3``, ``NIC0`` or ``mlx5_0``."""
        if name in self.cells:
            return name
        for column, rdma in self.nic_legend.items():
            if rdma == name:
                return column
        raise KeyError(name)

    def affinity(self, gpu: str, nic: str) -> str:
        """The matrix cell between two devices: X, PIX, PXB, PHB, NODE, SYS or NV<n>.

        Either argument may be a GPU, a NIC column (``NIC0``) or an RDMA name (``mlx5_0``).
        """
        return self.cells[self.column(gpu)][self.column(nic)]

    def nics_with_gpu_within(self, levels: frozenset[str] | set[str] = _DEFAULT_LEVELS
                             ) -> dict[str, tuple[str, ...]]:
        """NICs (by RDMA name) that have at least one GPU at one of ``levels``, with those GPUs."""
        found: dict[str, tuple[str, ...]] = {}
        for nic in self.nics:
            close = tuple(g for g in self.gpus if _within(self.cells[g][nic], levels))
            if close:
                found[self.nic_name(nic)] = close
        return found


def _within(cell: str, levels: frozenset[str] | set[str]) -> bool:
    return cell in levels or (cell.startswith("NV") and "NV#" in levels)


def parse(text: str | bytes) -> Topology:
    """Parse ``nvidia-smi topo -m`` (matrix, ``Legend:`` and optional ``NIC Legend:``)."""
    lines = source_lines(TOOL, text)
    if not lines:
        raise ParseError(TOOL, 0, "empty output")
    columns, n_affinity = _header(lines[0])
    cells: dict[str, dict[str, str]] = {}
    affinity: dict[str, TopoAffinity] = {}
    legend: dict[str, str] = {}
    nic_legend: dict[str, str] = {}
    section = "matrix"
    for line in lines[1:]:
        text = line.stripped
        if text == "Legend:":
            section = "legend"
        elif text == "NIC Legend:":
            section = "nic_legend"
        elif section == "matrix":
            _row(line, columns, n_affinity, cells, affinity)
        elif section == "legend" and (m := _LEGEND_ENTRY.match(text)):
            legend[m.group(1)] = m.group(2)
        elif section == "nic_legend" and (m := _NIC_LEGEND_ENTRY.match(text)):
            nic_legend[m.group(1)] = m.group(2)
    missing = [c for c in columns if c not in cells]
    if missing:
        raise ParseError(TOOL, lines[0].number, f"no matrix row for {', '.join(missing)}",
                         lines[0].text)
    return Topology(tuple(columns), cells, affinity, legend, nic_legend)


def _header(line: Line) -> tuple[list[str], int]:
    tokens = line.stripped.split()
    names: list[str] = []
    n_affinity = 0
    i = 0
    while i < len(tokens):
        for words in _AFFINITY_COLUMNS:
            if tuple(tokens[i:i + len(words)]) == words:
                n_affinity += 1
                i += len(words)
                break
        else:
            if n_affinity:
                raise ParseError(TOOL, line.number, f"device column {tokens[i]!r} after "
                                 "affinity columns", line.text)
            names.append(tokens[i])
            i += 1
    if not names or not re.fullmatch(r"GPU\d+|NIC\d+|mlx\d+_\d+|\S+_\d+", names[0]):
        raise ParseError(TOOL, line.number, "not an nvidia-smi topo -m header", line.text)
    if len(set(names)) != len(names):
        raise ParseError(TOOL, line.number, "duplicate device column", line.text)
    return names, n_affinity


def _row(line: Line, columns: list[str], n_affinity: int,
         cells: dict[str, dict[str, str]], affinity: dict[str, TopoAffinity]) -> None:
    tokens = line.stripped.split()
    name, values = tokens[0], tokens[1:]
    if name not in columns:
        raise ParseError(TOOL, line.number, f"row {name!r} is not a matrix column", line.text)
    if name in cells:
        raise ParseError(TOOL, line.number, f"duplicate row {name!r}", line.text)
    if not len(columns) <= len(values) <= len(columns) + n_affinity:
        raise ParseError(TOOL, line.number,
                         f"row has {len(values)} values for {len(columns)} columns", line.text)
    row = dict(zip(columns, values))
    for column, cell in row.items():
        if not _CELL.match(cell) or (cell == "X") != (column == name):
            raise ParseError(TOOL, line.number, f"bad cell {cell!r} in column {column}",
                             line.text)
    cells[name] = row
    extra = values[len(columns):] + [None] * 3
    affinity[name] = TopoAffinity(*extra[:3])
