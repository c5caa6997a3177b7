"""Host network checks (ids net.*). Each line binds a registered check to a pytest test;
the logic lives in rdma_preflight/checks/net.py (pure over facts)."""

from rdma_preflight.harness.binding import bind

test_rail_count = bind("net.rail_count")
