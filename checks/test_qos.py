"""Lossless RoCE checks (ids qos.*). Each line binds a registered check to a pytest test;
the logic lives in rdma_preflight/checks/qos.py (pure over facts)."""

from rdma_preflight.harness.binding import bind

test_trust = bind("qos.trust")
test_pfc = bind("qos.pfc")
test_ecn = bind("qos.ecn")
test_cnp_dscp = bind("qos.cnp_dscp")
test_roce_tos = bind("qos.roce_tos")
test_traffic_class = bind("qos.traffic_class")
test_tcp_ecn = bind("qos.tcp_ecn")
test_discards = bind("qos.discards")
test_persistence = bind("qos.persistence")
