"""PCIe checks for GPUDirect (ids pcie.*). Each line binds a registered check to a pytest
test; the logic lives in rdma_preflight/checks/pcie.py (pure over facts)."""

from rdma_preflight.harness.binding import bind

test_acs = bind("pcie.acs")
test_iommu = bind("pcie.iommu")
