"""Pure readers: device plugin selectors, SR-IOV policy NIC selection, label selectors, the
SpiderIPPool and SpiderMultusConfig readers on the Spiderpool docs' own manifests (verbatim from
SP:docs/usage/install/ai/get-started-*.md at a7fbd3b, as spec §5.4 cites them), fix quoting."""

from __future__ import annotations

import ipaddress
import json

import yaml

from rdma_preflight.k8s import fixes
from rdma_preflight.k8s.ipam import lenient_int, read_pool, strict_subnet
from rdma_preflight.k8s.multus import design_cni_type, read_smc
from rdma_preflight.k8s.selectors import (HostNic, label_selector_matches, parse_plugin_config, pf_name_and_range,
                                          policy_vfs_for)

CX5 = HostNic("enp11s0f0np0", "0000:0b:00.0", "15b3", "1017", "mlx5_core", "ether", rdma=True)
CX5_B = HostNic("enp11s0f1np1", "0000:0b:00.1", "15b3", "1017", "mlx5_core", "ether", rdma=True)
CX6 = HostNic("ens1f0np0", "0000:86:00.0", "15b3", "101d", "mlx5_core", "ether", rdma=True)
IGB = HostNic("eth0", "0000:e1:00.0", "8086", "1521", "igb", "ether", rdma=False)


def _plugin(entries):
    return parse_plugin_config(json.dumps({"periodicUpdateInterval": 300, "configList": entries}))


def test_plugin_selectors_or_within_and_across():
    cfg = _plugin([{"resourceName": "a", "rdmaHcaMax": 10, "selectors": {"vendors": ["15b3"], "deviceIDs": ["1017", "101d"]}},
                   {"resourceName": "b", "rdmaHcaMax": 10, "selectors": {"vendors": ["15b3"], "deviceIDs": ["1017"],
                                                                         "ifNames": ["enp11s0f1np1"]}},
                   {"resourceName": "c", "rdmaHcaMax": 10, "devices": ["ens1f0np0"]}])
    a, b, c = cfg.entries
    assert [a.selects(n) for n in (CX5, CX5_B, CX6, IGB)] == [True, True, True, False]   # OR within deviceIDs
    assert [b.selects(n) for n in (CX5, CX5_B, CX6)] == [False, True, False]            # AND across selectors
    assert c.selectors == {"ifNames": ("ens1f0np0",)} and c.selects(CX6)                  # devices == ifNames
    assert a.resource == "rdma/a"                                                          # default resourcePrefix
    assert [e.resource_name for e in cfg.selecting(CX5_B)] == ["a", "b"]


def test_plugin_config_problems():
    assert parse_plugin_config("{").problems[0].startswith("config.json is not valid JSON")
    assert parse_plugin_config(None).problems == ("the ConfigMap has no config.json key",)
    cfg = _plugin([{"resourceName": "x", "rdmaHcaMax": 1}, {"rdmaHcaMax": 1},
                   {"resourceName": "y", "rdmaHcaMax": 1, "selectors": {"ifName": ["eth1"]}}])
    assert cfg.problems == ("configList[0] (x) has neither selectors nor devices", "configList[1] has no resourceName",
                            "configList[2] (y): unknown selector(s) ifName are ignored",
                            "configList[2] (y) has neither selectors nor devices")


def test_policy_nic_selection():
    def pol(**sel):
        return {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "numVfs": 8, "nicSelector": sel}}
    labels = {"kubernetes.io/os": "linux"}
    assert policy_vfs_for(pol(pfNames=["enp11s0f0np0"]), CX5, labels) == 8
    assert policy_vfs_for(pol(pfNames=["enp11s0f0np0#0-3"]), CX5, labels) == 4
    assert policy_vfs_for(pol(pfNames=["enp11s0f1np1"]), CX5, labels) is None
    assert policy_vfs_for(pol(rootDevices=["0000:0b:00.0"], vendor="15b3"), CX5, labels) == 8
    assert policy_vfs_for(pol(vendor="15b3", deviceID="101d"), CX5, labels) is None
    assert policy_vfs_for(pol(pfNames=["enp11s0f0np0"]), CX5, {"kubernetes.io/os": "windows"}) is None
    assert pf_name_and_range("ens1f0#2-5") == ("ens1f0", (2, 5)) and pf_name_and_range("ens1f0") == ("ens1f0", None)


def test_label_selectors():
    labels = {"role": "gpu", "zone": "a"}
    assert label_selector_matches(None, labels) and label_selector_matches({}, labels)
    assert label_selector_matches({"matchLabels": {"role": "gpu"},
                                   "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                                        {"key": "spare", "operator": "DoesNotExist"}]}, labels)
    assert not label_selector_matches({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, labels)
    assert not label_selector_matches({"matchExpressions": [{"key": "rack", "operator": "Exists"}]}, labels)


# -- the docs' IPPools ---------------------------------------------------------------------------

DOCS_MACVLAN_POOL = """
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: gpu1-net11
spec:
  gateway: 172.16.11.254
  subnet: 172.16.11.0/16
  ips:
    - 172.16.11.1-172.16.11.200
"""  # get-started-macvlan.md#L65-L73

DOCS_RAIL1_POOL = """
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: eno3np1-rail1-node1
spec:
  ipVersion: ipv4
  subnet: 172.16.1.0/27
  gateway: 172.16.1.1
  ips:
    - 172.16.1.2-172.16.1.32
  routes:
    - to: 172.16.0.0/16
      via: 172.16.1.1
"""  # get-started-sriov-roce.md#L509-L525

DOCS_RAIL8_POOL = """
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: eno3np8-rail8-node1
spec:
  ipVersion: ipv4
  subnet: 172.16.1.224/27
  gateway: 172.16.1.225
  ips:
    - 172.16.1.226-172.16.1.256
"""  # get-started-sriov-roce.md#L601-L609


def test_docs_pools_are_refused_where_they_cannot_work():
    p = read_pool(yaml.safe_load(DOCS_MACVLAN_POOL))
    assert p.subnet is None and p.problems == (
        "subnet 172.16.11.0/16 is not a network address (host bits set; 172.16.11.0/16 lies in 172.16.0.0/16)",)
    assert p.size == 200
    p = read_pool(yaml.safe_load(DOCS_RAIL1_POOL))
    assert p.problems == ("ips '172.16.1.2-172.16.1.32' reaches outside subnet 172.16.1.0/27 (172.16.1.0-172.16.1.31)",
                          "routes[0] {to: 172.16.0.0/16, via: 172.16.1.1} is not the CRD's Route shape {dst, gw} "
                          "(the docs write to/via)",
                          "ipVersion 'ipv4' is not the CRD's 4 (the docs write ipv4)")
    p = read_pool(yaml.safe_load(DOCS_RAIL8_POOL))
    assert p.problems == ("ips '172.16.1.226-172.16.1.256': '172.16.1.256' is not an IPv4 address",
                          "ipVersion 'ipv4' is not the CRD's 4 (the docs write ipv4)")
    assert p.ranges == () and p.written == ((lenient_int("172.16.1.226"), lenient_int("172.16.2.0")),)


def test_pool_counts_and_free_block():
    pool = read_pool({"metadata": {"name": "p"}, "spec": {
        "subnet": "172.16.1.0/24", "gateway": "172.16.1.1", "ips": ["172.16.1.2-172.16.1.50", "172.16.1.60"],
        "excludeIPs": ["172.16.1.10-172.16.1.19"]}, "status": {"allocatedIPCount": 40}})
    assert pool.size == 49 + 1 - 10 and pool.total_count == 40 and pool.exhausted
    assert pool.free_block() == (ipaddress.IPv4Address("172.16.1.51"), ipaddress.IPv4Address("172.16.1.59"))
    assert strict_subnet("10.0.0.0/8")[2] == "" and strict_subnet("nonsense")[2] == "subnet 'nonsense' is not an IPv4 network"
    assert read_pool({"metadata": {"name": "q"}, "spec": {"subnet": "172.16.1.0/30", "ips": ["172.16.1.0-172.16.1.3"]}}
                     ).problems == ("ips '172.16.1.0-172.16.1.3' includes the network address 172.16.1.0 of 172.16.1.0/30",
                                    "ips '172.16.1.0-172.16.1.3' includes the broadcast address 172.16.1.3 of 172.16.1.0/30")


# -- the docs' SpiderMultusConfigs -------------------------------------------------------------------

DOCS_MACVLAN_SMC = """
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderMultusConfig
metadata:
  name: gpu1-macvlan
  namespace: spiderpool
spec:
  cniType: macvlan
  rdmaResourceName: spidernet.io/shared_cx5_gpu1
  macvlan:
    master: ["enp11s0f0np0"]
    ippools:
      ipv4: ["gpu1-net11"]
"""  # get-started-macvlan.md#L75-L86

DOCS_SRIOV_SMC = """
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderMultusConfig
metadata:
  name: sriov-eno3np2
  namespace: kube-system
spec:
  cniType: sriov
  sriov:
    resourceName: "spidernet.io/eno3np2"
    enableRdma: true
    mtu: 4200
    ippools:
      ipv4:
      - eno3np2-rail2*
    matchMasterSubnet: true
"""  # get-started-sriov-roce.md#L650-L666


def test_docs_smcs_have_fields_outside_the_crd():
    m = read_smc(yaml.safe_load(DOCS_MACVLAN_SMC))
    assert (m.cni_type, m.masters, m.rdma_resource, m.ipv4_pools) == ("macvlan", ("enp11s0f0np0",), None, ("gpu1-net11",))
    assert [(o.path, o.belongs) for o in m.off_schema] == [("spec.rdmaResourceName", "spec.macvlan.rdmaResourceName")]
    m = read_smc(yaml.safe_load(DOCS_SRIOV_SMC))
    assert (m.resource, m.rdma_isolation, m.isolation_explicit, m.match_master_subnet) == (
        "spidernet.io/eno3np2", False, False, False)
    assert [(o.path, o.belongs) for o in m.off_schema] == [
        ("spec.sriov.enableRdma", None), ("spec.sriov.matchMasterSubnet", "spec.sriov.ippools.matchMasterSubnet")]


def test_webhook_example_ippools_at_spec_level():
    """get-started-macvlan.md#L317-L330 (verbatim values) puts ippools at spec level, outside the schema."""
    m = read_smc({"metadata": {"name": "gpu1-sriov", "namespace": "spiderpool",
                               "annotations": {"cni.spidernet.io/rdma-resource-inject": "rdma-network"}},
                  "spec": {"cniType": "macvlan", "macvlan": {"master": ["enp11s0f0np0"],
                                                             "rdmaResourceName": "spidernet.io/gpu1rdma"},
                           "ippools": {"ipv4": ["gpu1-net11"]}}})
    assert m.ipv4_pools == ()
    assert [o.describe() for o in m.off_schema] == [
        'spec.ippools: {"ipv4": ["gpu1-net11"]} (stored object) is not in the v2beta1 CRD; it belongs at '
        "spec.macvlan.ippools; as written in the webhook example"]


def test_isolation_defaults_and_design_cni():
    ib = read_smc({"metadata": {"name": "x", "namespace": "ns"}, "spec": {"cniType": "ib-sriov", "ibsriov": {"resourceName": "r"}}})
    assert ib.rdma_isolation is True and ib.resource == "r" and ib.section_name == "ibsriov"
    assert [design_cni_type(f, s) for f, s in (("roce", "macvlan"), ("roce", "sriov"), ("infiniband", "sriov"))] == [
        "macvlan", "sriov", "ib-sriov"]


def test_fix_quoting_and_nesting():
    assert fixes.merge_patch("cm", "n", "ns", {"a": "it's"}) == """kubectl -n ns patch cm n --type=merge -p '{"a":"it'\\''s"}'"""
    assert fixes.merge(fixes.nested("spec.a.b", 1), fixes.nested("spec.a.c", None)) == {"spec": {"a": {"b": 1, "c": None}}}
    assert fixes.pointer("spec.sriov.enableRdma") == "/spec/sriov/enableRdma"
