"""Planners: ``@remedy("net.mtu")`` functions turning a failed result into actions."""

from __future__ import annotations

import importlib
from typing import Callable

REMEDIES: dict[str, Callable] = {}
PLANNER_MODULES = ("rdma_preflight.remediation.net", "rdma_preflight.remediation.rdma", "rdma_preflight.remediation.qos")


def remedy(check_id: str):
    def deco(fn: Callable) -> Callable:
        REMEDIES[check_id] = fn
        return fn
    return deco


def load_all() -> dict[str, Callable]:
    for mod in PLANNER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return REMEDIES
