"""Fixtures for the bandwidth tests: a profile, and the Kubernetes API double (real client,
HTTP + WebSocket exec) with pods as network namespaces wired by :class:`RailFabric` and
execs answered by the labelled doubles of tests/bandwidth/doubles.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest
from kubernetes import client

from rdma_preflight.profile.schema import Profile
from tests.kube_double import KubeDouble
from tests.kube_double.netns import list_netns, netns_supported
from tests.bandwidth.doubles import BwPlan, PerftestDouble, RailFabric, any_pod_netns

NAMESPACE = "rdma-preflight"


def profile_data(rails: int = 2, *, fabric: str = "roce", resources: bool = True, **bandwidth) -> dict:
    """Macvlan shared-subnet RoCE (or SR-IOV IB) with ``rails`` rails, 200 Gb/s nominal, as YAML data."""
    spec_rails = {}
    for k in range(1, rails + 1):
        rail = {"nic": {"position": k}, "mtu": 4200, "network": f"gpu{k}-macvlan"}
        if fabric == "roce":
            rail |= {"subnet": f"172.16.{k}.0/24", "gateway": f"172.16.{k}.254"}
        if resources:
            rail["resource"] = f"spidernet.io/shared_cx5_gpu{k}"
        spec_rails[f"rail{k}"] = rail
    design = {"fabric": fabric, "scheme": "macvlan" if fabric == "roce" else "sriov"}
    return {"name": "bw-test", "design": design,
            "rdma": {"rate_gbps": 200, **({"cidr": "172.16.0.0/16"} if fabric == "roce" else {})},
            "rails": spec_rails, "bandwidth": {"duration": 2, **bandwidth}}


def make_profile(rails: int = 2, **kw) -> Profile:
    return Profile.model_validate(profile_data(rails, **kw))


@dataclass
class BwLab:
    """A running double with its nodes, fabric and perftest double."""

    double: KubeDouble
    fabric: RailFabric
    perftest: PerftestDouble
    plan: BwPlan
    nodes: list[str]

    def api_client(self) -> client.ApiClient:
        return self.double.api_client()


def build_lab(nodes: list[str], rails: int, *, netns: bool, allocatable: dict[str, dict[str, str]] | None = None,
              run_seconds: float = 0.0, real_processes: bool = False) -> tuple[KubeDouble, BwLab]:
    double = KubeDouble(nodes=(), pod_netns=netns, start_delay=0.01)
    double.start()
    for node in nodes:
        alloc = {f"spidernet.io/shared_cx5_gpu{k}": "100" for k in range(1, rails + 1)}
        alloc |= (allocatable or {}).get(node, {})
        double.add_node(node, allocatable=alloc)
    double.add_namespace(NAMESPACE)
    fabric = RailFabric(nodes, rails, netns=netns)
    plan = BwPlan(rails=[f"rail{k}" for k in range(1, rails + 1)])
    perftest = PerftestDouble(plan, any_pod_netns(double) if netns else None, run_seconds=run_seconds,
                              real_processes=real_processes)
    double.on_pod_network = fabric.attach
    double.exec_handler = perftest
    return double, BwLab(double, fabric, perftest, plan, nodes)


@pytest.fixture
def bw_lab_factory() -> Iterator:
    """``make(nodes, rails, netns=..., ...) -> BwLab``; everything is stopped and removed after."""
    made: list[BwLab] = []

    def make(nodes: list[str], rails: int = 2, *, netns: bool = False, **kw) -> BwLab:
        if netns and not netns_supported():
            pytest.skip("needs root and iproute2 for network namespaces")  # environment, not the code
        double, lab = build_lab(nodes, rails, netns=netns, **kw)
        made.append(lab)
        return lab

    yield make
    for lab in made:
        lab.double.stop()
        lab.fabric.close()
        leftovers = [n for n in list_netns() if n.startswith("kdpod-") or n == lab.fabric.name]
        assert leftovers == [], f"netns left behind: {leftovers}"
