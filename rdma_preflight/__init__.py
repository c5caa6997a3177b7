"""rdma-preflight: conformance and pre-flight checks for Spiderpool RDMA AI-cluster nodes.

The pipeline, one sub-package per stage:
profile (YAML) -> targets (how to reach a node) -> collect/facts (gathered once per node)
-> checks (pure over facts, run by pytest) -> remediation (plan, journal, apply, re-check)
-> reports.
"""

__version__ = "0.1.0"
