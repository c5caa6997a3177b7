"""pytest fixtures for real lab hosts; use ``pytest_plugins = ["tests.lab.fixtures"]``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from pyroute2 import netns

from tests.lab.addressing import PER_NODE, SHARED
from tests.lab.hosts import Lab, LabNode
from tests.lab.nsutil import cleanup_stale, default_prefix
from tests.lab.sshd import SshdLab, missing_tools


def lab_unsupported_reason() -> str | None:
    """Why real lab hosts cannot be built here, or None."""
    if os.geteuid() != 0:
        return "lab hosts need root (network namespaces, veth, bridges)"
    for tool in ("ip", "sysctl"):
        if shutil.which(tool) is None:
            return f"lab hosts need the {tool!r} command (iproute2/procps)"
    probe = f"{default_prefix()}-probe"
    try:
        netns.create(probe)
        netns.remove(probe)
    except OSError as exc:
        return f"network namespaces unsupported: {exc}"
    return None


@pytest.fixture(scope="session")
def lab_supported() -> None:
    """Skip unless namespaces work; removes leftovers of dead earlier runs once."""
    reason = lab_unsupported_reason()
    if reason:
        pytest.skip(reason)
    cleanup_stale()


@pytest.fixture
def lab(lab_supported: None) -> Iterator[Lab]:
    """An empty lab (fabric netns only), removed after the test."""
    with Lab() as built:
        yield built


@pytest.fixture
def lab_node_shared(lab: Lab) -> LabNode:
    """Solution 1 node ``node-shared`` (index 1, 8 rails, MTU 4200) in ``lab``."""
    return lab.add_node("node-shared", 1, SHARED)


@pytest.fixture
def lab_node_per_node(lab: Lab) -> LabNode:
    """Solution 2 node ``node-per-node`` (index 2, 8 rails, MTU 4200) in ``lab``."""
    return lab.add_node("node-per-node", 2, PER_NODE)


@pytest.fixture
def lab_node_quirks(lab: Lab) -> LabNode:
    """Solution 2 node ``node-quirks`` (index 3) built like the reference scripts."""
    return lab.add_node("node-quirks", 3, PER_NODE, quirks=True)


@pytest.fixture
def sshd_lab(lab: Lab) -> Iterator[SshdLab]:
    """ssh access to ``lab``'s nodes; call ``sshd_lab.start(node)`` per node."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"ssh lab needs {missing} (Debian: openssh-server, openssh-client, socat)")
    with SshdLab(lab) as ssh:
        yield ssh
