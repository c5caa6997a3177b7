"""Selector semantics, pure: Kubernetes label selectors, the RDMA shared device plugin's
device selectors, and SR-IOV policy NIC selectors, evaluated against a node's host NICs.

Shared device plugin (Mellanox/k8s-rdma-shared-dev-plugin README, "Selectors Matching
Process"): selectors given are ANDed, the values inside one selector are ORed, a missing
selector is ignored; ``devices`` is the same as ``ifNames``; ``resourcePrefix`` defaults to
``rdma``. Only RDMA-capable PCI netdevs are candidates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..facts.model import NodeFacts

PLUGIN_SELECTORS = ("vendors", "deviceIDs", "drivers", "ifNames", "linkTypes")
PLUGIN_DEFAULT_PREFIX = "rdma"


# -- host NICs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostNic:
    name: str
    pci: str | None = None
    vendor: str | None = None          # hex without 0x: 15b3
    device: str | None = None          # hex without 0x: 1017
    driver: str | None = None
    link_type: str | None = None       # ether | infiniband (ip link's link_type)
    is_vf: bool = False
    rdma: bool = False                 # an RDMA device is bound to it
    numvfs: int | None = None


def _hex(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip().lower()
    return v[2:] if v.startswith("0x") else v


def host_nics(facts: NodeFacts) -> dict[str, HostNic]:
    """The node's PCI netdevs with what the selectors look at."""
    rdma = {p.netdev for d in facts.rdma.devices.values() for p in d.ports.values() if p.netdev}
    out = {}
    for name, nd in facts.netdevs.items():
        if nd.pci is None:
            continue
        base = f"/sys/bus/pci/devices/{nd.pci}"
        link = facts.net.links.get(name)
        out[name] = HostNic(name=name, pci=nd.pci, vendor=_hex(facts.snapshot.value(f"{base}/vendor")),
                            device=_hex(facts.snapshot.value(f"{base}/device")), driver=nd.driver,
                            link_type=link.link_type if link else None, is_vf=nd.is_vf,
                            rdma=name in rdma, numvfs=nd.sriov_numvfs)
    return out


# -- Kubernetes label selectors -------------------------------------------------------------

def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); empty selects everything."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def map_selector_matches(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A plain ``nodeSelector`` map (SriovNetworkNodePolicy.spec.nodeSelector)."""
    return all(labels.get(k) == v for k, v in (selector or {}).items())


# -- RDMA shared device plugin ------------------------------------------------------------------

@dataclass(frozen=True)
class PluginEntry:
    """One ``configList`` entry of the shared device plugin's config.json."""

    index: int
    resource_name: str
    resource_prefix: str
    rdma_hca_max: int | None
    selectors: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def resource(self) -> str:
        return f"{self.resource_prefix}/{self.resource_name}"

    def describe(self) -> str:
        sel = ", ".join(f"{k}={list(v)}" for k, v in self.selectors.items()) or "no selectors"
        return f"{self.resource} (rdmaHcaMax {self.rdma_hca_max}, {sel})"

    def selects(self, nic: HostNic) -> bool:
        """AND across the selectors given, OR within one; only RDMA-capable PFs/VFs count."""
        if not nic.rdma or not self.selectors:
            return False
        have = {"vendors": _hex(nic.vendor), "deviceIDs": _hex(nic.device), "drivers": nic.driver,
                "ifNames": nic.name, "linkTypes": nic.link_type}
        for key, values in self.selectors.items():
            norm = {(_hex(v) if key in ("vendors", "deviceIDs") else v) for v in values}
            if have.get(key) not in norm:
                return False
        return True


@dataclass(frozen=True)
class PluginConfig:
    entries: tuple[PluginEntry, ...] = ()
    problems: tuple[str, ...] = ()

    def selecting(self, nic: HostNic) -> list[PluginEntry]:
        return [e for e in self.entries if e.selects(nic)]

    def entry_for(self, resource: str) -> PluginEntry | None:
        return next((e for e in self.entries if e.resource == resource), None)


def parse_plugin_config(text: str | None) -> PluginConfig:
    """``data["config.json"]`` of the shared device plugin ConfigMap."""
    if text is None:
        return PluginConfig(problems=("the ConfigMap has no config.json key",))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return PluginConfig(problems=(f"config.json is not valid JSON: {exc}",))
    if not isinstance(doc, dict) or not isinstance(doc.get("configList"), list):
        return PluginConfig(problems=("config.json has no configList list",))
    entries, problems = [], []
    for i, raw in enumerate(doc["configList"]):
        if not isinstance(raw, dict) or not raw.get("resourceName"):
            problems.append(f"configList[{i}] has no resourceName")
            continue
        sel = raw.get("selectors") if isinstance(raw.get("selectors"), dict) else {}
        selectors = {k: tuple(str(v) for v in sel[k]) for k in PLUGIN_SELECTORS
                     if isinstance(sel.get(k), list) and sel[k]}
        unknown = sorted(set(sel) - set(PLUGIN_SELECTORS))
        if unknown:
            problems.append(f"configList[{i}] ({raw['resourceName']}): unknown selector(s) "
                            f"{', '.join(unknown)} are ignored")
        if isinstance(raw.get("devices"), list) and raw["devices"]:
            selectors["ifNames"] = tuple(dict.fromkeys(selectors.get("ifNames", ()) + tuple(map(str, raw["devices"]))))
        if not selectors:
            problems.append(f"configList[{i}] ({raw['resourceName']}) has neither selectors nor devices")
        hca = raw.get("rdmaHcaMax")
        entries.append(PluginEntry(index=i, resource_name=str(raw["resourceName"]),
                                   resource_prefix=str(raw.get("resourcePrefix") or PLUGIN_DEFAULT_PREFIX),
                                   rdma_hca_max=hca if isinstance(hca, int) else None, selectors=selectors))
    return PluginConfig(entries=tuple(entries), problems=tuple(problems))


# -- SR-IOV network node policies ---------------------------------------------------------------

def pf_name_and_range(entry: str) -> tuple[str, tuple[int, int] | None]:
    """``ens1f0#0-3`` -> (``ens1f0``, (0, 3)); a plain name has no VF range."""
    name, _, rng = entry.partition("#")
    if rng and "-" in rng:
        lo, _, hi = rng.partition("-")
        if lo.isdigit() and hi.isdigit():
            return name, (int(lo), int(hi))
    return name, None


def policy_vfs_for(policy: dict[str, Any], nic: HostNic, node_labels: dict[str, str]) -> int | None:
    """How many VFs of ``nic`` this SriovNetworkNodePolicy gives its resource on this node
    (None: it does not select the NIC). nicSelector fields are ANDed, pfNames/rootDevices ORed."""
    spec = policy.get("spec") or {}
    if nic.is_vf or not map_selector_matches(spec.get("nodeSelector"), node_labels):
        return None
    sel = spec.get("nicSelector") or {}
    if not sel:
        return None
    if sel.get("vendor") and _hex(str(sel["vendor"])) != nic.vendor:
        return None
    if sel.get("deviceID") and _hex(str(sel["deviceID"])) != nic.device:
        return None
    if sel.get("rootDevices") and nic.pci not in [str(r).lower() for r in sel["rootDevices"]]:
        return None
    num = int(spec.get("numVfs") or 0)
    if sel.get("pfNames"):
        for entry in sel["pfNames"]:
            name, rng = pf_name_and_range(str(entry))
            if name == nic.name:
                return (rng[1] - rng[0] + 1) if rng else num
        return None
    return num
