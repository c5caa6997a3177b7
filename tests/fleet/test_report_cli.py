"""``rdma-preflight report RESULTS.json --out DIR``: every report re-rendered offline from a saved
run. The input is a results.json written by a REAL run (``python3 -m rdma_preflight run``) over
the bundled example snapshots (examples/, recorded outputs); baselines and waiver files below
are DERIVED from that run's document and labelled where they are."""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from rdma_preflight import cli
from rdma_preflight.harness.waivers import Waiver, reapply_waivers
from tests.fleet.synth import ROOT

REPORTS = ("fleet.json", "fleet.csv", "junit.xml", "rdma_preflight.prom", "fleet.md", "fleet.html", "results.json")


def rpf(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "rdma_preflight", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> Path:
    """The report directory of a real run over the bundled example fleet (exit 1: node-2 drifts)."""
    d = tmp_path_factory.mktemp("example-run") / "reports"
    r = rpf("run", "--report-dir", d)
    assert r.returncode == 1, r.stdout + r.stderr
    return d


def doc_of(d: Path) -> dict:
    return json.loads((d / "results.json").read_text())


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(), newline="")))


def junit_cases(path: Path) -> dict[str, list[tuple]]:
    root = ET.parse(path).getroot()
    out = {}
    for s in root.iter("testsuite"):
        out[s.get("name")] = [(c.get("classname"), c.get("name"), tuple(sorted(x.tag for x in c)))
                              for c in s.iter("testcase")]
    return out


def report(*args):
    return rpf("report", *args)


def test_rerender_matches_the_run(example_run, tmp_path):
    out = tmp_path / "offline"
    r = report(example_run / "results.json", "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7 report file(s)" in r.stdout and "exit code 1 (a check failed)" in r.stdout
    assert "PARTIAL" not in r.stdout and "no node facts" not in r.stdout
    # parse back, and equal to what the run itself wrote
    fj, orig = json.loads((out / "fleet.json").read_text()), json.loads((example_run / "fleet.json").read_text())
    assert fj == orig and fj["totals"]["nodes"] == 3 and fj["totals"]["nodes_with_facts"] == 3
    rows = csv_rows(out / "fleet.csv")
    assert rows == csv_rows(example_run / "fleet.csv") and len(rows) == 1 + len(doc_of(example_run)["results"])
    cases = junit_cases(out / "junit.xml")
    assert cases == junit_cases(example_run / "junit.xml")
    assert not any(p.get("name") == "partial" for p in ET.parse(out / "junit.xml").getroot().iter("property"))
    assert list(cases) == ["roce-gpu-node-1", "roce-gpu-node-2", "ib-gpu-node-1"]      # one testsuite per node
    assert sum(1 for c in cases["roce-gpu-node-2"] if "failure" in c[2]) == 12
    for name in REPORTS:                        # the same renderers: byte for byte
        assert (out / name).read_bytes() == (example_run / name).read_bytes(), name


def test_acceptance_records_offline(example_run, tmp_path):
    out = tmp_path / "acc"
    r = report(example_run / "results.json", "--out", out, "--acceptance")
    assert r.returncode == 0, r.stderr
    assert "acceptance/" in r.stdout
    index = (out / "acceptance" / "index.md").read_text()
    assert "| roce-gpu-node-2 | fail |" in index and "| ib-gpu-node-1 | pass |" in index
    page = (out / "acceptance" / "roce-gpu-node-1.md").read_text()
    assert "## Sign-off" in page and "Not available (no node facts)" not in page    # firmware from the snapshots


def write_waivers(path: Path, expires: str) -> Path:
    """A waiver file DERIVED for this test: every finding on roce-gpu-node-2, plus one rail-scoped one."""
    path.write_text(yaml.safe_dump({"waivers": [
        {"check": "net.rail_up", "nodes": "roce-gpu-node-2", "rail": "rail4", "owner": "dc-ops",
         "reason": "cable swap <ticket 7>", "expires": expires},
        {"check": "*", "nodes": "roce-gpu-node-2", "owner": "hw-team", "reason": "node in RMA", "expires": expires}]}))
    return path


def test_waivers_reapplied_then_expiry_fails_again(example_run, tmp_path):
    orig = doc_of(example_run)
    active = write_waivers(tmp_path / "active.yaml", "2099-12-31")
    r = report(example_run / "results.json", "--out", tmp_path / "w", "--waivers", active, "--exit-code")
    assert r.returncode == 0, r.stdout + r.stderr        # every failure waived: the run now passes
    assert "13 record(s) waived, 0 under an expired waiver; exit code 1 -> 0" in r.stdout
    waived = doc_of(tmp_path / "w")
    assert waived["summary"]["waived"] == 13 and waived["summary"]["fail"] == 0 and waived["run"]["exit_code"] == 0
    by = {(x["node"], x["check"], x["rail"]): x for x in waived["results"]}
    assert by[("roce-gpu-node-2", "net.rail_up", "rail4")]["waiver"]["owner"] == "dc-ops"     # first match wins
    assert by[("roce-gpu-node-2", "net.rail_up", "rail8")]["waiver"]["owner"] == "hw-team"
    assert by[("roce-gpu-node-2", "qos.persistence", None)]["waiver"]["outcome_without_waiver"] == "warn"
    assert all(x["waiver"] is None for x in waived["results"] if x["node"] != "roce-gpu-node-2")
    fj = json.loads((tmp_path / "w" / "fleet.json").read_text())
    assert {(w["owner"], w["active"], w["records"]) for w in fj["waivers"]} == {("dc-ops", True, 1),
                                                                                 ("hw-team", True, 12)}
    assert fj["totals"]["nodes_by_verdict"] == {"pass": 3}
    assert "rdma_preflight_run_exit_code 0" in (tmp_path / "w" / "rdma_preflight.prom").read_text()
    assert not any("failure" in c[2] for c in junit_cases(tmp_path / "w" / "junit.xml")["roce-gpu-node-2"])

    # a month later the waivers have expired: re-render the waived run with the expired file
    expired = write_waivers(tmp_path / "expired.yaml", "2020-01-31")
    r = report(tmp_path / "w" / "results.json", "--out", tmp_path / "e", "--waivers", expired, "--exit-code")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "0 record(s) waived, 13 under an expired waiver; exit code 0 -> 1" in r.stdout
    again = doc_of(tmp_path / "e")
    assert again["summary"] == orig["summary"] and again["run"]["exit_code"] == 1
    assert [(x["check"], x["rail"], x["outcome"]) for x in again["results"]] == \
        [(x["check"], x["rail"], x["outcome"]) for x in orig["results"]]          # warn back to warn, fail to fail
    assert {x["waiver"]["active"] for x in again["results"] if x["waiver"]} == {False}
    md = (tmp_path / "e" / "fleet.md").read_text()
    assert "### Waivers (0 active, 2 expired)" in md and "**EXPIRED**" in md
    assert "EXPIRED: failure shown" in (tmp_path / "e" / "fleet.html").read_text()
    head, *body = csv_rows(tmp_path / "e" / "fleet.csv")
    rows = [dict(zip(head, row)) for row in body]
    assert {(x["outcome"], x["waiver_active"]) for x in rows if x["node"] == "roce-gpu-node-2" and x["waiver_owner"]} \
        == {("fail", "no"), ("warn", "no")}
    assert sum(1 for c in junit_cases(tmp_path / "e" / "junit.xml")["roce-gpu-node-2"] if "failure" in c[2]) == 12


@pytest.mark.slow
def test_offline_waivers_equal_a_live_run_with_them(example_run, tmp_path):
    """The same waiver file given to a live run and to ``report`` on the run without it."""
    w = write_waivers(tmp_path / "w.yaml", "2099-12-31")
    live = tmp_path / "live"
    assert rpf("run", "--report-dir", live, "--waivers", w).returncode == 0
    assert report(example_run / "results.json", "--out", tmp_path / "off", "--waivers", w).returncode == 0

    def key(d):
        return [(x["node"], x["check"], x["rail"], x["outcome"], x["waiver"]) for x in doc_of(d)["results"]]

    assert key(tmp_path / "off") == key(live)
    a, b = (json.loads((d / "fleet.json").read_text()) for d in (tmp_path / "off", live))
    for f in (a, b):
        del f["run"]
    assert a == b


def derived_baseline(doc: dict) -> dict:
    """A baseline DERIVED from the real run's document: a week earlier, node-2's net.mtu rail3
    still passed, node-1's net.mtu rail1 failed, ib-gpu-node-1 was not in the fleet and a node
    since retired was."""
    b = copy.deepcopy(doc)
    b["run"].update(started="2026-11-22T10:00:00+00:00", finished="2026-11-22T10:00:09+00:00")
    for x in b["results"]:
        if (x["node"], x["check"], x["rail"]) == ("roce-gpu-node-2", "net.mtu", "rail3"):
            x["outcome"] = "pass"
        if (x["node"], x["check"], x["rail"]) == ("roce-gpu-node-1", "net.mtu", "rail1"):
            x["outcome"] = "fail"
    b["nodes"] = [n for n in b["nodes"] if n["name"] != "ib-gpu-node-1"]
    b["results"] = [x for x in b["results"] if x["node"] != "ib-gpu-node-1"]
    gone = dict(copy.deepcopy(b["nodes"][0]), name="retired-node", target="ssh://retired-node")
    b["nodes"].append(gone)
    b["results"].append(dict(b["results"][0], node="retired-node"))
    return b


def test_baseline_drift_shows(example_run, tmp_path):
    base = tmp_path / "previous.json"
    base.write_text(json.dumps(derived_baseline(doc_of(example_run))))
    out = tmp_path / "drift"
    r = report(example_run / "results.json", "--out", out, "--baseline", base, "--acceptance")
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads((out / "fleet.json").read_text())["drift"]
    entries = {k: [(e["node"], e["check"], e["rail"], e["before"], e["now"]) for e in d[k]]
               for k in ("newly_failing", "newly_fixed", "still_failing")}
    assert entries["newly_failing"] == [("roce-gpu-node-2", "net.mtu", "rail3", "pass", "fail")]
    assert entries["newly_fixed"] == [("roce-gpu-node-1", "net.mtu", "rail1", "fail", "pass")]
    assert len(entries["still_failing"]) == 11
    assert d["nodes_added"] == [{"node": "ib-gpu-node-1", "failing": 0}] and d["nodes_gone"] == ["retired-node"]
    md = (out / "fleet.md").read_text()
    assert ("Against the run of 2026-11-22T10:00:09+00:00: 1 newly failing, 1 newly fixed, 11 still failing, "
            "0 no longer checked, 1 nodes added, 1 nodes gone") in md
    assert "- failing: **net.mtu** on roce-gpu-node-2 rail3 (pass → fail)" in md
    assert "- node added: ib-gpu-node-1 (0 failing)" in md and "- node gone: retired-node" in md
    html = (out / "fleet.html").read_text()
    assert "still failing (11)</summary>" in html and "nodes gone (1)</summary><p>retired-node</p>" in html
    acc = (out / "acceptance" / "roce-gpu-node-1.md").read_text()
    assert "| newly fixed | net.mtu | rail1 (" in acc


def partial_results(path: Path) -> dict:
    """A partial results.json written as a live run streams it: the real harness state over the
    example fleet, collected, two checks evaluated, the run not finished."""
    import os

    from rdma_preflight.harness.evaluate import evaluate_subject
    from rdma_preflight.harness.session import Options, RunState
    from rdma_preflight.reports import results_json

    with open(os.devnull, "w") as devnull:
        state = RunState(Options(report_dir=str(path.parent)), out=devnull)
        state.resolve_nodes()
        state.gather()
    for cid in ("net.mtu", "rdma.netns_mode"):
        for subj in state.subjects(state.registry[cid]):
            for rec in evaluate_subject(state, subj)[0]:
                state.store.add(rec)
    results_json.write(state, path, partial=True)
    return json.loads(path.read_text())


def test_partial_results_render_and_say_so(tmp_path):
    (tmp_path / "run").mkdir()
    doc = partial_results(tmp_path / "run" / "results.json")
    assert doc["run"]["partial"] is True and doc["run"]["finished"] is None
    out = tmp_path / "out"
    r = report(tmp_path / "run" / "results.json", "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is PARTIAL" in r.stdout
    f = json.loads((out / "fleet.json").read_text())
    assert f["run"]["partial"] is True and f["matrix"]["checks"] == ["net.mtu", "rdma.netns_mode"]
    assert ", **partial**" in (out / "fleet.md").read_text()
    assert "Partial run: interrupted or incomplete." in (out / "fleet.html").read_text()
    prom = (out / "rdma_preflight.prom").read_text()
    assert "rdma_preflight_run_partial 1" in prom and "rdma_preflight_run_duration_seconds" not in prom
    assert list(junit_cases(out / "junit.xml")) == ["roce-gpu-node-1", "roce-gpu-node-2", "ib-gpu-node-1"]
    props = [p.attrib for p in ET.parse(out / "junit.xml").getroot().iter("property") if p.get("name") == "partial"]
    assert len(props) == 3 and props[0]["value"].startswith("true")


def _valid() -> dict:
    return {"schema": "rdma-preflight/results", "version": 1, "run": {}, "summary": {}, "nodes": [{"name": "n1"}],
            "results": [{"node": "n1", "check": "net.mtu", "area": "net", "outcome": "pass"}]}


def _broken(**change) -> str:
    d = _valid()
    for k, v in change.items():
        if k == "result0":
            d["results"][0].update(v)
        elif k == "node0":
            d["nodes"][0] = v
        else:
            d[k] = v
    return json.dumps(d)


INVALID = {
    "empty": ("", "empty file"),
    "truncated": ('{"schema": "rdma-preflight/results", "version": 1, "run": {', "invalid JSON at line 1 column"),
    "not-an-object": ("[1, 2]", "not a JSON object (found list)"),
    "other-schema": ('{"schema": "junit", "version": 1}', "not an rdma-preflight/results v1 document"),
    "version-2": (_broken(version=2), "version 2"),
    "no-results": (_broken(results=None), "results: expected a list"),
    "bad-outcome": (_broken(result0={"outcome": "exploded"}), "results[0].outcome: 'exploded' is not one of pass"),
    "record-no-check": (_broken(result0={"check": None}), "results[0].check: missing or not a string"),
    "node-no-name": (_broken(node0={"target": "x"}), "nodes[0].name: missing or not a string"),
    "bad-text": (_broken(result0={"summary": ["x"]}), "results[0].summary: expected a string or null"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_input_exits_2_with_one_line(case, tmp_path, capsys):
    text, problem = INVALID[case]
    bad = tmp_path / "results.json"
    bad.write_text(text)
    out = tmp_path / "out"
    assert cli.main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"rdma-preflight: error: {bad}: "), err
    assert problem in err, err
    assert not out.exists()


def test_unreadable_inputs_exit_2(tmp_path, example_run, capsys):
    good = example_run / "results.json"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    cases = [
        ([str(tmp_path / "missing.json")], f"{tmp_path / 'missing.json'}: file not found"),
        ([str(tmp_path)], f"{tmp_path}: is a directory"),
        ([str(binary)], f"{binary}: not UTF-8 text (byte 0)"),
        ([str(good), "--baseline", str(tmp_path / "old.json")], f"baseline {tmp_path / 'old.json'}: file not found"),
        ([str(good), "--baseline", str(binary)], f"baseline {binary}: not UTF-8"),
        ([str(good), "--waivers", str(tmp_path / "w.yaml")], f"{tmp_path / 'w.yaml'}: waiver file not found"),
    ]
    (tmp_path / "bad-waivers.yaml").write_text("waivers:\n  - {check: net.mtu, nodes: '*', expires: soon}\n")
    cases.append(([str(good), "--waivers", str(tmp_path / "bad-waivers.yaml")],
                  f"{tmp_path / 'bad-waivers.yaml'}: waivers[0]: missing owner, reason"))
    for args, problem in cases:
        assert cli.main(["report", *args, "--out", str(tmp_path / "out")]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"rdma-preflight: error: {problem}"), (args, err)
    # the real command line too: one line on stderr, no traceback
    r = report(tmp_path / "missing.json", "--out", tmp_path / "out")
    assert r.returncode == 2 and r.stderr == f"rdma-preflight: error: {tmp_path / 'missing.json'}: file not found\n"
    assert report("--out", tmp_path / "out").returncode == 2                          # usage error


def test_rerender_into_the_run_directory_keeps_results_json(example_run, tmp_path):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(example_run, d)
    before = (d / "results.json").read_bytes()
    r = report(d / "results.json", "--out", d, "--waivers", write_waivers(tmp_path / "w.yaml", "2099-12-31"))
    assert r.returncode == 0 and "results.json left as it was" in r.stdout
    assert (d / "results.json").read_bytes() == before
    assert json.loads((d / "fleet.json").read_text())["summary"]["waived"] == 13


def test_reapply_waivers_on_documents_without_the_pre_waiver_outcome(doc):
    """SYNTHETIC document (tests/fleet/conftest.py): its waived record predates
    ``outcome_without_waiver``; the check's severity decides (qos.ecn: fail)."""
    import datetime as dt

    rec = next(r for r in doc["results"] if r["outcome"] == "waived")
    assert "outcome_without_waiver" not in rec["waiver"]
    again = reapply_waivers([rec], [Waiver(rec["check"], rec["node"], "o", "r", dt.date(2020, 1, 1))],
                            dt.date(2026, 1, 1))
    assert again[0]["outcome"] == "fail" and again[0]["waiver"]["active"] is False
    assert reapply_waivers([rec], [], dt.date(2026, 1, 1))[0] == dict(rec, outcome="fail", waiver=None)
    assert rec["outcome"] == "waived"                                                 # input untouched
