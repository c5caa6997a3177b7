#!/usr/bin/env python3
"""Assemble the bundled example fleet: three node snapshots in examples/snapshots/<node>/.

    python3 examples/build_examples.py            # rewrite examples/snapshots/
    python3 examples/build_examples.py --out DIR  # write elsewhere (the test compares)

Nothing here is invented and called real. Each snapshot is put together from
  * real recorded tool outputs, copied byte for byte (header included) into
    examples/sources/<tool>/ and used without their header, exactly as recorded;
  * content derived from them: the same facts rendered in another format (sysfs attribute
    files, ``ip -j`` JSON, ``rdma link`` lines, ...), said so per file;
  * hand-made state a real node would have (addresses, routes, the files Spiderpool's scripts
    write, rendered from the scripts' own templates), consistent with the real outputs.
Every file of a snapshot is listed in its PROVENANCE.md with its kind and source; the build
refuses to write a snapshot with a file no provenance row covers, or a row covering nothing.

The PCIe tree of all three nodes is the real one of an H100 HGX host (8 Broadcom PEX890xx
switches, each under its own Intel root port with one H100 and one ConnectX-7 behind it):
examples/sources/lspci_vvv/. The RoCE nodes' twelve RDMA devices (8x MT4129 ConnectX-7,
4x MT4125 ConnectX-6 Dx) sit on it in the order the kernel names them (PCI order).

Output is deterministic: the same sources give byte-identical snapshots.
"""

from __future__ import annotations

import argparse
import fnmatch
import ipaddress
import json
import re
import shutil
import sys
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rdma_preflight.collect.snapshot import CommandOutput, Snapshot  # noqa: E402

SOURCES = HERE / "sources"
OUT = HERE / "snapshots"
SP = "https://github.com/spidernet-io/spiderpool/blob/a7fbd3b2968d13952572ab95092b2caf7aa08ea9/"
RDMA_CIDR = "172.16.0.0/16"
KERNEL = "5.15.0-105-generic"


# ---- sources ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    rel: str        # <tool>/<name>.txt under examples/sources
    url: str
    body: str       # the output as recorded (header removed)

    @property
    def ref(self) -> str:
        return f"`sources/{self.rel}` ({self.url})"


def source(rel: str) -> Source:
    text = (SOURCES / rel).read_text()
    head, sep, body = text.partition("\n# ---\n")
    if not sep or not head.startswith("# source: "):
        raise SystemExit(f"{rel}: no '# source:' header")
    return Source(rel, head.splitlines()[0][len("# source: "):], body)


def ibstat_cas(text: str) -> list[dict[str, str]]:
    """``ibstat`` blocks as flat dicts (single-port CAs): {"CA": name, "CA type": ..., "State": ...}."""
    cas: list[dict[str, str]] = []
    for line in text.splitlines():
        m = re.match(r"^CA '([^']+)'$", line.strip())
        if m:
            cas.append({"CA": m.group(1)})
        elif ":" in line and cas:
            k, _, v = line.strip().partition(":")
            cas[-1].setdefault(k.strip(), v.strip())
    return cas


def bridge_blocks(text: str) -> dict[str, str]:
    """lspci -vvv blocks by BDF (``15:01.0``), each cut to the lines the PCIe facts read (see KEEP)."""
    out = {}
    for block in text.rstrip("\n").split("\n\n"):
        lines = block.splitlines()
        out[lines[0].split(" ", 1)[0]] = "".join(ln + "\n" for i, ln in enumerate(lines) if i == 0 or KEEP.match(ln))
    return out


# The lines of a bridge block kept in the snapshots (to keep them small): the header, NUMA node,
# bus numbers, the PCIe port type, the ACS capability and control words, the driver.
KEEP = re.compile(r"^\t(NUMA node:|Bus:|Capabilities: \[[0-9a-f]+\] Express|Capabilities: \[[0-9a-f]+ v1\] Access "
                  r"Control Services|Kernel driver in use:)|^\t\tACSC(ap|tl):")


# ---- the real PCIe tree ------------------------------------------------------------------------

# (root port, switch upstream port, downstream port above the GPU, downstream port above the
# ConnectX-7, GPU, ConnectX-7); host bridge pci0000:<bus of the root port>. From the lspci source.
TREE = [
    ("15:01.0", "16:00.0", "17:01.0", "17:02.0", "19:00.0", "1a:00.0"),
    ("37:01.0", "38:00.0", "39:01.0", "39:02.0", "3b:00.0", "3c:00.0"),
    ("48:01.0", "49:00.0", "4a:01.0", "4a:02.0", "4c:00.0", "4d:00.0"),
    ("59:01.0", "5a:00.0", "5b:01.0", "5b:02.0", "5d:00.0", "5e:00.0"),
    ("97:01.0", "98:00.0", "99:01.0", "99:02.0", "9b:00.0", "9c:00.0"),
    ("b7:01.0", "b8:00.0", "b9:01.0", "b9:02.0", "bb:00.0", "bc:00.0"),
    ("c7:01.0", "c8:00.0", "c9:01.0", "c9:02.0", "cb:00.0", "cc:00.0"),
    ("d7:01.0", "d8:00.0", "d9:01.0", "d9:02.0", "db:00.0", "dc:00.0"),
]
VENDOR = {"intel": "0x8086", "broadcom": "0x1000", "nvidia": "0x10de", "mellanox": "0x15b3"}


def dom(bdf: str) -> str:
    return "0000:" + bdf


def sysfs_path(*chain: str) -> str:
    root = "pci0000:" + chain[0].split(":")[0]
    return "/sys/devices/" + "/".join([root] + [dom(b) for b in chain])


def nic_path(bdf: str, extra_bridges: dict[str, tuple[str, ...]]) -> str:
    """sysfs path of a NIC function: under its switch, or under the bridges given for it."""
    for rp, us, _, ds_nic, _, nic in TREE:
        if bdf == nic:
            return sysfs_path(rp, us, ds_nic, nic)
    return sysfs_path(*extra_bridges[bdf], bdf)


# ---- small renderers ---------------------------------------------------------------------------

def mac_from_guid(guid: str) -> str:
    """Node GUID a088c20300e3142a -> MAC a0:88:c2:e3:14:2a (mlx5 builds the GUID from the MAC)."""
    g = guid.lower().removeprefix("0x").rjust(16, "0")
    b = g[0:6] + g[10:16]
    return ":".join(b[i:i + 2] for i in range(0, 12, 2))


def mac_from_eui64(guid: str) -> str:
    """RoCE Port GUID (the default GID's interface id, EUI-64) -> the netdev MAC."""
    g = guid.lower().removeprefix("0x").rjust(16, "0")
    b = [int(g[i:i + 2], 16) for i in range(0, 16, 2)]
    return ":".join(f"{x:02x}" for x in [b[0] ^ 2, b[1], b[2], b[5], b[6], b[7]])


def eui64(mac: str) -> str:
    b = [int(x, 16) for x in mac.split(":")]
    b = [b[0] ^ 2] + b[1:3] + [0xff, 0xfe] + b[3:]
    return ":".join(f"{b[i]:02x}{b[i + 1]:02x}" for i in range(0, 8, 2))


def colon_guid(guid: str) -> str:
    g = guid.lower().removeprefix("0x").rjust(16, "0")
    return ":".join(g[i:i + 4] for i in range(0, 16, 4))


def v4_gid(ip: str) -> str:
    a, b, c, d = (int(x) for x in ip.split("."))
    return f"0000:0000:0000:0000:0000:ffff:{a:02x}{b:02x}:{c:02x}{d:02x}"


def netplan_setnicaddr(ifname: str, ip: str, mtu: int, gw: str | None = None, table: int | None = None) -> str:
    """/etc/netplan/12-<IF>.yaml exactly as setNicAddr.sh's configure_netplan heredoc renders it
    (ENABLE_POLICY_ROUTE=true with a gateway; without one: address and MTU only)."""
    lines = ["network:", "  version: 2", "  renderer: networkd", "  ethernets:", f"    {ifname}:", "",
             "      addresses:", f'       - "{ip}"', "", f"      mtu: {mtu}"]
    if table is not None:
        lines += ["      routes:", "        - to: 0.0.0.0/0", f"          via: {gw}", f"          table: {table}",
                  "      routing-policy:", f"        - from: {ip.split('/')[0]}", f"          table: {table}"]
    else:
        lines += ["", ""]
    return "\n".join(lines) + "\n"


RDMA_ROUTING_UNIT = f"""[Unit]
Description=Custom IP Routing Rules
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash -c 'ip rule add not to {RDMA_CIDR} table main priority 2000'
ExecStop=/bin/bash -c 'ip rule del not to {RDMA_CIDR} table main priority 2000 2>/dev/null || true'

[Install]
WantedBy=multi-user.target
"""

RDMA_QOS_UNIT = """[Unit]
Description=RDMA QoS Configuration Service
After=network.target

[Service]
Type=simple
Restart=always
ExecStart=/bin/bash /usr/local/bin/rdma_qos.sh
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""

OS_RELEASE = """PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""


# ---- the node model ----------------------------------------------------------------------------

@dataclass
class Nic:
    """One network device: a PF with its RDMA port, a bond, or loopback."""

    name: str
    mac: str
    mtu: int = 1500
    state: str = "up"                       # up | no-carrier | admin-down
    link_type: str = "ether"
    kind: str | None = None                 # bond | ipoib
    master: str | None = None
    addrs: list[str] = field(default_factory=list)
    pci: str | None = None                  # BDF with domain
    path: str | None = None                 # resolved sysfs device path
    numvfs: int | None = None
    totalvfs: int | None = None
    rail: int | None = None                 # 1-based rail number
    ipoib_mode: str | None = None


@dataclass
class Rdma:
    """One RDMA device (single port), its ibstat values and the netdev it belongs to."""

    dev: str
    ca: dict[str, str]
    netdev: str
    pci: str
    path: str
    gids: list[tuple[str, str, str | None]] = field(default_factory=list)   # (gid, type, ndev)

    @property
    def active(self) -> bool:
        return self.ca["State"] == "Active"

    @property
    def ib(self) -> bool:
        return self.ca["Link layer"] == "InfiniBand"


RATE_NAME = {400: "4X NDR", 200: "4X HDR", 100: "4X EDR", 40: "4X QDR"}


class Node:
    """A snapshot under construction, with a provenance row for every piece."""

    def __init__(self, name: str, date: str, story: list[str]):
        self.name = name
        self.story = story
        self.snap = Snapshot(node=name, meta={"collector_version": "1", "uid": "0", "date": date,
                                              "kernel": KERNEL, "opts": "", "target": f"ssh://root@{name}"})
        self.rows: list[tuple[tuple[str, ...], str, str]] = []
        self.nics: list[Nic] = []
        self.rdma: list[Rdma] = []

    # -- raw evidence --
    def file(self, path: str, content: str) -> None:
        if path in self.snap.files:
            raise SystemExit(f"{self.name}: {path} written twice")
        self.snap.files[path] = content.encode()

    def attr(self, path: str, value: object) -> None:
        self.file(path, f"{value}\n")

    def cmd(self, name: str, stdout: str, rc: int = 0, stderr: str = "") -> None:
        self.snap.commands[name] = CommandOutput(name=name, rc=rc, stdout=stdout.encode(), stderr=stderr.encode())

    def row(self, what: str | list[str], kind: str, note: str) -> None:
        """Provenance of the evidence matching ``what`` (one pattern or several)."""
        if kind.split()[0] not in ("real", "derived", "hand-made"):
            raise ValueError(kind)
        self.rows.append((tuple([what] if isinstance(what, str) else what), kind, note))

    def nic(self, name: str) -> Nic:
        return next(n for n in self.nics if n.name == name)

    # -- coverage: every piece of evidence has a row, every row covers something --
    def keys(self) -> list[str]:
        return (sorted(self.snap.files) + [f"command {c}" for c in sorted(self.snap.commands)]
                + [f"link {k}" for k in sorted(self.snap.links)] + [f"missing {t}" for t in sorted(self.snap.missing)]
                + [f"exists {p}" for p in sorted(self.snap.exists)])

    def check_coverage(self) -> None:
        keys = self.keys()
        pats = [w for ws, _, _ in self.rows for w in ws]
        loose = [k for k in keys if not any(fnmatch.fnmatchcase(k, w) for w in pats)]
        idle = [w for w in pats if not any(fnmatch.fnmatchcase(k, w) for k in keys)]
        if loose or idle:
            raise SystemExit(f"{self.name}: provenance incomplete: uncovered {loose[:5]}; "
                             f"rows covering nothing {idle[:5]}")

    def provenance(self) -> str:
        out = [f"# {self.name}: where every file of this snapshot comes from", ""]
        out += self.story + [""]
        out += ["Kinds: **real** = a recorded tool output kept in `examples/sources/` with its public source "
                "(copies of `tests/fixtures/outputs/` and `/work/shared/fixtures/outputs/` files, and an excerpt of "
                "gpud's lspci test data), used byte for byte without its header; **derived** = facts of a real "
                "output rendered in another format; **hand-made** = state the example needs that no recording "
                "shows, consistent with the real outputs named. `*` in a row matches any characters. "
                "`snapshot.json` is the index `Snapshot.save` writes; stored file names are in it.", "",
                "| evidence (host path, `command NAME`, `link PATH`, `missing TOOL`, `exists PATH`) | kind | "
                "source / why |", "|---|---|---|"]
        out += [f"| {' '.join(f'`{w}`' for w in ws)} | {k} | {n} |" for ws, k, n in self.rows]
        return "\n".join(out) + "\n"

    def save(self, root: Path) -> None:
        self.check_coverage()
        dest = root / self.name
        if dest.exists():
            shutil.rmtree(dest)
        self.snap.save(dest)
        (dest / "PROVENANCE.md").write_text(self.provenance())


# ---- pieces shared by the nodes ----------------------------------------------------------------

def base_files(n: Node, cmdline: str, tcp_ecn: int) -> None:
    n.attr("/proc/sys/kernel/hostname", n.name)
    n.file("/etc/os-release", OS_RELEASE)
    n.attr("/proc/cmdline", cmdline)
    n.attr("/sys/class/dmi/id/sys_vendor", "Dell Inc.")
    n.attr("/sys/class/dmi/id/product_name", "PowerEdge XE9680")
    n.attr("/proc/sys/net/ipv4/tcp_ecn", tcp_ecn)
    for knob, v in (("rp_filter", 2), ("arp_ignore", 1), ("arp_announce", 2)):
        n.attr(f"/proc/sys/net/ipv4/conf/all/{knob}", v)
    n.attr("/proc/sys/net/ipv4/conf/default/rp_filter", 2)
    n.row("/proc/sys/kernel/hostname", "hand-made", "the node name")
    n.row("/etc/os-release", "hand-made",
          "Ubuntu 22.04 (a distribution MLNX_OFED 23.07 supports, with its 5.15 kernel)")
    n.row("/proc/cmdline", "hand-made", f"Ubuntu kernel {KERNEL}; `intel_iommu=on iommu=pt` as SR-IOV hosts run "
          "(recorded by pcie.iommu; the profiles accept any IOMMU mode)")
    n.row("/sys/class/dmi/id/*", "hand-made", "Dell PowerEdge XE9680: the real lspci tree carries Dell subsystem "
          "ids and is an 8x H100 / 8x PEX890xx layout; model name assumed")
    n.row("/proc/sys/net/ipv4/tcp_ecn", "hand-made",
          "1 as rdma-qos.sh sets it (`sysctl -w net.ipv4.tcp_ecn=1`, " + SP + "docs/example/qos/rdma-qos.sh#L231)"
          if tcp_ecn == 1 else "2, the kernel default (no lossless RoCE on InfiniBand)")
    n.row("/proc/sys/net/ipv4/conf/*", "hand-made",
          "rp_filter 2 (Ubuntu's default, loose), arp_ignore 1 / arp_announce 2 set for the host in "
          "/etc/sysctl.d (all), per-interface values left at 0")


def proc_modules(peermem: bool) -> str:
    """/proc/modules (``name size refcount users state address taint``); addresses as the kernel
    shows them with kptr_restrict=2."""
    real = [  # from the lsmod sources, in /proc/modules form
        ("nvidia_peermem", 16384, None, "(OE)"),
        ("gdrdrv", 24576, None, "(OE)"),
        ("nvidia_fs", 258048, None, "(OE)"),
        ("nvidia", 11427840, "nvidia_uvm,nvidia_peermem,nvidia_fs,nvidia_modeset", "(POE)"),
        ("ib_core", 524288, "rdma_cm,ib_ipoib,iw_cm,ib_umad,rdma_ucm,ib_uverbs,mlx5_ib,ib_cm", "(OE)"),
        ("mlx_compat", 20480, "rdma_cm,ib_ipoib,mlxdevm,nvme,mlxfw,iw_cm,nvme_core,ib_umad,ib_core,rdma_ucm,"
                              "ib_uverbs,mlx5_ib,ib_cm,mlx5_core", "(OE)"),
    ]
    made = [  # the modules those lines name as users, to complete the listing (sizes illustrative)
        ("nvidia_uvm", 1437696, None, "(POE)"), ("nvidia_modeset", 1323008, None, "(POE)"),
        ("ib_ipoib", 155648, None, "(OE)"), ("ib_umad", 40960, None, "(OE)"),
        ("rdma_ucm", 32768, None, "(OE)"), ("rdma_cm", 139264, "rdma_ucm", "(OE)"),
        ("iw_cm", 53248, "rdma_cm", "(OE)"), ("ib_cm", 131072, "rdma_cm,ib_ipoib", "(OE)"),
        ("mlx5_ib", 495616, None, "(OE)"), ("ib_uverbs", 184320, "rdma_ucm,mlx5_ib", "(OE)"),
        ("mlx5_core", 2248704, "mlx5_ib", "(OE)"), ("mlxdevm", 184320, "mlx5_core", "(OE)"),
        ("mlxfw", 36864, "mlx5_core", "(OE)"), ("bonding", 200704, None, ""),
        ("nvme", 53248, None, "(OE)"), ("nvme_core", 200704, "nvme", "(OE)"),
    ]
    lines = []
    for name, size, users, taint in real + made:
        if name == "nvidia_peermem" and not peermem:
            continue
        if name == "nvidia" and not peermem:
            users = "nvidia_uvm,nvidia_fs,nvidia_modeset"
        u = users.split(",") if users else []
        lines.append(f"{name} {size} {len(u)} {','.join(u) + ',' if u else '-'} Live 0x0000000000000000"
                     + (f" {taint}" if taint else ""))
    return "\n".join(lines) + "\n"


def modules_rows(n: Node, peermem: bool) -> None:
    lsmod = [source(f"lsmod/{f}") for f in ("spiderpool-nvidia-peermem-line.txt", "spiderpool-gdrdrv-line.txt",
                                            "stelline-nvidia-fs-nvidia-peermem-user.txt",
                                            "stelline-ib-core-mlx-compat-mofed.txt")]
    note = ("the lines of " + ", ".join(s.ref for s in lsmod) + " rewritten in /proc/modules "
            "form (name, size, refcount, users, `Live`, address as shown with kptr_restrict=2, taint); hand-made "
            "lines for the modules those lines name as users (mlx5_core, mlx5_ib, ib_uverbs, rdma_ucm, rdma_cm, "
            "ib_ipoib, ..., sizes illustrative) and bonding")
    if not peermem:
        note += ("; DRIFT: no nvidia_peermem line, and nvidia's users are the real list without "
                 "nvidia_peermem (refcount 3)")
    n.file("/proc/modules", proc_modules(peermem))
    n.row("/proc/modules", "derived (+ hand-made lines)", note)


def netns(n: Node, live: str) -> None:
    src = source(f"rdma_system/spiderpool-{live}-mode.txt")
    n.cmd("rdma_system", src.body)
    n.row("command rdma_system", "real", src.ref)
    n.attr("/sys/module/ib_core/parameters/netns_mode", "Y" if live == "shared" else "N")
    n.row("/sys/module/ib_core/parameters/netns_mode", "derived",
          f"`{'Y' if live == 'shared' else 'N'}`: the kernel parameter mirrors the running mode of `rdma system` "
          "(Y shared, N exclusive)")
    n.file("/etc/modprobe.d/ib_core.conf", "options ib_core netns_mode=0\n")
    n.row("/etc/modprobe.d/ib_core.conf", "hand-made",
          f"what Spiderpool's docs write to persist exclusive mode (`echo \"options ib_core netns_mode=0\" >> "
          f"/etc/modprobe.d/ib_core.conf`, {SP}docs/usage/install/ai/index.md#L199-L200)")


def systemctl(n: Node, unit: str, enabled: str | None, active: str) -> None:
    if enabled is None:
        n.cmd(f"systemctl_enabled/{unit}", "", rc=1,
              stderr=f"Failed to get unit file state for {unit}: No such file or directory\n")
    else:
        n.cmd(f"systemctl_enabled/{unit}", enabled + "\n", rc=0 if enabled == "enabled" else 1)
    n.cmd(f"systemctl_active/{unit}", active + "\n", rc=0 if active == "active" else 3)


def pci_tree(n: Node, lspci: str, extra: dict[str, tuple[str, str]]) -> None:
    """pci_devices (ls -l), class/vendor attributes of the devices on the GPU<->NIC paths and the
    NICs; ``extra``: BDF of other NIC functions -> (class, vendor) with their paths in n.nics."""
    entries: dict[str, tuple[str, str, str]] = {}     # bdf -> (path, class, vendor)
    for rp, us, ds_gpu, ds_nic, gpu, nic in TREE:
        entries[rp] = (sysfs_path(rp), "0x060400", VENDOR["intel"])
        entries[us] = (sysfs_path(rp, us), "0x060400", VENDOR["broadcom"])
        entries[ds_gpu] = (sysfs_path(rp, us, ds_gpu), "0x060400", VENDOR["broadcom"])
        entries[ds_nic] = (sysfs_path(rp, us, ds_nic), "0x060400", VENDOR["broadcom"])
        entries[gpu] = (sysfs_path(rp, us, ds_gpu, gpu), "0x030200", VENDOR["nvidia"])
    for nic in n.nics:
        if nic.pci:
            bdf = nic.pci.removeprefix("0000:")
            cls, ven = extra[bdf]
            entries[bdf] = (nic.path, cls, ven)
            parts = nic.path.split("/")                     # '', sys, devices, pci0000:xx, root port, ...
            for k in range(4, len(parts) - 1):              # bridges above a NIC beside the switch's ports
                entries.setdefault(parts[k].removeprefix("0000:"), (
                    "/".join(parts[:k + 1]), "0x060400", VENDOR["intel"] if k == 4 else VENDOR["broadcom"]))
    when = datetime.strptime(n.snap.meta["date"], "%Y-%m-%dT%H:%M:%SZ").strftime("%b %d %H:%M")
    ls = ["total 0"]
    for bdf in sorted(entries):
        path, cls, ven = entries[bdf]
        ls.append(f"lrwxrwxrwx 1 root root 0 {when} {dom(bdf)} -> ../../..{path[4:]}")
        n.attr(f"/sys/bus/pci/devices/{dom(bdf)}/class", cls)
        n.attr(f"/sys/bus/pci/devices/{dom(bdf)}/vendor", ven)
    n.cmd("pci_devices", "\n".join(ls) + "\n")
    n.cmd("lspci_vvv", lspci)
    n.row("command pci_devices", "derived",
          "`ls -l /sys/bus/pci/devices/` lines for the bridges and GPUs of the real lspci tree "
          "(`sources/lspci_vvv/`: each GPU at the secondary bus of its switch's first downstream port, each "
          "ConnectX-7 at the second's) and the NIC functions; other functions (NVMe, NVSwitch, VFs) left out")
    n.row("/sys/bus/pci/devices/*/class", "derived", "the class each device's lspci header names (PCI bridge "
          "0x060400, 3D controller 0x030200, Ethernet 0x020000, InfiniBand 0x020700)")
    n.row("/sys/bus/pci/devices/*/vendor", "derived",
          "the vendor each lspci header names (Intel 0x8086, Broadcom/LSI 0x1000, NVIDIA 0x10de, Mellanox 0x15b3)")


def lspci_rows(n: Node, src: Source, drift: str | None = None) -> None:
    n.row("command lspci_vvv", "real" if drift is None else "real (one line hand-made)",
          f"{src.ref}: the 32 bridge blocks on the GPU<->ConnectX-7 paths, each cut to the lines the PCIe facts "
          "read (header, NUMA node, Bus, the Express port type, the ACS capability with ACSCap/ACSCtl, driver), "
          "every kept line byte for byte and in order (the recording ran `lspci -vvv` without -D; endpoint and "
          "other devices' blocks left out)" + (f"; {drift}" if drift else ""))


# ---- network (ip -j JSON, sysfs) ---------------------------------------------------------------

def link_json(i: int, nic: Nic) -> dict:
    if nic.link_type == "loopback":
        flags = ["LOOPBACK", "UP", "LOWER_UP"]
    elif nic.state == "admin-down":
        flags = ["BROADCAST", "MULTICAST"]
    elif nic.state == "no-carrier":
        flags = ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"]
    else:
        flags = ["BROADCAST", "MULTICAST"] + (["SLAVE"] if nic.master else []) + \
                (["MASTER"] if nic.kind == "bond" else []) + ["UP", "LOWER_UP"]
    j: dict = {"ifindex": i, "ifname": nic.name, "flags": flags, "mtu": nic.mtu,
               "qdisc": "noqueue" if nic.kind == "bond" or nic.link_type == "loopback" else "mq"}
    if nic.master:
        j["master"] = nic.master
    j.update({"operstate": "UNKNOWN" if nic.link_type == "loopback" else "UP" if nic.state == "up" else "DOWN",
              "linkmode": "DEFAULT", "group": "default", "txqlen": 1000 if nic.link_type != "infiniband" else 256,
              "link_type": nic.link_type, "address": nic.mac,
              "broadcast": "00:00:00:00:00:00" if nic.link_type == "loopback" else
              "00:ff:ff:ff:ff:12:40:1b:ff:ff:00:00:00:00:00:00:ff:ff:ff:ff" if nic.link_type == "infiniband"
              else "ff:ff:ff:ff:ff:ff"})
    if nic.kind == "bond":
        j["linkinfo"] = {"info_kind": "bond", "info_data": {"mode": "802.3ad"}}
    elif nic.kind == "ipoib":
        j["linkinfo"] = {"info_kind": "ipoib", "info_data": {"pkey": 65535, "mode": nic.ipoib_mode, "umcast": 0}}
    elif nic.master:
        j["linkinfo"] = {"info_slave_kind": "bond"}
    return j


def network(n: Node, rules: list[dict], routes: list[dict]) -> None:
    links, addrs = [], []
    for i, nic in enumerate(n.nics, start=1):
        lj = link_json(i, nic)
        links.append(lj)
        info = []
        for a in nic.addrs:
            iface = ipaddress.ip_interface(a)
            e = {"family": "inet", "local": str(iface.ip), "prefixlen": iface.network.prefixlen}
            if nic.link_type != "loopback":
                e["broadcast"] = str(iface.network.broadcast_address)
            e.update({"scope": "host" if nic.link_type == "loopback" else "global", "label": nic.name,
                      "valid_life_time": 4294967295, "preferred_life_time": 4294967295})
            info.append(e)
        addrs.append({k: v for k, v in lj.items() if k != "linkinfo"} | {"addr_info": info})
    n.cmd("ip_link", json.dumps(links) + "\n")
    n.cmd("ip_addr", json.dumps(addrs) + "\n")
    n.cmd("ip_rule", json.dumps(sorted(rules, key=lambda r: r["priority"])) + "\n")
    n.cmd("ip_route", json.dumps(routes) + "\n")
    for nic in n.nics:
        base = f"/sys/class/net/{nic.name}"
        n.attr(f"{base}/mtu", nic.mtu)
        n.attr(f"{base}/operstate", "unknown" if nic.link_type == "loopback" else "up" if nic.state == "up" else "down")
        n.attr(f"{base}/address", nic.mac)
        n.attr(f"{base}/type", {"ether": 1, "infiniband": 32, "loopback": 772}[nic.link_type])
        if nic.state != "admin-down":
            n.attr(f"{base}/carrier", 0 if nic.state == "no-carrier" else 1)
        if nic.ipoib_mode:
            n.attr(f"{base}/mode", nic.ipoib_mode)
        if nic.totalvfs is not None:
            n.attr(f"{base}/device/sriov_numvfs", nic.numvfs)
            n.attr(f"{base}/device/sriov_totalvfs", nic.totalvfs)
        for knob, v in (("rp_filter", 2), ("arp_ignore", 0), ("arp_announce", 0)):
            n.attr(f"/proc/sys/net/ipv4/conf/{nic.name}/{knob}", v)
        if nic.path:
            n.snap.links[f"{base}/device"] = nic.path
            n.snap.links[f"{base}/device/driver"] = "/sys/bus/pci/drivers/mlx5_core"
    n.row([f"/sys/class/net/*/{a}" for a in ("mtu", "operstate", "address", "type", "carrier")], "derived",
          "each link's MTU, operstate, address, link type (ARPHRD 1 ether, 32 infiniband, 772 loopback) and "
          "LOWER_UP in `command ip_link` (carrier is not readable while a link is administratively down: absent then)")
    n.row("link /sys/class/net/*/device*", "derived",
          "each NIC function's place in the real PCIe tree (see `command pci_devices`); driver mlx5_core")


def rdma_sysfs(n: Node, lossless: bool) -> None:
    """/sys/class/infiniband from the ibstat values (+ GIDs from the netdev addresses)."""
    for r in n.rdma:
        base = f"/sys/class/infiniband/{r.dev}"
        ca = r.ca
        n.attr(f"{base}/node_guid", colon_guid(ca["Node GUID"]))
        n.attr(f"{base}/sys_image_guid", colon_guid(ca["System image GUID"]))
        n.attr(f"{base}/fw_ver", ca["Firmware version"])
        n.attr(f"{base}/hca_type", ca["CA type"])
        n.attr(f"{base}/node_type", "1: CA")
        n.snap.links[f"{base}/device"] = r.path
        p = f"{base}/ports/1"
        n.attr(f"{p}/state", "4: ACTIVE" if r.active else "1: DOWN")
        n.attr(f"{p}/phys_state", "5: LinkUp" if ca["Physical state"] == "LinkUp" else "3: Disabled")
        rate = int(ca["Rate"])
        n.attr(f"{p}/rate", f"{rate} Gb/sec ({RATE_NAME[rate]})")
        n.attr(f"{p}/link_layer", ca["Link layer"])
        n.attr(f"{p}/lid", f"{int(ca['Base lid']):#x}")
        n.attr(f"{p}/sm_lid", f"{int(ca['SM lid']):#x}")
        n.attr(f"{p}/lid_mask_count", ca["LMC"])
        n.attr(f"{p}/cap_mask", f"0x{int(ca['Capability mask'], 16):08x}")
        for idx, (gid, typ, ndev) in enumerate(r.gids):
            n.attr(f"{p}/gids/{idx}", gid)
            n.attr(f"{p}/gid_attrs/types/{idx}", typ)
            if ndev:
                n.attr(f"{p}/gid_attrs/ndevs/{idx}", ndev)
        if lossless:
            n.attr(f"{base}/tc/1/traffic_class", "Global tclass=160")
            n.attr(f"/sys/kernel/config/rdma_cm/{r.dev}/ports/1/default_roce_tos", 160)
            n.attr(f"/sys/kernel/config/rdma_cm/{r.dev}/ports/1/default_roce_mode", "RoCE v2")
    n.row([f"/sys/class/infiniband/*/{a}" for a in ("node_guid", "sys_image_guid", "fw_ver", "hca_type", "node_type")],
          "derived", "each CA's values in `command ibstat` (GUIDs in sysfs form; node_type `1: CA`)")
    n.row([f"/sys/class/infiniband/*/ports/1/{a}" for a in ("state", "phys_state", "rate", "link_layer", "lid",
                                                             "sm_lid", "lid_mask_count", "cap_mask")],
          "derived", "the port's values in `command ibstat` in the kernel's sysfs format (`4: ACTIVE` / `1: DOWN`, "
          "`5: LinkUp` / `3: Disabled`, `400 Gb/sec (4X NDR)`, lids in hex)")
    n.row("link /sys/class/infiniband/*/device", "derived", "the PCI function of each RDMA device (kernel naming "
          "follows PCI order)")


def gid_rows(n: Node, roce: bool) -> None:
    if roce:
        n.row("/sys/class/infiniband/*/ports/1/gids/*", "derived",
              "RoCE GID table of each active ConnectX-7 port: index 0/1 the link-local GID from the port MAC "
              "(= `Port GUID` in `command ibstat`), 2/3 the IPv4-mapped GID of the rail address; RoCE v1 and v2 "
              "each (what the kernel builds). No entries where `command ibstat` shows `Port GUID: 0x0` "
              "(bond slaves, and ports that are down)")
        n.row("/sys/class/infiniband/*/ports/1/gid_attrs/*", "derived",
              "type (`IB/RoCE v1` / `RoCE v2`) and ndev of each GID above")
    else:
        n.row("/sys/class/infiniband/*/ports/1/gids/*", "derived",
              "GID 0 of each InfiniBand port = subnet prefix fe80:: + `Port GUID` in `command ibstat`; the "
              "Ethernet bond device's RoCE GIDs from the bond MAC and address")
        n.row("/sys/class/infiniband/*/ports/1/gid_attrs/*", "derived",
              "type of each GID above (`IB/RoCE v1`, `RoCE v2`); ndev only for the Ethernet bond (InfiniBand "
              "GIDs have none)")


def ibv_devinfo(rdma: list[Rdma], mtus: dict[str, int]) -> str:
    """``ibv_devinfo`` as libibverbs' devinfo.c prints it (no board_id: none in the example's sysfs)."""
    out = []
    for r in sorted(rdma, key=lambda r: (len(r.dev), r.dev)):
        ca = r.ca
        part = int(re.sub(r"\D", "", ca["CA type"]))
        out += [f"hca_id:\t{r.dev}", "\ttransport:\t\t\tInfiniBand (0)", f"\tfw_ver:\t\t\t\t{ca['Firmware version']}",
                f"\tnode_guid:\t\t\t{colon_guid(ca['Node GUID'])}",
                f"\tsys_image_guid:\t\t\t{colon_guid(ca['System image GUID'])}", "\tvendor_id:\t\t\t0x02c9",
                f"\tvendor_part_id:\t\t\t{part}", f"\thw_ver:\t\t\t\t0x{int(ca['Hardware version']):X}",
                "\tphys_port_cnt:\t\t\t1", "\t\tport:\t1"]
        mtu = 4096 if r.ib else next(m for m in (4096, 2048, 1024, 512, 256) if mtus[r.netdev] - 96 >= m)
        code = {4096: 5, 2048: 4, 1024: 3, 512: 2, 256: 1}[mtu]
        out += [f"\t\t\tstate:\t\t\t{'PORT_ACTIVE (4)' if r.active else 'PORT_DOWN (1)'}",
                "\t\t\tmax_mtu:\t\t4096 (5)", f"\t\t\tactive_mtu:\t\t{mtu} ({code})",
                f"\t\t\tsm_lid:\t\t\t{ca['SM lid']}", f"\t\t\tport_lid:\t\t{ca['Base lid']}",
                f"\t\t\tport_lmc:\t\t0x{int(ca['LMC']):02x}", f"\t\t\tlink_layer:\t\t{ca['Link layer']}", ""]
    return "\n".join(out) + "\n"


def rdma_tools(n: Node, ibstat: Source, ib_form: bool) -> None:
    n.cmd("ibstat", ibstat.body)
    n.row("command ibstat", "real", ibstat.ref)
    by_index = sorted(n.rdma, key=lambda r: (len(r.dev), r.dev))
    lines, i2n = [], []
    for r in by_index:
        st = "ACTIVE" if r.active else "DOWN"
        ph = "LINK_UP" if r.ca["Physical state"] == "LinkUp" else "DISABLED"
        if ib_form and r.ib:
            lines.append(f"link {r.dev}/1 subnet_prefix fe80:0000:0000:0000 lid {r.ca['Base lid']} sm_lid "
                         f"{r.ca['SM lid']} lmc {r.ca['LMC']} state {st} physical_state {ph}")
        else:
            lines.append(f"link {r.dev}/1 state {st} physical_state {ph} netdev {r.netdev}")
    for r in sorted(n.rdma, key=lambda r: r.dev):
        i2n.append(f"{r.dev} port 1 ==> {r.netdev} ({'Up' if n.nic(r.netdev).state == 'up' else 'Down'})")
    n.cmd("rdma_link", "\n".join(lines) + "\n")
    n.cmd("ibdev2netdev", "\n".join(i2n) + "\n")
    n.cmd("ibv_devinfo", ibv_devinfo(n.rdma, {x.name: x.mtu for x in n.nics}))
    fmt = [source("rdma_link/daocloud-cx5-roce-enp4s0f0np0.txt")]
    if ib_form:
        fmt.append(source("rdma_link/spiderpool-ipoib-ib-lid-smlid.txt"))
    n.row("command rdma_link", "derived", "the RDMA devices above rendered as `rdma link` prints them (device "
          "index order), in the format of " + " and ".join(s.ref for s in fmt)
          + (" (InfiniBand ports: lid/sm_lid form, no netdev)" if ib_form else ""))
    n.row("command ibdev2netdev", "derived", "the same device -> netdev map in the format of "
          + source("ibdev2netdev/daocloud-cx5-roce-two-up.txt").ref)
    n.row("command ibv_devinfo", "derived", "`command ibstat` values rendered as libibverbs' devinfo.c prints "
          "them (see " + source("ibv_devinfo/stelline-cx7-roce-mlx5_1-active.txt").ref + "); active_mtu = the "
          "RoCE MTU the netdev MTU gives (MTU - 96, rounded down to an IB MTU), 4096 on InfiniBand; no board_id "
          "line (devinfo.c prints it only when sysfs board_id is readable; the PSID is in no source)")
    ofed = source("ofed_info/daocloud-mlnx-ofed-23.07.txt")
    n.cmd("ofed_info", ofed.body)
    n.row("command ofed_info", "real", ofed.ref)


def misc(n: Node) -> None:
    n.snap.missing.add("nvidia-smi")
    n.snap.exists.update({"/dev/gdrdrv", "/dev/infiniband/uverbs0"})
    n.row("exists /dev/*", "hand-made", "device nodes present: /dev/gdrdrv (gdrdrv is loaded, see /proc/modules) "
          "and /dev/infiniband/uverbs0")
    n.row("missing nvidia-smi", "hand-made", "not on the host PATH with gpu-operator's containerized driver")
    n.story.append("The GPU driver runs in gpu-operator's driver container, so `nvidia-smi` is not on the "
                   "host's PATH (recorded as missing) and GPU<->NIC affinity is read from the PCIe tree. "
                   "`/dev/gdrdrv` and `/dev/infiniband/uverbs0` exist (gdrcopy is installed: gpu-operator "
                   "`gdrcopy.enabled=true`).")


# ---- RoCE nodes -------------------------------------------------------------------------------

ROCE_PCI = ["1a:00.0", "1b:00.0", "1b:00.1", "3c:00.0", "4d:00.0", "5e:00.0", "9c:00.0", "9d:00.0", "9d:00.1",
            "bc:00.0", "cc:00.0", "dc:00.0"]     # mlx5_0 .. mlx5_11 (kernel naming = PCI order)
CX6_BRIDGES = {"1b:00.0": ("15:01.0", "16:00.0", "17:03.0"), "1b:00.1": ("15:01.0", "16:00.0", "17:03.0"),
               "9d:00.0": ("97:01.0", "98:00.0", "99:03.0"), "9d:00.1": ("97:01.0", "98:00.0", "99:03.0")}


@dataclass
class Drift:
    """What differs from the compliant design on the drift node (rail numbers are 1-based)."""

    admin_down: int | None = None
    mtu_1500: int | None = None
    no_rule: int | None = None
    ecn_off: int | None = None
    pfc3: int | None = None
    acs_on: int | None = None
    netns_shared: bool = False
    no_peermem: bool = False
    qos_service_failed: bool = False


def roce_node(name: str, host: int, date: str, ibstat_rel: str, drift: Drift | None, story: list[str]) -> Node:
    d = drift or Drift()
    n = Node(name, date, story)
    ibstat = source(ibstat_rel)
    base_files(n, CMDLINE, tcp_ecn=1)
    rail_nics = roce_nics(n, {c["CA"]: c for c in ibstat_cas(ibstat.body)}, host, d)
    roce_routing(n, rail_nics, host, d, drifted=drift is not None)
    rdma_sysfs(n, lossless=True)
    gid_rows(n, roce=True)
    roce_qos(n, rail_nics, d)
    rdma_tools(n, ibstat, ib_form=False)
    netns(n, "shared" if d.netns_shared else "exclusive")
    modules_rows(n, peermem=not d.no_peermem)
    roce_persistence(n, rail_nics, host, d)
    roce_pcie(n, d)
    misc(n)
    return n


CMDLINE = f"BOOT_IMAGE=/vmlinuz-{KERNEL} root=/dev/mapper/ubuntu--vg-ubuntu--lv ro intel_iommu=on iommu=pt"
ROCE_BONDS = {"bond0": ["1b:00.0", "9d:00.0"], "bond1": ["1b:00.1", "9d:00.1"]}   # one port of each card


def roce_nics(n: Node, cas: dict[str, dict[str, str]], host: int, d: Drift) -> list[Nic]:
    """lo, a netdev per RDMA device (rails on the ConnectX-7s, bond slaves on the ConnectX-6 Dx),
    the two bonds; returns the rail netdevs in rail order."""
    rails = [b for b in ROCE_PCI if b not in CX6_BRIDGES]
    slave_of = {b: bond for bond, members in ROCE_BONDS.items() for b in members}
    for i, bdf in enumerate(ROCE_PCI):
        dev, ca, path = f"mlx5_{i}", cas[f"mlx5_{i}"], nic_path(bdf, CX6_BRIDGES)
        bus, fn = int(bdf[:2], 16), int(bdf[-1])
        gids: list[tuple[str, str, str | None]] = []
        if bdf in rails:
            rail = rails.index(bdf) + 1
            netdev = f"enp{bus}s0np0"
            state = "admin-down" if rail == d.admin_down else "up" if ca["State"] == "Active" else "no-carrier"
            nic = Nic(netdev, mac_from_guid(ca["Node GUID"]), mtu=1500 if rail == d.mtu_1500 else 4200,
                      state=state, addrs=[f"172.16.{rail}.{host}/24"], pci=dom(bdf), path=path, numvfs=8,
                      totalvfs=16, rail=rail)
            if ca["State"] == "Active":        # ibstat shows Port GUID 0 (no GID 0) for the down ports
                ll, v4 = "fe80:0000:0000:0000:" + eui64(nic.mac), v4_gid(f"172.16.{rail}.{host}")
                gids = [(g, t, netdev) for g in (ll, v4) for t in ("IB/RoCE v1", "RoCE v2")]
        else:
            netdev = f"enp{bus}s0f{fn}np{fn}"
            first = ROCE_BONDS[slave_of[bdf]][0]
            nic = Nic(netdev, mac_from_guid(cas[f"mlx5_{ROCE_PCI.index(first)}"]["Node GUID"]), mtu=1500,
                      master=slave_of[bdf], pci=dom(bdf), path=path, numvfs=0, totalvfs=8)
        n.nics.append(nic)
        n.rdma.append(Rdma(dev, ca, netdev, dom(bdf), path, gids))
    n.nics.sort(key=lambda x: x.pci or "")
    n.nics.insert(0, Nic("lo", "00:00:00:00:00:00", mtu=65536, link_type="loopback", addrs=["127.0.0.1/8"]))
    for bond, ip in (("bond0", f"10.20.0.{host}/24"), ("bond1", f"10.30.0.{host}/24")):
        first = next(x for x in n.nics if x.pci == dom(ROCE_BONDS[bond][0]))
        n.nics.append(Nic(bond, first.mac, mtu=1500, kind="bond", addrs=[ip]))
    return sorted((x for x in n.nics if x.rail), key=lambda x: x.rail or 0)


def roce_routing(n: Node, rail_nics: list[Nic], host: int, d: Drift, drifted: bool) -> None:
    """netplan (networkd) rule and table per rail, setRdmaRule.sh's rule, the main table."""
    rules = [{"priority": 0, "src": "all", "table": "local"},
             {"priority": 2000, "not": None, "src": "all", "dst": "172.16.0.0", "dstlen": 16, "table": "main"},
             {"priority": 32766, "src": "all", "table": "main"}, {"priority": 32767, "src": "all", "table": "default"}]
    routes = [{"dst": "default", "gateway": "10.20.0.1", "dev": "bond0", "protocol": "static", "flags": []}]
    routes += [{"dst": f"10.{net}.0.0/24", "dev": bond, "protocol": "kernel", "scope": "link",
                "prefsrc": f"10.{net}.0.{host}", "flags": []} for net, bond in ((20, "bond0"), (30, "bond1"))]
    policy = []
    for nic in rail_nics:
        r, table = nic.rail or 0, 150 + (nic.rail or 0)
        if r != d.no_rule:
            rules.append({"priority": 32765 - (r - 1), "src": f"172.16.{r}.{host}", "table": str(table),
                          "protocol": "static"})
        if nic.state == "admin-down":
            continue                                   # the kernel removed its routes
        flags = ["linkdown"] if nic.state == "no-carrier" else []
        routes.append({"dst": f"172.16.{r}.0/24", "dev": nic.name, "protocol": "kernel", "scope": "link",
                       "prefsrc": f"172.16.{r}.{host}", "flags": flags})
        policy.append({"dst": "default", "gateway": f"172.16.{r}.1", "dev": nic.name, "table": str(table),
                       "protocol": "static", "flags": flags})
    network(n, rules, routes + policy)
    rule_src = source("ip_rule/spiderpool-host-rdma-rule-not-to-main.txt")
    tbl_src = source("ip_route/spiderpool-host-table-152-default.txt")
    n.row("command ip_link", "hand-made",
          "links in `ip -j -d link` form (the keys the facts read; -d detail such as vfinfo_list left out): lo; "
          "per RDMA device its netdev with the MAC the ibstat Node GUID encodes, named by PCI address "
          "(enp<bus>s0np0); rails MTU 4200 as the docs' setNicAddr.sh call; the ConnectX-6 Dx ports (ibstat "
          "`Port GUID: 0x0`: their default GIDs belong to the bond) as 802.3ad slaves of bond0 (management) and "
          "bond1 (storage), one port of each card per bond, so no RoCE LAG device forms, as the ibstat listing "
          "shows" + (f"; DRIFT: rail{d.admin_down} administratively down, rail{d.mtu_1500} MTU 1500; the other "
                     "port ibstat shows Down/Disabled has no carrier" if drifted else ""))
    n.row("command ip_addr", "hand-made", f"one IPv4 per rail in its subnet (172.16.<rail>.{host}/24, the "
          "profile's), management 10.20.0.0/24 on bond0, storage 10.30.0.0/24 on bond1 (IPv6 left out)")
    n.row("command ip_rule", "hand-made",
          "`2000: not to 172.16.0.0/16 lookup main` as setRdmaRule.sh's rdma-routing.service adds it; per rail "
          "`from <ip> lookup 15<rail> proto static` with kernel-assigned priorities 32765.. (netplan's "
          "routing-policy sets none), as " + rule_src.ref + " shows for one NIC; tables 151-158 as setNicAddr.sh "
          "picks them (its loop starts at 151)" + (f"; DRIFT: no rule for rail{d.no_rule}" if d.no_rule else ""))
    n.row("command ip_route", "hand-made",
          "main: default via 10.20.0.1 dev bond0 and the connected routes; per rail table `default via "
          "172.16.<rail>.1 dev <rail> proto static` as " + tbl_src.ref + " shows for one NIC"
          + (f"; DRIFT: rail{d.admin_down} is administratively down so the kernel removed its routes; "
             "routes through the port without carrier are flagged linkdown" if drifted else ""))


def roce_qos(n: Node, rail_nics: list[Nic], d: Drift) -> None:
    """ECN sysfs, mlnx_qos and ethtool -S per rail PF, as rdma-qos.sh leaves them."""
    qos_src = source("ecn_sysfs/spiderpool-rdma-qos-script-query.txt")
    trust = source("mlnx_qos/netarbiter-trust-dscp-pfc3-vendor-tsa.txt")
    pfc3 = source("mlnx_qos/netarbiter-after-pfc-0001000.txt")
    old_row = "        enabled     0   0   0   1   0   0   0   0   \n"
    if old_row not in trust.body:
        raise SystemExit("netarbiter output changed: PFC row not found")
    pfc5 = trust.body.replace(old_row, "        enabled     0   0   0   0   0   1   0   0   \n"
                                       "        buffer      0   0   0   0   0   1   0   0   \n")
    for nic in rail_nics:
        base = f"/sys/class/net/{nic.name}/ecn"
        for kind in ("roce_np", "roce_rp"):
            for prio in range(8):
                n.attr(f"{base}/{kind}/enable/{prio}", 0 if nic.rail == d.ecn_off and prio == 5 else 1)
        n.attr(f"{base}/roce_np/cnp_dscp", 48)
        n.cmd(f"mlnx_qos/{nic.name}", pfc3.body if nic.rail == d.pfc3 else pfc5)
        n.cmd(f"ethtool_S/{nic.name}", ethtool_excerpt(nic.rail or 0))
    n.row("/sys/class/net/*/ecn/*", "derived", "ECN enables (1 for every priority) and cnp_dscp 48 as "
          + qos_src.ref + " reads them, written per rail PF")
    n.row("/sys/class/infiniband/*/tc/1/traffic_class", "derived", "`Global tclass=160` as " + qos_src.ref
          + " reads it (rdma-qos.sh writes every RDMA device)")
    n.row("/sys/kernel/config/rdma_cm/*/ports/1/default_roce_tos", "derived", "ToS 160 as `cma_roce_tos: 160` in "
          + qos_src.ref)
    n.row("/sys/kernel/config/rdma_cm/*/ports/1/default_roce_mode", "hand-made",
          f"`RoCE v2`, what rdma-qos.sh sets (`cma_roce_mode -d $dev -p 1 -m 2`, "
          f"{SP}docs/example/qos/rdma-qos.sh#L217)")
    n.row("command mlnx_qos/*", "derived",
          ("every rail but the DRIFT row below: " if d.pfc3 else "") + "the real " + trust.ref + " (trust dscp, "
          "default dscp2prio: DSCP 40 -> priority 5) with its PFC rows set as " + qos_src.ref + " shows them "
          "(`enabled` and `buffer` on priority 5 only)")
    n.row("command ethtool_S/*", "hand-made",
          "an excerpt of `ethtool -S <rail>`: only the priority-5 counters, named and laid out as mlx5 prints them "
          "(see " + source("ethtool_stats/lore-bpf-mlx5-kernel-5.15-nonzero-counters.txt").ref + "); traffic "
          "values illustrative, no discards")
    if d.ecn_off:
        n.row(f"/sys/class/net/{rail_nics[d.ecn_off - 1].name}/ecn/roce_*p/enable/5", "hand-made",
              f"DRIFT: ECN disabled on the RDMA priority of rail{d.ecn_off} (`echo 0 > .../enable/5`, NP and RP)")
    if d.pfc3:
        n.row(f"command mlnx_qos/{rail_nics[d.pfc3 - 1].name}", "real", f"DRIFT on rail{d.pfc3}: {pfc3.ref} "
              "(`mlnx_qos --pfc 0,0,0,1,0,0,0,0`: PFC on priority 3)")


def roce_persistence(n: Node, rail_nics: list[Nic], host: int, d: Drift) -> None:
    """netplan files (setNicAddr.sh), rdma-routing.service, rdma-qos.service, and their state."""
    for nic in rail_nics:
        r = nic.rail or 0
        n.file(f"/etc/netplan/12-{nic.name}.yaml",
               netplan_setnicaddr(nic.name, f"172.16.{r}.{host}/24", 4200, f"172.16.{r}.1", 150 + r))
    n.file("/etc/netplan/00-installer-config.yaml", installer_netplan(host))
    n.row("/etc/netplan/12-*.yaml", "hand-made",
          "rendered from setNicAddr.sh's netplan heredoc (" + SP + "tools/scripts/setNicAddr.sh#L169-L188) for "
          "`INTERFACE=<rail> IPV4_IP=172.16.<rail>.<host>/24 IPV4_GATEWAY=172.16.<rail>.1 MTU=4200 "
          "ENABLE_POLICY_ROUTE=true`, table 15<rail>; byte-identical to running the script's function")
    n.row("/etc/netplan/00-installer-config.yaml", "hand-made",
          "the two management/storage bonds as the Ubuntu installer writes them")
    n.file("/etc/systemd/system/rdma-routing.service", RDMA_ROUTING_UNIT)
    n.file("/etc/systemd/system/rdma-qos.service", RDMA_QOS_UNIT)
    n.row("/etc/systemd/system/rdma-routing.service", "hand-made",
          f"setRdmaRule.sh's heredoc with RDMA_CIDR={RDMA_CIDR} ({SP}tools/scripts/setRdmaRule.sh#L16-L30)")
    n.row("/etc/systemd/system/rdma-qos.service", "hand-made",
          f"rdma-qos.sh's unit heredoc, verbatim ({SP}docs/example/qos/rdma-qos.sh#L250-L264)")
    systemctl(n, "rdma-routing.service", "enabled", "active")
    systemctl(n, "rdma-qos.service", "enabled", "failed" if d.qos_service_failed else "active")
    n.row("command systemctl_*/rdma-routing.service", "hand-made", "enabled and active (setRdmaRule.sh enables "
          "and starts it)")
    n.row("command systemctl_*/rdma-qos.service", "hand-made",
          "enabled and active (rdma-qos.sh enables and restarts it)" if not d.qos_service_failed else
          "DRIFT: enabled but `failed`: the loop stopped after the boot-time run, so nothing re-applies the "
          "QoS settings (which is how the ECN and PFC changes on two rails stayed)")


def roce_pcie(n: Node, d: Drift) -> None:
    blocks = bridge_blocks(source(LSPCI).body)
    acs_note = None
    if d.acs_on:
        ds = TREE[d.acs_on - 1][3]
        pmc = source("lspci_acs/gpud-pmc-sierra-bridge-srcvalid-plus-redir.txt")
        on = next(line for line in pmc.body.splitlines() if "ACSCtl:" in line)
        off = next(line for line in blocks[ds].splitlines() if "ACSCtl:" in line)
        blocks[ds] = blocks[ds].replace(off, on)
        acs_note = (f"DRIFT: in the block of {ds} (the downstream port above rail{d.acs_on}'s ConnectX-7) the "
                    f"ACSCtl line is replaced by the real one of the PMC-Sierra downstream port 82:00.0 of the same "
                    f"host, {pmc.ref}: ACS enabled (SrcValid+ ReqRedir+ CmpltRedir+)")
    pci_tree(n, "\n".join(blocks.values()), {b: ("0x020000", VENDOR["mellanox"]) for b in ROCE_PCI})
    lspci_rows(n, source(LSPCI), acs_note)
    n.row("/sys/class/net/*/device/sriov_*", "hand-made",
          "rail PFs: 8 VFs (the profile's sriov.num_vfs) of 16 (`Total VFs: 16` in the real lspci block of the "
          f"tree's ConnectX-7 1a:00.0, {CX7_BLOCK}); the ConnectX-6 Dx ports: 0 of 8 as in "
          + source("lspci_acs/gpud-connectx6dx-endpoint-acs.txt").ref + " (the real block of 1b:00.0 on the same "
          "host). All VFs are in pods: none in the host namespace, as the ibstat listing (PFs only) shows")


def ethtool_excerpt(rail: int) -> str:
    packets = 1_800_000_000 + rail * 7_340_033
    size = 4158
    rows = [("rx_prio5_bytes", packets * size), ("rx_prio5_packets", packets), ("rx_prio5_pause", 0),
            ("rx_prio5_pause_duration", 0), ("rx_prio5_pause_transition", 0), ("rx_prio5_discards", 0),
            ("tx_prio5_bytes", (packets - 1031) * size), ("tx_prio5_packets", packets - 1031), ("tx_prio5_pause", 0),
            ("tx_prio5_pause_duration", 0), ("tx_prio5_pause_transition", 0), ("tx_prio5_discards", 0)]
    return "NIC statistics:\n" + "".join(f"     {k}: {v}\n" for k, v in rows)


def installer_netplan(host: int, bonds: dict[str, tuple[list[str], str, bool]] | None = None) -> str:
    bonds = bonds or {"bond0": (["enp27s0f0np0", "enp157s0f0np0"], f"10.20.0.{host}/24", True),
                      "bond1": (["enp27s0f1np1", "enp157s0f1np1"], f"10.30.0.{host}/24", False)}
    out = ["# This is the network config written by 'subiquity'", "network:", "  bonds:"]
    for bond, (members, ip, default) in bonds.items():
        out += [f"    {bond}:", "      addresses:", f"      - {ip}", "      interfaces:"]
        out += [f"      - {m}" for m in members]
        out += ["      parameters:", "        mode: 802.3ad"]
        if default:
            out += ["      routes:", "      - to: default", "        via: 10.20.0.1"]
    out += ["  ethernets:"] + [f"    {m}: {{}}" for members, _, _ in bonds.values() for m in members]
    out += ["  version: 2"]
    return "\n".join(out) + "\n"


LSPCI = "lspci_vvv/gpud-h100-pex890xx-gpu-nic-path-bridges.txt"
CX7_BLOCK = ("https://github.com/leptonai/gpud/blob/64926e615a0f333575d1cab5209a52bf46c5e566/pkg/pci/testdata/"
             "lspci-vvv#L1568-L1653")


# ---- InfiniBand node ----------------------------------------------------------------------------

# mlx5_0, mlx5_1, (mlx5_2, mlx5_3 = the BlueField-3 ports, bonded into mlx5_bond_0), mlx5_4 .. mlx5_9
IB_PCI = {"mlx5_0": "1a:00.0", "mlx5_1": "3c:00.0", "mlx5_4": "4d:00.0", "mlx5_5": "5e:00.0", "mlx5_6": "9c:00.0",
          "mlx5_7": "bc:00.0", "mlx5_8": "cc:00.0", "mlx5_9": "dc:00.0"}
BF3_BRIDGES = {"3e:00.0": ("37:02.0",), "3e:00.1": ("37:02.0",)}


def ib_node(name: str, host: int, date: str, story: list[str]) -> Node:
    n = Node(name, date, story)
    ibstat = source("ibstat/gpud-h100-ib-400g-with-bond.txt")
    cas = {c["CA"]: c for c in ibstat_cas(ibstat.body)}
    base_files(n, CMDLINE, tcp_ecn=2)
    n.nics.append(Nic("lo", "00:00:00:00:00:00", mtu=65536, link_type="loopback", addrs=["127.0.0.1/8"]))
    for rail, (dev, bdf) in enumerate(IB_PCI.items(), start=1):
        ca = cas[dev]
        bus = int(bdf[:2], 16)
        netdev = f"ibp{bus}s0"
        guid = ca["Port GUID"].removeprefix("0x")
        mac = f"00:00:10:{0x48 + rail:02x}:fe:80:00:00:00:00:00:00:" + ":".join(guid[i:i + 2] for i in range(0, 16, 2))
        path = nic_path(bdf, {})
        n.nics.append(Nic(netdev, mac, mtu=4092, link_type="infiniband", kind="ipoib", ipoib_mode="datagram",
                          addrs=[f"172.16.{rail}.{host}/24"], pci=dom(bdf), path=path, numvfs=8, totalvfs=16,
                          rail=rail))
        n.rdma.append(Rdma(dev, ca, netdev, dom(bdf), path,
                           [("fe80:0000:0000:0000:" + colon_guid(guid), "IB/RoCE v1", None)]))
    bond_ca = cas["mlx5_bond_0"]
    bond_mac = mac_from_eui64(bond_ca["Port GUID"])
    for fn in (0, 1):
        bdf = f"3e:00.{fn}"
        n.nics.append(Nic(f"enp62s0f{fn}np{fn}", bond_mac, mtu=1500, master="bond0", pci=dom(bdf),
                          path=nic_path(bdf, BF3_BRIDGES), numvfs=0, totalvfs=16))
    n.nics.append(Nic("bond0", bond_mac, mtu=1500, kind="bond", addrs=[f"10.20.0.{host}/24"]))
    ll = "fe80:0000:0000:0000:" + eui64(bond_mac)
    v4 = v4_gid(f"10.20.0.{host}")
    n.rdma.append(Rdma("mlx5_bond_0", bond_ca, "bond0", dom("3e:00.0"), nic_path("3e:00.0", BF3_BRIDGES),
                       [(ll, "IB/RoCE v1", "bond0"), (ll, "RoCE v2", "bond0"), (v4, "IB/RoCE v1", "bond0"),
                        (v4, "RoCE v2", "bond0")]))
    rules = [{"priority": 0, "src": "all", "table": "local"}, {"priority": 32766, "src": "all", "table": "main"},
             {"priority": 32767, "src": "all", "table": "default"}]
    routes = [{"dst": "default", "gateway": "10.20.0.1", "dev": "bond0", "protocol": "static", "flags": []},
              {"dst": "10.20.0.0/24", "dev": "bond0", "protocol": "kernel", "scope": "link",
               "prefsrc": f"10.20.0.{host}", "flags": []}]
    routes += [{"dst": f"172.16.{x.rail}.0/24", "dev": x.name, "protocol": "kernel", "scope": "link",
                "prefsrc": f"172.16.{x.rail}.{host}", "flags": []} for x in n.nics if x.rail]
    network(n, rules, routes)
    n.row("command ip_link", "hand-made",
          "lo; one IPoIB netdev per InfiniBand port (ibp<bus>s0, Enhanced IPoIB: datagram mode, MTU 4092 = IB MTU "
          "4096 - 4, hardware address = QPN + the port's GID from ibstat); the BlueField-3 ports enp62s0f0np0/"
          "f1np1 bonded (802.3ad) as bond0 with the MAC ibstat's mlx5_bond_0 Port GUID encodes: a RoCE LAG, which "
          "is why ibstat shows mlx5_bond_0 and no mlx5_2/mlx5_3")
    n.row("command ip_addr", "hand-made", f"one IPv4 per IPoIB rail (172.16.<rail>.{host}/24; the InfiniBand "
          "design has no gateway), management 10.20.0.0/24 on bond0 (IPv6 left out)")
    n.row("command ip_rule", "hand-made", "the kernel's three default rules only: the InfiniBand design has no "
          f"policy routing ({SP}docs/usage/install/ai/index.md#L275)")
    n.row("command ip_route", "hand-made", "main: default via 10.20.0.1 dev bond0 and the connected routes")
    n.row("/sys/class/net/*/mode", "hand-made", "`datagram`: Enhanced IPoIB on ConnectX-4 and later supports "
          "datagram mode only (kernel and Red Hat docs cited in the spec, I-05)")
    rdma_sysfs(n, lossless=False)
    gid_rows(n, roce=False)
    rdma_tools(n, ibstat, ib_form=True)
    netns(n, "exclusive")
    modules_rows(n, peermem=True)
    for x in n.nics:
        if x.rail:
            n.file(f"/etc/netplan/12-{x.name}.yaml", netplan_setnicaddr(x.name, f"172.16.{x.rail}.{host}/24", 4092))
    n.file("/etc/netplan/00-installer-config.yaml",
           installer_netplan(host, {"bond0": (["enp62s0f0np0", "enp62s0f1np1"], f"10.20.0.{host}/24", True)}))
    n.row("/etc/netplan/12-*.yaml", "hand-made",
          "rendered from setNicAddr.sh's netplan heredoc (" + SP + "tools/scripts/setNicAddr.sh#L169-L188) for "
          "`INTERFACE=<ibp..> IPV4_IP=172.16.<rail>.<host>/24 MTU=4092` (no gateway, no policy route: the "
          "InfiniBand call of the docs, with the MTU IPoIB datagram mode allows instead of 4200)")
    n.row("/etc/netplan/00-installer-config.yaml", "hand-made", "the management bond as the Ubuntu installer "
          "writes it")
    for unit in ("rdma-routing.service", "rdma-qos.service"):
        systemctl(n, unit, None, "inactive")
    n.row("command systemctl_*", "hand-made", "neither unit is installed (no RDMA rule and no lossless QoS on "
          "InfiniBand): what systemctl prints for a unit without a unit file")
    blocks = bridge_blocks(source(LSPCI).body)
    pci_tree(n, "\n".join(blocks.values()),
             {**{b: ("0x020700", VENDOR["mellanox"]) for b in IB_PCI.values()},
              "3e:00.0": ("0x020000", VENDOR["mellanox"]), "3e:00.1": ("0x020000", VENDOR["mellanox"])})
    lspci_rows(n, source(LSPCI))
    misc(n)
    n.row("/sys/class/net/*/device/sriov_*", "hand-made",
          f"IPoIB rail PFs: 8 VFs (sriov.num_vfs) of 16 (`Total VFs: 16` in the real lspci block of the tree's "
          f"ConnectX-7 1a:00.0, {CX7_BLOCK}); BlueField-3 ports: none. All VFs are in pods: none in the host "
          "namespace, as the ibstat listing (PFs only) shows")
    return n


# ---- the fleet --------------------------------------------------------------------------------

def fleet() -> list[Node]:
    n1 = roce_node("roce-gpu-node-1", 11, "2026-11-30T08:15:02Z", "ibstat/gpud-h100-roce-400g-all-active.txt", None, [
        "A compliant RoCE node for `examples/profiles/roce-xe9680-sriov.yaml` (SR-IOV + exclusive RDMA, one subnet "
        "per rail, lossless, GPUDirect). Eight 400G ConnectX-7 rails (ibstat: 8x MT4129 Active, Ethernet) at "
        "their real places in an H100 HGX PCIe tree, each behind a PEX890xx switch shared with one H100; four "
        "ConnectX-6 Dx ports (MT4125) bonded for management and storage. Addresses, routing, MTU and persistence "
        "as Spiderpool's setNicAddr.sh / setRdmaRule.sh / rdma-qos.sh leave a node; exclusive netns mode; "
        "MLNX_OFED 23.07. The ConnectX-6 Dx ports' own QoS/ECN state is left out: no check reads it for a NIC "
        "that is not a rail."])
    n2 = roce_node("roce-gpu-node-2", 12, "2026-11-30T08:15:03Z", "ibstat/gpud-roce-two-ports-down.txt", Drift(
        admin_down=4, mtu_1500=3, no_rule=2, ecn_off=5, pfc3=6, acs_on=7, netns_shared=True, no_peermem=True,
        qos_service_failed=True), [
        "The same design and hardware as roce-gpu-node-1, from a real ibstat of another H100 host where two "
        "ConnectX-7 ports are Down/Disabled (mlx5_5 = rail4, mlx5_11 = rail8), plus hand-made drift, one kind "
        "per rail: rail2 lost its policy rule, rail3 runs MTU 1500, rail4 is administratively down, rail5 has "
        "ECN off on priority 5, rail6 has PFC on priority 3 (a real mlnx_qos output), rail7's switch port has "
        "ACS enabled, rail8 has no carrier; the node runs netns mode shared (exclusive is persisted in "
        "modprobe.d, but ib_core came up from the initramfs), nvidia_peermem is not loaded, and rdma-qos.service "
        "has failed. Rail1 is clean."])
    n3 = ib_node("ib-gpu-node-1", 21, "2026-11-30T08:15:04Z", [
        "A compliant InfiniBand node for `profiles/infiniband-sriov.yaml` (SR-IOV + exclusive RDMA): eight 400G "
        "ConnectX-7 ports in InfiniBand mode (real ibstat: Active, LIDs assigned, SM LID 1) with IPoIB netdevs in "
        "datagram mode, MTU 4092, and a BlueField-3 RoCE bond (mlx5_bond_0, Ethernet) for management that must "
        "not be taken for a rail (a bond has no PCI address, so it sorts after the eight rails). The PCIe tree "
        "is the RoCE nodes' real one (the ibstat host's own tree is not recorded); the BlueField-3 sits under "
        "a second root port of host bridge 37 (hand-made, off every GPU<->rail path), placed so that PCI order "
        "gives ibstat's device names."])
    return [n1, n2, n3]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the snapshots (default examples/snapshots)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for node in fleet():
        node.save(args.out)
        print(f"{args.out / node.name}: {len(node.snap.files)} files, {len(node.snap.commands)} commands")
    return 0


if __name__ == "__main__":
    sys.exit(main())
