"""A two-rail H100 node for the qos/gpu/pcie check tests, built with SnapshotBuilder.

Real inputs (with their source header, loaded from the fixture files):
- lspci -vvv: tests/qos/fixtures/lspci_vvv/gpud-h100-hgx-pex-switch-15-01-0.txt (root port
  15:01.0, PEX890xx switch 16:00.0 / 17:0x.0, GPU 19:00.0, ConnectX-7 1a:00.0, CX-6 Dx 1b:00.0);
- the mlnx_qos excerpt, ECN enables, cnp_dscp, rdma_cm ToS and traffic_class values of Spiderpool's
  ``rdma-qos.sh q`` output (ecn_sysfs/spiderpool-rdma-qos-script-query.txt, device eth0 / mlx5_0);
- lsmod lines for nvidia_peermem and gdrdrv (lsmod/spiderpool-*.txt).

HAND-MADE (labelled in the builder's provenance): the sysfs device paths (placed to match the
real lspci bus numbers), PCI vendor/class attributes, RDMA port attributes, netdev names, the
``ls -l /sys/bus/pci/devices/`` listing, systemctl answers and /proc/cmdline. The second rail
(eth1 / mlx5_1) reuses the real eth0 / mlx5_0 QoS readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rdma_preflight.checks.context import NodeContext, node_context
from rdma_preflight.checks.registry import REGISTRY, load_all
from rdma_preflight.checks.result import Result
from rdma_preflight.facts import build_facts
from rdma_preflight.parsers import ecn_query
from rdma_preflight.parsers.base import strip_source_header
from rdma_preflight.profile.loader import load_profile
from rdma_preflight.profile.schema import Profile
from tests.snapbuild import SnapshotBuilder, fixture_output

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "roce-sriov-shared-subnet.yaml"
LOCAL_FIXTURES = Path(__file__).parent / "fixtures"
LSPCI_H100 = "lspci_vvv/gpud-h100-hgx-pex-switch-15-01-0.txt"
QUERY = ("ecn_sysfs", "spiderpool-rdma-qos-script-query.txt")
ROOT = "/sys/devices/pci0000:15/0000:15:01.0/0000:16:00.0"
GPU_PATH = f"{ROOT}/0000:17:01.0/0000:19:00.0"

HAND = "hand-made"


@dataclass(frozen=True)
class Nic:
    netdev: str
    rdma: str
    path: str                       # resolved sysfs device path

    @property
    def bdf(self) -> str:
        return self.path.rsplit("/", 1)[1]


NICS = (Nic("eth0", "mlx5_0", f"{ROOT}/0000:17:02.0/0000:1a:00.0"),
        Nic("eth1", "mlx5_1", f"{ROOT}/0000:17:03.0/0000:1b:00.0"))


def local_fixture(name: str) -> str:
    return strip_source_header((LOCAL_FIXTURES / name).read_text())


def query_excerpt() -> str:
    """The mlnx_qos part (trust + PFC table) of the real ``rdma-qos.sh q`` output, dedented."""
    body = fixture_output(*QUERY).splitlines()
    return "\n".join(line.strip() for line in body[1:6]) + "\n"


def real_query() -> ecn_query.EcnDevice:
    return ecn_query.parse(fixture_output(*QUERY)).devices["mlx5_0"]


@dataclass
class H100Node:
    """Builder of a compliant node; tests change one thing, then call ``ctx()``."""

    name: str = "gpu-node-1"
    b: SnapshotBuilder = field(init=False)
    gpus: dict[str, str] = field(default_factory=lambda: {"0000:19:00.0": GPU_PATH})

    def __post_init__(self) -> None:
        self.b = SnapshotBuilder(self.name)
        self.b.default_rules()
        self.b.iface("eno1", ipv4=["10.0.0.5/24"])
        self.lspci_text = local_fixture(LSPCI_H100)
        self.mlnx_qos = {n.netdev: query_excerpt() for n in NICS}
        self.mlnx_qos_source = "real: mlnx_qos excerpt of tests/fixtures/outputs/ecn_sysfs/" + QUERY[1]
        q = real_query()
        self.ecn_np = {p: int(v) for p, v in q.ecn_np.items()}
        self.ecn_rp = {p: int(v) for p, v in q.ecn_rp.items()}
        self.cnp_dscp = q.cnp_dscp
        self.tclass = f"Global tclass={q.traffic_class.tos}"
        self.roce_tos = q.cma_roce_tos.tos
        self.modules = fixture_output("lsmod", "spiderpool-nvidia-peermem-line.txt")
        self.modules_source = "real: lsmod/spiderpool-nvidia-peermem-line.txt (lsmod columns = /proc/modules' first three)"
        self.cmdline = "BOOT_IMAGE=/vmlinuz-6.8.0 root=/dev/sda1 ro intel_iommu=on iommu=pt"
        self.service = ("enabled", "active")
        self.tcp_ecn = 1

    def build(self):
        b = self.b
        for i, nic in enumerate(NICS):
            b.iface(nic.netdev, mtu=4200, ipv4=[f"172.16.{i + 1}.10/24"], mac=f"02:00:00:00:01:0{i}")
            b.link(f"/sys/class/net/{nic.netdev}/device", nic.path, HAND)
            b.link(f"/sys/class/net/{nic.netdev}/device/driver", "/sys/bus/pci/drivers/mlx5_core", HAND)
            b.link(f"/sys/class/infiniband/{nic.rdma}/device", nic.path, HAND)
            port = f"/sys/class/infiniband/{nic.rdma}/ports/1"
            b.attr(f"{port}/state", "4: ACTIVE").attr(f"{port}/link_layer", "Ethernet")
            src = "real: value read back in ecn_sysfs/" + QUERY[1]
            for prio, v in self.ecn_np.items():
                b.attr(f"/sys/class/net/{nic.netdev}/ecn/roce_np/enable/{prio}", v, src)
            for prio, v in self.ecn_rp.items():
                b.attr(f"/sys/class/net/{nic.netdev}/ecn/roce_rp/enable/{prio}", v, src)
            if self.cnp_dscp is not None:
                b.attr(f"/sys/class/net/{nic.netdev}/ecn/roce_np/cnp_dscp", self.cnp_dscp, src)
            if self.tclass is not None:
                b.attr(f"/sys/class/infiniband/{nic.rdma}/tc/1/traffic_class", self.tclass, src)
            if self.roce_tos is not None:
                b.attr(f"/sys/kernel/config/rdma_cm/{nic.rdma}/ports/1/default_roce_tos", self.roce_tos, src)
            if nic.netdev in self.mlnx_qos:
                b.cmd(f"mlnx_qos/{nic.netdev}", self.mlnx_qos[nic.netdev], source=self.mlnx_qos_source)
        self._pci(b)
        b.cmd("lspci_vvv", self.lspci_text, source="real: tests/qos/fixtures/" + LSPCI_H100)
        b.file("/proc/modules", self.modules, self.modules_source)
        b.file("/proc/cmdline", self.cmdline + "\n", HAND)
        b.attr("/proc/sys/net/ipv4/tcp_ecn", self.tcp_ecn)
        b.cmd("systemctl_enabled/rdma-qos.service", self.service[0] + "\n", rc=0 if self.service[0] == "enabled" else 1)
        b.cmd("systemctl_active/rdma-qos.service", self.service[1] + "\n", rc=0 if self.service[1] == "active" else 3)
        if "nvidia_smi_topo" not in b.snap.commands:
            b.missing("nvidia-smi")
        return b.build()

    def _pci(self, b: SnapshotBuilder) -> None:
        """Hand-made ``ls -l /sys/bus/pci/devices/`` plus vendor/class attributes."""
        paths = {n.bdf: n.path for n in NICS} | dict(self.gpus)
        for bdf_path in (ROOT, f"{ROOT}/0000:17:01.0", f"{ROOT}/0000:17:02.0", f"{ROOT}/0000:17:03.0"):
            paths.setdefault(bdf_path.rsplit("/", 1)[1], bdf_path)
        paths.setdefault("0000:15:01.0", "/sys/devices/pci0000:15/0000:15:01.0")
        lines = [f"lrwxrwxrwx 1 root root 0 Nov 29 00:00 {bdf} -> ../../../{p[len('/sys/'):]}"
                 for bdf, p in sorted(paths.items())]
        b.cmd("pci_devices", "total 0\n" + "\n".join(lines) + "\n", source=HAND)
        for bdf in paths:
            base = f"/sys/bus/pci/devices/{bdf}"
            if bdf in self.gpus:
                b.attr(f"{base}/vendor", "0x10de").attr(f"{base}/class", "0x030200")
            elif any(n.bdf == bdf for n in NICS):
                b.attr(f"{base}/vendor", "0x15b3").attr(f"{base}/class", "0x020000")
            else:
                b.attr(f"{base}/vendor", "0x8086" if bdf.startswith("0000:15") else "0x1000")
                b.attr(f"{base}/class", "0x060400")

    def ctx(self, **profile_changes) -> NodeContext:
        snap = self.build()
        return node_context(self.name, profile(**profile_changes), build_facts(snap))


def profile(rails: int = 2, **changes) -> Profile:
    """The repo's roce-sriov-shared-subnet profile with ``rails`` rails and nested changes,
    e.g. ``profile(lossless={"rdma_priority": 0, "rdma_dscp": 0, "roce_tos": 0})``."""
    data = load_profile(PROFILE).profile.model_dump(mode="json")
    data["rails"] = {k: v for i, (k, v) in enumerate(data["rails"].items()) if i < rails}
    data["expected_rails"] = rails
    for section, values in changes.items():
        if isinstance(values, dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return Profile.model_validate(data)


def run(check_id: str, ctx: NodeContext, rail: int | None = 1) -> Result:
    """Evaluate one check as the harness does (rail scope: the rail-th rail)."""
    load_all()
    spec = REGISTRY[check_id]
    reason = spec.not_applicable(ctx.profile)
    if reason:
        from rdma_preflight.checks.result import skipped

        return skipped(reason)
    if spec.scope == "rail":
        return spec.fn(ctx, ctx.rails[rail - 1])
    return spec.fn(ctx)
