"""Remediation for qos.*, gpu.peermem and pcie.acs: pure planners on snapshot contexts, then
every action applied and undone against tests/qos/double.py (a TEST DOUBLE command runner
with a temporary root standing in for /sys, /proc and configfs)."""

from __future__ import annotations

import pytest

from rdma_preflight.remediation.actions import WriteFile, action_from_json
from rdma_preflight.remediation.qos import (SERVICE_NOTE, ClearAcs, LoadModule, MlnxQosSet, SetConfigfsTos,
                                            SetSysctl, SetTrafficClass, plan_acs, plan_cnp_dscp, plan_ecn,
                                            plan_mlnx_qos, plan_peermem, plan_roce_tos, plan_tcp_ecn,
                                            plan_traffic_class)
from rdma_preflight.remediation.registry import REMEDIES, load_all
from tests.qos.double import double
from tests.qos.node import H100Node, run
from tests.snapbuild import fixture_output


def _failing(mutate, check_id: str, rail: int = 1, **profile):
    node = H100Node()
    mutate(node)
    ctx = node.ctx(**profile)
    result = run(check_id, ctx, rail)
    assert result.outcome.value == "fail", result.summary
    return ctx, (ctx.rails[rail - 1] if rail else None), result


def test_planners_are_registered():
    load_all()
    for cid in ("qos.trust", "qos.pfc", "qos.ecn", "qos.cnp_dscp", "qos.roce_tos", "qos.traffic_class",
                "qos.tcp_ecn", "gpu.peermem", "pcie.acs"):
        assert cid in REMEDIES


def test_plan_pfc_on_the_wrong_priority_and_the_service_warning():
    def pfc3(n):
        n.mlnx_qos["eth0"] = fixture_output("mlnx_qos", "netarbiter-after-pfc-0001000.txt")
    plan = plan_mlnx_qos(*_failing(pfc3, "qos.pfc"))
    assert plan.commands() == ["mlnx_qos -i eth0 --trust=dscp --pfc 0,0,0,0,0,1,0,0"]
    assert SERVICE_NOTE in plan.note                     # rdma-qos.service is active on the node

    def pfc3_no_service(n):
        pfc3(n)
        n.service = ("disabled", "inactive")
    assert plan_mlnx_qos(*_failing(pfc3_no_service, "qos.pfc")).note == ""


def test_plans_for_sysfs_configfs_sysctl_module():
    plan = plan_ecn(*_failing(lambda n: n.ecn_rp.__setitem__(5, 0), "qos.ecn"))
    assert plan.commands() == ["sh -c 'echo 1 > /sys/class/net/eth0/ecn/roce_rp/enable/5'"]
    plan = plan_cnp_dscp(*_failing(lambda n: setattr(n, "cnp_dscp", 160), "qos.cnp_dscp"))
    assert plan.commands() == ["sh -c 'echo 48 > /sys/class/net/eth0/ecn/roce_np/cnp_dscp'"]
    plan = plan_roce_tos(*_failing(lambda n: setattr(n, "roce_tos", 40), "qos.roce_tos", rail=2))
    assert plan.commands() == ["mkdir -p -- /sys/kernel/config/rdma_cm/mlx5_1",
                               "sh -c 'echo 160 > /sys/kernel/config/rdma_cm/mlx5_1/ports/1/default_roce_tos'",
                               "rmdir -- /sys/kernel/config/rdma_cm/mlx5_1"]
    plan = plan_traffic_class(*_failing(lambda n: setattr(n, "tclass", "Global tclass=40"), "qos.traffic_class"))
    assert plan.commands() == ["sh -c 'echo 160 > /sys/class/infiniband/mlx5_0/tc/1/traffic_class'"]
    ctx, _, result = _failing(lambda n: setattr(n, "tcp_ecn", 0), "qos.tcp_ecn", rail=None)
    assert plan_tcp_ecn(ctx, None, result).commands() == ["sysctl -w net.ipv4.tcp_ecn=1"]

    def no_peermem(n):
        n.modules = fixture_output("lsmod", "stelline-ib-core-mlx-compat-mofed.txt")
    ctx, _, result = _failing(no_peermem, "gpu.peermem", rail=None)
    assert plan_peermem(ctx, None, result).commands() == ["modprobe nvidia_peermem"]


def test_plan_acs_names_exactly_the_bridges_found():
    def srcvalid(n):
        # HAND-MADE edit of the real lspci output: 17:02.0 (eth0's downstream port) SrcValid+
        i = n.lspci_text.index("17:02.0 PCI bridge")
        j = n.lspci_text.index("ACSCtl:\tSrcValid-", i)
        n.lspci_text = n.lspci_text[:j] + "ACSCtl:\tSrcValid+" + n.lspci_text[j + len("ACSCtl:\tSrcValid-"):]
    plan = plan_acs(*_failing(srcvalid, "pcie.acs"))
    assert plan.commands() == ["setpci -s 0000:17:02.0 ECAP_ACS+0x6.w=0000"]
    assert "lost at reboot" in plan.note


def test_refusals():
    def pfc3(n):
        n.mlnx_qos["eth0"] = fixture_output("mlnx_qos", "netarbiter-after-pfc-0001000.txt")
    plan = plan_mlnx_qos(*_failing(pfc3, "qos.pfc", network={"management_interface": "eth0"}))
    assert plan.refused == "eth0 is a management interface: not touched"

    def no_tree(n):
        n.ecn_np, n.ecn_rp, n.cnp_dscp = {}, {}, None
        del n.mlnx_qos["eth0"]
    ctx, rail, result = _failing(no_tree, "qos.ecn")
    assert plan_ecn(ctx, rail, result).refused == "/sys/class/net/eth0/ecn is absent (MLNX_OFED/DOCA needed)"
    assert plan_mlnx_qos(ctx, rail, run("qos.trust", ctx)).refused.startswith("mlnx_qos output is not available")


@pytest.mark.parametrize("make", [
    lambda: MlnxQosSet("eth0; reboot", "dscp", "0,0,0,0,0,1,0,0"),
    lambda: MlnxQosSet("eth0", "dscp", "0,0,0,0,0,1,0,0 --x"),
    lambda: ClearAcs("0000:17:02.0 ; true"),
    lambda: SetConfigfsTos("../mlx5_0", 1, 160),
    lambda: SetTrafficClass("/etc/passwd", "160"),
    lambda: SetSysctl("net.ipv4.tcp_ecn; id", "1"),
    lambda: LoadModule("nvidia_peermem -r"),
])
def test_names_are_validated_before_any_argv(make):
    with pytest.raises(ValueError):
        make()


def _apply_and_undo(action, ex, read):
    """capture -> apply -> read -> undo -> read, also after a journal round trip."""
    action = action_from_json(action.to_json())
    prior = action.capture(ex)
    assert action.needed(prior)
    action.apply(ex)
    after = read()
    assert not action.needed(action.capture(ex))
    action.undo(ex, prior)
    return prior, after, read()


def test_mlnx_qos_apply_and_undo(tmp_path):
    t, ex = double(tmp_path, trust={"eth0": "pcp"}, pfc={"eth0": "0,0,0,1,0,0,0,0"})
    prior, after, back = _apply_and_undo(MlnxQosSet("eth0", "dscp", "0,0,0,0,0,1,0,0"), ex,
                                         lambda: (t.trust["eth0"], t.pfc["eth0"]))
    assert prior == {"trust": "pcp", "pfc": "0,0,0,1,0,0,0,0"}
    assert after == ("dscp", "0,0,0,0,0,1,0,0")
    assert back == ("pcp", "0,0,0,1,0,0,0,0")
    assert ["mlnx_qos", "-i", "eth0", "--trust=dscp", "--pfc", "0,0,0,0,0,1,0,0"] in t.calls


def test_sysfs_ecn_write_apply_and_undo(tmp_path):
    t, ex = double(tmp_path)
    path = "/sys/class/net/eth0/ecn/roce_np/enable/5"
    t.put(path, "0\n")
    _, after, back = _apply_and_undo(WriteFile(path, "1"), ex, lambda: t.get(path))
    assert (after, back) == ("1", "0\n")


def test_traffic_class_apply_and_undo(tmp_path):
    t, ex = double(tmp_path)
    path = "/sys/class/infiniband/mlx5_0/tc/1/traffic_class"
    t.put(path, "Global tclass=40\n")
    prior, after, back = _apply_and_undo(SetTrafficClass(path, "160"), ex, lambda: t.get(path))
    assert prior["tos"] == 40
    assert (after, back) == ("Global tclass=160\n", "Global tclass=40\n")


def test_configfs_tos_makes_and_removes_the_device_dir(tmp_path):
    t, ex = double(tmp_path, cma={"mlx5_0": {1: 0}})
    (tmp_path / "sys/kernel/config/rdma_cm").mkdir(parents=True)
    prior, after, back = _apply_and_undo(SetConfigfsTos("mlx5_0", 1, 160), ex, lambda: dict(t.cma["mlx5_0"]))
    assert prior == {"tos": 0}
    assert (after, back) == ({1: 160}, {1: 0})
    assert not (tmp_path / "sys/kernel/config/rdma_cm/mlx5_0").exists()     # removed again, as cma_roce_tos does
    assert ["mkdir", "--", "/sys/kernel/config/rdma_cm/mlx5_0"] in t.calls


def test_configfs_tos_leaves_an_existing_device_dir(tmp_path):
    t, ex = double(tmp_path, cma={"mlx5_0": {1: 0}})
    (tmp_path / "sys/kernel/config/rdma_cm").mkdir(parents=True)
    t._mkdir("/sys/kernel/config/rdma_cm/mlx5_0")
    a = SetConfigfsTos("mlx5_0", 1, 160)
    a.apply(ex)
    assert t.get("/sys/kernel/config/rdma_cm/mlx5_0/ports/1/default_roce_tos") == "160"
    assert not any(c[0] == "rmdir" for c in t.calls)


def test_sysctl_module_and_acs_apply_and_undo(tmp_path):
    t, ex = double(tmp_path, acs={"0000:17:02.0": "001d"})
    t.put("/proc/sys/net/ipv4/tcp_ecn", "2\n")
    t.put("/proc/modules", "nvidia 11427840 4 - Live 0xffffffffc1000000\n")
    _, after, back = _apply_and_undo(SetSysctl("net.ipv4.tcp_ecn", "1"), ex,
                                     lambda: t.get("/proc/sys/net/ipv4/tcp_ecn"))
    assert (after, back) == ("1\n", "2\n")
    prior, after, back = _apply_and_undo(LoadModule("nvidia_peermem"), ex, lambda: t.get("/proc/modules"))
    assert prior == {"loaded": False}
    assert "nvidia_peermem 16384" in after and "nvidia_peermem" not in back
    prior, after, back = _apply_and_undo(ClearAcs("0000:17:02.0"), ex, lambda: t.acs["0000:17:02.0"])
    assert (prior, after, back) == ({"word": "001d"}, "0000", "001d")
    assert ClearAcs("0000:17:02.0").undo_commands(prior) == [["setpci", "-s", "0000:17:02.0", "ECAP_ACS+0x6.w=001d"]]


def test_module_already_loaded_is_not_unloaded_on_undo(tmp_path):
    t, ex = double(tmp_path)
    t.put("/proc/modules", "nvidia_peermem 16384 0 - Live 0xffffffffc0000000\n")
    a = LoadModule("nvidia_peermem")
    prior = a.capture(ex)
    assert not a.needed(prior)
    assert a.undo_commands(prior) == []
