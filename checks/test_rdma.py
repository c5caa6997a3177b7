"""RDMA device and driver checks (ids rdma.*). Each line binds a registered check to a pytest
test; the logic lives in rdma_preflight/checks/rdma.py (pure over facts)."""

from rdma_preflight.harness.binding import bind

test_driver = bind("rdma.driver")
test_stack_version = bind("rdma.stack_version")
test_rail_device = bind("rdma.rail_device")
test_port_state = bind("rdma.port_state")
test_rate = bind("rdma.rate")
test_link_layer = bind("rdma.link_layer")
test_netns_mode = bind("rdma.netns_mode")
test_netns_mode_persistent = bind("rdma.netns_mode_persistent")
test_roce_gid = bind("rdma.roce_gid")
test_active_mtu = bind("rdma.active_mtu")
test_sriov_vfs = bind("rdma.sriov_vfs")
