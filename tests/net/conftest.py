"""Lab-host fixtures for the network tests (imported: pytest_plugins is only allowed in the
root conftest)."""

from __future__ import annotations

from tests.lab.fixtures import lab, lab_node_per_node, lab_node_quirks, lab_node_shared, lab_supported, sshd_lab

__all__ = ["lab", "lab_node_per_node", "lab_node_quirks", "lab_node_shared", "lab_supported", "sshd_lab"]
