"""Host network checks (ids net.*). Each line binds a registered check to a pytest test;
the logic lives in rdma_preflight/checks/net.py (pure over facts). Order matters under
--remediate apply: a rail is brought up before its routes are re-checked."""

from rdma_preflight.harness.binding import bind

test_rail_count = bind("net.rail_count")
test_rail_up = bind("net.rail_up")
test_mtu = bind("net.mtu")
test_address = bind("net.address")
test_policy_rule = bind("net.policy_rule")
test_policy_table = bind("net.policy_table")
test_rdma_rule = bind("net.rdma_rule")
test_rdma_subnet_route = bind("net.rdma_subnet_route")
test_rail_default_in_main = bind("net.rail_default_in_main")
test_persistence = bind("net.persistence")
test_arp_rpfilter = bind("net.arp_rpfilter")
test_ipoib_mode = bind("net.ipoib_mode")
