"""A small scheduler: node selector, node affinity, taints, pod anti-affinity and resource fit."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from typing import Any, Iterable, Mapping

from .selectors import labels_match, node_selector_term_matches, structured_selector

Obj = dict[str, Any]
HOSTNAME_LABEL = "kubernetes.io/hostname"

_SUFFIXES = {
    "": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(value: Any) -> Fraction:
    """Kubernetes quantity (`500m`, `2Gi`, `100`) as an exact number; garbage is 0."""
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return Fraction(0)
    return Fraction(m.group(1)) * _SUFFIXES[m.group(2) or ""]


def pod_requests(pod: Mapping[str, Any]) -> Counter[str]:
    """Summed container requests; a limit without a request counts as the request."""
    total: Counter[str] = Counter()
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, qty in wanted.items():
            total[name] += parse_quantity(qty)
    return total


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _affinity_ok(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(node_selector_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def _anti_affinity_ok(pod: Obj, node_name: str, peers: list[Obj]) -> bool:
    """Required pod anti-affinity on kubernetes.io/hostname against pods already on the node."""
    spec = pod.get("spec") or {}
    terms = (((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")) or []
    namespace = pod["metadata"].get("namespace")
    for term in terms:
        if term.get("topologyKey") != HOSTNAME_LABEL:
            continue
        reqs = structured_selector(term.get("labelSelector"))
        namespaces = term.get("namespaces") or [namespace]
        for peer in peers:
            pmeta = peer["metadata"]
            if pmeta.get("namespace") in namespaces and labels_match(reqs, pmeta.get("labels")):
                return False
    return True


def _misfit(pod: Obj, node: Obj, peers: list[Obj]) -> list[str]:
    """Why `pod` cannot go to `node` (empty when it can)."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return ["node(s) were unschedulable"]
    if not _affinity_ok(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
    if not _anti_affinity_ok(pod, node["metadata"]["name"], peers):
        return ["node(s) didn't match pod anti-affinity rules"]
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    used: Counter[str] = Counter()
    for peer in peers:
        used.update(pod_requests(peer))
    reasons = [
        f"Insufficient {name}"
        for name, qty in sorted(pod_requests(pod).items())
        if qty > 0 and used[name] + qty > parse_quantity(allocatable.get(name, 0))
    ]
    if "pods" in allocatable and len(peers) + 1 > parse_quantity(allocatable["pods"]):
        reasons.append("Too many pods")
    return reasons


def place(pod: Obj, nodes: list[Obj], pods_by_node: Mapping[str, list[Obj]]) -> tuple[str | None, str]:
    """Pick the least loaded feasible node, or explain like the scheduler why none fits."""
    feasible: list[tuple[int, str]] = []
    reasons: Counter[str] = Counter()
    for node in nodes:
        name = node["metadata"]["name"]
        peers = pods_by_node.get(name, [])
        misfit = _misfit(pod, node, peers)
        if misfit:
            reasons.update(misfit)
        else:
            feasible.append((len(peers), name))
    if feasible:
        return min(feasible)[1], ""
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    message = f"0/{len(nodes)} nodes are available: {detail}." if detail else f"0/{len(nodes)} nodes are available."
    return None, message
