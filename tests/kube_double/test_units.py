"""The double's building blocks, without HTTP."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from .errors import ApiError
from .patch import json_patch, merge_patch, strategic_merge
from .resources import ResourceType, builtin, kind_from_plural
from .scheduling import parse_quantity, place
from .selectors import labels_match, parse_label_selector
from .store import Store

PODS = builtin("pods")


def test_label_selector_grammar() -> None:
    reqs = parse_label_selector("a=1,b!=2,c in (x, y),d notin (z),e,!f")
    assert [(r.key, r.op, r.values) for r in reqs] == [
        ("a", "=", ("1",)), ("b", "!=", ("2",)), ("c", "in", ("x", "y")), ("d", "notin", ("z",)), ("e", "exists", ()), ("f", "!", ())]
    assert labels_match(reqs, {"a": "1", "c": "y", "e": ""}) is True
    assert labels_match(reqs, {"a": "1", "c": "y", "e": "", "f": "1"}) is False
    with pytest.raises(ApiError) as err:
        parse_label_selector("a in x")
    assert err.value.code == 400


def test_patch_flavours() -> None:
    node = {"metadata": {"labels": {"a": "1", "b": "2"}}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert merge_patch(node, {"metadata": {"labels": {"a": None, "c": "3"}}})["metadata"]["labels"] == {"b": "2", "c": "3"}
    merged = strategic_merge(node, {"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False"}]}})
    assert [c["type"] for c in merged["status"]["conditions"]] == ["Ready", "NetworkUnavailable"]
    replaced = merge_patch(node, {"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False"}]}})
    assert [c["type"] for c in replaced["status"]["conditions"]] == ["NetworkUnavailable"]
    patched = json_patch(node, [{"op": "add", "path": "/metadata/labels/x~1y", "value": "z"}, {"op": "remove", "path": "/metadata/labels/a"}])
    assert patched["metadata"]["labels"] == {"b": "2", "x/y": "z"}
    with pytest.raises(ApiError) as err:
        json_patch(node, [{"op": "test", "path": "/metadata/labels/a", "value": "9"}])
    assert err.value.code == 422


def test_quantities_and_names() -> None:
    assert parse_quantity("500m") == Fraction(1, 2)
    assert parse_quantity("2Gi") == 2 * 2**30
    assert parse_quantity("12") == 12
    assert kind_from_plural("sriovnetworknodepolicies") == "Sriovnetworknodepolicy"
    assert kind_from_plural("network-attachment-definitions") == "NetworkAttachmentDefinition"


def test_place_prefers_least_loaded_and_explains_taints() -> None:
    def node(name: str, taints: list[dict[str, str]] | None = None) -> dict:
        return {"metadata": {"name": name, "labels": {}}, "spec": {"taints": taints or []}, "status": {"allocatable": {"pods": "10"}}}

    pod = {"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "c"}]}}
    busy = {"metadata": {"name": "q", "namespace": "d"}, "spec": {}}
    assert place(pod, [node("a"), node("b")], {"a": [busy]}) == ("b", "")
    taint = {"key": "rdma", "value": "bad", "effect": "NoSchedule"}
    assert place(pod, [node("a", [taint])], {}) == (None, "0/1 nodes are available: 1 node(s) had untolerated taint {rdma: bad}.")
    pod["spec"]["tolerations"] = [{"key": "rdma", "operator": "Exists"}]
    assert place(pod, [node("a", [taint])], {}) == ("a", "")


def _pod(name: str, labels: dict[str, str]) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "spec": {}}


def test_watch_translates_selector_changes_and_expires_old_versions() -> None:
    async def scenario() -> tuple[list[tuple[str, str]], int]:
        store = Store(history=3)
        store.create(PODS, _pod("a", {"run": "1"}), "ns")
        watcher = store.watch(PODS, "ns", lambda o: o["metadata"]["labels"].get("run") == "1", None)
        store.mutate(PODS, "ns", "a", lambda o: o["metadata"]["labels"].update(run="2"))
        store.mutate(PODS, "ns", "a", lambda o: o["metadata"]["labels"].update(run="1"))
        store.delete(PODS, "ns", "a")
        seen = []
        while not watcher.queue.empty():
            item = watcher.queue.get_nowait()
            assert item is not None
            seen.append((item[0], item[1]["metadata"]["labels"]["run"]))
        with pytest.raises(ApiError) as err:
            store.watch(PODS, None, lambda o: True, "1")
        return seen, err.value.code

    seen, code = asyncio.run(scenario())
    assert seen == [("ADDED", "1"), ("DELETED", "2"), ("ADDED", "1"), ("DELETED", "1")]
    assert code == 410


def test_custom_type_scope_rules() -> None:
    crd = ResourceType("example.io", "v1", "widgets", "Widget", True)
    assert (crd.api_version, crd.qualified, crd.list_kind) == ("example.io/v1", "widgets.example.io", "WidgetList")
