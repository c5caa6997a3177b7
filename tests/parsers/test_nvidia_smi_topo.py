"""nvidia-smi topo -m: matrix cells, affinity columns, Legend and NIC Legend, NIC lookups."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.nvidia_smi_topo import TopoAffinity, parse
from tests.parsers._fixtures_qos import check_parse_error, fixture_names, read_fixture

ASUS = ("nvidia_smi_topo", "stelline-asus-4x-rtx6000ada-4x-cx7-nic-legend")
PUGET = ("nvidia_smi_topo", "stelline-puget-wrx90")


@pytest.mark.parametrize("name", fixture_names("nvidia_smi_topo"))
def test_every_fixture_has_legends(name):
    topo = parse(read_fixture("nvidia_smi_topo", name))
    assert topo.legend["PIX"] == "Connection traversing at most a single PCIe bridge"
    assert topo.legend["NV#"] == "Connection traversing a bonded set of # NVLinks"
    assert all(topo.cells[d][d] == "X" for d in topo.devices)


def test_asus_matrix_affinity_and_nic_legend():
    topo = parse(read_fixture(*ASUS))
    assert topo.gpus == ("GPU0", "GPU1", "GPU2", "GPU3")
    assert topo.nics == ("NIC0", "NIC1", "NIC2", "NIC3")
    assert topo.nic_legend == {"NIC0": "mlx5_0", "NIC1": "mlx5_1", "NIC2": "mlx5_2",
                               "NIC3": "mlx5_3"}
    assert topo.cells["GPU0"] == {"GPU0": "X", "GPU1": "NODE", "GPU2": "SYS", "GPU3": "SYS",
                                  "NIC0": "NODE", "NIC1": "NODE", "NIC2": "SYS", "NIC3": "SYS"}
    assert topo.affinity("GPU2", "NIC2") == "NODE"
    assert topo.affinity("GPU0", "mlx5_3") == "SYS"  # RDMA name resolved through the legend
    assert topo.affinity("mlx5_0", "NIC1") == "PIX"  # the two ports of one ConnectX-7
    assert topo.row_affinity["GPU2"] == TopoAffinity("32-63", "1", "N/A")
    assert topo.row_affinity["NIC0"] == TopoAffinity()
    # no GPU shares a PCIe switch with a NIC on this box: GPUDirect would cross the host bridge
    assert topo.nics_with_gpu_within() == {}
    assert topo.nics_with_gpu_within({"NODE"}) == {
        "mlx5_0": ("GPU0", "GPU1"), "mlx5_1": ("GPU0", "GPU1"),
        "mlx5_2": ("GPU2", "GPU3"), "mlx5_3": ("GPU2", "GPU3")}


def test_puget_two_gpus_behind_host_bridge():
    topo = parse(read_fixture(*PUGET))
    assert topo.affinity("GPU0", "GPU1") == "PHB"
    assert topo.affinity("GPU1", "mlx5_1") == "NODE"
    assert topo.row_affinity["GPU0"] == TopoAffinity("0-23", "0", "N/A")
    assert topo.nics_with_gpu_within({"PIX", "PXB", "PHB"}) == {}


# hand-made: older-driver layout (NIC columns named mlx5_N, tab-separated, no NIC Legend,
# only 'CPU Affinity'), built from the column format of the fixtures above.
OLD_STYLE = (
    "\tGPU0\tGPU1\tmlx5_0\tmlx5_1\tCPU Affinity\n"
    "GPU0\t X \tNV12\tPIX\tSYS\t0-23\n"
    "GPU1\tNV12\t X \tSYS\tPXB\t24-47\n"
    "mlx5_0\tPIX\tSYS\t X \tSYS\t\n"
    "mlx5_1\tSYS\tPXB\tSYS\t X \t\n"
    "\n"
    "Legend:\n"
    "\n"
    "  X    = Self\n"
    "  PIX  = Connection traversing at most a single PCIe bridge\n"
)


def test_hand_made_old_style_mlx5_columns():
    topo = parse(OLD_STYLE)
    assert topo.nics == ("mlx5_0", "mlx5_1") and topo.nic_legend == {}
    assert topo.affinity("GPU0", "mlx5_0") == "PIX"
    assert topo.row_affinity["GPU1"] == TopoAffinity("24-47")
    assert topo.nics_with_gpu_within() == {"mlx5_0": ("GPU0",), "mlx5_1": ("GPU1",)}
    assert topo.nics_with_gpu_within({"PIX"}) == {"mlx5_0": ("GPU0",)}
    assert topo.affinity("GPU0", "GPU1") == "NV12"
    with pytest.raises(KeyError):
        topo.affinity("GPU0", "mlx5_9")


@pytest.mark.parametrize("text, line, reason", [
    ("", 0, "empty"),
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", 1,
     "not an nvidia-smi topo -m header"),
    ("\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \tNV4\t0-7\nGPU1\tNV4\tpix\t0-7\n", 3, "bad cell"),
    ("\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \n", 2, "1 values for 2 columns"),
    ("\tGPU0\tGPU1\tCPU Affinity\nGPU2\t X \tNV4\t0-7\n", 2, "not a matrix column"),
    ("\tGPU0\tGPU1\tCPU Affinity\nGPU0\tNV4\t X \t0-7\n", 2, "bad cell"),
    ("\tGPU0\tGPU1\tCPU Affinity\n", 1, "no matrix row for GPU0, GPU1"),
    ("\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \tNV4\t0-7\n", 1, "no matrix row for GPU1"),
])
def test_hand_made_errors(text, line, reason):
    check_parse_error(parse, text, "nvidia-smi topo", line, reason)
