"""Parse ``ibstatus`` (the sysfs-reading script of infiniband-diags).

One block per device/port::

    Infiniband device 'mlx5_0' port 1 status:
        default gid:     fe80:0000:0000:0000:0015:5dff:fd34:11eb
        base lid:        0x33bf
        state:           4: ACTIVE
        rate:            200 Gb/sec (4X HDR)
        link_layer:      InfiniBand

rdma-tools greps ``state:.*ACTIVE`` and ``link_layer:.*InfiniBand`` from it (spec I-03).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import Line, read_lines, require_content, split_field, to_float, to_int
from .base import ParseError

TOOL = "ibstatus"
_HEAD = re.compile(r"Infiniband device '(?P<dev>[^']+)' port (?P<port>[0-9]+) status:")
_NUMBERED = re.compile(r"(?P<num>[0-9]+):\s*(?P<name>\S+)")
_RATE = re.compile(r"(?P<num>[0-9.]+)\s*Gb/sec(?:\s*\((?P<text>[^)]*)\))?")
_KEYS = {"default gid": "default_gid", "base lid": "base_lid", "sm lid": "sm_lid", "state": "state",
         "phys state": "phys_state", "rate": "rate", "link_layer": "link_layer"}


@dataclass(frozen=True)
class IbstatusPort:
    """One device/port block; ``default_gid`` is None when ibstatus prints ``unknown``."""

    device: str
    port: int
    default_gid: str | None = None
    base_lid: int | None = None
    sm_lid: int | None = None
    state_number: int | None = None
    state: str | None = None
    phys_state_number: int | None = None
    phys_state: str | None = None
    rate_gbps: float | None = None
    rate_text: str | None = None
    link_layer: str | None = None

    @property
    def active(self) -> bool:
        return self.state == "ACTIVE"


@dataclass(frozen=True)
class IbstatusResult:
    ports: tuple[IbstatusPort, ...]
    elided: bool = False

    def get(self, device: str, port: int = 1) -> IbstatusPort | None:
        return next((p for p in self.ports if p.device == device and p.port == port), None)


def parse(text: str | bytes) -> IbstatusResult:
    """All device/port blocks in output order."""
    lines = read_lines(TOOL, text)
    require_content(TOOL, lines)
    blocks: list[dict[str, object]] = []
    for line in lines.content:
        head = _HEAD.fullmatch(line.stripped)
        if head:
            blocks.append({"device": head.group("dev"),
                           "port": to_int(TOOL, line, head.group("port"), "port", low=1)})
            continue
        pair = split_field(line)
        if pair is None or pair[0] not in _KEYS:
            raise ParseError(TOOL, line.number, "not an ibstatus line", line.text)
        if not blocks:
            raise ParseError(TOOL, line.number, "field before any 'Infiniband device' header", line.text)
        blocks[-1].update(_field(line, _KEYS[pair[0]], pair[1]))
    return IbstatusResult(tuple(IbstatusPort(**b) for b in blocks), lines.elided)  # type: ignore[arg-type]


def _field(line: Line, key: str, value: str) -> dict[str, object]:
    if key == "default_gid":
        return {key: None if value == "unknown" else value}
    if key in ("base_lid", "sm_lid"):
        return {key: to_int(TOOL, line, value, key, hex_ok=True, high=0xFFFF)}
    if key in ("state", "phys_state"):
        numbered = _NUMBERED.fullmatch(value)
        if not numbered:
            raise ParseError(TOOL, line.number, f"{key} {value!r} is not 'N: NAME'", line.text)
        return {f"{key}_number": to_int(TOOL, line, numbered.group("num"), key, high=255),
                key: numbered.group("name")}
    if key == "rate":
        rate = _RATE.fullmatch(value)
        if not rate:
            raise ParseError(TOOL, line.number, f"rate {value!r} is not 'N Gb/sec (...)'", line.text)
        return {"rate_gbps": to_float(TOOL, line, rate.group("num"), "rate"), "rate_text": rate.group("text")}
    if not value:
        raise ParseError(TOOL, line.number, f"empty {key}", line.text)
    return {key: value}
