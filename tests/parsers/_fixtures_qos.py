"""Fixture loading for the QoS / PCIe / GPU / perftest parser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from rdma_preflight.parsers import ParseError

OUTPUTS = Path(__file__).resolve().parent.parent / "fixtures" / "outputs"


def fixture_path(tool: str, name: str) -> Path:
    """Path of ``tests/fixtures/outputs/<tool>/<name>`` (``.txt`` added when missing)."""
    if not name.endswith(".txt"):
        name += ".txt"
    return OUTPUTS / tool / name


def read_fixture(tool: str, name: str) -> str:
    """A recorded output as text, its ``# source:`` header included (parsers drop it)."""
    return fixture_path(tool, name).read_text(encoding="utf-8")


def fixture_names(tool: str) -> list[str]:
    """Every fixture file name for ``tool``, sorted, for parametrised 'all parse' tests."""
    return sorted(p.name for p in (OUTPUTS / tool).glob("*.txt"))


def check_parse_error(parse: Callable[[str], object], text: str, tool: str, line: int,
                      reason: str) -> ParseError:
    """Assert ``parse(text)`` raises ParseError for ``tool`` at ``line`` naming ``reason``."""
    with pytest.raises(ParseError) as err:
        parse(text)
    assert (err.value.tool, err.value.line) == (tool, line)
    assert reason in err.value.reason
    return err.value
