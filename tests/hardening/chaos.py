"""A chaos fleet (issue 9): network-namespace test hosts behind real OpenSSH servers, most of
them healthy, the rest broken on purpose.

Every node is a ``tests.lab`` host (its own network namespace, two rail NICs into a fabric
namespace, per-rail policy tables, the RDMA rule) with its own ``sshd`` on 127.0.0.1:22 inside
the namespace, reached through ``ProxyCommand ip netns exec NS socat ...``. What each node does
to the one collector execution the harness sends it:

=============  ===========  ========================================================================
role / kind    class        what the node does
=============  ===========  ========================================================================
passing        (intact)     collected normally; the network checks pass
mtu, down,     (intact)     collected normally with one real drift (rail MTU 1500, rail admin-down,
no-rule, ...                a policy rule deleted or pointing at an empty table, the RDMA rule
                            deleted, a second address): that check fails
hostile-rails  (intact)     rail NICs renamed to formula-looking names (``+cmd@evil``), hostile
                            os-release and labels, metacharacter-named extra interfaces; rail 2 MTU
hostile-names  (intact)     interfaces (and ``iif`` rules) named with shell metacharacters, quotes,
                            markup, unicode, terminal escapes, 15-byte names; RDMA rule deleted
refused        unreachable  no sshd: the node's port 22 refuses the connection
blackhole      unreachable  the ProxyCommand's TCP SYNs vanish (a permanent neighbour on a silent
                            veth): connect hangs
frozen         unreachable  sshd SIGSTOPped: TCP is accepted, no SSH banner ever comes
stall          timeout      the real collector's first 6000 bytes, then the session hangs open
tool-hang      timeout      a vendor tool (``ofed_info``, shadowed on PATH) hangs mid-collection,
                            ignoring SIGTERM (the collector's ``timeout N`` cannot stop it)
noise          garbled      markup and terminal escapes, then 200 kB of random bytes
truncated      garbled      the real stream cut in the middle of a record header
replayed       garbled      a complete stream recorded earlier (another run's nonce)
flood          garbled      the real stream, then output that never ends
=============  ===========  ========================================================================

Everything lives in namespaces and a temp dir this fleet creates (named with the lab's
``rpfl<pid>x<hex>`` prefix, so ``tests.lab.nsutil.cleanup_stale`` removes what a killed run
left); ``cleanup()`` runs on every exit path, including KeyboardInterrupt during the build.
Nothing here is an RDMA device: the network checks see real kernel state, the RDMA checks
see a host without RDMA (the same on every run, which is all the comparison needs).
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml
from pyroute2 import netns as pyroute2_netns

from rdma_preflight.collect.stream import collector_script
from tests.lab.addressing import SHARED
from tests.lab.hosts import Lab, LabNode
from tests.lab.nsutil import LAB_PREFIX, ns_argv, open_ns, sysctl
from tests.lab.sshd import HOST_ENTRY, SshdLab, proxy_command

ROOT = Path(__file__).resolve().parents[2]
BASE_PROFILE = ROOT / "profiles" / "roce-sriov-shared-subnet.yaml"
FAULT_CLASSES = ("unreachable", "timeout", "garbled")
RAILS = 2

# -- hostile data -----------------------------------------------------------------------------------------
# Rail NICs are bound by name in the profile, whose schema admits only [A-Za-z0-9_.@+-]; within that,
# names a spreadsheet reads as formulas.
HOSTILE_RAILS = ("+cmd@evil", "-2+3@x")
# Extra interfaces (and `iif NAME` rules): anything Linux accepts (no '/', ':', blanks; '%' only as %d).
# A shell that ever ran one of the first two would create a CANARIES file in its working directory.
HOSTILE_IFNAMES = ("$(>rpfK)", "a;id>rpfQ", "q'\"`id`", "<b>&amp;<i>", "=HYPERLINK(1)", "@SUM(A1)", "+cmd|calc",
                   "-rf*", "ñandú·ü", "\u202egnp.exe", "\x1b[31mred", "abcdefghijklmno", "]]>", "{{x}}")
CANARIES = ("rpfK", "rpfQ")
OS_NAME = "<script>alert(1)</script> $(>rpfK) \"q\" 'q' =cmd|' /C calc'!A0 \u202e"
UNIT = "[Service]\nExecStart=/bin/sh -c 'echo $(id) `id`; >rpfQ' <b>\n"
HOSTILE_LABELS = {"rack": "=cmd|' /C calc'!A0", "owner": "<img src=x onerror=alert(1)>", "note": "a\"b'c\\d"}
RULE_BASE = 20000

# -- faults -----------------------------------------------------------------------------------------------
BLACKHOLE_LOCAL = "198.51.100.1"
BLACKHOLE_PEER = "198.51.100.2"          # a permanent neighbour nobody answers for
STALL_BYTES = 6000
NUD_PERMANENT = 0x80


@dataclass(frozen=True)
class Fault:
    kind: str
    fault_class: str          # one of FAULT_CLASSES
    backend: str              # ssh or paramiko: the transport the node is reached with
    what: str


FAULTS: tuple[Fault, ...] = (
    Fault("refused", "unreachable", "ssh", "no sshd: port 22 refuses the connection"),
    Fault("blackhole", "unreachable", "ssh", "ProxyCommand connect hangs (SYNs dropped)"),
    Fault("stall", "timeout", "ssh", f"first {STALL_BYTES} bytes of the stream, then the session hangs"),
    Fault("tool-hang", "timeout", "ssh", "ofed_info hangs mid-collection"),
    Fault("noise", "garbled", "ssh", "markup, escapes, then random bytes"),
    Fault("truncated", "garbled", "ssh", "stream cut inside a record header"),
    Fault("replayed", "garbled", "ssh", "a stream recorded earlier, another nonce"),
    Fault("flood", "garbled", "ssh", "the stream, then output that never ends"),
    Fault("blackhole", "unreachable", "paramiko", "ProxyCommand connect hangs (paramiko)"),
    Fault("frozen", "unreachable", "paramiko", "sshd stopped (SIGSTOP): no banner"),
    Fault("frozen", "unreachable", "ssh", "sshd stopped (SIGSTOP): no banner"),
    Fault("stall", "timeout", "paramiko", f"first {STALL_BYTES} bytes, then hangs (paramiko)"),
    Fault("tool-hang", "timeout", "paramiko", "ofed_info hangs mid-collection (paramiko)"),
    Fault("flood", "garbled", "paramiko", "the stream, then endless output (paramiko)"),
)
FAULT_BY_KEY = {f"{f.kind}/{f.backend}": f for f in FAULTS}


@dataclass(frozen=True)
class Drift:
    kind: str
    expect_fail: frozenset      # (check id, rail or None) that must fail on this node


DRIFTS: dict[str, Drift] = {d.kind: d for d in (
    Drift("passing", frozenset()),
    Drift("mtu", frozenset({("net.mtu", "rail2")})),
    Drift("down", frozenset({("net.rail_up", "rail2")})),
    Drift("no-rule", frozenset({("net.policy_rule", "rail1")})),
    Drift("wrong-table", frozenset({("net.policy_rule", "rail2")})),
    Drift("no-rdma-rule", frozenset({("net.rdma_rule", None)})),
    Drift("second-addr", frozenset({("net.address", "rail1")})),
)}
HEALTHY_CYCLE = ("passing", "mtu", "down", "passing", "no-rule", "wrong-table", "passing", "no-rdma-rule",
                 "second-addr", "passing")
HOSTILE_KINDS = ("hostile-rails", "hostile-names")
# both transports: OpenSSH for most, paramiko where its own code paths differ (connect, deadline)
DEFAULT_FAULTS = ("refused/ssh", "blackhole/ssh", "blackhole/paramiko", "stall/ssh", "tool-hang/paramiko",
                  "noise/ssh", "truncated/ssh", "replayed/ssh", "flood/ssh")
FAULT_SHARE = 0.45
PARAMIKO_HEALTHY = 1          # this many passing nodes are reached with paramiko instead of ssh


@dataclass
class ChaosNode:
    name: str
    role: str                 # healthy | hostile | fault
    kind: str                 # drift kind, hostile kind or fault kind
    backend: str
    lab_node: LabNode | None = None
    profile: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    expect_fail: frozenset = frozenset()
    rail_netdevs: tuple[str, ...] = ()

    @property
    def intact(self) -> bool:
        """Its results must come through the chaos run exactly as in a run of its own."""
        return self.role != "fault"

    @property
    def fault_class(self) -> str | None:
        return self.fault.fault_class if self.fault else None

    @property
    def target(self) -> str:
        return f"{self.backend}://{self.name}"


def plan(nodes: int = 20, faults: tuple[str, ...] = DEFAULT_FAULTS, hostile: int | None = None,
         seed: int = 9) -> list[ChaosNode]:
    """The fleet's nodes: ~45% faults (cycling ``faults``), ~10% hostile, the rest healthy; the
    order is shuffled with ``seed`` so broken nodes sit among healthy ones in every wave."""
    if nodes < 1:
        raise ValueError("nodes must be >= 1")
    n_fault = min(nodes, round(nodes * FAULT_SHARE)) if nodes > 1 else 0
    n_hostile = hostile if hostile is not None else (round(nodes * 0.1) if nodes >= 5 else 0)
    n_hostile = min(n_hostile, nodes - n_fault)
    n_healthy = nodes - n_fault - n_hostile
    specs: list[tuple[str, str, str, Fault | None]] = []
    paramiko_left = PARAMIKO_HEALTHY
    for i in range(n_healthy):
        kind = HEALTHY_CYCLE[i % len(HEALTHY_CYCLE)]
        backend = "ssh"
        if kind == "passing" and paramiko_left and i > 0:
            backend, paramiko_left = "paramiko", paramiko_left - 1
        specs.append(("healthy", kind, backend, None))
    specs += [("hostile", HOSTILE_KINDS[i % len(HOSTILE_KINDS)], "ssh", None) for i in range(n_hostile)]
    for i in range(n_fault):
        f = FAULT_BY_KEY[faults[i % len(faults)]]
        specs.append(("fault", f.kind, f.backend, f))
    random.Random(seed).shuffle(specs)
    out = []
    for i, (role, kind, backend, fault) in enumerate(specs, start=1):
        tag = {"healthy": "", "hostile": "", "fault": "f-"}[role]
        name = f"c{i:02d}-{tag}{kind}" + ("-pm" if backend == "paramiko" else "")
        expect = DRIFTS[kind].expect_fail if role == "healthy" else frozenset()
        out.append(ChaosNode(name=name, role=role, kind=kind, backend=backend, fault=fault, expect_fail=expect))
    return out


def write_profile(path: Path, netdevs: tuple[str, ...]) -> Path:
    """A RoCE shared-subnet profile with exactly these rail netdevs (hand-made test profile)."""
    from rdma_preflight.profile import load_profile

    rails = {f"rail{i}": {"nic": {"netdev": nd}} for i, nd in enumerate(netdevs, start=1)}
    path.write_text(yaml.safe_dump({"name": "chaos-lab", "extends": str(BASE_PROFILE), "rails": rails,
                                    "expected_rails": len(netdevs)}, sort_keys=False))
    data = load_profile(path).profile.model_dump(mode="json")
    data["rails"] = {k: v for k, v in data["rails"].items() if k in rails}
    data.pop("nodes", None)
    data.pop("extends", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _remove_stale_etc_netns() -> None:
    """/etc/netns/<lab ns> dirs left by a killed run (their namespace is gone)."""
    live = set(pyroute2_netns.listnetns())
    for stale in Path("/etc/netns").glob(f"{LAB_PREFIX}*"):
        if stale.name not in live:
            shutil.rmtree(stale, ignore_errors=True)


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


class ChaosFleet:
    """Build with ``with ChaosFleet(20) as fleet:``; ``fleet.nodes`` are ChaosNode in run order."""

    def __init__(self, nodes: int | list[ChaosNode] = 20, rails: int = RAILS) -> None:
        self.plan = plan(nodes) if isinstance(nodes, int) else nodes
        self.rails = rails
        self.lab = Lab()
        self.sshd: SshdLab | None = None
        # named like the lab's namespaces: cleanup_stale removes it if this process is killed
        self.workdir = Path(tempfile.gettempdir()) / f"{self.lab.prefix}-chaos"
        self.ssh_config_path = self.workdir / "ssh_config"
        self.known_hosts_path = self.workdir / "known_hosts"
        self._etc_dirs: list[Path] = []
        self._made_etc_netns = False
        self._frozen: list[int] = []
        self.nodes: list[ChaosNode] = []

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> ChaosFleet:
        try:
            self.build()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()

    def build(self) -> None:
        _remove_stale_etc_netns()
        self.workdir.mkdir(mode=0o700)
        self.lab.start()
        self.sshd = SshdLab(self.lab)
        bindir = self.workdir / "bin"
        (bindir / "shadow").mkdir(parents=True)
        self._write_fault_scripts(bindir)
        self.default_profile = write_profile(self.workdir / "profile.yaml",
                                             tuple(f"ens{r}f0np0" for r in range(1, self.rails + 1)))
        for index, node in enumerate(self.plan, start=1):
            node.lab_node = self.lab.add_node(node.name, index, SHARED, rails=self.rails)
            self.nodes.append(node)          # from here on it is cleaned up
            node.profile = self.default_profile
            node.rail_netdevs = tuple(r.ifname for r in node.lab_node.rails)
            if node.role == "healthy":
                self._harden(node)
                self._drift(node)
            elif node.role == "hostile":
                self._harden(node)
                self._hostile(node)
            self._serve(node, bindir)
        self._record_replay(bindir / "replayed.stream")
        self._write_client_files()

    def cleanup(self) -> None:
        """Stop every sshd (thawing frozen ones first), remove namespaces, /etc/netns dirs, temp dir."""
        errors: list[BaseException] = []
        for pid in self._frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen.clear()
        for step in (lambda: self.sshd and self.sshd.cleanup(), self.lab.cleanup):
            try:
                step()
            except Exception as exc:      # keep cleaning
                errors.append(exc)
        for d in self._etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._etc_dirs.clear()
        if self._made_etc_netns:
            try:
                Path("/etc/netns").rmdir()
            except OSError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise errors[0]

    # -- node set-up ----------------------------------------------------------------------------------
    @staticmethod
    def _harden(node: ChaosNode) -> None:
        sysctl(node.lab_node.netns, "net.ipv4.conf.all.arp_ignore", "1")
        sysctl(node.lab_node.netns, "net.ipv4.conf.all.arp_announce", "2")

    @staticmethod
    def _drift(node: ChaosNode) -> None:
        n = node.lab_node
        {"passing": lambda: None, "mtu": lambda: n.set_mtu(2, 1500), "down": lambda: n.set_down(2),
         "no-rule": lambda: n.del_rule(1), "wrong-table": lambda: n.rule_to_wrong_table(2),
         "no-rdma-rule": n.del_rdma_rule, "second-addr": lambda: n.add_second_address(1)}[node.kind]()

    def _hostile(self, node: ChaosNode) -> None:
        n = node.lab_node
        with open_ns(n.netns) as ipr:
            for i, name in enumerate(HOSTILE_IFNAMES):
                ipr.link("add", ifname=name, kind="bridge")
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
                ipr.rule("add", iifname=name, table=RULE_BASE + i, priority=RULE_BASE + i)
            if node.kind == "hostile-rails":
                for rail, new in zip(n.rails, HOSTILE_RAILS):
                    self._rename_rail(ipr, rail, new)
        if node.kind == "hostile-rails":
            node.rail_netdevs = HOSTILE_RAILS[: len(n.rails)]
            node.profile = write_profile(self.workdir / f"profile-{node.name}.yaml", node.rail_netdevs)
            node.labels = dict(HOSTILE_LABELS)
            with open_ns(n.netns) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname=node.rail_netdevs[1])[0], mtu=1500)
            node.expect_fail = frozenset({("net.mtu", "rail2")})
        else:
            n.del_rdma_rule()
            node.expect_fail = frozenset({("net.rdma_rule", None)})
        etc = Path("/etc/netns")
        if not etc.exists():
            self._made_etc_netns = True
        own = etc / n.netns
        self._etc_dirs.append(own)
        (own / "systemd" / "system").mkdir(parents=True)
        (own / "os-release").write_text(f'PRETTY_NAME="{OS_NAME}"\nNAME=chaos\n')
        (own / "systemd" / "system" / "rdma-qos.service").write_text(UNIT)

    @staticmethod
    def _rename_rail(ipr, rail, new: str) -> None:
        """Rename a rail NIC (down, rename, up) and put back its policy-table default route."""
        index = ipr.link_lookup(ifname=rail.ifname)[0]
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, ifname=new)
        ipr.link("set", index=index, state="up")
        if rail.table is not None:
            ipr.route("replace", dst="0.0.0.0/0", gateway=str(rail.gateway), oif=index, table=rail.table)

    def _write_fault_scripts(self, bindir: Path) -> None:
        # sshd runs a ForceCommand through root's shell; the collector's own command line (sh -c
        # SCRIPT rdma-preflight-collector NONCE) is in $SSH_ORIGINAL_COMMAND, shell-quoted by shlex.
        _script(bindir / "stall", f'eval "$SSH_ORIGINAL_COMMAND" | head -c {STALL_BYTES}\nexec sleep 3600\n')
        # ignores SIGTERM (a tool stuck in the driver): the collector's own `timeout N` cannot stop it
        _script(bindir / "shadow" / "ofed_info", "trap '' TERM INT HUP\nexec sleep 3600\n")
        _script(bindir / "tool-hang", f'PATH="$PATH:{bindir / "shadow"}"; export PATH\n'
                                      'eval "$SSH_ORIGINAL_COMMAND"\n')
        _script(bindir / "noise", "printf '<script>alert(1)</script>=cmd|calc\\033[2J\\r\\n'\n"
                                  "head -c 200000 /dev/urandom\n")
        # through the header line "<nonce> rc ip_addr", minus its last 10 bytes: ends "<nonce> r"
        _script(bindir / "truncated", 'eval "$SSH_ORIGINAL_COMMAND" | sed \'/ rc ip_addr$/q\' | head -c -10\n')
        _script(bindir / "replayed", f'cat {bindir / "replayed.stream"}\n')
        _script(bindir / "flood", 'eval "$SSH_ORIGINAL_COMMAND"\nexec yes "RPF flood <b>&amp; =1+2"\n')

    def _serve(self, node: ChaosNode, bindir: Path) -> None:
        assert self.sshd is not None
        kind = node.kind if node.role == "fault" else None
        if kind == "refused":
            return                                   # nothing listens on the node's port 22
        force = str(bindir / kind) if kind in ("stall", "tool-hang", "noise", "truncated", "replayed",
                                                "flood") else None
        self.sshd.start(node.lab_node, force_command=force)
        if kind == "blackhole":
            with open_ns(node.lab_node.netns) as ipr:
                ipr.link("add", ifname="bh0", kind="veth", peer={"ifname": "bh1"})
                bh0 = ipr.link_lookup(ifname="bh0")[0]
                ipr.addr("add", index=bh0, address=BLACKHOLE_LOCAL, prefixlen=24)
                ipr.link("set", index=bh0, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="bh1")[0], state="up")
                ipr.neigh("add", dst=BLACKHOLE_PEER, lladdr="02:00:00:00:00:02", ifindex=bh0,
                          state=NUD_PERMANENT)
        if kind == "frozen":
            pid = self.sshd._servers[node.name].process.pid
            self._frozen.append(pid)
            os.kill(pid, signal.SIGSTOP)

    def _record_replay(self, path: Path) -> None:
        """A complete collector stream from the first intact node, under a nonce no run will use."""
        donor = next((n for n in self.nodes if n.intact), self.nodes[0])
        nonce = "RPF" + "0" * 32
        with path.open("wb") as fh:
            subprocess.run(ns_argv(donor.lab_node.netns, ["sh", "-c", collector_script(),
                                                          "rdma-preflight-collector", nonce]),
                           stdout=fh, stderr=subprocess.DEVNULL, check=True, timeout=60)

    def proxy_for(self, node: ChaosNode) -> str:
        if node.kind == "blackhole" and node.role == "fault":
            return " ".join(ns_argv(node.lab_node.netns, ["socat", "STDIO", f"TCP:{BLACKHOLE_PEER}:22"]))
        return proxy_command(node.lab_node)

    def _write_client_files(self) -> None:
        assert self.sshd is not None
        host_pub = Path(f"{self.sshd.host_key}.pub").read_text().split()
        key = f"{host_pub[0]} {host_pub[1]}"
        self.known_hosts_path.write_text("".join(f"{n.name} {key}\n" for n in self.nodes))
        self.ssh_config_path.write_text("\n".join(
            HOST_ENTRY.format(name=n.name, identity=self.sshd.client_key, known_hosts=self.known_hosts_path,
                              proxy=self.proxy_for(n))
            for n in self.nodes))

    # -- views ----------------------------------------------------------------------------------------
    @property
    def intact(self) -> list[ChaosNode]:
        return [n for n in self.nodes if n.intact]

    @property
    def broken(self) -> list[ChaosNode]:
        return [n for n in self.nodes if not n.intact]

    def node(self, name: str) -> ChaosNode:
        return next(n for n in self.nodes if n.name == name)

    def namespaces(self) -> list[str]:
        return self.lab.namespaces

    def write_nodes_file(self, path: Path, nodes: list[ChaosNode] | None = None) -> Path:
        """A nodes file for the harness: one entry per node, its profile and labels."""
        entries = []
        for n in nodes if nodes is not None else self.nodes:
            entry: dict = {"name": n.name, "target": n.target, "profile": str(n.profile)}
            if n.labels:
                entry["labels"] = n.labels
            entries.append(entry)
        path.write_text(yaml.safe_dump({"nodes": entries}, sort_keys=False, allow_unicode=True))
        return path

    def faults_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.broken:
            key = n.kind + ("" if n.backend == "ssh" else f" ({n.backend})")
            out[key] = out.get(key, 0) + 1
        return out


# -- running the harness over the fleet ------------------------------------------------------------------
# The harness's own cost, beyond waiting for nodes: python and pytest start-up, plugin and profile
# loading, evaluating ~70 items per node, writing results.json, junit.xml and the fleet reports
# (measured 6-12 s for 20 nodes on the 2-core development machine while other test runs load it).
HARNESS_OVERHEAD = 30.0
TAG_VAR = "RPF_CHAOS_RUN"          # set in the harness's environment; every process it starts inherits it


@dataclass(frozen=True)
class Timing:
    connect: float = 3.0
    collect: float = 8.0
    concurrency: int = 8
    overhead: float = HARNESS_OVERHEAD

    def budget(self, nodes: int) -> float:
        """Wall-time bound of a run: each wave of ``concurrency`` nodes may spend a node's whole
        connect + collect allowance (for ssh:// the connect is inside the collect deadline; for
        paramiko:// it comes before it), plus the harness's own overhead."""
        waves = math.ceil(nodes / max(1, self.concurrency))
        return self.overhead + waves * (self.connect + self.collect)

    def node_bound(self) -> float:
        """No node may take longer than this to be collected or given up on."""
        return self.connect + self.collect


@dataclass
class FleetRun:
    rc: int
    stdout: str
    stderr: str
    wall: float
    budget: float
    report_dir: Path
    leftovers: list[str]
    nodes: list[ChaosNode]
    peak_rss_mb: float          # the largest child this process has waited for so far (the harness)

    @property
    def doc(self) -> dict:
        return json.loads((self.report_dir / "results.json").read_text())

    def outcomes(self, node: str) -> dict[tuple[str, str | None], str]:
        return {(r["check"], r["rail"]): r["outcome"] for r in self.doc["results"] if r["node"] == node}

    def node_entry(self, node: str) -> dict:
        return next(n for n in self.doc["nodes"] if n["name"] == node)


def tagged_processes(tag: str) -> list[str]:
    """Live processes (not zombies) whose environment carries ``TAG_VAR=tag``: "pid cmdline"."""
    want = f"{TAG_VAR}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if want not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ")[:120].decode(errors="replace")
        except (OSError, IndexError):
            continue
        found.append(f"{entry} {cmd}")
    return found


def run_fleet(fleet: ChaosFleet, nodes: list[ChaosNode], report_dir: Path, timing: Timing = Timing(),
              linger: float = 5.0) -> FleetRun:
    """``python3 -m rdma_preflight run`` over ``nodes`` in a subprocess; wall time, and the processes
    it started that are still alive ``linger`` seconds after it exited (there should be none)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    nodes_file = fleet.write_nodes_file(report_dir.parent / f"{report_dir.name}-nodes.yaml", nodes)
    tag = secrets.token_hex(8)
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{TAG_VAR: tag})
    argv = [sys.executable, "-m", "rdma_preflight", "run", "--nodes-file", str(nodes_file),
            "--report-dir", str(report_dir), "--ssh-config", str(fleet.ssh_config_path),
            "--connect-timeout", f"{timing.connect:g}", "--collect-timeout", f"{timing.collect:g}",
            "--concurrency", str(timing.concurrency)]
    budget = timing.budget(len(nodes))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=budget * 3)      # a guard: the assertion is on `wall`
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[chaos] harness killed after {budget * 3:.0f}s"
    wall = time.monotonic() - t0
    deadline = time.monotonic() + linger
    left = tagged_processes(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = tagged_processes(tag)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return FleetRun(proc.returncode, out, err, wall, budget, report_dir, left, list(nodes), round(peak, 1))


def lost_results(run: FleetRun, reference: FleetRun, nodes: list[ChaosNode]) -> list[str]:
    """(node, check, rail) whose outcome in ``run`` differs from ``reference`` or is missing."""
    lost = []
    for n in nodes:
        got, want = run.outcomes(n.name), reference.outcomes(n.name)
        for key in sorted(set(got) | set(want), key=str):
            if got.get(key) != want.get(key):
                lost.append(f"{n.name} {key[0]} {key[1] or '-'}: {want.get(key)} -> {got.get(key)}")
    return lost


__all__ = ["CANARIES", "ChaosFleet", "ChaosNode", "DRIFTS", "FAULTS", "FAULT_CLASSES", "FleetRun", "HOSTILE_IFNAMES",
           "HOSTILE_LABELS", "HOSTILE_RAILS", "OS_NAME", "TAG_VAR", "Timing", "UNIT", "lost_results", "plan",
           "run_fleet", "tagged_processes", "write_profile"]
