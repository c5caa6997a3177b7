"""The check catalogue is generated from the code, and docs/checks.md is that table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from rdma_preflight.checks.catalogue import catalogue, render_doc
from rdma_preflight.checks.registry import load_all

ROOT = Path(__file__).resolve().parents[2]


def test_docs_checks_md_is_generated_from_the_code():
    doc = (ROOT / "docs" / "checks.md").read_text()
    assert doc == render_doc(), "docs/checks.md is stale: run `python3 -m rdma_preflight checks --doc > docs/checks.md`"


def test_every_check_is_bound_to_a_pytest_test_and_documented():
    reg = load_all()
    bound = set()
    for f in (ROOT / "checks").glob("test_*.py"):
        bound |= set(re.findall(r'bind\("([a-z0-9_.]+)"\)', f.read_text()))
    assert set(reg) - bound == set(), "registered checks without a binding in checks/"
    assert bound - set(reg) == set(), "bindings for unknown check ids"
    for spec in reg.values():
        assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9_]+", spec.id)
        assert spec.title and spec.doc, f"{spec.id} needs a title and a docstring (its description)"


def test_cli_json_catalogue_matches_registry():
    out = subprocess.run([sys.executable, "-m", "rdma_preflight", "checks", "--json"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    cat = json.loads(out)
    assert [c["id"] for c in cat] == [c["id"] for c in catalogue()]
    assert {"id", "title", "area", "scope", "designs", "remediation", "severity", "test"} <= set(cat[0])
