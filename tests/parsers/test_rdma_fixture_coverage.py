"""Every recorded output of the RDMA tools parses, and the copies match the shared originals."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.parsers.conftest import FIXTURES, fixture_names, fixture_text

SHARED = Path("/work/shared/fixtures/outputs")
TOOLS = ("rdma_system", "rdma_link", "ibstat", "ibstatus", "ibv_devinfo", "ibdev2netdev", "ofed_info",
         "lsmod", "mlxconfig")
# what each result holds, so "parses" also means "found something"
_CONTENT = {"rdma_system": lambda r: r.netns, "rdma_link": lambda r: r.links, "ibstat": lambda r: r.cas,
            "ibstatus": lambda r: r.ports, "ibv_devinfo": lambda r: r.names,
            "ibdev2netdev": lambda r: r.entries, "ofed_info": lambda r: r.version_tuple,
            "lsmod": lambda r: r.modules, "mlxconfig": lambda r: r.devices[0].params}
CASES = [(tool, name) for tool in TOOLS for name in fixture_names(tool)]


@pytest.mark.parametrize("tool, name", CASES)
def test_every_fixture_parses_to_something(tool, name):
    result = importlib.import_module(f"rdma_preflight.parsers.{tool}").parse(fixture_text(tool, name))
    assert _CONTENT[tool](result)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared reference material not mounted")
@pytest.mark.parametrize("tool", TOOLS)
def test_shared_fixtures_all_copied_byte_for_byte(tool):
    shared = sorted(p.name for p in (SHARED / tool).glob("*.txt"))
    assert set(shared) <= set(fixture_names(tool))
    for name in shared:
        assert (FIXTURES / tool / name).read_bytes() == (SHARED / tool / name).read_bytes()
