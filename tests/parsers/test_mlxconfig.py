"""mlxconfig/mstconfig query: plain (Next Boot only), -e (Default/Current/Next Boot), grep'd lines."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.mlxconfig import link_type, parse
from tests.parsers.conftest import fixture_text, parse_error


def test_spiderpool_grep_link_type_ib():
    result = parse(fixture_text("mlxconfig", "spiderpool-link-type-p1-ib"))
    param = result.param("LINK_TYPE_P1")
    assert (param.next_boot.raw, param.next_boot.label, param.next_boot.number) == ("IB(1)", "IB", 1)
    assert param.current is None and param.default is None
    assert link_type(result, 1, "next_boot") == "IB"
    assert link_type(result, 1, "current") is None  # plain q cannot tell the running type
    assert link_type(result, 2) is None


def test_terrencemiao_cx4_plain_query():
    result = parse(fixture_text("mlxconfig", "terrencemiao-cx4-vpi-query-link-type-eth-elided"))
    (device,) = result.devices
    assert (device.index, device.device_type, device.name, device.device) == (
        1, "ConnectX4", "00KH925_Ax", "/dev/mst/mt4115_pciconf0")
    assert device.description == "Mellanox ConnectX-4 EDR IB VPI Single-port x16 PCIe 3.0 HCA"
    assert link_type(result, 1) == "ETH"
    assert result.param("SRIOV_EN").next_boot.number == 1
    assert result.param("NUM_OF_VFS").next_boot.number == 8
    assert result.elided is True


def test_hpe_cx6_e_query_current_differs_from_default():
    result = parse(fixture_text("mlxconfig", "hpe-shs-cx6-e-query-egrep-link-type-eth"))
    assert result.devices[0].columns == ("default", "current", "next_boot")
    link = result.param("LINK_TYPE_P1")
    assert link.changed is True
    assert (link.default.raw, link.current.raw, link.next_boot.raw) == ("IB(1)", "ETH(2)", "ETH(2)")
    assert [link_type(result, 1, col) for col in ("default", "current", "next_boot")] == ["IB", "ETH", "ETH"]
    ordering = result.param("PCI_WR_ORDERING")
    assert (ordering.current.label, ordering.next_boot.label, ordering.next_boot.number) == (
        "per_mkey", "force_relax", 1)
    assert result.param("EXP_ROM_PXE_ENABLE").next_boot.raw == "False(0)"


def test_hpe_cx5_e_query_elided():
    result = parse(fixture_text("mlxconfig", "hpe-shs-cx5-e-query-elided"))
    (device,) = result.devices
    assert (device.device_type, device.name) == ("ConnectX5", "MCX515A-CCA_Ax_Bx")
    assert list(device.params) == ["MEMIC_BAR_SIZE", "MEMIC_SIZE_LIMIT", "ADVANCED_PCI_SETTINGS",
                                   "SAFE_MODE_THRESHOLD", "SAFE_MODE_ENABLE"]
    adv = result.param("ADVANCED_PCI_SETTINGS")
    assert adv.changed and (adv.default.number, adv.current.number, adv.next_boot.number) == (0, 1, 1)
    memic = result.param("MEMIC_SIZE_LIMIT")
    assert (memic.current.label, memic.current.number, memic.changed) == ("_256KB", 1, False)
    assert result.param("SAFE_MODE_THRESHOLD").current.number == 10
    assert link_type(result, 1, "current") is None  # EN card: no LINK_TYPE
    assert result.elided is True


def test_two_ports_vpi_and_error_line():
    # hand-made: a ConnectX-3 style VPI value, port 2, grep'd -e lines without a header, an -E- line
    text = ("LINK_TYPE_P1     VPI(3)     IB(1)     ETH(2)\n"
            "LINK_TYPE_P2     VPI(3)     ETH(2)    ETH(2)\n"
            "-E- Failed to open device: 0000:86:00.1\n")
    result = parse(text)
    assert (link_type(result, 1, "default"), link_type(result, 1, "current"), link_type(result, 1)) == (
        "VPI", "IB", "ETH")
    assert link_type(result, 2, "current") == "ETH"
    assert result.errors == ("-E- Failed to open device: 0000:86:00.1",)


def test_array_values_keep_raw_text():
    # hand-made: a plain q line whose value has no number
    value = parse("ESWITCH_HAIRPIN_DESCRIPTORS         Array[0..7]\n").param("ESWITCH_HAIRPIN_DESCRIPTORS").next_boot
    assert (value.raw, value.label, value.number) == ("Array[0..7]", "Array[0..7]", None)


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("", 0),
    ("LINK_TYPE_P1   IB(1)   ETH(2)\n", 1),
    ("Configurations:     Default    Current    Next Boot\n   LINK_TYPE_P1   IB(1)\n", 2),
    ("Device #1:\n\nwhat is this\n", 3),
    ("LINK_TYPE_P1   IB(1)\nLINK_TYPE_P1   ETH(2)\n", 2),
    ("LINK_TYPE_P1\n", 1),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("mlxconfig", line)
