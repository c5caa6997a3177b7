"""Parse ``lspci`` output: ``-vvv`` device blocks, grep'd ``ACSCtl:`` lines and one-liners.

Spiderpool's GPUDirect design needs ACS disabled on the bridges between GPU and NIC
(``ACSCtl: SrcValid-``), and the NIC inventory (vendor 15b3, class 0200 Ethernet vs 0207
InfiniBand, virtual functions) comes from ``lspci -nn``. :func:`parse_vvv` reads the first
two forms, :func:`parse_nn` the one-liners (``-nn``, plain, ``-D``), :func:`parse` picks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._qos_text import flags_from_tokens, source_lines
from ._text import Line, to_int
from .base import ParseError

TOOL = "lspci"

_HEADER = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{4,8}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-9a-fA-F]{2})"
    r"\.(?P<fn>[0-7])\s++(?P<cls>[^:\[\s][^:\[]*+)(?:(?<=\s)\[(?P<code>[0-9a-fA-F]{4})\])?:\s+(?P<rest>.*)$")
# Linear-time patterns (issue 9 fuzzing): the class was a lazy ``[^:\[]+?`` before ``\s+``,
# and the searched tails started a ``\s*`` scan at every position of a blank run, so one long
# blank run in a line took minutes. Class is now possessive (trailing blanks stripped by
# parse_header); searches start only where a blank run starts (``(?<!\s)``), same matches.
_PROG_IF = re.compile(r"(?<!\s)\s*\(prog-if [^)]*\)$")
_REV = re.compile(r"(?<!\s)\s*\(rev ([0-9a-fA-F]+)\)$")
_IDS = re.compile(r"(?<!\s)\s*\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$")
_EXPRESS = re.compile(r"^Capabilities:\s*\[[^\]]*\]\s*Express \([^)]*\)\s*(.+?)(?<!\s)"
                      r"(?:\s*\(Slot[+-]\))?(?:\s*,\s*(?:MSI|IntMsgNum).*)?$")
_ACS = re.compile(r"^(ACSCap|ACSCtl):\s*(.*)$")
_LINK = re.compile(r"^(LnkCap|LnkSta):\s*(.*)$")
_SPEED = re.compile(r"Speed\s+(?:(\d+(?:\.\d+)?)GT/s|(unknown))(?:\s*\((\w+)\))?")
# bounded (issue 9 fuzzing): int() of a 4301-digit width raised ValueError
_WIDTH = re.compile(r"Width\s+x([0-9]{1,4})(?![0-9])(?:\s*\((\w+)\))?")
_DRIVER = re.compile(r"^Kernel driver in use:\s*(\S+)\s*$")
_MODULES = re.compile(r"^Kernel modules:\s*(\S(?:.*\S)?)\s*$")
_NUMA = re.compile(r"^NUMA node:\s*(\S+)\s*$")
_VVV_HINT = re.compile(r"^(?:Capabilities:|ACSC(?:ap|tl):|Kernel (?:driver|modules)|"
                       r"LnkSta:|LnkCap:|Control:|Status:|Subsystem:)")
_BRIDGE_PORTS = {"Root Port", "Upstream Port", "Downstream Port"}


@dataclass(frozen=True)
class PciFunction:
    """A device header line: ``[dom:]bus:dev.fn class [code]: description [ven:dev] (rev)``."""

    bdf: str
    domain: str | None
    class_name: str
    class_code: str | None
    vendor_id: str | None
    device_id: str | None
    description: str
    rev: str | None
    line: int

    @property
    def is_bridge(self) -> bool:
        """A PCI-to-PCI bridge (switch port or root port), where ACS applies."""
        return self.class_code == "0604" or self.class_name.lower() == "pci bridge"

    @property
    def is_virtual_function(self) -> bool:
        return "virtual function" in self.description.lower()


@dataclass(frozen=True)
class PciLink:
    """PCIe link speed/width from ``LnkCap``/``LnkSta`` (notes: ``ok``, ``downgraded``)."""

    speed_gts: float | None
    width: int | None
    speed_note: str | None = None
    width_note: str | None = None


@dataclass(frozen=True)
class AcsCtl:
    """One ``ACSCtl:`` line; ``bdf`` is None when it came from ``lspci -vvv | grep ACSCtl``."""

    bdf: str | None
    flags: dict[str, bool]
    line: int

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name, on in self.flags.items() if on)


@dataclass(frozen=True)
class PciDevice:
    """One ``lspci -vvv`` block."""

    function: PciFunction
    port_type: str | None = None
    acs_cap: dict[str, bool] | None = None
    acs_ctl: dict[str, bool] | None = None
    lnk_cap: PciLink | None = None
    lnk_sta: PciLink | None = None
    driver: str | None = None
    modules: tuple[str, ...] = ()
    numa_node: int | None = None

    @property
    def bdf(self) -> str:
        return self.function.bdf

    @property
    def is_bridge(self) -> bool:
        return self.function.is_bridge or self.port_type in _BRIDGE_PORTS


@dataclass(frozen=True)
class LspciVvv:
    """Device blocks in order, plus every ``ACSCtl`` line in order (grep'd ones with bdf None)."""

    devices: list[PciDevice]
    acs_ctl: list[AcsCtl]

    def device(self, bdf: str) -> PciDevice | None:
        return next((d for d in self.devices if _same_bdf(d.bdf, bdf)), None)


@dataclass(frozen=True)
class LspciList:
    """``lspci`` / ``lspci -nn`` / ``lspci -D`` one-liners in order."""

    functions: list[PciFunction]

    def by_vendor(self, vendor_id: str) -> list[PciFunction]:
        return [f for f in self.functions if f.vendor_id == vendor_id.lower()]


def parse(text: str | bytes) -> LspciVvv | LspciList:
    """Parse any supported form; ``-vvv`` is recognised by its indented property lines."""
    lines = source_lines(TOOL, text)
    if any(_VVV_HINT.match(line.stripped) for line in lines):
        return _vvv(lines)
    return _nn(lines)


def parse_vvv(text: str | bytes) -> LspciVvv:
    return _vvv(source_lines(TOOL, text))


def parse_nn(text: str | bytes) -> LspciList:
    return _nn(source_lines(TOOL, text))


def parse_header(line: Line) -> PciFunction | None:
    """Parse one device header / one-liner; None if the line is not one."""
    m = _HEADER.match(line.stripped)
    if not m:
        return None
    rest = _PROG_IF.sub("", m.group("rest"))
    rev = None
    if r := _REV.search(rest):
        rev, rest = r.group(1).lower(), rest[: r.start()]
    vendor = device = None
    if i := _IDS.search(rest):
        vendor, device, rest = i.group(1).lower(), i.group(2).lower(), rest[: i.start()]
    bdf = line.stripped.split()[0]
    return PciFunction(bdf=bdf, domain=m.group("domain"), class_name=m.group("cls").strip(),
                       class_code=m.group("code").lower() if m.group("code") else None,
                       vendor_id=vendor, device_id=device, description=rest.strip(),
                       rev=rev, line=line.number)


def _nn(lines: list[Line]) -> LspciList:
    functions = []
    for line in lines:
        function = parse_header(line)
        if function is None:
            raise ParseError(TOOL, line.number, "not an lspci device line", line.text)
        functions.append(function)
    if not functions:
        raise ParseError(TOOL, 0, "no lspci output")
    return LspciList(functions)


def _vvv(lines: list[Line]) -> LspciVvv:
    blocks: list[tuple[PciFunction | None, list[Line]]] = []
    for line in lines:
        function = parse_header(line)
        if function is not None:
            blocks.append((function, []))
        elif blocks and blocks[-1][0] is not None:
            blocks[-1][1].append(line)
        elif _ACS.match(line.stripped) or _VVV_HINT.match(line.stripped):
            if not blocks:
                blocks.append((None, []))
            blocks[-1][1].append(line)
        else:
            raise ParseError(TOOL, line.number, "line before any device header", line.text)
    devices: list[PciDevice] = []
    acs: list[AcsCtl] = []
    for function, body in blocks:
        device = _device(function, body, acs)
        if device is not None:
            devices.append(device)
    if not devices and not acs:
        raise ParseError(TOOL, 0, "no lspci -vvv device or ACSCtl line")
    return LspciVvv(devices, acs)


def _device(function: PciFunction | None, body: list[Line], acs: list[AcsCtl]) -> PciDevice | None:
    fields: dict = {}
    for line in body:
        text = line.stripped
        if m := _ACS.match(text):
            flags = flags_from_tokens(TOOL, line, m.group(2).split())
            fields["acs_cap" if m.group(1) == "ACSCap" else "acs_ctl"] = flags
            if m.group(1) == "ACSCtl":
                acs.append(AcsCtl(function.bdf if function else None, flags, line.number))
        elif m := _LINK.match(text):
            fields["lnk_cap" if m.group(1) == "LnkCap" else "lnk_sta"] = _link(m.group(2))
        elif m := _EXPRESS.match(text):
            fields["port_type"] = m.group(1)
        elif m := _DRIVER.match(text):
            fields["driver"] = m.group(1)
        elif m := _MODULES.match(text):
            fields["modules"] = tuple(x.strip() for x in m.group(1).split(",") if x.strip())
        elif (m := _NUMA.match(text)) and m.group(1) != "-1":
            fields["numa_node"] = to_int(TOOL, line, m.group(1), "NUMA node")
    return PciDevice(function, **fields) if function is not None else None


def _link(text: str) -> PciLink:
    speed = _SPEED.search(text)
    width = _WIDTH.search(text)
    return PciLink(
        speed_gts=float(speed.group(1)) if speed and speed.group(1) else None,
        width=int(width.group(1)) if width else None,
        speed_note=speed.group(3) if speed else None,
        width_note=width.group(2) if width else None,
    )


def _same_bdf(a: str, b: str) -> bool:
    def norm(x: str) -> str:
        return (x if x.count(":") == 2 else "0000:" + x).lower()
    return norm(a) == norm(b)

