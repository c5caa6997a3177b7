"""ibv_devinfo plain, -v and -l."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ibv_devinfo import parse
from tests.parsers.conftest import fixture_text, parse_error


def test_heioy_two_cx3_plain():
    result = parse(fixture_text("ibv_devinfo", "heioy-two-cx3-mlx4-ib-one-port-down"))
    assert [h.hca_id for h in result.hcas] == ["mlx4_1", "mlx4_0"]
    hca = result.hca("mlx4_1")
    assert (hca.transport, hca.fw_ver, hca.board_id, hca.phys_port_cnt) == (
        "InfiniBand", "2.42.5000", "MT_1090120019", 2)
    assert (hca.node_guid, hca.sys_image_guid) == ("7cfe:9003:00a5:95c0", "7cfe:9003:00a5:95c3")
    assert (hca.vendor_id, hca.vendor_part_id, hca.hw_ver) == (0x02C9, 4099, "0x1")
    port1, port2 = hca.ports
    assert (port1.port, port1.state, port1.state_number, port1.active) == (1, "PORT_ACTIVE", 4, True)
    assert (port1.max_mtu, port1.active_mtu) == (4096, 4096)
    assert (port1.sm_lid, port1.port_lid, port1.port_lmc, port1.link_layer) == (1, 22, 0, "InfiniBand")
    assert (port2.state, port2.state_number, port2.sm_lid, port2.port_lid) == ("PORT_DOWN", 1, 0, 0)
    mlx4_0 = result.hca("mlx4_0")
    assert mlx4_0.node_guid == "e41d:2d03:00e0:c740"
    assert (mlx4_0.port(1).sm_lid, mlx4_0.port(1).port_lid) == (18, 32)
    assert mlx4_0.port(2).state == "PORT_DOWN"


def test_heioy_list():
    result = parse(fixture_text("ibv_devinfo", "heioy-list-l"))
    assert result.listed == ("mlx4_1", "mlx4_0")
    assert result.names == ("mlx4_1", "mlx4_0")
    assert result.hcas == ()


def test_heioy_verbose_port_down_polling():
    result = parse(fixture_text("ibv_devinfo", "heioy-verbose-mlx4-port2-down"))
    (hca,) = result.hcas
    assert (hca.hca_id, hca.fw_ver, hca.phys_port_cnt) == ("mlx4_1", "2.42.5000", 2)
    assert hca.fields["max_qp"] == "393144"
    assert "BAD_PKEY_CNTR" in hca.fields["_other"]
    (port,) = hca.ports
    assert (port.port, port.state, port.phys_state) == (2, "PORT_DOWN", "POLLING")
    assert (port.active_width, port.active_speed) == ("4X", "2.5 Gbps")
    assert (port.max_mtu, port.active_mtu, port.link_layer) == (4096, 4096, "InfiniBand")
    assert port.fields["port_cap_flags"] == "0x0251486a"
    assert [(g.index, g.gid, g.type) for g in port.gids] == [
        (0, "fe80:0000:0000:0000:7cfe:9003:00a5:95c2", None)]


def test_stelline_cx7_roce_without_device_ports_line():
    result = parse(fixture_text("ibv_devinfo", "stelline-cx7-roce-mlx5_1-active"))
    (hca,) = result.hcas
    assert (hca.hca_id, hca.fw_ver, hca.vendor_part_id, hca.board_id) == (
        "mlx5_1", "28.43.2566", 4129, "MT_0000000834")
    (port,) = hca.ports
    assert (port.state, port.active_mtu, port.link_layer, port.port_lid) == ("PORT_ACTIVE", 4096, "Ethernet", 0)


def test_roce_v2_gid_and_no_devices():
    # hand-made: rdma-core prints ', RoCE v2' after RoCE GIDs; no devices prints one sentence
    text = ("hca_id:\tmlx5_0\n\tphys_port_cnt:\t1\n\t\tport:\t1\n\t\t\tstate:\tPORT_ACTIVE (4)\n"
            "\t\t\tGID[  3]:\t\t::ffff:172.16.0.10, RoCE v2\n")
    (gid,) = parse(text).hcas[0].port(1).gids
    assert (gid.index, gid.gid, gid.type) == (3, "::ffff:172.16.0.10", "RoCE v2")
    assert parse("No IB devices found\n").no_devices is True


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("", 0),
    ("transport: InfiniBand (0)\n", 1),
    ("hca_id: mlx5_0\n\tphys_port_cnt: many\n", 2),
    ("hca_id: mlx5_0\n\tport: 1\n\t\tstate: ACTIVE\n", 3),
    ("hca_id: mlx5_0\n\tport: 1\n\t\tactive_mtu: 12 (1)\n", 3),
    ("hca_id: mlx5_0\n\tport: 1\n\t\tgarbage line\n", 3),
    ("hca_id: mlx5_0\n\tport: 0\n", 2),
    ("2 HCAs found:\n\tmlx5_0\n", 1),
    ("1 HCA found:\n\tmlx5 0\n", 2),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("ibv_devinfo", line)
