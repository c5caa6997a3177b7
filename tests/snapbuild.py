"""Build Snapshot objects for check tests: real fixture outputs plus sysfs values.

Every value added by hand is hand-made test data unless it is loaded from
tests/fixtures/outputs (real recorded outputs with their source header); the builder keeps a
provenance list so a test (or an example's PROVENANCE.md) can say which is which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rdma_preflight.collect.snapshot import CommandOutput, Snapshot
from rdma_preflight.parsers.base import strip_source_header

FIXTURES = Path(__file__).parent / "fixtures" / "outputs"


def fixture_output(tool: str, name: str) -> str:
    """A real recorded output, with its source header removed."""
    return strip_source_header((FIXTURES / tool / name).read_text())


@dataclass
class SnapshotBuilder:
    node: str = "node-1"
    snap: Snapshot = field(init=False)
    provenance: list[tuple[str, str]] = field(default_factory=list)
    _links: list = field(default_factory=list)
    _addrs: list = field(default_factory=list)
    _rules: list = field(default_factory=list)
    _routes: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.snap = Snapshot(node=self.node, meta={"collector_version": "1", "kernel": "6.8.0-test",
                                                   "date": "2026-11-29T00:00:00Z", "uid": "0"})
        self.file("/proc/sys/kernel/hostname", self.node + "\n", "hand-made")

    def file(self, path: str, content: str | bytes, source: str = "hand-made") -> "SnapshotBuilder":
        self.snap.files[path] = content.encode() if isinstance(content, str) else content
        self.provenance.append((path, source))
        return self

    def attr(self, path: str, value: object, source: str = "hand-made") -> "SnapshotBuilder":
        return self.file(path, f"{value}\n", source)

    def link(self, path: str, target: str, source: str = "hand-made") -> "SnapshotBuilder":
        self.snap.links[path] = target
        self.provenance.append((path, source))
        return self

    def cmd(self, name: str, stdout: str | bytes, rc: int = 0, stderr: str = "",
            source: str = "hand-made") -> "SnapshotBuilder":
        out = stdout.encode() if isinstance(stdout, str) else stdout
        self.snap.commands[name] = CommandOutput(name=name, rc=rc, stdout=out, stderr=stderr.encode())
        self.provenance.append((f"command {name}", source))
        return self

    def fixture_cmd(self, name: str, tool: str, fixture: str, rc: int = 0) -> "SnapshotBuilder":
        return self.cmd(name, fixture_output(tool, fixture), rc, source=f"real: tests/fixtures/outputs/{tool}/{fixture}")

    def missing(self, *tools: str) -> "SnapshotBuilder":
        self.snap.missing.update(tools)
        return self

    def exists(self, *paths: str) -> "SnapshotBuilder":
        self.snap.exists.update(paths)
        return self

    # -- hand-made network state, rendered as `ip -j` output ---------------------------
    def iface(self, name: str, mtu: int = 1500, up: bool = True, ipv4: list[str] | tuple = (),
              pci: str | None = None, driver: str | None = None, kind: str | None = None,
              link_type: str = "ether", mac: str = "02:00:00:00:00:01") -> "SnapshotBuilder":
        idx = len(self._links) + 1
        flags = ["BROADCAST", "MULTICAST"] + (["UP", "LOWER_UP"] if up else [])
        link = {"ifindex": idx, "ifname": name, "flags": flags, "mtu": mtu,
                "operstate": "UP" if up else "DOWN", "link_type": link_type, "address": mac}
        if kind:
            link["linkinfo"] = {"info_kind": kind}
        self._links.append(link)
        self._addrs.append(dict(link, addr_info=[
            {"family": "inet", "local": a.split("/")[0], "prefixlen": int(a.split("/")[1])} for a in ipv4]))
        self.attr(f"/sys/class/net/{name}/mtu", mtu)
        self.attr(f"/sys/class/net/{name}/operstate", "up" if up else "down")
        if pci:
            self.link(f"/sys/class/net/{name}/device", f"/sys/devices/pci0000:80/0000:80:01.0/{pci}")
        if driver:
            self.link(f"/sys/class/net/{name}/device/driver", f"/sys/bus/pci/drivers/{driver}")
        return self

    def rule(self, priority: int, table: str | int, src: str | None = None, dst: str | None = None,
             invert: bool = False, protocol: str | None = None) -> "SnapshotBuilder":
        r: dict = {"priority": priority, "src": "all", "table": str(table)}
        if src:
            addr, _, plen = src.partition("/")
            r["src"] = addr
            if plen and plen != "32":
                r["srclen"] = int(plen)
        if dst:
            addr, _, plen = dst.partition("/")
            r["dst"] = addr
            r["dstlen"] = int(plen or 32)
        if invert:
            r["not"] = None
        if protocol:
            r["protocol"] = protocol
        self._rules.append(r)
        return self

    def route(self, dst: str, dev: str | None = None, gateway: str | None = None, table: str | int = "main",
              metric: int = 0, onlink: bool = False, **extra) -> "SnapshotBuilder":
        r: dict = {"dst": dst, "flags": ["onlink"] if onlink else []}
        if gateway:
            r["gateway"] = gateway
        if dev:
            r["dev"] = dev
        if str(table) != "main":
            r["table"] = str(table)
        if metric:
            r["metric"] = metric
        r.update(extra)
        self._routes.append(r)
        return self

    def default_rules(self) -> "SnapshotBuilder":
        self.rule(0, "local").rule(32766, "main").rule(32767, "default")
        return self

    def build(self) -> Snapshot:
        import json

        rules = sorted(self._rules, key=lambda r: r["priority"])
        for name, data in (("ip_link", self._links), ("ip_addr", self._addrs), ("ip_rule", rules),
                           ("ip_route", self._routes)):
            self.snap.commands[name] = CommandOutput(name=name, rc=0, stdout=json.dumps(data).encode())
        return self.snap
