"""Kubernetes-side conformance (ids k8s.*). Each line binds a registered check to a pytest
test; the logic lives in rdma_preflight/checks/k8s.py (pure over the cluster facts gathered
once per run by rdma_preflight/k8s, plus the node's host facts). Without --kubeconfig (or
kube:// nodes) every item skips with the reason."""

from rdma_preflight.harness.binding import bind

test_components = bind("k8s.components")
test_node_resources = bind("k8s.node_resources")
test_multus_config = bind("k8s.multus_config")
test_ippools = bind("k8s.ippools")
test_sriov_state = bind("k8s.sriov_state")
test_node_ip = bind("k8s.node_ip")
test_host_agreement = bind("k8s.host_agreement")
