"""``--granularity fleet`` (one pytest item per check over all nodes, for thousands of nodes)
gives exactly the records, exit code and per-node JUnit of ``--granularity rail``; only the
pytest items differ. Nodes are SYNTHETIC (tests/fleet/synth.py)."""

from __future__ import annotations

from tests.fleet.synth import NodeVariant, write_fleet
from tests.spine.harness_util import run_checks

VARIANTS = {1: NodeVariant(mtu=1500), 3: NodeVariant(ecn_off_nics=(4,)), 4: NodeVariant(rails=7)}
CHECKS = ("--check", "net.*", "--check", "qos.*", "--check", "rdma.*")


def key(r: dict) -> tuple:
    return (r["node"], r["check"], r["rail"], r["netdev"], r["outcome"], r["summary"], r["found"], r["fix"])


def test_fleet_items_keep_every_node_and_rail_record(tmp_path):
    nodes = write_fleet(tmp_path / "fleet", 6, VARIANTS.get)
    fine = run_checks(tmp_path / "rail", "--nodes-file", str(nodes), *CHECKS, "--granularity", "rail", "-q")
    coarse = run_checks(tmp_path / "fleet-grain", "--nodes-file", str(nodes), *CHECKS,
                        "--granularity", "fleet", "-rA")
    assert fine.rc == coarse.rc == 1, (fine.stderr[-2000:], coarse.stderr[-2000:])
    a, b = fine.records(), coarse.records()
    assert len(a) > 6 * 8 * 5
    assert sorted(map(key, a)) == sorted(map(key, b))

    # pytest sees one item per check: the failing MTU item names the node and rail that fail
    assert "test_mtu[fleet-6-nodes]" in coarse.stdout
    assert "FAILED checks/test_net.py::test_mtu[fleet-6-nodes]" in coarse.stdout
    block = coarse.stdout.split("test_mtu[fleet-6-nodes] _", 1)[1].split("\n____", 1)[0]
    assert "gpu-00001" in block and "1500" in block and "gpu-00000" not in block

    # reports do not depend on the grain: JUnit still has one testsuite per node
    def suites(run) -> dict:
        return {s.get("name"): tuple(int(s.get(k) or 0) for k in ("tests", "failures", "errors", "skipped"))
                for s in run.junit.iter("testsuite")}

    assert set(suites(coarse)) == {f"gpu-{i:05d}" for i in range(6)}
    assert suites(coarse) == suites(fine)
    assert suites(coarse)["gpu-00001"][1] > suites(coarse)["gpu-00000"][1]   # the MTU 1500 node fails more


def test_auto_grain_follows_the_fleet_size():
    from rdma_preflight.harness.session import (AUTO_FLEET_GRANULARITY, AUTO_NODE_GRANULARITY, Options,
                                                RunState)

    state = RunState(Options())
    for n, want in ((1, "rail"), (AUTO_NODE_GRANULARITY, "rail"), (AUTO_NODE_GRANULARITY + 1, "node"),
                    (AUTO_FLEET_GRANULARITY, "node"), (AUTO_FLEET_GRANULARITY + 1, "fleet")):
        state.nodes = {f"n{i}": object() for i in range(n)}
        assert state.granularity == want, n
