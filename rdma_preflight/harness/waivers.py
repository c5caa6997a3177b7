"""Waivers: a known, accepted failure becomes ``waived`` until its expiry date.

File format (YAML): a list under ``waivers:`` of {check, nodes (glob), rail (optional),
owner, reason, expires (YYYY-MM-DD)}. An expired waiver no longer hides the failure and
the report says it expired.
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


def attach_waivers(state: RunState, today: dt.date | None = None) -> None:
    if not state.opts.waivers:
        return
    waivers = load_waivers(state.opts.waivers)
    day = today or dt.date.today()

    def waiver_for(record) -> dict | None:
        for w in waivers:
            if w.matches(record.node, record.check, record.rail, record.netdev):
                return {"check": w.check, "nodes": w.nodes, "rail": w.rail, "owner": w.owner,
                        "reason": w.reason, "expires": w.expires.isoformat(), "active": w.expires >= day}
        return None

    state.waiver_for = waiver_for
