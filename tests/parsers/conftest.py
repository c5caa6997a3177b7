"""Helpers for the parser tests: load recorded tool outputs from tests/fixtures/outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rdma_preflight.parsers import ParseError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "outputs"


def fixture_text(tool: str, name: str) -> str:
    """The recorded output ``tests/fixtures/outputs/<tool>/<name>`` (``.txt`` optional), header included."""
    path = FIXTURES / tool / (name if name.endswith(".txt") else f"{name}.txt")
    return path.read_text(encoding="utf-8")


def fixture_names(tool: str) -> list[str]:
    """Every recorded output file name for ``tool``, sorted."""
    return sorted(p.name for p in (FIXTURES / tool).glob("*.txt"))


def parse_error(parse: Callable[[str], object], text: str) -> ParseError:
    """Run ``parse`` on a bad input and return the :class:`ParseError` it must raise."""
    with pytest.raises(ParseError) as err:
        parse(text)
    return err.value
