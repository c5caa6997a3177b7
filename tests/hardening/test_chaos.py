"""The chaos run (issue 9): 20 netns test hosts over real SSH, 9 of them broken on purpose.

``tests/hardening/chaos.py`` builds the fleet: 9 healthy nodes (passing, or with one real drift
each), 2 hostile ones (names and file contents full of shell metacharacters, markup, formulas,
unicode and escapes), and 9 faults: unreachable (port refused, a ProxyCommand whose connect
hangs, over ssh and over paramiko), hanging mid-collection (a stalled session, a vendor tool
that sleeps), and garbage (random bytes, a stream cut inside a record header, a replayed
stream, output without end).

The whole fleet goes once through the real CLI (``python3 -m rdma_preflight run``) with tight
timeouts; the 11 intact nodes also go through a reference run of their own. Asserted: the run
ends within its timeout budget and no node exceeds its connect + collect allowance; every node
is in results.json; every intact node's outcome per check and rail equals the reference run's
(results lost: 0); every broken node is an ``error`` whose reason names its fault class;
hostile nodes come out right and every report stays well-formed; no process the harness started
(ssh, sh, socat ProxyCommands) outlives it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hardening.chaos import (CANARIES, HOSTILE_IFNAMES, HOSTILE_LABELS, HOSTILE_RAILS, OS_NAME, ROOT, RULE_BASE,
                                   ChaosFleet, FleetRun, Timing, lost_results, plan, run_fleet)
from tests.lab.sshd import missing_tools

pytestmark = pytest.mark.netns

TIMING = Timing(connect=3, collect=8, concurrency=8)
NODES = 20
# what a broken node's reason says, by fault class, and what it adds by fault kind
CLASS_REASON = {
    "unreachable": r"^(ssh failed|paramiko): unreachable: ",
    "timeout": rf"^timed out after {TIMING.collect:g}s ",
    "garbled": r"^garbled collector stream: ",
}
KIND_REASON = {
    "refused": r"Connection refused",
    "blackhole": r"banner exchange|no SSH session within",
    "frozen": r"no SSH session within",
    "stall": r"timed out",
    "tool-hang": r"timed out",
    "noise": r"not a collector stream \(starts with b'<script>",
    "truncated": r"stream truncated \(no end record\)",
    "replayed": r"nonce mismatch",
    # the size cap or the collect timeout, whichever the link's speed brings first: garbage either way
    "flood": rf"more than {64 * 1024 * 1024} bytes|output went on after the end record",
}
HOSTILE_HTML = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b>&amp;<i>")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Chaos:
    fleet: ChaosFleet
    run: FleetRun
    reference: FleetRun


@pytest.fixture(scope="module")
def chaos(lab_supported, tmp_path_factory) -> Chaos:
    missing = missing_tools()
    if missing:
        pytest.skip(f"the chaos run needs {missing} (Debian: openssh-server, openssh-client, socat)")
    work = tmp_path_factory.mktemp("chaos")
    with ChaosFleet(NODES) as fleet:
        reference = run_fleet(fleet, fleet.intact, work / "reference", TIMING)
        run = run_fleet(fleet, fleet.nodes, work / "chaos", TIMING)
        yield Chaos(fleet, run, reference)


def _why(run: FleetRun) -> str:
    return f"exit {run.rc}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-3000:]}"


def test_the_run_ends_within_its_timeout_budget(chaos):
    run = chaos.run
    assert (run.report_dir / "results.json").exists(), _why(run)
    assert run.wall < run.budget, f"{run.wall:.1f}s >= budget {run.budget:.1f}s\n" + _why(run)
    assert run.rc == 1, _why(run)                 # drifted nodes fail checks; that outranks errors
    doc = run.doc
    assert doc["run"]["partial"] is False and doc["run"]["exit_code"] == 1
    slow = {n["name"]: n["collect_seconds"] for n in doc["nodes"]
            if (n["collect_seconds"] or 0) > TIMING.node_bound() + 1.0}
    assert not slow, f"nodes over their {TIMING.node_bound():g}s connect + collect allowance: {slow}"


def test_every_node_is_in_the_results(chaos):
    doc = chaos.run.doc
    assert [n["name"] for n in doc["nodes"]] == [n.name for n in chaos.fleet.nodes]
    assert {r["node"] for r in doc["results"]} == {n.name for n in chaos.fleet.nodes}
    suites = [s.get("name") for s in ET.parse(chaos.run.report_dir / "junit.xml").getroot().iter("testsuite")]
    assert sorted(suites) == sorted(n.name for n in chaos.fleet.nodes)


def test_no_result_of_an_intact_node_is_lost(chaos):
    ref, run = chaos.reference, chaos.run
    intact = chaos.fleet.intact
    assert len(intact) == 11
    assert [ref.node_entry(n.name) for n in intact if ref.node_entry(n.name)["status"] != "ok"] == [], _why(ref)
    assert ref.rc == 1 and ref.wall < ref.budget, _why(ref)
    for n in intact:
        entry = run.node_entry(n.name)
        assert entry["status"] == "ok" and entry["error"] is None and entry["round_trips"] == 1, entry
        assert ref.outcomes(n.name), n.name
    assert lost_results(run, ref, intact) == []
    for n in intact:                              # and the outcomes are the right ones
        outcomes = run.outcomes(n.name)
        assert {k for k in n.expect_fail if outcomes.get(k) != "fail"} == set(), (n.name, outcomes)
        assert "error" not in outcomes.values(), (n.name, outcomes)
        net_fails = {k for k, v in outcomes.items() if k[0].startswith("net.") and v == "fail"}
        assert net_fails == set(n.expect_fail), (n.name, net_fails)


def test_every_broken_node_is_an_error_with_its_fault_class(chaos):
    run = chaos.run
    broken = chaos.fleet.broken
    assert {n.fault_class for n in broken} == {"unreachable", "timeout", "garbled"}
    junit = ET.parse(run.report_dir / "junit.xml").getroot()
    for n in broken:
        entry = run.node_entry(n.name)
        reason = entry["error"] or ""
        assert entry["status"] == "error", entry
        assert re.search(CLASS_REASON[n.fault_class], reason), (n.name, n.fault_class, reason)
        assert re.search(KIND_REASON[n.kind], reason), (n.name, n.kind, reason)
        assert entry["identity"] is None
        outcomes = set(run.outcomes(n.name).values())
        assert outcomes == {"error"}, (n.name, outcomes)
        suite = next(s for s in junit.iter("testsuite") if s.get("name") == n.name)
        assert suite.findall(".//failure") == [] and suite.findall(".//error"), n.name


def test_hostile_nodes_are_parsed_and_reported_right(chaos):
    run = chaos.run
    rails = next(n for n in chaos.fleet.nodes if n.kind == "hostile-rails")
    names = next(n for n in chaos.fleet.nodes if n.kind == "hostile-names")
    for n in (rails, names):
        entry = run.node_entry(n.name)
        assert entry["status"] == "ok" and entry["identity"]["os"] == OS_NAME, entry
    assert run.node_entry(rails.name)["labels"] == HOSTILE_LABELS
    # rail NICs found by their formula-looking names; the drifted one fails, and says which
    mtu = {r["rail"]: r for r in run.doc["results"] if r["node"] == rails.name and r["check"] == "net.mtu"}
    assert {k: (v["netdev"], v["outcome"]) for k, v in mtu.items()} == {
        "rail1": (HOSTILE_RAILS[0], "pass"), "rail2": (HOSTILE_RAILS[1], "fail")}
    assert mtu["rail2"]["test_id"].endswith(f"[{rails.name}:rail2:{HOSTILE_RAILS[1]}]")
    # every hostile interface name arrives intact, through the policy rules that name it
    rule = next(r for r in run.doc["results"] if r["node"] == names.name and r["check"] == "net.rdma_rule")
    assert rule["outcome"] == "fail"
    for i, name in enumerate(HOSTILE_IFNAMES):
        assert f"{RULE_BASE + i}: from all iif {name} lookup {RULE_BASE + i}" in rule["found"], name
    # the terminal summary escapes control characters (the harness's stdout)
    assert "\x1b[31m" not in run.stdout and "\u202e" not in run.stdout
    # nothing a name or a file said was executed: on the nodes (sessions start in root's home),
    # by the harness (its working directory is the checkout) or anywhere in between
    ran = [str(d / c) for d in (Path.home(), Path("/"), ROOT, run.report_dir) for c in CANARIES if (d / c).exists()]
    assert ran == []


def test_every_report_stays_well_formed(chaos):
    d = chaos.run.report_dir
    json.loads((d / "results.json").read_text())
    root = ET.parse(d / "junit.xml").getroot()             # well-formed XML despite every name
    failures = " ".join(f.text or "" for f in root.iter("failure"))
    assert "iif <b>&amp;<i> lookup" in failures and "iif $(>rpfK) lookup" in failures
    errors = " ".join((e.get("message") or "") + (e.text or "") for e in root.iter("error"))
    assert "<script>alert(1)</script>" in errors        # the noise node's reason, as text
    page = (d / "fleet.html").read_text()
    for raw in HOSTILE_HTML + (OS_NAME,):
        assert raw not in page, raw
    rows = list(csv.reader(io.StringIO((d / "fleet.csv").read_text(), newline="")))
    assert len(rows) > 1
    bad = [cell for row in rows for cell in row if cell[:1] in FORMULA_START]
    assert bad == [], bad[:5]
    assert any(HOSTILE_RAILS[1] in cell for row in rows for cell in row)   # there, neutralised
    md = (d / "fleet.md").read_text()
    assert "<script>" not in md and "<img" not in md


def test_no_process_outlives_the_run(chaos):
    assert chaos.run.leftovers == [], chaos.run.leftovers
    assert chaos.reference.leftovers == [], chaos.reference.leftovers


def test_an_endless_node_costs_bounded_memory(chaos):
    """The flood node sends output without end: the harness never held more than the 64 MiB
    cap of it (it used to buffer everything until the collect timeout: ~1 GB in 8 s)."""
    assert chaos.run.peak_rss_mb < 400, chaos.run.peak_rss_mb


def test_the_fleet_is_gone_after_cleanup(lab_supported, tmp_path):
    """Build and tear down a small fleet, interrupted mid-build: nothing of it remains."""
    from pyroute2 import netns

    fleet = ChaosFleet(plan(6, hostile=2))
    calls = {"n": 0}
    real = fleet._serve

    def serve_then_interrupt(node, bindir):       # Ctrl-C while the last node is being served
        real(node, bindir)
        calls["n"] += 1
        if calls["n"] == len(fleet.plan):
            raise KeyboardInterrupt
    fleet._serve = serve_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        with fleet:
            pass
    assert [ns for ns in netns.listnetns() if ns.startswith(fleet.lab.prefix)] == []
    assert not fleet.workdir.exists()
    assert calls["n"] == len(fleet.plan)
    assert not list(Path("/etc/netns").glob(f"{fleet.lab.prefix}*")) if Path("/etc/netns").exists() else True


# -- the library fixes the chaos run led to, one by one (no namespaces needed) ------------------------------

def test_a_transport_stops_reading_endless_output_and_keeps_what_came_before_a_timeout():
    from rdma_preflight.targets.base import OutputTooLarge, TimedOut
    from rdma_preflight.targets.local import run_subprocess

    t0 = time.monotonic()
    with pytest.raises(OutputTooLarge, match="printed more than 1000000 bytes on stdout"):
        run_subprocess("n", ["yes", "flood"], None, 30, max_output=1_000_000)
    assert time.monotonic() - t0 < 10
    with pytest.raises(TimedOut) as exc:
        run_subprocess("n", ["sh", "-c", "echo first; exec sleep 30"], None, 1)
    assert exc.value.reason == "timed out after 1s running sh" and exc.value.partial == b"first\n"
    big = b"x" * 3_000_000                    # stdin larger than a pipe buffer still goes through
    assert run_subprocess("n", ["cat"], big, 30).stdout == big


def test_a_stream_cut_inside_a_record_header_reads_as_truncated():
    from rdma_preflight.collect.stream import StreamError, bytes_after_end, decode_stream

    nonce = "RPF" + "1" * 32
    head = f"RPF-STREAM 1 {nonce}\n\n{nonce} cmd ip_link\n[]\n{nonce} r".encode()
    with pytest.raises(StreamError, match="stream truncated"):
        decode_stream(head, nonce, "n")
    done = f"RPF-STREAM 1 {nonce}\n\n{nonce} end all\n".encode()
    assert bytes_after_end(head, nonce) is None
    assert bytes_after_end(done, nonce) == 0 and bytes_after_end(done + b"y\ny\n", nonce) == 3


@pytest.mark.parametrize("stderr, reason", [
    (b"2026/11/29 22:47:01 socat[13501] E connect(5, AF=2 127.0.0.1:22, 16): Connection refused\n"
     b"kex_exchange_identification: Connection closed by remote host\r\nConnection closed by UNKNOWN port 65535\r\n",
     "unreachable: socat: connect(5, AF=2 127.0.0.1:22, 16): Connection refused"),
    (b"Connection timed out during banner exchange\r\nConnection to UNKNOWN port 65535 timed out\r\n",
     "unreachable: Connection timed out during banner exchange (connect timeout 3s)"),
    (b"ssh: Could not resolve hostname gpu-9: Name or service not known\r\n",
     "unreachable: ssh: Could not resolve hostname gpu-9: Name or service not known"),
    (b"Warning: Identity file /k/id not accessible: No such file or directory.\n"
     b"root@n: Permission denied (publickey).\n",
     "root@n: Permission denied (publickey)."),       # the node answered: not "unreachable"
    (b"", "connection failed (exit 255)"),
])
def test_ssh_failures_name_the_line_that_says_why(stderr, reason):
    from rdma_preflight.targets.ssh import _ssh_failure

    assert _ssh_failure(stderr, 3) == reason
