"""An in-process Kubernetes API server double for tests, driven by the real `kubernetes` client."""

from __future__ import annotations

from .calls import ApiCall, Fault
from .double import KubeDouble
from .resources import DEFAULT_CRDS, ResourceType
from .settings import ExecHandler, ExecResult, NetworkHook

__all__ = ["ApiCall", "DEFAULT_CRDS", "ExecHandler", "ExecResult", "Fault", "KubeDouble", "NetworkHook", "ResourceType"]
