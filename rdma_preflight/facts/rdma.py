"""RDMA devices, ports and GIDs, netns mode, driver stack and firmware link type.

Sysfs under /sys/class/infiniband is the first source (live or snapshot). Tool outputs
(``rdma link``, ``ibstat``, ``ibv_devinfo``, ``ibdev2netdev``) fill what sysfs did not give
(the active MTU is only in ``ibv_devinfo``) and cover hosts where sysfs was not readable; when
sysfs is readable it alone decides which devices exist. Where a tool disagrees with a value
already read, the port keeps the first value and records the disagreement. A tool output
that cannot be parsed is kept in ``tool_errors`` for the checks to report; it never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from glob import escape as glob_escape

from ..parsers import ParseError
from ..parsers import ibdev2netdev as p_ibdev2netdev
from ..parsers import ibstat as p_ibstat
from ..parsers import ibv_devinfo as p_ibv_devinfo
from ..parsers import lsmod as p_lsmod
from ..parsers import mlxconfig as p_mlxconfig
from ..parsers import ofed_info as p_ofed_info
from ..parsers import rdma_link as p_rdma_link
from ..parsers import rdma_system as p_rdma_system
from .netdev import _bdf_of, normalize_bdf

STATE_RE = re.compile(r"^\s*(\d+)\s*:\s*(\S+)")
# ASCII, bounded numbers (issue 9 hostile facts): "1.2.3 Gb/sec" made float() raise, and a port or
# GID directory named "²" or "٣" passed str.isdigit(), then int() raised or read it as 3.
RATE_RE = re.compile(r"^\s*([0-9]{1,6}(?:\.[0-9]{1,6})?)\s*Gb/sec")
_INDEX_RE = re.compile(r"[0-9]{1,9}")
SYSFS = "sysfs"

# Port state names as the kernel prints them; the tools' spellings map onto these.
_STATE_ALIASES = {"INITIALIZING": "INIT", "PORT_ACTIVE": "ACTIVE", "PORT_DOWN": "DOWN", "PORT_INIT": "INIT",
                  "PORT_ARMED": "ARMED", "PORT_ACTIVE_DEFER": "ACTIVE_DEFER", "PORT_NOP": "NOP"}
# Physical states in the sysfs spelling; keyed by the upper-case letters only.
_PHYS_NAMES = {"LINKUP": "LinkUp", "DISABLED": "Disabled", "POLLING": "Polling", "SLEEP": "Sleep",
               "PORTCONFIGURATIONTRAINING": "PortConfigurationTraining",
               "LINKERRORRECOVERY": "LinkErrorRecovery", "PHYTEST": "PhyTest"}


def norm_state(value: str | None) -> str | None:
    """``4: ACTIVE`` / ``Active`` / ``PORT_ACTIVE`` -> ``ACTIVE``."""
    if not value:
        return None
    m = STATE_RE.match(value)
    v = (m.group(2) if m else value).strip().upper()
    return _STATE_ALIASES.get(v, v)


def norm_phys(value: str | None) -> str | None:
    """``5: LinkUp`` / ``LINK_UP`` / ``LinkUp`` -> ``LinkUp``."""
    if not value:
        return None
    m = STATE_RE.match(value)
    v = (m.group(2) if m else value).strip()
    key = re.sub(r"[^A-Za-z]", "", v).upper()
    return _PHYS_NAMES.get(key, v)


@dataclass(frozen=True)
class Gid:
    index: int
    gid: str
    type: str | None = None           # "RoCE v2", "RoCE v1", "IB/RoCE v1"
    ndev: str | None = None

    @property
    def is_roce_v2(self) -> bool:
        return (self.type or "").lower().replace(" ", "") == "rocev2"

    @property
    def ipv4(self) -> str | None:
        """The IPv4 embedded in an IPv4-mapped GID (``0000:...:ffff:ac10:000a``)."""
        g = self.gid.lower().replace(":", "")
        if len(g) == 32 and g[:20] == "0" * 20 and g[20:24] == "ffff":
            try:
                b = bytes.fromhex(g[24:])
            except ValueError:      # a sysfs GID that is not hex (hostile evidence): no IPv4
                return None
            return ".".join(str(x) for x in b)
        return None


@dataclass
class RdmaPort:
    device: str
    port: int
    state: str | None = None          # ACTIVE, DOWN, INIT, ARMED...
    phys_state: str | None = None     # LinkUp, Disabled, Polling...
    rate_gbps: float | None = None
    rate_text: str | None = None
    link_layer: str | None = None     # Ethernet | InfiniBand
    lid: int | None = None
    sm_lid: int | None = None
    gids: list[Gid] = field(default_factory=list)
    netdev: str | None = None
    active_mtu: int | None = None     # bytes, from ibv_devinfo only
    max_mtu: int | None = None
    sources: dict[str, str] = field(default_factory=dict)     # field -> where it was read
    disagreements: list[str] = field(default_factory=list)   # "state: sysfs ACTIVE, ibstat DOWN"

    @property
    def name(self) -> str:
        return f"{self.device}/{self.port}"

    @property
    def active(self) -> bool:
        return self.state == "ACTIVE" and self.phys_state == "LinkUp"

    def describe_state(self) -> str:
        where = ", ".join(sorted({self.sources[k] for k in ("state", "phys_state") if k in self.sources}))
        return (f"state {self.state or 'unknown'}, physical state {self.phys_state or 'unknown'}"
                + (f" ({where})" if where else ""))


@dataclass
class RdmaDevice:
    name: str
    pci: str | None = None
    pci_path: str | None = None
    node_guid: str | None = None
    sys_image_guid: str | None = None
    fw_ver: str | None = None
    hca_type: str | None = None
    board_id: str | None = None
    ports: dict[int, RdmaPort] = field(default_factory=dict)
    traffic_class: dict[int, str] = field(default_factory=dict)   # tc index -> raw "Global tclass=160"
    roce_tos: dict[int, int] = field(default_factory=dict)        # port -> configfs default_roce_tos


@dataclass(frozen=True)
class StackVersion:
    """The installed RDMA driver stack (MLNX_OFED / DOCA-OFED), if any."""

    flavour: str                 # MLNX_OFED | DOCA | unknown
    version: str
    version_tuple: tuple[int, ...]
    source: str                  # "ofed_info -s" | "/sys/module/mlx5_core/version"
    raw: str


@dataclass(frozen=True)
class FirmwareLinkType:
    """``LINK_TYPE_P<port>`` of one adapter from ``mlxconfig -e q`` (ETH | IB | VPI)."""

    bdf: str
    port: int
    next_boot: str | None
    current: str | None = None
    default: str | None = None


@dataclass
class RdmaFacts:
    devices: dict[str, RdmaDevice] = field(default_factory=dict)
    netns_mode: str | None = None            # live, from `rdma system` (shared|exclusive|unknown)
    netns_mode_source: str | None = None
    netns_mode_param: str | None = None      # /sys/module/ib_core/parameters/netns_mode: Y|N (runtime mirror)
    sysfs_readable: bool = False
    stack: StackVersion | None = None
    firmware: dict[str, dict[int, FirmwareLinkType]] = field(default_factory=dict)  # bdf -> port -> type
    firmware_errors: dict[str, str] = field(default_factory=dict)                    # bdf -> mlxconfig -E- lines
    lsmod_loaded: frozenset[str] | None = None   # from an `lsmod` record, when there is one
    sys_modules: frozenset[str] = frozenset()     # names with files under /sys/module (loaded or built in)
    tool_errors: dict[str, str] = field(default_factory=dict)   # command -> why its output was not used
    tools_used: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def device_for_netdev(self, netdev: str) -> list[str]:
        return sorted({p.device for d in self.devices.values() for p in d.ports.values() if p.netdev == netdev})

    def netdevs_of(self, device: str) -> list[str]:
        d = self.devices.get(device)
        return sorted({p.netdev for p in d.ports.values() if p.netdev}) if d else []

    def ports_of_netdev(self, netdev: str) -> list[RdmaPort]:
        return [p for d in self.devices.values() for p in d.ports.values() if p.netdev == netdev]

    def roce_v2_gids(self, netdev: str, ipv4: str) -> list[Gid]:
        """RoCE v2 GIDs carrying ``ipv4`` bound to ``netdev`` (GID ndev, else the port's netdev)."""
        out = []
        for d in self.devices.values():
            for p in d.ports.values():
                for g in p.gids:
                    owner = g.ndev or p.netdev
                    if owner == netdev and g.is_roce_v2 and g.ipv4 == ipv4:
                        out.append(g)
        return sorted(out, key=lambda g: g.index)

    def firmware_link_type(self, device: str) -> FirmwareLinkType | None:
        """The firmware LINK_TYPE for this device's port: PCI function f is adapter port f+1."""
        d = self.devices.get(device)
        if d is None or not d.pci or d.pci not in self.firmware:
            return None
        return self.firmware[d.pci].get(self.firmware_port(device))

    def firmware_port(self, device: str) -> int:
        """Adapter port of an RDMA device: PCI function f is LINK_TYPE_P<f+1>."""
        d = self.devices.get(device)
        return int(d.pci.rsplit(".", 1)[-1]) + 1 if d and d.pci else 1

    def tool_problem(self, *commands: str) -> str:
        """Why these tools gave nothing, for a finding's ``found`` text ("" when nothing went wrong)."""
        return "; ".join(f"{c}: {self.tool_errors[c]}" for c in commands if c in self.tool_errors)


def roce_v2_gid_index(facts, netdev: str, ipv4: str) -> int | None:
    """Lowest GID index of the RoCE v2 IPv4-mapped GID for ``ipv4`` on ``netdev`` (NodeFacts or
    RdmaFacts), or None. This is the index perftest ``-x`` / NCCL_IB_GID_INDEX must use."""
    rdma = getattr(facts, "rdma", facts)
    gids = rdma.roce_v2_gids(netdev, ipv4)
    return gids[0].index if gids else None


# ---- netns mode persistence (modprobe.d, kernel cmdline) ------------------------------------

# kmod's search order: a file name in an earlier directory hides the same name in later ones;
# the surviving files are read in file-name order, then /proc/cmdline. The last value wins.
MODPROBE_PRIORITY = ("/etc/modprobe.d/", "/run/modprobe.d/", "/usr/local/lib/modprobe.d/",
                     "/lib/modprobe.d/", "/usr/lib/modprobe.d/")
CMDLINE = "/proc/cmdline"


@dataclass(frozen=True)
class NetnsSetting:
    """One persisted ``ib_core netns_mode`` value and where it is."""

    source: str                    # a modprobe.d file, or /proc/cmdline
    line: int                      # 1-based line in the file (0 for the cmdline)
    raw: str                       # "netns_mode=0" / "ib_core.netns_mode=0"
    mode: str | None               # shared | exclusive | None (value not understood)
    masked_by: str | None = None   # a same-named file earlier in kmod's order hides this one

    @property
    def effective(self) -> bool:
        return self.masked_by is None

    def describe(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        extra = f" (hidden by {self.masked_by})" if self.masked_by else ""
        return f"{where} {self.raw} ({self.mode or 'unreadable value'}){extra}"


def netns_value(value: str) -> str | None:
    """Kernel bool parameter (kstrtobool): y/Y/1/on -> shared, n/N/0/off -> exclusive."""
    v = value.strip().strip('"').strip("'").lower()
    if v in ("y", "yes", "1", "on", "true"):
        return "shared"
    if v in ("n", "no", "0", "off", "false"):
        return "exclusive"
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """modprobe.d lines with backslash continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for num, line in enumerate(text.splitlines(), start=1):
        if not buf:
            start = num
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if not buf.lstrip().startswith("#"):
            out.append((start, buf))
        buf = ""
    if buf and not buf.lstrip().startswith("#"):
        out.append((start, buf))
    return out


def _file_settings(path: str, text: str, masked_by: str | None) -> list[NetnsSetting]:
    out = []
    for num, line in _logical_lines(text):
        tokens = line.split()
        if len(tokens) < 3 or tokens[0] != "options" or tokens[1].replace("-", "_") != "ib_core":
            continue
        for tok in tokens[2:]:
            key, sep, val = tok.partition("=")
            if sep and key.replace("-", "_") == "netns_mode":
                out.append(NetnsSetting(path, num, tok, netns_value(val), masked_by))
    return out


def netns_mode_settings(modprobe_files: dict[str, str], cmdline: str | None) -> list[NetnsSetting]:
    """Every persisted ib_core netns_mode, in the order modprobe applies them (last one wins);
    hidden files are listed too, marked ``masked_by``."""
    def rank(path: str) -> int:
        return next((i for i, d in enumerate(MODPROBE_PRIORITY) if path.startswith(d)), len(MODPROBE_PRIORITY))

    winner: dict[str, str] = {}
    for path in sorted(modprobe_files, key=rank):
        winner.setdefault(path.rsplit("/", 1)[-1], path)
    out: list[NetnsSetting] = []
    for path in sorted(modprobe_files, key=lambda p: (p.rsplit("/", 1)[-1], rank(p))):
        base = path.rsplit("/", 1)[-1]
        masked = None if winner[base] == path else winner[base]
        out.extend(_file_settings(path, modprobe_files[path], masked))
    for tok in (cmdline or "").split():
        key, sep, val = tok.partition("=")
        if sep and key.replace("-", "_") == "ib_core.netns_mode":
            out.append(NetnsSetting(CMDLINE, 0, tok, netns_value(val)))
    return out


# RoCE: the RDMA MTU is the netdev MTU minus these headers (GRH 40, UDP 8, BTH 12, XRC 4,
# AtomicETH 28, ICRC 4; include/rdma/ib_addr.h iboe_get_mtu), rounded down to an IB MTU.
ROCE_HEADER_BYTES = 96
IB_MTUS = (4096, 2048, 1024, 512, 256)


def roce_active_mtu(netdev_mtu: int) -> int | None:
    """The RoCE active MTU a netdev MTU gives: 4200 -> 4096, 1500 -> 1024, 4096 -> 2048."""
    room = netdev_mtu - ROCE_HEADER_BYTES
    return next((m for m in IB_MTUS if room >= m), None)


def _int(v: str | None, base: int = 0) -> int | None:
    if v is None:
        return None
    try:
        return int(v, base)
    except ValueError:
        return None


# ---- sysfs ------------------------------------------------------------------------------------

def _sysfs_port(snap, name: str, pnum: str) -> RdmaPort:
    pb = f"/sys/class/infiniband/{name}/ports/{pnum}"
    port = RdmaPort(device=name, port=int(pnum))
    rate = snap.value(f"{pb}/rate")
    m = RATE_RE.match(rate or "")
    values = {"state": norm_state(snap.value(f"{pb}/state")), "phys_state": norm_phys(snap.value(f"{pb}/phys_state")),
              "rate_gbps": float(m.group(1)) if m else None, "rate_text": rate,
              "link_layer": snap.value(f"{pb}/link_layer"), "lid": _int(snap.value(f"{pb}/lid")),
              "sm_lid": _int(snap.value(f"{pb}/sm_lid"))}
    for key, value in values.items():
        _fill(port, key, value, SYSFS)
    for gp in snap.glob(f"{glob_escape(pb)}/gids/*"):
        idx = gp.rsplit("/", 1)[-1]
        gid = snap.value(gp)
        if not _INDEX_RE.fullmatch(idx) or not gid or gid.replace("0", "").replace(":", "") == "":
            continue
        port.gids.append(Gid(index=int(idx), gid=gid, type=snap.value(f"{pb}/gid_attrs/types/{idx}"),
                             ndev=snap.value(f"{pb}/gid_attrs/ndevs/{idx}")))
    port.gids.sort(key=lambda g: g.index)
    return port


def _from_sysfs(snap, facts: RdmaFacts, pci_to_netdevs: dict[str, list[str]]) -> None:
    for name in snap.children("/sys/class/infiniband"):
        base = f"/sys/class/infiniband/{name}"
        dev_path = snap.links.get(f"{base}/device")
        dev = RdmaDevice(name=name, pci=_bdf_of(dev_path), pci_path=dev_path,
                         node_guid=snap.value(f"{base}/node_guid"),
                         sys_image_guid=snap.value(f"{base}/sys_image_guid"),
                         fw_ver=snap.value(f"{base}/fw_ver"), hca_type=snap.value(f"{base}/hca_type"),
                         board_id=snap.value(f"{base}/board_id"))
        for tcp in snap.glob(f"{glob_escape(base)}/tc/*/traffic_class"):
            idx = tcp.split("/")[-2]
            if _INDEX_RE.fullmatch(idx):
                dev.traffic_class[int(idx)] = snap.value(tcp) or ""
        for pnum in snap.children(f"{base}/ports"):
            if not _INDEX_RE.fullmatch(pnum):
                continue
            port = _sysfs_port(snap, name, pnum)
            ndevs = {g.ndev for g in port.gids if g.ndev}
            if len(ndevs) == 1:
                _fill(port, "netdev", ndevs.pop(), "sysfs gid_attrs/ndevs")
            elif dev.pci and len(pci_to_netdevs.get(dev.pci, [])) == 1:
                _fill(port, "netdev", pci_to_netdevs[dev.pci][0], "sysfs PCI address")
            tos = snap.int_value(f"/sys/kernel/config/rdma_cm/{name}/ports/{pnum}/default_roce_tos")
            if tos is not None:
                dev.roce_tos[int(pnum)] = tos
            dev.ports[int(pnum)] = port
        facts.devices[name] = dev
    facts.sysfs_readable = bool(facts.devices)


# ---- tool outputs -------------------------------------------------------------------------------

def _fill(port: RdmaPort, key: str, value: object, source: str) -> None:
    """Set ``key`` if unset; otherwise note a disagreement (the first source stays)."""
    if value is None:
        return
    have = getattr(port, key)
    if have is None:
        setattr(port, key, value)
        port.sources[key] = source
    elif have != value and key != "rate_text":
        port.disagreements.append(f"{key}: {port.sources.get(key, '?')} {have}, {source} {value}")


def _parsed(snap, facts: RdmaFacts, name: str, parser):
    """Parse one command record; a ParseError (or a failed run) lands in ``tool_errors``."""
    out = snap.cmd(name)
    if out is None:
        return None
    if out.rc not in (0, None):
        err = out.stderr.decode(errors="replace").strip().splitlines()
        facts.tool_errors[name] = f"exit {out.rc}" + (f": {err[-1][:200]}" if err else "")
        return None
    try:
        result = parser(out.text)
    except ParseError as exc:
        facts.tool_errors[name] = f"output not understood ({exc})"
        return None
    facts.tools_used.append(name)
    return result


class _Ports:
    """Find-or-create ports; only sysfs may create devices when sysfs was readable."""

    def __init__(self, facts: RdmaFacts):
        self.facts = facts
        self.ignored: dict[str, set[str]] = {}

    def get(self, device: str | None, port: int | None, source: str) -> RdmaPort | None:
        facts = self.facts
        if device is None:     # grep'd output without a device header: only usable on a single port
            ports = [p for d in facts.devices.values() for p in d.ports.values()]
            return ports[0] if len(ports) == 1 else None
        dev = facts.devices.get(device)
        if dev is None:
            if facts.sysfs_readable:
                self.ignored.setdefault(source, set()).add(device)
                return None
            dev = facts.devices[device] = RdmaDevice(name=device)
        num = port or 1
        if num not in dev.ports:
            if facts.sysfs_readable:
                return None
            dev.ports[num] = RdmaPort(device=device, port=num)
        return dev.ports[num]


def _merge(ports: _Ports, device: str | None, port: int | None, source: str, **values) -> RdmaPort | None:
    """Fill one port's unset fields from a tool (see ``_fill``); None when the port is unknown."""
    p = ports.get(device, port, source)
    for key, value in values.items() if p is not None else ():
        _fill(p, key, value, source)
    return p


def _fill_device(facts: RdmaFacts, name: str | None, **values) -> None:
    dev = facts.devices.get(name) if name else None
    for key, value in values.items() if dev is not None else ():
        if getattr(dev, key) is None:
            setattr(dev, key, value)


def _apply_rdma_link(snap, facts: RdmaFacts, ports: _Ports) -> None:
    res = _parsed(snap, facts, "rdma_link_json", p_rdma_link.parse)
    if res is None:
        res = _parsed(snap, facts, "rdma_link", p_rdma_link.parse)
        if res is not None:
            facts.tool_errors.pop("rdma_link_json", None)
    for link in res.links if res else ():
        _merge(ports, link.device, link.port, "rdma link", state=norm_state(link.state),
               phys_state=norm_phys(link.physical_state), netdev=link.netdev, lid=link.lid, sm_lid=link.sm_lid)


def _apply_ibstat(snap, facts: RdmaFacts, ports: _Ports) -> None:
    res = _parsed(snap, facts, "ibstat", p_ibstat.parse)
    if res is None:
        return
    if res.error:
        facts.tool_errors["ibstat"] = res.error
    for ca in res.cas:
        for ip in ca.ports:
            _merge(ports, ca.name, ip.number, "ibstat", state=norm_state(ip.state),
                   phys_state=norm_phys(ip.physical_state), rate_gbps=ip.rate_gbps, link_layer=ip.link_layer,
                   lid=ip.base_lid, sm_lid=ip.sm_lid)
        _fill_device(facts, ca.name, fw_ver=ca.firmware_version, hca_type=ca.ca_type)


def _apply_ibv_devinfo(snap, facts: RdmaFacts, ports: _Ports) -> None:
    res = _parsed(snap, facts, "ibv_devinfo", p_ibv_devinfo.parse)
    for hca in res.hcas if res else ():
        for ip in hca.ports:
            p = _merge(ports, hca.hca_id, ip.port, "ibv_devinfo", state=norm_state(ip.state),
                       phys_state=norm_phys(ip.phys_state), link_layer=ip.link_layer, lid=ip.port_lid,
                       sm_lid=ip.sm_lid, active_mtu=ip.active_mtu, max_mtu=ip.max_mtu)
            if p is not None and not p.gids and ip.gids:
                p.gids = [Gid(index=g.index, gid=g.gid, type=g.type) for g in ip.gids]
                p.sources["gids"] = "ibv_devinfo"
        _fill_device(facts, hca.hca_id, fw_ver=hca.fw_ver, board_id=hca.board_id)


def _apply_ibdev2netdev(snap, facts: RdmaFacts, ports: _Ports) -> None:
    res = _parsed(snap, facts, "ibdev2netdev", p_ibdev2netdev.parse)
    for e in res.entries if res else ():
        _merge(ports, e.device, e.port, "ibdev2netdev", netdev=e.netdev)


# ---- stack, firmware, modules, netns ------------------------------------------------------------

def _stack(snap, facts: RdmaFacts) -> StackVersion | None:
    info = _parsed(snap, facts, "ofed_info", p_ofed_info.parse)
    if info is not None:
        return StackVersion(info.flavour, info.version, info.version_tuple, "ofed_info -s", info.raw)
    for mod in ("mlx5_core", "mlx_compat"):
        ver = snap.value(f"/sys/module/{mod}/version")
        if ver:
            return StackVersion("MLNX_OFED/DOCA (module version)", ver, p_ofed_info.version_tuple(ver),
                                f"/sys/module/{mod}/version", ver)
    return None


def _firmware(snap, facts: RdmaFacts) -> None:
    for name in sorted(snap.commands):
        kind, _, bdf = name.partition("/")
        if kind != "mlxconfig" or not bdf:
            continue
        res = _parsed(snap, facts, name, p_mlxconfig.parse)
        key = normalize_bdf(bdf)
        if res is None:
            continue
        if res.errors:
            facts.firmware_errors[key] = "; ".join(res.errors)
        ports: dict[int, FirmwareLinkType] = {}
        for n in (1, 2, 3, 4):
            nb = p_mlxconfig.link_type(res, n, "next_boot")
            cur = p_mlxconfig.link_type(res, n, "current")
            if nb or cur:
                ports[n] = FirmwareLinkType(key, n, nb, cur, p_mlxconfig.link_type(res, n, "default"))
        if ports:
            facts.firmware[key] = ports


def _lsmod(snap, facts: RdmaFacts) -> frozenset[str] | None:
    """Modules named in an ``lsmod`` record: loaded ones, and the users listed next to them."""
    res = _parsed(snap, facts, "lsmod", p_lsmod.parse)
    if res is None:
        return None
    names = {m.name for m in res.modules} | {u for m in res.modules for u in m.used_by}
    return frozenset(names)


def _netns_mode(snap, facts: RdmaFacts) -> tuple[str | None, str | None]:
    """Live netns mode: the token after ``netns`` (never whole-line compares), else the sysfs
    parameter, which mirrors the runtime value."""
    for cmd in ("rdma_system", "rdma_system_json"):
        res = _parsed(snap, facts, cmd, p_rdma_system.parse)
        if res is not None and res.netns_reported:
            return res.netns, f"`rdma system` ({cmd})"
    param = facts.netns_mode_param
    if param in ("Y", "N", "1", "0"):
        return ("shared" if param in ("Y", "1") else "exclusive"), "/sys/module/ib_core/parameters/netns_mode"
    return None, None


def from_snapshot(snap, netdevs: dict) -> RdmaFacts:
    facts = RdmaFacts()
    pci_to_netdevs: dict[str, list[str]] = {}
    for nd in netdevs.values():
        if nd.pci:
            pci_to_netdevs.setdefault(nd.pci, []).append(nd.name)
    _from_sysfs(snap, facts, pci_to_netdevs)
    ports = _Ports(facts)
    for apply in (_apply_rdma_link, _apply_ibdev2netdev, _apply_ibstat, _apply_ibv_devinfo):
        apply(snap, facts, ports)
    for source, names in sorted(ports.ignored.items()):
        facts.notes.append(f"{source} lists {', '.join(sorted(names))}, not in /sys/class/infiniband: ignored")
    facts.stack = _stack(snap, facts)
    _firmware(snap, facts)
    facts.lsmod_loaded = _lsmod(snap, facts)
    facts.sys_modules = frozenset(p.split("/")[3] for p in snap.files if p.startswith("/sys/module/")
                                  and p.count("/") >= 4)
    facts.netns_mode_param = snap.value("/sys/module/ib_core/parameters/netns_mode")
    facts.netns_mode, facts.netns_mode_source = _netns_mode(snap, facts)
    return facts
