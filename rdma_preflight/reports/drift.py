"""Drift: what changed since a previous run, and facts where a node differs from its fleet.

Run drift (``compare_runs``): two results documents (schema ``rdma-preflight/results`` v1)
compared per (node, check, rail). A record is *failing* when its outcome is ``fail`` or
``error``; an expired waiver keeps ``fail`` so it counts, an active one (``waived``) does not.

* newly_failing: failing now, not failing (or not checked) before, on a node in both runs
* newly_fixed: failing before, present and not failing now (``now`` says pass, waived...)
* still_failing: failing in both runs
* no_longer_checked: failing before, no record now (check removed or deselected)
* nodes_added / nodes_gone: by node name

Fleet drift (``fleet_drift``): ``fact_fingerprint(facts)`` flattens the facts worth comparing
(firmware per HCA type, module versions, OFED, kernel, ECN per priority per NIC position,
MTU per NIC and rail...) into ``{key: value}``; nodes are grouped by profile and every key
whose values differ inside a group is reported, with the majority value (more than half of
the group) and the nodes that differ from it, whether or not the profile pins that fact.
Values unique by nature (hostname, serial, GUIDs, addresses) are left out.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Mapping

FAILING = frozenset({"fail", "error"})
ABSENT = "(absent)"
# kernel modules worth comparing across a fleet (versions from /sys/module/<m>/version)
TRACKED_MODULE_PREFIXES = ("mlx", "ib_", "rdma", "nvidia", "nv_peer", "gdrdrv", "iw_", "bnxt_re", "irdma")

Key = tuple[str, str, str]       # node, check, rail ("" for node-scope checks)


# -- run drift ---------------------------------------------------------------------------------

def _records_by_key(doc: Mapping) -> dict[Key, dict]:
    return {(r["node"], r["check"], r.get("rail") or ""): r for r in doc.get("results", [])}


def _entry(key: Key, before: dict | None, now: dict | None) -> dict:
    node, check, rail = key
    cur = now or before or {}
    return {"node": node, "check": check, "rail": rail or None, "netdev": cur.get("netdev"),
            "before": before["outcome"] if before else None, "now": now["outcome"] if now else None,
            "summary": cur.get("summary", "")}


def compare_runs(previous: Mapping, current: Mapping) -> dict:
    """Changes from ``previous`` to ``current`` (both results documents); JSON-ready."""
    prev, cur = _records_by_key(previous), _records_by_key(current)
    prev_nodes = [n["name"] for n in previous.get("nodes", [])]
    cur_nodes = [n["name"] for n in current.get("nodes", [])]
    both = set(prev_nodes) & set(cur_nodes)
    out: dict = {"baseline": {k: previous.get("run", {}).get(k) for k in ("started", "finished")},
                 "newly_failing": [], "newly_fixed": [], "still_failing": [], "no_longer_checked": []}
    for key in sorted(set(prev) | set(cur)):
        if key[0] not in both:
            continue
        b, n = prev.get(key), cur.get(key)
        was = b is not None and b["outcome"] in FAILING
        now = n is not None and n["outcome"] in FAILING
        if now and was:
            out["still_failing"].append(_entry(key, b, n))
        elif now:
            out["newly_failing"].append(_entry(key, b, n))
        elif was and n is not None:
            out["newly_fixed"].append(_entry(key, b, n))
        elif was:
            out["no_longer_checked"].append(_entry(key, b, n))
    failing_by_node = Counter(k[0] for k, r in cur.items() if r["outcome"] in FAILING)
    out["nodes_added"] = [{"node": n, "failing": failing_by_node.get(n, 0)} for n in cur_nodes if n not in both]
    out["nodes_gone"] = [n for n in prev_nodes if n not in both]
    return out


def drift_counts(run_drift: Mapping) -> dict[str, int]:
    """How many entries each change list holds."""
    return {k: len(v) for k, v in run_drift.items() if isinstance(v, list)}


# -- fact fingerprint --------------------------------------------------------------------------

def _on_off(v: int) -> str:
    return "on" if v else "off"


def _ofed(facts) -> str | None:
    from ..parsers.base import ParseError
    from ..parsers.ofed_info import parse

    snap = facts.snapshot
    if "ofed_info" in snap.missing:
        return "not installed"
    text = snap.cmd_text("ofed_info")
    if not text:
        return None
    try:
        info = parse(text)
        return f"{info.flavour} {info.version}"
    except ParseError:
        return text.strip().splitlines()[0][:80] if text.strip() else None


def _is_vf_device(facts, dev) -> bool:
    return any(nd.pci == dev.pci and nd.is_vf for nd in facts.netdevs.values()) if dev.pci else False


def _nic_facts(facts, netdev: str) -> dict[str, str]:
    """The comparable facts of one RDMA NIC (its netdev, RDMA device and port)."""
    out: dict[str, str] = {"netdev": netdev}
    link = facts.net.links.get(netdev)
    if link is not None:
        out["mtu"] = str(link.mtu)
        out["link"] = "up" if link.up else "down"
    nd = facts.netdevs.get(netdev)
    if nd is not None:
        if nd.driver:
            out["driver"] = nd.driver
        if nd.sriov_numvfs is not None:
            out["sriov_numvfs"] = str(nd.sriov_numvfs)
        for kind, table in (("ecn_np", nd.ecn_np), ("ecn_rp", nd.ecn_rp)):
            for prio, val in sorted(table.items()):
                out[f"{kind}.p{prio}"] = _on_off(val)
        if nd.cnp_dscp is not None:
            out["cnp_dscp"] = str(nd.cnp_dscp)
    for knob, val in sorted(facts.net.sysctl.get(netdev, {}).items()):
        out[knob] = str(val)
    devs = facts.rdma.device_for_netdev(netdev)
    if devs:
        dev = facts.rdma.devices[devs[0]]
        out["device"] = dev.name
        for attr in ("hca_type", "fw_ver", "board_id"):
            if getattr(dev, attr):
                out[attr] = getattr(dev, attr)
        port = next((p for p in dev.ports.values() if p.netdev == netdev), None)
        if port is not None:
            for attr in ("state", "link_layer", "rate_text"):
                if getattr(port, attr):
                    out[attr.replace("_text", "")] = str(getattr(port, attr))
            if port.port in dev.roce_tos:
                out["roce_tos"] = str(dev.roce_tos[port.port])
        if dev.traffic_class:
            out["traffic_class"] = "; ".join(f"{i}: {t}" for i, t in sorted(dev.traffic_class.items()))
    return out


def fact_fingerprint(facts, rails: Mapping[str, str] | None = None) -> dict[str, str]:
    """Flatten one node's NodeFacts into comparable ``{key: value}`` strings.

    NICs are keyed by position among RDMA netdevs in PCI order (``nic3.fw_ver``), the same
    order a profile's ``position:`` selector uses; ``rails`` (rail name -> netdev) adds
    ``rail.<name>.mtu``. Works on facts built from a live node or from a snapshot.
    """
    from ..checks.context import rdma_netdevs_in_pci_order

    s = facts.system
    fp: dict[str, str] = {}
    for key, val in (("kernel", s.kernel), ("os", s.os_name), ("product", s.product), ("bios", s.bios_version),
                     ("collector", s.collector_version), ("ofed", _ofed(facts)),
                     ("netns_mode", facts.rdma.netns_mode),
                     ("tcp_ecn", None if facts.net.tcp_ecn is None else str(facts.net.tcp_ecn))):
        if val:
            fp[key] = val
    for name, mod in sorted((s.modules or {}).items()):
        if name.startswith(TRACKED_MODULE_PREFIXES):
            fp[f"module.{name}"] = mod.version or "loaded"
    fw: dict[str, set[str]] = defaultdict(set)
    for dev in facts.rdma.devices.values():
        if dev.hca_type and dev.fw_ver and not _is_vf_device(facts, dev):
            fw[dev.hca_type].add(dev.fw_ver)
    for hca, versions in sorted(fw.items()):
        fp[f"fw[{hca}]"] = ",".join(sorted(versions))
    for pos, netdev in enumerate(rdma_netdevs_in_pci_order(facts), start=1):
        for k, v in _nic_facts(facts, netdev).items():
            fp[f"nic{pos}.{k}"] = v
    for rail, netdev in sorted((rails or {}).items()):
        link = facts.net.links.get(netdev) if netdev else None
        fp[f"rail.{rail}.mtu"] = str(link.mtu) if link else ABSENT
    return fp


def rails_from_doc(doc: Mapping) -> dict[str, dict[str, str]]:
    """node -> {rail: netdev} as the run bound them (from rail-scope records)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for r in doc.get("results", []):
        if r.get("rail") and r.get("netdev"):
            out[r["node"]][r["rail"]] = r["netdev"]
    return dict(out)


# -- fleet drift -------------------------------------------------------------------------------

NIC_LABELS = {
    "fw_ver": "firmware", "hca_type": "HCA type", "board_id": "board id", "driver": "driver",
    "mtu": "MTU", "link": "link", "state": "port state", "rate": "port rate", "link_layer": "link layer",
    "sriov_numvfs": "SR-IOV VFs", "cnp_dscp": "CNP DSCP", "roce_tos": "rdma_cm ToS",
    "traffic_class": "traffic_class", "device": "RDMA device", "netdev": "netdev",
    "rp_filter": "rp_filter", "arp_ignore": "arp_ignore", "arp_announce": "arp_announce",
}


@dataclass
class FactDrift:
    profile: str
    key: str
    label: str                          # human: "ECN NP priority 5 on nic4 (mlx5_3/ens4f0np0)"
    total: int                          # nodes of the profile with facts
    majority: str | None                # value held by more than half, None when split
    majority_count: int
    values: dict[str, list[str]]        # value -> nodes (sorted), majority included
    also: tuple[str, ...] = ()          # further keys (other NICs) that differ the same way

    @property
    def deviants(self) -> list[str]:
        return sorted(n for v, ns in self.values.items() if v != self.majority for n in ns)

    def describe(self) -> str:
        """One line: what differs, on how many nodes, against which majority."""
        if self.majority is None:
            split = ", ".join(f"{v} on {len(ns)}" for v, ns in _by_size(self.values))
            return f"{self.label}: no majority ({split}) among {self.total} nodes [{self.profile}]"
        others = ", ".join(f"{v} on {len(ns)} of {self.total} nodes" for v, ns in _by_size(self.values)
                           if v != self.majority)
        return f"{self.label}: {others}; majority {self.majority} ({self.majority_count}) [{self.profile}]"

    def to_json(self) -> dict:
        """Without the (long) majority node list: counts, deviating values and their nodes."""
        return {"profile": self.profile, "key": self.key, "also": list(self.also), "label": self.label,
                "total": self.total,
                "majority": self.majority, "majority_count": self.majority_count,
                "deviating": {v: ns for v, ns in _by_size(self.values) if v != self.majority},
                "text": self.describe()}


def _by_size(values: Mapping[str, list[str]]) -> list[tuple[str, list[str]]]:
    return sorted(values.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _majority(counts: Counter) -> str | None:
    value, n = counts.most_common(1)[0]
    return value if 2 * n > sum(counts.values()) else None


NIC_KEY = re.compile(r"^(nic\d+)\.(.+)$")


def nic_attr_label(attr: str) -> str:
    """``ecn_np.p5`` -> ``ECN NP priority 5``; ``fw_ver`` -> ``firmware``."""
    if attr.startswith(("ecn_np.p", "ecn_rp.p")):
        kind, prio = attr.split(".p", 1)
        return f"ECN {kind[4:].upper()} priority {prio}"
    return NIC_LABELS.get(attr, attr)


def key_label(key: str, nic_names: Mapping[str, str]) -> str:
    """``nic4.ecn_np.p5`` -> ``ECN NP priority 5 on nic4 (mlx5_3/ens4f0np0)``."""
    if key.startswith("module."):
        return f"module {key[7:]} version"
    if key.startswith("fw[") and key.endswith("]"):
        return f"firmware of HCA type {key[3:-1]}"
    if key.startswith("rail.") and key.endswith(".mtu"):
        return f"MTU on {key[5:-4]}"
    m = NIC_KEY.match(key)
    if m:
        nic, attr = m.groups()
        return f"{nic_attr_label(attr)} on {nic} ({nic_names[nic]})" if nic in nic_names else \
            f"{nic_attr_label(attr)} on {nic}"
    return {"ofed": "OFED version", "os": "OS", "bios": "BIOS version", "netns_mode": "RDMA netns mode",
            "collector": "collector version"}.get(key, key)


def _nic_names(prints: list[Mapping[str, str]]) -> dict[str, str]:
    """nicN -> "device/netdev" as most nodes of the group name it (for labels)."""
    out = {}
    nics = {k.split(".", 1)[0] for fp in prints for k in fp if k.startswith("nic") and "." in k}
    for nic in nics:
        dev = Counter(fp.get(f"{nic}.device", "?") for fp in prints).most_common(1)[0][0]
        nd = Counter(fp.get(f"{nic}.netdev", "?") for fp in prints).most_common(1)[0][0]
        out[nic] = f"{dev}/{nd}"
    return out


def fleet_drift(fingerprints: Mapping[str, Mapping[str, str]], profiles: Mapping[str, str | None]
                ) -> list[FactDrift]:
    """Per profile, every fingerprint key whose value is not the same on all its nodes.

    ``profiles``: node -> profile name (nodes without one form the group ``-``). A node that
    lacks a key the others have counts as value ``(absent)``. Most deviating nodes first.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for node in fingerprints:
        groups[profiles.get(node) or "-"].append(node)
    found: list[FactDrift] = []
    for profile, nodes in sorted(groups.items()):
        if len(nodes) < 2:
            continue
        prints = [fingerprints[n] for n in nodes]
        names = _nic_names(prints)
        group: list[FactDrift] = []
        for key in sorted({k for fp in prints for k in fp}):
            values: dict[str, list[str]] = defaultdict(list)
            for n, fp in zip(nodes, prints):
                values[fp.get(key, ABSENT)].append(n)
            if len(values) < 2:
                continue
            counts = Counter({v: len(ns) for v, ns in values.items()})
            maj = _majority(counts)
            group.append(FactDrift(profile, key, key_label(key, names), len(nodes), maj,
                                   counts[maj] if maj else 0, {v: sorted(ns) for v, ns in values.items()}))
        found += merge_nics(group)
    found.sort(key=lambda d: (-len(d.deviants), d.profile, d.key))
    return found


def merge_nics(items: list[FactDrift]) -> list[FactDrift]:
    """One finding for NIC keys that differ the same way (same attribute, majority, deviating
    nodes and values) on several NICs: "firmware on 8 NICs (nic1, ..., nic8)"."""
    out: list[FactDrift] = []
    same: dict[tuple, list[FactDrift]] = defaultdict(list)
    for d in items:
        m = NIC_KEY.match(d.key)
        if m is None:
            out.append(d)
            continue
        sig = (m.group(2), d.majority, tuple(sorted((v, tuple(ns)) for v, ns in d.values.items() if v != d.majority)))
        same[sig].append(d)
    for (attr, _, _), ds in same.items():
        if len(ds) == 1:
            out.append(ds[0])
            continue
        ds.sort(key=lambda d: int(NIC_KEY.match(d.key).group(1)[3:]))
        nics = ", ".join(NIC_KEY.match(d.key).group(1) for d in ds)
        first = ds[0]
        out.append(FactDrift(first.profile, first.key, f"{nic_attr_label(attr)} on {len(ds)} NICs ({nics})",
                             first.total, first.majority, first.majority_count, first.values,
                             tuple(d.key for d in ds[1:])))
    return out


def fingerprints_of(facts_by_node: Mapping[str, object], doc: Mapping | None = None) -> dict[str, dict[str, str]]:
    """Fingerprints from NodeFacts (or ready fingerprints), rails taken from ``doc``."""
    rails = rails_from_doc(doc) if doc else {}
    out = {}
    for node, f in facts_by_node.items():
        if f is None:
            continue
        out[node] = dict(f) if isinstance(f, Mapping) else fact_fingerprint(f, rails.get(node))
    return out
