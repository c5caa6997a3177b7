"""The API semantics independent of HTTP: CRUD with defaults, validation and side effects."""

from __future__ import annotations

import copy
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any, Callable, Iterable

from .errors import ApiError, bad_request, conflict, success_status
from .patch import apply_patch
from .pods import NODES, PODS, PodLifecycle
from .resources import BUILTIN_GROUPS, CRD_RESOURCE, DEFAULT_CRDS, Registry, ResourceType, builtin, crd_object, rtype_from_crd
from .settings import Settings
from .store import Obj, Store, meta, now
from .validation import validate

NAMESPACES = builtin("namespaces")
Predicate = Callable[[Obj], bool]


def _pod_defaults(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("enableServiceLinks", True)
    for container in spec.get("containers") or []:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("imagePullPolicy", "Always" if str(container.get("image", "")).endswith(":latest") else "IfNotPresent")
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    qos = "BestEffort" if not any(r.get("requests") or r.get("limits") for r in resources) else "Burstable"
    pod["status"] = {"phase": "Pending", "qosClass": qos}


class Cluster:
    """Registry + store + pod lifecycle behind one set of API verbs."""

    def __init__(self, settings: Settings, executor: Executor, crds: Iterable[ResourceType] = DEFAULT_CRDS, auto_crds: bool = True) -> None:
        self.settings = settings
        self.registry = Registry(crds=(), auto_crds=auto_crds)
        self.store = Store()
        self.lifecycle = PodLifecycle(self.store, settings, executor)
        for crd in crds:
            self.install_crd(crd)

    # -- resource types -----------------------------------------------------

    def install_crd(self, rtype: ResourceType) -> None:
        self.registry.install(rtype)
        self._ensure_crd_object(rtype)

    def _ensure_crd_object(self, rtype: ResourceType) -> None:
        if self.store.find(CRD_RESOURCE, None, f"{rtype.plural}.{rtype.group}") is None:
            self.store.create(CRD_RESOURCE, crd_object(rtype), None)

    def uninstall_crd(self, group: str, plural: str) -> None:
        """Remove a custom resource type, its CRD object and all its objects."""
        rtype = self.registry.uninstall(group, plural)
        if rtype is not None:
            self.store.drop_type(rtype)
        name = f"{plural}.{group}"
        if self.store.find(CRD_RESOURCE, None, name) is not None:
            self.store.delete(CRD_RESOURCE, None, name)

    def resolve(self, group: str, version: str, plural: str, namespaced: bool) -> ResourceType | None:
        known = self.registry.lookup(group, version, plural)
        rtype = self.registry.resolve(group, version, plural, namespaced, None)
        if rtype is not None and known is None:
            self._ensure_crd_object(rtype)
        return rtype

    def adopt_kind(self, rtype: ResourceType, kind: str | None) -> ResourceType:
        """A type registered on first use takes the Kind of its first object."""
        if not kind or kind == rtype.kind or rtype.key not in self.registry.guessed:
            return rtype
        adopted = replace(rtype, kind=kind)
        self.registry.install(adopted)
        self.store.mutate(CRD_RESOURCE, None, f"{rtype.plural}.{rtype.group}", lambda o: o.update(crd_object(adopted)))
        return adopted

    # -- reads ----------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        return self.store.get(rtype, namespace, name)

    def list(self, rtype: ResourceType, namespace: str | None, match: Predicate | None = None) -> list[Obj]:
        return self.store.list(rtype, namespace, match)

    # -- writes -------------------------------------------------------------

    def _check_namespace(self, rtype: ResourceType, namespace: str | None, body: Obj) -> None:
        md = meta(body)
        if rtype.namespaced:
            if md.get("namespace") and md["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            if self.store.find(NAMESPACES, None, namespace or "") is None:
                raise ApiError(404, f'namespaces "{namespace}" not found', details={"name": namespace, "kind": "namespaces"})

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj, dry_run: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        body = copy.deepcopy(body)
        rtype = self.adopt_kind(rtype, body.get("kind"))
        self._check_namespace(rtype, namespace, body)
        validate(rtype, body)
        md = meta(body)
        for server_field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
            md.pop(server_field, None)
        declared = None
        if rtype.key == PODS.key:
            _pod_defaults(body)
        elif rtype.key == NAMESPACES.key:
            body["spec"] = {"finalizers": ["kubernetes"]}
            body["status"] = {"phase": "Active"}
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md.get("name", "")
        elif rtype.key == CRD_RESOURCE.key:
            declared = rtype_from_crd(body)
            if declared is None:
                raise ApiError(422, "CustomResourceDefinition is invalid: spec: Required value", "Invalid")
        if dry_run:
            return body
        created = self.store.create(rtype, body, namespace if rtype.namespaced else None)
        if declared is not None:
            self.registry.install(declared)
        return created

    def _merged(self, rtype: ResourceType, old: Obj, new: Obj, sub: str | None) -> Obj:
        """Apply status-subresource rules: /status changes only status, the main path never does."""
        if sub == "status":
            result = copy.deepcopy(old)
            result["status"] = copy.deepcopy(new.get("status"))
            return result
        if "status" in rtype.subresources or rtype.key == PODS.key:
            new = copy.deepcopy(new)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return new

    def _store_update(self, rtype: ResourceType, old: Obj, new: Obj, sub: str | None, dry_run: bool) -> Obj:
        if not isinstance(new, dict):
            raise bad_request("the body of the request must be a JSON object")
        merged = self._merged(rtype, old, new, sub)
        validate(rtype, merged)
        if dry_run:
            return merged
        return self.store.replace(rtype, merged)

    def update(self, rtype: ResourceType, namespace: str | None, name: str, body: Obj, sub: str | None = None, dry_run: bool = False) -> Obj:
        old = self.store.get(rtype, namespace, name)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        md = meta(body)
        if md.get("name") not in (None, name):
            raise bad_request("the name of the object does not match the name on the URL")
        if md.get("resourceVersion") and md["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict(rtype, name)
        md["name"] = name
        return self._store_update(rtype, old, body, sub, dry_run)

    def patch(self, rtype: ResourceType, namespace: str | None, name: str, content_type: str, body: Any, sub: str | None = None, dry_run: bool = False) -> Obj:
        old = self.store.get(rtype, namespace, name)
        patched = apply_patch(content_type, old, body, builtin=rtype.group in BUILTIN_GROUPS)
        want_rv = meta(patched).get("resourceVersion") if isinstance(patched, dict) else None
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype, name)
        return self._store_update(rtype, old, patched, sub, dry_run)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, dry_run: bool = False) -> Obj:
        """Delete now; the response is the object for pods and custom resources, else a Status."""
        obj = self.store.get(rtype, namespace, name)
        if dry_run:
            return obj
        if rtype.key == NAMESPACES.key:
            self.store.delete_namespace_contents(name, self.registry.all())
        gone = self.store.delete(rtype, namespace, name)
        if rtype.key == CRD_RESOURCE.key:
            declared = rtype_from_crd(gone)
            if declared is not None:
                self.uninstall_crd(declared.group, declared.plural)
        if rtype.key == PODS.key:
            meta(gone).update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
            return gone
        if rtype.key == NAMESPACES.key:
            gone["status"] = {"phase": "Terminating"}
            return gone
        if self.registry.is_custom(rtype):
            return gone
        details = {"name": name, "kind": rtype.plural, "uid": meta(gone).get("uid")}
        if rtype.group:
            details["group"] = rtype.group
        return success_status(details)

    def delete_collection(self, rtype: ResourceType, namespace: str | None, match: Predicate) -> list[Obj]:
        victims = self.store.list(rtype, namespace, match)
        for obj in victims:
            self.delete(rtype, meta(obj).get("namespace"), meta(obj)["name"])
        return victims

    # -- pods ---------------------------------------------------------------

    def pod_log(self, namespace: str, name: str, container: str | None) -> str:
        pod = self.store.get(PODS, namespace, name)
        names = [c.get("name") for c in pod["spec"].get("containers") or []]
        chosen = container or (names[0] if len(names) == 1 else "")
        if not chosen:
            raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
        if chosen not in names:
            raise bad_request(f"container {chosen} is not valid for pod {name}")
        return self.lifecycle.logs.get((namespace, name, chosen), "")

    def node_names(self) -> list[str]:
        return [meta(n)["name"] for n in self.store.list(NODES)]
