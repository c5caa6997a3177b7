"""facts/rdma.py: sysfs first, real tool outputs as evidence (and as the only source when
sysfs is not readable), parse errors kept as notes, netns persistence decoding."""

from __future__ import annotations

import pytest

from rdma_preflight.checks.context import node_context
from rdma_preflight.checks.result import Outcome
from rdma_preflight.facts import build_facts
from rdma_preflight.facts.rdma import (Gid, norm_phys, norm_state, netns_mode_settings, roce_active_mtu,
                                       roce_v2_gid_index)
from tests.snapbuild import SnapshotBuilder

from .node import RoceNode, roce_profile, run


def _facts(b: SnapshotBuilder):
    return build_facts(b.build())


def _tools_only(**fixtures) -> SnapshotBuilder:
    """A node whose /sys/class/infiniband was not readable: only tool outputs (real fixtures)."""
    b = SnapshotBuilder("tools-only")
    for name, (tool, fixture) in fixtures.items():
        b.fixture_cmd(name, tool, fixture)
    return b


def test_ipv4_mapped_gid_and_gid_index_helper():
    node = RoceNode()
    facts = build_facts(node.build())
    assert Gid(3, "0000:0000:0000:0000:0000:ffff:ac10:010a", "RoCE v2").ipv4 == "172.16.1.10"
    assert Gid(0, "fe80:0000:0000:0000:0a88:c2ff:fee3:142a").ipv4 is None
    assert roce_v2_gid_index(facts, "enp4s0f0np0", "172.16.1.10") == 3
    assert roce_v2_gid_index(facts.rdma, "enp4s0f1np1", "172.16.2.10") == 3
    assert roce_v2_gid_index(facts, "enp4s0f0np0", "172.16.2.10") is None     # another rail's IP
    assert roce_v2_gid_index(facts, "enp4s0f1np1", "172.16.1.10") is None


@pytest.mark.parametrize("netdev_mtu,active", [(4200, 4096), (4192, 4096), (4191, 2048), (4096, 2048),
                                               (9000, 4096), (1500, 1024), (1120, 1024), (1119, 512)])
def test_roce_active_mtu_follows_netdev_mtu_minus_96(netdev_mtu, active):
    assert roce_active_mtu(netdev_mtu) == active


@pytest.mark.parametrize("raw,state", [("4: ACTIVE", "ACTIVE"), ("Active", "ACTIVE"), ("PORT_ACTIVE", "ACTIVE"),
                                       ("1: DOWN", "DOWN"), ("Down", "DOWN"), ("Initializing", "INIT"),
                                       ("PORT_INIT", "INIT")])
def test_port_state_spellings(raw, state):
    assert norm_state(raw) == state


@pytest.mark.parametrize("raw,phys", [("5: LinkUp", "LinkUp"), ("LINK_UP", "LinkUp"), ("LinkUp", "LinkUp"),
                                      ("3: Disabled", "Disabled"), ("DISABLED", "Disabled"), ("POLLING", "Polling")])
def test_phys_state_spellings(raw, phys):
    assert norm_phys(raw) == phys


def test_real_ibstat_alone_gives_ports_when_sysfs_is_unreadable():
    facts = _facts(_tools_only(ibstat=("ibstat", "gpud-roce-two-ports-down.txt")))
    rdma = facts.rdma
    assert not rdma.sysfs_readable and len(rdma.devices) == 12
    down = rdma.devices["mlx5_5"].ports[1]
    assert (down.state, down.phys_state, down.rate_gbps, down.link_layer) == ("DOWN", "Disabled", 40.0, "Ethernet")
    assert down.sources["state"] == "ibstat"
    up = rdma.devices["mlx5_0"].ports[1]
    assert (up.state, up.rate_gbps) == ("ACTIVE", 400.0)
    assert rdma.devices["mlx5_0"].fw_ver == "28.39.1002"


def test_port_down_from_real_ibstat_fails_port_state():
    b = _tools_only(ibstat=("ibstat", "gpud-roce-two-ports-down.txt"))
    b.iface("ens5np0", mtu=4200, up=False, ipv4=["172.16.1.10/24"])   # admin down, as ibdev2netdev says
    b.cmd("ibdev2netdev", "mlx5_5 port 1 ==> ens5np0 (Down)\n")      # hand-made binding line
    rail = {"nic": {"netdev": "ens5np0"}, "mtu": 4200, "subnet": "172.16.1.0/24", "gateway": "172.16.1.1"}
    ctx = node_context("tools-only", roce_profile(RoceNode(), rails={"rail1": rail}), build_facts(b.build()))
    r = run("rdma.port_state", ctx)
    assert r.outcome == Outcome.FAIL
    assert r.found == "state DOWN, physical state Disabled (ibstat)"
    assert "ip link set dev ens5np0 up" in r.fix


def test_real_rdma_link_gives_ib_lid_and_sm_lid():
    facts = _facts(_tools_only(rdma_link=("rdma_link", "spiderpool-ipoib-ib-lid-smlid.txt")))
    p = facts.rdma.devices["mlx5_0"].ports[1]
    assert (p.lid, p.sm_lid, p.state, p.phys_state, p.netdev) == (2, 2, "ACTIVE", "LinkUp", None)
    assert p.sources["sm_lid"] == "rdma link"


def test_dual_port_device_maps_each_port_to_its_netdev():
    b = _tools_only(ibstat=("ibstat", "heioy-cx3-two-hca-dual-port-fdr56.txt"),
                    ibdev2netdev=("ibdev2netdev", "heioy-cx3-ib0-ib1-up.txt"))
    facts = _facts(b)
    assert facts.rdma.devices["mlx4_0"].ports[2].netdev == "ib1"
    assert facts.rdma.netdevs_of("mlx4_0") == ["ib0", "ib1"]
    assert [p.name for p in facts.rdma.ports_of_netdev("ib1")] == ["mlx4_0/2"]
    assert facts.rdma.devices["mlx4_0"].ports[2].sm_lid == 9


def test_ibpanic_is_kept_as_a_tool_error():
    facts = _facts(_tools_only(ibstat=("ibstat", "gpud-a100-azure-ibpanic-missing-device.txt")))
    assert facts.rdma.tool_errors["ibstat"].startswith("ibpanic: [1400444] main: stat of IB device 'mlx5_8' failed")
    assert "mlx5_0" in facts.rdma.devices                     # the CAs printed before the panic still count


def test_verbose_ibv_devinfo_gids_fill_an_empty_gid_table():
    b = SnapshotBuilder("v")
    b.fixture_cmd("ibv_devinfo", "ibv_devinfo", "heioy-verbose-mlx4-port2-down.txt")
    p = _facts(b).rdma.devices["mlx4_1"].ports[2]
    assert p.gids[0].gid == "fe80:0000:0000:0000:7cfe:9003:00a5:95c2" and p.sources["gids"] == "ibv_devinfo"
    assert (p.state, p.phys_state, p.active_mtu) == ("DOWN", "Polling", 4096)


@pytest.mark.parametrize("text,mode", [
    ("netns shared\n", "shared"),                                                   # iproute2 2019 form
    ("netns exclusive privileged-qkey off monitor off copy-on-fork on\n", "exclusive"),   # current form
    ('[{"netns":"exclusive","copy-on-fork":true}]\n', "exclusive"),                # rdma -j system show
    ("netns unknown copy-on-fork on\n", "unknown"),
])
def test_rdma_system_forms(text, mode):
    # hand-made outputs in the forms spec §4 documents for each iproute2 version
    b = SnapshotBuilder("n").cmd("rdma_system", text)
    facts = _facts(b)
    assert facts.rdma.netns_mode == mode and facts.rdma.netns_mode_source == "`rdma system` (rdma_system)"


def test_unparsable_rdma_system_falls_back_to_the_parameter_and_is_noted():
    b = SnapshotBuilder("n").cmd("rdma_system", "netns\n").attr("/sys/module/ib_core/parameters/netns_mode", "N")
    rdma = _facts(b).rdma
    assert (rdma.netns_mode, rdma.netns_mode_source) == ("exclusive", "/sys/module/ib_core/parameters/netns_mode")
    assert rdma.tool_errors["rdma_system"].startswith("output not understood (rdma_system: cannot parse line 1")


def test_failed_command_is_kept_with_its_stderr():
    b = SnapshotBuilder("n").cmd("ibv_devinfo", "", rc=1, stderr="Failed to get IB devices list: Function not implemented\n")
    assert _facts(b).rdma.tool_errors["ibv_devinfo"] == "exit 1: Failed to get IB devices list: Function not implemented"


def test_lsmod_record_is_used_when_proc_modules_is_absent():
    b = SnapshotBuilder("n").fixture_cmd("lsmod", "lsmod", "stelline-ib-core-mlx-compat-mofed.txt")
    facts = _facts(b)
    assert facts.system.modules is None
    assert {"ib_core", "mlx_compat", "ib_ipoib", "rdma_ucm", "ib_uverbs", "mlx5_ib", "mlx5_core"} <= facts.rdma.lsmod_loaded


def test_firmware_link_type_columns_from_real_mlxconfig():
    node = RoceNode(mlxconfig={"0000:04:00.1": "terrencemiao-cx4-vpi-query-link-type-eth-elided.txt"})
    rdma = build_facts(node.build()).rdma
    fw = rdma.firmware_link_type("mlx5_0")
    assert (fw.port, fw.default, fw.current, fw.next_boot) == (1, "IB", "ETH", "ETH")
    assert rdma.firmware_port("mlx5_1") == 2
    assert rdma.firmware_link_type("mlx5_1") is None            # that output has only LINK_TYPE_P1
    assert rdma.firmware["0000:04:00.1"][1].next_boot == "ETH" and rdma.firmware["0000:04:00.1"][1].current is None


def test_stack_version_from_module_version_without_ofed_info():
    b = SnapshotBuilder("n").missing("ofed_info").attr("/sys/module/mlx5_core/version", "24.10-1.1.4")  # hand-made
    stack = _facts(b).rdma.stack
    assert (stack.version, stack.version_tuple, stack.source) == ("24.10-1.1.4", (24, 10, 1, 1, 4),
                                                                 "/sys/module/mlx5_core/version")


def test_netns_settings_in_modprobe_order():
    files = {
        "/etc/modprobe.d/ib_core.conf": "# by hand\noptions ib-core netns_mode=\"0\"\n",
        "/lib/modprobe.d/ib_core.conf": "options ib_core netns_mode=1\n",
        "/etc/modprobe.d/sriov_network_operator_modules_config.conf":
            "# This file is managed by sriov-network-operator do not edit.\noptions ib_core foo=1 \\\n  netns_mode=Y\n",
        "/etc/modprobe.d/other.conf": "options mlx5_core netns_mode=0\n#options ib_core netns_mode=0\n",
    }
    got = netns_mode_settings(files, "BOOT_IMAGE=/vmlinuz ro ib_core.netns_mode=0")
    assert [(s.source, s.line, s.mode, s.masked_by) for s in got] == [
        ("/etc/modprobe.d/ib_core.conf", 2, "exclusive", None),
        ("/lib/modprobe.d/ib_core.conf", 1, "shared", "/etc/modprobe.d/ib_core.conf"),
        ("/etc/modprobe.d/sriov_network_operator_modules_config.conf", 2, "shared", None),
        ("/proc/cmdline", 0, "exclusive", None),
    ]
