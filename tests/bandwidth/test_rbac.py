"""deploy/rbac-bandwidth.yaml grants every API call a bandwidth run makes, and nothing broad."""

from __future__ import annotations

from pathlib import Path

import yaml

from rdma_preflight.bandwidth import cleanup
from rdma_preflight.bandwidth.pods import list_nodes, run_kubernetes
from rdma_preflight.bandwidth.runner import RunConfig
from tests.bandwidth.conftest import NAMESPACE, make_profile

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac-bandwidth.yaml"


def granted() -> dict[tuple[str, str], set[str]]:
    """(scope, resource) -> verbs; scope is the Role's namespace or "cluster"."""
    out: dict[tuple[str, str], set[str]] = {}
    for doc in yaml.safe_load_all(RBAC.read_text()):
        if doc["kind"] in ("Role", "ClusterRole"):
            scope = doc["metadata"].get("namespace", "cluster")
            for rule in doc["rules"]:
                assert rule["apiGroups"] == [""]
                for res in rule["resources"]:
                    out.setdefault((scope, res), set()).update(rule["verbs"])
    return out


def test_every_call_of_a_run_is_granted_and_nothing_more(bw_lab_factory):
    lab = bw_lab_factory(["node-1", "node-2", "node-3"], 2)
    profile = make_profile(2)
    api = lab.api_client()
    lab.double.clear_calls()
    nodes = list_nodes(api, profile.kubernetes.node_selector)
    run_kubernetes(api, profile, nodes, config=RunConfig.from_profile(profile, listen_wait=2, connect_slack=2))
    cleanup(api, NAMESPACE)
    api.close()
    used = set()
    for call in lab.double.calls:
        scope = call.namespace or "cluster"
        resource = call.resource + (f"/{call.subresource}" if call.subresource else "")
        used.add((scope, resource, "create" if call.verb == "exec" else call.verb))
    expected = {(NAMESPACE, "pods", v) for v in ("create", "list", "watch", "delete")} | {
        (NAMESPACE, "pods/exec", "create"), ("cluster", "nodes", "list")}
    assert used <= expected and expected - used <= {(NAMESPACE, "pods", "watch")}   # no watch if Ready at once
    rules = granted()
    missing = [u for u in used if u[2] not in rules.get((u[0], u[1]), set())]
    assert missing == []
    assert set(rules) == {(NAMESPACE, "pods"), (NAMESPACE, "pods/exec"), (NAMESPACE, "pods/log"), ("cluster", "nodes")}
    assert rules[("cluster", "nodes")] == {"get", "list"}
    assert all("*" not in verbs for verbs in rules.values())
