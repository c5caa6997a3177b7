"""Address plans of the two designs (pure; no namespaces needed)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from tests.lab.addressing import PER_NODE, SHARED, mgmt_address, plan_rails, spare_address
from tests.lab.hosts import Lab


def test_shared_subnet_plan() -> None:
    rails = plan_rails(SHARED, 1, 8, quirks=False)
    assert [r.ifname for r in rails] == [f"ens{r}f0np0" for r in range(1, 9)]
    assert rails[2].address == IPv4Interface("172.16.3.11/24")
    assert rails[2].gateway == IPv4Address("172.16.3.1")
    assert rails[2].subnet == IPv4Network("172.16.3.0/24")
    assert [r.table for r in rails] == list(range(151, 159))


def test_per_node_subnet_plan() -> None:
    rails = plan_rails(PER_NODE, 3, 4, quirks=False)
    assert rails[0].table is None
    assert rails[1].address == IPv4Interface("172.16.2.66/27")
    assert rails[1].gateway == IPv4Address("172.16.2.65")
    assert rails[1].subnet == IPv4Network("172.16.2.64/27")
    assert rails[1].pool == IPv4Network("172.16.2.0/24")
    assert [r.table for r in rails] == [None, 152, 153, 154]


def test_quirk_tables_start_at_151_over_policy_rails() -> None:
    assert [r.table for r in plan_rails(PER_NODE, 1, 4, quirks=True)] == [None, 151, 152, 153]
    assert [r.table for r in plan_rails(SHARED, 1, 3, quirks=True)] == [151, 152, 153]
    assert [r.table for r in plan_rails(SHARED, 1, 3, quirks=False, table_base=200)] == [201, 202, 203]


def test_mgmt_and_spare_addresses() -> None:
    assert mgmt_address(4) == IPv4Interface("192.0.2.14/24")
    shared = plan_rails(SHARED, 2, 1, quirks=False)[0]
    per_node = plan_rails(PER_NODE, 2, 1, quirks=False)[0]
    assert spare_address(SHARED, shared, 2) == IPv4Interface("172.16.1.253/24")
    assert spare_address(PER_NODE, per_node, 2) == IPv4Interface("172.16.1.62/27")


@pytest.mark.parametrize(
    ("design", "index"), [(PER_NODE, 0), (PER_NODE, 9), (SHARED, 101), ("bogus", 1)]
)
def test_bad_index_or_design_rejected(design: str, index: int) -> None:
    with pytest.raises(ValueError):
        plan_rails(design, index, 2, quirks=False)  # type: ignore[arg-type]


def test_add_node_validates_before_creating_anything() -> None:
    lab = Lab(prefix="rpfl-never-created")
    with pytest.raises(ValueError, match="node name"):
        lab.add_node("Bad_Name", 1, SHARED)
    with pytest.raises(ValueError, match="rails"):
        lab.add_node("node1", 1, SHARED, rails=17)
    assert lab.namespaces == []
