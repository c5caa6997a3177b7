"""Host network checks and their remediation on real Linux test hosts (network namespaces
from tests/lab), through the real harness in a subprocess: compliant nodes of each design
pass, each drift fails exactly its check, ``--remediate apply`` fixes it, a second apply is
a no-op, ``rollback`` restores the drifted state exactly, protected interfaces are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rdma_preflight.remediation.lock import acquire, release
from tests.lab.addressing import PER_NODE, SHARED
from tests.lab.hosts import Lab, LabNode
from tests.lab.nsutil import open_ns
from tests.lab.state import snapshot
from tests.net.netlab import compliant, design_skips, harden, persisted_etc, rollback, run_checks, write_profile

pytestmark = pytest.mark.netns

CIDR = "172.16.0.0/16"


@pytest.mark.parametrize("fixture", ["lab_node_shared", "lab_node_per_node", "lab_node_quirks"])
def test_compliant_node_passes_every_net_check(fixture: str, request, tmp_path: Path) -> None:
    node: LabNode = request.getfixturevalue(fixture)
    profile, upper = compliant(node, tmp_path)
    run = run_checks(f"netns://{node.netns}", profile, tmp_path / "report", upper=upper)
    assert run.with_outcome("fail", "warn", "error") == set(), run.output
    assert run.with_outcome("skip") == design_skips(node)
    assert run.rc == 0
    r2 = node.rail(2)
    assert run.record("net.mtu", "rail2")["found"] == "mtu 4200"
    assert run.record("net.address", "rail2")["summary"] == str(r2.address)
    assert run.record("net.policy_rule", "rail2")["summary"] == (
        f"{r2.rule_priority}: from {r2.address.ip}/32 lookup {r2.table} proto static")
    assert run.record("net.policy_table", "rail2")["summary"] == (
        f"table {r2.table}: default via {r2.gateway} dev {r2.ifname}")
    rdma = run.record("net.rdma_rule")["summary"]
    assert rdma.startswith(f"{node.rdma_rule_priority}: not from all to {CIDR} lookup main")
    assert run.record("net.persistence")["summary"] == "everything checked is persisted"
    if node.design == PER_NODE:
        r1 = node.rail(1)
        assert run.record("net.rdma_subnet_route")["summary"] == f"{CIDR} via {r1.gateway} dev {r1.ifname} onlink"
        assert run.record("net.policy_rule", "rail1")["found"] == "no rule"


def test_quirks_node_rail1_default_warns_and_coordinator_rule_is_tolerated(lab_node_quirks: LabNode,
                                                                           tmp_path: Path) -> None:
    node = lab_node_quirks
    with open_ns(node.netns) as ipr:       # Spiderpool coordinator: 1000: from all lookup 500
        ipr.rule("add", table=500, priority=1000)
    profile, upper = compliant(node, tmp_path, network={"allow_rail_default_in_main": False})
    run = run_checks(f"netns://{node.netns}", profile, tmp_path / "report", upper=upper)
    assert run.with_outcome("fail", "error") == set()
    assert run.with_outcome("warn") == {("net.rail_default_in_main", "rail1")}
    warn = run.record("net.rail_default_in_main", "rail1")
    assert warn["found"] == f"default via {node.rail(1).gateway} dev ens1f0np0 metric 10"
    assert "competes with the primary `default via 192.0.2.1 dev mgmt0`" in warn["summary"]
    assert warn["fix"].startswith(f"ip route del default via {node.rail(1).gateway} dev ens1f0np0 metric 10")
    assert run.record("net.rdma_rule")["summary"] == (
        f"2000: not from all to {CIDR} lookup main, lowest per-rail rule at {min(r.rule_priority for r in node.rails[1:])}"
        "; coordinator rule tolerated: 1000: from all lookup 500")
    assert run.rc == 0


def test_persistence_names_what_is_not_persisted(lab_node_shared: LabNode, tmp_path: Path) -> None:
    node = lab_node_shared
    harden(node)
    profile = write_profile(tmp_path / "profile.yaml", node)
    upper = persisted_etc(node, tmp_path / "etc", skip_rails=(3,), rdma_unit=False)
    run = run_checks(f"netns://{node.netns}", profile, tmp_path / "report", upper=upper)
    rec = run.record("net.persistence")
    assert rec["outcome"] == "warn"
    assert rec["summary"] == "not persisted: address (rail3), MTU (rail3), policy rule+table (rail3), RDMA rule"
    assert "RDMA rule: NOT persisted (no /etc/systemd/system/rdma-routing.service)" in rec["found"]
    assert ('INTERFACE="ens3f0np0" IPV4_IP="172.16.3.11/24" IPV4_GATEWAY="172.16.3.1" MTU="4200" '
            'ENABLE_POLICY_ROUTE="true" ./setNicAddr.sh') in rec["fix"]
    assert run.rc == 0


@dataclass
class Drift:
    name: str
    design: str
    quirks: bool
    change: Callable[[LabNode], object]
    fails: Callable[[LabNode], set]
    fix: Callable[[LabNode, object], str]
    skips: set = field(default_factory=set)             # skipped because of the drift
    follow_ups: set = field(default_factory=set)        # fixed after the drift's own fix
    addresses: bool = False              # the profile gives the node's addresses
    restores_built: bool = True          # apply brings back exactly the state the lab built


def _rule_fix(n: LabNode, wrong: object) -> str:
    r = n.rail(3)
    return (f"ip rule del from {r.address.ip} lookup {wrong} priority {r.rule_priority}; "
            f"ip rule add from {r.address.ip} lookup {r.table} priority {r.rule_priority}")


DRIFTS = [
    Drift("mtu-1500", SHARED, False, lambda n: n.set_mtu(2, 1500), lambda n: {("net.mtu", "rail2")},
          lambda n, _: "ip link set dev ens2f0np0 mtu 4200"),
    Drift("missing-rule", SHARED, False, lambda n: n.del_rule(4), lambda n: {("net.policy_rule", "rail4")},
          lambda n, _: (f"ip rule add from {n.rail(4).address.ip} lookup {n.rail(4).table} "
                        f"priority {n.rail(4).rule_priority} (table {n.rail(4).table} already holds its default")),
    Drift("rule-to-wrong-table", PER_NODE, False, lambda n: n.rule_to_wrong_table(3),
          lambda n: {("net.policy_rule", "rail3")}, _rule_fix),
    Drift("table-without-default", SHARED, False, lambda n: n.flush_table(6),
          lambda n: {("net.policy_table", "rail6")},
          lambda n, _: f"ip route add default via {n.rail(6).gateway} dev ens6f0np0 table {n.rail(6).table}"),
    Drift("rdma-rule-missing", PER_NODE, False, lambda n: n.del_rdma_rule(), lambda n: {("net.rdma_rule", None)},
          lambda n, _: f"ip rule add not to {CIDR} lookup main priority 2000", restores_built=False),
    Drift("rdma-rule-after-rails", PER_NODE, True, lambda n: n.rdma_rule_after_rails(),
          lambda n: {("net.rdma_rule", None)},
          lambda n, late: (f"ip rule del not to {CIDR} lookup main priority {late}; "
                           f"ip rule add not to {CIDR} lookup main priority 2000")),
    Drift("rail1-subnet-route-missing", PER_NODE, False, lambda n: n.del_rdma_subnet_route(),
          lambda n: {("net.rdma_subnet_route", None)},
          lambda n, _: f"ip route add {CIDR} via {n.rail(1).gateway} dev ens1f0np0 onlink"),
    Drift("rail-down", SHARED, False, lambda n: n.set_down(3), lambda n: {("net.rail_up", "rail3")},
          lambda n, _: "ip link set dev ens3f0np0 up", skips={("net.policy_table", "rail3")},
          follow_ups={("net.policy_table", "rail3")}),
    Drift("two-addresses", SHARED, False, lambda n: n.add_second_address(7), lambda n: {("net.address", "rail7")},
          lambda n, extra: f"ip addr del {extra} dev ens7f0np0", addresses=True),
]


@pytest.mark.slow
@pytest.mark.parametrize("drift", DRIFTS, ids=[d.name for d in DRIFTS])
def test_drift_fails_its_check_apply_fixes_rollback_restores(drift: Drift, lab: Lab, tmp_path: Path) -> None:
    node = lab.add_node("node-drift", 4, drift.design, quirks=drift.quirks)
    url = f"netns://{node.netns}"
    locks = tmp_path / "locks"
    profile, upper = compliant(node, tmp_path, addresses=drift.addresses)
    built = snapshot(node.netns)
    detail = drift.change(node)
    drifted = snapshot(node.netns)
    assert drifted != built

    # 1. exactly the right check fails, with an actionable message; nothing else fails
    found = run_checks(url, profile, tmp_path / "detect", upper=upper, lock_dir=locks)
    assert found.with_outcome("fail") == drift.fails(node), found.output
    assert found.with_outcome("warn", "error") == set()
    assert found.with_outcome("skip") == design_skips(node) | drift.skips
    for check, rail in drift.fails(node):
        rec = found.record(check, rail)
        assert rec["expected"] and rec["found"] and rec["summary"]
        assert drift.fix(node, detail) in rec["fix"]
    for check, rail in drift.skips:
        assert "fix net.rail_up first" in found.record(check, rail)["summary"]
    assert found.rc == 1
    assert snapshot(node.netns) == drifted            # checking changes nothing

    # 2. apply: journal first, change, re-collect, re-check -> remediated
    fixed = run_checks(url, profile, tmp_path / "apply", remediate="apply", upper=upper, lock_dir=locks)
    assert fixed.with_outcome("fail", "warn", "error") == set(), fixed.output
    assert fixed.with_outcome("remediated") == drift.fails(node) | drift.follow_ups
    for check, rail in drift.fails(node):
        rem = fixed.record(check, rail)["remediation"]
        assert rem["status"] == "remediated" and rem["actions"]
        assert "nothing is written to netplan or NetworkManager" in rem["reason"]
    [journal] = fixed.journals()
    assert fixed.rc == 0
    applied = snapshot(node.netns)
    if drift.restores_built:
        assert applied == built

    # 3. a second apply is a no-op
    again = run_checks(url, profile, tmp_path / "again", remediate="apply", upper=upper, lock_dir=locks)
    assert again.with_outcome("fail", "warn", "error", "remediated") == set()
    assert again.journals() == []
    assert snapshot(node.netns) == applied

    # 4. rollback restores the drifted state exactly; a second rollback has nothing to do
    done = rollback(journal, lock_dir=locks)
    assert done.returncode == 0, done.stderr
    assert snapshot(node.netns) == drifted
    assert "nothing to roll back" in rollback(journal, lock_dir=locks).stdout


def test_management_interface_named_as_a_rail_is_refused(lab_node_shared: LabNode, tmp_path: Path) -> None:
    node = lab_node_shared
    profile, upper = compliant(node, tmp_path, mgmt_as_rail1=True)
    before = snapshot(node.netns)
    run = run_checks(f"netns://{node.netns}", profile, tmp_path / "apply", remediate="apply", upper=upper,
                     lock_dir=tmp_path / "locks")
    rec = run.record("net.mtu", "rail1")
    assert rec["outcome"] == "fail" and rec["netdev"] == "mgmt0"
    assert rec["remediation"]["status"] == "refused"
    assert rec["remediation"]["reason"] == (
        "mgmt0 is protected: it carries the node's primary default route (default via 192.0.2.1 dev mgmt0); "
        "rdma-preflight never changes it")
    assert rec["remediation"]["actions"] == ["ip link set dev mgmt0 mtu 4200"]
    assert run.with_outcome("remediated") == set()
    assert snapshot(node.netns) == before
    assert run.journals() == []


def test_second_run_against_a_locked_node_is_refused(lab_node_shared: LabNode, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    node = lab_node_shared
    profile, upper = compliant(node, tmp_path)
    node.set_mtu(2, 1500)
    drifted = snapshot(node.netns)
    monkeypatch.setenv("RDMA_PREFLIGHT_LOCK_DIR", str(tmp_path / "locks"))
    held = acquire(node.netns, f"netns://{node.netns}")
    try:
        run = run_checks(f"netns://{node.netns}", profile, tmp_path / "apply", remediate="apply", upper=upper,
                         lock_dir=tmp_path / "locks")
    finally:
        release(held)
    rem = run.record("net.mtu", "rail2")["remediation"]
    assert rem["status"] == "refused"
    assert rem["reason"].startswith(f"another rdma-preflight run is changing {node.netns} (pid ")
    assert snapshot(node.netns) == drifted


def test_plan_lists_actions_in_order_and_changes_nothing(lab_node_per_node: LabNode, tmp_path: Path) -> None:
    node = lab_node_per_node
    profile, upper = compliant(node, tmp_path)
    node.set_down(3)
    node.del_rdma_rule()
    drifted = snapshot(node.netns)
    run = run_checks(f"netns://{node.netns}", profile, tmp_path / "plan", remediate="plan", upper=upper)
    assert run.record("net.rail_up", "rail3")["remediation"]["actions"] == ["ip link set dev ens3f0np0 up"]
    assert run.record("net.rdma_rule")["remediation"] == {
        "status": "planned", "journal": None,
        "actions": [f"ip rule add not to {CIDR} lookup main priority 2000 protocol static"],
        "reason": run.record("net.rdma_rule")["remediation"]["reason"]}
    assert run.record("net.rdma_rule")["remediation"]["reason"].startswith("Priority 2000: setRdmaRule.sh's value")
    assert snapshot(node.netns) == drifted
    assert run.journals() == []
    assert run.rc == 1
