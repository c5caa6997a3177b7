"""Checks: pure evaluators over NodeFacts, registered with stable ids (see registry.py).

One module per area: net, rdma, ib, qos, gpu, pcie, k8s, bw. The pytest binding lives in
the top-level ``checks/`` folder; the catalogue is generated from this registry.
"""
