"""gpu.* and pcie.* checks on snapshots built from real lsmod, lspci -vvv and nvidia-smi topo
outputs plus a hand-made sysfs tree (tests/qos/node.py says which is which)."""

from __future__ import annotations

import pytest

from rdma_preflight.checks.gpu import one_to_one
from rdma_preflight.checks.pcie import iommu_mode
from tests.qos.node import H100Node, run
from tests.snapbuild import fixture_output

# Real position of the H100 HGX host's second GPU (lspci Bus: lines of the same gpud fixture:
# root port 37:01.0 -> switch 38:00.0 / 39:01.0 -> GPU 3b:00.0); the sysfs path is hand-made.
GPU_OTHER_SWITCH = "/sys/devices/pci0000:37/0000:37:01.0/0000:38:00.0/0000:39:01.0/0000:3b:00.0"


def test_compliant_node_gpu_and_pcie():
    ctx = H100Node().ctx()
    p = run("gpu.peermem", ctx)
    assert (p.outcome.value, p.found) == ("pass", "nvidia_peermem in /proc/modules")
    a = run("gpu.nic_affinity", ctx)
    assert a.outcome.value == "pass"
    assert a.found == ("rail1 (eth0/mlx5_0): 0000:19:00.0 PXB; rail2 (eth1/mlx5_1): 0000:19:00.0 PXB "
                       "[from PCIe tree (nvidia-smi is not installed)]")
    acs = run("pcie.acs", ctx)
    assert (acs.outcome.value, acs.found) == ("pass", "bridges checked: 0000:17:01.0, 0000:17:02.0")
    assert run("pcie.acs", ctx, 2).found == "bridges checked: 0000:17:01.0, 0000:17:03.0"
    assert run("pcie.iommu", ctx).summary == "IOMMU passthrough (any accepted)"


@pytest.mark.parametrize("fixture, outcome, found", [
    ("stelline-ib-core-mlx-compat-mofed.txt", "fail",
     "none of nvidia_peermem, nv_peer_mem in /proc/modules (the nvidia driver itself is not loaded)"),
    ("stelline-nvidia-fs-nvidia-peermem-user.txt", "pass", "nvidia_peermem listed as a user of nvidia"),
])
def test_peermem_from_real_lsmod(fixture, outcome, found):
    node = H100Node()
    node.modules = fixture_output("lsmod", fixture)
    r = run("gpu.peermem", node.ctx())
    assert (r.outcome.value, r.found) == (outcome, found)
    assert outcome == "pass" or r.fix.startswith("modprobe nvidia_peermem")


def test_gdrcopy():
    node = H100Node()
    node.modules += fixture_output("lsmod", "spiderpool-gdrdrv-line.txt")
    node.b.exists("/dev/gdrdrv")                 # HAND-MADE: the collector's existence record
    assert run("gpu.gdrcopy", node.ctx(gpudirect={"gdrcopy": True})).outcome.value == "pass"
    node2 = H100Node()
    node2.modules += fixture_output("lsmod", "spiderpool-gdrdrv-line.txt")
    r = run("gpu.gdrcopy", node2.ctx(gpudirect={"gdrcopy": True}))
    assert (r.outcome.value, r.found) == ("fail", "gdrdrv loaded, /dev/gdrdrv absent")
    assert r.fix.startswith("create the device node: mknod /dev/gdrdrv c")


def test_one_switch_with_srcvalid_plus():
    node = H100Node()
    # HAND-MADE edit of the real lspci output: downstream port 17:02.0 (eth0's) gets SrcValid+ ReqRedir+
    lines = node.lspci_text.split("\n")
    start = lines.index(next(x for x in lines if x.startswith("17:02.0 ")))
    i = next(j for j in range(start, len(lines)) if "ACSCtl:" in lines[j])
    lines[i] = lines[i].replace("SrcValid-", "SrcValid+").replace("ReqRedir-", "ReqRedir+")
    node.lspci_text = "\n".join(lines)
    ctx = node.ctx()
    r = run("pcie.acs", ctx)
    assert r.outcome.value == "fail"
    assert r.summary == ("bridge 0000:17:02.0 (Downstream Port) has ACS SrcValid+ ReqRedir+ on the path "
                         "NIC 0000:1a:00.0 <-> GPU 0000:19:00.0")
    assert r.found == "0000:17:02.0 ACSCtl: SrcValid+ ReqRedir+"
    assert r.fix.startswith("setpci -s 0000:17:02.0 ECAP_ACS+0x6.w=0000 (setpci changes are lost at reboot")
    assert r.evidence["bridges"] == ["0000:17:02.0"]
    assert run("pcie.acs", ctx, 2).outcome.value == "pass"      # eth1's path avoids 17:02.0


def test_nic_with_no_gpu_behind_the_same_switch_real_topo():
    node = H100Node()
    node.b.fixture_cmd("nvidia_smi_topo", "nvidia_smi_topo", "stelline-asus-4x-rtx6000ada-4x-cx7-nic-legend.txt")
    r = run("gpu.nic_affinity", node.ctx())
    assert r.outcome.value == "fail"
    assert r.summary == "rail1, rail2: no GPU behind the same PCIe switch (PIX/PXB)"
    assert r.found == ("rail1 (eth0/mlx5_0): GPU0 NODE, GPU1 NODE, GPU2 SYS, GPU3 SYS; "
                       "rail2 (eth1/mlx5_1): GPU0 NODE, GPU1 NODE, GPU2 SYS, GPU3 SYS [from nvidia-smi topo -m]")


def test_nic_with_no_gpu_behind_the_same_switch_pci_tree():
    node = H100Node()
    node.gpus = {"0000:3b:00.0": GPU_OTHER_SWITCH}      # only the GPU under the other root port
    ctx = node.ctx()
    r = run("gpu.nic_affinity", ctx)
    assert r.outcome.value == "fail"
    assert r.found.startswith("rail1 (eth0/mlx5_0): 0000:3b:00.0 NODE; rail2 (eth1/mlx5_1): 0000:3b:00.0 NODE")
    acs = run("pcie.acs", ctx)                   # that path's bridges are not in the lspci excerpt
    assert acs.outcome.value == "warn"
    assert acs.summary == "ACS state of 0000:37:01.0, 0000:38:00.0, 0000:39:01.0 unknown (not in lspci -vvv output)"
    # across root ports every ancestor of both devices is on the path
    assert acs.found == ("bridges on the path: 0000:37:01.0, 0000:38:00.0, 0000:39:01.0, "
                         "0000:15:01.0, 0000:16:00.0, 0000:17:02.0")


def test_one_to_one_pairing():
    node = H100Node()
    node.gpus["0000:3b:00.0"] = GPU_OTHER_SWITCH
    ctx = node.ctx(gpudirect={"nic_affinity": "one_to_one"})
    r = run("gpu.nic_affinity", ctx)
    assert r.outcome.value == "fail"          # both NICs sit beside GPU 19:00.0 only
    assert r.summary == "rail NICs cannot each get their own close GPU (not one-to-one)"
    assert one_to_one({"r1": ["g0"], "r2": ["g0", "g1"]}) == {"r1": "g0", "r2": "g1"}
    assert one_to_one({"r1": ["g0"], "r2": ["g0"]}) is None


def test_no_gpu_on_the_node():
    node = H100Node()
    node.gpus = {}
    ctx = node.ctx()
    assert run("gpu.nic_affinity", ctx).summary == "no NVIDIA GPU found on the node"
    assert run("pcie.acs", ctx).outcome.value == "skip"


def test_broken_tool_outputs_become_findings():
    node = H100Node()
    node.lspci_text = "this is not lspci\n"               # HAND-MADE broken outputs
    node.b.cmd("nvidia_smi_topo", "NVIDIA-SMI has failed because it couldn't communicate\n")
    ctx = node.ctx()
    acs = run("pcie.acs", ctx)
    assert acs.outcome.value == "fail"
    assert acs.found.startswith("lspci -vvv output could not be read: lspci: cannot parse")
    aff = run("gpu.nic_affinity", ctx)              # falls back to the PCI tree
    assert aff.outcome.value == "pass"
    assert "nvidia-smi topo -m output could not be read" in aff.found


def test_lspci_without_root_hides_acs():
    node = H100Node()
    node.lspci_text = node.lspci_text.replace("\tCapabilities: [40] Express", "\tCapabilities: <access denied>\n"
                                              "\tCapabilities: [40] Express", 1)   # HAND-MADE edit
    r = run("pcie.acs", node.ctx())
    assert r.outcome.value == "fail"
    assert r.found == "lspci -vvv ran without root: capabilities (ACS) are hidden"


def test_acs_ignore_skips():
    r = run("pcie.acs", H100Node().ctx(gpudirect={"acs": "ignore"}))
    assert (r.outcome.value, r.summary) == ("skip", "gpudirect.acs is ignore in the profile")


@pytest.mark.parametrize("cmdline, mode", [
    ("ro intel_iommu=on iommu=pt", "passthrough"),
    ("ro amd_iommu=on iommu=pt", "passthrough"),
    ("ro intel_iommu=on", "on"),
    ("ro intel_iommu=off", "off"),
    ("ro amd_iommu=off", "off"),
    ("ro quiet", "default"),
])
def test_iommu_mode(cmdline, mode):
    assert iommu_mode(cmdline) == mode


def test_iommu_mismatch_warns_unless_required():
    node = H100Node()
    node.cmdline = "BOOT_IMAGE=/vmlinuz ro intel_iommu=on"          # HAND-MADE
    w = run("pcie.iommu", node.ctx(gpudirect={"iommu": "passthrough"}))
    assert w.outcome.value == "warn"
    assert w.summary.startswith("IOMMU is on, expected passthrough: translated DMA")
    node2 = H100Node()
    node2.cmdline = "BOOT_IMAGE=/vmlinuz ro intel_iommu=on"
    f = run("pcie.iommu", node2.ctx(gpudirect={"iommu": "passthrough", "iommu_required": True}))
    assert f.outcome.value == "fail"
    assert f.fix.startswith("add iommu=pt")


def test_gpu_without_a_sysfs_path_is_reported():
    node = H100Node()
    # HAND-MADE: a second GPU whose listing line does not resolve into /sys/devices/pciDDDD:BB
    node.gpus["0000:5d:00.0"] = "/sys/devices/platform/odd/0000:5d:00.0"
    r = run("pcie.acs", node.ctx())
    assert r.outcome.value == "warn"
    assert r.summary == "PCIe path to GPU 0000:5d:00.0 unknown (no sysfs device path)"
    assert r.found == "bridges on the known paths: 0000:17:01.0, 0000:17:02.0"
