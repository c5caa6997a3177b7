"""Remediation for the lossless RoCE and GPUDirect checks (qos.*, gpu.peermem, pcie.acs).

Planners are pure: (ctx, rail, result) -> Plan of typed actions. The actions below add what
the shared set lacks: mlnx_qos with a captured prior, the configfs ToS (device directory made
and removed around the write, as cma_roce_tos does), verbs traffic_class, sysctl, modprobe and
the ACS control word. Every name that reaches an argv or a path is validated first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..checks.context import NodeContext, Rail
from ..checks.pcie import ACS_NOT_PERSISTENT, acs_findings, setpci_argv
from ..checks.qos import SERVICE_NOTE, pfc_vector, rail_rdma_devices
from ..checks.result import Result
from ..facts.netdev import BDF_RE, normalize_bdf
from ..facts.qos import DeviceTos, QosFacts
from ..parsers.base import ParseError
from ..profile.schema import IFNAME_RE, RDMA_DEV_RE
from .actions import Action, Plan, WriteFile, action_kind, refuse
from .executor import ExecError, Executor, command_text
from .registry import remedy

SYSCTL_RE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
MODULE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WORD_RE = re.compile(r"^[0-9a-fA-F]{1,4}$")


def _valid(value: str, pattern: re.Pattern, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value) or value in (".", ".."):
        raise ValueError(f"refusing {what} {value!r}: not a valid name")
    return value


def _echo(value: str, path: str) -> list[str]:
    return ["sh", "-c", f"echo {command_text([value])} > {command_text([path])}"]


# ---- actions -------------------------------------------------------------------------------

class ArgvAction(Action):
    """Apply runs ``commands()``; undo runs ``undo_commands(prior)``."""

    def apply(self, ex: Executor) -> None:
        for argv in self.commands():
            ex.run(argv)

    def undo(self, ex: Executor, prior: dict) -> None:
        for argv in self.undo_commands(prior):
            ex.run(argv)


@action_kind("qos.mlnx_qos")
@dataclass
class MlnxQosSet(ArgvAction):
    """``mlnx_qos -i IF --trust=T --pfc V``; the prior trust and PFC vector are read back
    with ``mlnx_qos -i IF`` so undo can restore them."""

    ifname: str
    trust: str
    pfc: str                         # "0,0,0,0,0,1,0,0"

    def __post_init__(self) -> None:
        _valid(self.ifname, IFNAME_RE, "interface")
        _valid(self.trust, re.compile(r"^(dscp|pcp)$"), "trust mode")
        _valid(self.pfc, re.compile(r"^[01](,[01]){7}$"), "PFC vector")

    def _argv(self, trust: str, pfc: str) -> list[str]:
        return ["mlnx_qos", "-i", self.ifname, f"--trust={trust}", "--pfc", pfc]

    def commands(self) -> list[list[str]]:
        return [self._argv(self.trust, self.pfc)]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [self._argv(prior["trust"], prior["pfc"])]

    def interfaces(self) -> set[str]:
        return {self.ifname}

    def capture(self, ex: Executor) -> dict:
        from ..parsers import mlnx_qos

        text = ex.run(["mlnx_qos", "-i", self.ifname]).stdout.decode(errors="replace")
        try:
            q = mlnx_qos.parse(text)
        except ParseError as exc:
            raise ExecError(f"cannot read the current QoS of {self.ifname}: {exc}") from None
        if q.trust is None or q.pfc_enabled is None:
            raise ExecError(f"mlnx_qos -i {self.ifname} shows no trust state or PFC table")
        return {"trust": q.trust, "pfc": ",".join("1" if q.pfc_enabled.get(p) else "0" for p in range(8))}

    def needed(self, prior: dict) -> bool:
        return (prior["trust"], prior["pfc"]) != (self.trust, self.pfc)


@action_kind("qos.traffic_class")
@dataclass
class SetTrafficClass(WriteFile):
    """``echo TOS > /sys/class/infiniband/<dev>/tc/<n>/traffic_class``; the file reads back as
    ``Global tclass=TOS``, so prior and target are compared as numbers."""

    def __post_init__(self) -> None:
        _valid(self.path, re.compile(r"^/sys/class/infiniband/[A-Za-z0-9_.-]{1,63}/tc/\d{1,2}/traffic_class$"),
               "traffic_class path")
        _valid(self.text, re.compile(r"^\d{1,3}$"), "ToS")

    def capture(self, ex: Executor) -> dict:
        from ..parsers import traffic_class

        raw = ex.read_file(self.path)
        try:
            tos = traffic_class.parse(raw).tos if raw else None
        except ParseError:
            tos = None
        return {"text": raw, "tos": tos}

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [] if prior["tos"] is None else [_echo(str(prior["tos"]), self.path)]

    def needed(self, prior: dict) -> bool:
        return prior["tos"] != int(self.text)

    def undo(self, ex: Executor, prior: dict) -> None:
        if prior["tos"] is not None:
            ex.write_file(self.path, str(prior["tos"]))


@action_kind("qos.configfs_tos")
@dataclass
class SetConfigfsTos(Action):
    """rdma_cm default ToS in configfs: ``mkdir`` the device directory if absent (the file
    only exists while it does), write ``ports/<p>/default_roce_tos``, and ``rmdir`` the
    directory again if it was made here (the value stays with the device, as with cma_roce_tos)."""

    device: str
    port: int
    tos: int

    def __post_init__(self) -> None:
        _valid(self.device, RDMA_DEV_RE, "RDMA device")
        if not (isinstance(self.port, int) and 1 <= self.port <= 255 and isinstance(self.tos, int)
                and 0 <= self.tos <= 255):
            raise ValueError(f"refusing port {self.port!r} / ToS {self.tos!r}")

    @property
    def directory(self) -> str:
        return f"/sys/kernel/config/rdma_cm/{self.device}"

    @property
    def path(self) -> str:
        return f"{self.directory}/ports/{self.port}/default_roce_tos"

    def _cmds(self, tos: int) -> list[list[str]]:
        return [["mkdir", "-p", "--", self.directory], _echo(str(tos), self.path), ["rmdir", "--", self.directory]]

    def commands(self) -> list[list[str]]:
        return self._cmds(self.tos)

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [] if prior["tos"] is None else self._cmds(prior["tos"])

    def _with_dir(self, ex: Executor, fn):
        made = ex.run(["test", "-d", self.directory], check=False).rc != 0
        if made:
            ex.run(["mkdir", "--", self.directory])
        try:
            return fn()
        finally:
            if made:
                ex.run(["rmdir", "--", self.directory], check=False)

    def capture(self, ex: Executor) -> dict:
        text = self._with_dir(ex, lambda: ex.read_file(self.path))
        v = (text or "").strip()
        return {"tos": int(v) if v.isdigit() else None}

    def needed(self, prior: dict) -> bool:
        return prior["tos"] != self.tos

    def apply(self, ex: Executor) -> None:
        self._with_dir(ex, lambda: ex.write_file(self.path, str(self.tos)))

    def undo(self, ex: Executor, prior: dict) -> None:
        if prior["tos"] is not None:
            self._with_dir(ex, lambda: ex.write_file(self.path, str(prior["tos"])))


@action_kind("sysctl.set")
@dataclass
class SetSysctl(ArgvAction):
    key: str
    value: str

    def __post_init__(self) -> None:
        _valid(self.key, SYSCTL_RE, "sysctl key")
        _valid(self.value, re.compile(r"^-?\d{1,10}$"), "sysctl value")

    def commands(self) -> list[list[str]]:
        return [["sysctl", "-w", f"{self.key}={self.value}"]]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [["sysctl", "-w", f"{self.key}={prior['value']}"]]

    def capture(self, ex: Executor) -> dict:
        return {"value": ex.run(["sysctl", "-n", self.key]).stdout.decode(errors="replace").strip()}

    def needed(self, prior: dict) -> bool:
        return prior["value"] != self.value


@action_kind("module.load")
@dataclass
class LoadModule(ArgvAction):
    """``modprobe NAME``; undo unloads it only if it was not loaded before."""

    name: str

    def __post_init__(self) -> None:
        _valid(self.name, MODULE_RE, "module")

    def commands(self) -> list[list[str]]:
        return [["modprobe", self.name]]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [] if prior["loaded"] else [["modprobe", "-r", self.name]]

    def capture(self, ex: Executor) -> dict:
        mods = ex.read_file("/proc/modules") or ""
        return {"loaded": self.name.replace("-", "_") in {ln.split(" ", 1)[0] for ln in mods.splitlines()}}

    def needed(self, prior: dict) -> bool:
        return not prior["loaded"]


@action_kind("pcie.acs_clear")
@dataclass
class ClearAcs(ArgvAction):
    """``setpci -s BDF ECAP_ACS+0x6.w=0000`` (the ACS Control word); the prior word is read
    with ``setpci -s BDF ECAP_ACS+0x6.w``. Not persistent: lost at reboot."""

    bdf: str

    def __post_init__(self) -> None:
        _valid(self.bdf, BDF_RE, "PCI address")

    def commands(self) -> list[list[str]]:
        return [setpci_argv(self.bdf)]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [["setpci", "-s", self.bdf, f"ECAP_ACS+0x6.w={prior['word']}"]]

    def capture(self, ex: Executor) -> dict:
        word = ex.run(["setpci", "-s", self.bdf, "ECAP_ACS+0x6.w"]).stdout.decode(errors="replace").strip()
        if not WORD_RE.match(word):
            raise ExecError(f"setpci -s {self.bdf} ECAP_ACS+0x6.w printed {word[:40]!r}, not a 16-bit word")
        return {"word": word.lower().zfill(4)}

    def needed(self, prior: dict) -> bool:
        return int(prior["word"], 16) != 0


# ---- planners (pure) -------------------------------------------------------------------------

def _with_service_note(ctx: NodeContext, plan: Plan) -> Plan:
    q = ctx.facts.qos
    if isinstance(q, QosFacts) and q.service_running:
        plan.note = (plan.note + "; " if plan.note else "") + SERVICE_NOTE
    return plan


def _rail_guard(ctx: NodeContext, rail: Rail | None) -> Plan | None:
    if rail is None or not rail.netdev:
        return refuse("the rail's NIC was not found")
    if not IFNAME_RE.match(rail.netdev):
        return refuse(f"interface name {rail.netdev!r} is not valid")
    if rail.netdev in ctx.management_interfaces():
        return refuse(f"{rail.netdev} is a management interface: not touched")
    return None


def plan_mlnx_qos(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    """qos.trust / qos.pfc: one ``mlnx_qos --trust --pfc`` as rdma-qos.sh runs it."""
    if (bad := _rail_guard(ctx, rail)) is not None:
        return bad
    q = ctx.facts.qos
    port = q.ports.get(rail.netdev) if isinstance(q, QosFacts) else None
    if port is None or port.source != "mlnx_qos":
        return refuse("mlnx_qos output is not available for this NIC (MLNX_OFED/DOCA needed); "
                      + (port.problem if port and port.problem else "fix by hand"))
    ll = ctx.profile.lossless
    plan = Plan([MlnxQosSet(rail.netdev, ll.trust, pfc_vector(ll.rdma_priority))])
    if ll.trust == "dscp" and port.dscp2prio and port.dscp2prio.get(ll.rdma_dscp) != ll.rdma_priority:
        plan.note = (f"DSCP {ll.rdma_dscp} does not map to priority {ll.rdma_priority}: also run "
                     f"`mlnx_qos -i {rail.netdev} --dscp2prio set,{ll.rdma_dscp},{ll.rdma_priority}` by hand")
    return _with_service_note(ctx, plan)


def _ecn_plan(ctx: NodeContext, rail: Rail, writes) -> Plan:
    """Writes into the rail PF's ECN sysfs tree: ``writes(netdev)`` gives (path, value) pairs."""
    if (bad := _rail_guard(ctx, rail)) is not None:
        return bad
    nd = ctx.facts.netdevs.get(rail.netdev)
    if nd is None or not nd.has_ecn_tree:
        return refuse(f"/sys/class/net/{rail.netdev}/ecn is absent (MLNX_OFED/DOCA needed)")
    return _with_service_note(ctx, Plan([WriteFile(path, value) for path, value in writes(nd)]))


def plan_ecn(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    prio = ctx.profile.lossless.rdma_priority
    return _ecn_plan(ctx, rail, lambda nd: [
        (f"/sys/class/net/{nd.name}/ecn/{kind}/enable/{prio}", "1")
        for kind, vals in (("roce_np", nd.ecn_np), ("roce_rp", nd.ecn_rp)) if vals.get(prio) != 1])


def plan_cnp_dscp(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    return _ecn_plan(ctx, rail, lambda nd: [
        (f"/sys/class/net/{nd.name}/ecn/roce_np/cnp_dscp", str(ctx.profile.lossless.cnp_dscp))])


def _tos_plan(ctx: NodeContext, rail: Rail, actions, note: str = "") -> Plan:
    """ToS writes for every RDMA device of the rail (and its VFs): ``actions(dev, DeviceTos, tos)``."""
    if (bad := _rail_guard(ctx, rail)) is not None:
        return bad
    devs = rail_rdma_devices(ctx, rail)
    odd = [d for d in devs if not RDMA_DEV_RE.match(d) or d in (".", "..")]
    if odd or not devs:
        return refuse(f"RDMA device name(s) not valid: {odd}" if odd else f"{rail.netdev} has no RDMA device")
    q = ctx.facts.qos if isinstance(ctx.facts.qos, QosFacts) else QosFacts()
    tos = ctx.profile.lossless.roce_tos
    acts: list[Action] = [a for dev in devs for a in actions(dev, q.devices.get(dev) or DeviceTos(dev), tos)]
    return _with_service_note(ctx, Plan(acts, note=note))


def plan_roce_tos(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    def actions(dev: str, d: DeviceTos, tos: int) -> list[Action]:
        ports = sorted(ctx.facts.rdma.devices[dev].ports) if dev in ctx.facts.rdma.devices else []
        return [SetConfigfsTos(dev, p, tos) for p in ports or [1] if d.roce_tos.get(p) != tos]
    return _tos_plan(ctx, rail, actions, note="needs configfs rdma_cm (modprobe rdma_cm)")


def plan_traffic_class(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    def actions(dev: str, d: DeviceTos, tos: int) -> list[Action]:
        tcs = sorted(set(d.traffic_class) | set(d.traffic_class_problem))
        return [SetTrafficClass(f"/sys/class/infiniband/{dev}/tc/{tc}/traffic_class", str(tos))
                for tc in tcs or [1] if d.traffic_class.get(tc) != tos]
    return _tos_plan(ctx, rail, actions)


def plan_tcp_ecn(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    want = ctx.profile.lossless.tcp_ecn
    if want is None:
        return refuse("lossless.tcp_ecn is not set")
    return _with_service_note(ctx, Plan([SetSysctl("net.ipv4.tcp_ecn", str(want))],
                                        note="not persistent: add net.ipv4.tcp_ecn to /etc/sysctl.d"))


def plan_peermem(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    return Plan([LoadModule("nvidia_peermem")],
                note="not persistent: load it at boot (gpu-operator driver.rdma.enabled=true, or /etc/modules-load.d)")


def plan_acs(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    """setpci for exactly the bridges on this rail's GPU paths that have ACS bits on."""
    from ..checks.gpu import pcie_facts

    p = pcie_facts(ctx)
    nd = ctx.facts.netdevs.get(rail.netdev) if rail and rail.netdev else None
    if nd is None or nd.pci is None:
        return refuse("the rail NIC's PCI address is unknown")
    bridges = sorted(normalize_bdf(b) for b in acs_findings(p, nd.pci).bad if BDF_RE.match(b))
    if not bridges:
        return refuse("no bridge with ACS bits on was found on this rail's GPU paths")
    return Plan([ClearAcs(b) for b in bridges], note=ACS_NOT_PERSISTENT)


PLANNERS = {
    "qos.trust": plan_mlnx_qos, "qos.pfc": plan_mlnx_qos, "qos.ecn": plan_ecn, "qos.cnp_dscp": plan_cnp_dscp,
    "qos.roce_tos": plan_roce_tos, "qos.traffic_class": plan_traffic_class, "qos.tcp_ecn": plan_tcp_ecn,
    "gpu.peermem": plan_peermem, "pcie.acs": plan_acs,
}
for _check_id, _planner in PLANNERS.items():
    remedy(_check_id)(_planner)
