"""Rail discovery: netdev, IP, device, port and local GID index from one discover run.

Inputs are the labelled RDMA view double's output (sysfs layout of
/sys/class/infiniband, ``rdma -j link`` JSON) and hand-written sysfs lines for InfiniBand.
"""

from __future__ import annotations

import json

from rdma_preflight.bandwidth import driver
from rdma_preflight.bandwidth.discover import RailTarget, bind, parse_view
from rdma_preflight.bandwidth.failures import FailureClass as C
from tests.bandwidth.conftest import make_profile
from tests.bandwidth.doubles import BwPlan, RdmaViewDouble

RAILS = ["rail1", "rail2"]


def pod(node: str = "node-1", ips=("172.16.1.11", "172.16.2.11"), names=("gpu1-macvlan", "gpu2-macvlan")) -> dict:
    status = [{"name": f"spiderpool/{n}", "interface": f"net{k}", "ips": [ip]}
              for k, (n, ip) in enumerate(zip(names, ips), start=1)]
    return {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)}},
            "spec": {"nodeName": node}}


def view_of(p: dict, plan: BwPlan):
    frames = driver.parse_frames(RdmaViewDouble(plan).discover(p, "n"), "n")
    return parse_view(frames.sections)


def targets(**kw):
    return RailTarget.from_profile(make_profile(2, **kw))


def test_roce_rails_from_network_status_and_the_gid_table():
    p = pod()
    eps = bind(view_of(p, BwPlan(RAILS)), targets(), "roce", annotations=p["metadata"]["annotations"],
               namespace="spiderpool")
    r1 = eps["rail1"]
    assert (r1.netdev, r1.ip, r1.device, r1.port, r1.gid_index, r1.state, r1.rate_gbps, r1.mtu, r1.problem) == (
        "net1", "172.16.1.11", "mlx5_0", 1, 3, "ACTIVE", 200.0, 4200, None)
    assert (eps["rail2"].device, eps["rail2"].gid_index) == ("mlx5_1", 3)
    assert r1.detail == "found by network-status spiderpool/gpu1-macvlan"


def test_without_annotations_the_rail_subnet_finds_the_netdev():
    p = pod()
    eps = bind(view_of(p, BwPlan(RAILS)), targets(), "roce", pod=False)
    assert [(e.netdev, e.device, e.detail) for e in eps.values()] == [
        ("net1", "mlx5_0", "found by rail subnet"), ("net2", "mlx5_1", "found by rail subnet")]


def test_host_mode_position_is_pci_order_of_rdma_devices():
    view = view_of(pod(ips=("10.9.0.1", "10.9.1.1")), BwPlan(RAILS))
    prof = make_profile(2)
    rails = [RailTarget(r.name, r.index, position=r.position) for r in RailTarget.from_profile(prof)]
    eps = bind(view, rails, "roce", pod=False)
    assert [(e.netdev, e.device, e.gid_index, e.detail) for e in eps.values()] == [
        ("net1", "mlx5_0", 3, "found by nic.position"), ("net2", "mlx5_1", 3, "found by nic.position")]


def test_missing_roce_v2_gid_is_a_gid_problem():
    p = pod()
    view = view_of(p, BwPlan(RAILS, no_roce_gid={("node-1", "rail2")}))
    eps = bind(view, targets(), "roce", annotations=p["metadata"]["annotations"], namespace="spiderpool")
    assert eps["rail1"].ok
    assert (eps["rail2"].problem, eps["rail2"].device) == (C.GID, "mlx5_1")
    assert eps["rail2"].detail.startswith("mlx5_1: no RoCE v2 GID carries 172.16.2.11 (GIDs: 0:IB/RoCE v1, 1:RoCE v2)")


def test_port_not_active_and_trained_down_rate_are_read():
    p = pod()
    plan = BwPlan(RAILS, port_state={("node-1", "rail1"): "1: DOWN"}, rate={("node-1", "rail2"): "100 Gb/sec (2X HDR)"})
    eps = bind(view_of(p, plan), targets(), "roce", annotations=p["metadata"]["annotations"], namespace="spiderpool")
    assert (eps["rail1"].problem, eps["rail1"].detail) == (C.PORT_NOT_ACTIVE, "mlx5_0/1 state DOWN, physical state LinkUp")
    assert (eps["rail2"].problem, eps["rail2"].rate_gbps, eps["rail2"].rate_text) == (None, 100.0, "100 Gb/sec (2X HDR)")


def test_a_rail_without_its_network_is_no_device():
    p = pod(ips=("172.16.1.11",), names=("gpu1-macvlan",))
    eps = bind(view_of(p, BwPlan(RAILS)), targets(), "roce", annotations=p["metadata"]["annotations"],
               namespace="spiderpool")
    assert eps["rail1"].ok
    assert eps["rail2"].problem is C.NO_DEVICE
    assert eps["rail2"].detail == "no interface for rail2 (network 'gpu2-macvlan') among ['lo', 'net1']"


def test_infiniband_uses_the_netdev_device_and_gid_index_0():
    sections = {
        "ip": json.dumps([{"ifname": "ib0", "mtu": 4092, "addr_info": [
            {"family": "inet", "local": "10.1.0.5", "prefixlen": 16}]}]),
        "rdma": "", "perftest": "Version: 5.93\n",
        "sysfs": "\n".join([
            "/sys/class/infiniband/mlx5_4/ports/1/state:4: ACTIVE",
            "/sys/class/infiniband/mlx5_4/ports/1/phys_state:5: LinkUp",
            "/sys/class/infiniband/mlx5_4/ports/1/rate:200 Gb/sec (4X HDR)",
            "/sys/class/infiniband/mlx5_4/ports/1/link_layer:InfiniBand",
            "/sys/class/infiniband/mlx5_4/ports/1/gids/0:fe80:0000:0000:0000:1070:fd03:00e5:a1b2",
            "/sys/class/infiniband/mlx5_4/device/net/ib0/ifindex:7",
            "/sys/class/infiniband/mlx5_5/ports/1/state:1: DOWN",
            "/sys/class/infiniband/mlx5_5/ports/1/gids/0:0000:0000:0000:0000:0000:0000:0000:0000",
            "/sys/class/infiniband/mlx5_5/device/net/ib1/ifindex:8",
        ]),
    }
    view = parse_view(sections)
    assert view.perftest_version == "5.93"
    one = [RailTarget("rail1", 0, netdev="ib0"), RailTarget("rail2", 1, rdma_device="mlx5_5")]
    view.addrs["ib1"] = []
    eps = bind(view, one, "infiniband", pod=False)
    assert (eps["rail1"].device, eps["rail1"].gid_index, eps["rail1"].ip, eps["rail1"].problem) == (
        "mlx5_4", 0, "10.1.0.5", None)
    assert (eps["rail2"].problem, eps["rail2"].detail) == (C.GID, "mlx5_5/1 GID 0 is empty (found by nic.rdma_device)")


def test_hostile_names_from_the_pod_never_reach_an_argv():
    p = pod()
    status = json.loads(p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"])
    status[0]["interface"] = "net1;reboot"
    p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"] = json.dumps(status)
    eps = bind(view_of(pod(), BwPlan(RAILS)), targets(), "roce", annotations=p["metadata"]["annotations"],
               namespace="spiderpool")
    assert (eps["rail1"].problem, eps["rail1"].detail) == (C.NO_DEVICE, "invalid interface name 'net1;reboot'")
