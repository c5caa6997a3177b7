"""Synthetic hosts for the k8s.* tests, built with SnapshotBuilder (every value hand-made, the
builder's provenance says so): a management NIC (eth0, Intel igb, no RDMA) with the default
route, two ConnectX rail NICs with their RDMA devices (RoCE: enp4s0f0np0/enp4s0f1np1 on
mlx5_0/mlx5_1; InfiniBand: ib0/ib1), SR-IOV counts, and NVIDIA GPUs on the PCI bus.

Profiles are the repository's, cut to the two rails (selected by netdev name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rdma_preflight.checks.context import NodeContext, node_context
from rdma_preflight.facts import build_facts
from rdma_preflight.profile.loader import load_profile
from rdma_preflight.profile.schema import Profile
from tests.snapbuild import SnapshotBuilder

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
DESIGN_PROFILE = {
    "macvlan-shared": "roce-macvlan-shared-subnet.yaml",
    "sriov-shared": "roce-sriov-shared-subnet.yaml",
    "sriov-per-node": "roce-sriov-per-node-subnet.yaml",
    "ib-sriov": "infiniband-sriov.yaml",
}
ROCE_NICS = (("enp4s0f0np0", "mlx5_0", "0000:04:00.0"), ("enp4s0f1np1", "mlx5_1", "0000:04:00.1"))
IB_NICS = (("ib0", "mlx5_0", "0000:0c:00.0"), ("ib1", "mlx5_1", "0000:12:00.0"))
STORAGE_NIC = ("enp5s0f0np0", "mlx5_2", "0000:05:00.0")      # an RDMA NIC that is not a rail
MGMT_BDF = "0000:e1:00.0"
GPU_BDFS = ("0000:17:00.0", "0000:18:00.0")
NODE_INDEX = {"node-1": 1, "node-2": 2}


def rail_addresses(design: str, node: str) -> list[str]:
    """The node's rail addresses: .1x/24 shared; the node's /27 slice per node (node-1 in
    .0/27, node-2 in .32/27); IPoIB .1x/24."""
    i = NODE_INDEX[node]
    if design == "sriov-per-node":
        return [f"172.16.{r}.{32 * (i - 1) + 10}/27" for r in (1, 2)]
    return [f"172.16.{r}.{10 + i}/24" for r in (1, 2)]


def mgmt_address(node: str) -> str:
    return f"10.0.0.{10 + NODE_INDEX[node]}"


@dataclass
class Host:
    """A compliant two-rail host for ``design``; tests change one field."""

    name: str
    design: str
    rail_ips: list[str] = field(default_factory=list)
    numvfs: int = 8
    gpus: int = 2
    storage_nic: bool = False          # one more Mellanox RDMA NIC, not a rail
    no_rdma: set[str] = field(default_factory=set)   # rail netdevs whose RDMA device is absent

    def __post_init__(self) -> None:
        self.rail_ips = self.rail_ips or rail_addresses(self.design, self.name)

    @property
    def ib(self) -> bool:
        return self.design == "ib-sriov"

    @property
    def nics(self) -> tuple[tuple[str, str, str], ...]:
        return IB_NICS if self.ib else ROCE_NICS

    @property
    def sriov(self) -> bool:
        return self.design != "macvlan-shared"

    def build(self):
        b = SnapshotBuilder(self.name)
        b.default_rules()
        b.iface("eth0", ipv4=[f"{mgmt_address(self.name)}/24"], pci=MGMT_BDF, driver="igb")
        b.route("default", dev="eth0", gateway="10.0.0.1")
        self._pci(b, MGMT_BDF, "0x8086", "0x1521", "0x020000")
        nics = list(zip(self.nics, self.rail_ips))
        if self.storage_nic:
            nics.append((STORAGE_NIC, "172.20.0.10/24"))
        for i, ((netdev, dev, bdf), ip) in enumerate(nics):
            path = f"/sys/devices/pci0000:00/0000:00:02.0/{bdf}"
            b.iface(netdev, mtu=4092 if self.ib else 4200, ipv4=[ip], link_type="infiniband" if self.ib else "ether",
                    mac=f"02:00:00:00:01:0{i}")
            b.link(f"/sys/class/net/{netdev}/device", path)
            b.link(f"/sys/class/net/{netdev}/device/driver", "/sys/bus/pci/drivers/mlx5_core")
            self._pci(b, bdf, "0x15b3", "0x101b" if self.ib else "0x1017", "0x020700" if self.ib else "0x020000")
            if self.sriov:
                b.attr(f"/sys/class/net/{netdev}/device/sriov_numvfs", self.numvfs)
                b.attr(f"/sys/class/net/{netdev}/device/sriov_totalvfs", 16)
            if netdev in self.no_rdma:
                continue
            port = f"/sys/class/infiniband/{dev}/ports/1"
            b.link(f"/sys/class/infiniband/{dev}/device", path)
            b.attr(f"{port}/state", "4: ACTIVE").attr(f"{port}/phys_state", "5: LinkUp")
            b.attr(f"{port}/link_layer", "InfiniBand" if self.ib else "Ethernet")
        lines = []
        for g in GPU_BDFS[: self.gpus]:
            self._pci(b, g, "0x10de", "0x20b5", "0x030200")
            lines.append(f"lrwxrwxrwx 1 root root 0 Jan  1 00:00 {g} -> ../../../devices/pci0000:00/0000:00:03.0/{g}")
        b.cmd("pci_devices", "\n".join(lines) + "\n")
        return b.build()

    @staticmethod
    def _pci(b: SnapshotBuilder, bdf: str, vendor: str, device: str, cls: str) -> None:
        base = f"/sys/bus/pci/devices/{bdf}"
        b.attr(f"{base}/vendor", vendor).attr(f"{base}/device", device).attr(f"{base}/class", cls)

    def ctx(self, profile: Profile | None = None) -> NodeContext:
        return node_context(self.name, profile or design_profile(self.design), build_facts(self.build()))


def design_profile(design: str, **changes) -> Profile:
    """The repository profile for ``design`` with two rails selected by netdev; ``changes``
    update sections, e.g. ``kubernetes={"gpu_count": 8}``."""
    data = load_profile(PROFILES / DESIGN_PROFILE[design]).profile.model_dump(mode="json")
    nics = IB_NICS if design == "ib-sriov" else ROCE_NICS
    data["rails"] = {f"rail{i}": {**data["rails"][f"rail{i}"], "nic": {"netdev": n[0]}}
                     for i, n in enumerate(nics, start=1)}
    data["expected_rails"] = len(nics)
    data.pop("nodes", None)
    for section, values in changes.items():
        data[section] = {**(data.get(section) or {}), **values} if isinstance(values, dict) else values
    return Profile.model_validate(data)
