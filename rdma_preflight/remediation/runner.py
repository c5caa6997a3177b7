"""Run one planner for one failed check: refuse, plan, or journal + apply + re-check.

Apply order: guard (only rails the profile names; never the management interface, the
primary default-route interface, or the interface this session comes in on), node lock,
capture of every action's prior state into the fsync'd journal, the changes, a fresh
collection of the node (``state.refresh``), and the same check again. Only a passing
re-check is reported ``remediated``.
"""

from __future__ import annotations

import os
from typing import Callable

from ..checks.context import NodeContext
from ..checks.result import Outcome, Result
from ..targets.base import Target, TargetError
from .actions import Plan
from .executor import ExecError, executor_for
from .journal import JournalError, journal_for
from .lock import LockBusy, acquire

CONFIRM_ABOVE_NODES = 5
NOT_PERSISTED = ("Runtime change only: nothing is written to netplan or NetworkManager, so a reboot "
                 "or `netplan apply` brings the old state back; persisting is left for later "
                 "(see net.persistence).")


def _persist_note(subject, plan: Plan) -> str:
    """The netplan/NetworkManager caveat belongs to runtime host-network changes only."""
    if subject.check.area == "net" and getattr(plan, "runtime_only", True):
        return NOT_PERSISTED
    return ""


def report(status: str, plan: Plan | None = None, reason: str = "", journal: str | None = None) -> dict:
    return {"status": status, "actions": plan.commands() if plan else [], "journal": journal, "reason": reason}


def session_interfaces(ctx: NodeContext, target: Target) -> dict[str, str]:
    """Interfaces carrying this session to the node (from $SSH_CONNECTION's server address).
    Read once per node context: every plan's guard asks, and each ask was a round trip."""
    if "session_interfaces" not in ctx.memo:
        ctx.memo["session_interfaces"] = _session_interfaces(ctx, target)
    return ctx.memo["session_interfaces"]


def _session_interfaces(ctx: NodeContext, target: Target) -> dict[str, str]:
    ns = target.netlink_namespace()
    conn = ""
    if ns == "":
        conn = os.environ.get("SSH_CONNECTION", "")
    elif ns is None:
        try:
            res = target.run(["printenv", "SSH_CONNECTION"], timeout=target.timeouts.remote_command)
            conn = res.stdout.decode(errors="replace") if res.rc == 0 else ""
        except TargetError:
            conn = ""
    parts = conn.split()
    if len(parts) != 4:
        return {}
    server = parts[2]
    return {a.ifname: f"this session reaches the node through it ({server})"
            for a in ctx.facts.net.addresses if a.address == server}


def protected_interfaces(ctx: NodeContext, target: Target) -> dict[str, str]:
    """Interface -> why rdma-preflight never changes it."""
    out: dict[str, str] = {}
    mains = ctx.facts.net.main_defaults()
    best = min((r.metric for r in mains), default=None)
    for r in mains:
        if r.dev and r.metric == best:
            out[r.dev] = f"it carries the node's primary default route ({r.describe()})"
    for dev in ctx.management_interfaces():
        out.setdefault(dev, "it is the management interface")
    mgmt = ctx.profile.network.management_interface
    if mgmt:
        out[mgmt] = "it is the profile's management interface"
    out.update(session_interfaces(ctx, target))
    return out


def guard(ctx: NodeContext, plan: Plan, target: Target) -> str:
    """Why the plan must not run ("" = it may)."""
    touched = plan.interfaces()
    if not touched:
        return ""
    rails = {r.netdev for r in ctx.rails if r.netdev}
    stray = sorted(touched - rails)
    if stray:
        return (f"{', '.join(stray)} is not a rail NIC the profile names "
                f"(rails: {', '.join(sorted(rails)) or 'none'}); rdma-preflight only changes rails")
    protected = protected_interfaces(ctx, target)
    hit = sorted(touched & set(protected))
    if hit:
        return f"{hit[0]} is protected: {protected[hit[0]]}; rdma-preflight never changes it"
    return ""


def recheck(state, subject) -> Result:
    st = subject.node
    if st.ctx is None:
        return Result(Outcome.ERROR, f"re-collection failed: {st.error}")
    if subject.rail is None:
        return subject.check.fn(st.ctx)
    rail = st.ctx.rail(subject.rail.name)
    if rail is None or not rail.found:
        return Result(Outcome.ERROR, f"{subject.rail.name} is no longer found on the node")
    return subject.check.fn(st.ctx, rail)


def run_remediation(state, subject, result: Result, planner: Callable) -> tuple[Result, dict]:
    st = subject.node
    try:
        plan: Plan = planner(st.ctx, subject.rail, result)
    except Exception as exc:  # a planner bug must not hide the finding
        return result, report("failed", reason=f"planner error: {type(exc).__name__}: {exc}")
    if getattr(plan, "plan_only", False):
        # never applied, whatever --remediate says: the commands are for a person to run
        return result, report(getattr(plan, "status", "") or "planned", plan,
                              plan.refused or plan.note or "plan only: these commands are not run by rdma-preflight")
    if plan.refused:
        return result, report("refused", plan, plan.refused)
    if not plan.actions:
        return result, report("none", plan, plan.note or "nothing to change")
    try:
        target = state.make_target(st)
        refusal = guard(st.ctx, plan, target)
    except TargetError as exc:
        return result, report("failed", plan, f"cannot reach the node: {exc.reason}")
    if refusal:
        return result, report("refused", plan, refusal)
    if state.opts.remediate != "apply":
        return result, report("planned", plan, " ".join(x for x in (plan.note, _persist_note(subject, plan)) if x))
    return apply_plan(state, subject, result, plan, target)


def apply_plan(state, subject, result: Result, plan: Plan, target: Target) -> tuple[Result, dict]:
    st = subject.node
    if target.offline:
        return result, report("refused", plan, "a snapshot replay is read-only: nothing can be changed")
    if len(state.nodes) > CONFIRM_ABOVE_NODES and not state.opts.yes:
        return result, report("refused", plan, f"--remediate apply on {len(state.nodes)} nodes needs --yes")
    try:
        acquire(st.name, target.url)
        journal = journal_for(state, st.name, target.url)
    except (LockBusy, JournalError) as exc:
        return result, report("refused", plan, str(exc))
    path = str(journal.path)
    undo = f"undo with `rdma-preflight rollback {path}`"
    try:
        ex = executor_for(target)
    except ExecError as exc:
        return result, report("failed", plan, str(exc), path)
    try:
        try:
            priors = [a.capture(ex) for a in plan.actions]
        except ExecError as exc:
            return result, report("failed", plan, f"reading the prior state failed, nothing changed: {exc}", path)
        entries = journal.record(subject.check.id, subject.id, plan.actions, priors)
        for entry, action in zip(entries, plan.actions):
            if entry["status"] == "unchanged":
                continue
            try:
                action.apply(ex)
            except ExecError as exc:
                journal.mark(entry, "failed", str(exc))
                return result, report("failed", plan, f"`{action.describe()}` failed: {exc}; {undo}", path)
            journal.mark(entry, "applied")
    finally:
        ex.close()
    if plan.needs_reboot:
        return result, report("needs-reboot", plan, f"{plan.note} Takes effect after a reboot; {undo}.", path)
    state.refresh(st)
    after = recheck(state, subject)
    if after.outcome == Outcome.PASS:
        fixed = Result(Outcome.REMEDIATED, f"remediated: {result.summary}", result.expected,
                       f"now: {after.found or after.summary} (was: {result.found})", "",
                       evidence={"before": result.evidence, "after": after.evidence})
        note = " ".join(x for x in (plan.note, _persist_note(subject, plan), f"Journal {path}; {undo}.") if x)
        return fixed, report("remediated", plan, note, path)
    return after, report("failed", plan, f"re-check still fails: {after.summary}; {undo}", path)
