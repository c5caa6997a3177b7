"""Spiderpool 'rdma-qos.sh q' output: per-device trust/PFC excerpt, ECN, CNP DSCP, ToS."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.ecn_query import parse
from tests.parsers._fixtures_qos import check_parse_error, read_fixture

DOC = ("ecn_sysfs", "spiderpool-rdma-qos-script-query")


def test_documented_query_output_for_eth0_mlx5_0():
    result = parse(read_fixture(*DOC))
    assert list(result.devices) == ["mlx5_0"]
    dev = result.devices["mlx5_0"]
    assert (dev.netdev, dev.rdma_dev) == ("eth0", "mlx5_0")
    assert dev.qos is not None and dev.qos.trust == "dscp"
    assert dev.qos.pfc_priorities == (5,)
    assert dev.qos.pfc_buffer == {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 0, 7: 0}
    # the doc sample shows ECN on for every priority, NP and RP
    assert dev.ecn_np == {p: True for p in range(8)}
    assert dev.ecn_rp == {p: True for p in range(8)}
    assert dev.cnp_dscp == 48
    assert dev.cma_roce_tos is not None and dev.cma_roce_tos.tos == 160
    assert dev.traffic_class is not None
    assert (dev.traffic_class.tos, dev.traffic_class.dscp) == (160, 40)
    assert result.by_netdev("eth0") is dev


# hand-made: the layout of the current script (docs/example/qos/rdma-qos.sh, 'q' branch):
# "show PF device" banner, ECN for prio 5 only, an unreadable rp file (cat failed, empty
# value), then the "show qos" section covering the PF and a VF without netdev.
CURRENT_SCRIPT = """
======== show PF device ens6f0np0 / mlx5_0========
Priority trust state: pcp
PFC configuration:
        priority    0   1   2   3   4   5   6   7
        enabled     0   0   0   0   0   0   0   0
        buffer      0   0   0   0   0   0   0   0
ECN Enabled for priority 5: /sys/class/net/ens6f0np0/ecn/roce_np/enable/5 = 1
ECN Enabled for priority 5: /sys/class/net/ens6f0np0/ecn/roce_rp/enable/5 = 
QOS for CNP: /sys/class/net/ens6f0np0/ecn/roce_np/cnp_dscp = 0

======== show qos ===========
rdma device mlx5_0:   rdma_cm qos = 106
rdma device mlx5_0:   libverbs qos: /sys/class/infiniband/mlx5_0/tc/1/traffic_class = Global tclass=160

rdma device mlx5_7:   rdma_cm qos = 160
rdma device mlx5_7:   libverbs qos: /sys/class/infiniband/mlx5_7/tc/1/traffic_class = 

"""


def test_hand_made_current_script_layout_pf_and_vf():
    result = parse(CURRENT_SCRIPT)
    assert list(result.devices) == ["mlx5_0", "mlx5_7"]
    pf = result.devices["mlx5_0"]
    assert pf.netdev == "ens6f0np0"
    assert pf.qos.trust == "pcp" and pf.qos.pfc_priorities == ()
    assert pf.ecn_np == {5: True}
    assert pf.ecn_rp == {5: None}  # file unreadable
    assert pf.cnp_dscp == 0
    assert pf.cma_roce_tos.tos == 106 and pf.traffic_class.tos == 160
    vf = result.devices["mlx5_7"]
    assert (vf.netdev, vf.qos, vf.ecn_np) == (None, None, {})
    assert vf.cma_roce_tos.tos == 160
    assert vf.traffic_class is None


@pytest.mark.parametrize("text, line, reason", [
    ("======== show PF device eth0 / mlx5_0========\nbogus line\n", 2, "unrecognised"),
    ("ECN Enabled for priority 5: /sys/class/net/eth0/ecn/roce_np/enable/4 = 1\n", 1,
     "differ"),
    ("ECN Enabled for priority 5: /sys/class/net/eth0/ecn/roce_np/enable/5 = 2\n", 1,
     "ECN enable 2 out of range"),
    ("QOS for CNP: /sys/class/net/eth0/ecn/roce_np/cnp_dscp = 160\n", 1, "cnp_dscp 160 out of range"),
    ("cma_roce_tos: 160\n", 1, "outside a device section"),
    ("rdma device mlx5_0:   libverbs qos: /sys/class/infiniband/mlx5_0/tc/1/traffic_class"
     " = 160\n", 1, "Global tclass="),
    ("\n\n", 0, "no device"),
])
def test_hand_made_errors(text, line, reason):
    check_parse_error(parse, text, "rdma-qos.sh q", line, reason)
