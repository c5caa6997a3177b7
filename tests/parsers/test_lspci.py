"""lspci -vvv blocks (ACS, link, driver, bridge), grep'd ACSCtl lines, and -nn/plain/-D lines."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.lspci import (LspciList, LspciVvv, PciLink, parse, parse_nn,
                                          parse_vvv)
from tests.parsers._fixtures_qos import check_parse_error, fixture_names, read_fixture

ALL_ACS_OFF = {"SrcValid": False, "TransBlk": False, "ReqRedir": False, "CmpltRedir": False,
               "UpstreamFwd": False, "EgressCtrl": False, "DirectTrans": False}


@pytest.mark.parametrize("name", fixture_names("lspci_acs"))
def test_every_acs_fixture_is_vvv(name):
    assert isinstance(parse(read_fixture("lspci_acs", name)), LspciVvv)


@pytest.mark.parametrize("name", fixture_names("lspci_nn"))
def test_every_nn_fixture_is_a_list(name):
    assert isinstance(parse(read_fixture("lspci_nn", name)), LspciList)


def test_pex890xx_switch_port_acs_capable_but_disabled():
    result = parse_vvv(read_fixture("lspci_acs", "gpud-h100-pex890xx-switch-srcvalid-minus"))
    (dev,) = result.devices
    assert dev.bdf == "17:00.0"
    assert dev.function.class_name == "PCI bridge"
    assert dev.function.description == "Broadcom / LSI PEX890xx PCIe Gen 5 Switch"
    assert dev.function.rev == "b0"
    assert dev.port_type == "Downstream Port" and dev.is_bridge
    assert dev.acs_cap == {"SrcValid": True, "TransBlk": True, "ReqRedir": True,
                           "CmpltRedir": True, "UpstreamFwd": True, "EgressCtrl": False,
                           "DirectTrans": True}
    assert dev.acs_ctl == ALL_ACS_OFF
    assert dev.lnk_cap == PciLink(32.0, 4)
    assert dev.lnk_sta == PciLink(16.0, 4, "downgraded", "ok")
    assert dev.driver == "pcieport" and dev.numa_node == 0
    assert [(a.bdf, a.enabled, a.line) for a in result.acs_ctl] == [("17:00.0", (), 76)]


def test_intel_root_port_srcvalid_plus():
    (dev,) = parse_vvv(read_fixture("lspci_acs", "gpud-intel-rootport-srcvalid-plus")).devices
    assert (dev.bdf, dev.port_type, dev.function.rev) == ("00:0c.0", "Root Port", "11")
    assert dev.acs_ctl == {**ALL_ACS_OFF, "SrcValid": True}
    assert dev.lnk_sta == PciLink(5.0, 1, "downgraded", "ok")


def test_pmc_sierra_bridge_redirects_enabled():
    result = parse_vvv(read_fixture("lspci_acs", "gpud-pmc-sierra-bridge-srcvalid-plus-redir"))
    (dev,) = result.devices
    assert (dev.bdf, dev.numa_node, dev.is_bridge) == ("82:00.0", 1, True)
    assert result.acs_ctl[0].enabled == ("SrcValid", "ReqRedir", "CmpltRedir", "UpstreamFwd")


def test_connectx6dx_endpoint():
    (dev,) = parse_vvv(read_fixture("lspci_acs", "gpud-connectx6dx-endpoint-acs")).devices
    assert dev.bdf == "1b:00.0"
    assert dev.function.class_name == "Ethernet controller"
    assert dev.function.description == "Mellanox Technologies MT2892 Family [ConnectX-6 Dx]"
    assert (dev.port_type, dev.is_bridge) == ("Endpoint", False)
    assert dev.acs_cap == ALL_ACS_OFF and dev.acs_ctl == ALL_ACS_OFF
    assert dev.lnk_cap == PciLink(16.0, 16) and dev.lnk_sta == PciLink(16.0, 16, "ok", "ok")
    assert (dev.driver, dev.modules) == ("mlx5_core", ("mlx5_core",))


def test_stelline_connectx7_space_indented_block():
    result = parse_vvv(read_fixture("lspci_acs", "stelline-asus-cx7-endpoint-21-00-0-vvv"))
    dev = result.device("0000:21:00.0")
    assert dev is not None and dev.bdf == "21:00.0"
    assert dev.function.description == "Mellanox Technologies MT2910 Family [ConnectX-7]"
    assert dev.lnk_cap == PciLink(32.0, 16) and dev.lnk_sta == PciLink(32.0, 16)
    assert dev.acs_ctl == ALL_ACS_OFF and dev.driver == "mlx5_core"


@pytest.mark.parametrize("name, count", [
    ("stelline-asus-grep-acsctl-all-srcvalid-minus", 46),
    ("stelline-puget-grep-acsctl", 26),
])
def test_grepped_acsctl_lines_keep_order_without_bdf(name, count):
    result = parse(read_fixture("lspci_acs", name))
    assert result.devices == []
    assert len(result.acs_ctl) == count
    assert {a.bdf for a in result.acs_ctl} == {None}
    assert all(a.flags == ALL_ACS_OFF for a in result.acs_ctl)
    assert [a.line for a in result.acs_ctl[:3]] == [4, 5, 6]


def test_nn_infiniband_mode_connectx5():
    result = parse_nn(read_fixture("lspci_nn", "spiderpool-cx5-ib-mode-grep-mellanox-elided"))
    assert [f.bdf for f in result.functions] == ["86:00.0", "86:00.1"]  # '.......' skipped
    f = result.functions[0]
    assert (f.class_name, f.class_code, f.vendor_id, f.device_id) == (
        "Infiniband controller", "0207", "15b3", "1017")
    assert f.description == "Mellanox Technologies MT27800 Family [ConnectX-5]"
    assert not f.is_virtual_function


def test_nn_ethernet_mode_connectx5_indented():
    result = parse_nn(read_fixture("lspci_nn", "daocloud-cx5-ethernet-grep"))
    assert [(f.bdf, f.class_code) for f in result.functions] == [("3b:00.0", "0200"),
                                                               ("3b:00.1", "0200")]


def test_nn_azure_a100_domains_and_virtual_functions():
    result = parse_nn(read_fixture("lspci_nn", "gpud-azure-a100-cx6-vf-ib"))
    mellanox = result.by_vendor("15b3")
    assert len(mellanox) == 9
    ib = [f for f in mellanox if f.class_code == "0207"]
    assert [f.bdf for f in ib][:2] == ["0101:00:00.0", "0102:00:00.0"]
    assert all(f.is_virtual_function and f.device_id == "101c" for f in ib)
    eth = next(f for f in mellanox if f.class_code == "0200")
    assert (eth.bdf, eth.domain, eth.device_id, eth.rev) == ("c941:00:02.0", "c941", "1016", "80")
    gpu = result.functions[0]
    assert (gpu.class_name, gpu.vendor_id, gpu.rev) == ("3D controller", "10de", "a1")
    assert gpu.description == "NVIDIA Corporation GA100 [A100 SXM4 80GB]"


def test_nn_a10_vm_mlx5gen_vf_and_qemu_bridges():
    result = parse_nn(read_fixture("lspci_nn", "gpud-a10-vm-mlx5gen-vf"))
    (vf,) = result.by_vendor("15b3")
    assert (vf.bdf, vf.device_id, vf.is_virtual_function) == ("05:00.0", "101e", True)
    assert sum(f.is_bridge for f in result.functions) == 8  # QEMU PCIe root ports, [0604]
    assert not result.functions[0].is_bridge  # Host bridge [0600]


def test_plain_lspci_with_domains_gb200():
    result = parse_nn(read_fixture("lspci_nn", "gpud-gb200-cx7-plain-lspci"))
    cx7 = [f for f in result.functions if f.class_name == "Infiniband controller"]
    assert [f.bdf for f in cx7] == ["0000:03:00.0", "0002:03:00.0", "0010:03:00.0",
                                    "0012:03:00.0"]
    assert {f.class_code for f in result.functions} == {None}
    bridge = result.functions[1]
    assert bridge.is_bridge and bridge.description.endswith("[ConnectX-7 PCIe Bridge]")
    bf3 = next(f for f in result.functions if f.bdf == "0006:03:00.0")
    assert (bf3.class_name, bf3.rev) == ("Ethernet controller", "01")


@pytest.mark.parametrize("text, line, reason", [
    ("86:00.0 Infiniband controller [0207]: Mellanox [15b3:1017]\nnot a device line\n", 2,
     "not an lspci device line"),
    ("\tControl: I/O- Mem+\n17:00.0 PCI bridge: x\n\tACSCtl:\tSrcValid? TransBlk-\n", 3,
     "Flag+/Flag-"),
    ("\t\tACSCtl:\tSrcValid- TransBlk-\nstray text\n", 2, "before any device header"),
    ("", 0, "no lspci output"),
])
def test_hand_made_errors(text, line, reason):
    check_parse_error(parse, text, "lspci", line, reason)
