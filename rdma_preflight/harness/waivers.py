"""Waivers: a known, accepted failure becomes ``waived`` until its expiry date.

File format (YAML): a list under ``waivers:`` of {check, nodes (glob), rail (optional),
owner, reason, expires (YYYY-MM-DD)}. An expired waiver no longer hides the failure and
the report says it expired.

Only ``fail`` and ``warn`` records can be waived. A record keeps the waiver that matched it
(first match in file order) with ``active`` and ``outcome_without_waiver`` (the outcome it
had before), so a saved results.json can have its waivers re-applied later
(``rdma-preflight report --waivers``, ``reapply_waivers``) with the same rules.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

from .session import RunState, UsageError


@dataclass(frozen=True)
class Waiver:
    check: str
    nodes: str
    owner: str
    reason: str
    expires: dt.date
    rail: str | None = None

    def matches(self, node: str, check: str, rail: str | None, netdev: str | None) -> bool:
        if not fnmatch.fnmatchcase(check, self.check) or not fnmatch.fnmatchcase(node, self.nodes):
            return False
        return self.rail is None or self.rail in (rail, netdev)


def load_waivers(path: str) -> list[Waiver]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise UsageError(f"{p}: waiver file not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{p}: malformed YAML: {exc}") from None
    items = data.get("waivers") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UsageError(f"{p}: expected a mapping with a 'waivers:' list")
    out = []
    for i, w in enumerate(items):
        if not isinstance(w, dict):
            raise UsageError(f"{p}: waivers[{i}] must be a mapping")
        missing = [k for k in ("check", "nodes", "owner", "reason", "expires") if not w.get(k)]
        if missing:
            raise UsageError(f"{p}: waivers[{i}]: missing {', '.join(missing)}")
        extra = set(w) - {"check", "nodes", "owner", "reason", "expires", "rail"}
        if extra:
            raise UsageError(f"{p}: waivers[{i}]: unknown key(s) {', '.join(sorted(extra))}")
        exp = w["expires"]
        if isinstance(exp, str):
            try:
                exp = dt.date.fromisoformat(exp)
            except ValueError:
                raise UsageError(f"{p}: waivers[{i}].expires: {exp!r} is not YYYY-MM-DD") from None
        if not isinstance(exp, dt.date):
            raise UsageError(f"{p}: waivers[{i}].expires must be a date YYYY-MM-DD")
        out.append(Waiver(str(w["check"]), str(w["nodes"]), str(w["owner"]), str(w["reason"]), exp,
                          str(w["rail"]) if w.get("rail") is not None else None))
    return out


WAIVABLE = ("fail", "warn")


def waiver_entry(waivers: list[Waiver], node: str, check: str, rail: str | None, netdev: str | None,
                 day: dt.date) -> dict | None:
    """The first waiver matching (node, check, rail), as a record carries it; None if none."""
    for w in waivers:
        if w.matches(node, check, rail, netdev):
            return {"check": w.check, "nodes": w.nodes, "rail": w.rail, "owner": w.owner,
                    "reason": w.reason, "expires": w.expires.isoformat(), "active": w.expires >= day}
    return None


def apply_waiver(outcome: str, waiver: dict | None) -> tuple[str, dict | None]:
    """(outcome, waiver) a record gets: an active waiver turns fail/warn into ``waived``; an
    expired one stays attached (the reports say it expired) and hides nothing."""
    if waiver is None or outcome not in WAIVABLE:
        return outcome, None
    return ("waived" if waiver.get("active") else outcome), dict(waiver, outcome_without_waiver=outcome)


def outcome_without_waiver(record: dict, severity_of=None) -> str:
    """The outcome a saved record had before any waiver. Records written before
    ``outcome_without_waiver`` existed: ``warn`` for warn-severity checks, else ``fail``."""
    w = record.get("waiver")
    if record["outcome"] != "waived":
        return record["outcome"]
    before = (w or {}).get("outcome_without_waiver")
    if before in WAIVABLE:
        return before
    return "warn" if severity_of is not None and severity_of(record["check"]) == "warn" else "fail"


def reapply_waivers(records: list[dict], waivers: list[Waiver], day: dt.date | None = None) -> list[dict]:
    """Saved records (results.json) with their recorded waivers replaced by ``waivers`` as of
    ``day`` (default today): the same matching and rules as a live run. New dicts; inputs untouched."""
    from ..checks.registry import load_all

    registry = load_all()
    day = day or dt.date.today()

    def severity_of(check: str) -> str | None:
        spec = registry.get(check)
        return spec.severity if spec else None

    out = []
    for r in records:
        outcome = outcome_without_waiver(r, severity_of)
        outcome, waiver = apply_waiver(outcome, waiver_entry(waivers, r["node"], r["check"], r.get("rail"),
                                                             r.get("netdev"), day))
        out.append(dict(r, outcome=outcome, waiver=waiver))
    return out


def attach_waivers(state: RunState, today: dt.date | None = None) -> None:
    if not state.opts.waivers:
        return
    waivers = load_waivers(state.opts.waivers)
    day = today or dt.date.today()

    def waiver_for(record) -> dict | None:
        return waiver_entry(waivers, record.node, record.check, record.rail, record.netdev, day)

    state.waiver_for = waiver_for
