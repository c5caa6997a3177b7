"""SpiderMultusConfig (spiderpool.spidernet.io/v2beta1) read against the CRD, pure.

Schema places (SP:pkg/k8s/apis/spiderpool.spidernet.io/v2beta1/spidermultus_types.go):
``spec.macvlan.{master, mtu, vlanID, bond, rdmaResourceName, ippools}``,
``spec.sriov.{resourceName, vlanID, mtu, minTxRateMbps, maxTxRateMbps, rdmaIsolation (default
false), ippools}``, ``spec.ibsriov.{resourceName, pkey, linkState, rdmaIsolation (default true),
enableIbKubernetes, ippools}``, ``ippools: {ipv4, ipv6, matchMasterSubnet}``.

Fields the docs show but the CRD does not accept (spec §5.4, §7 item 9): ``spec.rdmaResourceName``
(get-started-macvlan.md), ``spec.ippools`` (the webhook example), ``spec.sriov.enableRdma``
(removed in v2beta1 by 938eeb7e1) and ``spec.sriov.matchMasterSubnet`` (belongs under
``spec.sriov.ippools``). A structural CRD makes the API server prune such fields on write, so
they are looked for both in the stored object and in ``kubectl.kubernetes.io/last-applied-
configuration`` (where ``kubectl apply`` keeps what the user wrote).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .facts import LAST_APPLIED, Obj, meta, name_of, namespace_of, spec_of

SECTION = {"macvlan": "macvlan", "ipvlan": "ipvlan", "vlan": "vlan", "sriov": "sriov", "ib-sriov": "ibsriov",
           "ipoib": "ipoib", "ovs": "ovs"}
ISOLATION_DEFAULT = {"sriov": False, "ib-sriov": True}
TOP_KEYS = {"cniType", "macvlan", "ipvlan", "vlan", "sriov", "ovs", "ibsriov", "ipoib", "enableCoordinator",
            "disableIPAM", "coordinator", "chainCNIJsonData", "customCNI"}
SECTION_KEYS = {
    "macvlan": {"master", "mtu", "vlanID", "bond", "rdmaResourceName", "ippools"},
    "ipvlan": {"master", "mtu", "vlanID", "bond", "rdmaResourceName", "ippools"},
    "sriov": {"resourceName", "vlanID", "mtu", "minTxRateMbps", "maxTxRateMbps", "rdmaIsolation", "ippools"},
    "ibsriov": {"resourceName", "pkey", "linkState", "rdmaIsolation", "enableIbKubernetes", "ippools"},
}
POOL_KEYS = {"ipv4", "ipv6", "matchMasterSubnet"}


def design_cni_type(fabric: str, scheme: str) -> str:
    """The SpiderMultusConfig cniType a design needs."""
    if scheme == "macvlan":
        return "macvlan"
    return "ib-sriov" if fabric == "infiniband" else "sriov"


@dataclass(frozen=True)
class OffSchema:
    """A field outside the v2beta1 schema: where it was written and where it belongs."""

    path: str                      # spec.rdmaResourceName
    value: Any
    source: str                    # "stored object" | "last-applied-configuration"
    belongs: str | None            # spec.macvlan.rdmaResourceName; None: the field has no place
    note: str = ""

    def describe(self) -> str:
        where = f"; it belongs at {self.belongs}" if self.belongs else ""
        pruned = (f" (the API server dropped it on write, so the object has no {self.belongs})"
                  if self.belongs and self.source != "stored object" else "")
        return f"{self.path}: {json.dumps(self.value)} ({self.source}) is not in the v2beta1 CRD{where}{pruned}" + (
            f"; {self.note}" if self.note else "")


def _off_schema(spec: dict[str, Any], source: str) -> list[OffSchema]:
    cni = str(spec.get("cniType") or "")
    section = SECTION.get(cni, "")
    out = []
    for key, value in spec.items():
        if key in TOP_KEYS:
            continue
        if key == "rdmaResourceName":
            belongs = f"spec.{section or 'macvlan'}.rdmaResourceName"
            out.append(OffSchema("spec.rdmaResourceName", value, source, belongs, "as written in get-started-macvlan.md"))
        elif key == "ippools":
            out.append(OffSchema("spec.ippools", value, source, f"spec.{section or '<cni>'}.ippools",
                                 "as written in the webhook example"))
        else:
            out.append(OffSchema(f"spec.{key}", value, source, None))
    for sec, allowed in SECTION_KEYS.items():
        body = spec.get(sec)
        if not isinstance(body, dict):
            continue
        for key, value in body.items():
            if key in allowed:
                continue
            if key == "enableRdma" and sec == "sriov":
                out.append(OffSchema("spec.sriov.enableRdma", value, source, None,
                                     "removed in v2beta1 (938eeb7e1); RDMA comes from the SriovNetworkNodePolicy's "
                                     "isRdma: true, isolation from spec.sriov.rdmaIsolation"))
            elif key == "matchMasterSubnet":
                out.append(OffSchema(f"spec.{sec}.matchMasterSubnet", value, source,
                                     f"spec.{sec}.ippools.matchMasterSubnet"))
            else:
                out.append(OffSchema(f"spec.{sec}.{key}", value, source, None))
        pools = body.get("ippools")
        if isinstance(pools, dict):
            for key, value in pools.items():
                if key not in POOL_KEYS:
                    out.append(OffSchema(f"spec.{sec}.ippools.{key}", value, source, None))
    return out


def _last_applied_spec(obj: Obj) -> dict[str, Any] | None:
    text = (meta(obj).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    return spec if isinstance(spec, dict) else None


@dataclass(frozen=True)
class MultusConfig:
    name: str
    namespace: str
    cni_type: str
    section: dict[str, Any]
    masters: tuple[str, ...]
    resource: str | None                 # sriov / ibsriov resourceName
    rdma_resource: str | None            # macvlan / ipvlan rdmaResourceName
    rdma_isolation: bool | None          # effective (CRD default applied); None: not applicable
    isolation_explicit: bool
    ipv4_pools: tuple[str, ...]
    match_master_subnet: bool
    off_schema: tuple[OffSchema, ...]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def section_name(self) -> str:
        return SECTION.get(self.cni_type, self.cni_type)


def read_smc(obj: Obj) -> MultusConfig:
    spec = spec_of(obj)
    cni = str(spec.get("cniType") or "custom")
    section = spec.get(SECTION.get(cni, ""))
    section = section if isinstance(section, dict) else {}
    pools = section.get("ippools") if isinstance(section.get("ippools"), dict) else {}
    masters = section.get("master")
    masters = tuple(masters) if isinstance(masters, list) else ((masters,) if isinstance(masters, str) else ())
    iso_raw = section.get("rdmaIsolation")
    iso = (bool(iso_raw) if iso_raw is not None else ISOLATION_DEFAULT[cni]) if cni in ISOLATION_DEFAULT else None
    off = _off_schema(spec, "stored object")
    seen = {o.path for o in off}
    applied = _last_applied_spec(obj)
    if applied is not None:
        off += [o for o in _off_schema(applied, "last-applied-configuration") if o.path not in seen]
    return MultusConfig(name=name_of(obj), namespace=namespace_of(obj) or "default", cni_type=cni, section=section,
                        masters=tuple(str(m) for m in masters),
                        resource=section.get("resourceName") if cni in ("sriov", "ib-sriov") else None,
                        rdma_resource=section.get("rdmaResourceName") if cni in ("macvlan", "ipvlan") else None,
                        rdma_isolation=iso, isolation_explicit=iso_raw is not None,
                        ipv4_pools=tuple(str(p) for p in pools.get("ipv4") or ()),
                        match_master_subnet=bool(pools.get("matchMasterSubnet")), off_schema=tuple(off))
