"""The check catalogue, generated from the registry (``rdma-preflight checks``)."""

from __future__ import annotations

from .registry import load_all


def catalogue() -> list[dict]:
    reg = load_all()
    out = []
    for spec in sorted(reg.values(), key=lambda s: (("net", "rdma", "ib", "qos", "gpu", "pcie", "k8s", "bw").index(s.area), s.id)):
        out.append({"id": spec.id, "title": spec.title, "area": spec.area, "scope": spec.scope,
                    "designs": spec.designs, "remediation": spec.remediation or "none",
                    "severity": spec.severity, "test": spec.test_name,
                    "description": " ".join(spec.doc.split())})
    out.extend(_fleet_level())
    return out


def _fleet_level() -> list[dict]:
    """Checks that measure across node pairs rather than over one node's facts (bandwidth)."""
    try:
        from ..bandwidth import pytest_hooks as bw
    except ImportError:
        return []
    doc = " ".join((bw.__doc__ or "").split())
    return [{"id": bw.CHECK_ID, "title": bw.TITLE, "area": "bw", "scope": "pair",
             "designs": "all (Kubernetes pods or SSH hosts)", "remediation": "none", "severity": "fail",
             "test": "test_write_bw", "description": doc}]


def markdown_table(cat: list[dict] | None = None) -> str:
    cat = cat if cat is not None else catalogue()
    lines = ["| id | title | scope | designs | severity | remediation |", "|---|---|---|---|---|---|"]
    for c in cat:
        lines.append(f"| `{c['id']}` | {c['title']} | {c['scope']} | {c['designs']} | {c['severity']} | {c['remediation']} |")
    return "\n".join(lines)


def render_doc() -> str:
    """docs/checks.md: the catalogue table with each check's description."""
    cat = catalogue()
    parts = ["# Check catalogue", "",
             "Generated from the code by `python3 -m rdma_preflight checks --doc`; do not edit by hand.",
             "Ids are stable. `scope` rail = one result per rail; node = one per node.", "",
             markdown_table(cat), "", "## Descriptions", ""]
    for c in cat:
        parts.append(f"- **`{c['id']}`** ({c['test']}): {c['description'] or c['title']}")
    return "\n".join(parts) + "\n"
