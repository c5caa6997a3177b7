"""Entry point the harness calls for a failed check when --remediate plan|apply is given."""

from __future__ import annotations

from ..checks.result import Result


def remediate(state, subject, result: Result) -> tuple[Result, dict]:
    from .registry import REMEDIES, load_all

    load_all()
    planner = REMEDIES.get(subject.check.id)
    if planner is None:
        return result, {"status": "none", "reason": "no automatic remediation for this check"}
    from .runner import run_remediation

    return run_remediation(state, subject, result, planner)
