"""mlnx_qos -i IF: trust state, dscp2prio, PFC table, tc/tsa, and error line numbers."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.mlnx_qos import TcConfig, parse
from tests.parsers._fixtures_qos import check_parse_error, fixture_names, read_fixture


@pytest.mark.parametrize("name", fixture_names("mlnx_qos"))
def test_every_netarbiter_output_reads_trust_dscp_pfc3(name):
    qos = parse(read_fixture("mlnx_qos", name))
    assert qos.dcbx_mode == "OS controlled"
    assert qos.trust == "dscp"
    assert qos.cable_len == 7
    assert qos.pfc_enabled == {0: False, 1: False, 2: False, 3: True, 4: False, 5: False,
                               6: False, 7: False}
    assert qos.pfc_priorities == (3,)
    assert qos.pfc_buffer is None  # this mlnx_qos version prints no buffer row


def test_dscp2prio_table_as_printed():
    qos = parse(read_fixture("mlnx_qos", "netarbiter-trust-dscp-pfc3-vendor-tsa"))
    assert len(qos.dscp2prio) == 64
    # "prio:3 dscp:31,30,29,28,27,26,25,24,"
    assert [d for d, p in sorted(qos.dscp2prio.items()) if p == 3] == list(range(24, 32))
    assert qos.prio_for_dscp(26) == 3  # netarbiter's ToS 106 = DSCP 26
    assert qos.prio_for_dscp(40) == 5  # Spiderpool's RDMA DSCP
    assert qos.prio_for_dscp(48) == 6  # Spiderpool's CNP DSCP
    assert qos.prio_for_dscp(7) == 0


def test_traffic_classes_vendor_tsa_and_swapped_prio_0_1():
    qos = parse(read_fixture("mlnx_qos", "netarbiter-after-pfc-0001000"))
    assert qos.tcs[0] == TcConfig(tc=0, tsa="vendor", ratelimit="unlimited", bw_percent=None,
                                  priorities=(1,))
    assert qos.tcs[1].priorities == (0,)
    assert [qos.tcs[tc].priorities for tc in range(2, 8)] == [(2,), (3,), (4,), (5,), (6,), (7,)]
    assert {tc.tsa for tc in qos.tcs.values()} == {"vendor"}
    assert qos.tc_for_priority(3) == 3 and qos.tc_for_priority(0) == 1


# hand-made: ETS variant with buffer row, pcp trust and several priorities per tc, written
# from the mlnx_qos layout above (tabs, CRLF and a set -x line mixed in on purpose).
ETS_PCP = (
    "+ mlnx_qos -i ens1f0np0\r\n"
    "DCBX mode: Firmware controlled\r\n"
    "Priority trust state: pcp\r\n"
    "PFC configuration:\r\n"
    "\tpriority    0   1   2   3   4   5   6   7\r\n"
    "\tenabled     0   0   0   0   0   1   0   0   \r\n"
    "\tbuffer      0   0   0   0   0   1   0   0   \r\n"
    "tc: 0 ratelimit: unlimited, tsa: ets, bw: 50%\r\n"
    "\t priority:  0\r\n"
    "\t priority:  1\r\n"
    "tc: 5 ratelimit: unlimited, tsa: ets, bw: 50%\r\n"
    "\t priority:  5\r\n"
    "tc: 6 ratelimit: unlimited, tsa: strict\r\n"
    "\t priority:  6\r\n"
)


def test_hand_made_ets_pcp_with_buffer_row():
    qos = parse(ETS_PCP)
    assert qos.dcbx_mode == "Firmware controlled"
    assert qos.trust == "pcp"
    assert qos.pfc_priorities == (5,)
    assert qos.pfc_buffer == {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 0, 7: 0}
    assert qos.dscp2prio == {}
    assert qos.tcs[0] == TcConfig(0, "ets", "unlimited", 50, (0, 1))
    assert (qos.tcs[6].tsa, qos.tcs[6].bw_percent) == ("strict", None)


@pytest.mark.parametrize("text, line, reason", [
    ("PFC configuration:\n\tpriority 0 1 2 3 4 5 6 7\n\tenabled 0 0 1\n", 3, "3 values"),
    ("PFC configuration:\n\tenabled 0 0 0 1 0 0 0 0\n", 2, "before the priority row"),
    ("dscp2prio mapping:\n\tprio:9 dscp:07,06,\n", 2, "dscp2prio priority 9 out of range"),
    ("dscp2prio mapping:\n\tprio:1 dscp:64,\n", 2, "DSCP 64"),
    ("Priority trust state: dscp\n\t priority:  1\n", 2, "before any tc"),
    ("Cable len: seven\n", 1, "cable length is not a number"),
    ("something else entirely\n", 1, "no mlnx_qos fields"),
])
def test_hand_made_errors_point_at_the_line(text, line, reason):
    check_parse_error(parse, text, "mlnx_qos", line, reason)


def test_error_line_counts_the_fixture_header():
    text = read_fixture("mlnx_qos", "netarbiter-after-pfc-0001000").replace(
        "enabled     0   0   0   1", "enabled     0   0   0   x")
    # 3 header lines + line 15 of the output
    check_parse_error(parse, text, "mlnx_qos", 18, "PFC enabled is not a number")
