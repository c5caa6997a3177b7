"""Remediation of the rdma/ib checks: the planners' exact argv and file writes, applied and
undone against the command-runner DOUBLE in double.py (a temp root stands in for /etc, /sys
and /proc; there is no RDMA kernel here)."""

from __future__ import annotations

import pytest

from rdma_preflight.remediation.executor import command_text
from rdma_preflight.remediation.rdma import (NEEDS_POWER_CYCLE, SetNetnsMode, SetNumVfs, plan_ipoib, plan_link_type,
                                             plan_modules, plan_netns_mode, plan_netns_persistent, plan_numvfs,
                                             with_netns_option)
from rdma_preflight.remediation.registry import REMEDIES, load_all

from .double import BUSY, WRITE, RdmaDouble, apply_like_runner, rdma_double, undo_like_rollback
from .node import OPERATOR_CONF, IbNode, RoceNode, run

CONF = "/etc/modprobe.d/ib_core.conf"


@pytest.fixture
def node(tmp_path) -> RdmaDouble:
    return rdma_double(tmp_path)


def test_planners_are_registered():
    load_all()
    assert {"rdma.netns_mode", "rdma.netns_mode_persistent", "rdma.driver", "ib.ipoib", "rdma.sriov_vfs",
            "rdma.link_layer"} <= set(REMEDIES)


def _ctx_and_result(node_obj, check, rail=None, **profile):
    ctx = node_obj.ctx(**profile)
    return ctx, (ctx.rails[rail - 1] if rail else None), run(check, ctx, rail)


def test_netns_switch_persists_then_switches_live(node):
    ctx, rail, result = _ctx_and_result(RoceNode(rdma_system="spiderpool-shared-mode.txt", modprobe={}),
                                        "rdma.netns_mode")
    plan = plan_netns_mode(ctx, rail, result)
    assert plan.commands() == ["sh -c 'echo '\"'\"'options ib_core netns_mode=0'\"'\"' > /etc/modprobe.d/ib_core.conf'",
                               "rdma system set netns exclusive"]
    priors = apply_like_runner(plan, node)
    assert node.get(CONF) == "options ib_core netns_mode=0\n"
    assert node.netns == "exclusive" and not plan.needs_reboot
    assert ["rdma", "system", "set", "netns", "exclusive"] in node.calls
    assert WRITE + ["options ib_core netns_mode=0\n", CONF] in node.calls
    undo_like_rollback(plan, priors, node)
    assert node.get(CONF) is None and node.netns == "shared"


def test_netns_ebusy_becomes_needs_reboot_with_the_file_written(node):
    node.busy = True                                          # pods' network namespaces exist
    ctx, rail, result = _ctx_and_result(RoceNode(rdma_system="spiderpool-shared-mode.txt", modprobe={}),
                                        "rdma.netns_mode")
    plan = plan_netns_mode(ctx, rail, result)
    apply_like_runner(plan, node)                             # no exception: EBUSY is an outcome
    assert node.get(CONF) == "options ib_core netns_mode=0\n"
    assert node.netns == "shared"
    assert plan.needs_reboot is True
    assert "was refused with EBUSY (error: Device or resource busy)" in plan.note
    assert "takes effect at the next reboot" in plan.note and "update-initramfs -u" in plan.note
    assert BUSY.decode().strip() in plan.note


def test_netns_already_persisted_only_switches_live(node):
    ctx, rail, result = _ctx_and_result(RoceNode(rdma_system="spiderpool-shared-mode.txt"), "rdma.netns_mode")
    plan = plan_netns_mode(ctx, rail, result)              # the operator file already says 0
    assert plan.commands() == ["rdma system set netns exclusive"]
    apply_like_runner(plan, node)
    assert node.netns == "exclusive" and node.get(CONF) is None


def test_netns_refuses_to_fight_the_operator_file():
    ctx, rail, result = _ctx_and_result(RoceNode(modprobe={OPERATOR_CONF: "options ib_core netns_mode=1\n"}),
                                        "rdma.netns_mode_persistent")
    plan = plan_netns_persistent(ctx, rail, result)
    assert plan.refused.startswith(f"the persisted setting {OPERATOR_CONF}:1 netns_mode=1 (shared) contradicts")
    assert "SriovNetworkPoolConfig spec.rdmaMode: exclusive" in plan.refused and not plan.actions


def test_persistent_fix_rewrites_only_our_file(node):
    own = "# hand-written\noptions ib_core foo=1 netns_mode=1\n"
    ctx, rail, result = _ctx_and_result(RoceNode(modprobe={CONF: own, OPERATOR_CONF: "options ib_core netns_mode=0\n"}),
                                        "rdma.netns_mode_persistent")
    assert result.summary.startswith("conflicting")
    plan = plan_netns_persistent(ctx, rail, result)
    node.put(CONF, own)
    priors = apply_like_runner(plan, node)
    assert node.get(CONF) == "# hand-written\noptions ib_core foo=1 netns_mode=0\n"
    undo_like_rollback(plan, priors, node)
    assert node.get(CONF) == own


def test_with_netns_option():
    assert with_netns_option(None, "0") == "options ib_core netns_mode=0\n"
    assert with_netns_option("options mlx5_core x=1\n", "1") == "options mlx5_core x=1\noptions ib_core netns_mode=1\n"
    assert with_netns_option("options ib-core netns_mode=1 a=b\n", "0") == "options ib-core netns_mode=0 a=b\n"


def test_missing_module_is_modprobed_and_unloaded_on_undo(node):
    ctx, rail, result = _ctx_and_result(RoceNode(modules=["mlx5_ib", "mlx5_core", "ib_uverbs", "ib_core"]),
                                        "rdma.driver")
    plan = plan_modules(ctx, rail, result)
    assert plan.commands() == ["modprobe rdma_ucm"] and "modules-load.d" in plan.note
    priors = apply_like_runner(plan, node)
    assert "rdma_ucm 16384" in node.get("/proc/modules")
    undo_like_rollback(plan, priors, node)
    assert node.calls[-1] == ["modprobe", "-r", "rdma_ucm"] and "rdma_ucm" not in node.get("/proc/modules")


def test_ipoib_is_modprobed(node):
    plan = plan_ipoib(*_ctx_and_result(IbNode(), "ib.ipoib"))
    assert plan.commands() == ["modprobe ib_ipoib"]
    apply_like_runner(plan, node)
    assert ["modprobe", "ib_ipoib"] in node.calls


def test_numvfs_goes_through_zero_both_ways(node):
    ctx, rail, result = _ctx_and_result(RoceNode(numvfs={"enp4s0f1np1": 4}), "rdma.sriov_vfs", rail=2)
    plan = plan_numvfs(ctx, rail, result)
    path = "/sys/class/net/enp4s0f1np1/device/sriov_numvfs"
    assert plan.commands() == [f"sh -c 'echo 0 > {path}'", f"sh -c 'echo 8 > {path}'"]
    assert plan.interfaces() == {"enp4s0f1np1"}
    node.put(path, "4\n")
    priors = apply_like_runner(plan, node)
    writes = [c[4:] for c in node.calls if c[:4] == WRITE]
    assert writes == [["0", path], ["8", path]] and node.get(path) == "8"
    undo_like_rollback(plan, priors, node)
    writes = [c[4] for c in node.calls if c[:4] == WRITE]
    assert writes == ["0", "8", "0", "4"] and node.get(path) == "4"


def test_numvfs_refusals():
    ctx, rail, result = _ctx_and_result(RoceNode(numvfs={"enp4s0f0np0": 4}), "rdma.sriov_vfs", rail=1,
                                        sriov={"num_vfs": 32})
    assert plan_numvfs(ctx, rail, result).refused.startswith("the firmware allows 16 VFs")
    ctx, rail, result = _ctx_and_result(RoceNode(vf_rdma=False), "rdma.sriov_vfs", rail=1)
    assert "isRdma" in plan_numvfs(ctx, rail, result).refused


def test_link_type_is_plan_only_and_needs_a_power_cycle():
    node = RoceNode()
    node.ports["mlx5_0"].link_layer = node.ports["mlx5_1"].link_layer = "InfiniBand"
    for i, bdf in ((1, "0000:04:00.0"), (2, "0000:04:00.1")):
        ctx, rail, result = _ctx_and_result(node, "rdma.link_layer", rail=i)
        plan = plan_link_type(ctx, rail, result)
        assert plan.commands() == [f"mlxconfig -d {bdf} -y set LINK_TYPE_P{i}=ETH"]
        assert plan.plan_only and plan.status == NEEDS_POWER_CYCLE
        assert plan.refused.startswith("needs power cycle: firmware settings are never applied automatically")


def test_actions_refuse_bad_names():
    with pytest.raises(ValueError):
        SetNumVfs("eth0; reboot", 8)
    with pytest.raises(ValueError):
        SetNetnsMode("exclusive; reboot")
    assert command_text(SetNetnsMode("shared").commands()[0]) == "rdma system set netns shared"
    ctx, rail, result = _ctx_and_result(RoceNode(), "rdma.driver", rdma={"required_modules": ["mlx5_core", "bad;name"]})
    assert plan_modules(ctx, rail, result).refused == "module name(s) not valid: bad;name"
