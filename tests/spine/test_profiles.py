"""Profile loading: layering, overrides, the shipped designs, and every kind of bad input."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from rdma_preflight.profile import ProfileError, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
BAD = ROOT / "tests" / "fixtures" / "bad_profiles"


@pytest.mark.parametrize("name,fabric,scheme,addressing,mode", [
    ("roce-macvlan-shared-subnet", "roce", "macvlan", "shared-subnet", "shared"),
    ("roce-sriov-shared-subnet", "roce", "sriov", "shared-subnet", "exclusive"),
    ("roce-sriov-per-node-subnet", "roce", "sriov", "per-node-subnet", "exclusive"),
    ("infiniband-sriov", "infiniband", "sriov", "none", "exclusive"),
])
def test_shipped_designs(name, fabric, scheme, addressing, mode):
    p = load_profile(PROFILES / f"{name}.yaml").profile
    assert (p.design.fabric, p.design.scheme, p.design.addressing) == (fabric, scheme, addressing)
    assert p.rdma.netns_mode == mode
    assert list(p.rails) == [f"rail{i}" for i in range(1, 9)]
    assert p.expected_rails == 8
    if fabric == "roce":
        assert p.rdma.cidr == ipaddress.ip_network("172.16.0.0/16")
        assert p.lossless.enabled and p.lossless.roce_tos == 160 and p.lossless.cnp_dscp == 48
    else:
        assert not p.lossless.enabled and not p.network.policy_routing
        assert p.rails["rail3"].mtu == 4092     # the IB profile's own layer wins over rails-8's 4200
        assert "ib_ipoib" in p.rdma.required_modules


def test_layering_later_wins_and_lists_replace(tmp_path):
    (tmp_path / "a.yaml").write_text("rdma: {required_modules: [a, b], expected_devices: 2}\n"
                                     "network: {management_interface: eth0}\n")
    (tmp_path / "b.yaml").write_text("rdma: {required_modules: [c]}\n")
    (tmp_path / "p.yaml").write_text(
        "name: layered\nextends: [" + str(PROFILES / "roce-sriov-shared-subnet.yaml") + ", a.yaml, b.yaml]\n"
        "rails:\n  rail2: {mtu: 9000, nic: {netdev: ens2f0np0}}\n")
    p = load_profile(tmp_path / "p.yaml").profile
    assert p.rdma.required_modules == ["c"]            # list replaced whole by the later layer
    assert p.rdma.expected_devices == 2                 # mapping merged key by key
    assert p.network.management_interface == "eth0"
    assert p.rails["rail2"].mtu == 9000
    assert p.rails["rail2"].nic.netdev == "ens2f0np0" and p.rails["rail2"].nic.position is None
    assert p.rails["rail2"].subnet == ipaddress.ip_network("172.16.2.0/24")   # kept from below
    assert p.rails["rail1"].nic.position == 1


def test_node_overrides_by_glob_and_label(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "name: ov\nextends: " + str(PROFILES / "roce-sriov-shared-subnet.yaml") + "\n"
        "nodes:\n"
        "  - match: 'gpu-node-*'\n    set: {rails: {rail1: {address: 172.16.1.21/24}}}\n"
        "  - labels: {rack: r7}\n    set: {rails: {rail1: {mtu: 1500}}}\n")
    loaded = load_profile(tmp_path / "p.yaml")
    assert loaded.for_node("gpu-node-1").rails["rail1"].address == ipaddress.ip_interface("172.16.1.21/24")
    assert loaded.for_node("other").rails["rail1"].address is None
    both = loaded.for_node("gpu-node-2", {"rack": "r7"})
    assert both.rails["rail1"].mtu == 1500 and both.rails["rail1"].address is not None
    assert loaded.for_node("other", {"rack": "r8"}).rails["rail1"].mtu == 4200


def test_nodes_lists_concatenate_across_layers(tmp_path):
    (tmp_path / "base.yaml").write_text("nodes:\n  - {match: 'a*', set: {expected_rails: 7}}\n")
    (tmp_path / "p.yaml").write_text(
        "name: n\nextends: [" + str(PROFILES / "roce-sriov-shared-subnet.yaml") + ", base.yaml]\n"
        "nodes:\n  - {match: 'b*', set: {expected_rails: 6}}\n")
    loaded = load_profile(tmp_path / "p.yaml")
    assert [o.match for o in loaded.profile.nodes] == ["a*", "b*"]
    assert loaded.for_node("a1").expected_rails == 7 and loaded.for_node("b1").expected_rails == 6


BAD_FILES = sorted(p for p in BAD.glob("*.yaml") if p.name != "circular_b.yaml")


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_profiles_give_the_promised_error(path):
    expected = path.read_text().splitlines()[0].split("expect: ", 1)[1]
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    problems = info.value.problems
    assert any(expected in p for p in problems), problems
    for p in problems:          # one line per problem, each naming the file
        assert "\n" not in p and ".yaml" in p and "Traceback" not in p


def test_missing_file():
    with pytest.raises(ProfileError, match="nope.yaml: file not found"):
        load_profile(BAD / "nope.yaml")


def test_cli_validate_exit_code_and_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "rdma_preflight.cli", "profile", "validate",
                           str(BAD / "wrong_type.yaml"), str(PROFILES / "infiniband-sriov.yaml")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "wrong_type.yaml:6: rails.rail1.mtu: found 'jumbo'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "infiniband-sriov.yaml: ok (infiniband-sriov: infiniband/sriov/none, 8 rails" in proc.stdout


def test_cli_show_effective_profile_for_node(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "name: show\nextends: " + str(PROFILES / "roce-sriov-per-node-subnet.yaml") + "\n"
        "nodes:\n  - match: n2\n    set: {rails: {rail1: {address: 172.16.1.34/27}}}\n")
    proc = subprocess.run([sys.executable, "-m", "rdma_preflight.cli", "profile", "show", str(tmp_path / "p.yaml"),
                           "--node", "n2"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "address: 172.16.1.34/27" in proc.stdout
    assert "netns_mode: exclusive" in proc.stdout
