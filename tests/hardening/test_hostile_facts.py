"""Facts from hostile, odd, truncated or contradictory evidence (issue 9, part 2).

The contract: ``build_facts`` returns NodeFacts (recording what it could not read) or raises
the documented FactsError; nothing else escapes. ``gather_node`` turns either into a node
with a clear reason, and one poisoned node leaves the others of a run untouched.

The base node (``rich_snapshot``) is built from real recorded outputs in tests/fixtures/outputs
(every command record) plus hand-made sysfs/procfs values (SnapshotBuilder keeps the
provenance); the poison is hand-made garbage, fuzzed fixture outputs and odd values.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdma_preflight.collect.gather import gather_node
from rdma_preflight.collect.snapshot import CommandOutput, Snapshot
from rdma_preflight.facts.build import FactsError, build_facts
from rdma_preflight.facts.model import NodeFacts
from rdma_preflight.targets.snapshot import SnapshotTarget
from tests.hardening.fuzzlib import FUZZ_SETTINGS, ODD_VALUES, TARGETS, fuzzed_input
from tests.snapbuild import SnapshotBuilder
from tests.spine.harness_util import run_checks, two_rail_profile
from tests.spine.test_harness import two_rail_snapshot

IB = "/sys/class/infiniband"
NET = "/sys/class/net"
PF0, PF1 = "0000:86:00.0", "0000:86:00.1"


def rich_snapshot(name: str = "hostile-node") -> Snapshot:
    """A node with every record the facts read: two RoCE ports with ECN, GIDs, QoS, PCIe, GPU."""
    b = (SnapshotBuilder(name).iface("lo", 65536, link_type="loopback")
         .iface("eth0", 1500, ipv4=["192.0.2.11/24"])
         .iface("enp4s0f0np0", 4200, ipv4=["172.16.1.11/24"], pci=PF0, driver="mlx5_core")
         .iface("enp4s0f1np1", 4200, ipv4=["172.16.2.11/24"], pci=PF1, driver="mlx5_core")
         .default_rules().route("default", dev="eth0", gateway="192.0.2.1")
         .rule(1000, 500, src="172.16.1.11").route("default", dev="enp4s0f0np0", gateway="172.16.1.1", table=500))
    for i, (dev, nd, pci) in enumerate((("mlx5_0", "enp4s0f0np0", PF0), ("mlx5_1", "enp4s0f1np1", PF1))):
        base, port = f"{IB}/{dev}", f"{IB}/{dev}/ports/1"
        b.link(f"{base}/device", f"/sys/devices/pci0000:80/0000:80:01.0/{pci}")
        b.attr(f"{base}/node_guid", f"e8eb:d303:0033:07d{i}").attr(f"{base}/fw_ver", "22.39.1002")
        b.attr(f"{base}/hca_type", "MT4125").attr(f"{base}/board_id", "MT_0000000359")
        b.attr(f"{base}/tc/1/traffic_class", "Global tclass=106")
        b.attr(f"{port}/state", "4: ACTIVE").attr(f"{port}/phys_state", "5: LinkUp")
        b.attr(f"{port}/rate", "200 Gb/sec (4X HDR)").attr(f"{port}/link_layer", "Ethernet")
        b.attr(f"{port}/lid", "0x0").attr(f"{port}/sm_lid", "0x0")
        b.attr(f"{port}/gids/3", f"0000:0000:0000:0000:0000:ffff:ac10:0{i + 1}0b")
        b.attr(f"{port}/gid_attrs/types/3", "RoCE v2").attr(f"{port}/gid_attrs/ndevs/3", nd)
        b.attr(f"/sys/kernel/config/rdma_cm/{dev}/ports/1/default_roce_tos", 106)
        b.attr(f"/sys/bus/pci/devices/{pci}/vendor", "0x15b3").attr(f"/sys/bus/pci/devices/{pci}/class", "0x020000")
        for kind in ("roce_np", "roce_rp"):
            for prio in range(8):
                b.attr(f"{NET}/{nd}/ecn/{kind}/enable/{prio}", int(prio == 3))
        b.attr(f"{NET}/{nd}/ecn/roce_np/cnp_dscp", 48)
    for knob, value in (("rp_filter", 2), ("arp_ignore", 1), ("arp_announce", 2)):
        b.attr(f"/proc/sys/net/ipv4/conf/all/{knob}", value).attr(f"/proc/sys/net/ipv4/conf/enp4s0f0np0/{knob}", value)
    b.attr("/proc/sys/net/ipv4/tcp_ecn", 1).attr("/sys/module/ib_core/parameters/netns_mode", "N")
    b.attr("/sys/module/mlx5_core/version", "23.07-0.5.1")
    b.file("/proc/modules", "mlx5_ib 483328 0 - Live 0x0000000000000000\n"
                            "nvidia_peermem 16384 0 - Live 0x0000000000000000 (OE)\n"
                            "ib_core 458752 8 mlx5_ib,nvidia_peermem, Live 0x0000000000000000\n")
    b.file("/etc/os-release", 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\n').file("/proc/cmdline", "ro quiet iommu=pt\n")
    b.file("/etc/modprobe.d/ib_core.conf", "options ib_core netns_mode=0\n")
    b.file("/etc/netplan/50-rails.yaml", "network:\n  ethernets:\n    enp4s0f0np0:\n      mtu: 4200\n")
    b.file("/etc/systemd/system/rdma-qos.service", "[Service]\nExecStart=/usr/local/bin/rdma-qos.sh\n")
    b.exists("/dev/gdrdrv", "/dev/infiniband/uverbs0")
    for name_, tool, fx in (
            ("rdma_link", "rdma_link", "daocloud-cx5-roce-enp4s0f0np0.txt"),
            ("rdma_system", "rdma_system", "spiderpool-exclusive-mode.txt"),
            ("ibstat", "ibstat", "gpud-h100-roce-400g-all-active.txt"),
            ("ibv_devinfo", "ibv_devinfo", "stelline-cx7-roce-mlx5_1-active.txt"),
            ("ibdev2netdev", "ibdev2netdev", "daocloud-cx5-roce-two-up.txt"),
            ("ofed_info", "ofed_info", "daocloud-mlnx-ofed-23.07.txt"),
            ("lsmod", "lsmod", "stelline-ib-core-mlx-compat-mofed.txt"),
            ("mlnx_qos/enp4s0f0np0", "mlnx_qos", "netarbiter-trust-dscp-pfc3-vendor-tsa.txt"),
            ("ethtool_S/enp4s0f0np0", "ethtool_stats", "lore-bpf-mlx5-kernel-5.15-nonzero-counters.txt"),
            (f"mlxconfig/{PF0}", "mlxconfig", "hpe-shs-cx6-e-query-egrep-link-type-eth.txt"),
            ("lspci_vvv", "lspci_acs", "stelline-asus-cx7-endpoint-21-00-0-vvv.txt"),
            ("lspci_nn", "lspci_nn", "daocloud-cx5-ethernet-grep.txt"),
            ("nvidia_smi_topo", "nvidia_smi_topo", "stelline-asus-4x-rtx6000ada-4x-cx7-nic-legend.txt")):
        b.fixture_cmd(name_, tool, fx)
    # hand-made: iproute2 dcb -j output for the second port (hosts without mlnx_qos)
    b.cmd("dcb_pfc/enp4s0f1np1", '{"pfc_cap":8,"prio_pfc":[false,false,false,true,false,false,false,false]}')
    b.cmd("dcb_app/enp4s0f1np1", '{"dscp_prio":[[26,3]]}')
    b.cmd("pci_devices", f"lrwxrwxrwx 1 root root 0 Jan 1 00:00 {PF0} -> ../../../devices/pci0000:80/"
                         f"0000:80:01.0/{PF0}\n")
    b.cmd("systemctl_enabled/rdma-qos.service", "enabled\n").cmd("systemctl_active/rdma-qos.service", "active\n")
    return b.build()


def facts_or_error(snap: Snapshot) -> NodeFacts | FactsError:
    """build_facts' documented outcomes; anything else raised fails the test with its traceback."""
    try:
        return build_facts(snap)
    except FactsError as exc:
        return exc


def test_rich_snapshot_builds_with_every_area():
    facts = build_facts(rich_snapshot())
    assert facts.rdma.devices["mlx5_0"].ports[1].state == "ACTIVE"
    assert facts.rdma.devices["mlx5_0"].ports[1].netdev == "enp4s0f0np0"
    assert facts.netdevs["enp4s0f0np0"].ecn_np[3] == 1
    assert facts.qos.ports["enp4s0f0np0"].trust == "dscp"
    assert facts.qos.ports["enp4s0f1np1"].source == "dcb"
    assert facts.system.modules["nvidia_peermem"].refcount == 0
    assert facts.rdma.tool_errors == {}


# -- garbage, truncated, contradictory tool outputs: the facts record the problem --------------------

@pytest.mark.parametrize("command, garbage, where, expected", [
    ("ibstat", "CA 'mlx5_0'\n\tPort 1:\n\t\tState: Active\n\t\tRate: fast\n",
     lambda f: f.rdma.tool_errors["ibstat"],
     "output not understood (ibstat: cannot parse line 4: rate is not a number: 'fast': '\\t\\tRate: fast')"),
    ("ibv_devinfo", "hca_id:\tmlx5_0\n\tport:\t1\n\t\tstate:\t\tPORT_ACTIVE (",
     lambda f: f.rdma.tool_errors["ibv_devinfo"], "output not understood (ibv_devinfo: cannot parse line 3"),
    ("rdma_link", "\x00\x01\x02", lambda f: f.rdma.tool_errors["rdma_link"],
     "output not understood (rdma_link: cannot parse input: binary data (NUL byte) in tool output)"),
    ("mlnx_qos/enp4s0f0np0", "PFC configuration:\n  priority 0 1 2\n  enabled 0 1\n",
     lambda f: f.qos.ports["enp4s0f0np0"].problem,
     "mlnx_qos -i enp4s0f0np0 output could not be read: mlnx_qos: cannot parse line 3: PFC row 'enabled' has 2 "
     "values for 3 priorities"),
    ("ethtool_S/enp4s0f0np0", "NIC statistics:\n     rx_prio3_pause: lots\n",
     lambda f: f.qos.ports["enp4s0f0np0"].counters_problem,
     "ethtool -S enp4s0f0np0 output could not be read: ethtool -S: cannot parse line 2"),
    ("lspci_vvv", "garbage before any device\n", lambda f: f.pcie.problems[0],
     "lspci -vvv output could not be read: lspci: cannot parse line 1: line before any device header"),
    ("nvidia_smi_topo", "\tGPU0\tGPU1\nGPU0\t X \n", lambda f: f.gpu.topo_problem,
     "nvidia-smi topo -m output could not be read: nvidia-smi topo: cannot parse line 2"),
])
def test_garbage_tool_output_is_recorded_not_raised(command, garbage, where, expected):
    snap = rich_snapshot()
    snap.commands[command] = CommandOutput(command, 0, garbage.encode())
    facts = build_facts(snap)
    assert where(facts).startswith(expected)


@pytest.mark.parametrize("command", ["ibstat", "ibv_devinfo", "rdma_link", "ibdev2netdev", "lspci_vvv",
                                     "mlnx_qos/enp4s0f0np0", "nvidia_smi_topo", f"mlxconfig/{PF0}"])
def test_every_truncation_of_a_real_output_builds(command):
    """Cut a real output after every line and in the middle of every line: facts or FactsError."""
    base = rich_snapshot()
    text = base.commands[command].stdout
    cuts = sorted({i for i, c in enumerate(text) if c == 10} | {i + 3 for i, c in enumerate(text) if c == 10})
    for cut in cuts:
        snap = rich_snapshot()
        snap.commands[command].stdout = text[:cut]
        assert isinstance(facts_or_error(snap), NodeFacts), cut


def test_tool_failure_exit_code_and_stderr_are_recorded():
    snap = rich_snapshot()
    snap.commands["ibstat"] = CommandOutput("ibstat", 1, b"", b"ibpanic: [12] main: stat of IB device 'mlx5_9' failed")
    facts = build_facts(snap)
    assert facts.rdma.tool_errors["ibstat"] == "exit 1: ibpanic: [12] main: stat of IB device 'mlx5_9' failed"


def test_contradictory_sources_keep_sysfs_and_record_the_disagreement():
    snap = rich_snapshot()
    snap.files[f"{IB}/mlx5_0/ports/1/state"] = b"1: DOWN\n"
    facts = build_facts(snap)
    port = facts.rdma.devices["mlx5_0"].ports[1]
    assert port.state == "DOWN" and port.sources["state"] == "sysfs"
    assert "state: sysfs DOWN, rdma link ACTIVE" in port.disagreements


def test_tool_naming_devices_sysfs_does_not_have_is_a_note():
    snap = rich_snapshot()
    snap.commands["ibdev2netdev"].stdout = b"mlx5_7 port 1 ==> ghost0 (Up)\n"
    facts = build_facts(snap)
    assert "ibdev2netdev lists mlx5_7, not in /sys/class/infiniband: ignored" in facts.rdma.notes
    assert "mlx5_7" not in facts.rdma.devices


# -- odd values where numbers are expected ---------------------------------------------------------

@pytest.mark.parametrize("value", ["²", "٣", "1.2.3", ".", "nan", "-1", "9" * 5000, "\x00", "\udcff"])
@pytest.mark.parametrize("path", [
    f"{IB}/mlx5_0/ports/1/rate", f"{IB}/mlx5_0/ports/1/lid", f"{IB}/mlx5_0/ports/1/gids/3",
    f"{NET}/enp4s0f0np0/ecn/roce_np/enable/3", f"{NET}/enp4s0f0np0/ecn/roce_np/cnp_dscp",
    "/proc/sys/net/ipv4/conf/all/rp_filter", "/proc/modules", f"{IB}/mlx5_0/tc/1/traffic_class",
    "/sys/kernel/config/rdma_cm/mlx5_0/ports/1/default_roce_tos", "/sys/module/mlx5_core/version"])
def test_odd_attribute_values_never_crash(path, value):
    snap = rich_snapshot()
    snap.files[path] = (value + "\n").encode("utf-8", "surrogateescape")
    assert isinstance(facts_or_error(snap), NodeFacts)


@pytest.mark.parametrize("name", ["²", "٣", "1²", "*", "[", "0x1"])
def test_odd_sysfs_directory_names_never_crash(name):
    """Port, GID, ToS and ECN priority directories are numbers in sysfs; a hostile tree may differ."""
    snap = rich_snapshot()
    for path in (f"{IB}/mlx5_0/ports/{name}/state", f"{IB}/mlx5_0/ports/1/gids/{name}",
                 f"{IB}/mlx5_0/tc/{name}/traffic_class", f"{NET}/enp4s0f0np0/ecn/roce_np/enable/{name}"):
        snap.files[path] = b"1\n"
    facts = build_facts(snap)
    assert set(facts.rdma.devices["mlx5_0"].ports) == {1}
    assert set(facts.netdevs["enp4s0f0np0"].ecn_np) == set(range(8))


@pytest.mark.parametrize("uid", ["²", "0²", "-1", "", "١"])
def test_odd_uid_is_unknown(uid):
    snap = rich_snapshot()
    snap.meta["uid"] = uid
    assert build_facts(snap).system.uid is None


def test_glob_characters_in_interface_names_do_not_borrow_other_interfaces_files():
    """An interface named ``e*`` (Linux accepts it) must not see enp4s0f0np0's ECN tree."""
    snap = rich_snapshot()
    for name in ("e*", "[e]np4s0f0np0", "enp4s0f0np?"):
        snap.files[f"{NET}/{name}/mtu"] = b"1500\n"
    facts = build_facts(snap)
    for name in ("e*", "[e]np4s0f0np0", "enp4s0f0np?"):
        assert facts.netdevs[name].ecn_np == {} and not facts.netdevs[name].has_ecn_tree
    assert facts.netdevs["enp4s0f0np0"].ecn_np[3] == 1


def test_odd_netplan_yaml_is_an_unreadable_file_not_a_crash():
    """net.persistence reads /etc/netplan as YAML: wrong types and deep nesting are 'unreadable'."""
    from rdma_preflight.checks.net import netplan_interfaces

    files = {"/etc/netplan/a.yaml": "network:\n  ethernets: [1, 2]\n",
             "/etc/netplan/b.yaml": "network:\n  ethernets:\n    x: {addresses: 5, mtu: '\u00b2'}\n",
             "/etc/netplan/c.yaml": "[" * 5000,
             "/etc/netplan/d.yaml": "network:\n  ethernets:\n    y: {mtu: 4200, addresses: [10.0.0.1/24]}\n",
             "/etc/netplan/e.yaml": "network:\n  ethernets:\n    z: {mtu: '\u00b2'}\n"}
    interfaces, bad = netplan_interfaces(files)
    assert bad == ["/etc/netplan/a.yaml", "/etc/netplan/b.yaml", "/etc/netplan/c.yaml"]
    assert interfaces["y"].mtu == 4200 and interfaces["y"].addresses == {"10.0.0.1/24"}
    assert interfaces["z"].mtu is None


# -- ip -j output: the one source whose loss is a FactsError ---------------------------------------------

@pytest.mark.parametrize("ip_link, reason", [
    (b"not json", "ip -j link: not JSON"),
    (b"[1, 2]", "unexpected ip -j content"),
    (b'[{"ifname": "x"}]', "unexpected ip -j content: KeyError('ifindex')"),
    (b'[{"ifname": "x", "ifindex": 1, "mtu": 1500, "linkinfo": [1]}]', "unexpected ip -j content"),
    (b"[" * 100_000, "ip -j link: not JSON"),
    (b'{"ifname": "x"}', "ip -j link: expected a JSON list"),
])
def test_unusable_ip_json_is_a_facts_error_with_the_reason(ip_link, reason):
    snap = rich_snapshot()
    snap.commands["ip_link"] = CommandOutput("ip_link", 0, ip_link)
    with pytest.raises(FactsError) as err:
        build_facts(snap)
    assert reason in str(err.value)


def test_empty_ip_link_output_is_noted():
    snap = rich_snapshot()
    snap.commands["ip_link"] = CommandOutput("ip_link", 0, b"")
    facts = build_facts(snap)
    assert facts.net.links == {}
    assert facts.notes == ["'ip -j -d link show' printed nothing: the node's interfaces are unknown"]


def test_failed_ip_command_is_a_facts_error():
    snap = rich_snapshot()
    snap.commands["ip_route"] = CommandOutput("ip_route", 255, b"", b"Error: ipv4: FIB table does not exist.\n")
    with pytest.raises(FactsError) as err:
        build_facts(snap)
    assert str(err.value) == "'ip -j' output missing for ip_route: Error: ipv4: FIB table does not exist."


# -- fuzzed evidence: every record of the rich node poisoned at random ---------------------------------

_PARSER_FOR = {"ibstat": "ibstat.parse", "ibv_devinfo": "ibv_devinfo.parse", "rdma_link": "rdma_link.parse",
               "rdma_link_json": "rdma_link.parse", "rdma_system": "rdma_system.parse",
               "ibdev2netdev": "ibdev2netdev.parse", "ofed_info": "ofed_info.parse", "lsmod": "lsmod.parse",
               "lspci_vvv": "lspci.parse_vvv", "lspci_nn": "lspci.parse_nn",
               "nvidia_smi_topo": "nvidia_smi_topo.parse", "mlnx_qos/enp4s0f0np0": "mlnx_qos.parse",
               "ethtool_S/enp4s0f0np0": "ethtool_stats.parse", f"mlxconfig/{PF0}": "mlxconfig.parse",
               "dcb_pfc/enp4s0f1np1": "dcb.parse_pfc", "dcb_app/enp4s0f1np1": "dcb.parse_app"}
_SEEDS = {t.name: t.seeds for t in TARGETS}
_ODD = st.sampled_from(ODD_VALUES)
_GARBAGE = st.one_of(_ODD.map(lambda v: (v + "\n").encode()), st.binary(max_size=64),
                     st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")))
_ODD_NAMES = st.sampled_from(("²", "*", "[", "..", "x y", "a$(id)", "ñ0", "-1", "9" * 30, "", "0x2", "1²"))


@st.composite
def poisoned_snapshot(draw) -> Snapshot:
    snap = rich_snapshot()
    keys = [("file", p) for p in sorted(snap.files)] + [("cmd", c) for c in sorted(snap.commands)] \
        + [("link", p) for p in sorted(snap.links)] + [("meta", k) for k in sorted(snap.meta)]
    for kind, key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=8, unique=True)):
        if kind == "file":
            snap.files[key] = draw(_GARBAGE)
        elif kind == "cmd":
            out = snap.commands[key]
            parser = _PARSER_FOR.get(key)
            if parser and draw(st.booleans()):
                data = draw(fuzzed_input(_SEEDS[parser]))
                out.stdout = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
            else:
                out.stdout = draw(_GARBAGE)
            out.rc = draw(st.sampled_from((0, 0, 0, 1, 127, -9, None)))
            out.stderr = draw(_GARBAGE)
        elif kind == "link":
            snap.links[key] = draw(st.one_of(_ODD, st.text(max_size=40),
                                             _ODD_NAMES.map(lambda n: f"/sys/devices/pci0000:{n}/0000:80:01.0/{n}")))
        else:
            snap.meta[key] = draw(_ODD)
    for _ in range(draw(st.integers(0, 3))):   # records a hostile node may add
        name = draw(_ODD_NAMES)
        snap.files[draw(st.sampled_from((
            f"{IB}/{name}/ports/1/state", f"{IB}/mlx5_0/ports/{name}/rate", f"{NET}/{name}/mtu",
            f"{NET}/{name}/ecn/roce_rp/enable/{name}", f"/proc/sys/net/ipv4/conf/{name}/rp_filter",
            f"/sys/module/{name}/version", f"/etc/modprobe.d/{name}.conf")))] = draw(_GARBAGE)
        snap.commands[draw(st.sampled_from(("mlxconfig/", "mlnx_qos/", "dcb_pfc/", "ethtool_S/"))) + name] = \
            CommandOutput(name, 0, draw(_GARBAGE))
    snap.missing.update(draw(st.sets(st.sampled_from(("ibstat", "mlnx_qos", "ethtool", "lspci", "nvidia-smi")))))
    return snap


@FUZZ_SETTINGS
@given(poisoned_snapshot())
def test_poisoned_evidence_gives_facts_or_facts_error(snap):
    assert isinstance(facts_or_error(snap), (NodeFacts, FactsError))


@FUZZ_SETTINGS
@given(poisoned_snapshot())
def test_poisoned_evidence_survives_save_and_load(tmp_path_factory, snap):
    """What a hostile node sends is stored and read back byte for byte, and decodes the same way."""
    d = snap.save(tmp_path_factory.mktemp("snap") / "s")
    back = Snapshot.load(d)
    assert back.files == snap.files and back.links == snap.links and back.meta == snap.meta
    assert {k: (c.rc, c.stdout, c.stderr) for k, c in back.commands.items()} == \
        {k: (c.rc, c.stdout, c.stderr) for k, c in snap.commands.items()}


# -- gather_node and a real 3-node run -------------------------------------------------------------------

def _save(snap: Snapshot, tmp_path, name: str):
    snap.node = name
    return snap.save(tmp_path / name)


def test_gather_node_reports_a_clear_reason(tmp_path):
    snap = rich_snapshot()
    snap.commands["ip_addr"] = CommandOutput("ip_addr", 0, b'[{"ifname": "eth0", "addr_info": [{"family": "inet"}]}]')
    path = _save(snap, tmp_path, "poisoned")
    g = gather_node(SnapshotTarget(node="poisoned", url=f"snapshot://{path}", path=str(path)))
    assert g.facts is None
    assert g.error == "unexpected ip -j content: KeyError('local')"


def test_gather_node_on_a_broken_snapshot_index(tmp_path):
    path = _save(rich_snapshot(), tmp_path, "broken")
    index = json.loads((path / "snapshot.json").read_text())
    index["commands"]["ibstat"]["stdout"] = "../../etc/passwd"
    (path / "snapshot.json").write_text(json.dumps(index))
    g = gather_node(SnapshotTarget(node="broken", url=f"snapshot://{path}", path=str(path)))
    assert g.facts is None and g.error == "unsafe path in snapshot: '../../etc/passwd'"


def test_one_poisoned_node_leaves_the_others_untouched(tmp_path):
    good1, good2 = two_rail_snapshot(tmp_path, "good-1"), two_rail_snapshot(tmp_path, "good-2")
    bad = two_rail_snapshot(tmp_path, "poisoned-3")
    (bad / "commands" / "ip_link.out").write_bytes(b'[{"ifname": "ens1f0np0", "ifindex": "one", "mtu": 1}]')
    (bad / "commands" / "ibstat.out").write_bytes(b"\xff\xfe garbage \x00")
    prof = two_rail_profile(tmp_path)
    run = run_checks(tmp_path / "rep", "--nodes", f"snapshot://{good1},snapshot://{bad},snapshot://{good2}",
                     "--profile", str(prof), "--check", "net.rail_count", "--check", "net.mtu")
    assert run.rc == 3, run.stdout + run.stderr
    nodes = {n["name"]: n for n in run.results["nodes"]}
    assert nodes["poisoned-3"]["status"] == "error"
    assert nodes["poisoned-3"]["error"] == ("unexpected ip -j content: ValueError(\"invalid literal for int() "
                                            "with base 10: 'one'\")")
    for good in ("good-1", "good-2"):
        assert nodes[good]["status"] == "ok" and nodes[good]["error"] is None
        assert {r["check"]: r["outcome"] for r in run.records(node=good)} == {"net.rail_count": "pass",
                                                                             "net.mtu": "pass"}
    assert {r["outcome"] for r in run.records(node="poisoned-3")} == {"error"}
    suites = {s.get("name"): s for s in run.junit.findall("testsuite")}
    assert suites["poisoned-3"].find("testcase/error") is not None
    assert suites["good-1"].find("testcase/error") is None and suites["good-2"].find("testcase/failure") is None
    assert "poisoned-3" in run.stdout and "unexpected ip -j content" in run.stdout
