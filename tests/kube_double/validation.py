"""Create-time validation with the API server's field paths and messages (422 Invalid)."""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid
from .resources import ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_LABEL_KINDS = {"namespaces", "services"}

Cause = tuple[str, str, str]


def _name_causes(rtype: ResourceType, md: dict[str, Any]) -> list[Cause]:
    name = md.get("name") or ""
    if not name and not md.get("generateName"):
        return [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")]
    if not name:
        return []
    if rtype.plural in _DNS_LABEL_KINDS:
        if len(name) > 63 or not _LABEL.match(name):
            return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character')]
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character')]
    return []


def _label_causes(labels: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if len(name) > 63 or not _LABEL_NAME.match(name) or (prefix and not _SUBDOMAIN.match(prefix)):
            causes.append(("FieldValueInvalid", "metadata.labels", f'Invalid value: "{key}": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\''))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(("FieldValueInvalid", "metadata.labels", f'Invalid value: "{value}": a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\''))
    return causes


def _pod_causes(spec: dict[str, Any]) -> list[Cause]:
    containers = spec.get("containers") or []
    if not containers:
        return [("FieldValueRequired", "spec.containers", "Required value")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, container in enumerate(containers):
        name = container.get("name") or ""
        if not name:
            causes.append(("FieldValueRequired", f"spec.containers[{i}].name", "Required value"))
        elif name in seen:
            causes.append(("FieldValueDuplicate", f"spec.containers[{i}].name", f'Duplicate value: "{name}"'))
        seen.add(name)
        if not container.get("image"):
            causes.append(("FieldValueRequired", f"spec.containers[{i}].image", "Required value"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or deadline < 1):
        causes.append(("FieldValueInvalid", "spec.activeDeadlineSeconds", f"Invalid value: {deadline}: must be between 1 and 2147483647, inclusive"))
    return causes


def validate(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Raise 422 Invalid when `obj` would be rejected on create/update."""
    md = obj.get("metadata") or {}
    causes = _name_causes(rtype, md) + _label_causes(md.get("labels") or {})
    if rtype.plural == "pods" and not rtype.group:
        causes += _pod_causes(obj.get("spec") or {})
    if causes:
        raise invalid(rtype, md.get("name") or md.get("generateName") or "", causes)
