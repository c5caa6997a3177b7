"""Parse ``lsmod`` (header optional, grep'd single lines) and ``/proc/modules``.

lsmod:         ``ib_core  524288  8 rdma_cm,ib_ipoib,...``
/proc/modules: ``ib_core 524288 8 rdma_cm,ib_ipoib, Live 0xffffffffc0a00000 (OE)``
No output is valid: ``lsmod | grep X`` prints nothing when X is not loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import Line, read_lines, to_int
from .base import ParseError

TOOL = "lsmod"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STATES = ("Live", "Loading", "Unloading")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,16}")
_TAINTS = re.compile(r"\([A-Z]+\)")
_PERMANENT = "[permanent]"


@dataclass(frozen=True)
class KernelModule:
    """One loaded module; ``state``/``address``/``taints`` only come from /proc/modules."""

    name: str
    size: int
    use_count: int | None
    used_by: tuple[str, ...] = ()
    permanent: bool = False
    state: str | None = None
    address: str | None = None
    taints: str | None = None


@dataclass(frozen=True)
class LsmodResult:
    modules: tuple[KernelModule, ...]
    proc_format: bool = False
    elided: bool = False

    def get(self, name: str) -> KernelModule | None:
        return next((m for m in self.modules if m.name == name), None)

    def loaded(self, name: str) -> bool:
        return self.get(name) is not None


def parse(text: str | bytes) -> LsmodResult:
    """Modules in output order; the ``Module Size Used by`` header is skipped."""
    lines = read_lines(TOOL, text)
    modules: list[KernelModule] = []
    proc = False
    for line in lines.content:
        tokens = line.stripped.split()
        if tokens == ["Module", "Size", "Used", "by"]:
            continue
        module = _module(line, tokens)
        proc = proc or module.state is not None
        modules.append(module)
    return LsmodResult(tuple(modules), proc, lines.elided)


def _module(line: Line, tokens: list[str]) -> KernelModule:
    is_proc = len(tokens) >= 6 and tokens[4] in _STATES
    if not (3 <= len(tokens) <= 4 or is_proc and len(tokens) <= 7):
        raise ParseError(TOOL, line.number, "not an lsmod or /proc/modules line", line.text)
    if not _NAME.fullmatch(tokens[0]):
        raise ParseError(TOOL, line.number, f"bad module name {tokens[0]!r}", line.text)
    used_by, permanent = _users(line, tokens[3] if len(tokens) > 3 else "")
    fields: dict[str, object] = {
        "name": tokens[0], "size": to_int(TOOL, line, tokens[1], "size"),
        "use_count": None if tokens[2] == "-" else to_int(TOOL, line, tokens[2], "use count"),
        "used_by": used_by, "permanent": permanent}
    if is_proc:
        if not _ADDRESS.fullmatch(tokens[5]):
            raise ParseError(TOOL, line.number, f"bad load address {tokens[5]!r}", line.text)
        if len(tokens) == 7 and not _TAINTS.fullmatch(tokens[6]):
            raise ParseError(TOOL, line.number, f"bad taint flags {tokens[6]!r}", line.text)
        fields.update(state=tokens[4], address=tokens[5], taints=tokens[6][1:-1] if len(tokens) == 7 else None)
    return KernelModule(**fields)  # type: ignore[arg-type]


def _users(line: Line, column: str) -> tuple[tuple[str, ...], bool]:
    """``a,b,`` -> (a, b); ``-`` -> (); ``[permanent]`` is a flag, not a user."""
    names = [part for part in column.split(",") if part and part != "-"]
    permanent = _PERMANENT in names
    names = [n for n in names if n != _PERMANENT]
    for name in names:
        if not _NAME.fullmatch(name):
            raise ParseError(TOOL, line.number, f"bad user module name {name!r}", line.text)
    return tuple(names), permanent
