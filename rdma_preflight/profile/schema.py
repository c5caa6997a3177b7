"""The profile schema: what a design expects of a node. Unknown keys are errors.

Units are kept apart on purpose: a priority (0-7), a DSCP (0-63) and a ToS (0-255, = DSCP x 4)
are separate fields and are never compared with each other.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{1,15}$")
RDMA_DEV_RE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
RAIL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
BDF_RE = re.compile(r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def valid_ifname(name: str) -> str:
    if not IFNAME_RE.match(name) or name in (".", ".."):
        raise ValueError(f"{name!r} is not a valid Linux interface name (1-15 of A-Z a-z 0-9 _ . @ + -)")
    return name


def at(path: str, msg: str) -> ValueError:
    """A cross-field error that names the field it is about (relative to the model), so the
    loader can point at that field's line: ``@rails.rail1.address@ message``."""
    return ValueError(f"@{path}@ {msg}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NicSelector(Strict):
    """How a rail's NIC is found: exactly one of these."""

    netdev: str | None = None
    pci: str | None = None
    rdma_device: str | None = None
    position: int | None = Field(default=None, ge=1, le=64,
                                 description="1-based position among RDMA netdevs in PCI order")

    @field_validator("netdev")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return valid_ifname(v) if v is not None else v

    @field_validator("pci")
    @classmethod
    def _bdf(cls, v: str | None) -> str | None:
        if v is not None and not BDF_RE.match(v):
            raise ValueError(f"{v!r} is not a PCI address like 0000:86:00.0")
        return v

    @field_validator("rdma_device")
    @classmethod
    def _rdma(cls, v: str | None) -> str | None:
        if v is not None and not RDMA_DEV_RE.match(v):
            raise ValueError(f"{v!r} is not a valid RDMA device name")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> "NicSelector":
        given = [k for k in ("netdev", "pci", "rdma_device", "position") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of netdev, pci, rdma_device, position"
                             + (f" (found {', '.join(given)})" if given else ""))
        return self

    def describe(self) -> str:
        for k in ("netdev", "pci", "rdma_device", "position"):
            v = getattr(self, k)
            if v is not None:
                return f"{k}={v}"
        return "?"


class RailSpec(Strict):
    nic: NicSelector
    mtu: int | None = Field(default=None, ge=68, le=65535)
    subnet: ipaddress.IPv4Network | None = None        # shared-subnet design
    gateway: ipaddress.IPv4Address | None = None
    pool: ipaddress.IPv4Network | None = None          # per-node-subnet design: the rail's pool
    slice_prefix: int | None = Field(default=None, ge=8, le=30)
    address: ipaddress.IPv4Interface | None = None     # this node's address (node overrides)
    resource: str | None = None                        # k8s RDMA resource for this rail
    network: str | None = None                         # SpiderMultusConfig name for this rail


class Design(Strict):
    fabric: Literal["roce", "infiniband"]
    scheme: Literal["macvlan", "sriov"]
    addressing: Literal["shared-subnet", "per-node-subnet", "none"] = "shared-subnet"


class RdmaSpec(Strict):
    netns_mode: Literal["shared", "exclusive"] | None = None
    cidr: ipaddress.IPv4Network | None = None
    expected_devices: int | None = Field(default=None, ge=0)
    required_modules: list[str] = Field(default_factory=lambda: ["mlx5_core", "mlx5_ib", "ib_core", "ib_uverbs", "rdma_ucm"])
    min_stack_version: str | None = None
    rate_gbps: float | None = Field(default=None, gt=0)
    active_mtu: Literal[256, 512, 1024, 2048, 4096] | None = None
    workload_gid_index: int | None = Field(default=None, ge=0, le=255)
    workload_traffic_class: int | None = Field(default=None, ge=0, le=255)


class NetworkSpec(Strict):
    management_interface: str | None = None
    policy_routing: bool = True
    rdma_rule: bool = True
    allow_rail_default_in_main: bool = False
    rp_filter_accept: list[int] = Field(default_factory=lambda: [0, 2])
    arp_ignore_min: int = 1
    arp_announce_min: int = 2

    @field_validator("management_interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return valid_ifname(v) if v is not None else v


class LosslessSpec(Strict):
    enabled: bool = False
    trust: Literal["dscp", "pcp"] = "dscp"
    rdma_priority: int = Field(default=5, ge=0, le=7)
    rdma_dscp: int = Field(default=40, ge=0, le=63)
    cnp_priority: int = Field(default=6, ge=0, le=7)
    cnp_dscp: int = Field(default=48, ge=0, le=63)
    roce_tos: int = Field(default=160, ge=0, le=255)
    tcp_ecn: int | None = Field(default=1, ge=0, le=2)

    @model_validator(mode="after")
    def _units(self) -> "LosslessSpec":
        if self.rdma_dscp // 8 != self.rdma_priority:
            raise at("rdma_dscp", f"rdma_dscp {self.rdma_dscp} maps to priority {self.rdma_dscp // 8}, "
                             f"not rdma_priority {self.rdma_priority} (priority p carries DSCP 8p..8p+7)")
        if self.roce_tos >> 2 != self.rdma_dscp:
            raise at("roce_tos", f"roce_tos {self.roce_tos} is DSCP {self.roce_tos >> 2}, not rdma_dscp "
                             f"{self.rdma_dscp} (ToS = DSCP x 4, e.g. 160 for DSCP 40)")
        if self.cnp_priority == self.rdma_priority:
            raise at("cnp_priority", "cnp_priority must differ from rdma_priority")
        return self


class GpuDirectSpec(Strict):
    enabled: bool = False
    peermem: bool = True
    gdrcopy: bool = False
    acs: Literal["disabled", "ignore"] = "disabled"
    iommu: Literal["passthrough", "off", "any"] = "any"
    iommu_required: bool = False
    nic_affinity: Literal["any", "one_to_one", "off"] = "any"


class SriovSpec(Strict):
    num_vfs: int | None = Field(default=None, ge=0, le=1024)


class BandwidthSpec(Strict):
    floor_fraction: float = Field(default=0.9, gt=0, le=1)
    outlier_fraction: float = Field(default=0.8, gt=0, le=1)
    duration: int = Field(default=10, ge=1, le=3600)
    qps: int = Field(default=4, ge=1, le=64)
    size: int = Field(default=65536, ge=2)
    port_base: int = Field(default=18515, ge=1024, le=65000)
    strategy: Literal["ring", "tournament", "pairs"] = "ring"
    image: str = "ghcr.io/spidernet-io/rdma-tools:v12.5.8"
    timeout: int = Field(default=120, ge=5)
    # rdma_preflight/bandwidth: pairs for strategy "pairs" ("a b" or "<round> a b" per line),
    # retest failing pairs against known-good partners, extra pod annotations (e.g. the
    # Spiderpool webhook's cni.spidernet.io/rdma-resource-inject), the perftest binary.
    pairs_file: str | None = None
    retest: bool = True
    known_good: list[str] = Field(default_factory=list)
    annotations: dict[str, str] = Field(default_factory=dict)
    perftest: str = Field(default="ib_write_bw", pattern=r"^[A-Za-z0-9_./+-]{1,255}$")

    @model_validator(mode="after")
    def _pairs(self) -> "BandwidthSpec":
        if self.strategy == "pairs" and not self.pairs_file:
            raise at("pairs_file", "strategy 'pairs' needs pairs_file (lines 'node-a node-b' or '<round> node-a node-b')")
        return self


class KubernetesSpec(Strict):
    namespace: str = "rdma-preflight"
    node_selector: dict[str, str] = Field(default_factory=dict)
    spiderpool_namespace: str = "spiderpool"
    gpu_resource: str = "nvidia.com/gpu"
    # cluster-side checks (k8s.*); defaults are the Spiderpool chart's
    sriov_namespace: str | None = None              # SR-IOV operator's namespace; None: spiderpool_namespace
    resource_prefix: str = "spidernet.io"           # chart sriov.resourcePrefix; prefix of bare rails.*.resource
    shared_device_plugin: str = "spiderpool-rdma-shared-device-plugin"   # its ConfigMap and DaemonSet
    rdma_hca_max: int | None = Field(default=None, ge=1)      # expected rdmaHcaMax; None: the ConfigMap's value
    gpu_count: int | None = Field(default=None, ge=0)         # expected GPU allocatable; None: the GPUs the host has
    management_cidr: ipaddress.IPv4Network | None = None     # node InternalIP / Calico address must lie inside


class NodeOverride(Strict):
    match: str | None = None
    labels: dict[str, str] | None = None
    set: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _selector(self) -> "NodeOverride":
        if self.match is None and not self.labels:
            raise ValueError("a node override needs 'match' (a node-name glob) or 'labels'")
        return self


class Profile(Strict):
    name: str
    description: str = ""
    design: Design
    rdma: RdmaSpec = RdmaSpec()
    rails: dict[str, RailSpec]
    expected_rails: int | None = Field(default=None, ge=0)
    network: NetworkSpec = NetworkSpec()
    lossless: LosslessSpec = LosslessSpec()
    gpudirect: GpuDirectSpec = GpuDirectSpec()
    sriov: SriovSpec = SriovSpec()
    bandwidth: BandwidthSpec = BandwidthSpec()
    kubernetes: KubernetesSpec = KubernetesSpec()
    nodes: list[NodeOverride] = Field(default_factory=list)

    @field_validator("rails")
    @classmethod
    def _rail_names(cls, v: dict[str, RailSpec]) -> dict[str, RailSpec]:
        for name in v:
            if not RAIL_NAME_RE.match(name):
                raise ValueError(f"rail name {name!r} must match {RAIL_NAME_RE.pattern}")
        if not v:
            raise ValueError("a profile needs at least one rail")
        return v

    @model_validator(mode="after")
    def _design_rules(self) -> "Profile":
        d = self.design
        want = "shared" if d.scheme == "macvlan" else "exclusive"
        if self.rdma.netns_mode is None:
            object.__setattr__(self, "rdma", self.rdma.model_copy(update={"netns_mode": want}))
        elif self.rdma.netns_mode != want:
            raise at("rdma.netns_mode", f"rdma.netns_mode {self.rdma.netns_mode!r} contradicts design.scheme "
                             f"{d.scheme!r}, which needs {want!r}")
        if d.fabric == "infiniband" and d.scheme == "macvlan":
            raise at("design.scheme", "shared RDMA with Macvlan is RoCE only: use scheme sriov for InfiniBand")
        if d.fabric == "infiniband" and self.lossless.enabled:
            raise at("lossless.enabled", "lossless (PFC/ECN) applies to RoCE only; set lossless.enabled: false for InfiniBand")
        for name, r in self.rails.items():
            if d.fabric == "roce" and d.addressing == "shared-subnet":
                if r.subnet is None or r.gateway is None:
                    raise at(f"rails.{name}", f"rail {name}: the shared-subnet design needs subnet and gateway")
            if d.addressing == "per-node-subnet":
                if r.pool is None or r.slice_prefix is None:
                    raise at(f"rails.{name}", f"rail {name}: the per-node-subnet design needs pool and slice_prefix")
                if r.slice_prefix <= r.pool.prefixlen:
                    raise at(f"rails.{name}.slice_prefix", f"rail {name}: slice_prefix /{r.slice_prefix} must be longer than pool {r.pool}")
            if r.gateway is not None and r.subnet is not None and r.gateway not in r.subnet:
                raise at(f"rails.{name}.gateway", f"rail {name}: gateway {r.gateway} is outside subnet {r.subnet}")
            if r.address is not None:
                net = r.subnet or r.pool
                if net is not None and r.address.ip not in net:
                    raise at(f"rails.{name}.address", f"rail {name}: address {r.address} is outside {net}")
        if d.addressing == "per-node-subnet" and self.rdma.cidr is None:
            raise at("rdma", "the per-node-subnet design needs rdma.cidr (the RDMA subnet route on rail 1)")
        if d.fabric == "roce" and self.network.rdma_rule and self.rdma.cidr is None:
            raise at("rdma", "rdma.cidr is needed for the 'not to <RDMA CIDR> lookup main' rule "
                             "(or set network.rdma_rule: false)")
        if self.expected_rails is None:
            object.__setattr__(self, "expected_rails", len(self.rails))
        return self

    @property
    def is_roce(self) -> bool:
        return self.design.fabric == "roce"

    @property
    def is_ib(self) -> bool:
        return self.design.fabric == "infiniband"

    def design_tags(self) -> set[str]:
        d = self.design
        return {d.fabric, d.scheme, d.addressing, f"{d.fabric}-{d.scheme}"}
