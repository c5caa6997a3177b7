"""The JSON result document, schema ``rdma-preflight/results`` version 1 (docs/results-schema.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from .. import __version__

SCHEMA = "rdma-preflight/results"
VERSION = 1
OUTCOMES = ("pass", "fail", "warn", "skip", "error", "waived", "remediated")


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None


def node_entries(state) -> list[dict]:
    out = []
    for st in state.nodes.values():
        g = st.gathered
        facts = g.facts if g else None
        sysf = facts.system if facts else None
        out.append({
            "name": st.name, "target": st.spec.target.url,
            "profile": st.profile.name if st.profile else None,
            "profile_file": str(st.loaded.path) if st.loaded else None,
            "labels": st.spec.labels,
            "status": "error" if st.error else ("ok" if facts else "not-collected"),
            "error": st.error,
            "collect_seconds": round(g.seconds, 4) if g else None,
            "round_trips": g.round_trips if g else None,
            "identity": None if sysf is None else {
                "hostname": sysf.hostname, "kernel": sysf.kernel, "os": sysf.os_name,
                "serial": sysf.serial, "product": sysf.product, "vendor": sysf.vendor,
                "collected_at": sysf.collected_at},
        })
    return out


def build(state, partial: bool = False) -> dict:
    from ..harness.plugin import exit_code

    records = [r.to_json() for r in state.store.records]
    counts = Counter(r["outcome"] for r in records)
    return {
        "schema": SCHEMA, "version": VERSION,
        "tool": {"name": "rdma-preflight", "version": __version__},
        "run": {"started": _iso(state.started), "finished": _iso(state.finished),
                "partial": partial or state.interrupted or state.finished is None,
                "remediate": state.opts.remediate, "example_fleet": state.used_example,
                "exit_code": exit_code(state)},
        "summary": {o: counts.get(o, 0) for o in OUTCOMES},
        "nodes": node_entries(state),
        "results": records,
    }


def write(state, path: Path, partial: bool = False) -> Path:
    doc = build(state, partial)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def load(path: str | Path) -> dict:
    doc = json.loads(Path(path).read_text())
    if doc.get("schema") != SCHEMA or doc.get("version") != VERSION:
        raise ValueError(f"{path}: not an {SCHEMA} v{VERSION} document")
    return doc
