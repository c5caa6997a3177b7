"""The check registry: stable ids, metadata for the catalogue, and the pure evaluators.

A check is a pure function ``fn(ctx) -> Result`` (node scope) or ``fn(ctx, rail) -> Result``
(rail scope) over facts. ``applies(profile)`` returns None when the check applies, or the
reason it does not (the item is then skipped with that reason).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Literal

AREAS = ("net", "rdma", "ib", "qos", "gpu", "pcie", "k8s", "bw")
Scope = Literal["node", "rail"]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    area: str
    scope: Scope
    fn: Callable
    designs: str = "all"                 # human text for the catalogue
    applies: Callable | None = None      # profile -> None | reason
    remediation: str = ""                # "" | "apply" | "plan-only"
    severity: str = "fail"               # what a finding is: fail | warn
    doc: str = ""

    @property
    def test_name(self) -> str:
        return "test_" + self.id.split(".", 1)[1]

    def not_applicable(self, profile) -> str | None:
        return self.applies(profile) if self.applies else None


REGISTRY: dict[str, CheckSpec] = {}


def check(id: str, title: str, *, scope: Scope = "rail", designs: str = "all",
          applies: Callable | None = None, remediation: str = "", severity: str = "fail"):
    area = id.split(".", 1)[0]
    if area not in AREAS:
        raise ValueError(f"check id {id!r}: area must be one of {AREAS}")

    def deco(fn: Callable) -> Callable:
        if id in REGISTRY and REGISTRY[id].fn is not fn:
            raise ValueError(f"duplicate check id {id}")
        REGISTRY[id] = CheckSpec(id=id, title=title, area=area, scope=scope, fn=fn, designs=designs,
                                 applies=applies, remediation=remediation, severity=severity,
                                 doc=(fn.__doc__ or "").strip())
        return fn
    return deco


def load_all() -> dict[str, CheckSpec]:
    """Import every module of rdma_preflight.checks so all checks register."""
    import rdma_preflight.checks as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_") and mod.name not in ("registry", "result", "context", "catalogue"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return REGISTRY


# Common applicability predicates -----------------------------------------------------------

def roce_only(profile) -> str | None:
    return None if profile.is_roce else "RoCE only: the profile's fabric is InfiniBand"


def ib_only(profile) -> str | None:
    return None if profile.is_ib else "InfiniBand only: the profile's fabric is RoCE"


def sriov_only(profile) -> str | None:
    return None if profile.design.scheme == "sriov" else "SR-IOV designs only"
