"""Parse what ``cma_roce_tos -d DEV [-t TOS]`` prints: the device's rdma_cm default ToS.

The tool prints configfs ``default_roce_tos`` as a bare number (``106``); Spiderpool's
query script labels it (``cma_roce_tos: 160``). Anything else, such as the tool's own
``Module rdma_cm is not loaded`` message, is an error.
"""

from __future__ import annotations

import re

from ._qos_text import TosValue, source_lines, tos_value
from .base import ParseError

TOOL = "cma_roce_tos"

_VALUE = re.compile(r"^(?:cma_roce_tos\s*:\s*)?(\d+)\s*$")


def parse(text: str | bytes) -> TosValue:
    """Return the printed ToS (0..255)."""
    lines = source_lines(TOOL, text)
    if not lines:
        raise ParseError(TOOL, 0, "cma_roce_tos printed nothing")
    first = lines[0]
    m = _VALUE.match(first.stripped)
    if not m:
        raise ParseError(TOOL, first.number, "expected the ToS value", first.text)
    if len(lines) > 1:
        raise ParseError(TOOL, lines[1].number, "unexpected extra output", lines[1].text)
    return tos_value(TOOL, first, m.group(1))
