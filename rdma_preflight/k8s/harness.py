"""The harness hook: gather ClusterFacts once per run and hand them to every node's checks.

``attach_cluster_facts(state)`` is meant to be called at the end of ``RunState.gather()``. When
the run has a cluster (``--kubeconfig`` given, or any ``kube://`` node), it reads the API once
(rdma_preflight/k8s/gather.py) and sets ``ctx.cluster`` on every NodeContext; otherwise it sets
``ctx.cluster = None`` and the k8s.* checks skip with a reason. It never raises: an unreadable
kubeconfig or API server becomes ``ClusterFacts.error``, which the checks report as errors.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from .facts import ClusterFacts
from .gather import Query, gather_cluster


def wants_cluster(state: Any) -> bool:
    return bool(state.opts.kubeconfig) or any(st.spec.target.scheme == "kube" for st in state.nodes.values())


def queries(state: Any) -> list[Query]:
    """One query per distinct ``kubernetes`` section among the nodes' profiles."""
    out: list[Query] = []
    for st in state.nodes.values():
        if st.profile is None:
            continue
        ks, scheme = st.profile.kubernetes, st.profile.design.scheme
        q = Query(ks.spiderpool_namespace, ks.sriov_namespace or ks.spiderpool_namespace, ks.shared_device_plugin,
                  macvlan=scheme == "macvlan", sriov=scheme == "sriov")
        if q not in out:
            out.append(q)
    return out or [Query()]


def api_client(kubeconfig: str | None) -> k8s.ApiClient:
    """The kubeconfig given, else the default one, else the in-cluster service account."""
    if kubeconfig:
        return k8s_config.new_client_from_config(config_file=kubeconfig)
    try:
        return k8s_config.new_client_from_config()
    except k8s_config.ConfigException:
        cfg = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=cfg)
        return k8s.ApiClient(cfg)


def _timeouts(state: Any):
    from ..timeouts import DEFAULTS

    return getattr(getattr(state, "opts", None), "timeouts", None) or DEFAULTS


def aliases(state: Any) -> dict[str, str]:
    """Preflight node name -> Node name, where the target says (``kube://NODE``)."""
    return {name: st.spec.target.value for name, st in state.nodes.items() if st.spec.target.scheme == "kube"}


def attach_cluster_facts(state: Any, client: k8s.ApiClient | None = None) -> ClusterFacts | None:
    """Gather once, set ``ctx.cluster`` on every node context; returns the facts (or None)."""
    contexts = [st.ctx for st in state.nodes.values() if st.ctx is not None]
    if not wants_cluster(state):
        for ctx in contexts:
            ctx.cluster = None
        return None
    own = client is None
    try:
        client = client or api_client(state.opts.kubeconfig)
    except Exception as exc:  # noqa: BLE001 - any loader failure is reported by the checks
        facts = ClusterFacts(error=f"the kubeconfig could not be loaded: {type(exc).__name__}: {exc}")
    else:
        try:
            facts = gather_cluster(client, queries(state), _timeouts(state))
        finally:
            if own:
                client.close()
    facts.aliases = aliases(state)
    for ctx in contexts:
        ctx.cluster = facts
    note = (f"cluster facts: {facts.error}" if facts.error else
            f"cluster facts: {len(facts.nodes)} Node(s) from {facts.server} in {facts.calls} API call(s)"
            + (f"; unreadable: {'; '.join(facts.unavailable.values())}" if facts.unavailable else ""))
    if hasattr(state, "notes"):
        state.notes.append(note)
    return facts
