"""Parse ``ibstat`` in all its forms.

Forms: all CAs; one CA (``ibstat mlx4_1``); one port (``ibstat mlx4_0 2``:
``CA: 'x'`` header, unindented fields); ``ibstat -s`` (CA summary, no ports);
grep'd one-liners such as ``Link layer: Ethernet`` (no headers at all); and a
failing run whose last line is ``ibpanic: ...`` (kept as ``error``, with the
CAs printed before it). Fields are recognised by their label, not by
indentation, because doc examples re-indent them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._text import Line, read_lines, require_content, split_field, to_float, to_int
from .base import ParseError

TOOL = "ibstat"
_CA = re.compile(r"CA:?\s+'(?P<name>[^']*)'")
_PORT = re.compile(r"Port\s+(?P<num>[0-9]+):")
_GUID = re.compile(r"0x[0-9a-fA-F]{1,16}")
_LABEL = re.compile(r"[A-Za-z][A-Za-z ]*")
_CA_FIELDS = {"CA type": "ca_type", "Number of ports": "num_ports", "Firmware version": "firmware_version",
              "Hardware version": "hardware_version", "Node GUID": "node_guid",
              "System image GUID": "system_image_guid"}
_PORT_FIELDS = {"State": "state", "Physical state": "physical_state", "Rate": "rate_gbps",
                "Base lid": "base_lid", "LMC": "lmc", "SM lid": "sm_lid",
                "Capability mask": "capability_mask", "Port GUID": "port_guid", "Link layer": "link_layer"}


@dataclass(frozen=True)
class IbstatPort:
    """One port; ``number`` is None for grep'd lines that carry no ``Port N:`` header."""

    number: int | None
    state: str | None = None
    physical_state: str | None = None
    rate_gbps: float | None = None
    base_lid: int | None = None
    lmc: int | None = None
    sm_lid: int | None = None
    capability_mask: int | None = None
    port_guid: str | None = None
    link_layer: str | None = None


@dataclass(frozen=True)
class IbstatCA:
    """One channel adapter; ``name`` is None for grep'd lines without a ``CA`` header."""

    name: str | None
    ca_type: str | None = None
    num_ports: int | None = None
    firmware_version: str | None = None
    hardware_version: str | None = None
    node_guid: str | None = None
    system_image_guid: str | None = None
    ports: tuple[IbstatPort, ...] = ()

    def port(self, number: int) -> IbstatPort | None:
        return next((p for p in self.ports if p.number == number), None)


@dataclass(frozen=True)
class IbstatResult:
    cas: tuple[IbstatCA, ...]
    error: str | None = None
    warnings: tuple[str, ...] = ()
    unknown_fields: tuple[str, ...] = ()
    elided: bool = False

    def ca(self, name: str) -> IbstatCA | None:
        return next((ca for ca in self.cas if ca.name == name), None)

    @property
    def link_layers(self) -> tuple[str, ...]:
        """Every port's link layer in output order (the C-02 run-time fact)."""
        return tuple(p.link_layer for ca in self.cas for p in ca.ports if p.link_layer is not None)


@dataclass
class _CABuilder:
    fields: dict[str, object]
    ports: list[dict[str, object]] = field(default_factory=list)

    def build(self) -> IbstatCA:
        return IbstatCA(**self.fields, ports=tuple(IbstatPort(**p) for p in self.ports))  # type: ignore[arg-type]


def parse(text: str | bytes) -> IbstatResult:
    """CAs and ports in output order; the ibpanic/ibwarn lines go to ``error``/``warnings``."""
    lines = read_lines(TOOL, text)
    require_content(TOOL, lines)
    cas: list[_CABuilder] = []
    error: str | None = None
    warnings: list[str] = []
    unknown: list[str] = []
    for line in lines.content:
        body = line.stripped
        if body.startswith("ibpanic:"):
            error = body
            continue
        if body.startswith("ibwarn:"):
            warnings.append(body)
            continue
        if error is not None:
            raise ParseError(TOOL, line.number, "output continues after ibpanic", line.text)
        header = _CA.fullmatch(body)
        if header:
            cas.append(_CABuilder({"name": header.group("name")}))
            continue
        port = _PORT.fullmatch(body)
        if port:
            _current_ca(cas).ports.append({"number": to_int(TOOL, line, port.group("num"), "port number")})
            continue
        _add_field(line, cas, unknown)
    return IbstatResult(tuple(b.build() for b in cas), error, tuple(warnings), tuple(unknown), lines.elided)


def _current_ca(cas: list[_CABuilder]) -> _CABuilder:
    if not cas:
        cas.append(_CABuilder({"name": None}))
    return cas[-1]


def _add_field(line: Line, cas: list[_CABuilder], unknown: list[str]) -> None:
    pair = split_field(line)
    if pair is None or not _LABEL.fullmatch(pair[0]):
        raise ParseError(TOOL, line.number, "not an ibstat line", line.text)
    label, value = pair
    if label in _CA_FIELDS:
        ca = _current_ca(cas)
        attr = _CA_FIELDS[label]
        if attr in ca.fields or ca.ports:
            if ca.fields["name"] is not None:
                raise ParseError(TOOL, line.number, f"{label!r} repeated or after the ports", line.text)
            cas.append(_CABuilder({"name": None}))  # grep'd lines: one per CA
            ca = cas[-1]
        ca.fields[attr] = _ca_value(line, attr, value)
    elif label in _PORT_FIELDS:
        ca = _current_ca(cas)
        attr = _PORT_FIELDS[label]
        if not ca.ports or (attr in ca.ports[-1] and ca.ports[-1]["number"] is None):
            ca.ports.append({"number": None})
        elif attr in ca.ports[-1]:
            raise ParseError(TOOL, line.number, f"{label!r} repeated in one port", line.text)
        ca.ports[-1][attr] = _port_value(line, attr, value)
    else:
        unknown.append(label)


def _ca_value(line: Line, attr: str, value: str) -> object:
    if attr == "num_ports":
        return to_int(TOOL, line, value, "number of ports", high=255)
    if attr in ("node_guid", "system_image_guid"):
        return _guid(line, value)
    return value or None  # soft devices may print an empty CA type


def _port_value(line: Line, attr: str, value: str) -> object:
    if attr == "rate_gbps":
        return to_float(TOOL, line, value, "rate")
    if attr in ("base_lid", "sm_lid"):
        return to_int(TOOL, line, value, attr, high=0xFFFF)
    if attr == "lmc":
        return to_int(TOOL, line, value, "LMC", high=7)
    if attr == "capability_mask":
        return to_int(TOOL, line, value, "capability mask", hex_ok=True, high=0xFFFFFFFF)
    if attr == "port_guid":
        return _guid(line, value)
    if not value:
        raise ParseError(TOOL, line.number, f"empty {attr}", line.text)
    return value


def _guid(line: Line, value: str) -> str:
    if not _GUID.fullmatch(value):
        raise ParseError(TOOL, line.number, f"GUID {value!r} is not 0x-hex", line.text)
    return value.lower()
