"""Optional, off by default: write each node's verdict back onto its Kubernetes Node.

Per node of a results document, one PATCH (strategic merge) of ``metadata``:

* label ``rdma-preflight.io/verdict``: ``pass`` | ``warn`` | ``fail`` | ``error``
  (usable in nodeSelectors/affinity: schedule RDMA jobs only on ``pass``/``warn`` nodes)
* annotation ``rdma-preflight.io/checked-at``: the run's finish time (ISO 8601)
* annotation ``rdma-preflight.io/failing``: the failing check ids, comma separated
  (annotations, because label values are limited to 63 characters)

RBAC it needs (``render_manifests(..., write_labels=True)`` renders it for the runner):
a ClusterRole with ``apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"]`` and
a ClusterRoleBinding to the identity that runs this. Nothing else is read or written.
Nodes of the document that are not Kubernetes nodes (e.g. ssh targets named differently)
get "not found" in the result and the others go on.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping

PREFIX = "rdma-preflight.io"
VERDICT_LABEL = f"{PREFIX}/verdict"
MAX_ANNOTATION = 4096


def verdicts(doc: Mapping) -> dict[str, tuple[str, list[str]]]:
    """node -> (verdict, failing check ids) from a results document."""
    from ..reports.fleet import FAILING, node_verdict

    counts: dict[str, Counter] = {}
    failing: dict[str, list[str]] = {}
    for r in doc.get("results", []):
        counts.setdefault(r["node"], Counter())[r["outcome"]] += 1
        if r["outcome"] in FAILING and r["check"] not in failing.setdefault(r["node"], []):
            failing[r["node"]].append(r["check"])
    return {n["name"]: (node_verdict(n.get("status"), counts.get(n["name"], Counter())), failing.get(n["name"], []))
            for n in doc.get("nodes", [])}


def label_patch(verdict: str, failing: list[str], checked_at: str | None) -> dict:
    """The strategic-merge patch body for one node."""
    text = ",".join(failing)
    if len(text) > MAX_ANNOTATION:
        text = text[: MAX_ANNOTATION - 1] + "…"
    return {"metadata": {"labels": {VERDICT_LABEL: verdict},
                         "annotations": {f"{PREFIX}/checked-at": checked_at or "", f"{PREFIX}/failing": text}}}


def apply_verdict_labels(doc: Mapping, api=None, dry_run: bool = False) -> dict[str, str]:
    """Patch every node of ``doc``; returns node -> "labelled <verdict>" or why not.

    ``api``: a ``kubernetes.client.CoreV1Api`` (default: from kubeconfig / in-cluster).
    ``dry_run``: server-side dry run (``dryRun=All``), nothing is persisted.
    """
    from kubernetes.client.rest import ApiException

    if api is None:
        api = _default_api()
    checked_at = doc.get("run", {}).get("finished")
    out: dict[str, str] = {}
    for node, (verdict, failing) in verdicts(doc).items():
        kwargs = {"dry_run": "All"} if dry_run else {}
        try:
            api.patch_node(node, label_patch(verdict, failing, checked_at), **kwargs)
            out[node] = f"labelled {verdict}"
        except ApiException as exc:
            out[node] = "not a Kubernetes node (404)" if exc.status == 404 else f"error {exc.status}: {exc.reason}"
    return out


def _default_api():
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CoreV1Api()
