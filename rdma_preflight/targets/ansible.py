"""``ansible://PATTERN?inventory=FILE``: hosts from an Ansible inventory, via testinfra's
ansible backend (needs the optional ``ansible`` extra: ``pip install rdma-preflight[ansible]``)."""

from __future__ import annotations

import concurrent.futures
import math
import shlex
from dataclasses import dataclass

from .base import CommandResult, Target, TargetError


def expand_inventory(pattern: str, inventory: str) -> list[str]:
    """Host names matching an Ansible pattern in an inventory."""
    try:
        import testinfra.utils.ansible_runner as ar
    except ImportError as exc:  # pragma: no cover - depends on extras
        raise TargetError(pattern, f"ansible support needs ansible-core: {exc}") from None
    try:
        return list(ar.AnsibleRunner(inventory).get_hosts(pattern))
    except Exception as exc:  # ansible raises many kinds; report, don't crash
        raise TargetError(pattern, f"cannot read inventory {inventory}: {exc}") from None


@dataclass
class AnsibleTarget(Target):
    inventory: str = ""

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        if stdin is not None:
            raise TargetError(self.node, "stdin is not supported over ansible")
        import testinfra

        host = testinfra.get_host(f"ansible://{self.node}?ansible_inventory={self.inventory}")
        remote = shlex.join(["timeout", str(max(1, math.ceil(timeout))), *argv])
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        fut = pool.submit(host.run, remote)
        try:
            # the remote `timeout` ends the command; ansible's own connection setup gets the grace
            r = fut.result(timeout=timeout + self.timeouts.ansible_grace)
        except concurrent.futures.TimeoutError:
            raise TargetError(self.node, f"timed out after {timeout:g}s (ansible)") from None
        except Exception as exc:
            raise TargetError(self.node, f"ansible: {exc}") from None
        finally:
            pool.shutdown(wait=False)
        return CommandResult(argv=argv, rc=r.rc, stdout=r.stdout_bytes, stderr=r.stderr_bytes)
