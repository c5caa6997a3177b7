"""Kubernetes manifests that run the collector on cluster nodes, for central evaluation.

``render_manifests(profile, nodes, image, namespace)`` returns plain dicts (``to_yaml`` makes
one multi-document YAML for ``kubectl apply -f``):

* Namespace labelled for Pod Security ``privileged`` (the collector needs the host).
* ServiceAccount ``rdma-preflight-collector``: no token mounted, no bindings at all.
* ServiceAccount ``rdma-preflight-runner`` with the least the runner needs: a Role in the
  namespace (jobs create/get/list/watch/delete, pods get/list/watch, pods/log get,
  configmaps get/create/update/delete, and daemonsets when that mode is used) and a
  ClusterRole to read nodes (get/list: names and labels for profile selection). With
  ``write_labels=True`` a second ClusterRole (nodes get/patch) for kube/labels.py.
* ConfigMap ``rdma-preflight-collector`` holding collect/collector.sh, and (given a profile)
  ConfigMap ``rdma-preflight-profile`` holding the resolved profile.
* One Job per node (``nodeName`` pinned, every taint tolerated), or with ``daemonset=True``
  one DaemonSet restricted to the nodes by ``matchFields metadata.name``.

The collector pod is privileged with hostNetwork and hostPID and runs
``nsenter --target 1 --mount --uts --ipc --net --pid`` so the script sees the host's
/sys, /proc and tools. The script text is read from the ConfigMap *before* nsenter (the
mount is not visible in the host's mount namespace) and passed as ``sh -c`` text with the
run's nonce. The stream goes to stdout, i.e. the pod log: the runner reads it back through
the API (``GET .../pods/<pod>/log``, like ``kubectl logs``; pods carry the label
``job-name=<job_name(node)>``, DaemonSet pods are found by ``spec.nodeName``) and decodes it
with ``collect.stream.decode_stream(log, nonce, node)``. The kubelet rotates container logs
at ``containerLogMaxSize`` (default 10Mi): a rotated stream lacks its ``end`` record and is
refused rather than used partially. DaemonSet pods sleep after collecting (restartPolicy
Always would otherwise run it again); delete the DaemonSet once the logs are read.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

import yaml

from ..collect.stream import collector_script, new_nonce
from ..timeouts import DEFAULTS

APP = "rdma-preflight"
PREFIX = "rdma-preflight.io"
COLLECTOR_SA = "rdma-preflight-collector"
RUNNER_SA = "rdma-preflight-runner"
SCRIPT_CM = "rdma-preflight-collector"
PROFILE_CM = "rdma-preflight-profile"
SCRIPT_DIR = "/opt/rdma-preflight"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# nsenter needs the script text before it switches mount namespace: "$(cat ...)" expands first.
COLLECT_SH = ('nsenter --target 1 --mount --uts --ipc --net --pid -- '
              f'sh -c "$(cat {SCRIPT_DIR}/collector.sh)" rdma-preflight-collector "$0" "$1"')


def _slug(text: str, limit: int) -> str:
    """A DNS-1123 label of at most ``limit`` chars; a hash suffix when the text had to change."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if s == text and len(s) <= limit and s:
        return s
    h = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:8]
    return f"{s[: limit - 9].rstrip('-') or 'x'}-{h}"


def job_name(node: str) -> str:
    """The collector Job (and its pods' ``job-name`` label) for a node."""
    return "rpf-collect-" + _slug(node, 63 - len("rpf-collect-"))


def node_label_value(node: str) -> str:
    """A node name as a label value (<= 63 chars, hashed when it does not fit)."""
    if len(node) <= 63 and LABEL_VALUE.match(node):
        return node
    return _slug(node, 63)


def _labels(component: str, **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": APP, **extra}


def _meta(name: str, namespace: str | None, component: str, **labels: str) -> dict:
    m: dict = {"name": name, "labels": _labels(component, **labels)}
    if namespace is not None:
        m["namespace"] = namespace
    return m


def rbac(namespace: str, daemonset: bool = False, write_labels: bool = False) -> list[dict]:
    """ServiceAccounts, Role/ClusterRoles and bindings: only what collector and runner use."""
    rules = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update", "delete"]},
    ]
    if daemonset:
        rules.append({"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["create", "get", "delete"]})
    subject = [{"kind": "ServiceAccount", "name": RUNNER_SA, "namespace": namespace}]
    out = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(COLLECTOR_SA, namespace, "collector"),
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(RUNNER_SA, namespace, "runner")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(RUNNER_SA, namespace, "runner"),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(RUNNER_SA, namespace, "runner"), "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNNER_SA}},
    ]
    cluster_roles = [(f"{RUNNER_SA}-nodes", ["get", "list"])]
    if write_labels:
        cluster_roles.append((f"{RUNNER_SA}-labels", ["get", "patch"]))
    for name, verbs in cluster_roles:
        out += [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": _meta(name, None, "runner"),
                 "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": verbs}]},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": _meta(name, None, "runner"), "subjects": subject,
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}}]
    return out


def collector_pod_spec(image: str, nonce: str, options: str, daemonset: bool) -> dict:
    """The privileged host-namespace pod that prints the collector stream to its log."""
    cmd = COLLECT_SH + ("; exec sleep infinity" if daemonset else "")
    return {
        "serviceAccountName": COLLECTOR_SA, "automountServiceAccountToken": False,
        "hostNetwork": True, "hostPID": True, "dnsPolicy": "ClusterFirstWithHostNet",
        "restartPolicy": "Always" if daemonset else "Never", "terminationGracePeriodSeconds": 5,
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": "collector", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", cmd, nonce, options],
            "securityContext": {"privileged": True, "runAsUser": 0},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "volumeMounts": [{"name": "collector", "mountPath": SCRIPT_DIR, "readOnly": True}],
        }],
        "volumes": [{"name": "collector", "configMap": {"name": SCRIPT_CM, "defaultMode": 0o444}}],
    }


def collector_job(node: str, image: str, namespace: str, nonce: str, options: str = "",
                  timeout: float = DEFAULTS.collect_job, ttl: int = 3600) -> dict:
    labels = {f"{PREFIX}/node": node_label_value(node)}
    spec = collector_pod_spec(image, nonce, options, daemonset=False)
    spec["nodeName"] = node
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": dict(_meta(job_name(node), namespace, "collector", **labels),
                         annotations={f"{PREFIX}/node": node}),
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": max(1, int(timeout)), "ttlSecondsAfterFinished": ttl,
                 "template": {"metadata": {"labels": _labels("collector", **labels),
                                           "annotations": {f"{PREFIX}/node": node}},
                              "spec": spec}},
    }


def collector_daemonset(nodes: list[str], image: str, namespace: str, nonce: str, options: str = "") -> dict:
    sel = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "collector"}
    spec = collector_pod_spec(image, nonce, options, daemonset=True)
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": list(nodes)}]}]}}}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta("rpf-collect", namespace, "collector"),
            "spec": {"selector": {"matchLabels": sel},
                     "template": {"metadata": {"labels": _labels("collector")}, "spec": spec}}}


def _profile_yaml(profile) -> tuple[str | None, str | None]:
    """(name, resolved YAML) of a Profile or None."""
    if profile is None:
        return None, None
    data = profile.model_dump(mode="json")
    return profile.name, yaml.safe_dump(data, sort_keys=False)


def render_manifests(profile, nodes: Iterable[str], image: str, namespace: str | None = None, *,
                     daemonset: bool = False, nonce: str | None = None, write_labels: bool = False,
                     collect_timeout: float = DEFAULTS.collect_job, ttl_seconds: int = 3600,
                     mlxconfig: bool = False) -> list[dict]:
    """Every object needed to collect ``nodes`` with ``image``, in apply order.

    ``profile``: a Profile, a profile file path, or None; ``namespace`` defaults to the
    profile's ``kubernetes.namespace`` (else ``rdma-preflight``)."""
    nodes = list(dict.fromkeys(nodes))
    if not nodes:
        raise ValueError("no nodes to collect")
    if isinstance(profile, str):
        from ..profile.loader import load_profile

        profile = load_profile(profile).profile
    namespace = namespace or (profile.kubernetes.namespace if profile is not None else "rdma-preflight")
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise ValueError(f"namespace {namespace!r} is not a DNS-1123 label")
    nonce = nonce or new_nonce()
    if not re.fullmatch(r"[A-Za-z0-9]+", nonce):
        raise ValueError("the nonce must be alphanumeric (the collector refuses anything else)")
    options = "mlxconfig" if mlxconfig else ""
    pname, ptext = _profile_yaml(profile)
    ns_labels = _labels("namespace", **{f"pod-security.kubernetes.io/{m}": "privileged"
                                        for m in ("enforce", "audit", "warn")})
    out: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": ns_labels}}]
    out += rbac(namespace, daemonset, write_labels)
    out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(SCRIPT_CM, namespace, "collector"),
                "data": {"collector.sh": collector_script()}})
    if ptext is not None:
        out.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": dict(_meta(PROFILE_CM, namespace, "runner"), annotations={f"{PREFIX}/profile": pname}),
                    "data": {"profile.yaml": ptext}})
    if daemonset:
        out.append(collector_daemonset(nodes, image, namespace, nonce, options))
    else:
        out += [collector_job(n, image, namespace, nonce, options, collect_timeout, ttl_seconds) for n in nodes]
    return out


def to_yaml(objects: list[dict]) -> str:
    """One multi-document YAML stream for ``kubectl apply -f -``."""
    return yaml.safe_dump_all(objects, sort_keys=False)
