"""End to end: the real harness (pytest checks/ in a subprocess) over two saved IB snapshots
with the repository's infiniband-sriov profile, results read back from results.json."""

from __future__ import annotations

from tests.spine.harness_util import run_checks

from .node import IB_PROFILE, IbNode


def test_harness_over_snapshots(tmp_path):
    good = IbNode("ib-node-1")
    bad = IbNode("ib-node-2", ibstat=False)
    bad.ports["mlx5_3"].sm_lid = "0x0"                  # hand-made: the SM is gone for rail 3's port
    for node in (good, bad):
        node.build().save(tmp_path / node.name)             # the snapshot directory names the node
    run = run_checks(tmp_path / "report", "--profile", str(IB_PROFILE),
                     "--nodes", f"snapshot://{tmp_path / good.name},snapshot://{tmp_path / bad.name}",
                     "--check", "rdma.*", "--check", "ib.*")
    assert run.rc == 1, run.stdout + run.stderr              # a check failed
    failed = {(r["node"], r["check"], r["rail"]) for r in run.results["results"] if r["outcome"] == "fail"}
    assert failed == {("ib-node-2", "ib.sm", "rail3")}
    rec = run.records("ib.sm", "ib-node-2")[2]
    assert (rec["rail"], rec["netdev"]) == ("rail3", "ib2")
    assert rec["summary"] == "mlx5_3/1 knows no subnet manager (SM LID 0)"
    assert rec["found"] == "mlx5_3/1: lid 1374 (0x55e), sm_lid 0 (0x0) (from sysfs), state ACTIVE"
    assert rec["evidence"] == {"port": "mlx5_3/1", "lid": 1374, "sm_lid": 0}
    assert all(r["outcome"] in ("pass", "skip") for r in run.records(node="ib-node-1"))
    outcomes = {(r["check"], r["rail"]): r["outcome"] for r in run.records(node="ib-node-1")}
    assert outcomes[("rdma.netns_mode", None)] == "pass"
    assert outcomes[("rdma.roce_gid", "rail1")] == "skip"     # InfiniBand profile
    assert len([k for k in outcomes if k[0] == "rdma.port_state"]) == 8


def test_harness_plans_rdma_remediation_over_a_snapshot(tmp_path):
    import yaml

    from .node import RoceNode, roce_profile

    node = RoceNode("roce-node-2", rdma_system="spiderpool-shared-mode.txt", modprobe={},
                    modules=["mlx5_ib", "mlx5_core", "ib_uverbs", "ib_core"],
                    mlxconfig={"0000:04:00.0": "spiderpool-link-type-p1-ib.txt"})
    node.ports["mlx5_0"].link_layer = "InfiniBand"
    node.build().save(tmp_path / node.name)
    data = roce_profile(node).model_dump(mode="json")
    data.pop("nodes", None)
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    run = run_checks(tmp_path / "report", "--profile", str(tmp_path / "profile.yaml"),
                     "--nodes", f"snapshot://{tmp_path / node.name}", "--check", "rdma.*", "--remediate", "plan")
    rem = {(r["check"], r["rail"]): r["remediation"] for r in run.records() if r["outcome"] == "fail"}
    assert set(rem) == {("rdma.netns_mode", None), ("rdma.netns_mode_persistent", None), ("rdma.driver", None),
                        ("rdma.link_layer", "rail1")}, run.stdout
    assert rem[("rdma.driver", None)]["status"] == "planned"
    assert rem[("rdma.driver", None)]["actions"] == ["modprobe rdma_ucm"]
    assert rem[("rdma.netns_mode", None)]["actions"][-1] == "rdma system set netns exclusive"
    link = rem[("rdma.link_layer", "rail1")]
    assert link["actions"] == ["mlxconfig -d 0000:04:00.0 -y set LINK_TYPE_P1=ETH"]
    assert link["reason"].startswith("needs power cycle")
