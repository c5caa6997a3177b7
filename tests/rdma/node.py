"""RoCE and InfiniBand nodes for the rdma/ib check tests, built with SnapshotBuilder.

REAL (loaded from tests/fixtures/outputs with their source header; the builder's provenance
says ``real:``): ``rdma link`` and ``ibdev2netdev`` of a ConnectX-5 RoCE host (DaoCloud docs:
mlx5_0/mlx5_1 -> enp4s0f0np0/enp4s0f1np1), ``ofed_info -s`` (MLNX_OFED 23.07), ``rdma system``
(Spiderpool docs, shared and exclusive), ``mlxconfig -e q`` (HPE, LINK_TYPE_P1 current/next ETH)
and ``mlxconfig q | grep LINK_TYPE`` (Spiderpool, IB), the ``ibv_devinfo`` block of a CX-7 RoCE
port (stelline, mlx5_1), ``ibstat`` of an A100 host with eight 200G InfiniBand ports (gpud:
mlx5_1..mlx5_8, LIDs, SM lid 83) and ``lsmod`` of an MLNX_OFED host (stelline).

HAND-MADE (provenance ``hand-made``): all sysfs (RDMA ports, GIDs, PCI links, SR-IOV counts),
the ``ip -j`` state, /proc/modules of the RoCE node, /proc/cmdline, modprobe.d files, and the
``ibv_devinfo`` blocks the real outputs lack (RoCE mlx5_0; the eight IB ports), written in the
tool's own format. The IB node's sysfs values are copied from the real ibstat output so that
both sources agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdma_preflight.checks.context import NodeContext, node_context
from rdma_preflight.checks.registry import REGISTRY, load_all
from rdma_preflight.checks.result import Outcome, Result, skipped
from rdma_preflight.facts import build_facts
from rdma_preflight.parsers import ibstat as p_ibstat
from rdma_preflight.profile.loader import load_profile
from rdma_preflight.profile.schema import Profile
from tests.qos.node import run as run_one
from tests.snapbuild import FIXTURES, SnapshotBuilder, fixture_output

HAND = "hand-made"
ROCE_PROFILE = FIXTURES.parents[2] / "profiles" / "roce-sriov-shared-subnet.yaml"
MACVLAN_PROFILE = FIXTURES.parents[2] / "profiles" / "roce-macvlan-shared-subnet.yaml"
IB_PROFILE = FIXTURES.parents[2] / "profiles" / "infiniband-sriov.yaml"
IBSTAT_IB = "gpud-a100-ib-200g-all-active.txt"
OPERATOR_CONF = "/etc/modprobe.d/sriov_network_operator_modules_config.conf"
OPERATOR_HEAD = "# This file is managed by sriov-network-operator do not edit.\n"
RDMA_CHECKS = ("rdma.", "ib.")


def mapped_gid(ip: str) -> str:
    """The sysfs spelling of an IPv4-mapped GID: ``0000:...:ffff:ac10:010a``."""
    a, b, c, d = (int(x) for x in ip.split("."))
    return "0000:0000:0000:0000:0000:ffff:" + f"{a:02x}{b:02x}:{c:02x}{d:02x}"


def ibv_block(dev: str, mtu: int, link_layer: str, lid: int = 0, sm_lid: int = 0) -> str:
    """A hand-made ``ibv_devinfo`` device block in the tool's format (tabs as it prints them)."""
    code = {256: 1, 512: 2, 1024: 3, 2048: 4, 4096: 5}[mtu]
    return (f"hca_id:\t{dev}\n\ttransport:\t\t\tInfiniBand (0)\n\tfw_ver:\t\t\t\t28.39.1002\n"
            f"\tphys_port_cnt:\t\t\t1\n\t\tport:\t1\n\t\t\tstate:\t\t\tPORT_ACTIVE (4)\n"
            f"\t\t\tmax_mtu:\t\t4096 (5)\n\t\t\tactive_mtu:\t\t{mtu} ({code})\n\t\t\tsm_lid:\t\t\t{sm_lid}\n"
            f"\t\t\tport_lid:\t\t{lid}\n\t\t\tport_lmc:\t\t0x00\n\t\t\tlink_layer:\t\t{link_layer}\n\n")


@dataclass
class Nic:
    netdev: str
    rdma: str
    bdf: str
    ip: str

    @property
    def path(self) -> str:
        return f"/sys/devices/pci0000:00/0000:00:02.0/{self.bdf}"


@dataclass
class Port:
    """Hand-made sysfs of one RDMA port; tests change one field."""

    state: str = "4: ACTIVE"
    phys: str = "5: LinkUp"
    rate: str = "100 Gb/sec (4X EDR)"
    link_layer: str = "Ethernet"
    lid: str = "0x0"
    sm_lid: str = "0x0"
    gids: list[tuple[int, str, str, str]] = field(default_factory=list)   # index, gid, type, ndev
    active_mtu: int = 4096


def roce_gids(netdev: str, ip: str) -> list[tuple[int, str, str, str]]:
    ll = "fe80:0000:0000:0000:0a88:c2ff:fee3:142a"
    return [(0, ll, "IB/RoCE v1", netdev), (1, ll, "RoCE v2", netdev),
            (2, mapped_gid(ip), "IB/RoCE v1", netdev), (3, mapped_gid(ip), "RoCE v2", netdev)]


@dataclass
class RoceNode:
    """A compliant two-rail ConnectX-5 RoCE node (SR-IOV by default); tests change one thing."""

    name: str = "roce-node-1"
    scheme: str = "sriov"
    nics: list[Nic] = field(default_factory=lambda: [
        Nic("enp4s0f0np0", "mlx5_0", "0000:04:00.0", "172.16.1.10"),
        Nic("enp4s0f1np1", "mlx5_1", "0000:04:00.1", "172.16.2.10")])
    ports: dict[str, Port] = field(default_factory=dict)
    mtu: dict[str, int] = field(default_factory=dict)
    modules: list[str] = field(default_factory=lambda: [
        "mlx5_ib", "mlx5_core", "ib_uverbs", "rdma_ucm", "rdma_cm", "ib_core", "mlx_compat"])
    rdma_system: str | None = None           # fixture name; default by scheme
    modprobe: dict[str, str] | None = None   # path -> text; default by scheme
    cmdline: str = "BOOT_IMAGE=/vmlinuz-6.8.0 root=/dev/sda1 ro"
    numvfs: dict[str, int] = field(default_factory=dict)   # PF netdev -> sriov_numvfs (default 8)
    totalvfs: int = 16
    vfs: int = 2                             # VF netdevs of rail 1 left in the host namespace
    vf_rdma: bool = True
    mlxconfig: dict[str, str | None] = field(default_factory=dict)   # bdf -> fixture (default: ETH)
    ofed: str | None = "daocloud-mlnx-ofed-23.07.txt"
    ibv_devinfo: bool = True
    roce_tos: int | None = 160
    rdma_tool: bool = True                   # False: iproute2's rdma is not installed
    no_rdma: set[str] = field(default_factory=set)   # netdevs whose RDMA device is absent from sysfs
    builder: SnapshotBuilder | None = None   # the last build's builder (provenance)

    def __post_init__(self) -> None:
        for nic in self.nics:
            self.ports.setdefault(nic.rdma, Port(gids=roce_gids(nic.netdev, nic.ip)))

    def build(self):
        b = self.builder = SnapshotBuilder(self.name)
        b.default_rules()
        b.iface("eth0", ipv4=["10.0.0.10/24"]).route("default", dev="eth0", gateway="10.0.0.1")
        for i, nic in enumerate(self.nics):
            b.iface(nic.netdev, mtu=self.mtu.get(nic.netdev, 4200), ipv4=[f"{nic.ip}/24"], mac=f"02:00:00:00:01:0{i}")
            b.link(f"/sys/class/net/{nic.netdev}/device", nic.path)
            b.link(f"/sys/class/net/{nic.netdev}/device/driver", "/sys/bus/pci/drivers/mlx5_core")
            if self.scheme == "sriov":
                b.attr(f"/sys/class/net/{nic.netdev}/device/sriov_numvfs", self.numvfs.get(nic.netdev, 8))
                b.attr(f"/sys/class/net/{nic.netdev}/device/sriov_totalvfs", self.totalvfs)
            if nic.netdev in self.no_rdma:
                continue
            _rdma_sysfs(b, nic.rdma, nic.path, self.ports[nic.rdma])
            if self.roce_tos is not None:
                b.attr(f"/sys/kernel/config/rdma_cm/{nic.rdma}/ports/1/default_roce_tos", self.roce_tos)
            fw = self.mlxconfig.get(nic.bdf, "hpe-shs-cx6-e-query-egrep-link-type-eth.txt")
            if fw:
                b.fixture_cmd(f"mlxconfig/{nic.bdf}", "mlxconfig", fw)
        if self.scheme == "sriov":
            self._vfs(b)
        b.file("/proc/modules", "".join(f"{m} 1048576 1 - Live 0xffffffffc0000000\n" for m in self.modules))
        b.file("/proc/cmdline", self.cmdline + "\n")
        modprobe = self.modprobe if self.modprobe is not None else (
            {OPERATOR_CONF: OPERATOR_HEAD + "options ib_core netns_mode=0\n"} if self.scheme == "sriov" else {})
        for path, text in modprobe.items():
            b.file(path, text)
        b.attr("/sys/module/ib_core/parameters/netns_mode", "N" if self.netns_fixture == "spiderpool-exclusive-mode.txt" else "Y")
        if self.rdma_tool:
            b.fixture_cmd("rdma_system", "rdma_system", self.netns_fixture)
            b.fixture_cmd("rdma_link", "rdma_link", "daocloud-cx5-roce-enp4s0f0np0.txt")
        else:
            b.missing("rdma")
        b.fixture_cmd("ibdev2netdev", "ibdev2netdev", "daocloud-cx5-roce-two-up.txt")
        if self.ofed:
            b.fixture_cmd("ofed_info", "ofed_info", self.ofed)
        else:
            b.missing("ofed_info")
        if self.ibv_devinfo:
            p0 = self.ports["mlx5_0"]
            b.cmd("ibv_devinfo", ibv_block("mlx5_0", p0.active_mtu, "Ethernet")
                  + fixture_output("ibv_devinfo", "stelline-cx7-roce-mlx5_1-active.txt"),
                  source="hand-made mlx5_0 block + real: tests/fixtures/outputs/ibv_devinfo/"
                         "stelline-cx7-roce-mlx5_1-active.txt")
        return b.build()

    @property
    def netns_fixture(self) -> str:
        return self.rdma_system or ("spiderpool-exclusive-mode.txt" if self.scheme == "sriov"
                                    else "spiderpool-shared-mode.txt")

    def _vfs(self, b: SnapshotBuilder) -> None:
        pf = self.nics[0]
        for v in range(self.vfs):
            name, bdf, dev = f"{pf.netdev[:-3]}v{v}", f"0000:04:00.{2 + v}", f"mlx5_{2 + v}"
            path = f"/sys/devices/pci0000:00/0000:00:02.0/{bdf}"
            b.iface(name, mtu=4200, mac=f"02:00:00:00:02:0{v}")
            b.link(f"/sys/class/net/{name}/device", path)
            b.link(f"/sys/class/net/{name}/device/physfn", pf.path)
            if self.vf_rdma:
                _rdma_sysfs(b, dev, path, Port(gids=[(0, "fe80:0000:0000:0000:0000:00ff:fe00:0200", "RoCE v2", name)]))

    def ctx(self, **profile_changes) -> NodeContext:
        return node_context(self.name, roce_profile(self, **profile_changes), build_facts(self.build()))


def _rdma_sysfs(b: SnapshotBuilder, dev: str, path: str, p: Port) -> None:
    base = f"/sys/class/infiniband/{dev}"
    b.link(f"{base}/device", path)
    port = f"{base}/ports/1"
    b.attr(f"{port}/state", p.state).attr(f"{port}/phys_state", p.phys).attr(f"{port}/rate", p.rate)
    b.attr(f"{port}/link_layer", p.link_layer).attr(f"{port}/lid", p.lid).attr(f"{port}/sm_lid", p.sm_lid)
    for idx, gid, typ, ndev in p.gids:
        b.attr(f"{port}/gids/{idx}", gid).attr(f"{port}/gid_attrs/types/{idx}", typ)
        if ndev:
            b.attr(f"{port}/gid_attrs/ndevs/{idx}", ndev)


def roce_profile(node: RoceNode | None = None, **changes) -> Profile:
    """The repo's RoCE profile for the node's scheme, with the node's two rails (by netdev)
    and nested changes, e.g. ``roce_profile(node, rdma={"workload_gid_index": 3})``."""
    scheme = node.scheme if node else "sriov"
    data = load_profile(ROCE_PROFILE if scheme == "sriov" else MACVLAN_PROFILE).profile.model_dump(mode="json")
    nics = node.nics if node else RoceNode().nics
    data["rails"] = {f"rail{i}": {**data["rails"][f"rail{i}"], "nic": {"netdev": n.netdev}}
                     for i, n in enumerate(nics, start=1)}
    data["expected_rails"] = len(nics)
    data["rdma"] = {**data["rdma"], "rate_gbps": 100, "min_stack_version": "5.8"}
    return _changed(data, changes)


def _changed(data: dict, changes: dict) -> Profile:
    for section, values in changes.items():
        data[section] = {**data[section], **values} if isinstance(values, dict) else values
    return Profile.model_validate(data)


# ---- InfiniBand ---------------------------------------------------------------------------------

IB_BDFS = ("0000:0c:00.0", "0000:12:00.0", "0000:48:00.0", "0000:4e:00.0",
           "0000:8a:00.0", "0000:90:00.0", "0000:c6:00.0", "0000:cc:00.0")


def real_ib_ports() -> dict[str, p_ibstat.IbstatPort]:
    """The eight InfiniBand ports of the real A100 ibstat output (mlx5_1..mlx5_8)."""
    res = p_ibstat.parse(fixture_output("ibstat", IBSTAT_IB))
    return {ca.name: ca.ports[0] for ca in res.cas if ca.ports[0].link_layer == "InfiniBand"}


@dataclass
class IbNode:
    """A compliant eight-rail InfiniBand SR-IOV node; sysfs copies the real ibstat values."""

    name: str = "ib-node-1"
    ports: dict[str, Port] = field(default_factory=dict)
    builder: SnapshotBuilder | None = None
    proc_modules: str | None = None          # None: the real lsmod output (stelline MOFED host)
    ibstat: bool = True
    numvfs: int = 8

    def __post_init__(self) -> None:
        for dev, rp in real_ib_ports().items():
            gid = "fe80:0000:0000:0000:" + f"{int(dev[5:]):04x}:0000:0000:{rp.base_lid:04x}"
            self.ports.setdefault(dev, Port(rate=f"{rp.rate_gbps:g} Gb/sec (4X HDR)", link_layer="InfiniBand",
                                            lid=hex(rp.base_lid), sm_lid=hex(rp.sm_lid),
                                            gids=[(0, gid, "IB/RoCE v1", "")]))

    def nics(self) -> list[Nic]:
        return [Nic(f"ib{i}", dev, IB_BDFS[i], f"172.16.{i + 1}.10") for i, dev in enumerate(sorted(self.ports))]

    def build(self):
        b = self.builder = SnapshotBuilder(self.name)
        b.default_rules()
        b.iface("eth0", ipv4=["10.0.0.20/24"], pci="0000:e1:00.0").route("default", dev="eth0", gateway="10.0.0.1")
        eth = Nic("eth0", "mlx5_0", "0000:e1:00.0", "10.0.0.20")
        _rdma_sysfs(b, "mlx5_0", eth.path, Port(rate="200 Gb/sec (4X HDR)", gids=roce_gids("eth0", "10.0.0.20")))
        blocks = ibv_block("mlx5_0", 1024, "Ethernet")
        for nic in self.nics():
            p = self.ports[nic.rdma]
            b.iface(nic.netdev, mtu=4092, ipv4=[f"{nic.ip}/24"], link_type="infiniband", mac=f"00:00:10:{nic.netdev[2]}")
            b.link(f"/sys/class/net/{nic.netdev}/device", nic.path)
            b.attr(f"/sys/class/net/{nic.netdev}/mode", "datagram")
            b.attr(f"/sys/class/net/{nic.netdev}/device/sriov_numvfs", self.numvfs)
            b.attr(f"/sys/class/net/{nic.netdev}/device/sriov_totalvfs", 16)
            _rdma_sysfs(b, nic.rdma, nic.path, p)
            b.fixture_cmd(f"mlxconfig/{nic.bdf}", "mlxconfig", "spiderpool-link-type-p1-ib.txt")
            blocks += ibv_block(nic.rdma, p.active_mtu, "InfiniBand", int(p.lid, 16), int(p.sm_lid, 16))
        b.cmd("ibv_devinfo", blocks, source=HAND)
        if self.proc_modules is None:
            b.file("/proc/modules", fixture_output("lsmod", "stelline-ib-core-mlx-compat-mofed.txt"),
                   "real: tests/fixtures/outputs/lsmod/stelline-ib-core-mlx-compat-mofed.txt "
                   "(lsmod's columns are /proc/modules' first three)")
        else:
            b.file("/proc/modules", self.proc_modules)
        b.file("/proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.8.0 root=/dev/sda1 ro ib_core.netns_mode=0\n")
        b.attr("/sys/module/ib_core/parameters/netns_mode", "N")
        b.fixture_cmd("rdma_system", "rdma_system", "spiderpool-exclusive-mode.txt")
        b.fixture_cmd("ofed_info", "ofed_info", "daocloud-mlnx-ofed-23.07.txt")
        if self.ibstat:
            b.fixture_cmd("ibstat", "ibstat", IBSTAT_IB)
        return b.build()

    def ctx(self, **profile_changes) -> NodeContext:
        return node_context(self.name, ib_profile(**profile_changes), build_facts(self.build()))


def ib_profile(**changes) -> Profile:
    """The repo's infiniband-sriov profile (8 rails by position) with a rate and stack floor."""
    data = load_profile(IB_PROFILE).profile.model_dump(mode="json")
    data["rdma"] = {**data["rdma"], "rate_gbps": 200, "min_stack_version": "5.8"}
    return _changed(data, changes)


# ---- evaluation -----------------------------------------------------------------------------------

def run(check_id: str, ctx: NodeContext, rail: int | None = 1) -> Result:
    """Evaluate one check as the harness does, including its skip for a rail not found."""
    load_all()
    r = ctx.rails[rail - 1] if rail else None
    if REGISTRY[check_id].scope == "rail" and r is not None and not r.found:
        return skipped(f"{r.name}: NIC not found ({r.problem})")
    return run_one(check_id, ctx, rail)


def run_all(ctx: NodeContext) -> dict[tuple[str, str | None], Result]:
    """Every rdma.* and ib.* check on every rail: {(check id, rail name or None): result}."""
    load_all()
    out = {}
    for cid, spec in sorted(REGISTRY.items()):
        if not cid.startswith(RDMA_CHECKS):
            continue
        if spec.scope == "rail":
            for i, r in enumerate(ctx.rails, start=1):
                out[(cid, r.name)] = run(cid, ctx, i)
        else:
            out[(cid, None)] = run(cid, ctx)
    return out


def outcomes(results: dict[tuple[str, str | None], Result], outcome: Outcome) -> set[tuple[str, str | None]]:
    return {k for k, r in results.items() if r.outcome == outcome}
