"""URL paths to resources and verbs, the way the API server lays them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .resources import Registry, ResourceType

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_NAMESPACE_SUBS = ("status", "finalize")


class PageNotFound(Exception):
    """The path names nothing: the server answers a plain-text 404."""


@dataclass(frozen=True)
class Route:
    """A resource path: type, namespace, object name and subresource."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None

    def verb(self, method: str, watch: bool) -> str:
        if self.sub in ("exec", "log"):
            return self.sub
        if self.name is None:
            return {"GET": "watch" if watch else "list", "POST": "create", "DELETE": "deletecollection"}.get(method, "")
        return {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")


def discovery(path: str, registry: Registry, server: str) -> dict[str, Any] | None:
    """Discovery documents (/version, /api, /apis, group and group/version lists)."""
    segs = [s for s in path.split("/") if s]
    if segs == ["version"]:
        return dict(VERSION_INFO)
    if segs == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]}
    if segs == ["api", "v1"]:
        return registry.resource_list("", "v1")
    if segs == ["apis"]:
        return registry.api_group_list()
    if len(segs) == 2 and segs[0] == "apis":
        return registry.api_group(segs[1])
    if len(segs) == 3 and segs[0] == "apis":
        return registry.resource_list(segs[1], segs[2])
    return None


def is_discovery(path: str) -> bool:
    segs = [s for s in path.split("/") if s]
    return segs == ["version"] or (segs[:1] == ["api"] and len(segs) <= 2) or (segs[:1] == ["apis"] and len(segs) <= 3)


Resolver = Callable[[str, str, str, bool], "ResourceType | None"]


def route(path: str, resolve: Resolver) -> Route:
    """Parse /api/v1/... or /apis/<group>/<version>/... (PageNotFound when it names nothing)."""
    segs = [s for s in path.split("/") if s]
    if segs[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", segs[2:]
    elif segs[:1] == ["apis"] and len(segs) >= 4:
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        raise PageNotFound(path)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBS:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise PageNotFound(path)
    rtype = resolve(group, version, rest[0], namespace is not None)
    if rtype is None or (namespace is not None and not rtype.namespaced):
        raise PageNotFound(path)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if (sub is not None and sub not in rtype.subresources) or (rtype.namespaced and namespace is None and name is not None):
        raise PageNotFound(path)
    return Route(rtype, namespace, name, sub)
