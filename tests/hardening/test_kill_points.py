"""Remediation safety (issue 9): a kill at any step boundary between journal and apply leaves
a journal from which ``rollback`` restores the prior state exactly.

A real lab node (a network namespace, tests/lab) with five drifts at once: rail1 MTU 1500;
rail2 with a wrong primary address in front of the right one (its fix is one action of
three netlink commands: deleting the primary takes the secondary and the rail's routes with
it, so the right address is re-added and the policy route put back); rail3 admin down (the
kernel empties its policy table: a second plan on the same rail); rail4's rule pointing at a
wrong table (one plan of two actions, delete + add); the ``not to <RDMA CIDR> lookup main``
rule missing. One ``--remediate apply`` run journals and applies 6 plans, 7 actions, 9
netlink commands.

The run is the real harness (``pytest checks/test_net.py --remediate apply``) in a child
process that SIGKILLs itself at boundary N (tests/hardening/killpoints.py: wrappers from
the outside, no hook in production code). A kill-free run enumerates the boundaries; then
the run is killed at every one of them, each time on the same drifted node, and: the
journal on disk parses (atomic write; at a torn write the temp file does not, the journal
does), ``rdma-preflight rollback`` gives back the drifted namespace exactly (links with
MTU/operstate/admin state, addresses in kernel order, every rule, every route of every
table, IPv4 and IPv6), a second rollback has nothing to do, and the node lock is free.
Without a journal (a kill before it exists) nothing may have changed. Then rollback itself
is killed at each of its boundaries and run again. The restoring rollback is a fresh
``python3 -m rdma_preflight rollback`` process after the kill-free runs and the first kill
point of each kind; after the others it is the same ``rdma_preflight.cli.main`` in a child
of the fork server (no interpreter start-up).

Figures (asserted below, so they stay true): 66 kill points in apply, 10 boundary kinds
(lock, journal.create, journal.partial, journal.rename, journal.record, action.apply,
command -- 3 of them inside one action --, journal.mark, recheck, end); 39 kill points in
rollback, 6 kinds (rollback.undo, command, journal.mark, journal.partial, journal.rename,
end). 105 kill points, 11 distinct kinds. Cases run in parallel lanes (one lab node and one
fork server each; RPF_KILL_LANES, default 2).

Found and fixed: rolling back an address change gave the addresses back in the wrong order
(the removed primary came back as a secondary, so the subnet route's source address and
what the node sends from changed) -- see SetAddresses.undo.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from rdma_preflight.netlink import open_netlink
from rdma_preflight.remediation.actions import action_from_json
from rdma_preflight.remediation.executor import executor_for
from rdma_preflight.remediation.journal import Journal
from rdma_preflight.remediation.lock import LOCK_DIR_ENV, LockBusy, acquire, release
from rdma_preflight.targets.resolve import NodeSpec, make_target, parse_target
from tests.hardening.killpoints import KINDS, REPO, ForkServer, ns_state, read_log, settled_state, state_diff
from tests.lab.addressing import SHARED, spare_address
from tests.lab.hosts import Lab, LabNode
from tests.lab.nsutil import sysctl
from tests.net.netlab import write_profile

pytestmark = [pytest.mark.netns, pytest.mark.slow]

APPLY_KILL_POINTS = 66
ROLLBACK_KILL_POINTS = 39
APPLY_KINDS = {"lock", "journal.create", "journal.partial", "journal.rename", "journal.record", "action.apply",
               "command", "journal.mark", "recheck", "end"}
ROLLBACK_KINDS = {"rollback.undo", "command", "journal.mark", "journal.partial", "journal.rename", "end"}
CHECKS = ("net.rail_count", "net.rail_up", "net.mtu", "net.address", "net.policy_rule", "net.policy_table",
          "net.rdma_rule")
REMEDIATED = {("net.mtu", "rail1"), ("net.address", "rail2"), ("net.rail_up", "rail3"),
              ("net.policy_table", "rail3"), ("net.policy_rule", "rail4"), ("net.rdma_rule", None)}
LANES = max(1, int(os.environ.get("RPF_KILL_LANES", "2")))


# ---- the drifted node ----------------------------------------------------------------------

def wrong_primary_address(node: LabNode, rail_index: int) -> str:
    """Put a wrong in-subnet address in front of the rail's right one (which becomes the
    secondary) and the rail's policy route back (the kernel drops it with the last address)."""
    rail = node.rail(rail_index)
    wrong = spare_address(node.design, rail, node.index)
    plen = rail.address.network.prefixlen
    ipr = open_netlink(node.netns)
    try:
        idx = ipr.link_lookup(ifname=rail.ifname)[0]
        ipr.addr("del", index=idx, address=str(rail.address.ip), prefixlen=plen)
        ipr.addr("add", index=idx, address=str(wrong.ip), prefixlen=plen)
        ipr.addr("add", index=idx, address=str(rail.address.ip), prefixlen=plen)
        ipr.route("add", dst="0.0.0.0/0", gateway=str(rail.gateway), oif=idx, table=rail.table)
    finally:
        ipr.close()
    return str(wrong)


def build_drifted(lab: Lab, profile_path: Path) -> LabNode:
    node = lab.add_node("node-kill", 1, SHARED, rails=4)
    for conf in ["all", "default", node.mgmt_ifname] + [r.ifname for r in node.rails]:
        # the kernel default: deleting a primary address takes its secondaries with it
        sysctl(node.netns, f"net.ipv4.conf.{conf}.promote_secondaries", "0")
        # no IPv6 DAD: a rail brought up has its final link-local state at once
        sysctl(node.netns, f"net.ipv6.conf.{conf}.accept_dad", "0")
    write_profile(profile_path, node, addresses=True)
    profile_path.write_text(profile_path.read_text() + "expected_rails: 4\n")
    node.set_mtu(1, 1500)
    wrong_primary_address(node, 2)
    node.set_down(3)
    node.rule_to_wrong_table(4)
    node.del_rdma_rule()
    return node


class Lane:
    """One drifted lab node (its own Lab) and one fork server. Built and rebuilt only from the
    main thread (pyroute2's netns= path forks); cases run in a worker thread."""

    def __init__(self, number: int, tmp: Path, locks: Path):
        self.number = number
        self.tmp = tmp / f"lane{number}"
        self.tmp.mkdir()
        self.profile = self.tmp / "profile.yaml"
        self.server = ForkServer({LOCK_DIR_ENV: str(locks)})
        self.lab: Lab | None = None
        self.node: LabNode | None = None
        self.drifted: dict = {}
        self.rebuilds = 0

    @property
    def url(self) -> str:
        return f"netns://{self.node.netns}"

    def build(self) -> None:
        if self.lab is not None:
            self.lab.cleanup()
            self.rebuilds += 1
        self.lab = Lab()
        self.lab.start()
        self.node = build_drifted(self.lab, self.profile)
        self.drifted = settled_state(self.node.netns, stable_for=1.2)

    def is_drifted(self) -> bool:
        return settled_state(self.node.netns, self.drifted) == self.drifted

    def close(self) -> None:
        self.server.close()
        if self.lab is not None:
            self.lab.cleanup()

    def apply_args(self, work: Path) -> list[str]:
        args = ["checks/test_net.py", "--nodes", self.url, "--profile", str(self.profile),
                "--report-dir", str(work / "report"), "--journal-dir", str(work / "journal"),
                "--remediate", "apply", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                "--tb=short", "--no-header", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        return args + [a for c in CHECKS for a in ("--check", c)]

    def run(self, op: str, args: list[str], work: Path, kill_at: int | None) -> list[tuple[int, str, str]]:
        """Run the harness (op "pytest") or the CLI (op "cli") in a forked child; its boundaries."""
        log, out = work / f"{op}.log", work / f"{op}.out"
        log.unlink(missing_ok=True)
        rc, sig = self.server.run(op, args, log=log, out=out, kill_at=kill_at)
        text = out.read_text(errors="replace")
        if kill_at is None:
            assert sig is None and rc in (0, 1), f"{op} rc={rc} signal={sig}\n{text[-3000:]}"
        else:
            assert sig == signal.SIGKILL, f"{op} not killed at {kill_at}: rc={rc} signal={sig}\n{text[-3000:]}"
        return read_log(log)

    def lock_is_free(self, node_name: str) -> bool:
        try:
            held = acquire(node_name, self.url)
        except LockBusy:
            return False
        release(held)
        return True


@dataclass
class Rig:
    tmp: Path
    lanes: list[Lane]

    def run_cases(self, cases: list, case_fn) -> dict[str, list[str]]:
        """``case_fn(lane, case) -> (label, problems)`` for every case, LANES at a time; a lane
        whose node a case left changed is rebuilt (main thread) before its next case."""
        failures: dict[str, list[str]] = {}
        with ThreadPoolExecutor(len(self.lanes)) as pool:
            for start in range(0, len(cases), len(self.lanes)):
                for lane in self.lanes:
                    if not lane.is_drifted():
                        lane.build()
                batch = zip(self.lanes, cases[start:start + len(self.lanes)])
                for label, problems in pool.map(lambda lc: case_fn(*lc), list(batch)):
                    if problems:
                        failures[label] = problems
        return failures


def cli_rollback(journal: Path) -> subprocess.CompletedProcess[str]:
    """``python3 -m rdma_preflight rollback JOURNAL``, a fresh process."""
    return subprocess.run([sys.executable, "-m", "rdma_preflight", "rollback", str(journal)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rig(lab_supported, tmp_path_factory) -> Rig:
    tmp = tmp_path_factory.mktemp("kill-points")
    locks = tmp / "locks"
    locks.mkdir()
    saved = os.environ.get(LOCK_DIR_ENV)
    os.environ[LOCK_DIR_ENV] = str(locks)
    lanes: list[Lane] = []
    try:
        lanes = [Lane(n, tmp, locks) for n in range(LANES)]
        for lane in lanes:
            lane.build()
        yield Rig(tmp, lanes)
    finally:
        for lane in lanes:
            lane.close()
        if saved is None:
            os.environ.pop(LOCK_DIR_ENV, None)
        else:
            os.environ[LOCK_DIR_ENV] = saved


# ---- what every case checks ----------------------------------------------------------------

def journals(work: Path) -> list[Path]:
    return sorted((work / "journal").glob("*.json"))


def check_journal_files(work: Path, kind: str) -> Journal | None:
    """At most one journal, and it parses; at a torn write its temp file does not."""
    found = journals(work)
    assert len(found) <= 1, found
    if kind == "journal.partial":
        tmps = sorted((work / "journal").glob("*.json.tmp"))
        assert tmps, "the kill was meant to leave a half-written temp file"
        with pytest.raises(ValueError):
            json.loads(tmps[0].read_text())
    if not found:
        return None
    json.loads(found[0].read_text())
    return Journal.load(found[0])


def rollback(lane: Lane, journal: Path, fresh: bool, work: Path) -> tuple[int | None, str]:
    """``rdma-preflight rollback JOURNAL`` in its own process: a fresh ``python3 -m
    rdma_preflight`` when ``fresh``, else a child of the lane's fork server running the same
    ``rdma_preflight.cli.main`` (saves ~0.5 s of interpreter start and imports)."""
    if fresh:
        done = cli_rollback(journal)
        return done.returncode, done.stdout + done.stderr
    work.mkdir(exist_ok=True)
    rc, _ = lane.server.run("cli", ["rollback", str(journal)], log=work / "cli.log", out=work / "cli.out")
    return rc, (work / "cli.out").read_text(errors="replace")


def restore_and_verify(lane: Lane, journal: Journal | None, node_name: str, fresh: bool = True) -> list[str]:
    """Rollback gives the drifted state exactly; a second rollback has nothing to do; the
    lock is free. Returns the problems found."""
    problems = []
    if journal is None:
        state = settled_state(lane.node.netns, lane.drifted)
        if state != lane.drifted:
            problems.append(f"no journal, yet the node changed: {state_diff(lane.drifted, state)}")
    else:
        rc, out = rollback(lane, journal.path, fresh, journal.path.parent / "first")
        if rc != 0:
            problems.append(f"rollback exited {rc}: {out.strip()}")
        state = settled_state(lane.node.netns, lane.drifted)
        if state != lane.drifted:
            problems.append(f"rollback did not restore the prior state: {state_diff(lane.drifted, state)}")
        rc, out = rollback(lane, journal.path, False, journal.path.parent / "again")
        if rc != 0 or "nothing to roll back" not in out:
            problems.append(f"second rollback was not a no-op: rc={rc} {out}")
        if ns_state(lane.node.netns) != state:
            problems.append("the second rollback changed the node")
        left = [e["seq"] for e in Journal.load(journal.path).entries if e["status"] not in ("undone", "unchanged")]
        if left:
            problems.append(f"entries not marked undone after rollback: {left}")
    if not lane.lock_is_free(node_name):
        problems.append("the node lock is still held")
    return problems


def first_of_each_kind(points: list) -> set[int]:
    """The kill points whose rollback runs as a fresh ``python3 -m rdma_preflight`` process."""
    firsts: dict[str, int] = {}
    for index, kind, _ in points:
        firsts.setdefault(kind, index)
    return set(firsts.values())


def landed(seen: list, index: int, kind: str) -> list[str]:
    if seen and seen[-1][:2] == (index, kind):
        return []
    return [f"the kill landed at {seen[-1] if seen else 'no boundary'}, not at #{index} {kind}"]


# ---- the tests -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clean_run(rig: Rig) -> dict:
    """The kill-free run on lane 0: its boundaries and journal; then rolled back."""
    lane = rig.lanes[0]
    work = rig.tmp / "clean"
    work.mkdir()
    points = lane.run("pytest", lane.apply_args(work), work, None)
    results = json.loads((work / "report" / "results.json").read_text())["results"]
    remediated = {(r["check"], r["rail"]) for r in results if r["outcome"] == "remediated"}
    assert remediated == REMEDIATED, [(r["check"], r["rail"], r["outcome"], r.get("remediation")) for r in results]
    [path] = journals(work)
    doc = json.loads(path.read_text())
    assert doc["node"] == lane.node.netns
    problems = restore_and_verify(lane, Journal.load(path), doc["node"])
    assert problems == [], problems
    return {"points": points, "journal_doc": doc}


def test_clean_run_has_a_multi_command_action_and_rolls_back_exactly(clean_run: dict) -> None:
    entries = clean_run["journal_doc"]["entries"]
    assert [e["status"] for e in entries] == ["applied"] * 7
    assert len({(e["check"], e["subject"]) for e in entries}) == 6       # 6 plans, 7 actions
    kinds = [k for _, k, _ in clean_run["points"]]
    per_action = [kinds[i + 1:kinds.index("journal.mark", i)].count("command")
                  for i, k in enumerate(kinds) if k == "action.apply"]
    assert per_action == [1, 1, 3, 1, 1, 1, 1], "the address fix is one action of three netlink commands"
    assert set(kinds) == APPLY_KINDS and len(kinds) == APPLY_KILL_POINTS, clean_run["points"]


def test_kill_at_every_apply_boundary_then_rollback_restores_exactly(rig: Rig, clean_run: dict) -> None:
    points = clean_run["points"]
    first_record = next(i for i, k, _ in points if k == "journal.record")
    fresh = first_of_each_kind(points)

    def case(lane: Lane, point: tuple[int, str, str]) -> tuple[str, list[str]]:
        index, kind, detail = point
        label = f"#{index} {kind} {detail}"
        work = lane.tmp / f"apply-{index}"
        work.mkdir()
        problems = landed(lane.run("pytest", lane.apply_args(work), work, index), index, kind)
        try:
            journal = check_journal_files(work, kind)
        except Exception as exc:
            return label, problems + [f"journal files after the kill: {exc!r}"]
        if index <= first_record and journal is not None and journal.entries:
            problems.append("entries journalled before the first record")
        problems += restore_and_verify(lane, journal, lane.node.netns, index in fresh)
        if not problems:
            shutil.rmtree(work)
        return label, problems

    failures = rig.run_cases(points, case)
    assert failures == {}, json.dumps(failures, indent=1, default=str)
    assert sum(lane.rebuilds for lane in rig.lanes) == 0


def reapply(lane: Lane, doc: dict) -> None:
    """Bring the drifted node to the applied state again: the journal's actions in order,
    through the production executor (each action is idempotent and re-reads the node)."""
    ex = executor_for(make_target(NodeSpec(doc["node"], parse_target(lane.url))))
    try:
        for e in doc["entries"]:
            action_from_json(e["action"]).apply(ex)
    finally:
        ex.close()


def applied_journal(lane: Lane, doc: dict, work: Path) -> Path:
    """The clean run's journal (every entry applied) for ``lane``'s node, the node applied."""
    reapply(lane, doc)
    (work / "journal").mkdir(parents=True)
    path = work / "journal" / "applied.json"
    path.write_text(json.dumps({**doc, "node": lane.node.netns, "target": lane.url}, indent=1))
    return path


def test_kill_during_rollback_then_rollback_again_restores_exactly(rig: Rig, clean_run: dict) -> None:
    doc = clean_run["journal_doc"]
    lane = rig.lanes[0]
    path = applied_journal(lane, doc, rig.tmp / "rollback-clean")
    assert not lane.is_drifted()
    points = lane.run("cli", ["rollback", str(path)], path.parent, None)
    assert lane.is_drifted()
    assert {k for _, k, _ in points} == ROLLBACK_KINDS and len(points) == ROLLBACK_KILL_POINTS, points
    assert set(APPLY_KINDS | ROLLBACK_KINDS) <= set(KINDS) and len(APPLY_KINDS | ROLLBACK_KINDS) == 11
    fresh = first_of_each_kind(points)

    def case(lane: Lane, point: tuple[int, str, str]) -> tuple[str, list[str]]:
        index, kind, detail = point
        label = f"#{index} {kind} {detail}"
        work = lane.tmp / f"rollback-{index}"
        path = applied_journal(lane, doc, work)
        problems = landed(lane.run("cli", ["rollback", str(path)], path.parent, index), index, kind)
        try:
            journal = check_journal_files(work, kind)
        except Exception as exc:
            return label, problems + [f"journal files after the kill: {exc!r}"]
        problems += restore_and_verify(lane, journal, lane.node.netns, index in fresh)
        if not problems:
            shutil.rmtree(work)
        return label, problems

    failures = rig.run_cases(points, case)
    assert failures == {}, json.dumps(failures, indent=1, default=str)
