"""Evaluate one Subject into one Record (pure over facts, plus remediation when asked)."""

from __future__ import annotations

import time
import traceback

from ..checks.result import Outcome, Result
from .records import Record
from .session import RunState, Subject
from .waivers import apply_waiver


ORDER = ("error", "fail", "warn", "remediated", "waived", "pass", "skip")
FLEET_MESSAGES = 20        # a fleet item's failure message shows this many nodes' findings


def evaluate_subject(state: RunState, subj: Subject) -> tuple[list[Record], str, str]:
    """Evaluate one pytest item: one record, or one per rail when a rail check runs at node
    granularity (large fleets), or one per node and rail when the item is the whole fleet.
    Returns (records, item outcome, message). Never raises."""
    if subj.node is None:
        return evaluate_fleet(state, subj)
    spec, st = subj.check, subj.node
    if spec.scope == "rail" and subj.rail is None and st.ctx is not None and not st.error:
        pairs = [evaluate_one(state, Subject(spec, st, r)) for r in st.ctx.rails]
        if not pairs:
            rec, msg = evaluate_one(state, subj)
            return [rec], rec.outcome, msg
        records = [p[0] for p in pairs]
        outcome = min((r.outcome for r in records), key=ORDER.index)
        shown = [m for r, m in pairs if r.outcome == outcome] if outcome != "pass" else []
        return records, outcome, "\n".join(shown)
    rec, msg = evaluate_one(state, subj)
    return [rec], rec.outcome, msg


def evaluate_fleet(state: RunState, subj: Subject) -> tuple[list[Record], str, str]:
    """One pytest item for one check over every node (``--granularity fleet``): pytest's cost
    is then per check, not per node; every (node, rail) still gets its own record, so the
    JSON, JUnit (a testsuite per node) and fleet reports are the same as at finer grains."""
    records: list[Record] = []
    worst: list[tuple[str, str]] = []
    outcome = "skip"
    for st in subj.fleet or []:
        recs, out, msg = evaluate_subject(state, Subject(subj.check, st))
        records.extend(recs)
        if ORDER.index(out) < ORDER.index(outcome):
            outcome, worst = out, []
        if out == outcome and outcome not in ("pass", "skip") and msg:
            worst.append((st.name, msg))
    if not records:
        return records, "skip", "no nodes"
    if outcome == "skip":
        return records, outcome, records[0].summary
    shown = [m for _, m in worst[:FLEET_MESSAGES]]
    if len(worst) > FLEET_MESSAGES:
        shown.append(f"... and {len(worst) - FLEET_MESSAGES} more node(s) with {outcome}: "
                     + ", ".join(n for n, _ in worst[FLEET_MESSAGES:FLEET_MESSAGES + 50])
                     + (" ..." if len(worst) > FLEET_MESSAGES + 50 else "") + " (all in the reports)")
    return records, outcome, "\n".join(shown)


def evaluate_one(state: RunState, subj: Subject) -> tuple[Record, str]:
    """One (node, check, rail) into one Record and the message to show."""
    spec, st, rail = subj.check, subj.node, subj.rail
    t0 = time.monotonic()

    def rec(result: Result, outcome: str | None = None, remediation: dict | None = None) -> Record:
        return Record(node=st.name, check=spec.id, title=spec.title, area=spec.area,
                      rail=rail.name if rail else None, netdev=rail.netdev if rail else None,
                      outcome=outcome or result.outcome.value, summary=result.summary,
                      expected=result.expected, found=result.found, fix=result.fix,
                      remediation=remediation, test_id=f"{spec.test_name}[{subj.id}]",
                      seconds=time.monotonic() - t0, evidence=_jsonable(result.evidence))

    if st.error:
        r = Result(Outcome.ERROR, f"node not checked: {st.error}",
                   fix="check that the node is reachable (target " + st.spec.target.url + ") and re-run")
        return rec(r), r.message(st.name, None, None, spec.id)
    reason = spec.not_applicable(st.profile)
    if reason:
        r = Result(Outcome.SKIP, reason)
        return rec(r), reason
    if rail is not None and not rail.found:
        r = Result(Outcome.SKIP, f"{rail.name}: NIC not found ({rail.problem}); see net.rail_count")
        return rec(r), r.summary
    try:
        result = spec.fn(st.ctx, rail) if spec.scope == "rail" else spec.fn(st.ctx)
        if not isinstance(result, Result):
            raise TypeError(f"check returned {type(result).__name__}, not Result")
    except Exception as exc:
        tb = traceback.format_exc(limit=3)
        r = Result(Outcome.ERROR, f"internal error in check {spec.id}: {type(exc).__name__}: {exc}",
                   evidence={"traceback": tb})
        return rec(r), r.message(st.name, rail.name if rail else None, rail.netdev if rail else None, spec.id)
    if result.outcome == Outcome.FAIL and spec.severity == "warn":
        result.outcome = Outcome.WARN
    remediation = None
    if result.outcome == Outcome.FAIL and state.opts.remediate in ("plan", "apply"):
        from ..remediation.engine import remediate

        result, remediation = remediate(state, subj, result)
    record = rec(result, remediation=remediation)
    if hasattr(state, "waiver_for"):
        record.outcome, record.waiver = apply_waiver(record.outcome, state.waiver_for(record))
    msg = result.message(st.name, rail.name if rail else None, rail.netdev if rail else None, spec.id)
    if remediation:
        msg += f"\n  remediation: {remediation.get('status')}"
        for line in remediation.get("actions", []):
            msg += f"\n    {line}"
        if remediation.get("reason"):
            msg += f"\n    ({remediation['reason']})"
    if record.waiver:
        w = record.waiver
        msg += (f"\n  waiver: {'active' if w.get('active') else 'EXPIRED'} until {w.get('expires')} "
                f"(owner {w.get('owner')}: {w.get('reason')})")
    return record, msg


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
