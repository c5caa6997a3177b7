"""InfiniBand checks (ids ib.*). Each line binds a registered check to a pytest test; the logic
lives in rdma_preflight/checks/ib.py (pure over facts)."""

from rdma_preflight.harness.binding import bind

test_sm = bind("ib.sm")
test_ipoib = bind("ib.ipoib")
