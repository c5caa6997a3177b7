"""Each failure class from perftest's own signature lines (bandwidth-practice.md §5), and a
distinct actionable message per class."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdma_preflight.bandwidth.failures import FIX, FailureClass as C, JobOutput, classify
from tests.bandwidth.perftest_text import BANNER, FAILURES, MTU_FALLBACK, PEAK_WARNING, addresses, header, report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs" / "ib_write_bw"


def ok_text(gbps: float = 196.5, mtu: int = 4096) -> str:
    return header("mlx5_0", 4, 3, mtu) + addresses("172.16.1.11", "172.16.1.12") + PEAK_WARNING + report(gbps, 65536, 2)


def test_real_client_fixture_gives_its_bw_average():
    text = (FIXTURES / "oci-oke-roce-client-rdmacm-gid3-tos41-4qp-gbits.txt").read_text()
    got = classify(JobOutput(text, 0), JobOutput(BANNER, 0), "ready")
    assert (got.gbps, got.failure, got.header["gid_index"], got.header["qps"]) == (98.01, None, 3, 4)


def test_mib_per_second_output_is_normalised_to_gbits():
    text = (FIXTURES / "superbench-ib-loopback-8M-server-and-client-interleaved.txt").read_text()
    got = classify(JobOutput(text, 0), None, "ready")
    assert got.gbps == pytest.approx(24056.72 * 2**20 * 8 / 1e9)          # 201.80 Gb/s, not 24056


def test_double_output_parses_like_the_fixture():
    got = classify(JobOutput(ok_text(187.25), 0), JobOutput(BANNER, 0), "ready")
    assert (got.gbps, got.failure, got.warnings) == (187.25, None, ())


@pytest.mark.parametrize("side, key, rc, cls, line", [
    ("server", "no_device", 1, C.NO_DEVICE, "IB device mlx5_9 not found"),
    ("server", "port_down", 1, C.PORT_NOT_ACTIVE, "Port number 1 state is Down"),
    ("server", "memlock", 1, C.MEMLOCK, "Couldn't allocate MR"),
    ("client", "empty_gid", 1, C.GID, "Unable to Connect the HCA's through the link"),
    ("client", "bad_gid_index", 1, C.GID, "Unable to set up socket connection"),
    ("client", "gid_type", 1, C.GID, "Found Incompatibility issue with GID types."),
    ("client", "transport", 1, C.TRANSPORT, "Failed status 12: wr_id 0 syndrom 0x81"),
    ("client", "connect", 1, C.SIDE_CHANNEL, "Couldn't connect to 172.16.1.12:18515"),
    ("client", "exchange", 1, C.SIDE_CHANNEL, "ethernet_read_keys: Couldn't read remote address"),
    ("client", "version", 1, C.VERSION_SKEW, "Current implementation is not compatible with versions older than 5.70"),
    ("client", "hang", 124, C.SIDE_CHANNEL, "client killed by the outer timeout after 17s (exit 124)"),
])
def test_signatures_map_to_their_class(side, key, rc, cls, line):
    text = FAILURES[key][0].format(server="172.16.1.12", port=18515)
    if key == "hang":
        text = header("mlx5_0", 4, 3)
    if side == "server":
        got = classify(None, JobOutput(BANNER + text, rc), "dead", 17, 40, 15)
    else:
        got = classify(JobOutput(text, rc), JobOutput(BANNER, 124), "ready", 17, 40, 15)
    assert (got.failure, got.line, got.side, got.gbps) == (cls, line, side, None)


def test_missing_binary_is_exit_127_under_timeout():
    text = "timeout: failed to run command 'ib_write_bw': No such file or directory\n"
    got = classify(None, JobOutput(text, 127), "dead")
    assert (got.failure, got.line) == (C.BINARY_MISSING, text.strip())


def test_a_server_that_never_listens_is_a_side_channel_failure():
    got = classify(None, None, "notready", listen_wait=15)
    assert (got.failure, got.line) == (C.SIDE_CHANNEL, "server did not listen on its TCP port within 15s")


def test_the_more_specific_side_wins():
    # the client only sees the side channel die; the server says why
    server = JobOutput(BANNER + FAILURES["version"][0], 1)
    client = JobOutput(FAILURES["exchange"][0], 1)
    got = classify(client, server, "ready")
    assert (got.failure, got.side) == (C.VERSION_SKEW, "server")


def test_mtu_fallback_is_a_warning_beside_the_result():
    got = classify(JobOutput(MTU_FALLBACK + ok_text(150.0, 1024), 0), JobOutput(BANNER, 0), "ready")
    assert (got.gbps, got.failure, got.header["mtu"]) == (150.0, None, 1024)
    assert got.warnings == ((C.MTU_FALLBACK, "Requested mtu is higher than active mtu"),
                            (C.MTU_FALLBACK, "Changing to active mtu - 3"))


def test_unknown_output_is_no_result_with_its_first_line():
    got = classify(JobOutput("Segmentation fault\n", 139), JobOutput(BANNER, 0), "ready")
    assert (got.failure, got.line) == (C.NO_RESULT, "Segmentation fault (exit 139)")


def test_every_class_has_its_own_message():
    fixes = [FIX[c] for c in C if c in FIX]
    assert len(fixes) == len(set(fixes))
    assert {c for c in C if c not in FIX} == {C.BELOW_FLOOR, C.OUTLIER, C.ASYMMETRIC}   # localisation says why
    assert "CAP_IPC_LOCK" in FIX[C.MEMLOCK] and "subnet manager" in FIX[C.PORT_NOT_ACTIVE]
    assert "no firewall drops the port" in FIX[C.SIDE_CHANNEL] and "4096" in FIX[C.MTU_FALLBACK]
