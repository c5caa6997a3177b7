"""Line handling and value checks shared by the RDMA tool parsers.

Every parser needs the same few things: decode the input, drop our fixture
header, number the lines, skip the ``.......`` elisions doc authors leave, and
turn a field into an int/float or raise :class:`ParseError` naming the line.
Keeping them here means each parser only describes its tool's grammar.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import ParseError, ensure_text, strip_source_header

_ELISION = re.compile(r"(?:\.{3,}|\u2026+)")
_DEC = re.compile(r"[0-9]{1,20}")
_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}")
_FLOAT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")
_JSON_BOOLS: dict[object, bool] = {True: True, False: False, "on": True, "off": False}


@dataclass(frozen=True)
class Line:
    """One output line: 1-based number and text without trailing whitespace."""

    number: int
    text: str

    @property
    def stripped(self) -> str:
        return self.text.strip()


@dataclass(frozen=True)
class Lines:
    """The content lines of one output, plus whether the author elided some.

    ``text`` is the output without the fixture header; ``offset`` is how many header
    lines were dropped, so numbers still point at lines of the input as given.
    """

    content: tuple[Line, ...]
    elided: bool
    text: str
    offset: int = 0


def read_lines(tool: str, data: str | bytes) -> Lines:
    """Decode, normalise line endings, drop the fixture header, keep non-blank lines.

    Line numbers are 1-based in the input exactly as given (header lines included).
    """
    whole = ensure_text(tool, data).replace("\r\n", "\n").replace("\r", "\n")
    text = strip_source_header(whole)
    offset = whole[: len(whole) - len(text)].count("\n")
    content: list[Line] = []
    elided = False
    for number, raw in enumerate(text.split("\n"), start=offset + 1):
        body = raw.rstrip()
        if not body.strip():
            continue
        if _ELISION.fullmatch(body.strip()):
            elided = True
            continue
        content.append(Line(number, body))
    return Lines(tuple(content), elided, text, offset)


def require_content(tool: str, lines: Lines) -> None:
    """Refuse an output that has nothing in it, for tools that always print."""
    if not lines.content:
        raise ParseError(tool, 0, "empty output")


def to_int(tool: str, line: Line, value: str, what: str, *,
           hex_ok: bool = False, low: int = 0, high: int | None = None) -> int:
    """Decimal (or, if allowed, 0x-hex) integer within [low, high]."""
    value = value.strip()
    if _DEC.fullmatch(value):
        number = int(value, 10)
    elif hex_ok and _HEX.fullmatch(value):
        number = int(value, 16)
    else:
        raise ParseError(tool, line.number, f"{what} is not a number: {value!r}", line.text)
    if number < low or (high is not None and number > high):
        raise ParseError(tool, line.number, f"{what} {number} out of range", line.text)
    return number


def to_float(tool: str, line: Line, value: str, what: str) -> float:
    """Non-negative finite decimal such as ``56`` or ``2.5``."""
    value = value.strip()
    if not _FLOAT.fullmatch(value):
        raise ParseError(tool, line.number, f"{what} is not a number: {value!r}", line.text)
    number = float(value)
    if not math.isfinite(number):  # pragma: no cover - the pattern already bounds it
        raise ParseError(tool, line.number, f"{what} is not finite", line.text)
    return number


def split_field(line: Line) -> tuple[str, str] | None:
    """``Key: value`` -> (key, value) with both stripped; None if there is no colon."""
    key, sep, value = line.stripped.partition(":")
    if not sep:
        return None
    return key.strip(), value.strip()


def on_off(tool: str, line: Line, value: str, what: str) -> bool:
    """iproute2's ``on``/``off``."""
    if value == "on":
        return True
    if value == "off":
        return False
    raise ParseError(tool, line.number, f"{what} must be on or off, got {value!r}", line.text)


def looks_like_json(lines: Lines) -> bool:
    """True when the first content line opens a JSON array or object."""
    return bool(lines.content) and lines.content[0].stripped[:1] in ("[", "{")


def json_objects(tool: str, lines: Lines) -> list[dict[str, object]]:
    """Load ``-j`` output as a list of objects (a single object is accepted too)."""
    try:
        data = json.loads(lines.text, strict=False)   # raw control chars of odd names (issue 9)
    except json.JSONDecodeError as exc:
        raise ParseError(tool, exc.lineno + lines.offset, f"invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(tool, 0, f"invalid JSON: {type(exc).__name__}") from None
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            raise ParseError(tool, 0, f"JSON item is {type(item).__name__}, expected an object")
    return items


def _json_member(tool: str, obj: dict[str, object], key: str,
                 convert: Callable[[object], Any], expected: str) -> Any:
    """Optional member ``key`` passed through ``convert``; None from ``convert`` means wrong type."""
    value = obj.get(key)
    if value is None:
        return None
    converted = convert(value)
    if converted is None:
        raise ParseError(tool, 0, f"JSON {key!r} should be {expected}, got {value!r}")
    return converted


def json_str(tool: str, obj: dict[str, object], key: str) -> str | None:
    """Optional string member of a JSON object."""
    return _json_member(tool, obj, key, lambda v: v if isinstance(v, str) else None, "a string")


def json_int(tool: str, obj: dict[str, object], key: str) -> int | None:
    """Optional non-negative integer member of a JSON object (bools refused)."""
    return _json_member(tool, obj, key,
                        lambda v: v if type(v) is int and v >= 0 else None, "a non-negative integer")


def json_on_off(tool: str, obj: dict[str, object], key: str) -> bool | None:
    """Optional boolean member; iproute2 writes JSON booleans, ``on``/``off`` strings are accepted."""
    return _json_member(tool, obj, key,
                        lambda v: _JSON_BOOLS.get(v) if isinstance(v, (bool, str)) else None, "a boolean")
