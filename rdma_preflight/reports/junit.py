"""JUnit XML with one testsuite per node (junit-xml): fail -> <failure>, error -> <error>,
skip -> <skipped>; warnings and waivers pass with their text in system-out. A partial run
(interrupted or unfinished) adds the property ``partial`` to every testsuite."""

from __future__ import annotations

from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from .results_json import INDENT_UP_TO


def _case(r: dict) -> TestCase:
    name = r["check"] + (f"[{r['rail']}:{r['netdev']}]" if r.get("rail") else "")
    text = "\n".join(x for x in (
        r.get("summary", ""),
        f"expected: {r['expected']}" if r.get("expected") else "",
        f"found: {r['found']}" if r.get("found") else "",
        f"fix: {r['fix']}" if r.get("fix") else "") if x)
    tc = TestCase(name=name, classname=f"{r['node']}.{r['area']}", elapsed_sec=r.get("seconds") or 0.0,
                  stdout=text if r["outcome"] in ("pass", "warn", "waived", "remediated") else None)
    o = r["outcome"]
    if o == "fail":
        tc.add_failure_info(message=r.get("summary", "")[:500], output=text)
    elif o == "error":
        tc.add_error_info(message=r.get("summary", "")[:500], output=text)
    elif o == "skip":
        tc.add_skipped_info(message=r.get("summary", "")[:500])
    return tc


def suites(doc: dict) -> list[TestSuite]:
    by_node: dict[str, list[dict]] = {n["name"]: [] for n in doc["nodes"]}
    for r in doc["results"]:
        by_node.setdefault(r["node"], []).append(r)
    out = []
    partial = {"partial": "true (interrupted or unfinished run)"} if doc.get("run", {}).get("partial") else {}
    for node in doc["nodes"]:
        cases = [_case(r) for r in by_node.get(node["name"], [])]
        if node.get("error") and not cases:
            tc = TestCase(name="collect", classname=f"{node['name']}.collect")
            tc.add_error_info(message=node["error"][:500])
            cases = [tc]
        out.append(TestSuite(name=node["name"], test_cases=cases, hostname=node["name"],
                             properties={"target": node.get("target"), "profile": node.get("profile"), **partial}))
    return out


def write(doc: dict, path: Path) -> Path:
    # pretty only for a run a person reads (results.json's threshold): junit-xml pretty-prints
    # through minidom, minutes at fleet scale
    pretty = len(doc.get("results") or ()) <= INDENT_UP_TO
    path.write_text(to_xml_report_string(suites(doc), prettyprint=pretty, encoding="utf-8"))
    return path
