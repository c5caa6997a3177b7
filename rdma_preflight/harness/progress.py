"""Progress for long work: a live counter on a terminal, plain periodic lines in CI/logs."""

from __future__ import annotations

import os
import sys
import time


class Progress:
    def __init__(self, label: str, total: int, out=sys.stderr, every: float = 5.0):
        self.label = label
        self.total = total
        self.out = out
        self.done_n = 0
        self.every = every
        self.t0 = time.monotonic()
        self.last = 0.0
        self.tty = bool(getattr(out, "isatty", lambda: False)()) and not os.environ.get("CI")
        self.failed = 0

    def step(self, what: str = "") -> None:
        self.done_n += 1
        if "ERROR" in what:
            self.failed += 1
        now = time.monotonic()
        if self.tty:
            width = 30
            filled = int(width * self.done_n / max(1, self.total))
            self.out.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                           f"{self.done_n}/{self.total} errors={self.failed} {what[:40]:<40}")
            self.out.flush()
        elif now - self.last >= self.every or self.done_n == self.total:
            self.last = now
            self.out.write(f"{self.label}: {self.done_n}/{self.total} done, {self.failed} error(s), "
                           f"{now - self.t0:.1f}s\n")
            self.out.flush()

    def done(self) -> None:
        if self.tty and self.total:
            self.out.write("\n")
            self.out.flush()
