"""NodeFacts: everything the checks read about one node, typed, built once per node."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..collect.snapshot import Snapshot
from .net import NetFacts
from .netdev import NetDevice
from .rdma import RdmaFacts
from .system import SystemFacts


@dataclass
class NodeFacts:
    node: str
    snapshot: Snapshot                      # the raw evidence (commands, files, links)
    net: NetFacts
    netdevs: dict[str, NetDevice]
    rdma: RdmaFacts
    system: SystemFacts
    qos: object | None = None               # facts/qos.py QosFacts (RoCE lossless settings)
    pcie: object | None = None              # facts/pcie.py PcieFacts (tree, ACS)
    gpu: object | None = None               # facts/gpu.py GpuFacts (GPUs, topology, modules)
    target: str = ""                        # how the node was reached (url)
    round_trips: int = 0
    collect_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)   # decoding problems worth a look

    @property
    def tools_missing(self) -> set[str]:
        return self.snapshot.missing
