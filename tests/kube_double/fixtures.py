"""pytest fixtures around KubeDouble; load with `pytest_plugins = ["tests.kube_double.fixtures"]`."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Iterator

import pytest
from kubernetes import client as k8s

from .double import KubeDouble
from .netns import add_netns_sync, delete_netns_sync, netns_supported

NODE_NAMES = ("node-1", "node-2", "node-3")


@pytest.fixture
def kube_double() -> Iterator[KubeDouble]:
    """A started double with nodes node-1..node-3; no netns, so exec runs on this host."""
    with KubeDouble(nodes=NODE_NAMES, pod_netns=False) as double:
        yield double


@pytest.fixture
def kube_api_client(kube_double: KubeDouble) -> Iterator[k8s.ApiClient]:
    """A real `kubernetes.client.ApiClient` talking to `kube_double`."""
    api = kube_double.api_client()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def kube_config_file(kube_double: KubeDouble, tmp_path: Path) -> Path:
    """A kubeconfig file for `kube_double` (for `config.load_kube_config(config_file=...)`)."""
    return kube_double.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def node_netns() -> Iterator[dict[str, str]]:
    """One fresh network namespace per node name (node -> netns), deleted afterwards."""
    if not netns_supported():
        pytest.skip("needs root and iproute2 for network namespaces")
    tag = secrets.token_hex(3)
    mapping = {node: f"kdn-{tag}-{node}" for node in NODE_NAMES}
    created: list[str] = []
    try:
        for name in mapping.values():
            add_netns_sync(name)
            created.append(name)
        yield mapping
    finally:
        for name in created:
            delete_netns_sync(name)


@pytest.fixture
def netns_kube_double(node_netns: dict[str, str]) -> Iterator[KubeDouble]:
    """Like `kube_double`, but each node is backed by its own netns and every pod gets one."""
    with KubeDouble(nodes=NODE_NAMES, node_netns=node_netns, pod_netns=True) as double:
        yield double
