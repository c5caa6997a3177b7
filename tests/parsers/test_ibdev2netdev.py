"""ibdev2netdev: RDMA device/port -> netdev and its Up/Down state."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ibdev2netdev import parse
from tests.parsers.conftest import fixture_text, parse_error


def test_daocloud_cx5_roce():
    result = parse(fixture_text("ibdev2netdev", "daocloud-cx5-roce-two-up"))
    assert [(e.device, e.port, e.netdev, e.up) for e in result.entries] == [
        ("mlx5_0", 1, "enp4s0f0np0", True), ("mlx5_1", 1, "enp4s0f1np1", True)]
    assert result.netdev_of("mlx5_1") == "enp4s0f1np1"


def test_heioy_cx3_ipoib():
    result = parse(fixture_text("ibdev2netdev", "heioy-cx3-ib0-ib1-up"))
    assert [(e.device, e.port, e.netdev, e.state) for e in result.entries] == [
        ("mlx4_0", 1, "ib0", "Up"), ("mlx4_0", 2, "ib1", "Up")]


def test_verbose_and_down():
    # hand-made: '-v' form and a Down netdev
    text = ("0000:02:00.0 mlx5_0 (MT4115 - MT1523X04353) CX456A - ConnectX-4 QSFP fw 12.23.1020 "
            "port 1 (ACTIVE) ==> enp2s0f0 (Up)\n"
            "mlx5_2 port 1 ==> enp2s0f2 (Down)\n")
    verbose, down = parse(text).entries
    assert (verbose.pci, verbose.device, verbose.port, verbose.port_state, verbose.netdev, verbose.up) == (
        "0000:02:00.0", "mlx5_0", 1, "ACTIVE", "enp2s0f0", True)
    assert (down.device, down.netdev, down.up) == ("mlx5_2", "enp2s0f2", False)


def test_empty_means_no_devices():
    assert parse("").entries == ()


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("mlx5_0 port 1 ==> eth0\n", 1),
    ("mlx5_0 port 1 ==> eth0 (Up)\nmlx5_1 port x ==> eth1 (Up)\n", 2),
    ("\n\nnothing to see\n", 3),
    ("mlx5_0 port 999 ==> eth0 (Up)\n", 1),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("ibdev2netdev", line)
