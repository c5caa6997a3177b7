"""Label and field selectors: the string forms of list queries and the structured forms in specs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import bad_request

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")

# Fields each resource can be selected on (besides metadata.name / metadata.namespace).
FIELD_LABELS: dict[str, frozenset[str]] = {
    "pods": frozenset({
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    }),
    "nodes": frozenset({"spec.unschedulable"}),
    "events": frozenset({"involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "reason", "type"}),
}


@dataclass(frozen=True)
class Requirement:
    """One term: key plus operator (=, !=, in, notin, exists, !, gt, lt) plus values."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt") and present:
            try:
                number, bound = int(str(value)), int(self.values[0])
            except ValueError:
                return False
            return number > bound if self.op == "gt" else number < bound
        return False


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h` into requirements (400 when malformed)."""
    reqs: list[Requirement] = []
    for term in _split_terms(text or ""):
        if m := _SET_RE.match(term):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(term):
            reqs.append(Requirement(m.group(1), "=" if m.group(2) == "==" else m.group(2), (m.group(3),)))
        elif m := _EXISTS_RE.match(term):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise bad_request(f'unable to parse requirement: found \'{term.strip()}\', expected: identifier or in/notin')
    return reqs


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!", "Gt": "gt", "Lt": "lt"}


def expression_requirements(expressions: list[dict[str, Any]] | None) -> list[Requirement]:
    """matchExpressions (In/NotIn/Exists/DoesNotExist/Gt/Lt) as requirements."""
    return [
        Requirement(e.get("key", ""), _EXPR_OPS.get(e.get("operator", ""), "invalid"), tuple(e.get("values") or ()))
        for e in expressions or []
    ]


def structured_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """A LabelSelector object (matchLabels + matchExpressions) as requirements."""
    selector = selector or {}
    reqs = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    return reqs + expression_requirements(selector.get("matchExpressions"))


def labels_match(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field, as field selectors compare it."""
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def parse_field_selector(text: str | None, plural: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for `spec.nodeName=n,metadata.name!=x` (400 for unsupported fields)."""
    allowed = FIELD_LABELS.get(plural, frozenset()) | {"metadata.name", "metadata.namespace"}
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(text or ""):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        if m.group(1) not in allowed:
            raise bad_request(f'field label not supported: {m.group(1)}')
        terms.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return lambda obj: all((field_value(obj, f) == v) == eq for f, eq, v in terms)


def node_selector_term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A nodeSelectorTerm; an empty term matches no node, like the scheduler."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    meta = node.get("metadata") or {}
    field_labels = {"metadata.name": meta.get("name", "")}
    return labels_match(expression_requirements(exprs), meta.get("labels")) and labels_match(
        expression_requirements(fields), field_labels
    )
