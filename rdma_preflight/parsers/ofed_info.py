"""Parse ``ofed_info -s`` / ``-n`` / the first line of plain ``ofed_info``; compare versions.

Forms: ``MLNX_OFED_LINUX-23.07-0.5.1.2:`` (MLNX_OFED, ``-s``), ``23.07-0.5.1.2``
(``-n``, flavour unknowable), ``OFED-internal-24.10-1.1.4.0.200:`` (DOCA-OFED,
``-s``), and the full listing whose first line is e.g.
``MLNX_OFED_LINUX-5.8-1.0.1.1 (OFED-5.8-1.0.1):`` followed by package lines.
Spec C-01: exclusive netns mode needs MLNX_OFED 4.7+ (or kernel 5.3+).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import read_lines, require_content
from .base import ParseError

TOOL = "ofed_info"
_VERSION = r"[0-9]{1,9}(?:[.-][0-9A-Za-z]{1,12}){0,12}"
_LINE = re.compile(rf"(?:(?P<prefix>[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z][A-Za-z0-9_]*)*)-)?"
                   rf"(?P<version>{_VERSION})(?:\s+\((?P<base>[^()]*)\))?:?")
_FLAVOURS = {"MLNX_OFED_LINUX": "MLNX_OFED", "OFED-internal": "DOCA"}
_NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class OfedInfo:
    """Which OFED is installed: flavour, version text and a comparable tuple."""

    flavour: str
    version: str
    version_tuple: tuple[int, ...]
    raw: str
    prefix: str | None = None
    full_listing: bool = False


def parse(text: str | bytes) -> OfedInfo:
    """Read the version line (the first content line)."""
    lines = read_lines(TOOL, text)
    require_content(TOOL, lines)
    first = lines.content[0]
    match = _LINE.fullmatch(first.stripped)
    if not match:
        raise ParseError(TOOL, first.number, "not an OFED version line", first.text)
    prefix, version = match.group("prefix"), match.group("version")
    if len(lines.content) > 1 and not first.stripped.endswith(":"):
        second = lines.content[1]
        raise ParseError(TOOL, second.number, "unexpected second line after a bare version", second.text)
    return OfedInfo(flavour=_FLAVOURS.get(prefix or "", "unknown"), version=version,
                    version_tuple=version_tuple(version), raw=first.stripped, prefix=prefix,
                    full_listing=len(lines.content) > 1)


def version_tuple(version: str) -> tuple[int, ...]:
    """Leading numeric components: ``23.07-0.5.1.2`` -> (23, 7, 0, 5, 1, 2); stops at the first non-number."""
    parts: list[int] = []
    for part in re.split(r"[.-]", version):
        if not _NUMBER.fullmatch(part):
            break
        parts.append(int(part))
    return tuple(parts)


def version_at_least(found: str, minimum: str) -> bool:
    """True if ``found`` (any ofed_info form, or a bare version) is >= ``minimum`` (e.g. ``"4.7"``)."""
    have = parse(found).version_tuple
    want = version_tuple(minimum.strip())
    if not want:
        raise ParseError(TOOL, 0, f"minimum {minimum!r} is not a version")
    width = max(len(have), len(want))
    return have + (0,) * (width - len(have)) >= want + (0,) * (width - len(want))
