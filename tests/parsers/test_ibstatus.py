"""ibstatus: per device/port GID, LIDs (hex), numbered state, rate and link layer."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ibstatus import parse
from tests.parsers.conftest import fixture_text, parse_error


def test_gpud_a100_azure_hdr():
    result = parse(fixture_text("ibstatus", "gpud-a100-azure-ib-hdr-all-active"))
    assert [p.device for p in result.ports] == [f"mlx5_{i}" for i in range(9)]
    first = result.get("mlx5_0", 1)
    assert first.default_gid == "fe80:0000:0000:0000:0015:5dff:fd34:11eb"
    assert (first.base_lid, first.sm_lid) == (0x33BF, 1)
    assert (first.state_number, first.state) == (4, "ACTIVE")
    assert (first.phys_state_number, first.phys_state) == (5, "LinkUp")
    assert (first.rate_gbps, first.rate_text) == (200.0, "4X HDR")
    assert first.link_layer == "InfiniBand"
    assert first.active
    assert result.get("mlx5_7").base_lid == 0x33F9
    eth = result.get("mlx5_8")
    assert eth.default_gid is None  # printed as 'unknown'
    assert (eth.base_lid, eth.sm_lid) == (0, 0)
    assert (eth.rate_gbps, eth.rate_text, eth.link_layer) == (40.0, "4X QDR", "Ethernet")


def test_older_ibstatus_without_link_layer():
    # hand-made: older infiniband-diags print no link_layer and a rate without the width text
    text = ("Infiniband device 'mlx4_0' port 2 status:\n\tdefault gid:\t fe80::1\n"
            "\tbase lid:\t 0x0\n\tsm lid:\t\t 0x0\n\tstate:\t\t 1: DOWN\n"
            "\tphys state:\t 2: Polling\n\trate:\t\t 2.5 Gb/sec\n")
    (port,) = parse(text).ports
    assert (port.device, port.port, port.state, port.phys_state) == ("mlx4_0", 2, "DOWN", "Polling")
    assert (port.rate_gbps, port.rate_text, port.link_layer) == (2.5, None, None)
    assert not port.active


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("", 0),
    ("\tstate: 4: ACTIVE\n", 1),
    ("Infiniband device 'mlx5_0' port 1 status:\n\tstate: ACTIVE\n", 2),
    ("Infiniband device 'mlx5_0' port 1 status:\n\tbase lid: 0xZZ\n", 2),
    ("Infiniband device 'mlx5_0' port 1 status:\n\trate: fast\n", 2),
    ("Infiniband device 'mlx5_0' port 1 status:\n\n\tcolour: blue\n", 3),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("ibstatus", line)
