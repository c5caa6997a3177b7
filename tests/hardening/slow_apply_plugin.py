"""pytest plugin for test_interrupt_remediation.py (loaded with ``-p`` in the child run only):
every remediation action announces itself in $RPF_SLOW_MARK and then waits 30 s before it
changes anything, so the test can signal the run while a remediation is in flight."""

from __future__ import annotations

import os
import time

from rdma_preflight.remediation import actions



def _slow(apply):
    def wrapped(self, ex):
        with open(os.environ["RPF_SLOW_MARK"], "a") as fh:
            fh.write(f"{type(self).__name__}\n")
        time.sleep(30)
        return apply(self, ex)
    return wrapped


for cls in [c for c in vars(actions).values() if isinstance(c, type) and issubclass(c, actions.Action)]:
    if "apply" in vars(cls):
        cls.apply = _slow(vars(cls)["apply"])
