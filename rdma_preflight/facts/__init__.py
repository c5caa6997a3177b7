"""Facts: typed, decoded evidence about one node (gathered once, then read by pure checks)."""

from .build import FactsError, build_facts
from .model import NodeFacts

__all__ = ["FactsError", "NodeFacts", "build_facts"]
