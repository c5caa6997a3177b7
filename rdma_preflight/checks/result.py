"""What a check returns: an outcome with expected / found / fix, ready for any report."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

# Control and bidi-override characters a hostile node can put in names it reports (Linux accepts
# "\x1b[2J" as an interface name): shown escaped on the terminal, never interpreted (issue 9).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with control / bidi characters written as ``\\xNN`` / ``\\uNNNN`` (tabs, newlines kept)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                            else f"\\u{ord(m.group()):04x}", text)


class Outcome(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"
    WAIVED = "waived"
    REMEDIATED = "remediated"

    @property
    def bad(self) -> bool:
        return self in (Outcome.FAIL, Outcome.ERROR)


@dataclass
class Result:
    outcome: Outcome
    summary: str = ""
    expected: str = ""
    found: str = ""
    fix: str = ""
    evidence: dict = field(default_factory=dict)

    def message(self, node: str, rail: str | None, netdev: str | None, check_id: str) -> str:
        """One block a tired on-call engineer can act on: node, rail, expected, found, fix."""
        where = node + (f" {rail}" if rail else "") + (f" ({netdev})" if netdev else "")
        lines = [f"[{check_id}] {where}: {self.summary}".rstrip(": ")]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.found:
            lines.append(f"  found:    {self.found}")
        if self.fix:
            lines.append(f"  fix:      {self.fix}")
        return terminal_safe("\n".join(lines))


def passed(summary: str = "", expected: str = "", found: str = "", **ev) -> Result:
    return Result(Outcome.PASS, summary, expected, found, evidence=ev)


def failed(summary: str, expected: str, found: str, fix: str = "", **ev) -> Result:
    return Result(Outcome.FAIL, summary, expected, found, fix, evidence=ev)


def warned(summary: str, expected: str = "", found: str = "", fix: str = "", **ev) -> Result:
    return Result(Outcome.WARN, summary, expected, found, fix, evidence=ev)


def skipped(reason: str) -> Result:
    return Result(Outcome.SKIP, reason)


def worst(results: list[Result]) -> Result:
    """Fold several findings into one: fail > warn > pass; messages of the worst kind are joined."""
    order = [Outcome.ERROR, Outcome.FAIL, Outcome.WARN, Outcome.PASS, Outcome.SKIP]
    for o in order:
        hits = [r for r in results if r.outcome == o]
        if hits:
            if len(hits) == 1:
                return hits[0]
            return Result(o, "; ".join(h.summary for h in hits),
                          "; ".join(dict.fromkeys(h.expected for h in hits if h.expected)),
                          "; ".join(h.found for h in hits if h.found),
                          "; ".join(dict.fromkeys(h.fix for h in hits if h.fix)),
                          evidence={"parts": [h.evidence for h in hits]})
    return skipped("nothing to check")
