"""Parse ``/sys/class/infiniband/<dev>/tc/<port>/traffic_class`` (MLNX_OFED / DOCA).

Spiderpool writes the verbs default traffic class (ToS 160 = DSCP 40 << 2) here and the
file reads back as ``Global tclass=160``; its exporter keys on that exact prefix, so a
missing prefix or an empty file is an error, not a zero.
"""

from __future__ import annotations

import re

from ._qos_text import TosValue, source_lines, tos_value
from .base import ParseError

TOOL = "traffic_class"

_GLOBAL = re.compile(r"^Global tclass=(\S*)\s*$")


def global_tclass_token(text: str) -> str | None:
    """The value after ``Global tclass=`` in one line of text, or None if the prefix is absent."""
    m = _GLOBAL.match(text.strip())
    return m.group(1) if m else None


def parse(text: str | bytes) -> TosValue:
    """Return the global traffic class as a ToS byte (``.dscp`` / ``.ecn`` split it)."""
    lines = source_lines(TOOL, text)
    if not lines:
        raise ParseError(TOOL, 0, "empty traffic_class file")
    for line in lines:
        token = global_tclass_token(line.stripped)
        if token is not None:
            return tos_value(TOOL, line, token)
    first = lines[0]
    raise ParseError(TOOL, first.number, "no 'Global tclass=' line", first.text)
