"""Copy-pasteable fixes for k8s.* findings, pure text: kubectl patches and manifests.

Plan only: nothing here talks to the API server. Every command is complete (namespace, kind,
name, patch body) so it can be pasted as printed; JSON bodies are single-quoted for a POSIX
shell, manifests go through a quoted heredoc (no expansion).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

SMC = "spidermultusconfigs.spiderpool.spidernet.io"
IPPOOL = "spiderippools.spiderpool.spidernet.io"
POLICY = "sriovnetworknodepolicies.sriovnetwork.openshift.io"
POOLCONFIG = "sriovnetworkpoolconfigs.sriovnetwork.openshift.io"
NODESTATE = "sriovnetworknodestates.sriovnetwork.openshift.io"


def _sq(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _ns(namespace: str | None) -> str:
    return f"-n {namespace} " if namespace else ""


def merge_patch(kind: str, name: str, namespace: str | None, body: dict[str, Any]) -> str:
    return f"kubectl {_ns(namespace)}patch {kind} {name} --type=merge -p {_sq(json.dumps(body, separators=(',', ':')))}"


def json_patch(kind: str, name: str, namespace: str | None, ops: list[dict[str, Any]]) -> str:
    return f"kubectl {_ns(namespace)}patch {kind} {name} --type=json -p {_sq(json.dumps(ops, separators=(',', ':')))}"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a ConfigMap's config.json) as literal blocks."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _str)


def apply(obj: dict[str, Any]) -> str:
    return "kubectl apply -f - <<'EOF'\n" + yaml.dump(obj, Dumper=_Dumper, sort_keys=False).rstrip() + "\nEOF"


def nested(path: str, value: Any) -> dict[str, Any]:
    """``nested("spec.macvlan.master", [x])`` -> ``{"spec": {"macvlan": {"master": [x]}}}``."""
    out: Any = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two patch bodies (b wins)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def pointer(path: str) -> str:
    """``spec.sriov.enableRdma`` -> ``/spec/sriov/enableRdma`` (JSON pointer)."""
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path.split("."))


def helm_set(*values: str, namespace: str = "spiderpool") -> str:
    sets = " ".join(f"--set {v}" for v in values)
    return f"helm upgrade spiderpool spiderpool/spiderpool -n {namespace} --reuse-values {sets}"


def restart_pod(namespace: str, pod: str) -> str:
    return f"kubectl -n {namespace} delete pod {pod}"


def restart_on_node(namespace: str, label: str, node: str) -> str:
    return f"kubectl -n {namespace} delete pod -l {label} --field-selector spec.nodeName={node}"
