"""facts/qos.py, facts/pcie.py, facts/gpu.py: decoding, and never raising on odd node data."""

from __future__ import annotations

import pytest

from rdma_preflight.facts.pcie import PciDev, PcieFacts, _ls_paths, acs_violations, sysfs_chain
from rdma_preflight.parsers import lspci
from tests.qos.node import GPU_PATH, H100Node, run
from tests.snapbuild import fixture_output


@pytest.mark.parametrize("fixture, flags", [
    ("gpud-pmc-sierra-bridge-srcvalid-plus-redir.txt", ["SrcValid", "ReqRedir", "CmpltRedir"]),
    ("gpud-intel-rootport-srcvalid-plus.txt", ["SrcValid"]),
    ("gpud-h100-pex890xx-switch-srcvalid-minus.txt", []),
])
def test_acs_violations_on_real_bridge_blocks(fixture, flags):
    dev = lspci.parse_vvv(fixture_output("lspci_acs", fixture)).devices[0]
    assert dev.is_bridge
    assert acs_violations(dev.acs_ctl) == flags


def test_sysfs_chain_and_ls_listing():
    assert sysfs_chain(GPU_PATH) == ("pci0000:15", ("0000:15:01.0", "0000:16:00.0", "0000:17:01.0", "0000:19:00.0"))
    assert sysfs_chain("/sys/devices/virtual/net/lo") == (None, ())
    assert sysfs_chain(None) == (None, ())
    # HAND-MADE ls -l lines (the collector's pci_devices command)
    text = ("total 0\nlrwxrwxrwx 1 root root 0 Nov 29 00:00 0000:19:00.0 -> "
            "../../../devices/pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:01.0/0000:19:00.0\n"
            "lrwxrwxrwx 1 root root 0 Nov 29 00:00 ../../x -> ../../../devices/evil\ngarbage\n")
    assert _ls_paths(text) == {"0000:19:00.0": GPU_PATH}


def _dev(bdf: str, path: str, numa: int | None = None) -> PciDev:
    root, chain = sysfs_chain(path)
    return PciDev(bdf=bdf, chain=chain, root=root, numa_node=numa)


def test_relation_names_like_nvidia_smi():
    # HAND-MADE tree
    p = PcieFacts(devices={d.bdf: d for d in (
        _dev("0000:19:00.0", GPU_PATH),
        _dev("0000:1a:00.0", "/sys/devices/pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:02.0/0000:1a:00.0"),
        _dev("0000:18:00.0", "/sys/devices/pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:01.0/0000:18:00.0"),
        _dev("0000:01:00.0", "/sys/devices/pci0000:15/0000:15:02.0/0000:01:00.0"),
        _dev("0000:3b:00.0", "/sys/devices/pci0000:37/0000:37:01.0/0000:3b:00.0", numa=0),
        _dev("0000:9b:00.0", "/sys/devices/pci0000:97/0000:97:01.0/0000:9b:00.0", numa=1),
    )})
    assert p.relation("0000:19:00.0", "0000:18:00.0") == "PIX"
    assert p.relation("0000:19:00.0", "0000:1a:00.0") == "PXB"
    assert p.relation("0000:19:00.0", "0000:01:00.0") == "PHB"
    assert p.relation("0000:19:00.0", "0000:3b:00.0") == "NODE"
    assert p.relation("0000:3b:00.0", "0000:9b:00.0") == "SYS"
    assert p.path_bridges("0000:19:00.0", "0000:1a:00.0") == ["0000:17:01.0", "0000:17:02.0"]
    assert p.path_bridges("0000:19:00.0", "0000:18:00.0") == []
    assert p.relation("0000:19:00.0", "0000:ff:00.0") is None


def test_facts_of_the_h100_node():
    facts = H100Node().ctx().facts
    assert facts.pcie.gpus == ["0000:19:00.0"]
    assert facts.pcie.get("0000:17:02.0").port_type == "Downstream Port"
    assert facts.pcie.get("0000:17:02.0").acs_ctl["SrcValid"] is False
    assert facts.pcie.get("0000:16:00.0").acs_ctl is None          # the upstream port has no ACS
    assert facts.qos.ports["eth0"].trust == "dscp"
    assert facts.qos.ports["eth0"].pfc == {0: False, 1: False, 2: False, 3: False, 4: False, 5: True,
                                           6: False, 7: False}
    assert facts.qos.devices["mlx5_0"].traffic_class == {1: 160}
    assert facts.qos.devices["mlx5_0"].roce_tos == {1: 160}
    assert facts.qos.service_running
    assert facts.gpu.peermem == "nvidia_peermem"


def test_odd_node_data_never_raises():
    node = H100Node()
    node.tclass = "tclass is broken"                               # HAND-MADE garbage everywhere
    node.lspci_text = "\x00binary"
    node.modules = "not modules at all\n"
    node.b.cmd("ethtool_S/eth0", "rx_prio5_discards: lots\n")
    node.b.cmd("nvidia_smi_topo", "GPU0 GPU1\nGPU0 X\n")
    node.b.cmd("pci_devices", "nonsense -> nowhere\n")
    node.b.cmd("dcb_pfc/eth9", "{]")
    facts = node.ctx().facts
    assert facts.qos.devices["mlx5_0"].traffic_class_problem[1].startswith("'tclass is broken' (no 'Global tclass=' line")
    assert facts.qos.ports["eth0"].counters_problem.startswith("ethtool -S eth0 output could not be read")
    assert facts.pcie.problems[0].startswith("lspci -vvv output could not be read")
    assert facts.gpu.topo is None and facts.gpu.topo_problem.startswith("nvidia-smi topo -m output could not be read")
    assert facts.gpu.peermem is None


def test_unreadable_traffic_class_is_a_finding():
    node = H100Node()
    node.tclass = "tclass is broken"
    r = run("qos.traffic_class", node.ctx())
    assert r.outcome.value == "fail"
    assert r.summary == "traffic_class unreadable on mlx5_0 tc/1"
