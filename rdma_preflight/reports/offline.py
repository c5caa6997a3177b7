"""``rdma-preflight report RESULTS.json --out DIR``: every report re-rendered from a saved run.

Reads a results.json (docs/results-schema.md), optionally re-applies a waiver file as of
today (``--waivers``: the same matching and rules as a live run, so an expired waiver fails
again and the summary and exit code follow) and compares with a previous run
(``--baseline``), then writes results.json (unless that is the input file), junit.xml, the
fleet reports and, with ``--acceptance``, the acceptance records through
``reports.writer.render_reports`` -- the function a live run's ``write_reports`` ends in.

Node facts for fleet drift and the acceptance identity come from the document's
``snapshot://`` targets while those snapshots are still readable; otherwise the reports say
the facts were not available. A partial document (an interrupted or unfinished run) renders
and every report says it is partial. An unreadable or invalid input raises ``ReportError``
with one line naming the file and the problem (exit code 2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from . import results_json


class ReportError(Exception):
    """One line: the file and what is wrong with it."""


@dataclass
class Rendered:
    doc: dict                                   # the document the reports were rendered from
    paths: list[Path] = field(default_factory=list)
    partial: bool = False
    exit_code: int = 0                          # the run's (after re-applied waivers, if any)
    original_exit_code: int | None = None
    waivers: dict | None = None                 # {"file", "day", "active", "expired"} when re-applied
    facts_nodes: int = 0                        # nodes whose snapshot facts were found
    results_written: bool = True


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


def with_waivers(doc: dict, waiver_file: str, day: dt.date) -> tuple[dict, dict]:
    """``doc`` with its waivers replaced by those of ``waiver_file`` as of ``day``; summary and
    exit code recomputed. Raises ReportError for an unusable waiver file."""
    from ..harness.plugin import exit_code_of
    from ..harness.session import UsageError
    from ..harness.waivers import load_waivers, reapply_waivers

    try:
        waivers = load_waivers(waiver_file)
    except UsageError as exc:
        raise ReportError(str(exc).splitlines()[0]) from None
    records = reapply_waivers(doc["results"], waivers, day)
    node_error = any(n.get("error") for n in doc["nodes"])
    run = dict(doc["run"], exit_code=exit_code_of({r["outcome"] for r in records}, node_error))
    used = [r["waiver"] for r in records if r.get("waiver")]
    info = {"file": waiver_file, "day": day.isoformat(), "waivers": len(waivers),
            "active": sum(1 for w in used if w["active"]), "expired": sum(1 for w in used if not w["active"])}
    return dict(doc, run=run, summary=results_json.summary_of(records), results=records), info


def render(results_path: str | Path, out_dir: str | Path, *, baseline: str | None = None,
           waivers: str | None = None, acceptance: bool = False, today: dt.date | None = None,
           facts_by_node: dict | None = None) -> Rendered:
    """Render every report of the saved run ``results_path`` into ``out_dir``."""
    from .fleet import facts_from_snapshot_targets, load_baseline
    from .writer import render_reports

    src = Path(results_path)
    try:
        doc = results_json.read(src)
    except results_json.ResultsError as exc:
        raise ReportError(f"{src}: {exc}") from None
    baseline_doc, err = load_baseline(baseline)
    if err:
        raise ReportError(f"baseline {err}")
    out = Rendered(doc=doc, partial=bool(doc["run"].get("partial")), exit_code=doc["run"].get("exit_code"))
    if waivers:
        out.original_exit_code = out.exit_code
        out.doc, out.waivers = with_waivers(doc, waivers, today or dt.date.today())
        out.exit_code = out.doc["run"]["exit_code"]
    if facts_by_node is None:
        facts_by_node = facts_from_snapshot_targets(out.doc)
    out.facts_nodes = len(facts_by_node)
    d = Path(out_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{d}: cannot create the output directory: {exc.strerror or exc}") from None
    target = d / "results.json"
    out.results_written = not _same_file(src, target)
    try:
        if out.results_written:
            out.paths.append(results_json.write_doc(out.doc, target))
        out.paths += render_reports(out.doc, d, baseline_doc=baseline_doc, facts_by_node=facts_by_node,
                                    acceptance=acceptance)
    except OSError as exc:
        raise ReportError(f"{exc.filename or d}: cannot write: {exc.strerror or exc}") from None
    return out


EXIT_MEANING = {0: "every check passed", 1: "a check failed", 2: "usage or profile error",
                3: "a node was unreachable or unreadable", 130: "interrupted"}


def summary_lines(src: str | Path, out_dir: str | Path, r: Rendered) -> list[str]:
    """What the command prints after rendering."""
    rel = [p.relative_to(out_dir).parts for p in r.paths]
    names = sorted({parts[0] + ("/" if len(parts) > 1 else "") for parts in rel})
    lines = [f"rdma-preflight: {len(r.paths)} report file(s) from {src} in {out_dir}/ ({', '.join(names)})"]
    if r.partial:
        lines.append(f"rdma-preflight: note: {src} is PARTIAL (the run was interrupted or still being written); "
                     "the reports say so")
    if not r.results_written:
        lines.append("rdma-preflight: note: results.json left as it was (it is the input file)")
    if r.waivers:
        w = r.waivers
        lines.append(f"rdma-preflight: waivers from {w['file']} re-applied as of {w['day']}: {w['active']} record(s) "
                     f"waived, {w['expired']} under an expired waiver; exit code {r.original_exit_code} -> "
                     f"{r.exit_code}")
    if not r.facts_nodes:
        lines.append("rdma-preflight: note: no node facts (snapshot:// targets not readable here): fleet drift "
                     "and firmware/driver identity are not available")
    s = r.doc.get("summary", {})
    lines.append("rdma-preflight: run " + ", ".join(f"{n} {o}" for o, n in s.items() if n)
                 + f"; exit code {r.exit_code} ({EXIT_MEANING.get(r.exit_code, '?')})")
    return lines
