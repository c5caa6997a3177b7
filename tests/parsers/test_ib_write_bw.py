"""ib_write_bw: header facts, result rows and units, interleaved logs, waiting, failures."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ib_write_bw import BwFailureKind, parse
from tests.parsers._fixtures_qos import check_parse_error, fixture_names, read_fixture

OCI = ("ib_write_bw", "oci-oke-roce-client-rdmacm-gid3-tos41-4qp-gbits")


@pytest.mark.parametrize("name", fixture_names("ib_write_bw"))
def test_every_fixture_is_a_result_or_waiting(name):
    result = parse(read_fixture("ib_write_bw", name))
    assert result.failure is None
    assert result.ok or result.waiting


def test_oci_roce_client_gbits():
    result = parse(read_fixture(*OCI))
    h = result.header
    assert (h.test_name, h.device, h.link_type) == ("RDMA_Write BW Test", "mlx5_5", "Ethernet")
    assert (h.num_qps, h.transport_type, h.connection_type, h.using_srq) == (4, "IB", "RC", False)
    assert (h.mtu, h.gid_index, h.tx_depth, h.cq_moderation) == (4096, 3, 128, 100)
    assert (h.rdma_cm, h.data_exchange, h.tos, h.max_inline_data) == (True, "rdma_cm", 41, 0)
    assert h.bw_unit == "Gb/sec"
    (row,) = result.rows
    assert (row.bytes, row.iterations, row.bw_peak, row.bw_average) == (65536, 20000, 98.01, 98.01)
    assert row.msg_rate_mpps == 0.186932
    assert result.average_gbps == 98.01
    assert result.ok and not result.waiting
    assert len(result.local_gids) == 4
    assert result.local_gids[0] == "00:00:00:00:00:00:00:00:00:00:255:255:10:224:04:233"
    assert result.remote_gids[-1] == "00:00:00:00:00:00:00:00:00:00:255:255:10:224:05:57"


def test_server_waiting_banner_has_no_result():
    result = parse(read_fixture("ib_write_bw", "oci-oke-server-waiting-banner"))
    assert result.waiting and result.rows == [] and result.average_gbps is None
    assert result.failure is None and not result.ok


def test_superbench_8m_interleaved_server_and_client_mib_units():
    result = parse(read_fixture("ib_write_bw",
                                "superbench-ib-loopback-8M-server-and-client-interleaved"))
    h = result.header
    assert (h.device, h.link_type, h.num_qps, h.rdma_cm, h.gid_index) == ("ib0", "IB", 1, False,
                                                                         None)
    assert (h.pcie_relax_order, h.data_exchange, h.bw_unit) == (True, "Ethernet", "MB/sec")
    (row,) = result.rows  # both sides printed the same row: kept once
    assert (row.bytes, row.iterations, row.bw_average) == (8388608, 20000, 24056.72)
    # perftest MB = 2^20 bytes: 24056.72 * 2^20 * 8 / 1e9
    assert result.average_gbps == pytest.approx(201.802, abs=1e-3)
    assert row.peak_gbps == pytest.approx(201.802, abs=1e-3)
    assert not result.waiting  # a banner was printed, but results followed


def test_superbench_all_sizes_sweep():
    result = parse(read_fixture("ib_write_bw", "superbench-ib-loopback-all-sizes-interleaved"))
    assert [r.bytes for r in result.rows] == [2 ** n for n in range(1, 24)]
    assert result.rows[0].bw_average == 5.30 and result.rows[0].msg_rate_mpps == 2.778732
    assert result.rows[-1].bw_average == 23240.68
    assert result.average_gbps == pytest.approx(194.957, abs=1e-3)  # last (8 MiB) row
    assert result.header.extra == {"ibv_wr* API": "ON"}
    assert result.header.cq_moderation == 100


# Verbatim excerpt quoted in bandwidth-practice.md §1.3 (OpenShift docs [32]); its " ..."
# lines are the quoting author's elisions.
MTU_FALLBACK = """\
Requested mtu is higher than active mtu
Changing to active mtu - 3
 ...
 Mtu             : 1024[B]
 Link type       : Ethernet
 GID index       : 3
 ...
 #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]
 65536      10329004         0.00               180.47 		     0.344228
"""


def test_mtu_fallback_is_a_warning_on_a_successful_run():
    result = parse(MTU_FALLBACK)
    assert (result.header.mtu, result.header.link_type, result.header.gid_index) == (
        1024, "Ethernet", 3)
    assert result.ok and result.average_gbps == 180.47
    assert result.rows[0].bw_peak == 0.0  # duration mode: peak not measured
    assert [(w.kind, w.line) for w in result.warnings] == [
        (BwFailureKind.MTU_FALLBACK, 1), (BwFailureKind.MTU_FALLBACK, 2)]


def test_mib_header_from_perftest_24_07():
    # hand-made header line in the 24.07+ spelling around the k8s-netperf row quoted in §1.3
    text = (" #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]\n"
            " 65536      130030           0.00               2708.88              0.043342\n")
    result = parse(text)
    assert result.header.bw_unit == "MiB/sec"
    assert result.average_gbps == pytest.approx(22.724, abs=1e-3)


RESULT_THEN_LIMIT = read_fixture(*OCI) + " Error: BW result is below bw limit\n"

# hand-made failure runs: each error text is the signature bandwidth-practice.md §5 quotes.
FAILURES = [
    (" IB device mlx5_9 not found\n Unable to find the Infiniband/RoCE device\n",
     BwFailureKind.NO_DEVICE, 1),
    (" No IB devices found\n", BwFailureKind.NO_DEVICE, 1),
    ("taskset: failed to execute /usr/bin/ib_write_bw: No such file or directory\n",
     BwFailureKind.BINARY_MISSING, 1),
    ("                    RDMA_Write BW Test\n Port number 1 state is Down\n",
     BwFailureKind.PORT_NOT_ACTIVE, 2),
    (" local address: LID 0000 QPN 0x0093 PSN 0xbf9bfe\n"
     " GID: 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00\n"
     " Unable to Connect the HCA's through the link\n", BwFailureKind.EMPTY_GID, 3),
    (" local address: LID 0000 QPN 0x0093 PSN 0xbf9bfe\n"
     " GID: 00:00:00:00:00:00:00:00:00:00:255:255:10:224:04:233\n"
     " Unable to Connect the HCA's through the link\n", BwFailureKind.HCA_CONNECT_FAILED, 3),
    (" Unable to set up socket connection\n", BwFailureKind.INVALID_GID_INDEX, 1),
    ("Found Incompatibility issue with GID types.\n Please Try to use a different IP version.\n",
     BwFailureKind.GID_TYPE_MISMATCH, 1),
    (" Completion with error at client\n Failed status 12: wr_id 0 syndrom 0x81\n",
     BwFailureKind.TRANSPORT_RETRY_EXCEEDED, 2),
    (" Completion with error at client\n"
     " Failed status-transport retry counter exceeded (12): wr_id 0 syndrom 0x81\n",
     BwFailureKind.TRANSPORT_RETRY_EXCEEDED, 2),
    (" Completion with error at client\n", BwFailureKind.COMPLETION_ERROR, 1),
    ("Couldn't connect to 10.0.0.2:18515\n Unable to init the socket connection\n",
     BwFailureKind.CONNECT_FAILED, 1),
    ("* Waiting for client to connect... *\n"
     "ethernet_read_keys: Couldn't read remote address\n"
     " Failed to exchange data between server and clients\n",
     BwFailureKind.EXCHANGE_FAILED, 2),
    ("Did not get Message for 120 Seconds, exiting..\n", BwFailureKind.SERVER_TIMEOUT, 1),
    (" Couldn't allocate MR\n Couldn't create IB resources\n", BwFailureKind.MEMLOCK, 1),
    ("failed to create mr\n", BwFailureKind.MEMLOCK, 1),
    (" Current implementation is not compatible with versions older than 5.70\n",
     BwFailureKind.VERSION_MISMATCH, 1),
]


@pytest.mark.parametrize("text, kind, line", FAILURES)
def test_hand_made_failure_signatures(text, kind, line):
    result = parse(text)
    assert result.failure is not None
    assert (result.failure.kind, result.failure.line) == (kind, line)
    assert result.rows == [] and not result.ok and not result.waiting


def test_below_bw_limit_keeps_the_result():
    result = parse(RESULT_THEN_LIMIT)
    assert result.average_gbps == 98.01
    assert result.failure.kind is BwFailureKind.BELOW_BW_LIMIT
    assert result.failure.line == 38 and not result.ok


@pytest.mark.parametrize("text, line, reason", [
    ("", 0, "neither"),
    ("hello\n", 0, "neither"),
    ("                    RDMA_Write BW Test\n Device         : mlx5_0\n", 0, "neither"),
    (" 65536      20000            98.01              98.01   0.186932\n", 1,
     "before the '#bytes' header"),
    (" #bytes     #iterations    BW peak[GB/sec]    BW average[GB/sec]   MsgRate[Mpps]\n", 1,
     "unknown bandwidth unit"),
    (" #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n"
     " 65536      20000            98.01              98.01\n", 2, "4 fields"),
    (" #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n"
     " 65536      20000            98.01              fast   0.1\n", 2, "non-numeric"),
])
def test_unrecognisable_runs_raise(text, line, reason):
    check_parse_error(parse, text, "ib_write_bw", line, reason)
