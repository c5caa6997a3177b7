"""fleet.html / .md / .json / .csv / .prom from a SYNTHETIC results document, parsed back."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

import pytest

from rdma_preflight.reports import fleet
from tests.fleet.conftest import HOSTILE, NODES

CHECK_IDS = ["net.rail_count", "net.mtu", "qos.ecn", "rdma.netns_mode"]


class PageParser(HTMLParser):
    """Collects the matrix rows, every <script>, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self.scripts: list[dict] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self._in_matrix = self._in_row_th = False
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "data", "poster") and v]
        if tag == "table" and a.get("id") == "m":
            self._in_matrix = True
        elif self._in_matrix and tag == "tr" and "data-i" in a:
            self.rows.append({"i": int(a["data-i"]), "name": "", "cells": []})
        elif self._in_matrix and self.rows and tag == "th" and a.get("class") == "n" and not self.rows[-1]["cells"]:
            self._in_row_th = True
        elif self._in_matrix and self.rows and tag == "td":
            self.rows[-1]["cells"].append(a.get("class"))
        elif tag == "script":
            self._script = {"attrs": a, "text": ""}

    def handle_endtag(self, tag):
        if tag == "table" and self._in_matrix:
            self._in_matrix = False
        elif tag == "th":
            self._in_row_th = False
        elif tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data
        elif self._in_row_th:
            self.rows[-1]["name"] += data


@pytest.fixture
def out(tmp_path, doc):
    paths = fleet.render_fleet(doc, tmp_path)
    assert sorted(p.name for p in paths) == ["fleet.csv", "fleet.html", "fleet.json", "fleet.md", "rdma_preflight.prom"]
    return tmp_path


def test_fleet_json_matrix_and_rates(out):
    f = json.loads((out / "fleet.json").read_text())
    assert f["schema"] == "rdma-preflight/fleet" and f["version"] == 1
    assert f["matrix"]["checks"] == CHECK_IDS
    rows = {r["node"]: r["cells"] for r in f["matrix"]["rows"]}
    assert list(rows) == NODES                                       # every node, in run order
    assert rows["gpu-001"] == ["pass", "pass", "pass", "pass"]
    assert rows["gpu-002"] == ["pass", "pass", "fail", "pass"]       # rail2 fails, rail1 passes: worst wins
    assert rows["gpu-003"] == ["pass", "fail", "pass", "pass"]       # expired waiver keeps the failure
    assert rows["gpu-004"] == ["pass", "pass", "waived", "pass"]
    assert rows["gpu-005"] == ["pass", "pass", "pass", "remediated"]
    assert rows["gpu-err"] == ["error"] * 4
    assert rows[HOSTILE[0]] == ["fail", "pass", "pass", "pass"]
    checks = {c["id"]: c for c in f["checks"]}
    n = len(NODES)
    # net.rail_count: 8 hostile nodes fail, gpu-err errors -> 9 failing of 14
    assert checks["net.rail_count"]["failing"] == 9 and checks["net.rail_count"]["passing"] == n - 9
    assert checks["net.rail_count"]["pass_rate"] == round((n - 9) / n, 4)
    assert checks["qos.ecn"]["nodes"] == {"pass": n - 3, "fail": 1, "waived": 1, "error": 1}
    assert checks["qos.ecn"]["pass_rate"] == round((n - 2) / n, 4)      # waived counts as passing
    assert checks["net.mtu"]["rails"] is True and checks["net.rail_count"]["rails"] is False
    assert [t["check"] for t in f["top_failing"]] == ["net.rail_count", "net.mtu", "qos.ecn", "rdma.netns_mode"]
    assert f["top_failing"][0]["failing_nodes"] == 9 and f["top_failing"][0]["fix"] == "@evil\r\nnext"
    assert f["top_failing"][1]["fix"] == "fix net.mtu"
    verdicts = {x["name"]: x["verdict"] for x in f["nodes"]}
    assert verdicts["gpu-001"] == "pass" and verdicts["gpu-003"] == "fail" and verdicts["gpu-err"] == "error"
    assert verdicts["gpu-004"] == "pass" and verdicts["gpu-005"] == "pass"
    assert f["totals"]["nodes_by_verdict"] == {"pass": 3, "fail": 10, "error": 1}
    w = {x["active"]: x for x in f["waivers"]}
    assert w[True]["owner"] == "net-team <ops@example.com>" and w[True]["records"] == 1
    assert w[False]["expires"] == "2020-01-01" and w[False]["matched_nodes"] == 1
    assert f["drift"] is None and f["fleet_drift"] == []


def test_html_one_row_per_node_escaped_and_self_contained(out, doc):
    text = (out / "fleet.html").read_text()
    p = PageParser()
    p.feed(text)
    p.close()
    assert [r["name"] for r in p.rows] == NODES                    # hostile names round-trip as text
    assert [r["i"] for r in p.rows] == list(range(len(NODES)))
    assert all(len(r["cells"]) == len(CHECK_IDS) for r in p.rows)
    assert p.rows[1]["cells"] == ["p", "p", "f", "p"] and p.rows[5]["cells"] == ["e"] * 4
    # exactly the two scripts the report ships: its data and its code; nothing external
    assert [s["attrs"].get("id") for s in p.scripts] == ["rpf-data", None]
    assert p.urls == [] and "link" not in p.tags and "img" not in p.tags and "iframe" not in p.tags
    assert not re.search(r"https?://|//[a-z]", text.split("<script id=rpf-data")[0].replace(
        "http://x", ""))                                              # only the hostile record text has a URL
    assert "<script>alert(1)</script>" not in text and "</script><script>alert('x')" not in text
    data = json.loads(p.scripts[0]["text"])
    assert [n[0] for n in data["N"]] == NODES
    assert data["M"][1] == "ppfp" and data["M"][5] == "eeee"
    S = data["S"]
    detail = next(x for x in data["X"] if x[0] == 1)                 # gpu-002's failing rail
    assert (S[detail[2]], S[detail[3]], detail[4]) == ("rail2", "ens2f0np0", "f")
    assert (S[detail[6]], S[detail[7]], S[detail[8]]) == ("qos.ecn as designed", "qos.ecn differs", "fix qos.ecn")
    hostile = next(x for x in data["X"] if x[0] == NODES.index(HOSTILE[0]))
    assert S[hostile[5]] == "</script><script>alert('x')</script> <!-- ]]>"
    waived = next(x for x in data["X"] if x[4] == "v")
    w = data["W"][waived[9]]
    assert S[w[3]] == "net-team <ops@example.com>" and w[6] == 1
    rem = data["R"][next(x for x in data["X"] if x[4] == "r")[10]]
    assert [S[a] for a in rem[1]] == ["rdma system set netns exclusive", "echo 'options ib_core netns_mode=0'"]
    # waivers shown server-side too, with the expired one flagged
    assert "EXPIRED: failure shown" in text and "net-team &lt;ops@example.com&gt;" in text


def test_csv_one_row_per_record_injection_safe(out, doc):
    with open(out / "fleet.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == fleet.CSV_COLUMNS
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert len(body) == len(doc["results"])
    for rec, row in zip(doc["results"], body):
        for key in ("node", "check", "rail", "outcome", "summary", "expected", "found", "fix"):
            value = rec.get(key) or ""
            want = "'" + value if value[:1] in "=+-@\t\r" and value else value
            assert row[key] == want, (key, value)
    assert not [c for r in rows for c in r if c[:1] in ("=", "+", "-", "@")]
    wrow = next(r for r in body if r["outcome"] == "waived")
    assert (wrow["waiver_active"], wrow["waiver_expires"], wrow["waiver_owner"]) == ("yes", "2099-01-01",
                                                                                     "net-team <ops@example.com>")
    erow = next(r for r in body if r["waiver_expires"] == "2020-01-01")
    assert (erow["outcome"], erow["waiver_active"]) == ("fail", "no")
    rrow = next(r for r in body if r["outcome"] == "remediated")
    assert rrow["remediation_status"] == "fixed" and rrow["remediation_actions"].startswith("rdma system set")


PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prom(text: str) -> list[tuple[str, dict, float]]:
    """A strict reader for the samples of the text exposition format (escapes undone)."""
    out = []
    for line in text.split("\n"):                     # the format splits on LF only
        if line.startswith("#") or not line:
            assert line == "" or re.match(r"^# (HELP|TYPE) \w+ ", line), line
            continue
        m = PROM_LINE.match(line)
        assert m, line
        labels, body = {}, (m.group(2) or "{}")[1:-1]
        pos = 0
        while pos < len(body):
            lm = PROM_LABEL.match(body, pos)
            assert lm, (line, body[pos:])
            labels[lm.group(1)] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), lm.group(2))
            pos = lm.end()
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def test_prometheus_textfile(out, doc):
    text = (out / "rdma_preflight.prom").read_text()
    samples = parse_prom(text)
    passed = {(lb["node"], lb["check"], lb["rail"]): v for n, lb, v in samples if n == "rdma_preflight_check_passed"}
    assert passed[("gpu-002", "qos.ecn", "rail2")] == 0 and passed[("gpu-002", "qos.ecn", "rail1")] == 1
    assert passed[("gpu-004", "qos.ecn", "rail1")] == 1                 # waived
    assert passed[("line\nbreak", "net.rail_count", "")] == 0           # newline escaped and restored
    assert passed[('q"uo\'te&amp;\\back', "net.rail_count", "")] == 0
    assert len(passed) == len(doc["results"])                           # no skips in this document
    outcome = {(lb["node"], lb["check"], lb["rail"]): lb["outcome"] for n, lb, v in samples
               if n == "rdma_preflight_check_outcome"}
    assert outcome[("gpu-005", "rdma.netns_mode", "")] == "remediated"
    errs = {lb["node"]: v for n, lb, v in samples if n == "rdma_preflight_node_error"}
    assert errs["gpu-err"] == 1 and errs["gpu-001"] == 0 and len(errs) == len(NODES)
    single = {n: v for n, lb, v in samples if not lb}
    assert single["rdma_preflight_run_timestamp_seconds"] == 1795946700.0   # date -u -d 2026-11-29T10:05:00Z +%s
    assert single["rdma_preflight_run_duration_seconds"] == 300.0
    assert single["rdma_preflight_run_exit_code"] == 1
    expiry = {lb["owner"]: v for n, lb, v in samples if n == "rdma_preflight_waiver_expiry_timestamp_seconds"}
    assert expiry["bob"] == 1577836800.0
    rates = {lb["check"]: v for n, lb, v in samples if n == "rdma_preflight_check_pass_ratio"}
    assert rates["qos.ecn"] == round(12 / 14, 4)


def test_prometheus_reference_parser(out):
    parser = pytest.importorskip("prometheus_client.parser", reason="prometheus-client not installed")
    fams = {f.name: f for f in parser.text_string_to_metric_families((out / "rdma_preflight.prom").read_text())}
    assert fams["rdma_preflight_check_passed"].type == "gauge"
    nodes = {s.labels["node"] for s in fams["rdma_preflight_check_passed"].samples}
    assert nodes == set(NODES)


def test_markdown_summary(out):
    md = (out / "fleet.md").read_text()
    assert md.startswith("## rdma-preflight: FAIL — 11 of 14 nodes failing or unreachable\n")
    assert "| fail | error | warn | waived | remediated | skip | pass |\n|---|---|---|---|---|---|---|\n" \
           "| 10 | 6 | 1 | 1 | 1 | 0 | 65 |\n" in md                      # 14 nodes x 6 records
    assert "| net.rail\\_count | 9 | 35.7% | The profile's rails are found on the node | &#64;evil next |" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "<script>" not in md
    assert "line break" in md and "\nbreak" not in md                   # one line per node
    assert "### Waivers (1 active, 1 expired)" in md and "**EXPIRED**" in md
    assert "_No baseline given" in md
    assert "Not compared: no node facts" in md


@pytest.mark.parametrize("text,want", [
    ("=1+2", "'=1+2"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"), ("\tx", "'\tx"), ("ok", "ok"), (None, "")])
def test_csv_safe(text, want):
    assert fleet.csv_safe(text) == want


@pytest.mark.parametrize("text,want", [
    ("a|b", "a\\|b"), ("@team", "&#64;team"), ("<b>&", "&lt;b&gt;&amp;"), ("x_y*z`", "x\\_y\\*z\\`"), ("l1\nl2", "l1 l2"), ("[a](b)", "\\[a\\](b)")])
def test_md_escape(text, want):
    assert fleet.md(text) == want


def test_prom_label_escape():
    assert fleet.prom_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_script_json_cannot_break_out():
    s = fleet.script_json({"x": "</script><!--\u2028&"})
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s
    assert json.loads(s) == {"x": "</script><!--\u2028&"}


def test_page_data_compaction():
    """Skips alike on every rail become one "all rails" row; empty trailing fields are left off,
    but a first waiver (index 0) is kept."""
    from tests.fleet.synth import CHECKS, record, synthetic_doc

    def outcome(node, check, rail):
        c = next(x for x in CHECKS if x[0] == check)
        if check == "qos.ecn":
            return record(node, c, "skip", rail, summary="RoCE only")
        if check == "net.mtu" and rail == "rail2":
            return record(node, c, "waived", rail, waiver={"check": "net.mtu", "nodes": "*", "rail": None, "owner": "o",
                                                           "reason": "r", "expires": "2099-01-01", "active": True})
        return "pass"

    doc = synthetic_doc(["n1"], outcome, rails=2)
    data = fleet.page_data(doc, fleet.build_fleet(doc))
    S = data["S"]
    rows = {data["C"][x[1]][0]: x for x in data["X"]}
    assert rows["qos.ecn"] == [0, 2, S.index("all rails"), 0, "s", S.index("RoCE only")]
    waived = rows["net.mtu"]
    assert waived[4] == "v" and len(waived) == 10 and waived[9] == 0 and data["W"][0][3] == S.index("o")
