"""ethtool -S IF: counters as ints, per-priority pause/discard helpers, error lines."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ethtool_stats import parse
from tests.parsers._fixtures_qos import check_parse_error, read_fixture

LORE = ("ethtool_stats", "lore-bpf-mlx5-kernel-5.15-nonzero-counters")


def test_mlx5_counters_from_bpf_list_report():
    stats = parse(read_fixture(*LORE))
    assert len(stats.counters) == 101
    assert stats.get("rx_packets") == 333854100
    assert stats.get("rx_discards_phy") == 58591428329
    assert stats.get("tx_pause_ctrl_phy") == 5745055
    assert stats.get("tx_global_pause") == 5745042
    assert stats.get("rx_vport_rdma_unicast_packets") is None  # omitted by the author


def test_prio_helpers_on_real_output():
    stats = parse(read_fixture(*LORE))
    prio0 = stats.prio(0)
    assert prio0.rx_discards == 58591314012
    assert (prio0.rx_bytes, prio0.tx_packets) == (6211318150440, 5582625883)
    assert prio0.rx_pause is None and prio0.tx_pause is None  # global pause, not PFC
    prio5 = stats.prio(5)
    assert (prio5.rx_pause, prio5.tx_discards) == (None, None)


# hand-made: grep'd per-priority counters in mlx5's naming ({rx,tx}_prio<N>_*), as the
# Spiderpool design verifies them on priority 5.
PFC5 = """\
     rx_prio5_bytes: 84719203847
     rx_prio5_packets: 20693166
     rx_prio5_discards: 0
     tx_prio5_bytes: 83991204773
     tx_prio5_packets: 20515332
     rx_prio5_pause: 41927
     rx_prio5_pause_duration: 8134
     tx_prio5_pause: 1290418
     tx_prio5_pause_duration: 2914772
     rx_prio5_pause_transition: 39218
"""


def test_hand_made_pfc_priority_5():
    p = parse(PFC5).prio(5)
    assert (p.rx_pause, p.tx_pause) == (41927, 1290418)
    assert (p.rx_pause_duration, p.tx_pause_duration) == (8134, 2914772)
    assert p.rx_pause_transition == 39218 and p.tx_pause_transition is None
    assert (p.rx_discards, p.tx_discards) == (0, None)


@pytest.mark.parametrize("text, line, reason", [
    ("NIC statistics:\n     rx_packets: 12\n     tx_packets: many\n", 3, "counter tx_packets is not a number"),
    ("NIC statistics:\n     rx_packets 12\n", 2, "not a 'name: value'"),
    ("no stats available\n", 1, "not a 'name: value'"),
    ("NIC statistics:\n", 0, "no counters"),
])
def test_hand_made_errors(text, line, reason):
    check_parse_error(parse, text, "ethtool -S", line, reason)
