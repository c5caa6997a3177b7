"""``snapshot://PATH``: replay a collected snapshot (directory or .tar.gz). Offline, read-only."""

from __future__ import annotations

from dataclasses import dataclass

from ..collect.snapshot import Snapshot, SnapshotError
from .base import CommandResult, Target, TargetError


@dataclass
class SnapshotTarget(Target):
    path: str = ""

    def load(self) -> Snapshot:
        try:
            return Snapshot.load(self.path)
        except SnapshotError as exc:
            raise TargetError(self.node, str(exc)) from None

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        raise TargetError(self.node, "a snapshot is read-only: nothing can be run on it")

    @property
    def offline(self) -> bool:
        return True
