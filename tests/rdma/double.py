"""A command-runner DOUBLE for the rdma remediation tests: this machine has no RDMA kernel, so
the node is simulated. It extends the qos tests' double (files under a temporary root standing
in for /etc, /sys and /proc; ``cat``, the executor's ``printf`` write and ``modprobe``) with
``rm -f``, ``rdma system show|set netns`` and the ``sriov_numvfs`` rule, and is driven through the
project's real ArgvExecutor, so the exact argv each action sends is what gets recorded.

HAND-MADE behaviour (not recorded from a kernel): the EBUSY text of ``rdma system set netns``
while other network namespaces exist (no verbatim public example exists, spec §4), and the
kernel's EBUSY when a non-zero ``sriov_numvfs`` is changed to another non-zero count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdma_preflight.remediation.actions import Plan
from rdma_preflight.remediation.executor import ArgvExecutor
from rdma_preflight.targets.base import CommandResult
from tests.qos.double import WRITE, NodeDouble

BUSY = b"error: Device or resource busy\n"

__all__ = ["BUSY", "WRITE", "RdmaDouble", "apply_like_runner", "undo_like_rollback"]


@dataclass
class RdmaDouble(NodeDouble):
    netns: str = "shared"
    busy: bool = False                        # other network namespaces (pods) exist

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        if self._refused(argv):
            self.calls.append(list(argv))
            return CommandResult(list(argv), 1, b"", BUSY)
        return super()._run(argv, stdin, timeout)

    def _refused(self, argv: list[str]) -> bool:
        if argv[:4] == ["rdma", "system", "set", "netns"]:
            return self.busy and argv[4] != self.netns
        if argv[:4] == WRITE and argv[5].endswith("/sriov_numvfs"):
            current = int((self.get(argv[5]) or "0").strip())
            return current != 0 and int(argv[4]) not in (0, current)
        return False

    def _answer(self, argv: list[str]) -> tuple[str, int]:
        if argv == ["rdma", "system", "show"]:
            return f"netns {self.netns} copy-on-fork on\n", 0
        if argv[:4] == ["rdma", "system", "set", "netns"] and len(argv) == 5:
            self.netns = argv[4]
            return "", 0
        if argv[:3] == ["rm", "-f", "--"]:
            self.host(argv[3]).unlink(missing_ok=True)
            return "", 0
        return super()._answer(argv)


def rdma_double(root: Path, **state) -> RdmaDouble:
    (root / "etc" / "modprobe.d").mkdir(parents=True, exist_ok=True)
    d = RdmaDouble(node="roce-node-1", url="double://roce-node-1", root=root, **state)
    d.put("/proc/modules", "ib_core 16384 0 - Live 0xffffffffc0000000\n")
    return d


def apply_like_runner(plan: Plan, node: RdmaDouble) -> list[dict]:
    """What the shared runner does with a plan: capture every prior first, then apply the
    needed actions in order. Returns the priors (for undo)."""
    ex = ArgvExecutor(node)
    priors = [a.capture(ex) for a in plan.actions]
    for action, prior in zip(plan.actions, priors):
        if action.needed(prior):
            action.apply(ex)
    return priors


def undo_like_rollback(plan: Plan, priors: list[dict], node: RdmaDouble) -> None:
    """What ``rollback`` does: undo the changed actions, newest first."""
    ex = ArgvExecutor(node)
    for action, prior in reversed(list(zip(plan.actions, priors))):
        if action.needed(prior):
            action.undo(ex, prior)
