"""TEST DOUBLE (hand-made): a command runner standing in for a node, with a temporary root
standing in for /sys, /proc and configfs.

It answers the argv the remediation actions send (``cat``, the executor's ``printf`` write,
``test -d``, ``mkdir``, ``rmdir``, ``mlnx_qos``, ``sysctl``, ``modprobe``, ``setpci``) from a
small in-memory model and files under ``root``; it records every argv in ``calls``. Kernel
behaviour it imitates, on purpose: ``traffic_class`` reads back as ``Global tclass=N``; the
rdma_cm configfs device directory holds ``ports/<p>/default_roce_tos`` only while it exists,
and the value stays with the device after ``rmdir``. Its ``mlnx_qos -i`` text is hand-made in
the layout of the real outputs in tests/fixtures/outputs/mlnx_qos.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rdma_preflight.remediation.executor import ArgvExecutor
from rdma_preflight.targets.base import CommandResult, Target

CONFIGFS = "/sys/kernel/config/rdma_cm"
WRITE = ["sh", "-c", 'printf "%s" "$1" > "$2"', "rdma-preflight-write"]


@dataclass
class NodeDouble(Target):
    root: Path = Path("/nonexistent")
    trust: dict[str, str] = field(default_factory=dict)         # netdev -> dscp|pcp
    pfc: dict[str, str] = field(default_factory=dict)           # netdev -> "0,0,0,1,0,0,0,0"
    cma: dict[str, dict[int, int]] = field(default_factory=dict)  # device -> port -> ToS (kernel side)
    acs: dict[str, str] = field(default_factory=dict)           # BDF -> ACS control word
    calls: list[list[str]] = field(default_factory=list)

    def host(self, path: str) -> Path:
        assert path.startswith("/") and ".." not in path.split("/"), path
        return self.root / path.lstrip("/")

    def put(self, path: str, text: str) -> None:
        p = self.host(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def get(self, path: str) -> str | None:
        p = self.host(path)
        return p.read_text() if p.is_file() else None

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        self.calls.append(list(argv))
        out, rc = self._answer(argv)
        return CommandResult(argv, rc, out.encode(), b"" if rc == 0 else b"double: refused\n")

    def _answer(self, argv: list[str]) -> tuple[str, int]:
        tool = argv[0]
        if argv[:2] == ["cat", "--"]:
            text = self.get(argv[2])
            return (text, 0) if text is not None else ("", 1)
        if argv[:4] == WRITE:
            return self._write(argv[5], argv[4])
        if tool == "test" and argv[1] == "-d":
            return "", 0 if self.host(argv[2]).is_dir() else 1
        if tool == "mkdir":
            return self._mkdir(argv[-1])
        if tool == "rmdir":
            return self._rmdir(argv[-1])
        if tool == "mlnx_qos":
            return self._mlnx_qos(argv)
        if tool == "sysctl":
            return self._sysctl(argv)
        if tool == "modprobe":
            return self._modprobe(argv)
        if tool == "setpci":
            return self._setpci(argv)
        return "", 127

    def _write(self, path: str, text: str) -> tuple[str, int]:
        if not self.host(path).parent.is_dir():
            return "", 1
        if path.endswith("/traffic_class"):
            text = f"Global tclass={text}\n"
        self.put(path, text)
        return "", 0

    def _mkdir(self, path: str) -> tuple[str, int]:
        if not path.startswith(CONFIGFS + "/") or not self.host(CONFIGFS).is_dir():
            return "", 1
        dev = path.rsplit("/", 1)[1]
        for port, tos in self.cma.get(dev, {1: 0}).items():
            self.put(f"{path}/ports/{port}/default_roce_tos", f"{tos}\n")
        return "", 0

    def _rmdir(self, path: str) -> tuple[str, int]:
        dev = path.rsplit("/", 1)[1]
        for f in self.host(path).glob("ports/*/default_roce_tos"):
            self.cma.setdefault(dev, {})[int(f.parent.name)] = int(f.read_text().strip())
        shutil.rmtree(self.host(path))
        return "", 0

    def _mlnx_qos(self, argv: list[str]) -> tuple[str, int]:
        dev = argv[2]
        for i, a in enumerate(argv):
            if a.startswith("--trust="):
                self.trust[dev] = a.split("=", 1)[1]
            if a == "--pfc":
                self.pfc[dev] = argv[i + 1]
        bits = "   ".join(self.pfc[dev].split(","))
        return (f"DCBX mode: OS controlled\nPriority trust state: {self.trust[dev]}\nPFC configuration:\n"
                f"        priority    0   1   2   3   4   5   6   7\n        enabled     {bits}\n"), 0

    def _sysctl(self, argv: list[str]) -> tuple[str, int]:
        key = argv[2].split("=", 1)[0]
        path = "/proc/sys/" + key.replace(".", "/")
        if argv[1] == "-w":
            self.put(path, argv[2].split("=", 1)[1] + "\n")
            return argv[2].replace("=", " = ") + "\n", 0
        return self.get(path) or "", 0

    def _modprobe(self, argv: list[str]) -> tuple[str, int]:
        lines = (self.get("/proc/modules") or "").splitlines()
        name = argv[-1]
        lines = [ln for ln in lines if not ln.startswith(name + " ")]
        if argv[1] != "-r":
            lines.append(f"{name} 16384 0 - Live 0xffffffffc0000000")
        self.put("/proc/modules", "".join(ln + "\n" for ln in lines))
        return "", 0

    def _setpci(self, argv: list[str]) -> tuple[str, int]:
        bdf, reg = argv[2], argv[3]
        if bdf not in self.acs:
            return "", 1
        if "=" in reg:
            self.acs[bdf] = reg.split("=", 1)[1]
            return "", 0
        return self.acs[bdf] + "\n", 0


def double(root: Path, **state) -> tuple[NodeDouble, ArgvExecutor]:
    t = NodeDouble(node="gpu-node-1", url="double://gpu-node-1", root=root, **state)
    return t, ArgvExecutor(t)
