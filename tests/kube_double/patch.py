"""The three PATCH flavours: JSON merge patch, strategic merge patch and JSON patch."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError

# List fields that strategic merge patches merge by a key instead of replacing.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
}

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Merge patch plus merge-by-key lists and `$patch: replace|delete` directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return copy.deepcopy(body)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in body.items():
        if key.startswith("$setElementOrder/") or key.startswith("$deleteFromPrimitiveList/"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        else:
            result[key] = strategic_merge(result.get(key), value)
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            merged.append(copy.deepcopy(item))
            continue
        index = next((i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(strategic_merge({}, item))
        else:
            merged[index] = strategic_merge(merged[index], item)
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f"json patch path must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    current = doc
    for part in parts[:-1]:
        try:
            current = current[int(part)] if isinstance(current, list) else current[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, f"json patch: doc is missing path: {path!r}") from None
    return current, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts, path)
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, f"json patch: doc is missing path: {path!r}") from None


def _remove(doc: Any, path: str) -> Any:
    value = _get(doc, path)
    parent, last = _parent(doc, _pointer(path), path)
    if isinstance(parent, list):
        parent.pop(int(last))
    else:
        del parent[last]
    return value


def _add(doc: Any, path: str, value: Any, replace: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    if replace:
        _get(doc, path)
    parent, last = _parent(doc, parts, path)
    value = copy.deepcopy(value)
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if replace:
            parent[index] = value
        elif 0 <= index <= len(parent):
            parent.insert(index, value)
        else:
            raise ApiError(422, f"json patch: index out of range in {path!r}")
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, f"json patch: doc is missing path: {path!r}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 operations: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise ApiError(400, "json patch body must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        if kind in ("add", "replace"):
            doc = _add(doc, path, op.get("value"), replace=kind == "replace")
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            value = _remove(doc, op.get("from", "")) if kind == "move" else copy.deepcopy(_get(doc, op.get("from", "")))
            doc = _add(doc, path, value, replace=False)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, f"json patch: test operation failed for path {path!r}")
        else:
            raise ApiError(422, f"json patch: unknown operation {kind!r}")
    return doc


def apply_patch(content_type: str, target: dict[str, Any], body: Any, builtin: bool) -> Any:
    """Dispatch on the PATCH Content-Type; strategic merge is refused for custom resources."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(target, body)
    if media == MERGE_PATCH:
        return merge_patch(target, body)
    if media == STRATEGIC_PATCH and builtin:
        return strategic_merge(target, body)
    raise ApiError(415, f"the body of the request was in an unknown format - accepted media types include: {JSON_PATCH}, {MERGE_PATCH}" + (f", {STRATEGIC_PATCH}" if builtin else ""))
