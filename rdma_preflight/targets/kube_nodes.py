"""``kube://*?selector=LABELS``: the fleet is every Kubernetes Node the selector matches.

Expanded once, when the run resolves its nodes, with one paginated Node list (500 a page,
bounded by ``Timeouts.kube_connect``/``kube_list``). Each matching Node becomes
``kube://NAME``; its Kubernetes labels become the node's labels (the nodes file's own
labels win), so profile overrides keyed by label (``nodes: [{labels: {...}}]``) apply to
Nodes as Kubernetes labels them. A selector that matches nothing, or an API server that
cannot be read, is a usage error (exit 2): a gate must not pass on an empty fleet.
"""

from __future__ import annotations

from .base import NODE_NAME_RE
from .resolve import NodeSpec, NodesError, TargetSpec

PAGE = 500


def is_selector(spec: NodeSpec) -> bool:
    return spec.target.scheme == "kube" and spec.target.value == "*"


def list_node_labels(api_client, selector: str | None, timeouts) -> dict[str, dict[str, str]]:
    """Node name -> labels for every Node matching ``selector`` (None: all)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    out: dict[str, dict[str, str]] = {}
    token = None
    while True:
        kw = {"limit": PAGE, "_request_timeout": timeouts.kube_list_timeout()}
        if selector:
            kw["label_selector"] = selector
        if token:
            kw["_continue"] = token
        page = core.list_node(**kw)
        for n in page.items:
            out[n.metadata.name] = dict(n.metadata.labels or {})
        token = page.metadata._continue if page.metadata else None
        if not token:
            return out


def expand_selectors(specs: list[NodeSpec], kubeconfig: str | None, timeouts,
                     api_client=None) -> list[NodeSpec]:
    """Replace every ``kube://*`` spec by one ``kube://NAME`` spec per matching Node."""
    if not any(is_selector(s) for s in specs):
        return specs
    if api_client is None:
        from ..k8s.harness import api_client as make_client

        try:
            api_client = make_client(kubeconfig)
        except Exception as exc:  # noqa: BLE001 - any kubeconfig problem is the same usage error
            raise NodesError(f"kube://* needs the cluster: the kubeconfig could not be loaded: {exc}") from None
    out: list[NodeSpec] = []
    for spec in specs:
        if not is_selector(spec):
            out.append(spec)
            continue
        selector = spec.target.query.get("selector")
        shown = f"kube://*?selector={selector}" if selector else "kube://*"
        try:
            nodes = list_node_labels(api_client, selector, timeouts)
        except Exception as exc:  # noqa: BLE001 - ApiException, connection errors, timeouts
            status = getattr(exc, "status", None)
            why = f"{status} {getattr(exc, 'reason', '')}".strip() if status else f"{type(exc).__name__}: {exc}"
            raise NodesError(f"{shown}: listing Nodes failed: {why}") from None
        if not nodes:
            raise NodesError(f"{shown}: no Node matches; nothing to check")
        for name in sorted(nodes):
            if not NODE_NAME_RE.match(name):
                raise NodesError(f"{shown}: the API returned a Node name that is not valid: {name!r}")
            out.append(NodeSpec(name, TargetSpec("kube", name, {}), spec.profile,
                                {**nodes[name], **spec.labels}))
    return out
