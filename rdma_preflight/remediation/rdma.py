"""Remediation for the RDMA device and driver checks (rdma.*, ib.ipoib).

Planners are pure: (ctx, rail, result) -> Plan of typed actions from the shared mechanism
(``WriteFile`` for modprobe.d, qos's ``LoadModule`` for modprobe, ``RunCommand``), plus what
it lacks: the live netns switch (``rdma system set netns``, whose EBUSY while other network
namespaces exist turns the plan into ``needs-reboot`` with the persisted part still written)
and ``sriov_numvfs`` (the kernel wants 0 before a new count, on apply and on undo). Firmware
link type is plan only: ``mlxconfig ... set LINK_TYPE_P<n>=`` needs a power cycle.
Every name that reaches an argv or a path is validated first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..checks.context import NodeContext, Rail
from ..checks.rdma import IB_CORE_CONF, NETNS_VALUE, SRIOV_OPERATOR_CONF, missing_modules
from ..checks.result import Result
from ..facts.netdev import BDF_RE, normalize_bdf
from ..facts.rdma import CMDLINE, netns_mode_settings
from ..parsers import ParseError
from ..parsers import rdma_system as p_rdma_system
from ..profile.schema import IFNAME_RE
from .actions import Action, Plan, RunCommand, WriteFile, action_kind, refuse
from .executor import ExecError, Executor, command_text
from .qos import MODULE_RE, LoadModule
from .registry import remedy

BUSY_RE = re.compile(r"busy|EBUSY", re.IGNORECASE)
MODES = ("shared", "exclusive")
NEEDS_POWER_CYCLE = "needs power cycle"
INITRAMFS_NOTE = ("if ib_core is loaded from the initramfs, its copy of modprobe.d applies: run "
                  "`update-initramfs -u` (dracut -f on RHEL) before the next reboot (not done here)")


def _check(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ValueError(f"refusing {what} {value!r}")


# ---- actions ---------------------------------------------------------------------------------

@action_kind("rdma.netns_mode")
@dataclass
class SetNetnsMode(Action):
    """``rdma system set netns MODE``. The kernel answers EBUSY while any network namespace
    other than the host's exists: apply then leaves the mode as it is and records why in
    ``deferred`` (the plan reports needs-reboot) instead of failing."""

    mode: str

    def __post_init__(self) -> None:
        _check(self.mode in MODES, "netns mode", self.mode)
        self.deferred = ""

    def commands(self) -> list[list[str]]:
        return [["rdma", "system", "set", "netns", self.mode]]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [["rdma", "system", "set", "netns", prior["mode"]]] if prior.get("mode") in MODES else []

    def capture(self, ex: Executor) -> dict:
        return {"mode": _live_mode(ex)}

    def needed(self, prior: dict) -> bool:
        return prior["mode"] != self.mode

    def apply(self, ex: Executor) -> None:
        if _live_mode(ex) == self.mode:
            return
        res = ex.run(self.commands()[0], check=False)
        if res.rc == 0:
            return
        err = (res.stderr + res.stdout).decode(errors="replace").strip()
        if BUSY_RE.search(err):
            self.deferred = (f"`{command_text(self.commands()[0])}` was refused with EBUSY ({err.splitlines()[-1]}): "
                             "other network namespaces (pods) exist; the persisted setting takes effect at "
                             "the next reboot")
            return
        raise ExecError(f"`{command_text(self.commands()[0])}` exited {res.rc}: {err[-200:]}")

    def undo(self, ex: Executor, prior: dict) -> None:
        if prior.get("mode") in MODES and _live_mode(ex) != prior["mode"]:
            ex.run(self.undo_commands(prior)[0])


def _live_mode(ex: Executor) -> str:
    text = ex.run(["rdma", "system", "show"]).stdout.decode(errors="replace")
    try:
        return p_rdma_system.parse(text).netns
    except ParseError as exc:
        raise ExecError(f"cannot read the netns mode: {exc}") from None


@action_kind("sriov.numvfs")
@dataclass
class SetNumVfs(Action):
    """``echo N > /sys/class/net/PF/device/sriov_numvfs``, through 0 when VFs exist (the kernel
    refuses to change a non-zero count directly); undo restores the prior count the same way."""

    ifname: str
    count: int

    def __post_init__(self) -> None:
        _check(bool(IFNAME_RE.match(self.ifname)) and self.ifname not in (".", ".."), "interface", self.ifname)
        _check(isinstance(self.count, int) and 0 <= self.count <= 1024, "VF count", self.count)

    @property
    def path(self) -> str:
        return f"/sys/class/net/{self.ifname}/device/sriov_numvfs"

    def _writes(self, count: int, current: int | None) -> list[str]:
        return (["0"] if current != 0 and count != 0 else []) + [str(count)]

    def _argv(self, value: str) -> list[str]:
        return ["sh", "-c", f"echo {value} > {command_text([self.path])}"]

    def commands(self) -> list[list[str]]:
        return [self._argv(v) for v in self._writes(self.count, None)]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [self._argv(v) for v in self._writes(prior["count"], None)]

    def interfaces(self) -> set[str]:
        return {self.ifname}

    def capture(self, ex: Executor) -> dict:
        return {"count": self._read(ex)}

    def needed(self, prior: dict) -> bool:
        return prior["count"] != self.count

    def _read(self, ex: Executor) -> int:
        text = (ex.read_file(self.path) or "").strip()
        if not text.isdigit():
            raise ExecError(f"{self.path} is not readable ({text[:40]!r}): not an SR-IOV PF")
        return int(text)

    def _set(self, ex: Executor, count: int) -> None:
        current = self._read(ex)
        if current == count:
            return
        for value in self._writes(count, current):
            ex.write_file(self.path, value)

    def apply(self, ex: Executor) -> None:
        self._set(ex, self.count)

    def undo(self, ex: Executor, prior: dict) -> None:
        self._set(ex, prior["count"])


# ---- plans -------------------------------------------------------------------------------------

class RebootIfBusy(Plan):
    """A Plan whose ``needs_reboot`` turns true (and whose note says why) when the live netns
    switch was refused with EBUSY; the runner reads both after applying."""

    @property
    def needs_reboot(self) -> bool:
        return any(getattr(a, "deferred", "") for a in self.actions)

    @needs_reboot.setter
    def needs_reboot(self, value: bool) -> None:
        pass    # decided by the live switch's answer

    @property
    def note(self) -> str:
        deferred = [a.deferred for a in self.actions if getattr(a, "deferred", "")]
        return " ".join([self._note, *deferred]).strip()

    @note.setter
    def note(self, value: str) -> None:
        self._note = value


@dataclass
class PlanOnly(Plan):
    """Commands shown, never applied (firmware): the runner reports ``status``
    (``needs power cycle``) with the reason, whatever --remediate says."""

    plan_only: bool = True
    status: str = NEEDS_POWER_CYCLE


def with_netns_option(text: str | None, value: str) -> str:
    """modprobe.d text with ``netns_mode=<value>`` on its ``options ib_core`` line(s): existing
    values replaced, or a new ``options ib_core netns_mode=<value>`` line appended."""
    lines = (text or "").splitlines()
    hit = False
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0] == "options" and tokens[1].replace("-", "_") == "ib_core":
            new = [f"netns_mode={value}" if t.partition("=")[0].replace("-", "_") == "netns_mode" else t for t in tokens]
            hit = hit or new != tokens
            lines[i] = " ".join(new)
    if not hit:
        lines.append(f"options ib_core netns_mode={value}")
    return "\n".join(lines) + "\n"


def _persist_action(ctx: NodeContext, mode: str) -> WriteFile:
    current = ctx.facts.system.modprobe_files.get(IB_CORE_CONF)
    return WriteFile(IB_CORE_CONF, with_netns_option(current, NETNS_VALUE[mode]))


def _settings(ctx: NodeContext):
    return [s for s in netns_mode_settings(ctx.facts.system.modprobe_files, ctx.facts.system.cmdline) if s.effective]


def _foreign_wrong(ctx: NodeContext, want: str) -> list:
    """Persisted settings with another mode that rdma-preflight must not rewrite."""
    return [s for s in _settings(ctx) if s.mode != want and s.source != IB_CORE_CONF]


def _foreign_refusal(bad: list, want: str) -> Plan:
    where = "; ".join(s.describe() for s in bad)
    hints = []
    if any(s.source == SRIOV_OPERATOR_CONF for s in bad):
        hints.append(f"sriov-network-operator owns {SRIOV_OPERATOR_CONF}: set SriovNetworkPoolConfig "
                     f"spec.rdmaMode: {want} (it rewrites the file)")
    if any(s.source == CMDLINE for s in bad):
        hints.append(f"change the kernel argument to ib_core.netns_mode={NETNS_VALUE[want]} (bootloader config)")
    if any(s.source not in (SRIOV_OPERATOR_CONF, CMDLINE) for s in bad):
        hints.append("edit or remove the other file(s) by hand")
    return refuse(f"the persisted setting {where} contradicts {want}; rdma-preflight does not rewrite it: "
                  + "; ".join(hints))


@remedy("rdma.netns_mode")
def plan_netns_mode(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    """Persist the mode in /etc/modprobe.d/ib_core.conf (unless already persisted), then switch
    it live; EBUSY makes the outcome needs-reboot."""
    want = ctx.profile.rdma.netns_mode or "shared"
    bad = _foreign_wrong(ctx, want)
    if bad:
        return _foreign_refusal(bad, want)
    persisted = [s for s in _settings(ctx) if s.mode == want]
    own_wrong = any(s.source == IB_CORE_CONF and s.mode != want for s in _settings(ctx))
    actions: list[Action] = []
    if own_wrong or (not persisted and want == "exclusive"):
        actions.append(_persist_action(ctx, want))
    actions.append(SetNetnsMode(want))
    return RebootIfBusy(actions, note=f"Persisted in {IB_CORE_CONF}; {INITRAMFS_NOTE}." if actions[:-1] else "")


@remedy("rdma.netns_mode_persistent")
def plan_netns_persistent(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    """Write (or correct) /etc/modprobe.d/ib_core.conf; settings elsewhere are not rewritten."""
    want = ctx.profile.rdma.netns_mode or "shared"
    bad = _foreign_wrong(ctx, want)
    if bad:
        return _foreign_refusal(bad, want)
    return Plan([_persist_action(ctx, want)], note=f"{INITRAMFS_NOTE}.")


def _load_modules(names: list[str], note: str) -> Plan:
    odd = [m for m in names if not MODULE_RE.match(m)]
    if odd:
        return refuse(f"module name(s) not valid: {', '.join(odd)}")
    return Plan([LoadModule(m) for m in names], note=note)


@remedy("rdma.driver")
def plan_modules(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    """``modprobe`` every required module that is not loaded."""
    missing, source = missing_modules(ctx)
    if missing is None:
        return refuse(f"cannot tell which modules are loaded ({source})")
    if not missing:
        return refuse("all required modules are loaded: the missing RDMA devices need the NICs, "
                      "firmware or a driver install (DOCA-OFED), not a modprobe")
    return _load_modules(missing, "Not persistent: list the modules in /etc/modules-load.d/rdma.conf.")


@remedy("ib.ipoib")
def plan_ipoib(ctx: NodeContext, rail: Rail | None, result: Result) -> Plan:
    return _load_modules(["ib_ipoib"], "Not persistent: add ib_ipoib to /etc/modules-load.d/.")


@remedy("rdma.sriov_vfs")
def plan_numvfs(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    """Set sriov_numvfs on the rail PF (through 0); firmware limits and missing RDMA devices
    are not something a sysfs write fixes."""
    want = ctx.profile.sriov.num_vfs or 0
    nd = ctx.facts.netdevs.get(rail.netdev or "") if rail else None
    if nd is None or nd.sriov_numvfs is None:
        return refuse("the rail NIC exposes no sriov_numvfs: enable SR-IOV in firmware (SRIOV_EN, NUM_OF_VFS) first")
    if nd.sriov_numvfs == want:
        return refuse("the VF count is right; VFs without RDMA devices need mlx5_ib / isRdma: true, not a sysfs write")
    if nd.sriov_totalvfs is not None and want > nd.sriov_totalvfs:
        return refuse(f"the firmware allows {nd.sriov_totalvfs} VFs: raise NUM_OF_VFS with mlxconfig and power cycle")
    return Plan([SetNumVfs(rail.netdev, want)],
                note="Removing VFs detaches them from running pods. Not persistent: if sriov-network-operator "
                     "manages the node, set numVfs in the SriovNetworkNodePolicy (it reverts manual writes).")


@remedy("rdma.link_layer")
def plan_link_type(ctx: NodeContext, rail: Rail, result: Result) -> Plan:
    """Plan only: ``mlxconfig -d BDF -y set LINK_TYPE_P<n>=ETH|IB`` per rail port, then a power cycle."""
    want = "ETH" if ctx.profile.is_roce else "IB"
    rdma = ctx.facts.rdma
    actions: list[Action] = []
    for port in rdma.ports_of_netdev(rail.netdev or "") if rail else []:
        dev = rdma.devices[port.device]
        if not dev.pci or not BDF_RE.match(dev.pci):
            return refuse(f"the PCI address of {port.device} is unknown")
        n = rdma.firmware_port(port.device)
        actions.append(RunCommand(["mlxconfig", "-d", normalize_bdf(dev.pci), "-y", "set", f"LINK_TYPE_P{n}={want}"]))
    if not actions:
        return refuse("the rail has no RDMA device")
    return PlanOnly(actions, refused=(f"{NEEDS_POWER_CYCLE}: firmware settings are never applied automatically; run "
                                      "the command(s), then power cycle the node (a warm reboot or mlxfwreset may "
                                      "not apply it); sriov-network-operator's linkType may set it back"))
