"""Parse ``rdma link`` text and ``rdma -j link show`` JSON.

Text forms handled: current iproute2 (``link mlx5_0/1 state ACTIVE ...``), the
pre-2019 form (``0/1: mlx5_0/1: state ACTIVE ...``), ``-d`` details
(``netdev_index N`` and a following ``caps: <...>`` line) and IB ports that also
print ``subnet_prefix``/``lid``/``sm_lid``/``lmc``. JSON from both eras: new
``"ifname": "mlx5_0", "port": 1`` and old ``"ifname": "mlx5_0/1"``.
No output at all is valid: a host without RDMA devices prints nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import Line, Lines, json_int, json_objects, json_str, looks_like_json, read_lines, to_int
from .base import ParseError

TOOL = "rdma_link"
_HEAD = re.compile(r"(?:[0-9]+/[0-9]+:\s+)?(?:link\s+)?(?P<dev>[^\s/:]+)/(?P<port>[0-9]+):?(?:\s+(?P<rest>.*))?")
_CAPS = re.compile(r"caps:\s*<(?P<caps>[^>]*)>")
_WORD = re.compile(r"[A-Z][A-Z0-9_]*")
_INT_KEYS = ("lid", "sm_lid", "lmc", "netdev_index")


@dataclass(frozen=True)
class RdmaLink:
    """One RDMA port as ``rdma link`` reports it."""

    device: str
    port: int
    state: str | None = None
    physical_state: str | None = None
    netdev: str | None = None
    netdev_index: int | None = None
    subnet_prefix: str | None = None
    lid: int | None = None
    sm_lid: int | None = None
    lmc: int | None = None
    caps: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.device}/{self.port}"

    @property
    def active(self) -> bool:
        """The rdma-tools test: ``state ACTIVE physical_state LINK_UP``."""
        return self.state == "ACTIVE" and self.physical_state == "LINK_UP"


@dataclass(frozen=True)
class RdmaLinkResult:
    links: tuple[RdmaLink, ...]
    elided: bool = False

    def get(self, device: str, port: int = 1) -> RdmaLink | None:
        return next((link for link in self.links if link.device == device and link.port == port), None)


def parse(text: str | bytes) -> RdmaLinkResult:
    """All links, in output order."""
    lines = read_lines(TOOL, text)
    if looks_like_json(lines):
        return RdmaLinkResult(tuple(_from_json(lines)), lines.elided)
    links: list[RdmaLink] = []
    for line in lines.content:
        caps = _CAPS.fullmatch(line.stripped)
        if caps:
            if not links:
                raise ParseError(TOOL, line.number, "caps line before any link", line.text)
            links[-1] = _with_caps(links[-1], caps.group("caps"))
            continue
        links.append(_parse_line(line))
    return RdmaLinkResult(tuple(links), lines.elided)


def _parse_line(line: Line) -> RdmaLink:
    head = _HEAD.fullmatch(line.stripped)
    if not head:
        raise ParseError(TOOL, line.number, "not an 'rdma link' line", line.text)
    fields: dict[str, object] = {"device": head.group("dev"),
                                 "port": to_int(TOOL, line, head.group("port"), "port")}
    tokens = (head.group("rest") or "").split()
    if len(tokens) % 2:
        raise ParseError(TOOL, line.number, f"key {tokens[-1]!r} has no value", line.text)
    for key, value in zip(tokens[0::2], tokens[1::2]):
        if key in _INT_KEYS:
            fields[key] = to_int(TOOL, line, value, key, high=0xFFFF if key != "netdev_index" else None)
        elif key in ("state", "physical_state"):
            if not _WORD.fullmatch(value):
                raise ParseError(TOOL, line.number, f"{key} {value!r} is not a state name", line.text)
            fields[key] = value
        elif key in ("netdev", "subnet_prefix"):
            fields[key] = value
        # other keys are future additions: ignored on purpose
    return RdmaLink(**fields)  # type: ignore[arg-type]


def _with_caps(link: RdmaLink, caps: str) -> RdmaLink:
    names = tuple(part.strip() for part in caps.split(",") if part.strip())
    return RdmaLink(**{**link.__dict__, "caps": names})


def _from_json(lines: Lines) -> list[RdmaLink]:
    links = []
    for obj in json_objects(TOOL, lines):
        ifname = json_str(TOOL, obj, "ifname")
        if not ifname:
            raise ParseError(TOOL, 0, "JSON link without ifname")
        device, _, port_text = ifname.partition("/")
        if not device:
            raise ParseError(TOOL, 0, f"JSON link {ifname!r} has no device name")
        port = json_int(TOOL, obj, "port")
        if port is None:
            if not re.fullmatch(r"[0-9]{1,5}", port_text):
                raise ParseError(TOOL, 0, f"JSON link {ifname!r} has no port")
            port = int(port_text)
        caps = obj.get("caps", [])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise ParseError(TOOL, 0, "JSON caps should be a list of strings")
        links.append(RdmaLink(
            device=device, port=port,
            state=json_str(TOOL, obj, "state"), physical_state=json_str(TOOL, obj, "physical_state"),
            netdev=json_str(TOOL, obj, "netdev"), netdev_index=json_int(TOOL, obj, "netdev_index"),
            subnet_prefix=json_str(TOOL, obj, "subnet_prefix"), lid=json_int(TOOL, obj, "lid"),
            sm_lid=json_int(TOOL, obj, "sm_lid"), lmc=json_int(TOOL, obj, "lmc"), caps=tuple(caps)))
    return links
