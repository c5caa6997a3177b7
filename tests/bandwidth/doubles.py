"""Test doubles for the bandwidth tests. Nothing here is RDMA; every class says what it stands for.

* :class:`RailFabric` (real kernel networking, standing in for Spiderpool's rail attachments):
  a fabric netns with one Linux bridge per rail ("the rail's leaf switch"); every pod gets
  ``net<k>`` (a veth into bridge k) with ``172.16.<k>.<node>/24`` and a Multus
  ``network-status`` annotation, from the pod's ``k8s.v1.cni.cncf.io/networks`` annotation.
  Without a netns (the bench) only the annotation is produced.
* :class:`RdmaViewDouble` (DOUBLE of the RDMA devices a pod sees): answers the driver's
  ``discover`` mode. The ``ip`` section is real (``ip -n <pod netns> -j addr``; synthesised
  when the pod has no netns); the ``rdma``/``sysfs``/``perftest`` sections describe one
  ``mlx5_<k-1>`` per ``net<k>`` with port state, rate and a GID table whose RoCE v2 IPv4 GID
  is at index 3 (the usual layout: 0/1 link-local v1/v2, 2/3 IPv4 v1/v2).
* :class:`PerftestDouble` (DOUBLE of the driver script running ``ib_write_bw``): answers
  ``serve``/``run``/``collect`` in-process with the same framing. Servers "listen" in a
  registry; a client reaches a server only if it was started and listens on that IP and
  port (else perftest's real ``Couldn't connect`` text); symmetric flags must match; ``-x``
  must be the client's own RoCE v2 GID index. Output uses perftest's real text layout (the
  OCI fixture in tests/fixtures/outputs/ib_write_bw) with the bandwidth a :class:`BwPlan`
  sets per (src, dst, rail); failure texts are the signature lines of
  bandwidth-practice.md §5.
"""

from __future__ import annotations

import json
import secrets
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rdma_preflight.bandwidth import driver
from tests.bandwidth.perftest_text import BANNER, FAILURES, MTU_FALLBACK, PEAK_WARNING, addresses, header, report

IP = "ip"
HEALTHY_GBPS = 196.5
NOMINAL_RATE = "200 Gb/sec (4X HDR)"


def rail_ip(rail_index: int, node_index: int) -> str:
    """Rail k (1-based) of node n (1-based): 172.16.k.(10+n)."""
    return f"172.16.{rail_index}.{10 + node_index}"


def _networks(pod: dict) -> list[dict]:
    raw = (pod["metadata"].get("annotations") or {}).get("k8s.v1.cni.cncf.io/networks")
    return json.loads(raw) if raw else []


class RailFabric:
    """Per-rail bridges in a fabric netns; ``attach`` is the double's ``on_pod_network`` hook."""

    def __init__(self, nodes: list[str], rails: int, netns: bool = True) -> None:
        self.nodes = list(nodes)
        self.rails = rails
        self.netns = netns
        self.name = f"rpfbw-{secrets.token_hex(3)}-fab"
        self.attached: list[str] = []
        if netns:
            subprocess.run([IP, "netns", "add", self.name], check=True, capture_output=True)
            batch = "".join(f"link add br{k} type bridge\nlink set br{k} up\n" for k in range(1, rails + 1))
            subprocess.run([IP, "-n", self.name, "-batch", "-"], input=batch.encode(), check=True,
                           capture_output=True)

    def node_index(self, node: str) -> int:
        return self.nodes.index(node) + 1

    def status(self, pod: dict) -> list[dict]:
        n = self.node_index(pod["spec"]["nodeName"])
        return [{"name": f"{net['namespace']}/{net['name']}", "interface": f"net{k}", "ips": [rail_ip(k, n)],
                 "mac": f"02:00:ac:10:{k:02x}:{10 + n:02x}", "dns": {}}
                for k, net in enumerate(_networks(pod), start=1)]

    def attach(self, pod: dict, netns: str | None) -> dict[str, str]:
        status = self.status(pod)
        if netns is not None and self.netns:
            tag = pod["metadata"]["uid"].replace("-", "")[:8]
            root = "".join(f"link add v{tag}{k} netns {self.name} type veth peer name net{k} netns {netns}\n"
                           for k in range(1, len(status) + 1))
            subprocess.run([IP, "-batch", "-"], input=root.encode(), check=True, capture_output=True)
            fab = "".join(f"link set v{tag}{k} master br{k} up\n" for k in range(1, len(status) + 1))
            subprocess.run([IP, "-n", self.name, "-batch", "-"], input=fab.encode(), check=True, capture_output=True)
            inner = "".join(f"addr add {s['ips'][0]}/24 dev {s['interface']}\nlink set {s['interface']} up\n"
                            for s in status)
            subprocess.run([IP, "-n", netns, "-batch", "-"], input=inner.encode(), check=True, capture_output=True)
            self.attached.append(netns)
        return {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)}

    def close(self) -> None:
        if self.netns:
            subprocess.run([IP, "netns", "del", self.name], check=False, capture_output=True)


# -- what the test plants ------------------------------------------------------------------------

@dataclass
class BwPlan:
    """The bandwidth and faults the doubles produce. Keys use node names and rail names."""

    rails: list[str]
    healthy: float = HEALTHY_GBPS
    slow_nic: dict[tuple[str, str], float] = field(default_factory=dict)       # (node, rail): both ways
    slow_tx: dict[tuple[str, str], float] = field(default_factory=dict)        # (node, rail): sending only
    slow_node: dict[str, float] = field(default_factory=dict)                  # node: every rail
    slow_pair: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (a, b, rail): both ways
    slow_flow: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (src, dst, rail)
    transient: dict[tuple[str, str, str], int] = field(default_factory=dict)    # slow for the first n runs
    client_fail: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (src, dst, rail) -> FAILURES key
    server_fail: dict[tuple[str, str], str] = field(default_factory=dict)       # (node, rail) -> FAILURES key
    mtu_fallback: set[tuple[str, str, str]] = field(default_factory=set)
    rate: dict[tuple[str, str], str] = field(default_factory=dict)             # (node, rail) -> sysfs rate text
    port_state: dict[tuple[str, str], str] = field(default_factory=dict)       # (node, rail) -> sysfs state
    no_roce_gid: set[tuple[str, str]] = field(default_factory=set)
    version: dict[str, str] = field(default_factory=dict)
    missing_perftest: set[str] = field(default_factory=set)
    attempts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def gbps(self, src: str, dst: str, rail: str) -> float:
        key = (src, dst, rail)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        bw = self.healthy
        for factor in (self.slow_nic.get((src, rail)), self.slow_nic.get((dst, rail)), self.slow_tx.get((src, rail)),
                       self.slow_node.get(src), self.slow_node.get(dst), self.slow_flow.get(key),
                       self.slow_pair.get(key), self.slow_pair.get((dst, src, rail))):
            if factor is not None:
                bw *= factor
        if self.attempts[key] <= self.transient.get(key, 0):
            bw *= 0.3
        return round(bw, 2)


# -- the doubles ------------------------------------------------------------------------------------

def _argv_flags(argv: list[str]) -> dict[str, str]:
    """perftest flags of a job's argv (after ``timeout -k K T <perftest>``)."""
    flags: dict[str, str] = {}
    rest = argv[5:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("-d", "-i", "-x", "-p", "-D", "-s", "-q"):
            flags[word] = rest[i + 1]
            i += 2
        elif word.startswith("-"):
            flags[word] = ""
            i += 1
        else:
            flags["server"] = word
            i += 1
    return flags


SYMMETRIC = ("-p", "-D", "-s", "-q", "-F", "--report_gbits")


@dataclass
class _Server:
    node: str
    rail: str
    device: str
    flags: dict[str, str]
    status: str                   # ready | dead | served
    output: str
    rc: int | None


class RdmaViewDouble:
    """DOUBLE: what ``discover`` prints inside a pod (see module doc)."""

    def __init__(self, plan: BwPlan, pod_netns: Callable[[dict], str | None] | None = None) -> None:
        self.plan = plan
        self.pod_netns = pod_netns

    @staticmethod
    def interfaces(pod: dict) -> list[tuple[str, str]]:
        """(interface, ip) from the pod's network-status, in attachment order."""
        raw = (pod["metadata"].get("annotations") or {}).get("k8s.v1.cni.cncf.io/network-status")
        return [(s["interface"], s["ips"][0]) for s in json.loads(raw or "[]")]

    def rail_of(self, k: int) -> str:
        return self.plan.rails[k - 1]

    def ip_json(self, pod: dict) -> str:
        netns = self.pod_netns(pod) if self.pod_netns else None
        if netns:
            return subprocess.run([IP, "-n", netns, "-j", "addr", "show"], capture_output=True, text=True,
                                  check=True).stdout
        links = [{"ifindex": 1, "ifname": "lo", "mtu": 65536, "addr_info": [
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]}]
        links += [{"ifindex": 2 + i, "ifname": nd, "mtu": 4200, "addr_info": [
            {"family": "inet", "local": ip, "prefixlen": 24}]} for i, (nd, ip) in enumerate(self.interfaces(pod))]
        return json.dumps(links)

    def discover(self, pod: dict, nonce: str) -> str:
        return self.discover_for(pod["spec"]["nodeName"], self.interfaces(pod), self.ip_json(pod), nonce)

    def discover_for(self, node: str, interfaces: list[tuple[str, str]], ip_json: str, nonce: str) -> str:
        """The discover output of ``node`` whose rail k is ``interfaces[k-1]`` (netdev, ip)."""
        def say(what: str) -> str:
            return f"@@rpf {nonce} {what}\n"

        links, sysfs = [], []
        for k, (nd, ip) in enumerate(interfaces, start=1):
            dev, rail = f"mlx5_{k - 1}", self.rail_of(k)
            state = self.plan.port_state.get((node, rail), "4: ACTIVE")
            links.append({"ifindex": k, "ifname": dev, "port": 1, "state": state.split(": ")[-1],
                          "physical_state": "LINK_UP", "netdev": nd, "netdev_index": 2 + k})
            base = f"/sys/class/infiniband/{dev}"
            p = f"{base}/ports/1"
            mapped = "0000:0000:0000:0000:0000:ffff:" + "".join(f"{int(o):02x}" for o in ip.split(".")[:2]) + ":" \
                + "".join(f"{int(o):02x}" for o in ip.split(".")[2:])
            gids = {0: ("fe80:0000:0000:0000:0000:00ff:fe00:0001", "IB/RoCE v1"),
                    1: ("fe80:0000:0000:0000:0000:00ff:fe00:0001", "RoCE v2")}
            if (node, rail) not in self.plan.no_roce_gid:
                gids |= {2: (mapped, "IB/RoCE v1"), 3: (mapped, "RoCE v2")}
            sysfs += [f"{p}/state:{state}", f"{p}/phys_state:5: LinkUp",
                      f"{p}/rate:{self.plan.rate.get((node, rail), NOMINAL_RATE)}", f"{p}/link_layer:Ethernet"]
            for i, (gid, typ) in gids.items():
                sysfs += [f"{p}/gids/{i}:{gid}", f"{p}/gid_attrs/types/{i}:{typ}", f"{p}/gid_attrs/ndevs/{i}:{nd}"]
            sysfs += [f"{p}/gids/{len(gids)}:0000:0000:0000:0000:0000:0000:0000:0000",
                      f"{base}/device/net/{nd}/ifindex:{2 + k}", f"{base}/device/numa_node:{(k - 1) // 4}",
                      f"{base}/device/uevent:PCI_SLOT_NAME=0000:{0x17 + k:02x}:00.0"]
        version = ("sh: 1: ib_write_bw: not found\n" if node in self.plan.missing_perftest
                   else f"Version: {self.plan.version.get(node, '6.22')}\n")
        return "".join([say("section ip"), ip_json, "\n", say("section rdma"), json.dumps(links), "\n",
                        say("section sysfs"), "\n".join(sysfs), "\n", say("section perftest"), version,
                        say("section end")])


class PerftestDouble(RdmaViewDouble):
    """DOUBLE of the driver script + ib_write_bw, as an ``exec_handler`` (see module doc).

    ``real_processes=True`` answers only ``discover`` and lets serve/run/collect run for
    real in the pod (the real driver script with a perftest stand-in on PATH).
    """

    def __init__(self, plan: BwPlan, pod_netns: Callable[[dict], str | None] | None = None, *,
                 run_seconds: float = 0.0, real_processes: bool = False,
                 on_exec: Callable[[str, dict, list[str]], None] | None = None) -> None:
        super().__init__(plan, pod_netns)
        self.run_seconds = run_seconds
        self.real_processes = real_processes
        self.on_exec = on_exec
        self.lock = threading.Lock()
        self.servers: dict[tuple[str, int], _Server] = {}
        self.calls: list[tuple[str, str, str, list[str]]] = []   # (mode, node, workdir, jobs)
        self.problems: list[str] = []                            # protocol violations seen

    def __call__(self, pod: dict, argv: list[str]) -> tuple[int, str, str] | None:
        if argv[:3] != ["sh", "-c", driver.DRIVER] or len(argv) < 8:
            return None
        mode, workdir, nonce, wait_s, jobs = argv[4], argv[5], argv[6], int(argv[7]), argv[8:]
        node = pod["spec"]["nodeName"]
        with self.lock:
            self.calls.append((mode, node, workdir, jobs))
        if self.on_exec is not None:
            self.on_exec(mode, pod, jobs)
        if mode == "discover":
            return 0, self.discover(pod, nonce), ""
        if self.real_processes:
            return None
        split = [j.split() for j in jobs]
        if mode == "run":
            return 0, self._run(pod, split, nonce, wait_s), ""
        return 0, getattr(self, f"_{mode}")(pod, split, nonce), ""

    def _ip_of(self, pod: dict, device: str) -> str | None:
        k = int(device.rsplit("_", 1)[-1]) + 1
        ifaces = self.interfaces(pod)
        return ifaces[k - 1][1] if 0 < k <= len(ifaces) else None

    def _serve(self, pod: dict, jobs: list[list[str]], nonce: str) -> str:
        node, out = pod["spec"]["nodeName"], []
        ports = [int(j[1]) for j in jobs]
        if len(set(ports)) != len(ports):
            self.problems.append(f"{node}: two servers on one port {ports}")
        for tag, port, *argv in jobs:
            flags = _argv_flags(argv)
            rail = tag.split("-", 1)[1]
            ip = self._ip_of(pod, flags["-d"])
            fail = self.plan.server_fail.get((node, rail))
            if fail or ip is None:
                text, rc = FAILURES[fail or "no_device"]
                out.append(f"@@rpf {nonce} dead {tag}\n@@rpf {nonce} begin {tag}\n{text}@@rpf {nonce} end {tag} {rc}\n")
                continue
            with self.lock:
                if (ip, int(port)) in self.servers:
                    self.problems.append(f"{node}: {ip}:{port} already has a server")
                self.servers[(ip, int(port))] = _Server(node, rail, flags["-d"], flags, "ready", BANNER, None)
            out.append(f"@@rpf {nonce} ready {tag}\n")
        return "".join(out)

    def _run(self, pod: dict, jobs: list[list[str]], nonce: str, wait_s: int = 0) -> str:
        """Clients; then, after ``--``, this pod's servers once their clients are done."""
        node, out = pod["spec"]["nodeName"], []
        cut = jobs.index([driver.SERVERS_FOLLOW]) if [driver.SERVERS_FOLLOW] in jobs else len(jobs)
        clients, servers = jobs[:cut], jobs[cut + 1:]
        if self.run_seconds:
            time.sleep(self.run_seconds)
        for tag, port, *argv in clients:
            flags = _argv_flags(argv)
            text, rc = self._client(pod, node, int(port), flags)
            out.append(f"@@rpf {nonce} begin {tag}\n{text}@@rpf {nonce} end {tag} {rc}\n")
        end = time.monotonic() + wait_s
        while servers and time.monotonic() < end and any(
                self._server(pod, job).status == "ready" for job in servers if self._server(pod, job)):
            time.sleep(0.01)
        return "".join(out) + (self._collect(pod, servers, nonce) if servers else "")

    def _server(self, pod: dict, job: list[str]) -> _Server | None:
        flags = _argv_flags(job[2:])
        with self.lock:
            return self.servers.get((self._ip_of(pod, flags["-d"]), int(job[1])))

    def _client(self, pod: dict, node: str, port: int, flags: dict[str, str]) -> tuple[str, int]:
        server_ip = flags["server"]
        with self.lock:
            server = self.servers.get((server_ip, port))
        if server is None or server.status != "ready":
            self.problems.append(f"{node}: client to {server_ip}:{port} found no listening server")
            return FAILURES["connect"][0].format(server=server_ip, port=port), 1
        rail, dst = server.rail, server.node
        if any(flags.get(k) != server.flags.get(k) for k in SYMMETRIC):
            self.problems.append(f"{node}->{dst} {rail}: asymmetric flags")
            server.status, server.output, server.rc = "served", FAILURES["exchange"][0], 1
            return FAILURES["exchange"][0], 1
        if flags.get("-x") != "3" or server.flags.get("-x") != "3":
            self.problems.append(f"{node}->{dst} {rail}: -x is not the local RoCE v2 GID index 3")
        local_ip = self._ip_of(pod, flags["-d"]) or "0.0.0.0"
        fail = self.plan.client_fail.get((node, dst, rail))
        qps, size, duration = int(flags["-q"]), int(flags["-s"]), int(flags["-D"])
        head = header(flags["-d"], qps, 3) + addresses(local_ip, server_ip)
        if fail:
            text, rc = FAILURES[fail]
            text = text.format(server=server_ip, port=port)
            if fail in ("transport", "hang"):
                text = head + text
            server.status, server.output, server.rc = "served", BANNER + head, 124 if fail == "hang" else 1
            return text, rc
        gbps = self.plan.gbps(node, dst, rail)
        mtu = 1024 if (node, dst, rail) in self.plan.mtu_fallback else 4096
        pre = MTU_FALLBACK if mtu == 1024 else ""
        body = header(flags["-d"], qps, 3, mtu) + addresses(local_ip, server_ip) + PEAK_WARNING + report(gbps, size, duration)
        server_head = header(server.device, qps, 3, mtu) + addresses(server_ip, local_ip)
        server.status, server.rc = "served", 0
        server.output = BANNER + server_head + report(gbps, size, duration)
        return pre + body, 0

    def _collect(self, pod: dict, jobs: list[list[str]], nonce: str) -> str:
        out = []
        for tag, port, *argv in jobs:
            flags = _argv_flags(argv)
            ip = self._ip_of(pod, flags["-d"])
            with self.lock:
                server = self.servers.pop((ip, int(port)), None)
            if server is None:
                continue
            rc = server.rc if server.status == "served" else 124
            out.append(f"@@rpf {nonce} begin {tag}\n{server.output}@@rpf {nonce} end {tag} {rc}\n")
        return "".join(out)

    # -- what the tests look at -------------------------------------------------------------------
    def rounds(self, mode: str = "serve") -> list[str]:
        """Round work dirs in the order first seen for ``mode``."""
        return list(dict.fromkeys(w for m, _, w, _ in self.calls if m == mode))

    def jobs(self, mode: str) -> list[tuple[str, str, list[list[str]]]]:
        return [(node, w, [j.split() for j in jobs]) for m, node, w, jobs in self.calls if m == mode]


def any_pod_netns(double: Any) -> Callable[[dict], str | None]:
    """pod -> its netns in ``double`` (None when pods have none)."""
    def lookup(pod: dict) -> str | None:
        return double.pod_netns(pod["metadata"]["name"], pod["metadata"]["namespace"])
    return lookup


STANDIN = Path(__file__).with_name("perftest_standin.py")


def install_standin(bin_dir: Path, plan: dict) -> Path:
    """``<bin_dir>/ib_write_bw``: a wrapper running the perftest STAND-IN (a double) with
    ``plan`` (see perftest_standin.py); returns its path. Python runs with -S (no site
    imports) so a process starts in milliseconds, as a real binary would."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    plan_file = bin_dir / "ib_write_bw.plan.json"
    plan_file.write_text(json.dumps(plan))
    exe = bin_dir / "ib_write_bw"
    exe.write_text(f"#!/bin/sh\nRPF_STANDIN_PLAN={shlex.quote(str(plan_file))} "
                   f"exec {shlex.quote(sys.executable)} -S {shlex.quote(str(STANDIN))} \"$@\"\n")
    exe.chmod(0o755)
    return exe
