"""rdma.* and ib.* checks on snapshots: compliant RoCE and IB nodes, then one snapshot per
failure class that must fail exactly the expected check(s) while every other check passes
(or is skipped for a stated reason). Node builders and their real/hand-made split: node.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from rdma_preflight.checks.result import Outcome

from .node import OPERATOR_CONF, OPERATOR_HEAD, IbNode, RoceNode, outcomes, roce_gids, run, run_all

FAIL, WARN = Outcome.FAIL, Outcome.WARN


def _no_findings(ctx) -> dict:
    results = run_all(ctx)
    bad = {k: (r.summary, r.found) for k, r in results.items() if r.outcome in (FAIL, WARN, Outcome.ERROR)}
    assert bad == {}
    return results


@pytest.mark.parametrize("scheme,mode", [("sriov", "exclusive"), ("macvlan", "shared")])
def test_compliant_roce_node(scheme, mode):
    ctx = RoceNode(scheme=scheme).ctx()
    results = _no_findings(ctx)
    assert results[("rdma.netns_mode", None)].found.startswith(f"{mode} (from `rdma system`")
    gid = results[("rdma.roce_gid", "rail1")]
    assert gid.evidence["gid_index"] == 3 and "172.16.1.10" in gid.summary
    assert results[("rdma.stack_version", None)].summary == "MLNX_OFED 23.07-0.5.1.2"
    assert results[("rdma.link_layer", "rail1")].found == (
        "mlx5_0/1: Ethernet (from sysfs); firmware LINK_TYPE_P1: next boot ETH, current ETH")
    # the real ibv_devinfo block of mlx5_1 (stelline CX-7) supplies rail 2's active MTU
    assert results[("rdma.active_mtu", "rail2")].found.startswith("mlx5_1/1: active_mtu 4096 (ibv_devinfo)")
    assert outcomes(results, Outcome.SKIP) >= {("ib.sm", "rail1"), ("ib.ipoib", None)}


def test_compliant_ib_node():
    ctx = IbNode().ctx()
    results = _no_findings(ctx)
    assert [r.netdev for r in ctx.rails] == [f"ib{i}" for i in range(8)]
    sm = results[("ib.sm", "rail1")]
    assert (sm.evidence["lid"], sm.evidence["sm_lid"]) == (1369, 83)       # the real ibstat values
    assert results[("ib.sm", "rail8")].evidence["lid"] == 1396
    assert results[("rdma.link_layer", "rail1")].found.endswith("firmware LINK_TYPE_P1: next boot IB")
    assert results[("rdma.netns_mode_persistent", None)].found.startswith("/proc/cmdline ib_core.netns_mode=0")
    assert results[("rdma.roce_gid", "rail1")].outcome == Outcome.SKIP


@dataclass
class Case:
    name: str
    node: Callable
    failing: set
    words: tuple                 # must appear in summary / expected / found / fix of the finding
    profile: dict | None = None
    outcome: Outcome = FAIL


def _port(**kw) -> Callable:
    def change(n):
        for dev, fields in kw.items():
            for k, v in fields.items():
                setattr(n.ports[dev], k, v)
        return n
    return change


def _make(cls, **kw) -> Callable:
    """A node factory: ``cls(**kw)`` with ``ports={device: {field: value}}`` applied after."""
    def make():
        ports = kw.get("ports", {})
        return _port(**ports)(cls(**{k: v for k, v in kw.items() if k != "ports"}))
    return make


def _roce(**kw) -> Callable:
    return _make(RoceNode, **kw)


def _ib(**kw) -> Callable:
    return _make(IbNode, **kw)


CASES = [
    Case("port down", _roce(ports={"mlx5_1": {"state": "1: DOWN", "phys": "3: Disabled"}}),
         {("rdma.port_state", "rail2")},
         # the hand-made netdev is admin up while the port reads Disabled: no carrier
         ("mlx5_1/1 is not active", "state DOWN, physical state Disabled (sysfs)",
          "enp4s0f1np1 is administratively up but has no carrier", "mlxlink -d 0000:04:00.1")),
    Case("rate trained down", _roce(ports={"mlx5_0": {"rate": "40 Gb/sec (4X QDR)"}}),
         {("rdma.rate", "rail1")},
         ("trained down to 40 Gb/sec (nominal 100)", ">= 100 Gb/sec", "40 Gb/sec (4X QDR)", "cable")),
    Case("wrong link layer", _roce(ports={"mlx5_0": {"link_layer": "InfiniBand"}},
                                   mlxconfig={"0000:04:00.0": "spiderpool-link-type-p1-ib.txt"}),
         {("rdma.link_layer", "rail1")},
         ("link layer is InfiniBand", "Ethernet", "next boot IB",
          "mlxconfig -d 0000:04:00.0 -y set LINK_TYPE_P1=ETH", "power cycle")),
    Case("shared mode on an SR-IOV profile", _roce(rdma_system="spiderpool-shared-mode.txt"),
         {("rdma.netns_mode", None)},
         ("RDMA netns mode is shared, the sriov design needs exclusive", "exclusive",
          "already persisted", "update-initramfs -u", "EBUSY")),
    Case("persistence conflict", _roce(modprobe={
        OPERATOR_CONF: OPERATOR_HEAD + "options ib_core netns_mode=1\n",
        "/etc/modprobe.d/ib_core.conf": "options ib_core netns_mode=0\n"}),
         {("rdma.netns_mode_persistent", None)},
         ("conflicting", "/etc/modprobe.d/ib_core.conf:1 netns_mode=0 (exclusive)",
          OPERATOR_CONF + ":2 netns_mode=1 (shared)", "SriovNetworkPoolConfig")),
    Case("missing RoCE v2 GID for the rail IP",
         _roce(ports={"mlx5_1": {"gids": roce_gids("enp4s0f1np1", "172.16.2.10")[:3]}}),
         {("rdma.roce_gid", "rail2")},
         ("no RoCE v2 GID for 172.16.2.10 on enp4s0f1np1", "2 0000:0000:0000:0000:0000:ffff:ac10:020a IB/RoCE v1",
          "show_gids")),
    Case("workload GID index wrong", _roce(), {("rdma.roce_gid", "rail1"), ("rdma.roce_gid", "rail2")},
         ("workload GID index 2 is not the RoCE v2 IPv4 GID", "NCCL_IB_GID_INDEX=3", "index 2 is IB/RoCE v1"),
         profile={"rdma": {"workload_gid_index": 2}}),
    Case("workload traffic class differs from the RoCE ToS", _roce(),
         {("rdma.roce_gid", "rail1"), ("rdma.roce_gid", "rail2")},
         ("NCCL_IB_TC=160", "NCCL_IB_TC=106", "rdma_cm default_roce_tos"),
         profile={"rdma": {"workload_gid_index": 3, "workload_traffic_class": 106}}),
    Case("active MTU 1024", _roce(mtu={"enp4s0f0np0": 1500}, ports={"mlx5_0": {"active_mtu": 1024}}),
         {("rdma.active_mtu", "rail1")},
         ("active MTU 1024, the profile wants 4096", "netdev enp4s0f0np0 MTU 1500", "(1500 gives 1024)",
          "ip link set dev enp4s0f0np0 mtu 4200")),
    Case("numvfs wrong", _roce(numvfs={"enp4s0f1np1": 4}), {("rdma.sriov_vfs", "rail2")},
         ("enp4s0f1np1 has 4 VFs, the profile wants 8", "echo 8 > /sys/class/net/enp4s0f1np1/device/sriov_numvfs")),
    Case("VF without an RDMA device", _roce(vf_rdma=False), {("rdma.sriov_vfs", "rail1")},
         ("2 VF(s) of enp4s0f0np0 have no RDMA device", "enp4s0f0v0, enp4s0f0v1", "isRdma")),
    Case("missing module", _roce(modules=["mlx5_ib", "mlx5_core", "ib_uverbs", "ib_core"]),
         {("rdma.driver", None)}, ("rdma_ucm", "modprobe rdma_ucm")),
    Case("SM LID 0", _ib(ibstat=False, ports={"mlx5_3": {"sm_lid": "0x0"}}), {("ib.sm", "rail3")},
         ("mlx5_3/1 knows no subnet manager (SM LID 0)", "sm_lid 0 (0x0)", "opensm")),
    Case("ib_ipoib missing", _ib(proc_modules="".join(
        f"{m} 1048576 1 - Live 0xffffffffc0000000\n"
        for m in ("mlx5_ib", "mlx5_core", "ib_uverbs", "rdma_ucm", "ib_core", "mlx_compat"))),
         {("ib.ipoib", None)}, ("ib_ipoib is not loaded", "modprobe ib_ipoib")),
    Case("firmware will switch link type at next boot", _roce(mlxconfig={"0000:04:00.0": "spiderpool-link-type-p1-ib.txt"}),
         {("rdma.link_layer", "rail1")}, ("switch to IB at the next power cycle", "LINK_TYPE_P1=ETH"), outcome=WARN),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_failure_class_fails_exactly_its_check(case: Case):
    node = case.node()
    ctx = node.ctx(**(case.profile or {}))
    results = run_all(ctx)
    assert outcomes(results, case.outcome) == case.failing
    other = Outcome.WARN if case.outcome == FAIL else FAIL
    assert outcomes(results, other) == set() and outcomes(results, Outcome.ERROR) == set()
    for key in case.failing:
        r = results[key]
        text = "\n".join((r.summary, r.expected, r.found, r.fix))
        for w in case.words:
            assert w in text, (w, text)
        assert r.expected and r.found and r.fix       # actionable: expected, found, fix


def test_port_down_skips_rate_and_mtu_with_a_reason():
    results = run_all(_roce(ports={"mlx5_1": {"state": "1: DOWN", "phys": "3: Disabled"}})().ctx())
    for cid in ("rdma.rate", "rdma.active_mtu"):
        assert results[(cid, "rail2")].outcome == Outcome.SKIP
        assert "see rdma.port_state" in results[(cid, "rail2")].summary


def test_rail_without_rdma_device_fails_only_rail_device():
    ctx = RoceNode(no_rdma={"enp4s0f1np1"}).ctx()
    results = run_all(ctx)
    r = results[("rdma.rail_device", "rail2")]
    assert r.outcome == FAIL and r.summary == "enp4s0f1np1 has no RDMA device"
    assert r.found == "none among mlx5_0, mlx5_2, mlx5_3" and "modprobe mlx5_ib" in r.fix
    assert outcomes(results, FAIL) == {("rdma.rail_device", "rail2")}
    assert results[("rdma.port_state", "rail2")].summary == "no RDMA device on enp4s0f1np1: see rdma.rail_device"
    # the real `rdma link` / `ibdev2netdev` / ibv_devinfo still name mlx5_1: sysfs decides, the rest is noted
    assert ctx.facts.rdma.notes == [f"{tool} lists mlx5_1, not in /sys/class/infiniband: ignored"
                                    for tool in ("ibdev2netdev", "ibv_devinfo", "rdma link")]


def test_ib_port_in_init_points_at_the_subnet_manager():
    ctx = _ib(ibstat=False, ports={"mlx5_2": {"state": "2: INIT"}})().ctx()
    r = run("rdma.port_state", ctx, 2)
    assert r.outcome == FAIL and "no subnet manager has activated the port" in r.fix


def test_expected_devices_counts_physical_functions_only():
    ctx = RoceNode().ctx(rdma={"expected_devices": 3})
    r = run("rdma.driver", ctx)
    assert r.outcome == FAIL
    assert r.found == "2: mlx5_0, mlx5_1"                      # the two VF devices mlx5_2/3 are not counted
    assert run("rdma.driver", RoceNode().ctx(rdma={"expected_devices": 2})).outcome == Outcome.PASS


def test_stack_version_floor_and_missing_ofed():
    assert run("rdma.stack_version", RoceNode().ctx(rdma={"min_stack_version": "23.07"})).outcome == Outcome.PASS
    old = run("rdma.stack_version", RoceNode().ctx(rdma={"min_stack_version": "24.04"}))
    assert old.outcome == FAIL and old.summary == "driver stack 23.07-0.5.1.2 is older than 24.04"
    none = run("rdma.stack_version", RoceNode(ofed=None).ctx())
    assert none.outcome == FAIL and "ofed_info is not installed" in none.found and "doca-ofed" in none.fix
    unset = run("rdma.stack_version", RoceNode().ctx(rdma={"min_stack_version": None}))
    assert unset.outcome == Outcome.SKIP and unset.summary == "the profile sets no rdma.min_stack_version"


def test_netns_persistence_variants():
    hidden = RoceNode(modprobe={"/etc/modprobe.d/ib_core.conf": "options ib_core netns_mode=0\n",
                                "/lib/modprobe.d/ib_core.conf": "options ib_core netns_mode=1\n"})
    r = run("rdma.netns_mode_persistent", hidden.ctx())
    assert r.outcome == Outcome.PASS                         # /lib's same-named file is hidden by /etc's
    assert "ignored: /lib/modprobe.d/ib_core.conf:1 netns_mode=1 (shared) (hidden by /etc/modprobe.d/ib_core.conf)" in r.found
    cmdline = RoceNode(cmdline="ro ib_core.netns_mode=1")
    r = run("rdma.netns_mode_persistent", cmdline.ctx())
    assert r.outcome == FAIL and "/proc/cmdline vs" not in r.fix and OPERATOR_CONF in r.fix and "/proc/cmdline" in r.fix
    missing = run("rdma.netns_mode_persistent", RoceNode(modprobe={}).ctx())
    assert missing.outcome == FAIL and missing.summary.startswith("exclusive mode is not persisted")
    assert "echo 'options ib_core netns_mode=0' > /etc/modprobe.d/ib_core.conf" in missing.fix
    assert "the sysfs parameter reads N: that is the running value, not a persisted one" in missing.found
    wrong = run("rdma.netns_mode_persistent", RoceNode(modprobe={OPERATOR_CONF: "options ib_core netns_mode=1\n"}).ctx())
    assert wrong.outcome == FAIL and wrong.summary == "persisted netns mode is shared, the design needs exclusive"


def test_netns_mode_falls_back_to_the_runtime_parameter():
    r = run("rdma.netns_mode", RoceNode(rdma_tool=False).ctx())
    assert r.outcome == Outcome.PASS
    assert r.found == "exclusive (from /sys/module/ib_core/parameters/netns_mode); ib_core parameter netns_mode=N"


def test_unparsable_outputs_become_findings_not_crashes():
    node = _ib(ibstat=False)()
    snap = node.build()
    snap.commands["ibv_devinfo"].stdout = b"garbage without hca_id\n"   # hand-made broken output
    from rdma_preflight.checks.context import node_context
    from rdma_preflight.facts import build_facts

    from .node import ib_profile

    ctx = node_context(node.name, ib_profile(), build_facts(snap))
    r = run("rdma.active_mtu", ctx)
    assert r.outcome == FAIL and r.summary == "mlx5_1/1 active MTU unknown"
    assert "ibv_devinfo: output not understood (ibv_devinfo: cannot parse line 1" in r.found
    roce = RoceNode()
    snap = roce.build()
    snap.commands["ibv_devinfo"].stdout = b"garbage\n"
    from .node import roce_profile

    ctx = node_context(roce.name, roce_profile(roce), build_facts(snap))
    r = run("rdma.active_mtu", ctx)
    assert r.outcome == Outcome.PASS                      # RoCE: derived from the netdev MTU instead
    assert "derived from netdev MTU 4200 (no ibv_devinfo)" in r.found


def test_rate_without_profile_rate_is_skipped():
    r = run("rdma.rate", RoceNode().ctx(rdma={"rate_gbps": None}))
    assert r.outcome == Outcome.SKIP and r.summary == "the profile sets no rdma.rate_gbps"


def test_hand_made_values_are_labelled():
    roce, ib = RoceNode(), IbNode()
    roce.build(), ib.build()
    prov = dict(roce.builder.provenance)
    assert prov["command rdma_link"] == "real: tests/fixtures/outputs/rdma_link/daocloud-cx5-roce-enp4s0f0np0.txt"
    assert prov["command ibv_devinfo"].startswith("hand-made mlx5_0 block + real: ")
    assert prov["/sys/class/infiniband/mlx5_0/ports/1/state"] == "hand-made"
    assert dict(ib.builder.provenance)["command ibstat"].endswith("ibstat/gpud-a100-ib-200g-all-active.txt")
    assert all(src == "hand-made" or src.startswith(("real:", "hand-made ")) for _, src in ib.builder.provenance)
