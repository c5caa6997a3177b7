"""Acceptance records: one page per node that a person can review and sign off.

Written (with ``--acceptance``) as ``acceptance/<node>.html`` and ``acceptance/<node>.md``
plus ``acceptance/index.md``: node identity (hostname, serial, product, firmware per HCA,
driver versions, kernel, OFED), profile, every check with its outcome per rail, what
remediation changed, waivers, timestamps, suite and collector versions, what changed since
the baseline, and a sign-off block bound to a SHA-256 digest of the record's content.
Firmware, driver and OFED versions come from the node's facts (a live run, or snapshots given
to ``render_acceptance``); from a results.json alone they are marked as not available.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import drift as drift_mod
from .fleet import FAILING, LETTER, CSS, esc, md, node_verdict, write_text

IDENTITY_FIELDS = (("hostname", "hostname"), ("serial", "serial"), ("product", "product"),
                   ("vendor", "vendor"), ("os", "OS"), ("kernel", "kernel"), ("collected_at", "collected at"))
NIC_FIELDS = ("device", "netdev", "hca_type", "fw_ver", "board_id", "driver", "mtu", "state", "rate")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(node: str) -> str:
    """A file name for a node name: safe characters only, plus a hash when anything changed."""
    safe = SAFE_NAME.sub("_", node)[:80].lstrip(".")
    if safe != node or not safe:
        safe = f"{safe or 'node'}-{hashlib.sha256(node.encode('utf-8', 'replace')).hexdigest()[:10]}"
    return safe


def _nics(fp: Mapping[str, str]) -> list[dict[str, str]]:
    nics = sorted({k.split(".", 1)[0] for k in fp if re.match(r"^nic\d+\.", k)}, key=lambda n: int(n[3:]))
    return [{"position": n[3:], **{f: fp.get(f"{n}.{f}", "") for f in NIC_FIELDS}} for n in nics]


def node_record(doc: Mapping, node: str, fingerprint: Mapping[str, str] | None,
                run_drift: Mapping | None = None) -> dict:
    """Everything one node's acceptance page shows, and its digest."""
    meta = next((n for n in doc.get("nodes", []) if n["name"] == node), {"name": node})
    recs = [r for r in doc.get("results", []) if r["node"] == node]
    changes = _changes_by_node(run_drift).get(node, {}) if run_drift and "error" not in run_drift else None
    return _record(doc, meta, recs, fingerprint, changes)


_CHANGE_KINDS = ("newly_failing", "newly_fixed", "no_longer_checked")


def _changes_by_node(run_drift: Mapping) -> dict[str, dict[str, list]]:
    out: dict[str, dict[str, list]] = {}
    for kind in _CHANGE_KINDS:
        for e in run_drift.get(kind, []):
            out.setdefault(e["node"], {k: [] for k in _CHANGE_KINDS})[kind].append(e)
    return out


def _record(doc: Mapping, meta: Mapping, recs: list[dict], fingerprint: Mapping[str, str] | None,
            changes: Mapping[str, list] | None) -> dict:
    node = meta["name"]
    fp = dict(fingerprint or {})
    body = {
        "node": node, "profile": meta.get("profile"), "target": meta.get("target"),
        "status": meta.get("status"), "error": meta.get("error"), "identity": meta.get("identity") or {},
        "ofed": fp.get("ofed"), "firmware": {k[3:-1]: v for k, v in fp.items() if k.startswith("fw[")},
        "modules": {k[7:]: v for k, v in fp.items() if k.startswith("module.")},
        "nics": _nics(fp), "netns_mode": fp.get("netns_mode"), "collector_version": fp.get("collector"),
        "facts_available": bool(fp),
        "results": [{k: r.get(k) for k in ("check", "title", "rail", "netdev", "outcome", "summary", "expected",
                                           "found", "fix", "remediation", "waiver")} for r in recs],
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()
    return dict(body, digest=digest, tool=doc.get("tool", {}), run=doc.get("run", {}),
                verdict=node_verdict(meta.get("status"), Counter(r["outcome"] for r in recs)),
                changes=None if changes is None else {k: list(changes.get(k, [])) for k in _CHANGE_KINDS})


def _where(r: Mapping) -> str:
    return (r.get("rail") or "") + (f" ({r['netdev']})" if r.get("netdev") else "")


# -- the page, format-free ---------------------------------------------------------------------

@dataclass
class Table:
    head: list[str]
    rows: list[list[object]]
    classes: list[str] | None = None          # per row (HTML colouring)


@dataclass
class Item:
    """One bullet: a bold lead, the rest of the line, and indented sub-lines."""

    lead: str
    rest: str
    sub: list[str]


Block = Table | Item | str                    # str: a paragraph


def _remediation(rec: Mapping) -> list[Block]:
    items: list[Block] = []
    for r in rec["results"]:
        rm = r.get("remediation")
        if rm:
            rest = (f" {_where(r)}" if _where(r) else "") + f": {rm.get('status')}" \
                + (f" ({rm['reason']})" if rm.get("reason") else "") \
                + (f", journal {rm['journal']}" if rm.get("journal") else "")
            items.append(Item(r["check"], rest, list(rm.get("actions") or [])))
    return items or [f"Nothing changed on the node (remediation mode: {rec['run'].get('remediate')})."]


def sections(rec: Mapping) -> list[tuple[int, str, list[Block]]]:
    """(heading level, title, blocks) of one node's record, in page order."""
    ident, run, tool, results = rec["identity"], rec["run"], rec["tool"], rec["results"]
    no_facts = "Not available (no node facts)." if not rec["facts_available"] else "No RDMA HCA found."
    out: list[tuple[int, str, list[Block]]] = [
        (2, "Identity", [Table(["field", "value"], [[label, ident.get(k) or "—"] for k, label in IDENTITY_FIELDS]
                               + [["OFED", rec["ofed"] or "—"], ["RDMA netns mode", rec["netns_mode"] or "—"]])]),
        (3, "Firmware per HCA type", [Table(["HCA type", "firmware"], [list(kv) for kv in rec["firmware"].items()])
                                      if rec["firmware"] else no_facts])]
    if rec["nics"]:
        out.append((3, "RDMA NICs (PCI order)", [Table(["#", *NIC_FIELDS], [[n["position"], *(n[f] for f in NIC_FIELDS)]
                                                                            for n in rec["nics"]])]))
    out += [
        (3, "Driver and module versions", [Table(["module", "version"], [list(kv) for kv in rec["modules"].items()])
                                           if rec["modules"] else "Not available."]),
        (2, "Checks", [Table(["check", "rail", "outcome", "summary", "expected", "found", "fix"],
                             [[r["check"], _where(r), r["outcome"].upper() if r["outcome"] in FAILING else r["outcome"],
                               r["summary"], r["expected"], r["found"], r["fix"] if r["outcome"] != "pass" else ""]
                              for r in results], [LETTER.get(r["outcome"], "") for r in results])]),
        (2, "Remediation", _remediation(rec))]
    waived = [r for r in results if r.get("waiver")]
    if waived:
        out.append((2, "Waivers", [Table(["check", "rail", "state", "expires", "owner", "reason"], [
            [r["check"], _where(r), "active" if r["waiver"].get("active") else "EXPIRED", r["waiver"].get("expires"),
             r["waiver"].get("owner"), r["waiver"].get("reason")] for r in waived])]))
    if rec["changes"] is not None:
        rows = [[k.replace("_", " "), e["check"], _where(e), e["before"] or "new", e["now"] or "gone"]
                for k, v in rec["changes"].items() for e in v]
        out.append((2, "Changes since the baseline", [Table(["change", "check", "rail", "before", "now"], rows)
                                                      if rows else "None."]))
    out.append((2, "Run", [Table(["field", "value"], [
        ["run started", run.get("started")], ["run finished", run.get("finished")],
        ["suite", f"{tool.get('name', 'rdma-preflight')} {tool.get('version', '?')}"],
        ["collector version", rec["collector_version"] or "—"], ["exit code", run.get("exit_code")],
        ["record digest", f"sha256:{rec['digest']}"]])]))
    return out


SIGN_ROLES = ("operator", "reviewer")
DECISIONS = ("accepted", "accepted with the waivers above", "rejected")


# -- Markdown ----------------------------------------------------------------------------------

def _md_block(b: Block) -> list[str]:
    if isinstance(b, Table):
        return (["| " + " | ".join(b.head) + " |", "|" + "---|" * len(b.head)]
                + ["| " + " | ".join(md(c, 400) for c in row) + " |" for row in b.rows])
    if isinstance(b, Item):
        return [f"- **{md(b.lead)}**{md(b.rest)}"] + [f"  - {md(x)}" for x in b.sub]
    return [md(b, 1000)]


def render_md(rec: Mapping) -> str:
    out = [f"# Acceptance record: {md(rec['node'])}", "",
           f"**Verdict: {rec['verdict'].upper()}** · profile {md(rec['profile'])} · target {md(rec['target'])}", ""]
    if rec.get("error"):
        out += [f"> Node not checked: {md(rec['error'])}", ""]
    for level, title, blocks in sections(rec):
        out += ["#" * level + " " + title, ""]
        for b in blocks:
            out += _md_block(b) + ([""] if not isinstance(b, Item) else [])
        out += [""] if blocks and isinstance(blocks[-1], Item) else []
    out += ["## Sign-off", "", f"I reviewed this record (sha256:{rec['digest'][:16]}…) and decide:", ""]
    out += [f"- [ ] {d}" for d in DECISIONS] + ["", "| role | name | signature | date |", "|---|---|---|---|"]
    out += [f"| {role} |  |  |  |" for role in SIGN_ROLES] + ["", "Notes:", ""]
    return "\n".join(out) + "\n"


# -- HTML --------------------------------------------------------------------------------------

ACCEPT_CSS = """
.sign td{height:34px;min-width:160px}.box{display:inline-block;width:12px;height:12px;border:1px solid #333;
margin:0 4px 0 14px}body{max-width:1100px;margin:auto}.sec{page-break-inside:avoid}
"""


def _html_block(b: Block) -> str:
    if isinstance(b, Table):
        cls = b.classes or [""] * len(b.rows)
        return ("<table class=list><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in b.head) + "</tr></thead><tbody>"
                + "".join(f'<tr class="{c}">' + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                          for row, c in zip(b.rows, cls)) + "</tbody></table>")
    if isinstance(b, Item):
        return (f"<div class=rec><b>{esc(b.lead)}</b>{esc(b.rest)}" + "".join(f"<div>{esc(x)}</div>" for x in b.sub)
                + "</div>")
    return f"<p>{esc(b)}</p>"


def render_html(rec: Mapping) -> str:
    parts = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
             "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             f"<title>Acceptance record: {esc(rec['node'])}</title><style>{CSS}{ACCEPT_CSS}</style></head><body>",
             f"<header><h1>Acceptance record: {esc(rec['node'])}</h1><div>verdict "
             f"<b>{esc(rec['verdict'].upper())}</b> · profile {esc(rec['profile'])} · target {esc(rec['target'])}"
             "</div></header><section>"]
    if rec.get("error"):
        parts.append(f"<p class=bad>Node not checked: {esc(rec['error'])}</p>")
    for level, title, blocks in sections(rec):
        parts.append(f"<div class=sec><h{level}>{esc(title)}</h{level}>" + "".join(map(_html_block, blocks)) + "</div>")
    parts += [f"<div class=sec><h2>Sign-off</h2><p>I reviewed this record (sha256:{esc(rec['digest'][:16])}…) and "
              "decide:</p><p>" + "".join(f"<span class=box></span>{esc(d)}" for d in DECISIONS) + "</p>",
              "<table class=sign><thead><tr><th>role</th><th>name</th><th>signature</th><th>date</th></tr></thead>"
              "<tbody>" + "".join(f"<tr><td>{r}</td><td></td><td></td><td></td></tr>" for r in SIGN_ROLES)
              + "</tbody></table><p>Notes:</p></div></section></body></html>\n"]
    return "".join(parts)


# -- entry points ------------------------------------------------------------------------------

def render_acceptance(doc: Mapping, out_dir: str | Path, facts_by_node: Mapping[str, object] | None = None,
                      baseline_doc: Mapping | None = None) -> list[Path]:
    """acceptance/<node>.html and .md for every node, and acceptance/index.md."""
    d = Path(out_dir) / "acceptance"
    d.mkdir(parents=True, exist_ok=True)
    prints = drift_mod.fingerprints_of(facts_by_node or {}, doc)
    changes = _changes_by_node(drift_mod.compare_runs(baseline_doc, doc)) if baseline_doc is not None else None
    by_node: dict[str, list[dict]] = {}
    for r in doc.get("results", []):
        by_node.setdefault(r["node"], []).append(r)
    paths, index = [], ["# Acceptance records", "", "| node | verdict | record | digest |", "|---|---|---|---|"]
    for meta in doc.get("nodes", []):
        node = meta["name"]
        rec = _record(doc, meta, by_node.get(node, []), prints.get(node),
                      None if changes is None else changes.get(node, {}))
        stem = file_stem(node)
        paths.append(write_text(d / f"{stem}.html", render_html(rec)))
        paths.append(write_text(d / f"{stem}.md", render_md(rec)))
        index.append(f"| {md(node)} | {rec['verdict']} | [{stem}.md]({stem}.md) · [{stem}.html]({stem}.html) | "
                     f"`{rec['digest'][:16]}` |")
    paths.append(write_text(d / "index.md", "\n".join(index) + "\n"))
    return paths


def write_acceptance(state, doc: Mapping, out_dir: str | Path) -> list[Path]:
    """Hook called by reports.writer.write_reports; writes only with ``--acceptance``."""
    if not getattr(state.opts, "acceptance", False):
        return []
    from .fleet import facts_of_state, load_baseline

    baseline, _ = load_baseline(state.opts.baseline)
    return render_acceptance(doc, out_dir, facts_of_state(state), baseline)
