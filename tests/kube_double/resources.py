"""Resource types the double serves, and the discovery documents built from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives and what it is called."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """Resource name as the API server spells it in messages (`daemonsets.apps`)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def describe(self) -> list[dict[str, Any]]:
        """APIResource entries for this resource and its subresources."""
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        subs = [
            {
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": _SUB_KINDS.get(sub, self.kind),
                "verbs": list(_SUB_VERBS.get(sub, ("get", "patch", "update"))),
            }
            for sub in self.subresources
        ]
        return [main, *subs]


_SUB_KINDS = {"exec": "PodExecOptions", "log": "Pod"}
_SUB_VERBS = {"exec": ("create", "get"), "log": ("get",)}


def _core(plural: str, kind: str, namespaced: bool = True, *subs: str, short: tuple[str, ...] = ()) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, subs, short)


def _grouped(group: str, plural: str, kind: str, namespaced: bool = True, *subs: str) -> ResourceType:
    return ResourceType(group, "v1", plural, kind, namespaced, subs)


BUILTIN: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", False, "status", short=("ns",)),
    _core("nodes", "Node", False, "status", short=("no",)),
    _core("pods", "Pod", True, "status", "exec", "log", short=("po",)),
    _core("configmaps", "ConfigMap", short=("cm",)),
    _core("secrets", "Secret"),
    _core("services", "Service", True, "status", short=("svc",)),
    _core("endpoints", "Endpoints", short=("ep",)),
    _core("serviceaccounts", "ServiceAccount", short=("sa",)),
    _core("events", "Event", short=("ev",)),
    _grouped("apps", "daemonsets", "DaemonSet", True, "status"),
    _grouped("apps", "deployments", "Deployment", True, "status"),
    _grouped("apps", "replicasets", "ReplicaSet", True, "status"),
    _grouped("apps", "statefulsets", "StatefulSet", True, "status"),
    _grouped("batch", "jobs", "Job", True, "status"),
    _grouped("rbac.authorization.k8s.io", "roles", "Role"),
    _grouped("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    _grouped("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", False),
    _grouped("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", False),
    _grouped("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False, "status"),
)

_SPIDER = "spiderpool.spidernet.io"
_SRIOV = "sriovnetwork.openshift.io"

DEFAULT_CRDS: tuple[ResourceType, ...] = (
    ResourceType(_SPIDER, "v2beta1", "spidermultusconfigs", "SpiderMultusConfig", True),
    ResourceType(_SPIDER, "v2beta1", "spiderippools", "SpiderIPPool", False, ("status",)),
    ResourceType(_SPIDER, "v2beta1", "spidersubnets", "SpiderSubnet", False, ("status",)),
    ResourceType(_SPIDER, "v2beta1", "spidercoordinators", "SpiderCoordinator", False, ("status",)),
    ResourceType(_SRIOV, "v1", "sriovnetworknodestates", "SriovNetworkNodeState", True, ("status",)),
    ResourceType(_SRIOV, "v1", "sriovnetworknodepolicies", "SriovNetworkNodePolicy", True),
    ResourceType(_SRIOV, "v1", "sriovnetworkpoolconfigs", "SriovNetworkPoolConfig", True),
    ResourceType(_SRIOV, "v1", "sriovnetworks", "SriovNetwork", True, ("status",)),
    ResourceType(_SRIOV, "v1", "sriovibnetworks", "SriovIBNetwork", True, ("status",)),
    ResourceType(_SRIOV, "v1", "sriovoperatorconfigs", "SriovOperatorConfig", True, ("status",)),
    ResourceType("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "NetworkAttachmentDefinition", True),
)

CRD_RESOURCE = BUILTIN[-1]
BUILTIN_GROUPS = frozenset(r.group for r in BUILTIN)


def builtin(plural: str, group: str = "") -> ResourceType:
    """A built-in resource type by plural (and group)."""
    return next(r for r in BUILTIN if r.plural == plural and r.group == group)


def kind_from_plural(plural: str) -> str:
    """Guess a Kind from a plural (`sriovnetworknodepolicies` -> `Sriovnetworknodepolicy`)."""
    singular = re.sub(r"ies$", "y", plural) if plural.endswith("ies") else re.sub(r"s$", "", plural)
    return "".join(part.capitalize() for part in singular.split("-"))


class Registry:
    """Known resource types, built-in and custom; custom ones may be added on first use."""

    def __init__(self, crds: Iterable[ResourceType] = DEFAULT_CRDS, auto_crds: bool = True) -> None:
        self.auto_crds = auto_crds
        self._types: dict[tuple[str, str], ResourceType] = {r.key: r for r in BUILTIN}
        self._blocked: set[tuple[str, str]] = set()
        self.guessed: set[tuple[str, str]] = set()
        for crd in crds:
            self.install(crd)

    def install(self, rtype: ResourceType) -> ResourceType:
        self._blocked.discard(rtype.key)
        self.guessed.discard(rtype.key)
        self._types[rtype.key] = rtype
        return rtype

    def uninstall(self, group: str, plural: str) -> ResourceType | None:
        """Forget a custom resource; later requests for it get 404 even with auto_crds."""
        self._blocked.add((group, plural))
        return self._types.pop((group, plural), None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rtype = self._types.get((group, plural))
        if rtype is None or rtype.version != version:
            return None
        return rtype

    def resolve(self, group: str, version: str, plural: str, namespaced: bool, kind: str | None) -> ResourceType | None:
        """Look a resource up, registering an unknown custom resource when auto_crds allows."""
        found = self.lookup(group, version, plural)
        if found is not None or not group or group in BUILTIN_GROUPS:
            return found
        if not self.auto_crds or (group, plural) in self._blocked or (group, plural) in self._types:
            return None
        rtype = ResourceType(group, version, plural, kind or kind_from_plural(plural), namespaced)
        self._types[rtype.key] = rtype
        self.guessed.add(rtype.key)
        return rtype

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rtype in self._types.values():
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        return None

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def is_custom(self, rtype: ResourceType) -> bool:
        return rtype.group not in BUILTIN_GROUPS

    # -- discovery documents -------------------------------------------------

    def group_versions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rtype in self._types.values():
            if rtype.group:
                versions = out.setdefault(rtype.group, [])
                if rtype.version not in versions:
                    versions.append(rtype.version)
        return out

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(g) for g in sorted(self.group_versions())]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        members = [r for r in self._types.values() if r.group == group and r.version == version]
        if not members:
            return None
        group_version = f"{group}/{version}" if group else version
        resources = [entry for r in members for entry in r.describe()]
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def crd_object(rtype: ResourceType) -> dict[str, Any]:
    """A CustomResourceDefinition object describing a custom resource type."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{rtype.plural}.{rtype.group}"},
        "spec": {
            "group": rtype.group,
            "names": {"plural": rtype.plural, "kind": rtype.kind, "singular": rtype.kind.lower(), "listKind": rtype.list_kind},
            "scope": "Namespaced" if rtype.namespaced else "Cluster",
            "versions": [{"name": rtype.version, "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


def rtype_from_crd(obj: dict[str, Any]) -> ResourceType | None:
    """The resource type a CustomResourceDefinition object declares, if well formed."""
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]
    if not (spec.get("group") and names.get("plural") and names.get("kind") and versions):
        return None
    subs = ("status",) if any((v.get("subresources") or {}).get("status") is not None for v in spec["versions"]) else ()
    return ResourceType(spec["group"], str(versions[0]), names["plural"], names["kind"], spec.get("scope") != "Cluster", subs)
