"""Parse perftest ``ib_write_bw`` output (client, server, or both interleaved).

Per bandwidth-practice.md §1.3/§5: the header block gives device, link type, QPs, MTU,
GID index, rdma_cm and TOS; the result table's unit comes from its header
(``BW average[Gb/sec]`` with ``--report_gbits``, else ``[MB/sec]`` before perftest 24.07
and ``[MiB/sec]`` after, both 2^20 bytes/s). Known error signatures become a typed
:class:`BwFailure`; a bare ``Waiting for client to connect`` banner is a waiting server.
Output that is neither a result, a known failure nor a waiting banner is a ParseError.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ._qos_text import source_lines
from ._text import Line, to_int
from .base import ParseError

TOOL = "ib_write_bw"

MIB_PER_S_IN_GBPS = 2**20 * 8 / 1e9  # perftest "MB"/"MiB" is 2^20 bytes; Gb is 10^9 bits

_TITLE = re.compile(r"^([A-Za-z_]+(?: [A-Za-z_]+)* (?:BW|Latency|Lat) Test)$")
_ADDRESS = re.compile(r"^(local|remote) address:\s*(.*)$")
_GID = re.compile(r"^GID:\s*(\S+)\s*$")
_TABLE = re.compile(r"^#bytes\s+#iterations\s+BW peak\[([^\]]+)\]\s+BW average\[([^\]]+)\]"
                    r"(\s+MsgRate\[Mpps\])?")
_NUMBER_ROW = re.compile(r"^\d")
_WAITING = re.compile(r"Waiting for client to connect")
_UNITS = {"Gb/sec": 1.0, "MB/sec": MIB_PER_S_IN_GBPS, "MiB/sec": MIB_PER_S_IN_GBPS}


class BwFailureKind(enum.Enum):
    """Failure categories of bandwidth-practice.md §5."""

    NO_DEVICE = "no RDMA device / wrong -d"
    BINARY_MISSING = "ib_write_bw binary missing"
    PORT_NOT_ACTIVE = "port not Active"
    EMPTY_GID = "empty/absent GID"
    HCA_CONNECT_FAILED = "unable to connect the HCAs through the link"
    INVALID_GID_INDEX = "socket/QP setup failed (usually an invalid GID index)"
    GID_TYPE_MISMATCH = "GID type / IP version mismatch"
    COMPLETION_ERROR = "work completion error"
    TRANSPORT_RETRY_EXCEEDED = "transport retry counter exceeded (unroutable GID, path drops)"
    CONNECT_FAILED = "side channel: could not connect to the server"
    EXCHANGE_FAILED = "side channel: peer died mid-handshake"
    SERVER_TIMEOUT = "server got no message in time"
    MEMLOCK = "could not register memory / create resources (memlock, GDR MR)"
    VERSION_MISMATCH = "perftest version skew"
    BELOW_BW_LIMIT = "BW below the -w limit"
    MTU_FALLBACK = "requested MTU above active MTU; perftest fell back"


# (pattern, kind, specificity): the most specific fatal signature wins, then the earliest.
_SIGNATURES: tuple[tuple[re.Pattern[str], BwFailureKind, int], ...] = tuple(
    (re.compile(p), k, s) for p, k, s in (
        (r"No IB devices found", BwFailureKind.NO_DEVICE, 2),
        (r"IB device \S+ not found", BwFailureKind.NO_DEVICE, 2),
        (r"Unable to find the Infiniband/RoCE device", BwFailureKind.NO_DEVICE, 1),
        (r"ib_write_bw: (?:No such file or directory|command not found)|"
         r"failed to execute \S*ib_write_bw", BwFailureKind.BINARY_MISSING, 2),
        (r"Port number \d+ state is \S+", BwFailureKind.PORT_NOT_ACTIVE, 2),
        (r"Unable to Connect the HCA's through the link", BwFailureKind.HCA_CONNECT_FAILED, 1),
        (r"Unable to set up socket connection", BwFailureKind.INVALID_GID_INDEX, 1),
        (r"Found Incompatibility issue with GID types|Please Try to use a different IP version",
         BwFailureKind.GID_TYPE_MISMATCH, 2),
        (r"Completion with error at (?:client|server)", BwFailureKind.COMPLETION_ERROR, 1),
        (r"Failed status 12\b|transport retry counter exceeded",
         BwFailureKind.TRANSPORT_RETRY_EXCEEDED, 3),
        (r"Failed status \d+", BwFailureKind.COMPLETION_ERROR, 2),
        (r"Couldn't connect to \S+", BwFailureKind.CONNECT_FAILED, 2),
        (r"Unable to init the socket connection", BwFailureKind.CONNECT_FAILED, 1),
        (r"Couldn't read remote address|Failed to exchange data between server and clients",
         BwFailureKind.EXCHANGE_FAILED, 2),
        (r"Did not get Message for \d+ Seconds", BwFailureKind.SERVER_TIMEOUT, 2),
        (r"Couldn't allocate MR|failed to create mr", BwFailureKind.MEMLOCK, 2),
        (r"Couldn't create IB resources", BwFailureKind.MEMLOCK, 1),
        (r"not compatible with versions older than", BwFailureKind.VERSION_MISMATCH, 2),
        (r"BW result is below bw limit", BwFailureKind.BELOW_BW_LIMIT, 2),
        (r"Requested mtu is higher than active mtu|Changing to active mtu",
         BwFailureKind.MTU_FALLBACK, 0),
    ))
_NON_FATAL = {BwFailureKind.MTU_FALLBACK}


@dataclass(frozen=True)
class BwFailure:
    """A recognised error signature, the 1-based line it was on and that line's text."""

    kind: BwFailureKind
    line: int
    text: str = ""


@dataclass(frozen=True)
class BwHeader:
    """The perftest header block; fields it did not print are None (unknown keys in ``extra``)."""

    test_name: str | None = None
    device: str | None = None
    link_type: str | None = None
    num_qps: int | None = None
    transport_type: str | None = None
    connection_type: str | None = None
    using_srq: bool | None = None
    mtu: int | None = None
    gid_index: int | None = None
    tx_depth: int | None = None
    cq_moderation: int | None = None
    rdma_cm: bool | None = None
    data_exchange: str | None = None
    tos: int | None = None
    max_inline_data: int | None = None
    dual_port: bool | None = None
    pcie_relax_order: bool | None = None
    numa_node: int | None = None
    bw_unit: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BwRow:
    """One result row in the printed unit; ``*_gbps`` normalise to 10^9 bit/s."""

    bytes: int
    iterations: int
    bw_peak: float
    bw_average: float
    msg_rate_mpps: float | None
    unit: str
    line: int

    @property
    def peak_gbps(self) -> float:
        return self.bw_peak * _UNITS[self.unit]

    @property
    def average_gbps(self) -> float:
        return self.bw_average * _UNITS[self.unit]


@dataclass(frozen=True)
class BwResult:
    """Parsed run. ``average_gbps`` is the last row's BW average (the largest size printed).

    ``waiting`` means only the server's banner was seen: no result and no failure.
    ``warnings`` holds non-fatal signatures (MTU fallback) found beside a result.
    """

    header: BwHeader
    rows: list[BwRow]
    average_gbps: float | None
    failure: BwFailure | None
    waiting: bool = False
    warnings: tuple[BwFailure, ...] = ()
    local_gids: tuple[str, ...] = ()
    remote_gids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.rows) and self.failure is None


# Header keys -> (field, converter). Converters take the raw token.
def _on_off(v: str) -> bool | None:
    return {"ON": True, "OFF": False}.get(v.upper())


# At most 20 digits (issue 9 fuzzing): int() of a 4301-digit string raises ValueError.
def _bytes(v: str) -> int | None:
    m = re.fullmatch(r"([0-9]{1,20})(?:\[B\])?", v)
    return int(m.group(1)) if m else None


def _int(v: str) -> int | None:
    return int(v) if re.fullmatch(r"[0-9]{1,20}", v) else None


_HEADER_KEYS = {
    "Device": ("device", str), "Link type": ("link_type", str),
    "Number of qps": ("num_qps", _int), "Transport type": ("transport_type", str),
    "Connection type": ("connection_type", str), "Using SRQ": ("using_srq", _on_off),
    "Mtu": ("mtu", _bytes), "GID index": ("gid_index", _int), "TX depth": ("tx_depth", _int),
    "CQ Moderation": ("cq_moderation", _int), "rdma_cm QPs": ("rdma_cm", _on_off),
    "Data ex. method": ("data_exchange", str), "TOS": ("tos", _int),
    "Max inline data": ("max_inline_data", _bytes), "Dual-port": ("dual_port", _on_off),
    "PCIe relax order": ("pcie_relax_order", _on_off), "NUMA node": ("numa_node", _int),
}


class _State:
    def __init__(self) -> None:
        self.header: dict[str, object] = {}
        self.extra: dict[str, str] = {}
        self.unit: str | None = None
        self.has_msgrate = True
        self.rows: list[BwRow] = []
        self.signatures: list[tuple[int, BwFailure]] = []
        self.waiting = False
        self.gids: dict[str, list[str]] = {"local": [], "remote": []}
        self.last_address: str | None = None


def parse(text: str | bytes) -> BwResult:
    """Parse one ib_write_bw run's output (stdout and stderr may be concatenated)."""
    state = _State()
    lines = source_lines(TOOL, text)
    for line in lines:
        _feed(state, line)
    return _result(state, lines)


def _feed(state: _State, line: Line) -> None:
    text = line.stripped.strip("*").strip() if line.stripped.startswith("*") else line.stripped
    for pattern, kind, specificity in _SIGNATURES:
        if pattern.search(text):
            state.signatures.append((specificity, BwFailure(kind, line.number, text)))
            return
    if _WAITING.search(text):
        state.waiting = True
    elif not text or set(text) <= {"-", "*"}:
        return
    elif m := _TITLE.match(text):
        state.header.setdefault("test_name", m.group(1))
    elif m := _TABLE.match(text):
        _table_header(state, line, m)
    elif _NUMBER_ROW.match(text):
        _row(state, line)
    elif m := _ADDRESS.match(text):
        state.last_address = m.group(1)
    elif m := _GID.match(text):
        if state.last_address:
            state.gids[state.last_address].append(m.group(1))
    elif ":" in text:
        _header_pairs(state, text)


def _table_header(state: _State, line: Line, m: re.Match[str]) -> None:
    peak, avg = m.group(1), m.group(2)
    if peak != avg or avg not in _UNITS:
        raise ParseError(TOOL, line.number, f"unknown bandwidth unit {avg!r}", line.text)
    if state.unit not in (None, avg):
        raise ParseError(TOOL, line.number, f"unit changed from {state.unit} to {avg}",
                         line.text)
    state.unit = avg
    state.has_msgrate = m.group(3) is not None


def _row(state: _State, line: Line) -> None:
    if state.unit is None:
        raise ParseError(TOOL, line.number, "result row before the '#bytes' header", line.text)
    fields = line.stripped.split()
    if len(fields) != (5 if state.has_msgrate else 4):
        raise ParseError(TOOL, line.number, f"result row has {len(fields)} fields", line.text)
    size = to_int(TOOL, line, fields[0], "#bytes", low=1)
    iterations = to_int(TOOL, line, fields[1], "#iterations")
    try:
        values = [float(f) for f in fields[2:]]
    except ValueError:
        raise ParseError(TOOL, line.number, "non-numeric bandwidth", line.text) from None
    if any(v != v or v < 0 or v == float("inf") for v in values):
        raise ParseError(TOOL, line.number, "bandwidth must be a finite number >= 0", line.text)
    row = BwRow(size, iterations, values[0], values[1],
                values[2] if state.has_msgrate else None, state.unit, line.number)
    if not any(_same_row(row, seen) for seen in state.rows):
        state.rows.append(row)


def _same_row(a: BwRow, b: BwRow) -> bool:
    """Interleaved server+client logs print the same row twice; keep one."""
    return (a.bytes, a.iterations, a.bw_peak, a.bw_average, a.msg_rate_mpps) == \
        (b.bytes, b.iterations, b.bw_peak, b.bw_average, b.msg_rate_mpps)


_KEY_RUN = re.compile(r"(?<![A-Za-z0-9_.*\- ])[A-Za-z0-9_.*\- ]*+\Z")
_LETTER = re.compile(r"[A-Za-z]")
_VALUE = re.compile(r"\s*+(\S+)")


def _pairs(text: str) -> Iterator[tuple[str, str]]:
    """What ``re.finditer(r"([A-Za-z][A-Za-z0-9_.*\\- ]*?)\\s*:\\s*(\\S+)", text)`` found, in linear
    time (issue 9 fuzzing: that search restarted its lazy key at every letter and took minutes
    on one long line). Each colon is looked at once: the key is the run of key characters
    before it (blanks before the colon dropped), from its first letter; the value is the next
    non-blank word after it."""
    pos = 0
    while (colon := text.find(":", pos)) >= 0:
        before = text[pos:colon].rstrip()
        letter = _LETTER.search(before, _KEY_RUN.search(before).start())
        value = _VALUE.match(text, colon + 1)
        if letter is None or value is None:
            pos = colon + 1
            continue
        yield before[letter.start():], value.group(1)
        pos = value.end()


def _header_pairs(state: _State, text: str) -> None:
    """``Key : value`` pairs (two per line in perftest's header); notices are not headers."""
    for key, value in _pairs(text):
        key = key.strip()
        if key in _HEADER_KEYS:
            name, convert = _HEADER_KEYS[key]
            state.header.setdefault(name, convert(value))
        elif "test_name" in state.header and state.unit is None and not key.isupper():
            state.extra.setdefault(key, value)


def _result(state: _State, lines: list[Line]) -> BwResult:
    fatal = [(s, f) for s, f in state.signatures if f.kind not in _NON_FATAL]
    failure = None
    if fatal:
        best = max(s for s, _ in fatal)
        failure = next(f for s, f in fatal if s == best)
        if failure.kind is BwFailureKind.HCA_CONNECT_FAILED and any(
                _zero_gid(g) for g in state.gids["local"] + state.gids["remote"]):
            failure = BwFailure(BwFailureKind.EMPTY_GID, failure.line, failure.text)
    if not state.rows and failure is None and not state.waiting:
        first = lines[0] if lines else None
        raise ParseError(TOOL, 0, "neither a result table, a known failure nor a waiting banner",
                         first.text if first else None)
    header = BwHeader(**state.header,  # type: ignore[arg-type]
                      bw_unit=state.unit, extra=state.extra)
    return BwResult(
        header=header, rows=state.rows,
        average_gbps=state.rows[-1].average_gbps if state.rows else None,
        failure=failure, waiting=state.waiting and not state.rows and failure is None,
        warnings=tuple(f for _, f in state.signatures if f.kind in _NON_FATAL),
        local_gids=tuple(state.gids["local"]), remote_gids=tuple(state.gids["remote"]))


def _zero_gid(gid: str) -> bool:
    return bool(gid) and set(gid) <= {"0", ":"}
