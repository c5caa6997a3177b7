"""The one interface every transport implements: run an argv on the node.

A target never builds shell strings from names: it receives argv lists. The collector is
sent as a fixed script text plus a random nonce argument, in ONE execution per node.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..timeouts import Timeouts

NODE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class TargetError(Exception):
    """The node could not be reached or the command could not be run (not a check failure)."""

    def __init__(self, node: str, reason: str):
        self.node = node
        self.reason = reason
        super().__init__(f"{node}: {reason}")


# A command's stdout (or stderr) beyond this is not read: the transport kills the command. The
# collector's stream is refused above the same size (collect.stream.MAX_STREAM_BYTES), so a node
# streaming without end costs bounded memory and is cut at once, not at the collect timeout.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024


class OutputTooLarge(TargetError):
    """The command printed more than MAX_OUTPUT_BYTES (a runaway or hostile node)."""


class TimedOut(TargetError):
    """The command did not finish in time; ``partial`` is the stdout received until then (the
    collector's caller tells a stalled stream from one that ended and kept going)."""

    def __init__(self, node: str, reason: str, partial: bytes = b""):
        super().__init__(node, reason)
        self.partial = partial


@dataclass
class CommandResult:
    argv: list[str]
    rc: int
    stdout: bytes
    stderr: bytes = b""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Target(ABC):
    """How to reach one node. ``round_trips`` counts executions on the node; ``timeouts``
    bounds every wait of the transport (rdma_preflight/timeouts.py)."""

    node: str
    url: str
    round_trips: int = field(default=0, init=False)
    timeouts: Timeouts = field(default_factory=Timeouts, kw_only=True)

    @abstractmethod
    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        """Execute argv on the node once."""

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        """Run argv once on the node; ``timeout`` defaults to ``timeouts.remote_command``."""
        if not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a non-empty list of str")
        t0 = time.monotonic()
        self.round_trips += 1
        res = self._run(list(argv), stdin, self.timeouts.remote_command if timeout is None else timeout)
        res.seconds = time.monotonic() - t0
        return res

    def collector_command(self, nonce: str, options: str = "") -> tuple[list[str], bytes | None]:
        """How this transport runs the collector: by default the script travels as the
        ``sh -c`` argument; transports with URL-length limits send it on stdin instead. Each
        command on the node is bounded by ``timeouts.command``."""
        from ..collect.stream import collector_argv

        return collector_argv(nonce, options, self.timeouts.command), None

    def netlink_namespace(self) -> str | None:
        """For live local/netns targets: the netns to read with pyroute2 ("" = this one).

        Remote targets return None and the collector's ``ip -j`` output is used instead.
        """
        return None

    @property
    def offline(self) -> bool:
        """True for snapshot replays: nothing can be executed or changed."""
        return False

    def close(self) -> None:  # pragma: no cover - default no-op
        return None

    def describe(self) -> str:
        return self.url
