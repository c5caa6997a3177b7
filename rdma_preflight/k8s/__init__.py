"""Kubernetes-side facts for the k8s.* checks, read once per run through the official client.

* facts.py     ClusterFacts: nodes, component workloads and pods, the shared device plugin
               ConfigMap and the Spiderpool / SR-IOV custom resources, as plain data.
* gather.py    the read-only API calls that fill ClusterFacts (the only I/O here).
* harness.py   ``attach_cluster_facts(state)``: gather once, set ``ctx.cluster`` on every node.
* selectors.py label selectors, the RDMA shared device plugin's device selectors, SR-IOV
               policy NIC selectors (pure).
* ipam.py      SpiderIPPool reading: strict subnet, ranges, free addresses, routes (pure).
* multus.py    SpiderMultusConfig reading, including the fields the docs show but the
               v2beta1 CRD does not accept (pure).
* binding.py   which resource, SpiderMultusConfig and IPPools serve a rail on a node (pure).
* fixes.py     copy-pasteable kubectl patches and manifests for findings (plan only).

``rdma_preflight.kube`` (a different package) renders the manifests that run the collector.
"""
