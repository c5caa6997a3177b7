"""k8s.* checks over synthetic clusters in the API double (read with the real client) and
synthetic hosts (SnapshotBuilder): a compliant cluster per design, then one changed object per
failure class that must fail exactly the expected check with an actionable, copy-pasteable fix
while every other check passes or skips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from rdma_preflight.checks.result import Outcome
from rdma_preflight.k8s.facts import CALICO_IPV4, LAST_APPLIED

from .cluster import Cluster, compliant, ippool
from .host import Host, design_profile
from .run import findings, node_results, text

DESIGNS = ("macvlan-shared", "sriov-shared", "sriov-per-node", "ib-sriov")


@pytest.mark.parametrize("design", DESIGNS)
def test_compliant_cluster_passes_every_check(design):
    facts = compliant(design).facts()
    assert facts.unavailable == {} and facts.error is None
    for node in ("node-1", "node-2"):
        results = node_results(facts, Host(node, design))
        assert findings(results) == {}
        outcomes = {k: r.outcome for k, r in results.items()}
        expected_skips = {("k8s.sriov_state", None)} if design == "macvlan-shared" else set()
        assert {k for k, o in outcomes.items() if o == Outcome.SKIP} == expected_skips
        assert len(results) == 4 + 3 * 2          # 4 node checks + 3 rail checks x 2 rails


def test_compliant_values_macvlan():
    results = node_results(compliant("macvlan-shared"), Host("node-1", "macvlan-shared"))
    assert results[("k8s.node_resources", None)].summary == (
        "spidernet.io/shared_cx5_rail1: 100; spidernet.io/shared_cx5_rail2: 100; nvidia.com/gpu: 2")
    assert results[("k8s.multus_config", "rail1")].summary == (
        "spiderpool/gpu1-macvlan (its resource is spidernet.io/shared_cx5_rail1)")
    assert results[("k8s.multus_config", "rail2")].found == (
        "spiderpool/gpu2-macvlan: cniType macvlan, master ['enp4s0f1np1'], rdmaResourceName "
        "spidernet.io/shared_cx5_rail2, ippools.ipv4 ['rail2-net']")
    assert results[("k8s.ippools", "rail2")].found == "rail2-net: subnet 172.16.2.0/24, gateway 172.16.2.1, ips [172.16.2.100-172.16.2.200]"
    assert results[("k8s.node_ip", None)].found == "InternalIP 10.0.0.11; projectcalico.org/IPv4Address 10.0.0.11/24"
    assert results[("k8s.host_agreement", "rail1")].summary == "172.16.1.11 lies in rail1-net"


def test_compliant_values_sriov_per_node():
    results = node_results(compliant("sriov-per-node"), Host("node-2", "sriov-per-node"))
    assert results[("k8s.ippools", "rail1")].summary == "enp4s0f0np0-rail1-node-2"
    assert results[("k8s.ippools", "rail1")].found == (
        "enp4s0f0np0-rail1-node-2: subnet 172.16.1.32/27, gateway 172.16.1.33, "
        "ips [172.16.1.34-172.16.1.41, 172.16.1.43-172.16.1.62]")
    assert results[("k8s.multus_config", "rail2")].summary == (
        "kube-system/sriov-enp4s0f1np1 (its resource is spidernet.io/enp4s0f1np1)")
    assert results[("k8s.host_agreement", "rail2")].summary == (
        "enp4s0f1np1: operator and host agree; 172.16.2.42 lies in enp4s0f1np1-rail2-node-2")
    assert results[("k8s.sriov_state", None)].summary == (
        "SriovNetworkNodeState node-2 Succeeded; rail1-nic-policy selects enp4s0f0np0; rail2-nic-policy selects "
        "enp4s0f1np1; no pool config contradicts exclusive mode")


# -- one failure class per case ---------------------------------------------------------------

@dataclass
class Case:
    name: str
    design: str
    change: Callable[[Cluster], Any]
    failing: set                       # {(check id, rail)}
    words: tuple[str, ...]             # must appear in summary / expected / found / fix
    host: dict | None = None           # Host field changes
    profile: dict | None = None        # design_profile changes
    outcome: Outcome = Outcome.FAIL


def _set(path: str | tuple[str, ...], value: Any) -> Callable[[Cluster], Any]:
    """``_set("smc/rail1:spec.macvlan.master", [...])`` (or a tuple of keys after the object's
    key, for keys with dots); value None deletes the key."""
    if isinstance(path, tuple):
        key, keys = path[0], list(path[1:])
    else:
        key, _, dotted = path.partition(":")
        keys = dotted.split(".")

    def change(c: Cluster) -> None:
        obj = c.objects[key] if key in c.objects else c.pods[key] if key in c.pods else c.nodes[key]
        *parents, last = keys
        for p in parents:
            obj = obj[p]
        if value is None:
            obj.pop(last, None)
        else:
            obj[last] = value
    return change


def _docs_macvlan_smc(c: Cluster) -> None:
    """get-started-macvlan.md#L81-L82: rdmaResourceName at spec level (outside the schema)."""
    spec = c.smc(1)["spec"]
    spec["rdmaResourceName"] = spec["macvlan"].pop("rdmaResourceName")


def _pruned_docs_field(c: Cluster) -> None:
    """What a real API server stores for the docs' manifest: the field pruned, kept only in
    kubectl's last-applied-configuration annotation."""
    import json

    smc = c.smc(1)
    written = json.loads(json.dumps(smc))
    written["spec"]["rdmaResourceName"] = written["spec"]["macvlan"].pop("rdmaResourceName")
    smc["spec"]["macvlan"].pop("rdmaResourceName")
    smc["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(written)}


def _docs_sriov_smc(c: Cluster) -> None:
    """get-started-sriov-roce.md#L659-L666: enableRdma and matchMasterSubnet at sriov level."""
    sec = c.section(2)
    sec["enableRdma"] = True
    sec["matchMasterSubnet"] = sec["ippools"].pop("matchMasterSubnet")
    sec.pop("rdmaIsolation")


def _off_by_one_rail(c: Cluster) -> None:
    c.objects["pool/rail2"] = ippool("rail2-net", "172.16.3.0/24", "172.16.3.1", ["172.16.3.100-172.16.3.200"])


def _plugin_selects_by_vendor(c: Cluster) -> None:
    import json

    cm = c.objects["cm/plugin"]
    cfg = json.loads(cm["data"]["config.json"])
    cfg["configList"][1]["selectors"] = {"vendors": ["15b3"], "deviceIDs": ["1017"], "ifNames": ["enp4s0f1np1", "enp5s0f0np0"]}
    cfg["configList"].append({"resourcePrefix": "spidernet.io", "resourceName": "shared_cx7_other", "rdmaHcaMax": 50,
                              "selectors": {"ifNames": ["ens9f0np0"]}})      # another node model's NIC: kept
    cm["data"]["config.json"] = json.dumps(cfg)


def _unbound_pools(c: Cluster) -> None:
    """Rail 2's per-node pools renamed and unbound: the node's pool is the one holding the PF's
    address, as matchMasterSubnet picks it (SP:pkg/ipam/allocate.go#L885-L937)."""
    for n, suffix in (("node-1", "a"), ("node-2", "b")):
        c.objects[f"pool/rail2/{n}"]["metadata"]["name"] = f"slice-{suffix}"
    c.section(2)["ippools"]["ipv4"] = ["slice-*"]


CASES = [
    Case("wrong master", "macvlan-shared", _set("smc/rail1:spec.macvlan.master", ["enp4s0f1np1"]),
         {("k8s.multus_config", "rail1")},
         ("spiderpool/gpu1-macvlan: spec.macvlan.master ['enp4s0f1np1'], the rail NIC is enp4s0f0np0",
          """kubectl -n spiderpool patch spidermultusconfigs.spiderpool.spidernet.io gpu1-macvlan --type=merge -p '{"spec":{"macvlan":{"master":["enp4s0f0np0"]}}}'""")),
    Case("missing resource", "macvlan-shared", _set(("node-1", "allocatable", "spidernet.io/shared_cx5_rail2"), None),
         {("k8s.node_resources", None)},
         ("node-1 does not advertise spidernet.io/shared_cx5_rail2 (rail2:enp4s0f1np1)",
          "allocatable spidernet.io/shared_cx5_rail2: 100 (rdmaHcaMax of shared device plugin entry shared_cx5_rail2)",
          "kubectl -n spiderpool delete pod spiderpool-rdma-shared-device-plugin-node-1")),
    Case("pool subnet off by one rail", "sriov-shared", _off_by_one_rail, {("k8s.ippools", "rail2")},
         ("rail2-net: subnet 172.16.3.0/24, rail2 is 172.16.2.0/24", "rail2-net: gateway 172.16.3.1, rail2's is 172.16.2.1",
          """kubectl patch spiderippools.spiderpool.spidernet.io rail2-net --type=merge -p '{"spec":{"subnet":"172.16.2.0/24","ips":["172.16.2.100-172.16.2.200"],"gateway":"172.16.2.1"}}'""")),
    Case("SR-IOV state InProgress", "sriov-shared", _set("state/node-1:status.syncStatus", "InProgress"),
         {("k8s.sriov_state", None)},
         ("SriovNetworkNodeState node-1 is InProgress, not Succeeded",
          "kubectl -n spiderpool wait sriovnetworknodestates.sriovnetwork.openshift.io/node-1 "
          "--for=jsonpath='{.status.syncStatus}'=Succeeded --timeout=30m")),
    Case("Calico on a rail IP", "macvlan-shared", _set(("node-1", "annotations", CALICO_IPV4), "172.16.1.11/24"),
         {("k8s.node_ip", None)},
         ("node-1: Calico projectcalico.org/IPv4Address 172.16.1.11 is on rail1 (172.16.1.0/24)",
          "kubectl -n kube-system set env daemonset/calico-node IP_AUTODETECTION_METHOD=interface=eth0",
          """'{"spec":{"calicoNetwork":{"nodeAddressAutodetectionV4":{"interface":"eth0"}}}}'""",
          "kubectl -n kube-system delete pod -l k8s-app=calico-node --field-selector spec.nodeName=node-1")),
    Case("docs-only field spec.rdmaResourceName", "macvlan-shared", _docs_macvlan_smc, {("k8s.multus_config", "rail1")},
         ("spec.rdmaResourceName: \"spidernet.io/shared_cx5_rail1\" (stored object) is not in the v2beta1 CRD; "
          "it belongs at spec.macvlan.rdmaResourceName",
          """'{"spec":{"rdmaResourceName":null,"macvlan":{"rdmaResourceName":"spidernet.io/shared_cx5_rail1"}}}'""")),
    Case("docs-only field pruned, kept in last-applied", "macvlan-shared", _pruned_docs_field,
         {("k8s.multus_config", "rail1")},
         ("(last-applied-configuration) is not in the v2beta1 CRD",
          "(the API server dropped it on write, so the object has no spec.macvlan.rdmaResourceName)",
          """'{"spec":{"macvlan":{"rdmaResourceName":"spidernet.io/shared_cx5_rail1"}}}'""",
          "# and remove spec.rdmaResourceName from the manifest you kubectl apply")),
    Case("docs-only sriov.enableRdma and sriov.matchMasterSubnet", "sriov-per-node", _docs_sriov_smc,
         {("k8s.multus_config", "rail2")},
         ("spec.sriov.enableRdma: true (stored object) is not in the v2beta1 CRD; removed in v2beta1",
          "spec.sriov.matchMasterSubnet: true (stored object) is not in the v2beta1 CRD; it belongs at "
          "spec.sriov.ippools.matchMasterSubnet",
          "spec.sriov.rdmaIsolation is unset (CRD default false); isolated RDMA needs true",
          """'{"spec":{"sriov":{"rdmaIsolation":true,"enableRdma":null,"matchMasterSubnet":null,"ippools":{"matchMasterSubnet":true}}}}'""")),
    Case("docs' impossible range", "sriov-per-node",
         _set("pool/rail2/node-1:spec.ips", ["172.16.2.2-172.16.2.9", "172.16.2.26-172.16.2.32"]),
         {("k8s.ippools", "rail2")},
         ("ips '172.16.2.26-172.16.2.32' reaches outside subnet 172.16.2.0/27 (172.16.2.0-172.16.2.31)",
          """'{"spec":{"ips":["172.16.2.2-172.16.2.9","172.16.2.26-172.16.2.30"]}}'""")),
    Case("docs' .256 address", "sriov-per-node",
         _set("pool/rail1/node-2:spec.ips", ["172.16.1.43-172.16.1.256"]),
         {("k8s.ippools", "rail1")},
         ("ips '172.16.1.43-172.16.1.256': '172.16.1.256' is not an IPv4 address",
          """'{"spec":{"ips":["172.16.1.43-172.16.1.62"]}}'"""), host={"name": "node-2"}),
    Case("docs' non-network subnet", "macvlan-shared", _set("pool/rail1:spec.subnet", "172.16.1.0/16"),
         {("k8s.ippools", "rail1")},
         ("subnet 172.16.1.0/16 is not a network address (host bits set; 172.16.1.0/16 lies in 172.16.0.0/16)",
          """'{"spec":{"subnet":"172.16.1.0/24","ips":["172.16.1.100-172.16.1.200"]}}'""")),
    Case("RDMA CIDR route missing on rail 1", "sriov-per-node", _set("pool/rail1/node-1:spec.routes", None),
         {("k8s.ippools", "rail1")},
         ("no route {dst: 172.16.0.0/16, gw: 172.16.1.1} (rail 1 carries the RDMA CIDR route)",
          """'{"spec":{"routes":[{"dst":"172.16.0.0/16","gw":"172.16.1.1"}]}}'""")),
    Case("docs' to/via route shape on rail 2", "sriov-per-node",
         _set("pool/rail2/node-1:spec.routes", [{"to": "172.16.0.0/16", "via": "172.16.2.1"}]),
         {("k8s.ippools", "rail2")},
         ("routes[0] {to: 172.16.0.0/16, via: 172.16.2.1} is not the CRD's Route shape {dst, gw} (the docs write to/via)",)),
    Case("pool bound to another node", "macvlan-shared", _set("pool/rail1:spec.nodeName", ["node-2"]),
         {("k8s.ippools", "rail1")},
         ("no pool of spiderpool/gpu1-macvlan serves node-1", "rail1-net: nodeName ['node-2']",
          """kubectl patch spiderippools.spiderpool.spidernet.io rail1-net --type=json -p '[{"op":"add","path":"/spec/nodeName/-","value":"node-1"}]'""")),
    Case("host address in no pool (matchMasterSubnet)", "sriov-per-node", lambda c: _unbound_pools(c),
         {("k8s.host_agreement", "rail2")},
         ("no pool of kube-system/sriov-enp4s0f1np1 holds enp4s0f1np1's 172.16.2.70: matchMasterSubnet allocation fails",
          "host: enp4s0f1np1 172.16.2.70/27", "cluster: slice-a: subnet 172.16.2.0/27"),
         host={"rail_ips": ["172.16.1.10/27", "172.16.2.70/27"]}),
    Case("profile names a missing SpiderMultusConfig", "macvlan-shared", lambda c: None, {("k8s.multus_config", "rail2")},
         ("the profile names spiderpool/rail2-net (rails.rail2.network), which does not exist",),
         profile={"rails": {"rail1": {"nic": {"netdev": "enp4s0f0np0"}, "subnet": "172.16.1.0/24", "gateway": "172.16.1.1",
                                      "network": "spiderpool/gpu1-macvlan"},
                            "rail2": {"nic": {"netdev": "enp4s0f1np1"}, "subnet": "172.16.2.0/24", "gateway": "172.16.2.1",
                                      "network": "spiderpool/rail2-net"}}}),
    Case("pool exhausted", "sriov-shared", _set("pool/rail1:status.allocatedIPCount", 101), {("k8s.ippools", "rail1")},
         ("rail1-net is exhausted (allocatedIPCount 101 of 101)",
          """kubectl patch spiderippools.spiderpool.spidernet.io rail1-net --type=json -p '[{"op":"add","path":"/spec/ips/-","value":"172.16.1.2-172.16.1.99"}]'""")),
    Case("plugin selects a non-rail NIC", "macvlan-shared", _plugin_selects_by_vendor, {("k8s.components", None)},
         ("entry shared_cx5_rail2 also selects enp5s0f0np0, which is not a rail NIC",
          "kubectl apply -f - <<'EOF'", '"ifNames": [\n              "enp4s0f1np1"', '"resourceName": "shared_cx7_other"',
          "rollout restart daemonset/spiderpool-rdma-shared-device-plugin"),
         host={"storage_nic": True}),
    Case("agent pod crashlooping", "sriov-shared",
         lambda c: c.pods.__setitem__("spiderpool-agent/node-1", __import__("tests.k8s.cluster", fromlist=["pod"]).pod(
             "spiderpool-agent", "node-1", ready=False, waiting="CrashLoopBackOff")),
         {("k8s.components", None)},
         ("spiderpool/spiderpool-agent-node-1 on node-1 is Running (CrashLoopBackOff), not Ready",
          "kubectl -n spiderpool delete pod spiderpool-agent-node-1")),
    Case("policy without isRdma", "ib-sriov", _set("policy/rail2:spec.isRdma", False), {("k8s.sriov_state", None)},
         ("SriovNetworkNodePolicy rail2-nic-policy (ib1): isRdma False",
          """kubectl -n spiderpool patch sriovnetworknodepolicies.sriovnetwork.openshift.io rail2-nic-policy --type=merge -p '{"spec":{"isRdma":true}}'""")),
    Case("policy linkType eth on InfiniBand", "ib-sriov", _set("policy/rail1:spec.linkType", "eth"), {("k8s.sriov_state", None)},
         ("linkType eth, the infiniband design needs ib", """'{"spec":{"linkType":"ib"}}'""")),
    Case("pool config rdmaMode shared", "sriov-shared", _set("poolconfig:spec.rdmaMode", "shared"), {("k8s.sriov_state", None)},
         ("SriovNetworkPoolConfig rdma-exclusive sets rdmaMode shared on node-1",
          """'{"spec":{"rdmaMode":"exclusive"}}'""")),
    Case("operator numVfs differs from the host", "sriov-shared", _set("state/node-1:status.interfaces", [
        {"name": "enp4s0f0np0", "pciAddress": "0000:04:00.0", "numVfs": 8, "linkType": "ETH"},
        {"name": "enp4s0f1np1", "pciAddress": "0000:04:00.1", "numVfs": 4, "linkType": "ETH"}]),
        {("k8s.host_agreement", "rail2")},
        ("enp4s0f1np1: numVfs 4 in the cluster, sriov_numvfs 8 on the host", "host: enp4s0f1np1 at 0000:04:00.1, sriov_numvfs 8",
         "cluster: SriovNetworkNodeState node-1: enp4s0f1np1 at 0000:04:00.1, numVfs 4, linkType ETH")),
    Case("host address in another node's slice", "sriov-per-node", lambda c: None, {("k8s.host_agreement", "rail1")},
         ("enp4s0f0np0's 172.16.1.40 is outside enp4s0f0np0-rail1-node-1", "host: enp4s0f0np0 172.16.1.40/27",
          "cluster: enp4s0f0np0-rail1-node-1: subnet 172.16.1.0/27"),
         host={"rail_ips": ["172.16.1.40/27", "172.16.2.10/27"]}),
    Case("InternalIP on a rail", "sriov-shared",
         _set("node-1:addresses", [{"type": "InternalIP", "address": "172.16.2.11"}, {"type": "Hostname", "address": "node-1"}]),
         {("k8s.node_ip", None)},
         ("InternalIP 172.16.2.11 is on rail2 (172.16.2.0/24)",
          "# on node-1: echo 'KUBELET_EXTRA_ARGS=--node-ip=10.0.0.11' >> /etc/default/kubelet && systemctl restart kubelet")),
    Case("no SpiderMultusConfig for rail 2", "ib-sriov", lambda c: c.objects.pop("smc/rail2"),
         {("k8s.multus_config", "rail2")},
         ("no SpiderMultusConfig for rail2 (ib1)", "no SpiderMultusConfig names resource spidernet.io/ib1",
          "cniType: ib-sriov", "resourceName: spidernet.io/ib1", "ipv4:\n      - rail2-net")),
    Case("ib-sriov design given a sriov config", "ib-sriov",
         lambda c: c.smc(1)["spec"].update({"cniType": "sriov", "sriov": c.smc(1)["spec"].pop("ibsriov")}),
         {("k8s.multus_config", "rail1")},
         ("cniType sriov, the infiniband sriov design needs ib-sriov",)),
    Case("GPU count below the host's", "macvlan-shared", _set(("node-1", "allocatable", "nvidia.com/gpu"), "1"),
         {("k8s.node_resources", None)},
         ("node-1 advertises nvidia.com/gpu: 1, not 2 (GPUDirect)", "2 NVIDIA GPU(s) on the host's PCI bus")),
    Case("SR-IOV resource VFs short", "sriov-shared", _set(("node-1", "allocatable", "spidernet.io/enp4s0f0np0"), "4"),
         {("k8s.node_resources", None)},
         ("node-1 advertises spidernet.io/enp4s0f0np0: 4, not 8 (rail1:enp4s0f0np0)",
          "kubectl -n spiderpool delete pod -l app=sriov-device-plugin --field-selector spec.nodeName=node-1")),
]


def test_per_node_pools_chosen_by_the_pf_subnet():
    cluster = compliant("sriov-per-node")
    _unbound_pools(cluster)
    for node in ("node-1", "node-2"):
        results = node_results(cluster, Host(node, "sriov-per-node"))
        assert findings(results) == {}
        want = {"node-1": "slice-a", "node-2": "slice-b"}[node]
        assert results[("k8s.ippools", "rail2")].summary == want
        assert results[("k8s.host_agreement", "rail2")].summary.endswith(f"lies in {want}")


def test_profile_pins_the_network():
    profile = design_profile("macvlan-shared")
    data = profile.model_dump(mode="json")
    data["rails"]["rail2"]["network"] = "spiderpool/gpu2-macvlan"
    data["rails"]["rail2"]["resource"] = "shared_cx5_rail2"          # bare name: kubernetes.resource_prefix
    results = node_results(compliant("macvlan-shared"), Host("node-1", "macvlan-shared"), type(profile).model_validate(data))
    assert findings(results) == {}
    assert results[("k8s.multus_config", "rail2")].summary == (
        "spiderpool/gpu2-macvlan (named by the profile (rails.rail2.network))")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_failure_class_fails_exactly_its_check(case: Case):
    cluster = compliant(case.design)
    case.change(cluster)
    host = Host(**{"name": "node-1", "design": case.design, **(case.host or {})})
    profile = design_profile(case.design, **(case.profile or {}))
    results = node_results(cluster, host, profile)
    bad = findings(results)
    assert {k: r.outcome for k, r in bad.items()} == {k: case.outcome for k in case.failing}, \
        {k: r.summary for k, r in bad.items()}
    (r,) = bad.values()
    for w in case.words:
        assert w in text(r), f"{w!r} not in:\n{text(r)}"
