"""Remediation mechanism without a live node: planners over hand-made facts, the action
journal format, the refusal guard, the lock, and the argv executor against a recording
fake transport (all node data hand-made)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rdma_preflight.remediation import net as planners
from rdma_preflight.remediation.actions import (
    AddRoute,
    AddRule,
    DelRoute,
    DelRule,
    Plan,
    RunCommand,
    SetAddresses,
    SetLinkState,
    SetMtu,
    WriteFile,
    action_from_json,
)
from rdma_preflight.remediation.executor import ArgvExecutor, ExecError, RouteSpec, RuleSpec
from rdma_preflight.remediation.journal import Journal, JournalError, rollback_file
from rdma_preflight.remediation.lock import LockBusy, acquire, release
from rdma_preflight.remediation.runner import guard
from rdma_preflight.targets.base import CommandResult, Target
from tests.net.handmade import CIDR, base, profile, shared_node

P = profile("shared-subnet")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeTarget(Target):
    """Answers canned stdout per argv prefix and records every argv (hand-made)."""

    answers: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    remote: bool = True

    def _run(self, argv, stdin, timeout) -> CommandResult:
        self.calls.append(argv)
        for prefix, out in self.answers.items():
            if tuple(argv[:len(prefix)]) == prefix:
                return CommandResult(argv, 0, out.encode())
        return CommandResult(argv, 0, b"")

    def netlink_namespace(self):
        return None if self.remote else "some-netns"


def fake(**answers) -> FakeTarget:
    return FakeTarget(node="node-1", url="ssh://node-1", answers=answers)


# ---- planners --------------------------------------------------------------------------------

def test_planner_missing_rule_reuses_the_table_holding_the_default() -> None:
    ctx = shared_node().drop_rules(lambda r: r.src == "172.16.2.11/32").ctx(P)
    plan = planners.plan_policy_rule(ctx, ctx.rail("rail2"), None)
    assert plan.commands() == ["ip rule add from 172.16.2.11 lookup 152 priority 32765 protocol static"]
    assert plan.note.startswith("Table 152 already holds the rail's default route")


def test_planner_rdma_rule_after_rails_is_moved_to_2000() -> None:
    ctx = shared_node(rdma_priority=32765).ctx(P)
    assert planners.plan_rdma_rule(ctx, None, None).commands() == [
        f"ip rule del not to {CIDR} lookup main priority 32765",
        f"ip rule add not to {CIDR} lookup main priority 2000 protocol static"]


def test_planner_refusals_say_why() -> None:
    ctx = shared_node().addr("ens1f0np0", "172.16.1.250/24").ctx(P)
    assert "will not guess one" in planners.plan_address(ctx, ctx.rail("rail1"), None).refused
    dark = shared_node().link("ens1f0np0", lower_up=False).ctx(P)
    assert "no carrier" in planners.plan_rail_up(dark, dark.rail("rail1"), None).refused
    with_addr = profile("shared-subnet", rail_extra={1: {"address": "172.16.1.11/24"}})
    ctx = shared_node().addr("ens1f0np0", "172.16.1.250/24").ctx(with_addr)
    plan = planners.plan_address(ctx, ctx.rail("rail1"), None)
    assert plan.commands() == ["ip addr del 172.16.1.250/24 dev ens1f0np0"]


def test_planner_rdma_subnet_route_is_onlink_like_netplan() -> None:
    from tests.net.handmade import per_node_node

    n = per_node_node().drop_routes(lambda r: r.dst == CIDR).route(CIDR, "172.16.1.70", "ens1f0np0")
    ctx = n.ctx(profile("per-node-subnet"))
    assert planners.plan_rdma_subnet_route(ctx, None, None).commands() == [
        f"ip route del {CIDR} via 172.16.1.70 dev ens1f0np0",
        f"ip route add {CIDR} via 172.16.1.65 dev ens1f0np0 onlink proto static"]


# ---- guard -----------------------------------------------------------------------------------

def test_guard_refuses_unnamed_and_protected_interfaces() -> None:
    ctx = shared_node().link("eth9").ctx(P)
    local = FakeTarget(node="n", url="netns://n", remote=False)
    assert guard(ctx, Plan([SetMtu("ens1f0np0", 4200)]), local) == ""
    assert guard(ctx, Plan([SetMtu("eth9", 4200)]), local).startswith(
        "eth9 is not a rail NIC the profile names (rails: ens1f0np0, ens2f0np0)")
    mgmt_rail = profile("shared-subnet", rail_extra={1: {"nic": {"netdev": "mgmt0"}}})
    ctx = shared_node().ctx(mgmt_rail)
    assert guard(ctx, Plan([SetMtu("mgmt0", 4200)]), local) == (
        "mgmt0 is protected: it carries the node's primary default route (default via 10.0.0.1 dev mgmt0); "
        "rdma-preflight never changes it")


def test_guard_refuses_the_interface_this_ssh_session_uses() -> None:
    n = shared_node()
    ctx = n.ctx(P)
    target = fake(**{"printenv": "10.9.9.9 50000 172.16.2.11 22\n"})
    target.answers = {("printenv",): "10.9.9.9 50000 172.16.2.11 22\n"}
    reason = guard(ctx, Plan([SetMtu("ens2f0np0", 4200)]), target)
    assert reason == ("ens2f0np0 is protected: this session reaches the node through it (172.16.2.11); "
                      "rdma-preflight never changes it")
    # a second plan on the same node context asks the node no more
    asked = len(target.calls)
    assert guard(ctx, Plan([SetMtu("ens2f0np0", 4200)]), target) == reason
    assert len(target.calls) == asked == 1


# ---- actions and journal ---------------------------------------------------------------------

ACTIONS = [SetMtu("ens1f0np0", 4200), SetLinkState("ens1f0np0", True),
           SetAddresses("ens1f0np0", "172.16.1.11/24", ["172.16.1.250/24"]),
           AddRule(RuleSpec(2000, 254, dst=CIDR, invert=True, proto=4)),
           DelRule(RuleSpec(32765, 1151, src="172.16.1.11/32")),
           AddRoute(RouteSpec(151, "0.0.0.0/0", "172.16.1.1", "ens1f0np0")),
           DelRoute(RouteSpec(254, CIDR, "172.16.1.70", "ens1f0np0")),
           WriteFile("/sys/class/net/ens1f0np0/ecn/roce_np/cnp_dscp", "48\n"),
           RunCommand(["modprobe", "ib_ipoib"], ["modprobe", "-r", "ib_ipoib"])]


def test_actions_round_trip_through_json_and_describe_exact_commands() -> None:
    for a in ACTIONS:
        assert action_from_json(json.loads(json.dumps(a.to_json()))) == a
    assert [a.describe() for a in ACTIONS[:7]] == [
        "ip link set dev ens1f0np0 mtu 4200", "ip link set dev ens1f0np0 up",
        "ip addr del 172.16.1.250/24 dev ens1f0np0; ip addr add 172.16.1.11/24 dev ens1f0np0",
        f"ip rule add not to {CIDR} lookup main priority 2000 protocol static",
        "ip rule del from 172.16.1.11 lookup 1151 priority 32765",
        "ip route add default via 172.16.1.1 dev ens1f0np0 table 151 proto static",
        f"ip route del {CIDR} via 172.16.1.70 dev ens1f0np0"]
    assert ACTIONS[7].describe() == "sh -c 'echo 48 > /sys/class/net/ens1f0np0/ecn/roce_np/cnp_dscp'"


def test_journal_is_written_before_apply_and_rollback_dry_run_lists_undo(tmp_path: Path) -> None:
    j = Journal.create(tmp_path / "journal", "node-1", "ssh://node-1")
    [e1, e2] = j.record("net.mtu", "node-1:rail1:ens1f0np0", [SetMtu("ens1f0np0", 4200), SetMtu("ens2f0np0", 4200)],
                        [{"mtu": 1500}, {"mtu": 4200}])
    on_disk = json.loads(j.path.read_text())
    assert [e["status"] for e in on_disk["entries"]] == ["captured", "unchanged"]
    assert on_disk["entries"][0]["prior"] == {"mtu": 1500}
    j.mark(e1, "applied")
    assert json.loads(j.path.read_text())["entries"][0]["status"] == "applied"
    assert rollback_file(j.path, dry_run=True) == ["node-1: ip link set dev ens1f0np0 mtu 1500"]
    assert e2["status"] == "unchanged"


def test_rollback_refuses_what_is_not_a_journal(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(JournalError, match="not an rdma-preflight/journal v1 file"):
        rollback_file(bad)
    with pytest.raises(JournalError, match="no such journal"):
        rollback_file(tmp_path / "missing.json")


def test_rollback_cli_exit_code_2_on_a_bad_journal(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("not json")
    done = subprocess.run([sys.executable, "-m", "rdma_preflight.cli", "rollback", str(bad)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "not a readable journal" in done.stderr


def test_second_holder_of_a_node_lock_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDMA_PREFLIGHT_LOCK_DIR", str(tmp_path))
    lock = acquire("node-1", "ssh://node-1")
    try:
        code = ("from rdma_preflight.remediation.lock import acquire, LockBusy\n"
                "try:\n    acquire('node-1', 'ssh://node-1')\nexcept LockBusy as e:\n    print(e)\n")
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, RDMA_PREFLIGHT_LOCK_DIR=str(tmp_path))).stdout
        assert out.startswith(f"another rdma-preflight run is changing node-1 (pid {os.getpid()} since ")
    finally:
        release(lock)
    again = acquire("node-1", "ssh://node-1")
    release(again)
    assert LockBusy


# ---- argv executor (remote nodes) ------------------------------------------------------------

IP_RULES = json.dumps([
    {"priority": 0, "src": "all", "table": "local"},
    {"priority": 2000, "not": None, "src": "all", "dst": "172.16.0.0", "dstlen": 16, "table": "main"},
    {"priority": 32763, "src": "172.16.1.11", "table": "151", "protocol": "static"},
    {"priority": 32766, "src": "all", "table": "main"}])
IP_ROUTES = json.dumps([
    {"dst": "default", "gateway": "172.16.1.1", "dev": "ens1f0np0", "table": "151", "protocol": "static", "flags": []},
    {"dst": "172.16.0.0/16", "gateway": "172.16.1.65", "dev": "ens1f0np0", "flags": ["onlink"]}])


def test_argv_executor_reads_ip_json_and_runs_exact_argv() -> None:
    t = fake()
    t.answers = {("ip", "-j", "-4", "rule"): IP_RULES, ("ip", "-j", "-4", "route"): IP_ROUTES}
    ex = ArgvExecutor(t)
    assert ex.rules()[1] == RuleSpec(2000, 254, None, "172.16.0.0/16", True, 0)
    assert ex.rules()[2] == RuleSpec(32763, 151, "172.16.1.11/32", None, False, 4)
    assert ex.routes() == [RouteSpec(151, "0.0.0.0/0", "172.16.1.1", "ens1f0np0", proto=4),
                           RouteSpec(254, "172.16.0.0/16", "172.16.1.65", "ens1f0np0", onlink=True, proto=3)]
    AddRule(RuleSpec(32762, 152, src="172.16.2.11/32", proto=4)).apply(ex)
    assert t.calls[-1] == ["ip", "rule", "add", "from", "172.16.2.11", "lookup", "152", "priority", "32762",
                           "protocol", "static"]


def test_write_file_and_command_actions_go_over_the_transport() -> None:
    t = fake()
    ex = ArgvExecutor(t)
    w = WriteFile("/sys/x", "48\n")
    w.apply(ex)
    assert t.calls[-1] == ["sh", "-c", 'printf "%s" "$1" > "$2"', "rdma-preflight-write", "48\n", "/sys/x"]
    w.undo(ex, {"text": None})
    assert t.calls[-1] == ["rm", "-f", "--", "/sys/x"]
    with pytest.raises(ExecError, match="has no inverse"):
        RunCommand(["true"]).undo(ex, {})
    assert base() is not None


def test_address_undo_restores_the_prior_order_primary_first() -> None:
    """Hand-made case (found by the kill-point tests on a real netns node): the wrong address
    was the primary, the right one its secondary. Deleting the primary removed both, so the fix
    re-added the right one. Undo must give back the wrong one as *primary* again: delete what
    differs from the prior order, last first, then add the prior's rest in order."""
    a = SetAddresses("ens2f0np0", "172.16.2.11/24", ["172.16.2.250/24"])
    prior = {"addresses": ["172.16.2.250/24", "172.16.2.11/24"], "routes": []}
    assert a.undo_commands(prior) == [
        ["ip", "addr", "del", "172.16.2.11/24", "dev", "ens2f0np0"],
        ["ip", "addr", "add", "172.16.2.250/24", "dev", "ens2f0np0"],
        ["ip", "addr", "add", "172.16.2.11/24", "dev", "ens2f0np0"]]
    # a secondary removed behind an intact primary comes back without touching the primary
    b = SetAddresses("ens2f0np0", "172.16.2.11/24", ["172.16.2.250/24"], present=True)
    prior = {"addresses": ["172.16.2.11/24", "172.16.2.250/24"], "routes": []}
    assert b.undo_commands(prior) == [["ip", "addr", "add", "172.16.2.250/24", "dev", "ens2f0np0"]]
