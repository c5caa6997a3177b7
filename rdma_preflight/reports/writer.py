"""Write every report of a run into one directory."""

from __future__ import annotations

from pathlib import Path

from . import junit, results_json


def write_reports(state, report_dir: str | Path, partial: bool = False) -> list[Path]:
    d = Path(report_dir)
    d.mkdir(parents=True, exist_ok=True)
    jpath = results_json.write(state, d / "results.json", partial)
    doc = results_json.build(state, partial)
    paths = [jpath, junit.write(doc, d / "junit.xml")]
    extra = _extra_writers()
    for fn in extra:
        paths.extend(fn(state, doc, d) or [])
    return paths


def _extra_writers():
    """Optional report writers (fleet HTML/Markdown/CSV/Prometheus, acceptance) if present."""
    import importlib

    out = []
    for mod, attr in (("rdma_preflight.reports.fleet", "write_fleet_reports"),
                      ("rdma_preflight.reports.acceptance", "write_acceptance")):
        try:
            out.append(getattr(importlib.import_module(mod), attr))
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return out
