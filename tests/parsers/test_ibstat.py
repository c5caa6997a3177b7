"""ibstat in all its forms: all CAs, one CA, one port, -s, grep'd lines, ibpanic."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ibstat import parse
from tests.parsers.conftest import fixture_text, parse_error


def _ports(result):
    return {ca.name: (p.state, p.physical_state, p.rate_gbps, p.link_layer)
            for ca in result.cas for p in ca.ports}


def test_heioy_two_cx3_all_cas():
    result = parse(fixture_text("ibstat", "heioy-cx3-two-hca-dual-port-fdr56"))
    assert [ca.name for ca in result.cas] == ["mlx4_0", "mlx4_1"]
    mlx4_0 = result.ca("mlx4_0")
    assert (mlx4_0.ca_type, mlx4_0.num_ports, mlx4_0.firmware_version, mlx4_0.hardware_version) == (
        "MT4099", 2, "2.42.5000", "1")
    assert (mlx4_0.node_guid, mlx4_0.system_image_guid) == ("0xec0d9a03000c8980", "0xec0d9a03000c8983")
    port2 = mlx4_0.port(2)
    assert (port2.state, port2.physical_state, port2.rate_gbps) == ("Active", "LinkUp", 56.0)
    assert (port2.base_lid, port2.lmc, port2.sm_lid) == (12, 0, 9)
    assert port2.capability_mask == 0x02514868
    assert port2.port_guid == "0xec0d9a03000c8982"
    assert port2.link_layer == "InfiniBand"
    mlx4_1 = result.ca("mlx4_1")
    assert [(p.number, p.base_lid, p.sm_lid) for p in mlx4_1.ports] == [(1, 1, 7), (2, 4, 7)]
    assert result.error is None


def test_heioy_single_ca():
    result = parse(fixture_text("ibstat", "heioy-ibstat-dev-mlx4_1"))
    (ca,) = result.cas
    assert ca.name == "mlx4_1" and ca.node_guid == "0xf45214030033b850"
    assert [(p.number, p.state, p.base_lid, p.sm_lid) for p in ca.ports] == [
        (1, "Active", 1, 7), (2, "Active", 4, 7)]


def test_heioy_single_port_form():
    result = parse(fixture_text("ibstat", "heioy-ibstat-dev-port-mlx4_0-2"))
    (ca,) = result.cas
    assert ca.name == "mlx4_0" and ca.ca_type is None
    (port,) = ca.ports
    assert (port.number, port.state, port.physical_state, port.rate_gbps) == (2, "Active", "LinkUp", 56.0)
    assert (port.base_lid, port.sm_lid, port.port_guid) == (12, 9, "0xec0d9a03000c8982")
    assert port.link_layer == "InfiniBand"


def test_heioy_summary_s():
    result = parse(fixture_text("ibstat", "heioy-ibstat-s-short"))
    assert [(ca.name, ca.ca_type, ca.num_ports, ca.ports) for ca in result.cas] == [
        ("mlx4_0", "MT4099", 2, ()), ("mlx4_1", "MT4099", 2, ())]
    assert result.ca("mlx4_1").system_image_guid == "0xf45214030033b853"


@pytest.mark.parametrize("name, layer", [
    ("spiderpool-grep-link-layer-ethernet", "Ethernet"),
    ("spiderpool-grep-link-layer-infiniband", "InfiniBand"),
])
def test_spiderpool_grep_link_layer(name, layer):
    result = parse(fixture_text("ibstat", name))
    assert result.link_layers == (layer,)
    assert result.cas[0].name is None and result.cas[0].ports[0].number is None


def test_gpud_h100_roce_all_active():
    result = parse(fixture_text("ibstat", "gpud-h100-roce-400g-all-active"))
    assert len(result.cas) == 12
    assert set(result.link_layers) == {"Ethernet"}
    ports = _ports(result)
    assert ports["mlx5_0"] == ("Active", "LinkUp", 400.0, "Ethernet")
    assert ports["mlx5_1"] == ("Active", "LinkUp", 100.0, "Ethernet")
    assert result.ca("mlx5_1").ca_type == "MT4125"
    assert result.ca("mlx5_0").port(1).base_lid == 0


def test_gpud_roce_two_ports_down():
    result = parse(fixture_text("ibstat", "gpud-roce-two-ports-down"))
    down = sorted(ca.name for ca in result.cas for p in ca.ports if p.state == "Down")
    assert down == ["mlx5_11", "mlx5_5"]
    assert _ports(result)["mlx5_11"] == ("Down", "Disabled", 40.0, "Ethernet")
    assert result.ca("mlx5_11").port(1).port_guid == "0x0000000000000000"


def test_gpud_ib_some_down_mixed():
    result = parse(fixture_text("ibstat", "gpud-ib-400g-some-down"))
    ports = _ports(result)
    assert ports["mlx5_0"] == ("Active", "LinkUp", 400.0, "InfiniBand")
    assert result.ca("mlx5_0").port(1).sm_lid == 334
    assert sorted(n for n, v in ports.items() if v[0] == "Down") == ["mlx5_2", "mlx5_7", "mlx5_8"]
    assert sum(1 for v in ports.values() if v[3] == "InfiniBand") == 8


def test_gpud_a100_ib_200g():
    result = parse(fixture_text("ibstat", "gpud-a100-ib-200g-all-active"))
    assert len(result.cas) == 9
    assert result.link_layers.count("InfiniBand") == 8 and result.link_layers.count("Ethernet") == 1
    mlx5_1 = result.ca("mlx5_1")
    assert (mlx5_1.ca_type, mlx5_1.firmware_version) == ("MT4126", "28.37.1014")
    assert (mlx5_1.port(1).base_lid, mlx5_1.port(1).sm_lid, mlx5_1.port(1).rate_gbps) == (1369, 83, 200.0)


def test_gpud_h100_ib_with_bond():
    result = parse(fixture_text("ibstat", "gpud-h100-ib-400g-with-bond"))
    bond = result.ca("mlx5_bond_0")
    assert (bond.ca_type, bond.firmware_version) == ("MT41692", "32.38.3056")
    assert (bond.port(1).link_layer, bond.port(1).rate_gbps) == ("Ethernet", 200.0)
    assert result.ca("mlx5_9").port(1).base_lid == 2015
    assert result.link_layers.count("InfiniBand") == 8


def test_gpud_ibpanic_keeps_cas_before_it():
    result = parse(fixture_text("ibstat", "gpud-a100-azure-ibpanic-missing-device"))
    assert result.error == ("ibpanic: [1400444] main: stat of IB device 'mlx5_8' failed: "
                            "No such file or directory")
    assert [ca.name for ca in result.cas] == [f"mlx5_{i}" for i in range(8)]
    assert result.ca("mlx5_0").port(1).base_lid == 13247
    assert result.ca("mlx5_0").firmware_version == "20.41.1000"
    assert set(result.link_layers) == {"InfiniBand"}


def test_crlf_tabs_and_elision():
    # hand-made: CRLF line ends, tabs, a doc author's elision line
    text = "CA 'mlx5_0'\r\n\tCA type: MT4129\r\n\tPort 1:\r\n\t\tState: Active\r\n\t.......\r\n"
    result = parse(text)
    assert result.cas[0].port(1).state == "Active"
    assert result.elided is True


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("", 0),
    ("CA 'mlx5_0'\n\tNumber of ports: two\n", 2),
    ("CA 'mlx5_0'\n\tPort 1:\n\t\tRate: fast\n", 3),
    ("CA 'mlx5_0'\n\tPort 1:\n\t\tBase lid: 99999\n", 3),
    ("CA 'mlx5_0'\n\tNode GUID: 1234\n", 2),
    ("CA 'mlx5_0'\n\tthis is not ibstat\n", 2),
    ("CA 'mlx5_0'\n\tPort 1:\n\t\tState: Active\n\t\tState: Down\n", 4),
    ("ibpanic: failed\nCA 'mlx5_0'\n", 2),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("ibstat", line)


def test_error_line_counts_the_fixture_header():
    # hand-made: numbers point at the line of the file as given, header included
    text = "# source: x\n# context: y\n# ---\nCA 'mlx5_0'\n\tNumber of ports: two\n"
    assert parse_error(parse, text).line == 5
