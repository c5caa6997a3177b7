"""The bundled example fleet (examples/): built reproducibly from real recorded outputs, every
file accounted for, and the real harness gives exactly the outcomes the examples are meant to
show: two compliant nodes (RoCE, InfiniBand) and one RoCE node whose drift fails one check per
kind of drift, with an actionable message."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rdma_preflight.checks.registry import load_all
from tests.spine.harness_util import run_checks

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
SNAPSHOTS = EX / "snapshots"
SOURCES = EX / "sources"
FIXTURE_DIRS = (ROOT / "tests" / "fixtures" / "outputs", Path("/work/shared/fixtures/outputs"))
ROCE1, ROCE2, IB1 = "roce-gpu-node-1", "roce-gpu-node-2", "ib-gpu-node-1"
NODES = (ROCE1, ROCE2, IB1)

# Every record of the drift node that is not a pass: (node, check, rail) -> outcome. One drift
# per rail (rail1 is clean); a port that is down also fails the checks that read it through that
# port, and makes the checks that need an active port skip.
EXPECTED = {
    (ROCE2, "net.policy_rule", "rail2"): "fail",        # `from 172.16.2.12 lookup 152` deleted
    (ROCE2, "net.mtu", "rail3"): "fail",                # MTU 1500 ...
    (ROCE2, "rdma.active_mtu", "rail3"): "fail",        # ... so the RoCE active MTU is 1024
    (ROCE2, "net.rail_up", "rail4"): "fail",            # administratively down (ibstat: Down/Disabled)
    (ROCE2, "rdma.port_state", "rail4"): "fail",
    (ROCE2, "rdma.roce_gid", "rail4"): "skip",          # no GIDs while the port is down: port_state is the cause
    (ROCE2, "rdma.rate", "rail4"): "skip",
    (ROCE2, "rdma.active_mtu", "rail4"): "skip",
    (ROCE2, "net.policy_table", "rail4"): "skip",       # the kernel removed the routes of a down link
    (ROCE2, "qos.ecn", "rail5"): "fail",                # ECN NP/RP off on priority 5
    (ROCE2, "qos.pfc", "rail6"): "fail",                # real mlnx_qos output: PFC on priority 3
    (ROCE2, "pcie.acs", "rail7"): "fail",               # switch port above the NIC: SrcValid+
    (ROCE2, "net.rail_up", "rail8"): "fail",            # no carrier (ibstat: Down/Disabled)
    (ROCE2, "rdma.port_state", "rail8"): "fail",
    (ROCE2, "rdma.roce_gid", "rail8"): "skip",
    (ROCE2, "rdma.rate", "rail8"): "skip",
    (ROCE2, "rdma.active_mtu", "rail8"): "skip",
    (ROCE2, "rdma.netns_mode", None): "fail",           # shared running, exclusive persisted
    (ROCE2, "gpu.peermem", None): "fail",               # nvidia_peermem not loaded
    (ROCE2, "qos.persistence", None): "warn",           # rdma-qos.service failed
}

# Skips that are right for the design (check id glob -> words the reason must contain).
ROCE_SKIPS = {"k8s.*": "no cluster given", "bw.*": "", "ib.*": "InfiniBand only",
              "net.ipoib_mode": "InfiniBand only", "net.rdma_subnet_route": "per-node-subnet"}
IB_SKIPS = {"k8s.*": "no cluster given", "bw.*": "", "qos.*": "RoCE only", "rdma.roce_gid": "RoCE only",
            "net.policy_rule": "InfiniBand: no gateway", "net.policy_table": "InfiniBand: no gateway",
            "net.rdma_rule": "InfiniBand: no gateway", "net.rdma_subnet_route": "InfiniBand: no gateway",
            "rdma.rate": "the profile sets no rdma.rate_gbps",
            "rdma.stack_version": "the profile sets no rdma.min_stack_version",
            "gpu.gdrcopy": "gpudirect.gdrcopy is false"}
DESIGN_SKIPS = {ROCE1: ROCE_SKIPS, ROCE2: ROCE_SKIPS, IB1: IB_SKIPS}


def build(out: Path) -> None:
    proc = subprocess.run([sys.executable, str(EX / "build_examples.py"), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- (a) reproducible, committed == built ----------------------------------------------------

def test_build_is_deterministic_and_committed_snapshots_equal_a_fresh_build(tmp_path):
    build(tmp_path / "a")
    build(tmp_path / "b")
    fresh = tree(tmp_path / "a")
    assert fresh == tree(tmp_path / "b"), "two builds differ: build_examples.py is not deterministic"
    committed = tree(SNAPSHOTS)
    assert sorted(committed) == sorted(fresh), (
        f"files differ: only committed {sorted(set(committed) - set(fresh))[:5]}, "
        f"only built {sorted(set(fresh) - set(committed))[:5]}; run python3 examples/build_examples.py")
    changed = [k for k in fresh if committed[k] != fresh[k]]
    assert not changed, (f"{changed[:5]} differ from a fresh build: change examples/build_examples.py "
                         "(never the snapshots by hand) and re-run it")


def test_snapshots_stay_small():
    total = sum(len(b) for b in tree(SNAPSHOTS).values())
    assert total < 600_000, f"examples/snapshots holds {total} bytes"


def test_sources_are_verbatim_copies_with_their_header():
    files = sorted(SOURCES.rglob("*.txt"))
    assert files
    for p in files:
        rel = p.relative_to(SOURCES)
        text = p.read_text()
        assert text.startswith("# source: https://") and "\n# context: " in text and "\n# ---\n" in text, rel
        for base in FIXTURE_DIRS:
            if (base / rel).is_file():
                assert (base / rel).read_bytes() == p.read_bytes(), f"{rel} differs from {base / rel}"


def load_builder():
    """examples/build_examples.py as a module (examples/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_examples", EX / "build_examples.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod              # dataclasses look their module up while building
    spec.loader.exec_module(mod)
    return mod


def test_lspci_source_is_whole_blocks_of_the_gpu_nic_paths():
    b = load_builder()
    body = b.source("lspci_vvv/gpud-h100-pex890xx-gpu-nic-path-bridges.txt").body
    blocks = body.rstrip("\n").split("\n\n")
    assert [blk.split(" ", 1)[0] for blk in blocks] == [bdf for row in b.TREE for bdf in row[:4]]
    for blk in blocks:
        assert blk.splitlines()[-1] == "\tKernel driver in use: pcieport"
        assert "SrcValid+" not in "".join(line for line in blk.splitlines() if "ACSCtl" in line)


# ---- (b) the harness gives exactly the intended outcomes ---------------------------------------

@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    return run_checks(tmp_path_factory.mktemp("example-fleet"), "--nodes-file", str(EX / "fleet.yaml"))


def _key(rec: dict) -> tuple:
    return rec["node"], rec["check"], rec["rail"]


def test_fleet_file_names_the_three_nodes_and_their_profiles():
    data = yaml.safe_load((EX / "fleet.yaml").read_text())
    assert [n["name"] for n in data["nodes"]] == list(NODES)
    for n in data["nodes"]:
        assert (EX / n["profile"]).is_file()
        assert (EX / n["target"].removeprefix("snapshot://") / "snapshot.json").is_file()


def test_every_registered_check_runs_on_every_node(fleet_run):
    ids = {c for c in load_all() if not c.startswith("bw.")}
    for node in NODES:
        ran = {r["check"] for r in fleet_run.records(node=node)}
        assert ids <= ran, f"{node}: no record for {sorted(ids - ran)}"


def test_outcomes_are_exactly_the_expected_ones(fleet_run):
    assert fleet_run.rc == 1, fleet_run.stdout[-2000:] + fleet_run.stderr[-2000:]
    records = fleet_run.results["results"]
    seen = {_key(r): r["outcome"] for r in records}
    for key, outcome in EXPECTED.items():
        assert seen.get(key) == outcome, f"{key}: {seen.get(key)} (expected {outcome})"
    for r in records:
        if _key(r) in EXPECTED:
            continue
        where = f"{r['node']} {r['check']} {r['rail']}: {r['outcome']} {r['summary']!r}"
        if r["outcome"] == "pass":
            continue
        assert r["outcome"] == "skip", where
        reasons = [why for glob, why in DESIGN_SKIPS[r["node"]].items() if fnmatch.fnmatchcase(r["check"], glob)]
        assert reasons and any(why in r["summary"] for why in reasons), f"skip not right for the design: {where}"


def test_compliant_nodes_have_nothing_to_fix(fleet_run):
    for node in (ROCE1, IB1):
        bad = [(r["check"], r["rail"], r["outcome"]) for r in fleet_run.records(node=node)
               if r["outcome"] not in ("pass", "skip")]
        assert not bad, f"{node}: {bad}"


def test_drift_findings_say_what_to_do(fleet_run):
    for r in fleet_run.records(node=ROCE2):
        if r["outcome"] in ("fail", "warn"):
            assert r["expected"] and r["found"] and r["fix"], f"{r['check']} {r['rail']}: {r}"
    by = {_key(r): r for r in fleet_run.records(node=ROCE2)}
    assert "mlnx_qos -i enp188s0np0 --pfc 0,0,0,0,0,1,0,0" in by[(ROCE2, "qos.pfc", "rail6")]["fix"]
    assert "setpci -s 0000:c9:02.0" in by[(ROCE2, "pcie.acs", "rail7")]["fix"]
    assert "update-initramfs -u" in by[(ROCE2, "rdma.netns_mode", None)]["fix"]
    assert "ip rule add from 172.16.2.12 lookup 152" in by[(ROCE2, "net.policy_rule", "rail2")]["fix"]
    assert "ip link set dev enp94s0np0 up" in by[(ROCE2, "net.rail_up", "rail4")]["fix"]


def test_the_infiniband_bond_is_not_a_rail(fleet_run):
    (rec,) = fleet_run.records(check="net.rail_count", node=IB1)
    assert rec["outcome"] == "pass" and "bond0" not in rec["found"]
    devices = {r["evidence"].get("device") for r in fleet_run.records(check="rdma.rail_device", node=IB1)}
    assert "mlx5_bond_0" not in devices and len(devices) == 8


# ---- (c) provenance ------------------------------------------------------------------------------

ROW = re.compile(r"^\| (?P<what>(?:`[^`]+` ?)+) \| (?P<kind>[^|]+) \| (?P<why>.+) \|$")


def provenance_rows(node: str) -> list[tuple[list[str], str, str]]:
    rows = []
    for line in (SNAPSHOTS / node / "PROVENANCE.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            rows.append((re.findall(r"`([^`]+)`", m.group("what")), m.group("kind").strip(), m.group("why")))
    return rows


@pytest.mark.parametrize("node", NODES)
def test_every_file_of_a_snapshot_is_in_its_provenance(node):
    root = SNAPSHOTS / node
    index = json.loads((root / "snapshot.json").read_text())
    stored: dict[str, str] = {}
    for host, rel in index["files"].items():
        stored[rel] = host
    for name, entry in index["commands"].items():
        stored[entry["stdout"]] = f"command {name}"
        if entry.get("stderr"):
            stored[entry["stderr"]] = f"command {name}"
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(stored) | {"snapshot.json", "PROVENANCE.md"}
    keys = sorted(set(stored.values()) | {f"link {k}" for k in index["links"]}
                  | {f"missing {t}" for t in index["missing"]} | {f"exists {p}" for p in index["exists"]})
    rows = provenance_rows(node)
    assert rows
    patterns = [w for ws, _, _ in rows for w in ws]
    loose = [k for k in keys if not any(fnmatch.fnmatchcase(k, w) for w in patterns)]
    assert not loose, f"{node}: not in PROVENANCE.md: {loose[:10]}"
    idle = [w for w in patterns if not any(fnmatch.fnmatchcase(k, w) for k in keys)]
    assert not idle, f"{node}: PROVENANCE.md rows that match nothing: {idle}"
    for ws, kind, why in rows:
        assert kind.split()[0] in ("real", "derived", "hand-made"), (ws, kind)
        if kind.startswith("real"):
            assert "`sources/" in why and "https://" in why, (ws, why)
        for rel in re.findall(r"`sources/([^`]+\.txt)`", why):
            assert (SOURCES / rel).is_file(), f"{node}: {rel} cited but not in examples/sources"


def test_every_source_is_used():
    cited = "".join((SNAPSHOTS / n / "PROVENANCE.md").read_text() for n in NODES)
    unused = [str(p.relative_to(SOURCES)) for p in SOURCES.rglob("*.txt")
              if f"sources/{p.relative_to(SOURCES)}" not in cited]
    assert not unused, f"examples/sources files no PROVENANCE.md cites: {unused}"


# ---- (d) `python3 -m rdma_preflight run` without --nodes runs this fleet -------------------------

def test_run_without_nodes_uses_the_bundled_fleet(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rdma_preflight", "run", "--report-dir", str(tmp_path / "r")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and "bundled example fleet" in lines[0], proc.stdout[:2000]
    assert proc.returncode == 1, proc.stdout[-2000:]
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert {n for n in (r["node"] for r in results["results"])} == set(NODES)
