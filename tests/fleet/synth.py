"""Synthetic fleets for the fleet-report tests and bench/bench_fleet_eval.py.

Everything here is SYNTHETIC test data: hand-made sysfs/ip state for 8-rail RoCE GPU nodes
(SnapshotBuilder), plus two real recorded tool outputs (ofed_info -s, rdma system) from
tests/fixtures/outputs; and hand-made results documents in schema rdma-preflight/results v1.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rdma_preflight.collect.snapshot import FORMAT, VERSION, Snapshot
from tests.snapbuild import SnapshotBuilder

ROOT = Path(__file__).resolve().parents[2]
RAILS = 8
HCA = "MT4129"          # ConnectX-7


@dataclass
class NodeVariant:
    """How one synthetic node differs from the fleet's norm."""

    fw: str = "28.39.1002"
    kernel: str = "6.8.0-45-generic"
    mtu: int = 4200
    ecn_off_nics: tuple[int, ...] = ()       # 1-based NIC positions with ECN NP prio 5 off
    mlx5_version: str = "23.07-0.5.1"
    rails: int = RAILS
    extra: dict = field(default_factory=dict)


def rail_node(name: str, index: int, v: NodeVariant | None = None) -> Snapshot:
    """A synthetic 8-rail RoCE node (hand-made state + real ofed_info/rdma system outputs)."""
    v = v or NodeVariant()
    host = index % 250 + 2
    b = (SnapshotBuilder(name).iface("lo", 65536, link_type="loopback")
         .iface("eth0", 1500, ipv4=[f"10.0.{index // 250 % 250}.{host}/16"], mac="02:00:00:00:00:ee")
         .default_rules().route("default", dev="eth0", gateway="10.0.0.1"))
    b.snap.meta["kernel"] = v.kernel
    mods = ["mlx5_ib 475136 0 - Live 0x0", "mlx5_core 2351104 1 mlx5_ib, Live 0x0",
            "ib_core 458752 2 mlx5_ib,rdma_ucm, Live 0x0", "ib_uverbs 184320 1 mlx5_ib, Live 0x0",
            "rdma_ucm 32768 0 - Live 0x0", "nvidia_peermem 16384 0 - Live 0x0"]
    b.file("/proc/modules", "\n".join(mods) + "\n")
    b.attr("/sys/module/mlx5_core/version", v.mlx5_version)
    b.attr("/sys/module/mlx5_ib/version", v.mlx5_version)
    b.attr("/sys/class/dmi/id/product_serial", f"SN{index:06d}")
    b.attr("/sys/class/dmi/id/product_name", "SYS-821GE-TNHR")
    b.attr("/sys/class/dmi/id/sys_vendor", "Supermicro")
    b.fixture_cmd("ofed_info", "ofed_info", "daocloud-mlnx-ofed-23.07.txt")
    b.fixture_cmd("rdma_system", "rdma_system", "spiderpool-exclusive-mode.txt")
    for i in range(1, v.rails + 1):
        nd, dev, pci = f"ens{i}f0np0", f"mlx5_{i - 1}", f"0000:{0x10 + i:02x}:00.0"
        ip = f"172.16.{i}.{host}"
        b.iface(nd, v.mtu, ipv4=[f"{ip}/24"], pci=pci, driver="mlx5_core", mac=f"02:00:00:00:{i:02x}:01")
        base = f"/sys/class/infiniband/{dev}"
        b.link(f"{base}/device", f"/sys/devices/pci0000:80/0000:80:01.0/{pci}")
        b.attr(f"{base}/fw_ver", v.fw).attr(f"{base}/hca_type", HCA).attr(f"{base}/board_id", "MT_0000000838")
        b.attr(f"{base}/node_guid", f"b8ce:f603:00{i:02x}:{index:04x}")
        p = f"{base}/ports/1"
        b.attr(f"{p}/state", "4: ACTIVE").attr(f"{p}/phys_state", "5: LinkUp")
        b.attr(f"{p}/rate", "400 Gb/sec (4X NDR)").attr(f"{p}/link_layer", "Ethernet")
        octets = "".join(f"{int(o):02x}" for o in ip.split("."))
        b.attr(f"{p}/gids/3", f"0000:0000:0000:0000:0000:ffff:{octets[:4]}:{octets[4:]}")
        b.attr(f"{p}/gid_attrs/types/3", "RoCE v2").attr(f"{p}/gid_attrs/ndevs/3", nd)
        for prio in range(8):
            on = int(prio == 5 and i not in v.ecn_off_nics)
            b.attr(f"/sys/class/net/{nd}/ecn/roce_np/enable/{prio}", on)
            b.attr(f"/sys/class/net/{nd}/ecn/roce_rp/enable/{prio}", int(prio == 5))
        b.attr(f"/sys/class/net/{nd}/ecn/roce_np/cnp_dscp", 48)
        b.attr(f"/sys/class/net/{nd}/device/sriov_numvfs", 8)
        b.rule(100 + i, 100 + i, src=f"{ip}/32")
        b.route("default", dev=nd, gateway=f"172.16.{i}.1", table=100 + i)
        b.route(f"172.16.{i}.0/24", dev=nd, protocol="kernel", scope="link", prefsrc=ip)
    return b.build()


def save_tar(snap: Snapshot, dest: Path) -> Path:
    """Write a snapshot as NODE.tar.gz in one go (snapshot format v1: the index names each
    stored member; members are numbered here instead of path-encoded, which is faster)."""
    members: dict[str, bytes] = {}
    index = {"format": FORMAT, "version": VERSION, "node": snap.node, "meta": snap.meta,
             "missing": sorted(snap.missing), "exists": sorted(snap.exists), "unreadable": sorted(snap.unreadable),
             "links": snap.links, "commands": {}, "files": {}}
    for i, (name, out) in enumerate(sorted(snap.commands.items())):
        members[f"commands/{i}.out"] = out.stdout
        index["commands"][name] = {"rc": out.rc, "stdout": f"commands/{i}.out"}
        if out.stderr:
            members[f"commands/{i}.err"] = out.stderr
            index["commands"][name]["stderr"] = f"commands/{i}.err"
    for i, (path, data) in enumerate(sorted(snap.files.items())):
        members[f"files/{i}"] = data
        index["files"][path] = f"files/{i}"
    members["snapshot.json"] = json.dumps(index, sort_keys=True).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest.write_bytes(buf.getvalue())
    return dest


def write_fleet(out: Path, count: int, variant_of=lambda i: None, prefix: str = "gpu") -> Path:
    """``count`` synthetic nodes as snapshot tarballs + a nodes file; returns the nodes file."""
    snaps = out / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    nodes = []
    for i in range(count):
        name = f"{prefix}-{i:05d}"
        save_tar(rail_node(name, i, variant_of(i)), snaps / f"{name}.tar.gz")
        nodes.append({"name": name, "target": f"snapshot://snapshots/{name}.tar.gz"})
    nf = out / "nodes.yaml"
    nf.write_text(yaml.safe_dump({"defaults": {"profile": str(ROOT / "profiles" / "roce-sriov-shared-subnet.yaml")},
                                  "nodes": nodes}, sort_keys=False))
    return nf


# -- synthetic results documents --------------------------------------------------------------

CHECKS = (("net.rail_count", "The profile's rails are found on the node", "net", False),
          ("net.mtu", "Rail MTU matches the profile", "net", True),
          ("qos.ecn", "ECN enabled on the RDMA priority", "qos", True),
          ("rdma.netns_mode", "RDMA netns mode matches the design", "rdma", False))


def record(node: str, check: tuple, outcome: str, rail: str | None = None, **extra) -> dict:
    cid, title, area, _ = check
    r = {"node": node, "check": cid, "title": title, "area": area, "rail": rail,
         "netdev": f"ens{rail[4:]}f0np0" if rail else None, "outcome": outcome,
         "summary": f"{cid} {outcome}", "expected": "", "found": "", "fix": "", "remediation": None,
         "waiver": None, "test_id": f"test_{cid.split('.')[1]}[{node}{':' + rail if rail else ''}]",
         "seconds": 0.001, "evidence": {}}
    if outcome in ("fail", "warn", "error"):
        r.update(expected=f"{cid} as designed", found=f"{cid} differs", fix=f"fix {cid}")
    r.update(extra)
    return r


def synthetic_doc(nodes: list[str], outcome_of=lambda node, check, rail: "pass", rails: int = 2,
                  started: str = "2026-11-29T10:00:00+00:00", node_errors: dict | None = None) -> dict:
    """A SYNTHETIC results document: CHECKS on ``nodes``, rail checks on rail1..rails."""
    node_errors = node_errors or {}
    results = []
    for n in nodes:
        for c in CHECKS:
            for rail in ([f"rail{i}" for i in range(1, rails + 1)] if c[3] else [None]):
                o = "error" if n in node_errors else outcome_of(n, c[0], rail)
                results.append(o if isinstance(o, dict) else record(n, c, o, rail))
    from collections import Counter

    counts = Counter(r["outcome"] for r in results)
    return {
        "schema": "rdma-preflight/results", "version": 1, "tool": {"name": "rdma-preflight", "version": "0.1.0"},
        "run": {"started": started, "finished": started.replace("10:00:00", "10:05:00"), "partial": False,
                "remediate": "off", "example_fleet": False, "exit_code": 1 if counts["fail"] else 0},
        "summary": {o: counts.get(o, 0) for o in ("pass", "fail", "warn", "skip", "error", "waived", "remediated")},
        "nodes": [{"name": n, "target": f"snapshot://{n}", "profile": "synthetic-8rail", "profile_file": None,
                   "labels": {}, "status": "error" if n in node_errors else "ok", "error": node_errors.get(n),
                   "collect_seconds": 0.25, "round_trips": 1,
                   "identity": None if n in node_errors else {
                       "hostname": n, "kernel": "6.8.0-45-generic", "os": "Ubuntu 24.04 LTS", "serial": f"SN-{n}",
                       "product": "SYS-821GE-TNHR", "vendor": "Supermicro", "collected_at": "2026-11-29T10:00:01Z"}}
                  for n in nodes],
        "results": results,
    }
