"""qos.* checks on snapshots: a compliant node, then one change per failure class.

Inputs are real recorded outputs (mlnx_qos, rdma-qos.sh q readings, dcb, ethtool -S) unless
a test says HAND-MADE; see tests/qos/node.py for what the node builder makes by hand.
"""

from __future__ import annotations

import pytest

from tests.qos.node import H100Node, NICS, query_excerpt, run
from tests.snapbuild import fixture_output

QOS = ("qos.trust", "qos.pfc", "qos.ecn", "qos.cnp_dscp", "qos.roce_tos", "qos.traffic_class")


def test_compliant_node_passes_every_qos_check_on_both_rails():
    ctx = H100Node().ctx()
    for cid in QOS:
        for rail in (1, 2):
            r = run(cid, ctx, rail)
            assert r.outcome.value == "pass", (cid, rail, r.summary, r.found)
    assert run("qos.pfc", ctx).found == "PFC on priority 5 (mlnx_qos)"
    assert run("qos.ecn", ctx).found == "roce_np/enable/5 = 1, roce_rp/enable/5 = 1"
    assert run("qos.cnp_dscp", ctx).found == "cnp_dscp = 48"
    assert run("qos.roce_tos", ctx, 2).found == "mlx5_1 port 1: 160"
    assert run("qos.traffic_class", ctx).found == "mlx5_0 tc/1: Global tclass=160"
    assert run("qos.tcp_ecn", ctx).outcome.value == "pass"
    assert run("qos.persistence", ctx).outcome.value == "pass"


def test_pfc_on_the_wrong_priority_real_mlnx_qos():
    node = H100Node()
    node.mlnx_qos["eth0"] = fixture_output("mlnx_qos", "netarbiter-after-pfc-0001000.txt")
    node.mlnx_qos_source = "real: mlnx_qos/netarbiter-after-pfc-0001000.txt"
    ctx = node.ctx()
    r = run("qos.pfc", ctx)
    assert r.outcome.value == "fail"
    assert r.summary == "PFC is on priority 3, expected priority 5 only"
    assert r.expected == "PFC on priority 5 only"
    assert r.found == "PFC on priority 3 (mlnx_qos)"
    assert r.fix.startswith("mlnx_qos -i eth0 --pfc 0,0,0,0,0,1,0,0")
    assert "20 s" in r.fix                      # rdma-qos.service is active on this node
    assert r.evidence["pfc_enabled"] == [3]
    assert run("qos.trust", ctx).outcome.value == "pass"      # netarbiter's trust is dscp
    assert run("qos.pfc", ctx, 2).outcome.value == "pass"


def _trust_pcp(node):
    # HAND-MADE: the real mlnx_qos excerpt with its trust state changed from dscp to pcp
    node.mlnx_qos["eth0"] = query_excerpt().replace("trust state: dscp", "trust state: pcp")
    node.mlnx_qos_source = "hand-made edit of the real excerpt"


# One failure class per row: (mutation of the compliant node, check, rail, summary, found, fix prefix).
# Every mutation is a HAND-MADE value unless the row's function loads a real output.
FAILURES = {
    "trust pcp": (_trust_pcp, "qos.trust", 1, "trust mode is pcp, not dscp",
                  "Priority trust state: pcp (mlnx_qos)", "mlnx_qos -i eth0 --trust=dscp"),
    "ECN off": (lambda n: n.ecn_np.__setitem__(5, 0), "qos.ecn", 1, "ECN roce_np not enabled on priority 5",
                "roce_np/enable/5 = 0, roce_rp/enable/5 = 1", "echo 1 > /sys/class/net/eth0/ecn/roce_np/enable/5"),
    "traffic_class as DSCP": (lambda n: setattr(n, "tclass", "Global tclass=40"), "qos.traffic_class", 1,
                              "mlx5_0 tc/1 traffic_class is 40, expected ToS 160: 40 looks like a DSCP written "
                              "where a ToS belongs: ToS = DSCP x 4 = 160",
                              "mlx5_0 tc/1: Global tclass=40", "echo 160 > /sys/class/infiniband/<dev>/tc/1"),
    "roce_tos as DSCP": (lambda n: setattr(n, "roce_tos", 40), "qos.roce_tos", 2,
                         "mlx5_1 port 1 default_roce_tos is 40, expected ToS 160: 40 looks like a DSCP written "
                         "where a ToS belongs: ToS = DSCP x 4 = 160", "mlx5_1 port 1: 40", "cma_roce_tos -d <dev> -t 160"),
    "configfs unreadable": (lambda n: setattr(n, "roce_tos", None), "qos.roce_tos", 1,
                            "default_roce_tos unreadable on mlx5_0", "mlx5_0: unreadable", "modprobe rdma_cm"),
    "tcp_ecn off": (lambda n: setattr(n, "tcp_ecn", 0), "qos.tcp_ecn", None, "net.ipv4.tcp_ecn is 0, expected 1",
                    "net.ipv4.tcp_ecn = 0", "sysctl -w net.ipv4.tcp_ecn=1"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_failure_classes(case):
    mutate, check_id, rail, summary, found, fix = FAILURES[case]
    node = H100Node()
    mutate(node)
    r = run(check_id, node.ctx(), rail)
    assert (r.outcome.value, r.summary, r.found) == ("fail", summary, found)
    assert r.fix.startswith(fix)


def test_ecn_needed_only_on_the_rdma_priority():
    node = H100Node()
    # HAND-MADE: what rdma-qos.sh really writes: only priority 5 enabled
    node.ecn_np = {p: int(p == 5) for p in range(8)}
    node.ecn_rp = dict(node.ecn_np)
    assert run("qos.ecn", node.ctx()).outcome.value == "pass"


@pytest.mark.parametrize("value, hint", [
    (160, "160 cannot be a DSCP (0-63): it looks like a ToS (ToS 160 = DSCP 40 x 4)"),
    (192, "192 cannot be a DSCP (0-63): it looks like a ToS (ToS 192 = DSCP 48 x 4)"),
    (6, "6 looks like a priority (0-7), not a DSCP"),
    (40, "40 is the RDMA DSCP, not the CNP DSCP"),
])
def test_cnp_dscp_unit_mistakes(value, hint):
    node = H100Node()
    node.cnp_dscp = value                       # HAND-MADE sysfs value
    r = run("qos.cnp_dscp", node.ctx())
    assert r.outcome.value == "fail"
    assert r.summary.startswith(f"cnp_dscp is {value}, expected DSCP 48: {hint}")
    assert r.fix.startswith("echo 48 > /sys/class/net/eth0/ecn/roce_np/cnp_dscp")


def test_nic_without_ecn_tree_or_mlnx_qos_is_a_clear_finding():
    node = H100Node()
    node.ecn_np, node.ecn_rp, node.cnp_dscp = {}, {}, None
    del node.mlnx_qos["eth0"]
    ctx = node.ctx()
    r = run("qos.trust", ctx)
    assert r.outcome.value == "fail"
    assert "rdma-qos.sh silently skips such a NIC" in r.found
    e = run("qos.ecn", ctx)
    assert e.summary == "no ECN sysfs tree on eth0"


def test_mlnx_qos_parse_error_becomes_a_finding():
    node = H100Node()
    node.mlnx_qos["eth0"] = "Segmentation fault\n"       # HAND-MADE broken output
    r = run("qos.pfc", node.ctx())
    assert r.outcome.value == "fail"
    assert r.summary == "QoS state of eth0 unreadable"
    assert r.found.startswith("mlnx_qos -i eth0 output could not be read: mlnx_qos: cannot parse")


def test_dcb_fallback_without_mlnx_qos_real_man_page_outputs():
    node = H100Node()
    node.mlnx_qos.clear()
    node.b.missing("mlnx_qos")
    for nic in NICS:
        node.b.fixture_cmd(f"dcb_pfc/{nic.netdev}", "dcb", "iproute2-man-dcb-pfc-show-prio-6-7.txt")
        node.b.fixture_cmd(f"dcb_app/{nic.netdev}", "dcb", "iproute2-man-dcb-app-show-dscp-prio-numeric.txt")
    ctx = node.ctx()
    r = run("qos.pfc", ctx)
    assert r.outcome.value == "fail"
    assert r.summary.startswith("PFC is on priorities 6,7, expected priority 5 only")
    assert "DSCP 40 has no entry in the DSCP-to-priority table" in r.summary
    t = run("qos.trust", ctx)
    assert t.outcome.value == "pass"
    assert "derived from the dcb APP table" in t.found
    assert r.fix.startswith("dcb pfc set dev eth0 prio-pfc 0:off 1:off 2:off 3:off 4:off 5:on 6:off 7:off")


def test_discards_on_the_rdma_priority_warn_real_ethtool():
    node = H100Node()
    node.b.fixture_cmd("ethtool_S/eth0", "ethtool_stats", "lore-bpf-mlx5-kernel-5.15-nonzero-counters.txt")
    # the real counters are on priority 0, so this profile puts RDMA on priority 0 (DSCP 0, ToS 0)
    ctx = node.ctx(lossless={"rdma_priority": 0, "rdma_dscp": 0, "roce_tos": 0})
    r = run("qos.discards", ctx)
    assert r.outcome.value == "warn"
    assert r.found == "rx_prio0_discards: 58591314012"
    assert r.evidence["counters"] == {"rx_prio0_discards": 58591314012, "tx_prio0_discards": None}


def test_discards_without_prio_counters_is_skipped():
    node = H100Node()
    node.b.fixture_cmd("ethtool_S/eth0", "ethtool_stats", "lore-bpf-mlx5-kernel-5.15-nonzero-counters.txt")
    r = run("qos.discards", node.ctx())        # priority 5: the real output shows none
    assert r.outcome.value == "skip"
    assert r.summary == "ethtool -S eth0 shows no rx_prio5_discards / tx_prio5_discards counters"


def test_persistence_missing_service_warns():
    node = H100Node()
    node.service = ("not-found", "inactive")   # HAND-MADE systemctl answers
    ctx = node.ctx()
    r = run("qos.persistence", ctx)
    assert r.outcome.value == "warn"
    assert r.found == "rdma-qos.service is-enabled: not-found, is-active: inactive"
    assert "GPU_RDMA_PRIORITY=5 GPU_CNP_PRIORITY=6 bash rdma-qos.sh" in r.fix
    node2 = H100Node()
    node2.ecn_np[5] = 0
    node2.service = ("not-found", "inactive")
    assert "20 s" not in run("qos.ecn", node2.ctx()).fix


def test_skipped_on_infiniband_and_when_lossless_disabled():
    node = H100Node()
    r = run("qos.pfc", node.ctx(lossless={"enabled": False}))
    assert r.outcome.value == "skip"
    assert r.summary == "lossless.enabled is false in the profile"
    from rdma_preflight.checks.qos import lossless_applies
    from rdma_preflight.profile.loader import load_profile
    from tests.qos.node import REPO

    ib = load_profile(REPO / "profiles" / "infiniband-sriov.yaml").profile
    assert lossless_applies(ib) == "RoCE only: InfiniBand has no PFC/ECN (the profile's fabric is InfiniBand)"
