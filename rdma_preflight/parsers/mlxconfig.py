"""Parse ``mlxconfig``/``mstconfig`` query output, plain and ``-e`` (``--enable_verbosity``).

A plain ``q`` shows only the *Next Boot* column; ``-e q`` shows Default /
Current / Next Boot (spec C-02, §7.4): the running link type is Current, and
only ``-e`` shows it. Also read: the ``Device #N`` header block, grep'd single
lines (``LINK_TYPE_P1   IB(1)``: one value = Next Boot, three = -e columns),
the ``*`` changed-marker, the author's ``...`` elisions and a bare
``Configurations:`` header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._text import Line, read_lines, require_content, split_field, to_int
from .base import ParseError

TOOL = "mlxconfig"
_DEVICE = re.compile(r"Device #(?P<index>[0-9]+):")
_RULE = re.compile(r"-{3,}")
_HEADER = re.compile(r"(?:Configurations:|#)(?P<columns>(?:\s+(?:Default|Current|Next Boot|New))*)")
_COLUMN = re.compile(r"Default|Current|Next Boot|New")
_PARAM = re.compile(r"(?P<star>\*\s*)?(?P<name>[A-Z][A-Za-z0-9_]*(?:\[[0-9]+\])?)\s+(?P<values>\S.*)")
_VALUE = re.compile(r"(?P<label>.*?)\((?P<num>-?[0-9]{1,20})\)")
_INFO = {"Device type": "device_type", "Name": "name", "Description": "description", "Device": "device",
         "PCI device": "device"}
_FOOTER = "The '*' shows parameters with next value different from default/current value."
_KEYS = {"Default": "default", "Current": "current", "Next Boot": "next_boot", "New": "new"}
_LINK_TYPES = {1: "IB", 2: "ETH", 3: "VPI"}


@dataclass(frozen=True)
class MlxValue:
    """``IB(1)`` -> raw "IB(1)", label "IB", number 1; ``8`` -> number 8; ``Array[0..7]`` -> label only."""

    raw: str
    label: str | None
    number: int | None


@dataclass(frozen=True)
class MlxParam:
    name: str
    default: MlxValue | None = None
    current: MlxValue | None = None
    next_boot: MlxValue | None = None
    new: MlxValue | None = None
    changed: bool = False


@dataclass(frozen=True)
class MlxDevice:
    """One ``Device #N`` block; index None for grep'd lines with no header."""

    index: int | None
    device_type: str | None = None
    name: str | None = None
    description: str | None = None
    device: str | None = None
    columns: tuple[str, ...] = ()
    params: dict[str, MlxParam] = field(default_factory=dict)


@dataclass(frozen=True)
class MlxconfigResult:
    devices: tuple[MlxDevice, ...]
    errors: tuple[str, ...] = ()
    elided: bool = False

    def param(self, name: str, device: int = 0) -> MlxParam | None:
        """Parameter ``name`` of the ``device``-th block (0 = first)."""
        if device >= len(self.devices):
            return None
        return self.devices[device].params.get(name)


def parse(text: str | bytes) -> MlxconfigResult:
    """Devices with their parameters; ``-E-`` error lines are collected, not raised."""
    lines = read_lines(TOOL, text)
    require_content(TOOL, lines)
    devices: list[dict[str, object]] = []
    errors: list[str] = []
    for line in lines.content:
        body = line.stripped
        if body.startswith("-E-"):
            errors.append(body)
            continue
        if _RULE.fullmatch(body) or body == _FOOTER:
            continue
        device = _DEVICE.fullmatch(body)
        if device:
            devices.append(_new_device(to_int(TOOL, line, device.group("index"), "device index")))
            continue
        header = _HEADER.fullmatch(body)
        if header:
            _current(devices)["columns"] = tuple(_KEYS[c] for c in _COLUMN.findall(header.group("columns")))
            continue
        pair = split_field(line)
        if pair is not None and pair[0] in _INFO:
            _current(devices)[_INFO[pair[0]]] = pair[1] or None
            continue
        _add_param(line, _current(devices))
    built = tuple(MlxDevice(**d) for d in devices)  # type: ignore[arg-type]
    return MlxconfigResult(built, tuple(errors), lines.elided)


def _new_device(index: int | None) -> dict[str, object]:
    return {"index": index, "columns": (), "params": {}}


def _current(devices: list[dict[str, object]]) -> dict[str, object]:
    if not devices:
        devices.append(_new_device(None))
    return devices[-1]


def _add_param(line: Line, device: dict[str, object]) -> None:
    match = _PARAM.fullmatch(line.stripped)
    if not match:
        raise ParseError(TOOL, line.number, "not a mlxconfig parameter line", line.text)
    values = match.group("values").split()
    columns: tuple[str, ...] = device["columns"] or _guess_columns(line, len(values))  # type: ignore[assignment]
    if len(values) != len(columns):
        raise ParseError(TOOL, line.number, f"{len(values)} values for columns {columns}", line.text)
    params: dict[str, MlxParam] = device["params"]  # type: ignore[assignment]
    name = match.group("name")
    if name in params:
        raise ParseError(TOOL, line.number, f"parameter {name} given twice", line.text)
    params[name] = MlxParam(name=name, changed=bool(match.group("star")),
                            **{col: _value(val) for col, val in zip(columns, values)})


def _guess_columns(line: Line, count: int) -> tuple[str, ...]:
    """Header-less (grep'd) lines: one value is a plain ``q``, three are ``-e q``."""
    if count == 1:
        return ("next_boot",)
    if count == 3:
        return ("default", "current", "next_boot")
    raise ParseError(TOOL, line.number, f"cannot tell which columns {count} values are without a header",
                     line.text)


def _value(raw: str) -> MlxValue:
    match = _VALUE.fullmatch(raw)
    if match:
        return MlxValue(raw, match.group("label") or None, int(match.group("num")))
    if re.fullmatch(r"[0-9]{1,20}", raw):
        return MlxValue(raw, None, int(raw))
    return MlxValue(raw, raw, None)


def link_type(result: MlxconfigResult, port: int = 1, which: str = "next_boot", device: int = 0) -> str | None:
    """``"ETH"``/``"IB"``/``"VPI"`` of ``LINK_TYPE_P<port>`` in column ``which``
    (``"default"``, ``"current"`` or ``"next_boot"``); None when the column or parameter is absent.

    A plain ``mlxconfig q`` has no ``current``: the running type is unknown from it.
    """
    if which not in ("default", "current", "next_boot", "new"):
        raise ValueError(f"unknown column {which!r}")
    param = result.param(f"LINK_TYPE_P{port}", device)
    value: MlxValue | None = getattr(param, which) if param else None
    if value is None:
        return None
    label = (value.label or "").upper()
    for name in ("ETH", "IB", "VPI"):
        if name in label:
            return name
    return _LINK_TYPES.get(value.number) if value.number is not None else None
