"""Write every report of a run into one directory.

Two ways in, one way out: a live run (``write_reports``, called by the pytest plugin at the
end of the session) builds the results document from the run's state; ``rdma-preflight
report`` (``rdma_preflight.reports.offline``) reads a saved results.json. Both then render
every other report from that document through ``render_reports``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from . import junit, results_json


def write_reports(state, report_dir: str | Path, partial: bool = False) -> list[Path]:
    d = Path(report_dir)
    d.mkdir(parents=True, exist_ok=True)
    doc = results_json.build(state, partial)
    jpath = results_json.write_doc(doc, d / "results.json")
    from .fleet import facts_of_state

    return [jpath, *render_reports(doc, d, baseline_path=state.opts.baseline, facts_by_node=facts_of_state(state),
                                   acceptance=bool(getattr(state.opts, "acceptance", False)))]


def render_reports(doc: Mapping, out_dir: str | Path, *, baseline_path: str | None = None,
                   baseline_doc: Mapping | None = None, facts_by_node: Mapping[str, object] | None = None,
                   acceptance: bool = False) -> list[Path]:
    """junit.xml (one testsuite per node), the fleet reports (fleet.html/.md/.json/.csv and the
    Prometheus textfile) and, with ``acceptance``, the acceptance records, from one results
    document.

    ``baseline_path`` is loaded with ``fleet.load_baseline`` (an unusable one is reported in the
    reports, not fatal); ``baseline_doc`` is an already loaded one. ``facts_by_node``: node ->
    NodeFacts or a ready fingerprint (fleet drift, acceptance identity), fingerprinted once.
    """
    from . import drift
    from .acceptance import render_acceptance
    from .fleet import load_baseline, render_fleet

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    baseline_error = None
    if baseline_doc is None:
        baseline_doc, baseline_error = load_baseline(baseline_path)
    prints = drift.fingerprints_of(facts_by_node or {}, doc)
    paths = [junit.write(doc, d / "junit.xml")]
    paths += render_fleet(doc, d, baseline_doc, prints, baseline_error)
    if acceptance:
        paths += render_acceptance(doc, d, prints, baseline_doc)
    return paths
