"""Hostile host data, for real (issue 9, part 3).

A netns test host gets interfaces whose names are shell metacharacters, quotes, globs, markup,
spreadsheet formulas, unicode and control characters (all accepted by Linux: only '/', ':' and
blanks are refused), policy rules naming them, and an os-release / unit file with hostile
content (``/etc/netns/<ns>/`` files, which ``ip netns exec`` binds over /etc for that netns
only). The real collector runs through ``netns://`` and through ssh (tests/lab sshd); nothing a
name says is executed, and every name arrives intact in facts, results.json, junit.xml, the
terminal and the fleet reports, escaped where the format needs it.

The report-writer tests at the end need no root: they feed every writer a results document
whose strings are all hostile.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import netns

from rdma_preflight.checks.result import terminal_safe
from rdma_preflight.collect.gather import gather_node
from rdma_preflight.collect.snapshot import Snapshot
from rdma_preflight.collect.stream import collector_argv, decode_stream, new_nonce
from rdma_preflight.facts.build import build_facts
from rdma_preflight.reports import fleet, junit
from rdma_preflight.targets.local import NetnsTarget
from rdma_preflight.targets.ssh import SshTarget
from tests.lab.addressing import SHARED
from tests.lab.nsutil import LAB_PREFIX, open_ns
from tests.spine.harness_util import ROOT, run_checks, two_rail_profile

# What a shell would do with each name if the collector ever interpolated one: create one of
# CANARIES in its working directory, print `id` output, or fail with a syntax error.
HOSTILE = ("a$(touch", "b;id", "c'q\"", "d`x`", "e|f", "ñ0", "$(touch${IFS}Z)", "`touch${IFS}Q7`",
           ";touch${IFS}Q8", "|touch${IFS}Q9", "<i>&'x", "=1+2", "@SUM(1)", "+cmd", "-rf", "e*", "[x",
           "abcdefghijklmno")
CONTROL = ("\x1b[31mRED", "\u202eevil")        # terminal escape / bidi override
NAMES = HOSTILE + CONTROL
CANARIES = ("Z", "Q7", "Q8", "Q9")
OS_NAME = "<script>alert(1)</script> $(touch Z) \"q\" 'q' =cmd|' /C calc'!A0"
UNIT = "[Service]\nExecStart=/bin/sh -c 'echo $(id) `id`; touch Z'\n"
RULE_BASE = 20000


@dataclass
class HostileHost:
    node: object          # tests.lab.hosts.LabNode
    netns: str


def _canary_dirs(*extra: Path) -> list[Path]:
    return [Path.home(), Path("/"), ROOT, *extra]


def _no_canaries(*extra: Path) -> None:
    found = [str(d / c) for d in _canary_dirs(*extra) for c in CANARIES if (d / c).exists()]
    assert not found, f"a name was executed: {found} exist"


@pytest.fixture
def hostile(lab, tmp_path) -> HostileHost:
    """Lab node 'hostile' (2 rails) plus one bridge and one ``iif NAME`` rule per hostile name."""
    _no_canaries(tmp_path)
    node = lab.add_node("hostile", 1, SHARED, rails=2)
    with open_ns(node.netns) as ipr:
        for i, name in enumerate(NAMES):
            ipr.link("add", ifname=name, kind="bridge")
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
            ipr.rule("add", iifname=name, table=RULE_BASE + i, priority=RULE_BASE + i)
    etc_netns = Path("/etc/netns")
    for stale in etc_netns.glob(f"{LAB_PREFIX}*"):       # left by a killed run: its netns is gone
        if stale.name not in netns.listnetns():
            shutil.rmtree(stale, ignore_errors=True)
    made_parent = not etc_netns.exists()
    own = etc_netns / node.netns                 # the lab's netns name is unique to this run
    try:
        (own / "systemd" / "system").mkdir(parents=True)
        (own / "os-release").write_text(f'PRETTY_NAME="{OS_NAME}"\nNAME=x\n')
        (own / "systemd" / "system" / "rdma-qos.service").write_text(UNIT)
        yield HostileHost(node, node.netns)
    finally:
        shutil.rmtree(own, ignore_errors=True)
        if made_parent:
            try:
                etc_netns.rmdir()
            except OSError:   # another run uses it now
                pass


def _collect(target) -> tuple[bytes, bytes, Snapshot]:
    nonce = new_nonce()
    res = target.run(collector_argv(nonce), timeout=60)
    return res.stdout, res.stderr, decode_stream(res.stdout, nonce, target.node)


def _check_stream(raw: bytes, err: bytes, snap: Snapshot, tmp_path: Path) -> None:
    _no_canaries(tmp_path)
    assert b"uid=0(" not in raw + err                 # `id` never ran
    assert b"Syntax error" not in err and b"not found" not in err and b"unexpected" not in err
    for name in NAMES:
        assert snap.value(f"/sys/class/net/{name}/mtu") == "1500", name
        assert snap.value(f"/sys/class/net/{name}/operstate") is not None, name
    assert OS_NAME in snap.text("/etc/os-release")
    assert snap.text("/etc/systemd/system/rdma-qos.service") == UNIT


def _check_facts(facts) -> None:
    names = set(NAMES)
    assert names <= set(facts.net.links), names - set(facts.net.links)
    assert names <= set(facts.netdevs)
    assert {r.iif for r in facts.net.rules} >= names
    assert facts.system.os_name == OS_NAME
    assert facts.qos.service_unit == UNIT
    for name in NAMES:       # a glob character in a name borrows no other interface's files
        assert facts.netdevs[name].ecn_np == {} and facts.netdevs[name].pci is None


@pytest.mark.netns
def test_netns_collector_executes_nothing_and_keeps_every_name(hostile, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)        # where a `touch` from a name would land
    target = NetnsTarget(node="hostile", url=f"netns://{hostile.netns}", netns=hostile.netns)
    raw, err, snap = _collect(target)
    _check_stream(raw, err, snap, tmp_path)
    for live in (hostile.netns, None):        # pyroute2 netlink and the collector's ip -j agree
        _check_facts(build_facts(snap, netlink_ns=live))
    # the snapshot stores and reads back every name exactly
    back = Snapshot.load(snap.save(tmp_path / "snap"))
    assert back.files == snap.files and back.links == snap.links
    assert {k: c.stdout for k, c in back.commands.items()} == {k: c.stdout for k, c in snap.commands.items()}


@pytest.mark.netns
@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_ssh_collector_executes_nothing_and_decodes_like_netns(hostile, sshd_lab, tmp_path, monkeypatch, backend):
    monkeypatch.chdir(tmp_path)
    sshd_lab.start(hostile.node)
    ssh = SshTarget(node="hostile", url=f"{backend}://hostile", hostspec="hostile", backend_name=backend,
                    ssh_config=str(sshd_lab.ssh_config_path), connect_timeout=5)
    raw, err, snap = _collect(ssh)
    _check_stream(raw, err, snap, tmp_path)
    _check_facts(build_facts(snap))
    _, _, local = _collect(NetnsTarget(node="hostile", url="netns://x", netns=hostile.netns))
    named = sorted(k for k in snap.files if k.startswith("/sys/class/net/"))
    assert named == sorted(k for k in local.files if k.startswith("/sys/class/net/"))
    assert {k: snap.files[k] for k in named if "/statistics/" not in k} == \
        {k: local.files[k] for k in named if "/statistics/" not in k}
    g = gather_node(ssh, timeout=60)
    assert g.error is None and set(NAMES) <= set(g.facts.net.links)


def _reports_carry_names(run, node: str) -> None:
    """results.json, junit.xml, terminal and fleet reports all name every hostile interface."""
    rec = run.records("net.rdma_rule", node)[0]
    assert rec["outcome"] == "fail"
    for i, name in enumerate(NAMES):
        assert f"{RULE_BASE + i}: from all iif {name} lookup {RULE_BASE + i}" in rec["found"], name
    # junit.xml parses and carries the text (XML 1.0 cannot hold C0 controls: junit-xml drops them)
    failure = ET.parse(run.report_dir / "junit.xml").getroot().find(f"testsuite[@name='{node}']/testcase/failure")
    for name in HOSTILE + ("[31mRED", "\u202eevil"):
        assert f"iif {name} lookup" in failure.text, name
    # terminal: printable names as they are, control characters escaped, never raw
    for name in HOSTILE:
        assert f"iif {name} lookup" in run.stdout, name
    assert "iif \\x1b[31mRED lookup" in run.stdout and "iif \\u202eevil lookup" in run.stdout
    assert "\x1b[31m" not in run.stdout and "\u202e" not in run.stdout
    _fleet_reports_escape(run.report_dir)


def _fleet_reports_escape(d: Path) -> None:
    page = (d / "fleet.html").read_text()
    for raw in ("<i>&'x", "<script>alert(1)</script>"):
        assert raw not in page
    rows = list(csv.reader(io.StringIO((d / "fleet.csv").read_text(), newline="")))
    assert all(cell[:1] not in ("=", "+", "-", "@", "\t", "\r") for row in rows for cell in row)
    assert "<i>" not in (d / "fleet.md").read_text()


@pytest.mark.netns
def test_names_arrive_intact_in_every_report_via_netns(hostile, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile.node.del_rdma_rule()        # net.rdma_rule then fails and lists every rule
    prof = two_rail_profile(tmp_path, rails=2)
    run = run_checks(tmp_path / "rep", "--nodes", f"netns://{hostile.netns}", "--profile", str(prof),
                     "--check", "net.rdma_rule", "--check", "net.rail_count")
    assert run.rc == 1, run.stdout + run.stderr
    _reports_carry_names(run, hostile.netns)
    node = run.results["nodes"][0]
    assert node["identity"]["os"] == OS_NAME
    _no_canaries(tmp_path)


@pytest.mark.netns
def test_names_arrive_intact_in_every_report_via_ssh(hostile, sshd_lab, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sshd_lab.start(hostile.node)
    hostile.node.del_rdma_rule()
    prof = two_rail_profile(tmp_path, rails=2)
    run = run_checks(tmp_path / "rep", "--nodes", "ssh://hostile", "--ssh-config", str(sshd_lab.ssh_config_path),
                     "--connect-timeout", "5", "--profile", str(prof), "--check", "net.rdma_rule")
    assert run.rc == 1, run.stdout + run.stderr
    _reports_carry_names(run, "hostile")
    _no_canaries(tmp_path)


@pytest.mark.netns
def test_hostile_node_name_from_a_snapshot_directory(hostile, tmp_path):
    """snapshot://DIR names the node after DIR: a formula, markup and quotes reach every report."""
    target = NetnsTarget(node="hostile", url="netns://x", netns=hostile.netns)
    _, _, snap = _collect(target)
    name = "=HYPERLINK(\"x\")<b>&'q"
    path = snap.save(tmp_path / name)
    prof = two_rail_profile(tmp_path, rails=2)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{path}", "--profile", str(prof),
                     "--check", "net.rail_count")
    assert run.rc == 0, run.stdout + run.stderr
    assert [n["name"] for n in run.results["nodes"]] == [name]
    assert ET.parse(run.report_dir / "junit.xml").getroot().find("testsuite").get("name") == name
    assert name in run.stdout
    rows = list(csv.reader(io.StringIO((run.report_dir / "fleet.csv").read_text(), newline="")))
    assert rows[1][0] == "'" + name
    assert "<b>&" not in (run.report_dir / "fleet.html").read_text()


# -- every report writer on a results document whose strings are all hostile (no root needed) ----------

EVIL = ("=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@A1", "\tTAB", "\rCR", "<script>alert(1)</script>",
        "a]]>b", "&amp;", "\"q\" 'q'", "x\x1by\x07", "\u202eevil", "ñ", "back\\slash", "new\nline", "|pipe|*md*")


def _evil_doc() -> dict:
    recs = []
    for i, s in enumerate(EVIL):
        recs.append({"node": s, "check": f"net.{i}", "title": s, "area": "net", "rail": s, "netdev": s,
                     "outcome": ("fail", "error", "warn", "waived", "pass")[i % 5], "summary": s, "expected": s,
                     "found": s, "fix": s, "remediation": {"status": s, "actions": [s], "journal": s},
                     "waiver": {"check": s, "nodes": s, "rail": s, "owner": s, "reason": s, "expires": "2099-01-01",
                                "active": True} if i % 5 == 3 else None,
                     "test_id": s, "seconds": 0.1, "evidence": {}})
    return {"schema": "rdma-preflight/results", "version": 1, "tool": {"name": "rdma-preflight", "version": "0"},
            "run": {"started": None, "finished": None, "partial": False, "remediate": "off", "example_fleet": False,
                    "exit_code": 1},
            "summary": {}, "results": recs,
            "nodes": [{"name": s, "target": s, "profile": s, "labels": {}, "status": "error" if i % 2 else "ok",
                       "error": s if i % 2 else None, "collect_seconds": 1.0, "round_trips": 1, "identity": None}
                      for i, s in enumerate(EVIL)]}


def test_junit_writer_escapes_and_round_trips(tmp_path):
    doc = _evil_doc()
    root = ET.parse(junit.write(doc, tmp_path / "junit.xml")).getroot()   # well-formed XML
    names = [s.get("name") for s in root.findall("testsuite")]
    # XML 1.0 cannot carry C0 controls (junit-xml drops them) and normalises blanks in attributes
    xml_safe = [s.replace("\x1b", "").replace("\x07", "").translate({9: 32, 10: 32, 13: 32}) for s in EVIL]
    assert names == xml_safe
    texts = " ".join(e.text or "" for e in root.iter() if e.text)
    assert "<script>alert(1)</script>" in texts and "a]]>b" in texts


def test_fleet_writers_escape_html_markdown_csv_and_prometheus(tmp_path):
    doc = _evil_doc()
    fleet.render_fleet(doc, tmp_path)
    page = (tmp_path / "fleet.html").read_text()
    assert "<script>alert" not in page and "</script>alert" not in page
    assert page.count("<script") == 2            # the data block and the page's own script only
    assert "\u202e" not in page.split("<script", 1)[0] or "&#" in page
    rows = list(csv.reader(io.StringIO((tmp_path / "fleet.csv").read_bytes().decode(), newline="")))
    assert len(rows) == len(EVIL) + 1
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
    assert rows[1][0] == "'=cmd|' /C calc'!A0" and rows[2][0] == "'+SUM(1)" and rows[4][0] == "'@A1"
    md = (tmp_path / "fleet.md").read_text()
    assert "<script>" not in md and "\\|pipe\\|\\*md\\*" in md
    prom = (tmp_path / "rdma_preflight.prom").read_bytes().decode()
    for line in prom.split("\n"):       # the exposition format ends lines with LF only
        if line and not line.startswith("#"):
            assert "\n" not in line and line.rsplit(" ", 1)[1].replace(".", "").isdigit(), line
    assert 'node="new\\nline"' in prom and 'node="\\"q\\" \'q\'"' in prom and 'node="back\\\\slash"' in prom
    data = json.loads((tmp_path / "fleet.json").read_text())
    assert [n["name"] for n in data["nodes"]] == list(EVIL)


def test_terminal_safe_escapes_controls_only():
    assert terminal_safe("a\x1b[2Jb\u202ec\td\ne ñ <x>") == "a\\x1b[2Jb\\u202ec\td\ne ñ <x>"
