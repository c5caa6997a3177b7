"""Shared pieces for the tool-output parsers."""

from __future__ import annotations


class ParseError(ValueError):
    """The one error a parser raises: which tool, which line (1-based, 0 = whole input), why."""

    def __init__(self, tool: str, line: int, reason: str, text: str | None = None):
        self.tool = tool
        self.line = line
        self.reason = reason
        self.text = text
        where = f"line {line}" if line else "input"
        snippet = f": {text[:120]!r}" if text else ""
        super().__init__(f"{tool}: cannot parse {where}: {reason}{snippet}")


def strip_source_header(text: str) -> str:
    """Drop the ``# source:`` / ``# context:`` / ``# ---`` header our recorded fixtures carry.

    Real tool output never starts with ``# source:`` so this is safe on live output too.
    """
    if not text.startswith("# source:"):
        return text
    marker = "\n# ---\n"
    idx = text.find(marker)
    return text[idx + len(marker):] if idx >= 0 else text


def ensure_text(tool: str, data: str | bytes) -> str:
    """Accept bytes or str; undecodable bytes are replaced, NULs refused."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if not isinstance(data, str):
        raise ParseError(tool, 0, f"expected text, got {type(data).__name__}")
    if "\x00" in data:
        raise ParseError(tool, 0, "binary data (NUL byte) in tool output")
    return data
