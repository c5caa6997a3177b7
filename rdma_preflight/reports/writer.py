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
    from .fleet import facts_of_state

    # results.json is written while junit.xml renders in a forked child on a big run; if a
    # renderer breaks first, it is still written (the primary report never depends on the others)
    written: list[Path] = []

    def write_results() -> None:
        if not written:
            written.append(results_json.write_doc(doc, d / "results.json"))
    try:
        rest = render_reports(doc, d, baseline_path=state.opts.baseline, facts_by_node=facts_of_state(state),
                              acceptance=bool(getattr(state.opts, "acceptance", False)), also=write_results)
    finally:
        write_results()
    return [*written, *rest]


def render_reports(doc: Mapping, out_dir: str | Path, *, baseline_path: str | None = None,
                   baseline_doc: Mapping | None = None, facts_by_node: Mapping[str, object] | None = None,
                   acceptance: bool = False, also=None) -> list[Path]:
    """junit.xml (one testsuite per node), the fleet reports (fleet.html/.md/.json/.csv and the
    Prometheus textfile) and, with ``acceptance``, the acceptance records, from one results
    document; ``also`` (a callable) is more writing done while junit.xml renders.

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
    child = _start_junit_child(doc, d / "junit.xml")
    try:
        if child is None:
            paths = [junit.write(doc, d / "junit.xml")]
        paths_rest = render_fleet(doc, d, baseline_doc, prints, baseline_error)
        if acceptance:
            paths_rest += render_acceptance(doc, d, prints, baseline_doc)
        if also is not None:          # more writing to overlap with the junit child
            also()
    except BaseException:
        _reap(child, kill=True)
        raise
    if child is not None:
        paths = [d / "junit.xml"] if _reap(child) else [junit.write(doc, d / "junit.xml")]
    return paths + paths_rest


FORK_JUNIT_ABOVE = 20000    # records; below this, junit.xml takes well under a second


def _start_junit_child(doc: Mapping, path: Path) -> int | None:
    """On a big run, render junit.xml in a forked child while this process writes the fleet
    reports: junit-xml is the slowest writer (16 of 29 s at 1,000 nodes) and the machine has
    a second core. Only when nothing else runs in this process (fork with live threads is
    unsafe); the child shares the document copy-on-write."""
    import os
    import threading

    if (not hasattr(os, "fork") or threading.active_count() > 1
            or len(doc.get("results") or ()) <= FORK_JUNIT_ABOVE):
        return None
    pid = os.fork()
    if pid == 0:                      # child: write, and leave without running any handler
        code = 1
        try:
            junit.write(doc, path)
            code = 0
        finally:
            os._exit(code)
    return pid


def _reap(pid: int | None, kill: bool = False) -> bool:
    """Wait for the junit child; True when it wrote the file (False: write it here)."""
    import os
    import signal

    if pid is None:
        return False
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
