"""One module per tool output. Each exposes ``parse(text)`` returning typed results
and raising :class:`ParseError` (tool, line, reason) on input it cannot read."""

from .base import ParseError

__all__ = ["ParseError"]
