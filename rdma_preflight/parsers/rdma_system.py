"""Parse ``rdma system`` / ``rdma sys show`` (text, any iproute2 version) and ``rdma -j system show``.

The line grew over the years (``netns shared``; ``copy-on-fork on`` in 2021;
``privileged-qkey`` in 2023; ``monitor`` in 2024), so the output is read as
key/value pairs and the netns mode is the token after ``netns``: never compare
the whole line (spec §4, §7.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._text import (Line, Lines, json_objects, json_on_off, json_str, looks_like_json, on_off,
                    read_lines, require_content)
from .base import ParseError

TOOL = "rdma_system"
NETNS_MODES = ("shared", "exclusive", "unknown")
_BOOL_KEYS = {"copy-on-fork": "copy_on_fork", "privileged-qkey": "privileged_qkey", "monitor": "monitor"}


@dataclass(frozen=True)
class RdmaSystem:
    """RDMA subsystem settings; a flag is None when this iproute2/kernel does not print it."""

    netns: str
    netns_reported: bool
    copy_on_fork: bool | None = None
    privileged_qkey: bool | None = None
    monitor: bool | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        return self.netns == "shared"

    @property
    def exclusive(self) -> bool:
        return self.netns == "exclusive"


def parse(text: str | bytes) -> RdmaSystem:
    """Read the netns mode and the on/off flags."""
    lines = read_lines(TOOL, text)
    require_content(TOOL, lines)
    if looks_like_json(lines):
        return _from_json(lines)
    pairs: dict[str, tuple[str, Line]] = {}
    for line in lines.content:
        tokens = line.stripped.split()
        if len(tokens) % 2:
            raise ParseError(TOOL, line.number, f"key {tokens[-1]!r} has no value", line.text)
        for key, value in zip(tokens[0::2], tokens[1::2]):
            if key in pairs:
                raise ParseError(TOOL, line.number, f"{key!r} given twice", line.text)
            pairs[key] = (value, line)
    return _build(pairs)


def _build(pairs: dict[str, tuple[str, Line]]) -> RdmaSystem:
    netns = "unknown"
    if "netns" in pairs:
        netns, line = pairs["netns"]
        if netns not in NETNS_MODES:
            raise ParseError(TOOL, line.number, f"netns mode {netns!r} is not shared/exclusive/unknown",
                             line.text)
    flags = {attr: on_off(TOOL, pairs[key][1], pairs[key][0], key)
             for key, attr in _BOOL_KEYS.items() if key in pairs}
    extra = {key: value for key, (value, _) in pairs.items() if key != "netns" and key not in _BOOL_KEYS}
    if "netns" not in pairs and not flags:
        first = next(iter(pairs.values()))[1]
        raise ParseError(TOOL, first.number, "no netns or flag in rdma system output", first.text)
    return RdmaSystem(netns=netns, netns_reported="netns" in pairs, extra=extra, **flags)


def _from_json(lines: Lines) -> RdmaSystem:
    merged: dict[str, object] = {}
    for obj in json_objects(TOOL, lines):
        merged.update(obj)
    if not merged:
        raise ParseError(TOOL, 0, "JSON output holds no settings")
    netns = json_str(TOOL, merged, "netns")
    if netns is not None and netns not in NETNS_MODES:
        raise ParseError(TOOL, 0, f"netns mode {netns!r} is not shared/exclusive/unknown")
    flags = {attr: json_on_off(TOOL, merged, key) for key, attr in _BOOL_KEYS.items()}
    return RdmaSystem(netns=netns or "unknown", netns_reported=netns is not None, **flags)
