"""GPUDirect RDMA checks (ids gpu.*). Each line binds a registered check to a pytest test;
the logic lives in rdma_preflight/checks/gpu.py (pure over facts)."""

from rdma_preflight.harness.binding import bind

test_peermem = bind("gpu.peermem")
test_gdrcopy = bind("gpu.gdrcopy")
test_nic_affinity = bind("gpu.nic_affinity")
