"""Property tests: any text (node names, check text) survives every report format intact and inert."""

from __future__ import annotations

import csv
import io

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rdma_preflight.reports import fleet
from tests.fleet.synth import CHECKS, record, synthetic_doc
from tests.fleet.test_fleet_reports import PageParser, parse_prom

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


def doc_for(names: list[str], summary: str) -> dict:
    """A SYNTHETIC document: the given node names, one failing record each with ``summary``."""
    return synthetic_doc(names, lambda n, c, r: record(n, next(x for x in CHECKS if x[0] == c), "fail", r,
                                                       summary=summary) if c == "qos.ecn" else "pass", rails=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4, unique=True), TEXT)
@example(["a\x00b", "ノ\u2028x", "-1", "</script>"], "=x\r\n<y> | `z` @here")
def test_any_text_round_trips(names, summary):
    doc = doc_for(names, summary)
    f = fleet.build_fleet(doc)
    page = PageParser()
    page.feed(fleet.render_html(doc, f))
    page.close()
    assert [r["name"] for r in page.rows] == names
    assert [s["attrs"].get("id") for s in page.scripts] == ["rpf-data", None]
    rows = list(csv.reader(io.StringIO(fleet.render_csv(doc), newline="")))[1:]
    for rec, row in zip(doc["results"], rows):
        for value, cell in ((rec["node"], row[0]), (rec["summary"], row[7])):
            assert cell == ("'" + value if value[:1] in "=+-@\t\r" else value)
    samples = parse_prom(fleet.render_prom(doc, f))
    assert {lb["node"] for n, lb, v in samples if n == "rdma_preflight_node_error"} == set(names)
    for line in fleet.render_md(f).splitlines():
        assert "<" not in line.replace("&lt;", "") or line.startswith(">")


@given(TEXT)
def test_md_cell_is_inert(text):
    out = fleet.md(text)
    assert "\n" not in out and "<" not in out and ">" not in out and "@" not in out
    assert "|" not in out.replace("\\|", "")
