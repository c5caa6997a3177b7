"""One record per evaluated (node, check, rail): the unit every report is built from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class Record:
    node: str
    check: str
    title: str
    area: str
    rail: str | None
    netdev: str | None
    outcome: str
    summary: str = ""
    expected: str = ""
    found: str = ""
    fix: str = ""
    remediation: dict | None = None
    waiver: dict | None = None
    test_id: str = ""
    seconds: float = 0.0
    evidence: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """A new top-level dict; nested values (evidence, remediation, waiver) are shared, not
        copied: they are JSON data that nothing mutates after the record is made, and the deep
        copy of ``dataclasses.asdict`` was most of the cost of a 1,000-node results.json."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(Record))


class RecordStore:
    """Thread-safe append-only list with an optional listener (streaming reports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[Record] = []
        self.listeners: list = []

    def add(self, rec: Record) -> None:
        with self._lock:
            self.records.append(rec)
        for fn in self.listeners:
            fn(rec)

    def by_node(self) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {}
        for r in self.records:
            out.setdefault(r.node, []).append(r)
        return out
