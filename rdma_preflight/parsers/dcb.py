"""Parse iproute2 ``dcb pfc show dev X`` and ``dcb app show dev X`` (``-j`` JSON or text).

Upstream-kernel hosts without MLNX_OFED have no ``mlnx_qos``; the same PFC enable bits
and DSCP-to-priority APP table are read with ``dcb``. JSON keys follow iproute2's
dcb/dcb_pfc.c and dcb/dcb_app.c (``prio_pfc`` is a list of 8 booleans, ``dscp_prio`` a
list of ``[dscp, prio]`` pairs); text follows the dcb-pfc(8)/dcb-app(8) examples, where
DSCP keys may be symbolic (``CS3``) unless ``-N`` was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._qos_text import source_lines
from ._text import (Line, json_int, json_objects, json_on_off, looks_like_json, on_off,
                    read_lines, to_int)
from .base import ParseError

TOOL = "dcb"

# /etc/iproute2/rt_dsfield names, as DSCP (dsfield >> 2)
_DSCP_NAMES = {"default": 0, "EF": 46,
               **{f"CS{i}": 8 * i for i in range(8)},
               **{f"AF{c}{d}": 8 * c + 2 * d for c in range(1, 5) for d in range(1, 4)}}
_PAIR = re.compile(r"^([^:\s]+):(\S+)$")


@dataclass(frozen=True)
class DcbPfc:
    """``dcb pfc show``: PFC capability, MACsec bypass, delay and per-priority enable."""

    pfc_cap: int | None
    macsec_bypass: bool | None
    delay: int | None
    prio_pfc: dict[int, bool]
    requests: dict[int, int] | None = None
    indications: dict[int, int] | None = None

    @property
    def enabled_priorities(self) -> tuple[int, ...]:
        return tuple(p for p, on in sorted(self.prio_pfc.items()) if on)


@dataclass(frozen=True)
class DcbApp:
    """``dcb app show``: DSCP->priority entries in printed order (duplicates are legal)."""

    dscp_prio: tuple[tuple[int, int], ...]
    default_prio: tuple[int, ...] = ()

    def prios_for_dscp(self, dscp: int) -> tuple[int, ...]:
        """All priorities the APP table assigns to ``dscp`` (more than one is a conflict)."""
        return tuple(p for d, p in self.dscp_prio if d == dscp)


def parse(text: str | bytes) -> DcbPfc | DcbApp:
    """Parse either command's output, JSON or text, detecting which one it is."""
    return _parse(text, None)


def parse_pfc(text: str | bytes) -> DcbPfc:
    result = _parse(text, "pfc")
    assert isinstance(result, DcbPfc)
    return result


def parse_app(text: str | bytes) -> DcbApp:
    """Parse ``dcb app show``; empty output (or ``{}``) is an empty APP table."""
    result = _parse(text, "app")
    assert isinstance(result, DcbApp)
    return result


def _parse(text: str | bytes, kind: str | None) -> DcbPfc | DcbApp:
    read = read_lines(TOOL, text)
    if looks_like_json(read):
        objects = json_objects(TOOL, read)
        if len(objects) != 1:
            raise ParseError(TOOL, 0, f"expected one JSON object, got {len(objects)}")
        obj = objects[0]
        kind = kind or ("pfc" if "prio_pfc" in obj else "app")
        return _pfc_json(obj) if kind == "pfc" else _app_json(obj)
    lines = source_lines(TOOL, text)
    if kind is None:
        if not lines:
            raise ParseError(TOOL, 0, "empty output: cannot tell pfc from app")
        is_pfc = any(line.stripped.split()[0] in ("pfc-cap", "prio-pfc") for line in lines)
        kind = "pfc" if is_pfc else "app"
    return _pfc_text(lines) if kind == "pfc" else _app_text(lines)


def _json_int(obj: dict, key: str, high: int) -> int | None:
    value = json_int(TOOL, obj, key)
    if value is not None and value > high:
        raise ParseError(TOOL, 0, f"JSON {key!r} {value} above {high}")
    return value


def _json_list(obj: dict, key: str, kind: type, length: int | None = None) -> list | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or (length is not None and len(value) != length) or \
            not all(type(v) is kind for v in value):
        raise ParseError(TOOL, 0, f"{key} must be a list of {kind.__name__}, got {value!r}")
    return value


def _pfc_json(obj: dict) -> DcbPfc:
    bypass = json_on_off(TOOL, obj, "macsec_bypass")
    prio = _json_list(obj, "prio_pfc", bool, 8) or []
    requests = _json_list(obj, "requests", int, 8)
    indications = _json_list(obj, "indications", int, 8)
    return DcbPfc(
        pfc_cap=_json_int(obj, "pfc_cap", 8), macsec_bypass=bypass,
        delay=_json_int(obj, "delay", 65535), prio_pfc=dict(enumerate(prio)),
        requests=dict(enumerate(requests)) if requests is not None else None,
        indications=dict(enumerate(indications)) if indications is not None else None)


def _app_json(obj: dict) -> DcbApp:
    pairs = []
    entries = obj.get("dscp_prio") or []
    if not isinstance(entries, list):
        raise ParseError(TOOL, 0, f"dscp_prio must be a list, got {entries!r}")
    for pair in entries:
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(v) is int for v in pair)
                and 0 <= pair[0] <= 63 and 0 <= pair[1] <= 7):
            raise ParseError(TOOL, 0, f"dscp_prio entry must be [dscp, prio], got {pair!r}")
        pairs.append((pair[0], pair[1]))
    default = _json_list(obj, "default_prio", int) or []
    if any(not 0 <= p <= 7 for p in default):
        raise ParseError(TOOL, 0, f"default_prio outside 0..7: {default!r}")
    return DcbApp(tuple(pairs), tuple(default))


def _pfc_text(lines: list[Line]) -> DcbPfc:
    if not lines:
        raise ParseError(TOOL, 0, "no dcb pfc output")
    scalars: dict[str, int | bool] = {}
    arrays: dict[str, dict[int, str]] = {}
    for line in lines:
        tokens = line.stripped.split()
        if tokens[0] in ("prio-pfc", "requests", "indications"):
            arrays[tokens[0]] = _index_map(line, tokens[1:], tokens[0] == "prio-pfc")
        elif tokens[0] in ("pfc-cap", "macsec-bypass", "delay"):
            if len(tokens) % 2:
                raise ParseError(TOOL, line.number, "expected key value pairs", line.text)
            for key, value in zip(tokens[::2], tokens[1::2]):
                scalars[key] = _pfc_scalar(line, key, value)
        else:
            raise ParseError(TOOL, line.number, "not a dcb pfc line", line.text)
    counters = {name: {k: int(v) for k, v in arrays[name].items()}
                for name in ("requests", "indications") if name in arrays}
    return DcbPfc(
        pfc_cap=scalars.get("pfc-cap"),  # type: ignore[arg-type]
        macsec_bypass=scalars.get("macsec-bypass"),  # type: ignore[arg-type]
        delay=scalars.get("delay"),  # type: ignore[arg-type]
        prio_pfc={k: v == "on" for k, v in arrays.get("prio-pfc", {}).items()},
        requests=counters.get("requests"), indications=counters.get("indications"))


def _pfc_scalar(line: Line, key: str, value: str) -> int | bool:
    if key == "pfc-cap":
        return to_int(TOOL, line, value, "pfc-cap", high=8)
    if key == "delay":
        return to_int(TOOL, line, value, "delay", high=65535)
    return on_off(TOOL, line, value, key)


def _index_map(line: Line, tokens: list[str], on_off: bool) -> dict[int, str]:
    """``0:off 1:on`` (on_off) or ``0:12 1:0`` counters into {index: value}."""
    out: dict[int, str] = {}
    for token in tokens:
        m = _PAIR.match(token)
        if not m:
            raise ParseError(TOOL, line.number, f"expected PRIO:VALUE, got {token!r}", line.text)
        value = m.group(2)
        if on_off and value not in ("on", "off"):
            raise ParseError(TOOL, line.number, f"expected on/off, got {value!r}", line.text)
        if not on_off:
            to_int(TOOL, line, value, "counter")
        out[to_int(TOOL, line, m.group(1), "priority", high=7)] = value
    return out


def _app_text(lines: list[Line]) -> DcbApp:
    pairs: list[tuple[int, int]] = []
    default: list[int] = []
    for line in lines:
        tokens = line.stripped.split()
        if tokens[0] == "dscp-prio":
            for token in tokens[1:]:
                m = _PAIR.match(token)
                if not m:
                    raise ParseError(TOOL, line.number, f"expected DSCP:PRIO, got {token!r}",
                                     line.text)
                pairs.append((_dscp(line, m.group(1)),
                              to_int(TOOL, line, m.group(2), "priority", high=7)))
        elif tokens[0] == "default-prio":
            default += [to_int(TOOL, line, t, "default priority", high=7) for t in tokens[1:]]
        elif not tokens[0].endswith("-prio"):
            raise ParseError(TOOL, line.number, "not a dcb app line", line.text)
    return DcbApp(tuple(pairs), tuple(default))


def _dscp(line: Line, key: str) -> int:
    if key in _DSCP_NAMES:
        return _DSCP_NAMES[key]
    return to_int(TOOL, line, key, "DSCP", high=63)
