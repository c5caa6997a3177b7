"""In-memory object store with resource versions, watch history and live watchers.

All methods run on the double's event-loop thread, so no locking is needed.
"""

from __future__ import annotations

import asyncio
import copy
import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from .errors import ApiError, already_exists, not_found
from .resources import ResourceType

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


@dataclass(frozen=True)
class StoreEvent:
    """A change: ADDED/MODIFIED/DELETED with the object before and after."""

    type: str
    rv: int
    rtype: ResourceType
    old: Obj | None
    new: Obj


@dataclass(eq=False)
class Watcher:
    """A live watch: receives (type, object) pairs already filtered for its selectors."""

    rtype: ResourceType
    namespace: str | None
    match: Predicate
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def _sees(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        return (self.namespace is None or meta(obj).get("namespace") == self.namespace) and self.match(obj)

    def offer(self, event: StoreEvent) -> None:
        """Translate an event into what this watcher sees (objects leaving the selector are DELETED)."""
        if event.rtype.key != self.rtype.key:
            return
        if event.type == "ADDED":
            kind = "ADDED" if self._sees(event.new) else None
        elif event.type == "DELETED":
            kind = "DELETED" if self._sees(event.old) else None
        else:
            seen = (self._sees(event.old), self._sees(event.new))
            kind = {(True, True): "MODIFIED", (False, True): "ADDED", (True, False): "DELETED"}.get(seen)
        if kind:
            self.queue.put_nowait((kind, copy.deepcopy(event.new)))


class Store:
    """Objects by resource type, then (namespace, name)."""

    def __init__(self, history: int = 10000) -> None:
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._rv = 1
        self._history: deque[StoreEvent] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        self.listeners: list[Callable[[StoreEvent], None]] = []
        self.closed = False

    @property
    def resource_version(self) -> int:
        return self._rv

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(rtype.key, {})

    def _emit(self, event: StoreEvent) -> None:
        self._history.append(event)
        for watcher in list(self._watchers):
            watcher.offer(event)
        for listener in list(self.listeners):
            listener(event)

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    # -- reads ---------------------------------------------------------------

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (callers must not mutate it)."""
        return self._bucket(rtype).get((namespace or "", name))

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        found = self.find(rtype, namespace, name)
        if found is None:
            raise not_found(rtype, name)
        return copy.deepcopy(found)

    def list(self, rtype: ResourceType, namespace: str | None = None, match: Predicate | None = None) -> list[Obj]:
        items = sorted(self._bucket(rtype).items())
        return [
            copy.deepcopy(obj)
            for (ns, _), obj in items
            if (namespace is None or ns == namespace) and (match is None or match(obj))
        ]

    # -- writes --------------------------------------------------------------

    def create(self, rtype: ResourceType, obj: Obj, namespace: str | None) -> Obj:
        """Stamp uid/resourceVersion/creationTimestamp (and a generated name) and store."""
        obj = copy.deepcopy(obj)
        md = meta(obj)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(random.choice(_NAME_CHARS) for _ in range(5))
        key = (namespace or "", md["name"])
        bucket = self._bucket(rtype)
        if key in bucket:
            raise already_exists(rtype, md["name"])
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        if rtype.namespaced:
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        md.update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=str(self._next_rv()))
        if "spec" in obj:
            md["generation"] = 1
        bucket[key] = obj
        self._emit(StoreEvent("ADDED", self._rv, rtype, None, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def replace(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Store a new version of an existing object, keeping its identity fields."""
        md = meta(obj)
        key = (md.get("namespace") or "", md.get("name", ""))
        old = self._bucket(rtype).get(key)
        if old is None:
            raise not_found(rtype, key[1])
        obj = copy.deepcopy(obj)
        new_md = meta(obj)
        for frozen in ("uid", "creationTimestamp", "name", "namespace"):
            if frozen in old["metadata"]:
                new_md[frozen] = old["metadata"][frozen]
        obj["apiVersion"], obj["kind"] = old["apiVersion"], old["kind"]
        if "spec" in obj and obj.get("spec") != old.get("spec"):
            new_md["generation"] = int(old["metadata"].get("generation", 0)) + 1
        new_md["resourceVersion"] = str(self._next_rv())
        self._bucket(rtype)[key] = obj
        self._emit(StoreEvent("MODIFIED", self._rv, rtype, copy.deepcopy(old), copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def mutate(self, rtype: ResourceType, namespace: str | None, name: str, change: Callable[[Obj], None]) -> Obj:
        """Apply `change` to a copy of the object and store it."""
        obj = self.get(rtype, namespace, name)
        change(obj)
        return self.replace(rtype, obj)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        key = (namespace or "", name)
        old = self._bucket(rtype).pop(key, None)
        if old is None:
            raise not_found(rtype, name)
        gone = copy.deepcopy(old)
        meta(gone)["resourceVersion"] = str(self._next_rv())
        self._emit(StoreEvent("DELETED", self._rv, rtype, copy.deepcopy(old), copy.deepcopy(gone)))
        return gone

    def drop_type(self, rtype: ResourceType) -> None:
        """Forget every object of a resource type (its CRD went away)."""
        for ns, name in list(self._bucket(rtype)):
            self.delete(rtype, ns or None, name)

    def delete_namespace_contents(self, namespace: str, rtypes: Iterable[ResourceType]) -> None:
        for rtype in rtypes:
            if rtype.namespaced:
                for ns, name in list(self._bucket(rtype)):
                    if ns == namespace:
                        self.delete(rtype, ns, name)

    # -- watch ---------------------------------------------------------------

    def watch(self, rtype: ResourceType, namespace: str | None, match: Predicate, since: str | None) -> Watcher:
        """Start a watcher; replay history after `since`, or synthesize ADDED for the current state."""
        watcher = Watcher(rtype, namespace, match)
        if since in (None, "", "0"):
            for obj in self.list(rtype, namespace, match):
                watcher.queue.put_nowait(("ADDED", obj))
        else:
            try:
                start = int(since)
            except ValueError:
                raise ApiError(400, f"invalid resource version: {since}") from None
            full = len(self._history) == self._history.maxlen
            floor = self._history[0].rv - 1 if full else 0
            if start < floor:
                raise ApiError(410, f"too old resource version: {start} ({floor})", "Expired")
            for event in self._history:
                if event.rv > start:
                    watcher.offer(event)
        if self.closed:
            watcher.queue.put_nowait(None)
        else:
            self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        """End every watch stream, now and for watches started later."""
        self.closed = True
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)
        self._watchers.clear()
