"""Fleet reports from one results document: which node fails which check, what changed, what to do.

``render_fleet(doc, out_dir, baseline_doc, facts_by_node)`` writes, from a results document
(schema ``rdma-preflight/results`` v1) alone, so it also runs offline on a saved results.json:

* ``fleet.html``  one self-contained page (inline CSS/JS): node x check matrix, filters,
  per-check pass rates, top failing checks, drift, waivers, per-node drill-down
* ``fleet.md``    a short summary for a CI job summary (GITHUB_STEP_SUMMARY)
* ``fleet.json``  the matrix and rates (shape below)
* ``fleet.csv``   one row per record; cells starting with = + - @ TAB CR get a leading '
* ``rdma_preflight.prom``  Prometheus text format for node-exporter's textfile collector
  (written atomically): ``rdma_preflight_check_passed{node,check,rail}`` 1/0 (no sample for
  skips), ``rdma_preflight_check_outcome{node,check,rail,outcome}`` 1, ``..._node_error{node}``,
  ``..._node_collect_seconds{node}``, ``..._node_failing_checks{node}``,
  ``..._check_duration_seconds{check}``, ``..._check_pass_ratio{check}``, ``..._records{outcome}``,
  ``..._waiver_expiry_timestamp_seconds{check,nodes,rail,owner}``, ``..._run_timestamp_seconds``,
  ``..._run_duration_seconds``, ``..._run_exit_code``, ``..._run_partial``; rail="" for node checks

A *cell* is the worst outcome over a check's rails on one node, worst first: fail, error,
warn, waived, remediated, skip, pass. *Passing* outcomes do not fail the run (pass, warn,
waived, remediated); *failing* ones do (fail, error); skip means not applicable and is left
out of ``pass_rate = passing / (passing + failing)`` (null when nothing applied).

fleet.json, schema ``rdma-preflight/fleet`` version 1::

    {"schema", "version", "tool": {...}, "run": {... as in results.json},
     "summary": {outcome: records},
     "totals": {"nodes", "checks", "records", "nodes_by_verdict": {verdict: n}},
     "checks": [{"id", "title", "area", "rails": bool, "nodes": {outcome: n},
                 "passing", "failing", "pass_rate"}],
     "nodes": [{"name", "profile", "status", "error", "verdict", "records": {outcome: n},
                "failing_checks": [check ids]}],
     "matrix": {"checks": [check ids], "rows": [{"node", "cells": [outcome | null, ...]}]},
     "top_failing": [{"check", "title", "failing_nodes", "pass_rate", "fix": most common fix text}],
     "waivers": [{"check", "nodes", "rail", "owner", "reason", "expires", "active",
                  "records", "matched_nodes"}],
     "drift": {drift.compare_runs} | {"error": why} | null,
     "fleet_drift": [drift.FactDrift.to_json()]}

A node's verdict: error (not collected), fail, error (a check errored), warn, or pass.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import html
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from . import drift as drift_mod

SCHEMA = "rdma-preflight/fleet"
VERSION = 1
WORST_FIRST = ("fail", "error", "warn", "waived", "remediated", "skip", "pass")
RANK = {o: i for i, o in enumerate(WORST_FIRST)}
PASSING = frozenset({"pass", "warn", "waived", "remediated"})
FAILING = drift_mod.FAILING
LETTER = {"pass": "p", "fail": "f", "warn": "w", "waived": "v", "error": "e", "remediated": "r", "skip": "s"}
TOP_N = 10
MD_LIST_CAP = 20
HTML_FAILING_NODES_CAP = 100
ROW_CHUNK = 250


# -- shared helpers (also used by acceptance.py) ----------------------------------------------

def worst(outcomes: Iterable[str]) -> str | None:
    """The worst outcome of several (a check's rails on one node)."""
    return min(outcomes, key=lambda o: RANK.get(o, len(RANK)), default=None)


def node_verdict(status: str | None, counts: Mapping[str, int]) -> str:
    if status == "error":
        return "error"
    for o in ("fail", "error", "warn"):
        if counts.get(o):
            return o
    return "pass"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~<>#@])")
_MD_ENTITY = {"<": "&lt;", ">": "&gt;", "@": "&#64;"}     # @: no @mention on GitHub


def md(text: object, limit: int = 300) -> str:
    """Text safe in a Markdown table cell or list item: one line, specials escaped, no raw HTML."""
    s = " ".join(str(text if text is not None else "").split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;")
    return _MD_SPECIAL.sub(lambda m: _MD_ENTITY.get(m.group(1), "\\" + m.group(1)), s)


def esc(text: object) -> str:
    """HTML text/attribute escape (quotes included)."""
    return html.escape("" if text is None else str(text), quote=True)


def write_text(path: Path, text: str) -> Path:
    """Atomic write (tmp + rename), UTF-8 with unencodable characters replaced."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", errors="replace")
    tmp.replace(path)
    return path


def _ts(iso: str | None) -> float | None:
    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


# -- the model (fleet.json) -------------------------------------------------------------------

def _check_index(records: list[dict]) -> dict[str, dict]:
    checks: dict[str, dict] = {}
    for r in records:
        c = checks.setdefault(r["check"], {"id": r["check"], "title": r.get("title", ""),
                                           "area": r.get("area", ""), "rails": False})
        c["rails"] = c["rails"] or bool(r.get("rail"))
    return checks


def cells_of(records: list[dict]) -> dict[tuple[str, str], str]:
    """(node, check) -> worst outcome over the check's rails."""
    by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        by[(r["node"], r["check"])].append(r["outcome"])
    return {k: worst(v) for k, v in by.items()}


def _waivers(records: list[dict]) -> list[dict]:
    agg: dict[tuple, dict] = {}
    for r in records:
        w = r.get("waiver")
        if not w:
            continue
        key = tuple(str(w.get(k)) for k in ("check", "nodes", "rail", "owner", "reason", "expires", "active"))
        e = agg.setdefault(key, {k: w.get(k) for k in ("check", "nodes", "rail", "owner", "reason", "expires",
                                                       "active")} | {"records": 0, "matched_nodes": set()})
        e["records"] += 1
        e["matched_nodes"].add(r["node"])
    out = [dict(e, matched_nodes=len(e["matched_nodes"])) for e in agg.values()]
    return sorted(out, key=lambda e: (bool(e["active"]), str(e["expires"]), str(e["check"])))


def build_fleet(doc: Mapping, run_drift: Mapping | None = None,
                fact_drift: list[drift_mod.FactDrift] | None = None, nodes_with_facts: int = 0) -> dict:
    """The fleet.json document from a results document (+ optional drift)."""
    records = doc.get("results", [])
    checks = _check_index(records)
    cells = cells_of(records)
    rec_counts: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        rec_counts[r["node"]][r["outcome"]] += 1
    node_names = [n["name"] for n in doc.get("nodes", [])]
    node_names += sorted({r["node"] for r in records} - set(node_names))
    meta = {n["name"]: n for n in doc.get("nodes", [])}
    nodes, rows = [], []
    for name in node_names:
        m = meta.get(name, {})
        row = [cells.get((name, c)) for c in checks]
        nodes.append({"name": name, "profile": m.get("profile"), "status": m.get("status"), "error": m.get("error"),
                      "verdict": node_verdict(m.get("status"), rec_counts[name]),
                      "records": dict(rec_counts[name]),
                      "failing_checks": [c for c, o in zip(checks, row) if o in FAILING]})
        rows.append({"node": name, "cells": row})
    check_rows = []
    for i, (cid, c) in enumerate(checks.items()):
        col = Counter(r["cells"][i] for r in rows if r["cells"][i])
        passing = sum(n for o, n in col.items() if o in PASSING)
        failing = sum(n for o, n in col.items() if o in FAILING)
        check_rows.append(dict(c, nodes=dict(col), passing=passing, failing=failing,
                               pass_rate=round(passing / (passing + failing), 4) if passing + failing else None))
    top = sorted((c for c in check_rows if c["failing"]), key=lambda c: (-c["failing"], c["id"]))[:TOP_N]
    fixes: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        if r["outcome"] in FAILING and r.get("fix"):
            fixes[r["check"]][r["fix"]] += 1
    return {
        "schema": SCHEMA, "version": VERSION, "tool": doc.get("tool", {}), "run": doc.get("run", {}),
        "summary": doc.get("summary", {}),
        "totals": {"nodes": len(nodes), "checks": len(checks), "records": len(records),
                   "nodes_with_facts": nodes_with_facts,
                   "nodes_by_verdict": dict(Counter(n["verdict"] for n in nodes))},
        "checks": check_rows, "nodes": nodes,
        "matrix": {"checks": list(checks), "rows": rows},
        "top_failing": [{"check": c["id"], "title": c["title"], "failing_nodes": c["failing"],
                         "pass_rate": c["pass_rate"],
                         "fix": fixes[c["id"]].most_common(1)[0][0] if fixes[c["id"]] else ""} for c in top],
        "waivers": _waivers(records),
        "drift": dict(run_drift) if run_drift is not None else None,
        "fleet_drift": [d.to_json() for d in fact_drift or []],
    }


# -- fleet.csv ---------------------------------------------------------------------------------

CSV_COLUMNS = ("node", "check", "title", "area", "rail", "netdev", "outcome", "summary", "expected", "found",
               "fix", "waiver_active", "waiver_expires", "waiver_owner", "waiver_reason", "remediation_status",
               "remediation_actions", "test_id", "seconds")


_FORMULA_START = frozenset("=+-@\t\r")


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s and s[0] in _FORMULA_START else s


def csv_rows(records: Iterable[dict]) -> Iterable[list[str]]:
    for r in records:
        w = r.get("waiver") or {}
        rem = r.get("remediation") or {}
        row = [r.get("node"), r.get("check"), r.get("title"), r.get("area"), r.get("rail"), r.get("netdev"),
               r.get("outcome"), r.get("summary"), r.get("expected"), r.get("found"), r.get("fix"),
               ("yes" if w.get("active") else "no") if w else "", w.get("expires"), w.get("owner"),
               w.get("reason"), rem.get("status"), "; ".join(rem.get("actions") or []), r.get("test_id"),
               f"{r.get('seconds') or 0:.4f}"]
        yield [csv_safe(v) for v in row]


def render_csv(doc: Mapping) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(csv_rows(doc.get("results", [])))
    return buf.getvalue()


# -- rdma_preflight.prom -----------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def _prom_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prom_label(value: object) -> str:
    """A label value escaped per the text exposition format (backslash, quote, newline)."""
    return _prom_escape(str("" if value is None else value))


def _labels(**kv: object) -> str:
    return "{" + ",".join(f'{k}="{prom_label(v)}"' for k, v in kv.items()) + "}"


def prom_value(v: float | int | bool) -> str:
    """A sample value: integers as such, floats at full precision."""
    return str(int(v)) if isinstance(v, (bool, int)) or float(v).is_integer() else repr(float(v))


def _metric(lines: list[str], name: str, help_: str, samples: Iterable[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_}")
    lines.append(f"# TYPE {name} gauge")
    lines.extend(f"{name}{labels} {prom_value(value)}" for labels, value in samples)


def render_prom(doc: Mapping, fleet: Mapping) -> str:
    """Prometheus text format: per-record pass/outcome, per-node errors and durations, run facts."""
    recs = doc.get("results", [])
    run = doc.get("run", {})
    lines: list[str] = []
    _metric(lines, "rdma_preflight_check_passed",
            "1 if the check passed on the node and rail (pass, warn, waived, remediated), 0 if it failed or "
            "errored; skipped checks have no sample.",
            ((_labels(node=r["node"], check=r["check"], rail=r.get("rail") or ""), int(r["outcome"] in PASSING))
             for r in recs if r["outcome"] != "skip"))
    _metric(lines, "rdma_preflight_check_outcome", "1 for the outcome of the check on the node and rail.",
            ((_labels(node=r["node"], check=r["check"], rail=r.get("rail") or "", outcome=r["outcome"]), 1)
             for r in recs))
    nodes = doc.get("nodes", [])
    _metric(lines, "rdma_preflight_node_error", "1 if the node could not be collected or read.",
            ((_labels(node=n["name"]), int(n.get("status") == "error")) for n in nodes))
    _metric(lines, "rdma_preflight_node_collect_seconds", "Seconds spent collecting the node's facts.",
            ((_labels(node=n["name"]), float(n["collect_seconds"])) for n in nodes
             if n.get("collect_seconds") is not None))
    _metric(lines, "rdma_preflight_node_failing_checks", "Checks failing or erroring on the node.",
            ((_labels(node=n["name"]), len(n["failing_checks"])) for n in fleet["nodes"]))
    secs: Counter = Counter()
    for r in recs:
        secs[r["check"]] += float(r.get("seconds") or 0.0)
    _metric(lines, "rdma_preflight_check_duration_seconds", "Seconds spent evaluating the check, all nodes.",
            ((_labels(check=c), round(s, 6)) for c, s in sorted(secs.items())))
    _metric(lines, "rdma_preflight_check_pass_ratio", "Share of applicable nodes passing the check.",
            ((_labels(check=c["id"]), c["pass_rate"]) for c in fleet["checks"] if c["pass_rate"] is not None))
    _metric(lines, "rdma_preflight_records", "Records per outcome in the run.",
            ((_labels(outcome=o), n) for o, n in doc.get("summary", {}).items()))
    expiry = [(w, _ts(f"{w['expires']}T00:00:00+00:00")) for w in fleet["waivers"]]
    _metric(lines, "rdma_preflight_waiver_expiry_timestamp_seconds", "When each waiver in use expires.",
            ((_labels(check=w["check"], nodes=w["nodes"], rail=w.get("rail") or "", owner=w["owner"]), ts)
             for w, ts in expiry if ts is not None))
    started, finished = _ts(run.get("started")), _ts(run.get("finished"))
    run_samples = [("rdma_preflight_run_timestamp_seconds", "When the run finished (Unix time).", finished),
                   ("rdma_preflight_run_duration_seconds", "Wall time of the run.",
                    finished - started if finished and started else None),
                   ("rdma_preflight_run_exit_code", "The run's exit code (0 pass, 1 fail, 2 usage, 3 unreachable).",
                    run.get("exit_code")),
                   ("rdma_preflight_run_partial", "1 if the run was interrupted or incomplete.",
                    int(bool(run.get("partial"))))]
    for name, help_, value in run_samples:
        if value is not None:
            _metric(lines, name, help_, [("", value)])
    return "\n".join(lines) + "\n"


# -- fleet.md ----------------------------------------------------------------------------------

def _rate(r: float | None) -> str:
    return "n/a" if r is None else f"{100 * r:.1f}%"


def _more(total: int, shown: int) -> list[str]:
    return [f"- … and {total - shown} more (see fleet.html / fleet.csv)"] if total > shown else []


def md_drift(run_drift: Mapping | None, cap: int = 10) -> list[str]:
    """The "what changed" block (shared with the acceptance record)."""
    if run_drift is None:
        return ["_No baseline given (`--baseline PREVIOUS.json`)._"]
    if "error" in run_drift:
        return [f"_Baseline not usable: {md(run_drift['error'])}_"]
    b = run_drift.get("baseline") or {}
    out = [f"Against the run of {md(b.get('finished') or b.get('started') or '?')}: "
           + ", ".join(f"{len(run_drift[k])} {k.replace('_', ' ')}" for k in
                       ("newly_failing", "newly_fixed", "still_failing", "no_longer_checked", "nodes_added",
                        "nodes_gone"))]
    for key in ("newly_failing", "newly_fixed"):
        items = run_drift.get(key, [])
        for e in items[:cap]:
            where = md(e["node"]) + (f" {md(e['rail'])}" if e.get("rail") else "")
            out.append(f"- {key.split('_')[1]}: **{md(e['check'])}** on {where} "
                       f"({md(e['before'] or 'new')} → {md(e['now'] or 'gone')}) {md(e.get('summary'), 120)}")
        out += _more(len(items), min(cap, len(items)))
    for e in run_drift.get("nodes_added", [])[:cap]:
        out.append(f"- node added: {md(e['node'])} ({e['failing']} failing)")
    for n in run_drift.get("nodes_gone", [])[:cap]:
        out.append(f"- node gone: {md(n)}")
    return out


def _md_nodes(fact_drift: Mapping, cap: int = 8) -> str:
    nodes = sorted(n for ns in fact_drift["deviating"].values() for n in ns)
    return ("nodes: " + ", ".join(md(n, 80) for n in nodes[:cap])
            + (f" and {len(nodes) - cap} more" if len(nodes) > cap else ""))


def render_md(fleet: Mapping) -> str:
    run, tot = fleet["run"], fleet["totals"]
    verdicts = tot["nodes_by_verdict"]
    bad = verdicts.get("fail", 0) + verdicts.get("error", 0)
    head = "FAIL" if verdicts.get("fail") else "ERROR" if verdicts.get("error") else "PASS"
    out = [f"## rdma-preflight: {head} — {bad} of {tot['nodes']} nodes failing or unreachable", ""]
    if run.get("example_fleet"):
        out += ["> **Bundled example fleet** (recorded snapshots), not your nodes.", ""]
    out += [f"Run {md(run.get('started'))} → {md(run.get('finished'))}, rdma-preflight "
            f"{md(fleet['tool'].get('version'))}, exit code {run.get('exit_code')}"
            + (", **partial**" if run.get("partial") else ""), "",
            "| " + " | ".join(WORST_FIRST) + " |", "|" + "---|" * len(WORST_FIRST),
            "| " + " | ".join(str(fleet["summary"].get(o, 0)) for o in WORST_FIRST) + " |", ""]
    out += ["### Top failing checks", ""]
    if fleet["top_failing"]:
        out += ["| check | failing nodes | pass rate | title | most common fix |", "|---|---:|---:|---|---|"]
        out += [f"| {md(c['check'])} | {c['failing_nodes']} | {_rate(c['pass_rate'])} | {md(c['title'], 80)} | "
                f"{md(c['fix'], 160)} |"
                for c in fleet["top_failing"]]
    else:
        out.append("None.")
    failing = [n for n in fleet["nodes"] if n["verdict"] in FAILING]
    out += ["", f"### Failing nodes ({len(failing)})", ""]
    if failing:
        out += ["| node | verdict | failing checks |", "|---|---|---|"]
        out += [f"| {md(n['name'])} | {n['verdict']} | "
                f"{md(', '.join(n['failing_checks']) or n.get('error') or '', 200)} |" for n in failing[:MD_LIST_CAP]]
        out += _more(len(failing), MD_LIST_CAP)
    else:
        out.append("None.")
    out += ["", "### What changed", ""] + md_drift(fleet["drift"])
    fd = fleet["fleet_drift"]
    out += ["", f"### Fleet drift ({len(fd)} fact(s) differ from their profile's majority)", ""]
    out += [f"- {md(d['text'], 400)} — {_md_nodes(d)}" for d in fd[:MD_LIST_CAP]] + _more(len(fd), MD_LIST_CAP)
    if not fd:
        out.append("None found." if fleet["totals"]["nodes_with_facts"] else
                   "Not compared: no node facts (render from a run, or give snapshots).")
    ws = fleet["waivers"]
    if ws:
        expired = [w for w in ws if not w["active"]]
        out += ["", f"### Waivers ({len(ws) - len(expired)} active, {len(expired)} expired)", "",
                "| check | nodes | owner | expires | state | records | reason |", "|---|---|---|---|---|---:|---|"]
        out += [f"| {md(w['check'])} | {md(w['nodes'])} | {md(w['owner'])} | {md(w['expires'])} | "
                f"{'active' if w['active'] else '**EXPIRED**'} | {w['records']} | {md(w['reason'], 120)} |"
                for w in ws[:MD_LIST_CAP]]
    return "\n".join(out) + "\n"


# -- fleet.html --------------------------------------------------------------------------------

class _Strings:
    """A string table: each distinct string once in the page's data."""

    def __init__(self) -> None:
        self.items: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def __call__(self, s: object) -> int:
        s = "" if s is None else str(s)
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.items)
            self.items.append(s)
        return i


ALL_RAILS = "all rails"
_EMPTY = (None, None, None, None, None, 0, 0, 0, 0, -1, -1)    # what a left-off detail field means


def _detail_records(records: list[dict]) -> Iterable[dict]:
    """The records the page details: not plain passes; a check skipped on every rail of a node
    for one reason becomes one record with rail "all rails" (most skips are like that)."""
    skips: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r["outcome"] == "skip" and r.get("rail") and not r.get("waiver"):
            skips[(r["node"], r["check"])].append(r)
        elif r["outcome"] != "pass" or r.get("waiver"):
            yield r
    for group in skips.values():
        if len(group) > 1 and len({r.get("summary") for r in group}) == 1:
            yield dict(group[0], rail=ALL_RAILS, netdev=None)
        else:
            yield from group


def page_data(doc: Mapping, fleet: Mapping) -> dict:
    """The compact data the page's script reads: a string table, and per detailed record
    ``[node, check, rail, netdev, outcome letter, summary, expected, found, fix, waiver, remediation]``
    (indexes; trailing empty strings and -1s left off)."""
    S = _Strings()
    cidx = {c: i for i, c in enumerate(fleet["matrix"]["checks"])}
    nidx = {n["name"]: i for i, n in enumerate(fleet["nodes"])}
    waivers: dict[tuple, int] = {}
    rems: list = []
    details = []
    for r in _detail_records(doc.get("results", [])):
        w, rm, wi, ri = r.get("waiver"), r.get("remediation"), -1, -1
        if w:
            key = tuple(S(w.get(k)) for k in ("check", "nodes", "rail", "owner", "reason", "expires")) + (
                int(bool(w.get("active"))),)
            wi = waivers.setdefault(key, len(waivers))
        if rm:
            rems.append([S(rm.get("status")), [S(a) for a in rm.get("actions") or []], S(rm.get("journal")),
                         S(rm.get("reason"))])
            ri = len(rems) - 1
        row = [nidx[r["node"]], cidx[r["check"]], S(r.get("rail")), S(r.get("netdev")), LETTER.get(r["outcome"], "?"),
               S(r.get("summary")), S(r.get("expected")), S(r.get("found")), S(r.get("fix")), wi, ri]
        while len(row) > 5 and row[-1] == _EMPTY[len(row) - 1]:
            row.pop()
        details.append(row)
    return {
        "C": [[c["id"], S(c["title"]), S(c["area"]), int(c["rails"])] for c in fleet["checks"]],
        "N": [[n["name"], S(n["profile"]), n["verdict"], S(n["error"])] for n in fleet["nodes"]],
        "M": ["".join(LETTER.get(o, "-") if o else "-" for o in row["cells"]) for row in fleet["matrix"]["rows"]],
        "X": details, "W": [list(k) for k in waivers], "R": rems, "S": S.items,
    }


def script_json(data: object) -> str:
    """JSON that cannot end its <script> element or open a comment."""
    s = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#fff}
header,section{padding:8px 16px}header{background:#1d2330;color:#fff}h1{font-size:18px;margin:4px 0}
h2{font-size:15px;margin:14px 0 6px;border-bottom:1px solid #ccd}
.tiles{display:flex;gap:8px;flex-wrap:wrap}.tile{border:1px solid #ccd;border-radius:4px;padding:6px 10px;min-width:80px}
.tile b{display:block;font-size:20px}.warnbox{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse}td,th{border:1px solid #dde;padding:2px 5px;text-align:left;vertical-align:top}
.list td,.list th{font-size:12px}.num{text-align:right}
.p{background:#d8f0d8}.f{background:#f6b3b3;font-weight:bold}.w{background:#fbe7a6}.v{background:#d6d6f5}
.e{background:#e0a0e0;font-weight:bold}.r{background:#b8e0f0}.s{background:#eee;color:#777}
#m{table-layout:fixed;font:11px monospace}#m td{width:14px;text-align:center;padding:0;cursor:pointer}
#m th.n{position:sticky;left:0;background:#fff;max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;cursor:pointer}
#m thead th{position:sticky;top:0;background:#f4f4f8;height:150px;vertical-align:bottom;cursor:pointer}
#m thead th div{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;max-height:145px;overflow:hidden}
#m tbody{content-visibility:auto;contain-intrinsic-size:auto 4500px}
.wrap{overflow:auto;max-height:80vh;border:1px solid #ccd}
#panel{position:fixed;right:0;top:0;bottom:0;width:46%;overflow:auto;background:#fff;border-left:2px solid #1d2330;
padding:8px 14px;display:none;box-shadow:-4px 0 10px rgba(0,0,0,.15)}#panel.on{display:block}
#panel pre{white-space:pre-wrap;margin:0;font:12px monospace}.rec{border:1px solid #dde;margin:6px 0;padding:4px 6px}
div.rec{font-weight:normal}.k{color:#556;display:inline-block;min-width:72px}.filters{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:6px 0}
details{margin:2px 0}summary{cursor:pointer}.bad{color:#a00;font-weight:bold}
@media print{#panel,.filters{display:none}.wrap{max-height:none;overflow:visible}}
"""

JS = r"""
(function(){
var D=JSON.parse(document.getElementById('rpf-data').textContent),S=D.S;
var RANK='fewvrsp-',NAMES={p:'pass',f:'fail',w:'warn',v:'waived',e:'error',r:'remediated',s:'skip','-':'not run'};
var body=document.getElementById('m'),fn=document.getElementById('fn'),fc=document.getElementById('fc'),
fo=document.getElementById('fo'),colstyle=document.getElementById('colstyle'),count=document.getElementById('count'),
panel=document.getElementById('panel'),byNode=null;
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!=null)e.textContent=text;return e}
function apply(){var q=fn.value.toLowerCase(),c=parseInt(fc.value,10),o=fo.value,rows=body.tBodies,shown=0;
 colstyle.textContent=c>=0?'#m tr>td:not(:nth-child('+(c+2)+')),#m thead th:not(.n):not(:nth-child('+(c+2)+')){display:none}':'';
 for(var b=0;b<rows.length;b++){var tr=rows[b].rows;for(var k=0;k<tr.length;k++){var i=+tr[k].getAttribute('data-i'),
  m=D.M[i],ok=!q||D.N[i][0].toLowerCase().indexOf(q)>=0;
  if(ok&&o){ok=o==='bad'?(c>=0?'fe'.indexOf(m[c])>=0:/[fe]/.test(m)):(c>=0?m[c]===o:m.indexOf(o)>=0)}
  tr[k].style.display=ok?'':'none';if(ok)shown++}}
 count.textContent=shown+' of '+D.N.length+' nodes shown'}
function index(){if(byNode)return;byNode={};for(var j=0;j<D.X.length;j++){var x=D.X[j];(byNode[x[0]]=byNode[x[0]]||[]).push(x)}}
function kv(box,k,v){if(!v)return;var d=el('div');d.appendChild(el('span','k',k));d.appendChild(el('span',null,v));box.appendChild(d)}
function record(x){var box=el('div','rec '+x[4]);
 box.appendChild(el('b',null,NAMES[x[4]]+(S[x[2]]?' · '+S[x[2]]+(S[x[3]]?' ('+S[x[3]]+')':''):'')));
 kv(box,'summary',S[x[5]]);kv(box,'expected',S[x[6]]);kv(box,'found',S[x[7]]);kv(box,'fix',S[x[8]]);
 if(x[9]>=0){var w=D.W[x[9]];kv(box,'waiver',(w[6]?'active':'EXPIRED')+' until '+S[w[5]]+', owner '+S[w[3]]+': '+S[w[4]])}
 if(x[10]>=0){var r=D.R[x[10]];kv(box,'remediation',S[r[0]]+(S[r[3]]?' ('+S[r[3]]+')':''));
  for(var a=0;a<r[1].length;a++)kv(box,'',S[r[1][a]]);kv(box,'journal',S[r[2]])}
 return box}
function show(i,c){index();panel.textContent='';var n=D.N[i],close=el('button',null,'close');close.onclick=function(){panel.className=''};
 panel.appendChild(close);panel.appendChild(el('h2',null,n[0]));
 kv(panel,'profile',S[n[1]]);kv(panel,'verdict',n[2]);kv(panel,'error',S[n[3]]);
 var recs=byNode[i]||[],m=D.M[i],order=[],quiet={p:[],s:[]};
 for(var k=0;k<D.C.length;k++){if(c!=null?k===c:m[k]!=='-')order.push(k)}
 order.sort(function(a,b){return RANK.indexOf(m[a])-RANK.indexOf(m[b])||a-b});
 order.forEach(function(k){var l=m[k];if(c==null&&quiet[l]){quiet[l].push(D.C[k][0]);return}
  var sec=el('div');sec.appendChild(el('h3',null,D.C[k][0]+' — '+NAMES[l]));sec.appendChild(el('div',null,S[D.C[k][1]]));
  var any=false;for(var j=0;j<recs.length;j++)if(recs[j][1]===k){sec.appendChild(record(recs[j]));any=true}
  if(!any&&l==='p')sec.appendChild(el('div',null,D.C[k][3]?'passed on every rail':'passed'));
  else if(D.C[k][3])sec.appendChild(el('div',null,'any rail not listed: pass'));panel.appendChild(sec)});
 kv(panel,'passed',quiet.p.join(', '));kv(panel,'skipped',quiet.s.join(', '));
 panel.className='on'}
body.addEventListener('click',function(ev){var t=ev.target,tr=t.closest('tr');if(!tr)return;
 if(tr.parentNode.tagName==='THEAD'){var th=t.closest('th');if(th&&th.cellIndex>0){fc.value=String(th.cellIndex-1);apply()}return}
 var i=+tr.getAttribute('data-i');if(t.tagName==='TD')show(i,t.cellIndex-1);else show(i,null)});
fn.addEventListener('input',apply);fc.addEventListener('change',apply);fo.addEventListener('change',apply);
document.getElementById('reset').onclick=function(){fn.value='';fc.value='-1';fo.value='';apply()};
document.addEventListener('keydown',function(e){if(e.key==='Escape')panel.className=''});
var h={};location.hash.replace(/^#/,'').split('&').forEach(function(kv){var p=kv.split('=');
 if(p[0])h[decodeURIComponent(p[0])]=decodeURIComponent(p.slice(1).join('=')||'')});
if(h.q)fn.value=h.q;if(h.outcome)fo.value=h.outcome;
if(h.check){for(var k=0;k<D.C.length;k++)if(D.C[k][0]===h.check)fc.value=String(k)}
apply();
if(h.node){for(var n=0;n<D.N.length;n++)if(D.N[n][0]===h.node){show(n,fc.value!=='-1'?+fc.value:null);break}}
})();
"""


def _tiles(fleet: Mapping) -> str:
    t = fleet["totals"]
    v = t["nodes_by_verdict"]
    tiles = [("nodes", t["nodes"], ""), ("failing nodes", v.get("fail", 0), "f"),
             ("unreachable/error", v.get("error", 0), "e"), ("warn only", v.get("warn", 0), "w"),
             ("passing", v.get("pass", 0), "p"), ("checks", t["checks"], "")]
    tiles += [(f"{o} records", fleet["summary"].get(o, 0), LETTER[o]) for o in WORST_FIRST]
    return "<div class=tiles>" + "".join(f'<div class="tile {c}">{esc(label)}<b>{n}</b></div>'
                                         for label, n, c in tiles) + "</div>"


def _table(head: list[str], rows: Iterable[list[str]], cls: str = "list") -> str:
    """Rows of already-escaped cells."""
    return (f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) + "</tbody></table>")


def _drift_html(run_drift: Mapping | None) -> str:
    if run_drift is None:
        return "<p>No baseline given (<code>--baseline PREVIOUS.json</code>).</p>"
    if "error" in run_drift:
        return f"<p class=bad>Baseline not usable: {esc(run_drift['error'])}</p>"
    b = run_drift.get("baseline") or {}
    counts = drift_mod.drift_counts(run_drift)
    out = [f"<p>Against the run of {esc(b.get('finished') or b.get('started') or '?')}.</p><div class=tiles>"
           + "".join(f"<div class=tile>{esc(k.replace('_', ' '))}<b>{n}</b></div>" for k, n in counts.items())
           + "</div>"]
    for key in ("newly_failing", "newly_fixed", "still_failing", "no_longer_checked"):
        items = run_drift.get(key, [])
        if items:
            out.append(f"<details{' open' if key == 'newly_failing' else ''}><summary>{esc(key.replace('_', ' '))}"
                       f" ({len(items)})</summary>" + _table(
                           ["node", "check", "rail", "before", "now", "summary"],
                           ([esc(e["node"]), esc(e["check"]), esc(e.get("rail") or ""), esc(e["before"] or "new"),
                             esc(e["now"] or "gone"), esc(e.get("summary"))] for e in items[:2000])) + "</details>")
    for key, label in (("nodes_added", "nodes added"), ("nodes_gone", "nodes gone")):
        items = run_drift.get(key, [])
        if items:
            names = [esc(f"{e['node']} ({e['failing']} failing)" if isinstance(e, dict) else e) for e in items]
            out.append(f"<details><summary>{label} ({len(items)})</summary><p>{', '.join(names)}</p></details>")
    return "".join(out)


def _fleet_drift_html(items: list[dict]) -> str:
    if not items:
        return "<p>No fact differs from its profile's majority (or no facts were available).</p>"
    rows = []
    for d in items[:500]:
        dev = "; ".join(f"{v}: {', '.join(ns[:50])}" + (f" … +{len(ns) - 50}" if len(ns) > 50 else "")
                        for v, ns in d["deviating"].items())
        rows.append([esc(d["profile"]), esc(d["label"]), esc(d["majority"] if d["majority"] is not None else "(none)"),
                     f"{sum(len(ns) for ns in d['deviating'].values())} of {d['total']}", esc(dev)])
    return _table(["profile", "fact", "majority", "differing nodes", "values: nodes"], rows)


def _failing_nodes_html(doc: Mapping, fleet: Mapping) -> str:
    failing = [n for n in fleet["nodes"] if n["verdict"] in FAILING][:HTML_FAILING_NODES_CAP]
    if not failing:
        return "<p>None.</p>"
    by_node: dict[str, list[dict]] = defaultdict(list)
    wanted = {n["name"] for n in failing}
    for r in doc.get("results", []):
        if r["node"] in wanted and r["outcome"] in FAILING:
            by_node[r["node"]].append(r)
    out = []
    for n in failing:
        recs = by_node.get(n["name"], [])
        body = "".join(
            f'<div class="rec {LETTER[r["outcome"]]}"><b>{esc(r["check"])}'
            f'{esc(" " + r["rail"]) if r.get("rail") else ""}{esc(" (" + r["netdev"] + ")") if r.get("netdev") else ""}'
            f' — {esc(r["outcome"])}</b><div>{esc(r.get("summary"))}</div>'
            + "".join(f'<div><span class=k>{k}</span>{esc(r.get(k))}</div>' for k in ("expected", "found", "fix")
                      if r.get(k)) + "</div>" for r in recs[:50])
        err = f"<div class=bad>{esc(n['error'])}</div>" if n.get("error") else ""
        out.append(f"<details><summary>{esc(n['name'])} — {esc(n['verdict'])}: "
                   f"{esc(', '.join(n['failing_checks']))}</summary>{err}{body}</details>")
    more = sum(1 for n in fleet["nodes"] if n["verdict"] in FAILING) - len(failing)
    return "".join(out) + (f"<p>… and {more} more: filter the matrix on outcome fail/error.</p>" if more > 0 else "")


def _matrix_html(fleet: Mapping) -> str:
    checks = fleet["checks"]
    head = ('<thead><tr><th class=n>node</th>' + "".join(
        f'<th title="{esc(c["id"] + ": " + c["title"])}"><div>{esc(c["id"])}</div></th>' for c in checks)
        + "</tr></thead>")
    parts = ['<table id=m>', head]
    rows = fleet["matrix"]["rows"]
    for start in range(0, len(rows), ROW_CHUNK):
        parts.append("<tbody>")
        for i in range(start, min(start + ROW_CHUNK, len(rows))):
            parts.append(f'<tr data-i="{i}"><th class=n>{esc(rows[i]["node"])}</th>' + "".join(
                f'<td class={LETTER[o]}>{LETTER[o].upper()}</td>' if o else "<td></td>" for o in rows[i]["cells"])
                + "</tr>")
        parts.append("</tbody>")
    parts.append("</table>")
    return "".join(parts)


def _filters_html(fleet: Mapping) -> str:
    opts = "".join(f'<option value="{i}">{esc(c["id"])}</option>' for i, c in enumerate(fleet["checks"]))
    outs = "".join(f'<option value="{LETTER[o]}">{o}</option>' for o in WORST_FIRST)
    return ('<div class=filters><label>node <input id=fn type=search placeholder="name contains"></label>'
            f'<label>check <select id=fc><option value="-1">all checks</option>{opts}</select></label>'
            f'<label>outcome <select id=fo><option value="">any</option><option value="bad">fail or error</option>'
            f'{outs}</select></label><button id=reset type=button>reset</button><span id=count></span>'
            '<span>Click a node for its drill-down, a cell for that check per rail, a column head to filter.</span>'
            '</div>')


def render_html(doc: Mapping, fleet: Mapping) -> str:
    run, tool = fleet["run"], fleet["tool"]
    checks_rows = ([esc(c["id"]), esc(c["title"]), esc(c["area"]), _rate(c["pass_rate"]), str(c["failing"])]
                   + [str(c["nodes"].get(o, 0)) for o in WORST_FIRST] for c in fleet["checks"])
    top_rows = ([esc(c["check"]), str(c["failing_nodes"]), _rate(c["pass_rate"]), esc(c["title"]), esc(c["fix"])]
                for c in fleet["top_failing"])
    waiver_rows = ([esc(w["check"]), esc(w["nodes"]), esc(w.get("rail") or ""), esc(w["owner"]), esc(w["expires"]),
                    "active" if w["active"] else "<span class=bad>EXPIRED: failure shown</span>", str(w["records"]),
                    esc(w["reason"])] for w in fleet["waivers"])
    banner = ""
    if run.get("example_fleet"):
        banner += "<div class=warnbox>Bundled example fleet (recorded snapshots): these are not your nodes.</div>"
    if run.get("partial"):
        banner += "<div class=warnbox>Partial run: interrupted or incomplete.</div>"
    return "".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        "<title>rdma-preflight fleet report</title><style>", CSS, "</style><style id=colstyle></style></head><body>",
        f"<header><h1>rdma-preflight fleet report</h1><div>run {esc(run.get('started'))} → "
        f"{esc(run.get('finished'))} · rdma-preflight {esc(tool.get('version'))} · exit code "
        f"{esc(run.get('exit_code'))} · remediate {esc(run.get('remediate'))}</div></header>",
        f"<section>{banner}{_tiles(fleet)}</section>",
        "<section><h2>Top failing checks</h2>",
        _table(["check", "failing nodes", "pass rate", "title", "most common fix"], top_rows)
        if fleet["top_failing"] else "<p>None.</p>",
        "</section><section><h2>What changed since the baseline</h2>", _drift_html(fleet["drift"]),
        "</section><section><h2>Matrix: node × check</h2>", _filters_html(fleet),
        "<div class=wrap>", _matrix_html(fleet), "</div></section>",
        "<section><h2>Fleet drift: facts that differ from the majority of the profile's nodes</h2>",
        _fleet_drift_html(fleet["fleet_drift"]), "</section>",
        "<section><h2>Waivers</h2>", _table(["check", "nodes", "rail", "owner", "expires", "state", "records",
                                             "reason"], waiver_rows) if fleet["waivers"] else "<p>None used.</p>",
        "</section>",
        "<section><h2>Checks</h2>", _table(["check", "title", "area", "pass rate", "failing nodes", *WORST_FIRST],
                                            checks_rows), "</section>",
        "<section><h2>Failing nodes</h2>", _failing_nodes_html(doc, fleet), "</section>",
        "<aside id=panel></aside>",
        "<script id=rpf-data type=application/json>", script_json(page_data(doc, fleet)), "</script>",
        "<script>", JS, "</script></body></html>\n"])


# -- entry points ------------------------------------------------------------------------------

def drift_inputs(doc: Mapping, baseline_doc: Mapping | None, prints: Mapping[str, Mapping[str, str]],
                 baseline_error: str | None = None) -> tuple[dict | None, list[drift_mod.FactDrift]]:
    """Run drift against the baseline, and fleet-majority fact drift over the fingerprints."""
    run_drift = ({"error": baseline_error} if baseline_error else
                 drift_mod.compare_runs(baseline_doc, doc) if baseline_doc is not None else None)
    profiles = {n["name"]: n.get("profile") for n in doc.get("nodes", [])}
    return run_drift, drift_mod.fleet_drift(prints, profiles)


def render_fleet(doc: Mapping, out_dir: str | Path, baseline_doc: Mapping | None = None,
                 facts_by_node: Mapping[str, object] | None = None, baseline_error: str | None = None) -> list[Path]:
    """Write fleet.html, fleet.md, fleet.json, fleet.csv and rdma_preflight.prom into out_dir."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    prints = drift_mod.fingerprints_of(facts_by_node or {}, doc)
    run_drift, fact_drift = drift_inputs(doc, baseline_doc, prints, baseline_error)
    fleet = build_fleet(doc, run_drift, fact_drift, len(prints))
    return [write_text(d / "fleet.json", json.dumps(fleet, indent=1) + "\n"),
            write_text(d / "fleet.md", render_md(fleet)),
            write_text(d / "fleet.csv", render_csv(doc)),
            write_text(d / "rdma_preflight.prom", render_prom(doc, fleet)),
            write_text(d / "fleet.html", render_html(doc, fleet))]


def load_baseline(path: str | None) -> tuple[dict | None, str | None]:
    """(baseline document, None) or (None, why it cannot be used)."""
    if not path:
        return None, None
    from .results_json import load

    try:
        return load(path), None
    except (OSError, ValueError) as exc:
        return None, f"{path}: {exc}"


def facts_of_state(state) -> dict[str, object]:
    return {name: st.gathered.facts for name, st in state.nodes.items()
            if st.gathered is not None and st.gathered.facts is not None}


def facts_from_snapshot_targets(doc: Mapping) -> dict[str, object]:
    """NodeFacts of the nodes a results document reached through ``snapshot://`` targets, so
    an offline re-render still finds fleet drift; unreadable snapshots are left out."""
    from ..collect.snapshot import Snapshot, SnapshotError
    from ..facts.build import FactsError, build_facts

    out: dict[str, object] = {}
    for n in doc.get("nodes", []):
        target = str(n.get("target") or "")
        if not target.startswith("snapshot://"):
            continue
        try:
            snap = Snapshot.load(target[len("snapshot://"):])
            snap.node = n["name"]
            out[n["name"]] = build_facts(snap)
        except (SnapshotError, FactsError, OSError):
            continue
    return out


def write_fleet_reports(state, doc: Mapping, out_dir: str | Path) -> list[Path]:
    """The fleet reports of a live run (``reports.writer.write_reports`` renders them through
    ``render_reports``, which calls ``render_fleet``; kept for callers holding a run state)."""
    baseline, err = load_baseline(state.opts.baseline)
    return render_fleet(doc, out_dir, baseline, facts_of_state(state), err)


def render_all(doc: Mapping, out_dir: str | Path, baseline_doc: Mapping | None = None,
               facts_by_node: Mapping[str, object] | None = None, acceptance: bool = False) -> list[Path]:
    """Every report but results.json (junit.xml, the fleet reports and, if asked, the acceptance
    records) from a results document, through ``reports.writer.render_reports`` as a live run.

    ``facts_by_node``: node -> NodeFacts or a ready fingerprint; None: from the document's
    ``snapshot://`` targets where they are still readable (``facts_from_snapshot_targets``).
    ``rdma-preflight report`` (``reports.offline``) adds reading, checking and waivers.
    """
    from .writer import render_reports

    if facts_by_node is None:
        facts_by_node = facts_from_snapshot_targets(doc)
    return render_reports(doc, out_dir, baseline_doc=baseline_doc, facts_by_node=facts_by_node,
                          acceptance=acceptance)
