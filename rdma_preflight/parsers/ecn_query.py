"""Parse Spiderpool's ``rdma-qos.sh q`` query output into one record per RDMA device.

Two layouts exist. The documented one (docs/usage/roce-qos.md) prints, per device, a
``======== show configuration for device eth0 / mlx5_0========`` banner, the mlnx_qos
trust/PFC excerpt, ECN enable files, ``cnp_dscp``, ``cma_roce_tos: N`` and the
``traffic_class`` file. The current script (docs/example/qos/rdma-qos.sh) prints
``======== show PF device ...`` banners and a later ``======== show qos ===========``
section with ``rdma device mlx5_0:   rdma_cm qos = N`` / ``libverbs qos: ... = Global
tclass=N`` lines for every device, PF and VF. Both are read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import mlnx_qos
from ._qos_text import TosValue, source_lines, tos_value
from ._text import Line, to_int
from .base import ParseError
from .traffic_class import global_tclass_token

TOOL = "rdma-qos.sh q"

_BANNER = re.compile(
    r"^=+\s*show (?:configuration for device|PF device)\s+(\S+)\s*/\s*([^\s=]*)\s*=*\s*$")
_QOS_BANNER = re.compile(r"^=+\s*show qos\s*=*\s*$")
_ECN = re.compile(
    r"^ECN Enabled for priority (\S+): /sys/class/net/([^/\s]+)/ecn/(roce_np|roce_rp)"
    r"/enable/(\S+) = ?(.*)$")
_CNP = re.compile(r"^QOS for CNP: /sys/class/net/([^/\s]+)/ecn/roce_np/cnp_dscp = ?(.*)$")
_CMA_DOC = re.compile(r"^cma_roce_tos:\s*(.*)$")
_TCLASS_DOC = re.compile(r"^QOS for rdma: /sys/class/infiniband/([^/\s]+)/tc/\d+/traffic_class"
                         r" = ?(.*)$")
_CMA_NEW = re.compile(r"^rdma device ([^:\s]+):\s+rdma_cm qos = ?(.*)$")
_TCLASS_NEW = re.compile(r"^rdma device ([^:\s]+):\s+libverbs qos: /sys/class/infiniband/"
                         r"[^/\s]+/tc/\d+/traffic_class = ?(.*)$")


@dataclass(frozen=True)
class EcnDevice:
    """QoS state of one RDMA device as the query printed it (None = not printed/unreadable)."""

    rdma_dev: str | None
    netdev: str | None
    qos: mlnx_qos.MlnxQos | None = None
    ecn_np: dict[int, bool | None] = field(default_factory=dict)
    ecn_rp: dict[int, bool | None] = field(default_factory=dict)
    cnp_dscp: int | None = None
    cma_roce_tos: TosValue | None = None
    traffic_class: TosValue | None = None


@dataclass(frozen=True)
class EcnQuery:
    """All devices in the query output, keyed by RDMA device (netdev if the banner had none)."""

    devices: dict[str, EcnDevice]

    def by_netdev(self, netdev: str) -> EcnDevice | None:
        return next((d for d in self.devices.values() if d.netdev == netdev), None)


@dataclass
class _Dev:
    rdma_dev: str | None
    netdev: str | None
    qos_lines: list[Line] = field(default_factory=list)
    ecn: dict[str, dict[int, bool | None]] = field(
        default_factory=lambda: {"roce_np": {}, "roce_rp": {}})
    cnp_dscp: int | None = None
    cma: TosValue | None = None
    tclass: TosValue | None = None


class _State:
    def __init__(self) -> None:
        self.devs: list[_Dev] = []
        self.current: _Dev | None = None

    def for_netdev(self, netdev: str) -> _Dev:
        if self.current is not None and self.current.netdev == netdev:
            return self.current
        found = next((d for d in self.devs if d.netdev == netdev), None)
        return found or self._add(_Dev(None, netdev))

    def for_rdma(self, rdma_dev: str) -> _Dev:
        found = next((d for d in self.devs if d.rdma_dev == rdma_dev), None)
        return found or self._add(_Dev(rdma_dev, None))

    def _add(self, dev: _Dev) -> _Dev:
        self.devs.append(dev)
        return dev


def parse(text: str | bytes) -> EcnQuery:
    """Parse ``rdma-qos.sh q`` output (either layout)."""
    state = _State()
    lines = source_lines(TOOL, text)
    for line in lines:
        _feed(state, line)
    if not state.devs:
        first = lines[0] if lines else None
        raise ParseError(TOOL, first.number if first else 0, "no device in query output",
                         first.text if first else None)
    return EcnQuery({(d.rdma_dev or d.netdev or ""): _freeze(d) for d in state.devs})


def _feed(state: _State, line: Line) -> None:
    text = line.stripped
    if m := _BANNER.match(text):
        netdev, rdma = m.group(1), m.group(2) or None
        state.current = state._add(_Dev(rdma, netdev))
    elif _QOS_BANNER.match(text):
        state.current = None
    elif m := _ECN.match(text):
        prio = to_int(TOOL, line, m.group(1), "ECN priority", high=7)
        if to_int(TOOL, line, m.group(4), "ECN file priority", high=7) != prio:
            raise ParseError(TOOL, line.number, "priority label and file differ", line.text)
        state.for_netdev(m.group(2)).ecn[m.group(3)][prio] = _flag(line, m.group(5))
    elif m := _CNP.match(text):
        value = m.group(2).strip()
        state.for_netdev(m.group(1)).cnp_dscp = (
            to_int(TOOL, line, value, "cnp_dscp", high=63) if value else None)
    elif m := _CMA_DOC.match(text):
        _current(state, line).cma = _tos(line, m.group(1))
    elif m := _TCLASS_DOC.match(text):
        _dev_for_rdma_line(state, m.group(1)).tclass = _tclass(line, m.group(2))
    elif m := _CMA_NEW.match(text):
        state.for_rdma(m.group(1)).cma = _tos(line, m.group(2))
    elif m := _TCLASS_NEW.match(text):
        state.for_rdma(m.group(1)).tclass = _tclass(line, m.group(2))
    elif mlnx_qos.is_qos_line(text):
        _current(state, line).qos_lines.append(line)
    else:
        raise ParseError(TOOL, line.number, "unrecognised line", line.text)


def _current(state: _State, line: Line) -> _Dev:
    if state.current is None:
        raise ParseError(TOOL, line.number, "line outside a device section", line.text)
    return state.current


def _dev_for_rdma_line(state: _State, rdma_dev: str) -> _Dev:
    if state.current is not None and state.current.rdma_dev in (None, rdma_dev):
        state.current.rdma_dev = rdma_dev
        return state.current
    return state.for_rdma(rdma_dev)


def _flag(line: Line, value: str) -> bool | None:
    value = value.strip()
    return None if not value else to_int(TOOL, line, value, "ECN enable", high=1) == 1


def _tos(line: Line, value: str) -> TosValue | None:
    value = value.strip()
    return tos_value(TOOL, line, value) if value else None


def _tclass(line: Line, value: str) -> TosValue | None:
    if not value.strip():
        return None
    token = global_tclass_token(value)
    if token is None:
        raise ParseError(TOOL, line.number, "traffic_class value lacks 'Global tclass='",
                         line.text)
    return tos_value(TOOL, line, token)


def _freeze(d: _Dev) -> EcnDevice:
    return EcnDevice(
        rdma_dev=d.rdma_dev,
        netdev=d.netdev,
        qos=mlnx_qos.parse_lines(d.qos_lines, TOOL) if d.qos_lines else None,
        ecn_np=dict(sorted(d.ecn["roce_np"].items())),
        ecn_rp=dict(sorted(d.ecn["roce_rp"].items())),
        cnp_dscp=d.cnp_dscp,
        cma_roce_tos=d.cma,
        traffic_class=d.tclass,
    )
