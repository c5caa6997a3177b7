"""rdma link: devices, ports, states, netdevs and the IB LID fields."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.rdma_link import parse
from tests.parsers.conftest import fixture_text, parse_error


def test_spiderpool_host_roce_elided():
    result = parse(fixture_text("rdma_link", "spiderpool-host-roce-cx5-elided"))
    assert [(l.device, l.port, l.netdev) for l in result.links] == [
        ("mlx5_0", 1, "ens6f0np0"), ("mlx5_1", 1, "ens6f1np1")]
    assert all(l.state == "ACTIVE" and l.physical_state == "LINK_UP" and l.active for l in result.links)
    assert result.elided is True


def test_spiderpool_ipoib_lid_fields():
    result = parse(fixture_text("rdma_link", "spiderpool-ipoib-ib-lid-smlid"))
    (link,) = result.links
    assert link.name == "mlx5_0/1"
    assert link.subnet_prefix == "fe80:0000:0000:0000"
    assert (link.lid, link.sm_lid, link.lmc) == (2, 2, 0)
    assert link.netdev is None
    assert link.active
    assert result.elided is False


def test_spiderpool_pod_sriov_vfs():
    result = parse(fixture_text("rdma_link", "spiderpool-pod-sriov-vfs-elided"))
    assert [(l.device, l.netdev) for l in result.links] == [
        ("mlx5_27", "net2"), ("mlx5_54", "net1"), ("mlx5_67", "net4"), ("mlx5_98", "net3")]
    assert result.elided is True
    assert result.get("mlx5_67").netdev == "net4"
    assert result.get("mlx5_99") is None


def test_daocloud_four_space_indent():
    result = parse(fixture_text("rdma_link", "daocloud-cx5-roce-enp4s0f0np0"))
    assert [l.netdev for l in result.links] == ["enp4s0f0np0", "enp4s0f1np1"]
    assert all(l.active for l in result.links)


def test_details_and_old_format():
    # hand-made: '-d' adds netdev_index and a caps line; pre-2019 iproute2 printed 'idx/port: dev/port:'
    text = ("link mlx5_0/1 state DOWN physical_state DISABLED netdev eth2 netdev_index 5 \n"
            "    caps: <CM, IP_BASED_GIDS>\n"
            "1/1: mlx5_1/1: state ACTIVE physical_state LINK_UP netdev eth3 \n")
    down, old = parse(text).links
    assert (down.state, down.physical_state, down.netdev_index) == ("DOWN", "DISABLED", 5)
    assert down.caps == ("CM", "IP_BASED_GIDS")
    assert not down.active
    assert (old.device, old.port, old.netdev, old.active) == ("mlx5_1", 1, "eth3", True)


def test_json_new_and_old_ifname():
    # hand-made: 'rdma -j link' keys from iproute2 rdma/link.c (new: ifname+port; old: ifname 'dev/port')
    text = ('[{"ifindex":0,"ifname":"mlx5_0","port":1,"state":"ACTIVE","physical_state":"LINK_UP",'
            '"netdev":"ens6f0np0","netdev_index":4},'
            '{"ifindex":1,"port":1,"ifname":"mlx5_1/1","subnet_prefix":"fe80:0000:0000:0000","lid":2,'
            '"sm_lid":2,"lmc":0,"state":"ACTIVE","physical_state":"LINK_UP"}]')
    first, second = parse(text).links
    assert (first.device, first.port, first.netdev, first.netdev_index) == ("mlx5_0", 1, "ens6f0np0", 4)
    assert (second.device, second.port, second.lid, second.sm_lid) == ("mlx5_1", 1, 2, 2)


def test_empty_output_means_no_links():
    # hand-made: a host without RDMA devices prints nothing
    assert parse("").links == ()


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("link mlx5_0 state ACTIVE\n", 1),
    ("link mlx5_0/1 state ACTIVE physical_state LINK_UP\nrubbish here\n", 2),
    ("link mlx5_0/1 state\n", 1),
    ("link mlx5_0/1 lid two\n", 1),
    ("link mlx5_0/1 lid 70000\n", 1),
    ("link mlx5_0/1 state active\n", 1),
    ("    caps: <CM>\n", 1),
    ('[{"ifname":"mlx5_0"}]', 0),
    ('[{"ifname":"mlx5_0","port":"1"}]', 0),
    ('[{"ifname":"mlx5_0","port":1,"lid":true}]', 0),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("rdma_link", line)
