"""Parse ``ibv_devinfo`` plain, ``-v`` (verbose) and ``-l`` (list) output.

Plain and verbose share a shape: ``hca_id:`` opens a device, ``key: value``
lines describe it, ``port: N`` opens a port whose ``key: value`` lines (and
``GID[ i]:`` lines in ``-v``) follow. Verbose device sections also contain
free-form capability lines (flag names, ``... not supported``); those are kept
as raw text, never guessed at. ``Device ports:`` is optional (some builds omit it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._text import Line, read_lines, require_content, split_field, to_int
from .base import ParseError

TOOL = "ibv_devinfo"
_HCA = re.compile(r"hca_id:\s*(?P<id>\S+)")
_PORT = re.compile(r"port:\s*(?P<num>[0-9]+)")
_LIST = re.compile(r"(?P<count>[0-9]{1,4}) HCAs? found:")
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_GID = re.compile(r"GID\[\s*(?P<idx>[0-9]+)\]:\s*(?P<gid>[0-9A-Fa-f:.]+)(?:\s*,\s*(?P<type>.+))?")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*")
_ENUM = re.compile(r"(?P<name>\S+)\s*\((?P<num>[0-9]+)\)")
_NO_DEVICES = "No IB devices found"
_HCA_INTS = {"vendor_id": True, "vendor_part_id": False, "phys_port_cnt": False}  # key -> hex allowed
_HCA_TEXTS = ("fw_ver", "node_guid", "sys_image_guid", "hw_ver", "board_id")


@dataclass(frozen=True)
class IbvGid:
    index: int
    gid: str
    type: str | None = None


@dataclass(frozen=True)
class IbvPort:
    """One port; MTUs are bytes (``4096 (5)`` -> 4096), state without its number."""

    port: int
    state: str | None = None
    state_number: int | None = None
    max_mtu: int | None = None
    active_mtu: int | None = None
    sm_lid: int | None = None
    port_lid: int | None = None
    port_lmc: int | None = None
    link_layer: str | None = None
    active_width: str | None = None
    active_speed: str | None = None
    phys_state: str | None = None
    gids: tuple[IbvGid, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state == "PORT_ACTIVE"


@dataclass(frozen=True)
class IbvHca:
    hca_id: str
    transport: str | None = None
    fw_ver: str | None = None
    node_guid: str | None = None
    sys_image_guid: str | None = None
    vendor_id: int | None = None
    vendor_part_id: int | None = None
    hw_ver: str | None = None
    board_id: str | None = None
    phys_port_cnt: int | None = None
    ports: tuple[IbvPort, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)

    def port(self, number: int) -> IbvPort | None:
        return next((p for p in self.ports if p.port == number), None)


@dataclass(frozen=True)
class IbvDevinfoResult:
    hcas: tuple[IbvHca, ...]
    listed: tuple[str, ...] = ()
    no_devices: bool = False
    elided: bool = False

    def hca(self, hca_id: str) -> IbvHca | None:
        return next((h for h in self.hcas if h.hca_id == hca_id), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Device names from either the list form or the hca_id lines."""
        return self.listed or tuple(h.hca_id for h in self.hcas)


def parse(text: str | bytes) -> IbvDevinfoResult:
    """Devices and ports in output order, or the ``-l`` name list."""
    lines = read_lines(TOOL, text)
    require_content(TOOL, lines)
    first = lines.content[0]
    if first.stripped == _NO_DEVICES:
        return IbvDevinfoResult((), no_devices=True, elided=lines.elided)
    listing = _LIST.fullmatch(first.stripped)
    if listing:
        return _parse_list(lines.content, int(listing.group("count")), lines.elided)
    hcas: list[dict[str, object]] = []
    for line in lines.content:
        hca = _HCA.fullmatch(line.stripped)
        if hca:
            hcas.append({"hca_id": hca.group("id"), "ports": [], "fields": {}})
            continue
        if not hcas:
            raise ParseError(TOOL, line.number, "output does not start with hca_id", line.text)
        port = _PORT.fullmatch(line.stripped)
        if port:
            number = to_int(TOOL, line, port.group("num"), "port", low=1, high=255)
            hcas[-1]["ports"].append({"port": number, "gids": [], "fields": {}})  # type: ignore[union-attr]
        elif hcas[-1]["ports"]:
            _port_line(line, hcas[-1]["ports"][-1])  # type: ignore[index]
        else:
            _hca_line(line, hcas[-1])
    return IbvDevinfoResult(tuple(_build_hca(h) for h in hcas), elided=lines.elided)


def _parse_list(content: tuple[Line, ...], count: int, elided: bool) -> IbvDevinfoResult:
    names = []
    for line in content[1:]:
        if not _NAME.fullmatch(line.stripped):
            raise ParseError(TOOL, line.number, "not a device name", line.text)
        names.append(line.stripped)
    if count != len(names) and not elided:
        raise ParseError(TOOL, content[0].number, f"says {count} HCAs but lists {len(names)}", content[0].text)
    return IbvDevinfoResult((), listed=tuple(names), elided=elided)


def _hca_line(line: Line, hca: dict[str, object]) -> None:
    pair = split_field(line)
    fields: dict[str, str] = hca["fields"]  # type: ignore[assignment]
    if pair is None or not _KEY.fullmatch(pair[0]) or not pair[1]:
        if line.stripped != "Device ports:":
            fields["_other"] = fields.get("_other", "") + line.stripped + "\n"  # verbose capability lines
        return
    key, value = pair
    fields[key] = value
    if key in _HCA_INTS:
        hca[key] = to_int(TOOL, line, value, key, hex_ok=_HCA_INTS[key], high=0xFFFFFFFF)
    elif key in _HCA_TEXTS:
        hca[key] = value
    elif key == "transport":
        hca[key] = _strip_enum(value)


def _port_line(line: Line, port: dict[str, object]) -> None:
    gid = _GID.fullmatch(line.stripped)
    if gid:
        index = to_int(TOOL, line, gid.group("idx"), "GID index", high=0xFFFF)
        port["gids"].append(IbvGid(index, gid.group("gid").lower(), gid.group("type")))  # type: ignore[union-attr]
        return
    pair = split_field(line)
    if pair is None or not _KEY.fullmatch(pair[0]):
        raise ParseError(TOOL, line.number, "not a 'key: value' port line", line.text)
    key, value = pair
    fields: dict[str, str] = port["fields"]  # type: ignore[assignment]
    fields[key] = value
    if key == "state":
        port["state"], port["state_number"] = _enum(line, value, key)
    elif key in ("max_mtu", "active_mtu"):
        port[key] = to_int(TOOL, line, _enum(line, value, key)[0], key, low=256, high=65536)
    elif key in ("sm_lid", "port_lid"):
        port[key] = to_int(TOOL, line, value, key, high=0xFFFF)
    elif key == "port_lmc":
        port[key] = to_int(TOOL, line, value, key, hex_ok=True, high=7)
    elif key in ("active_width", "phys_state"):
        port[key] = _enum(line, value, key)[0]
    elif key in ("link_layer", "active_speed"):
        port[key] = _strip_enum(value)


def _enum(line: Line, value: str, key: str) -> tuple[str, int]:
    """``PORT_ACTIVE (4)`` -> ("PORT_ACTIVE", 4)."""
    match = _ENUM.fullmatch(value)
    if not match:
        raise ParseError(TOOL, line.number, f"{key} {value!r} is not 'NAME (N)'", line.text)
    return match.group("name"), to_int(TOOL, line, match.group("num"), key)


def _strip_enum(value: str) -> str:
    """``2.5 Gbps (1)`` -> ``2.5 Gbps``; values without a number are returned as they are."""
    head, sep, tail = value.rpartition(" (")
    return head if sep and tail.endswith(")") and tail[:-1].isdecimal() else value


def _build_hca(raw: dict[str, object]) -> IbvHca:
    ports = tuple(IbvPort(**{**p, "gids": tuple(p["gids"])}) for p in raw["ports"])  # type: ignore[union-attr]
    return IbvHca(**{**raw, "ports": ports})  # type: ignore[arg-type]
