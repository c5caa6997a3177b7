"""Acceptance records from a SYNTHETIC results document and SYNTHETIC snapshot facts."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

from rdma_preflight.facts.build import build_facts
from rdma_preflight.reports import acceptance
from tests.fleet.conftest import HOSTILE, NODES
from tests.fleet.synth import rail_node


def facts_for(doc):
    return {n: build_facts(rail_node(n, i)) for i, n in enumerate(NODES[:5])}


def test_record_content(tmp_path, doc):
    facts = facts_for(doc)
    paths = acceptance.render_acceptance(doc, tmp_path, facts)
    assert len(paths) == 2 * len(NODES) + 1
    md = (tmp_path / "acceptance" / "gpu-005.md").read_text()
    assert md.startswith("# Acceptance record: gpu-005\n\n**Verdict: PASS** · profile synthetic-8rail · "
                         "target snapshot://gpu-005\n")
    for line in ("| hostname | gpu-005 |", "| serial | SN-gpu-005 |", "| product | SYS-821GE-TNHR |",
                 "| kernel | 6.8.0-45-generic |", "| OFED | MLNX\\_OFED 23.07-0.5.1.2 |", "| MT4129 | 28.39.1002 |",
                 "| mlx5\\_core | 23.07-0.5.1 |", "| run started | 2026-11-29T10:00:00+00:00 |",
                 "| suite | rdma-preflight 0.1.0 |", "| collector version | 1 |", "| operator |  |  |  |",
                 "| 1 | mlx5\\_0 | ens1f0np0 | MT4129 | 28.39.1002 | MT\\_0000000838 | mlx5\\_core | 4200 | ACTIVE | "
                 "400 Gb/sec (4X NDR) |"):
        assert line in md, line
    checks = [ln for ln in md.split("## Checks")[1].split("## Remediation")[0].splitlines() if ln.startswith("| ")]
    assert len(checks) == 1 + 6                                      # header + every record of the node
    assert "| rdma.netns\\_mode |  | remediated | rdma.netns\\_mode remediated |" in md
    assert "- **rdma.netns\\_mode**: fixed, journal /var/lib/rdma-preflight/journal/gpu-005.json" in md
    assert "  - echo 'options ib\\_core netns\\_mode=0'" in md
    rec = acceptance.node_record(doc, "gpu-005", None)
    assert f"| record digest | sha256:{rec['digest']} |" not in md  # facts are part of the digest
    full = acceptance.node_record(doc, "gpu-005", acceptance.drift_mod.fact_fingerprint(facts["gpu-005"]))
    assert f"| record digest | sha256:{full['digest']} |" in md
    assert "- [ ] accepted\n- [ ] accepted with the waivers above\n- [ ] rejected" in md


def test_waivers_and_errors_shown(tmp_path, doc):
    acceptance.render_acceptance(doc, tmp_path)
    md3 = (tmp_path / "acceptance" / "gpu-003.md").read_text()
    assert "| net.mtu | rail2 (ens2f0np0) | EXPIRED | 2020-01-01 | bob | temporary |" in md3
    assert "**Verdict: FAIL**" in md3 and "Not available (no node facts)." in md3
    md4 = (tmp_path / "acceptance" / "gpu-004.md").read_text()
    assert "| qos.ecn | rail1 (ens1f0np0) | active | 2099-01-01 | net-team &lt;ops&#64;example.com&gt; |" in md4
    err = (tmp_path / "acceptance" / "gpu-err.md").read_text()
    assert "**Verdict: ERROR**" in err and "> Node not checked: ssh: connect to host gpu-err: timed out" in err


def test_digest_changes_with_content(doc):
    a = acceptance.node_record(doc, "gpu-002", None)
    changed = copy.deepcopy(doc)
    next(r for r in changed["results"] if r["node"] == "gpu-002" and r["outcome"] == "fail")["found"] = "other"
    assert acceptance.node_record(changed, "gpu-002", None)["digest"] != a["digest"]
    assert acceptance.node_record(copy.deepcopy(doc), "gpu-002", None)["digest"] == a["digest"]


class Texts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_names_safe_files_and_escaped_html(tmp_path, doc):
    evil = dict(doc, nodes=doc["nodes"] + [dict(doc["nodes"][0], name="../../etc/passwd")])
    acceptance.render_acceptance(evil, tmp_path)
    d = tmp_path / "acceptance"
    files = sorted(p.name for p in d.iterdir())
    assert all("/" not in f and not f.startswith(".") for f in files)
    assert all(p.resolve().parent == d.resolve() for p in d.iterdir())
    assert len({acceptance.file_stem(n) for n in NODES}) == len(NODES)
    assert acceptance.file_stem("gpu-001") == "gpu-001"
    stem = acceptance.file_stem(HOSTILE[0])
    assert stem.startswith("_script_alert_1___script_-") and len(stem) == len("_script_alert_1___script_-") + 10
    page = (d / f"{stem}.html").read_text()
    p = Texts()
    p.feed(page)
    assert "script" not in p.tags                                   # a record page has no script at all
    assert "Acceptance record: <script>alert(1)</script>" in p.text
    assert "</script><script>alert('x')</script> <!-- ]]>" in p.text
    index = (d / "index.md").read_text()
    assert f"[{stem}.md]({stem}.md)" in index and "&lt;script&gt;" in index


def test_written_only_with_acceptance_option(tmp_path, doc):
    state = SimpleNamespace(opts=SimpleNamespace(acceptance=False, baseline=None), nodes={})
    assert acceptance.write_acceptance(state, doc, tmp_path) == []
    assert not (tmp_path / "acceptance").exists()
    state.opts.acceptance = True
    paths = acceptance.write_acceptance(state, doc, tmp_path)
    assert Path(tmp_path / "acceptance" / "gpu-001.html") in paths
