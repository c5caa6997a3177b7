"""Make the double's fixtures available to the tests in this directory."""

from __future__ import annotations

from .fixtures import kube_api_client, kube_config_file, kube_double, netns_kube_double, node_netns

__all__ = ["kube_api_client", "kube_config_file", "kube_double", "netns_kube_double", "node_netns"]
