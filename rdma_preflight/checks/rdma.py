"""RDMA device and driver checks (area ``rdma``): modules, stack version, rail <-> device map,
port state, rate, link layer (run time and firmware), netns mode (live and persisted), RoCE v2
GIDs, active MTU and SR-IOV VFs. Pure over facts; sysfs first, tool outputs as evidence."""

from __future__ import annotations

import ipaddress

from ..facts.rdma import ROCE_HEADER_BYTES, RdmaPort, netns_mode_settings, roce_active_mtu, roce_v2_gid_index
from ..parsers.ofed_info import version_tuple
from .context import NodeContext, Rail
from .registry import check, roce_only, sriov_only
from .result import Result, failed, passed, skipped, warned, worst

__all__ = ["roce_v2_gid_index", "loaded_modules", "missing_modules", "rail_ports"]

# Modules a more specific check owns, so one missing module fails one check.
OWNED_ELSEWHERE = {"ib_ipoib": "ib.ipoib"}
NETNS_VALUE = {"shared": "1", "exclusive": "0"}
IB_CORE_CONF = "/etc/modprobe.d/ib_core.conf"
SRIOV_OPERATOR_CONF = "/etc/modprobe.d/sriov_network_operator_modules_config.conf"
RESTART_NOTE = ("`rdma system set netns` returns EBUSY while any network namespace other than the "
                "host's exists (running pods): then persist the mode and reboot")


def loaded_modules(ctx: NodeContext) -> tuple[set[str] | None, str]:
    """Loaded module names and where they were read (/proc/modules, else an lsmod record),
    with their users and the names under /sys/module (built in, or loaded)."""
    sysmods = set(ctx.facts.rdma.sys_modules)
    mods = ctx.facts.system.modules
    if mods is not None:     # a module named as another's user is loaded too
        return set(mods) | {u for m in mods.values() for u in m.used_by} | sysmods, "/proc/modules"
    if ctx.facts.rdma.lsmod_loaded is not None:
        return set(ctx.facts.rdma.lsmod_loaded) | sysmods, "lsmod"
    return None, "neither /proc/modules nor lsmod output was collected"


def missing_modules(ctx: NodeContext) -> tuple[list[str] | None, str]:
    """Required modules (minus those another check owns) that are not loaded; None when the
    loaded set is unknown. The second value says where the loaded set was read."""
    loaded, source = loaded_modules(ctx)
    if loaded is None:
        return None, source
    want = [m for m in ctx.profile.rdma.required_modules if m not in OWNED_ELSEWHERE]
    return [m for m in want if m not in loaded and m.replace("-", "_") not in loaded], source


def rail_ports(ctx: NodeContext, rail: Rail) -> tuple[list[RdmaPort], Result | None]:
    """The RDMA ports bound to the rail netdev; a skip when there are none (rdma.rail_device
    reports that), so one missing device does not fail every RDMA check."""
    ports = ctx.facts.rdma.ports_of_netdev(rail.netdev) if rail.netdev else []
    if not ports:
        return [], skipped(f"no RDMA device on {rail.netdev}: see rdma.rail_device")
    return ports, None


def _per_port(ctx: NodeContext, rail: Rail, fn) -> Result:
    ports, problem = rail_ports(ctx, rail)
    return problem or worst([fn(p) for p in ports])


def _pf_devices(ctx: NodeContext) -> list[str]:
    vf_pcis = {nd.pci for nd in ctx.facts.netdevs.values() if nd.is_vf and nd.pci}
    return sorted(n for n, d in ctx.facts.rdma.devices.items() if not (d.pci and d.pci in vf_pcis))


def _bdf(ctx: NodeContext, device: str) -> str:
    d = ctx.facts.rdma.devices.get(device)
    return d.pci if d and d.pci else f"<PCI address of {device}>"


# ---- driver and stack -------------------------------------------------------------------------

@check("rdma.driver", "RDMA kernel modules loaded and RDMA devices present", scope="node",
       remediation="apply")
def driver(ctx: NodeContext) -> Result:
    """The profile's ``rdma.required_modules`` (mlx5_core, mlx5_ib, ib_core, ib_uverbs,
    rdma_ucm by default) are loaded (/proc/modules, or built in under /sys/module), at least one
    RDMA device exists, and the number of RDMA devices on physical functions equals
    ``rdma.expected_devices`` when set (VFs are not counted: pods take them). ``ib_ipoib`` is
    left to ``ib.ipoib``."""
    want = [m for m in ctx.profile.rdma.required_modules if m not in OWNED_ELSEWHERE]
    missing, source = missing_modules(ctx)
    if missing is None:
        return failed("cannot tell which kernel modules are loaded", f"loaded: {', '.join(want)}", source,
                      fix="/proc/modules was not collected (unreadable here, or a kernel without loadable "
                          "modules): check `lsmod` on the node")
    pfs = _pf_devices(ctx)
    expected_n = ctx.profile.rdma.expected_devices
    problems = []
    if missing:
        problems.append(failed(
            f"kernel module(s) not loaded: {', '.join(missing)}", f"loaded: {', '.join(want)}",
            f"missing from {source}: {', '.join(missing)}",
            fix=" && ".join(f"modprobe {m}" for m in missing)
            + " (persist: list them in /etc/modules-load.d/rdma.conf; if modprobe fails, install "
              "DOCA-OFED / MLNX_OFED and reboot)", missing=missing))
    if not ctx.facts.rdma.devices:
        problems.append(failed(
            "no RDMA devices on the node", "RDMA devices under /sys/class/infiniband",
            "none" + (f" ({ctx.facts.rdma.tool_problem('rdma_link', 'ibv_devinfo')})"
                      if ctx.facts.rdma.tool_problem('rdma_link', 'ibv_devinfo') else ""),
            fix="modprobe mlx5_ib; check the NICs are seen (`lspci -nn | grep -i mellanox`) and the "
                "driver is installed (DOCA-OFED), then `rdma link`"))
    elif expected_n is not None and len(pfs) != expected_n:
        problems.append(failed(
            f"{len(pfs)} RDMA device(s) on physical functions, the profile expects {expected_n}",
            f"{expected_n} RDMA devices", f"{len(pfs)}: {', '.join(pfs)}",
            fix="check for missing/extra NICs (`rdma link`, `lspci -nn | grep -i mellanox`) and firmware; "
                "or correct rdma.expected_devices", devices=pfs))
    if problems:
        return worst(problems)
    return passed(f"{len(want)} module(s) loaded, {len(ctx.facts.rdma.devices)} RDMA device(s)",
                  expected=", ".join(want), found=f"all loaded ({source}); devices: {', '.join(sorted(ctx.facts.rdma.devices))}",
                  devices=sorted(ctx.facts.rdma.devices))


def _stack_applies(profile) -> str | None:
    return None if profile.rdma.min_stack_version else "the profile sets no rdma.min_stack_version"


@check("rdma.stack_version", "MLNX_OFED / DOCA-OFED at least the profile's version", scope="node",
       applies=_stack_applies)
def stack_version(ctx: NodeContext) -> Result:
    """``ofed_info -s`` (or the OFED module version under /sys/module) is at least
    ``rdma.min_stack_version``. Exclusive netns mode needs MLNX_OFED 4.7+ or kernel 5.3+."""
    minimum = ctx.profile.rdma.min_stack_version or ""
    want = version_tuple(minimum)
    expected = f"MLNX_OFED / DOCA-OFED >= {minimum}"
    fix = ("install DOCA-OFED (`apt-get install doca-ofed` after the doca-host package) or the "
           "spiderchart/ofed-driver chart, then reboot")
    if not want:
        return failed(f"rdma.min_stack_version {minimum!r} is not a version", "a version like 23.07", minimum,
                      fix="correct rdma.min_stack_version in the profile")
    stack = ctx.facts.rdma.stack
    if stack is None:
        why = ctx.facts.rdma.tool_problem("ofed_info") or (
            "ofed_info is not installed" if "ofed_info" in ctx.facts.tools_missing else "ofed_info gave nothing")
        return failed("no MLNX_OFED / DOCA-OFED found (inbox driver?)", expected,
                      f"none: {why}; no OFED version under /sys/module/mlx5_core", fix=fix)
    have = stack.version_tuple
    width = max(len(have), len(want))
    found = f"{stack.flavour} {stack.version} (from {stack.source})"
    if have + (0,) * (width - len(have)) < want + (0,) * (width - len(want)):
        return failed(f"driver stack {stack.version} is older than {minimum}", expected, found, fix=fix)
    return passed(f"{stack.flavour} {stack.version}", expected=expected, found=found)


# ---- rail <-> device ---------------------------------------------------------------------------

@check("rdma.rail_device", "Each rail netdev has exactly one RDMA port, and back")
def rail_device(ctx: NodeContext, rail: Rail) -> Result:
    """The rail netdev maps to one RDMA device port (sysfs GID ndevs or PCI address, else
    ``rdma link`` / ``ibdev2netdev``) and that port maps back to this netdev only: no second
    device or port claims the netdev, and no tool names another netdev for the port."""
    rdma = ctx.facts.rdma
    nd = rail.netdev
    ports = rdma.ports_of_netdev(nd or "")
    if not ports:
        why = rdma.tool_problem("rdma_link", "rdma_link_json", "ibdev2netdev")
        return failed(f"{nd} has no RDMA device", f"one RDMA device bound to {nd}",
                      f"none among {', '.join(sorted(rdma.devices)) or 'no RDMA devices'}" + (f" ({why})" if why else ""),
                      fix="load mlx5_ib (`modprobe mlx5_ib`) and check `rdma link` / `ibdev2netdev`; if the netdev "
                          "is a bond or VLAN, point the rail at the RDMA-capable PF")
    names = [p.name for p in ports]
    if len(ports) > 1:
        return failed(f"{nd} maps to several RDMA ports", f"one RDMA port bound to {nd}", ", ".join(names),
                      fix="remove the ambiguity (bonded or duplicate devices), or select the rail by rdma_device",
                      ports=names)
    port = ports[0]
    clash = [d for d in port.disagreements if d.startswith("netdev")]
    if clash:
        return failed(f"the tools disagree on {port.name}'s netdev", f"{port.name} -> {nd} everywhere",
                      "; ".join(clash), fix="re-run (a rename during collection?); compare `rdma link` and "
                                            "`ibdev2netdev`", ports=names)
    return passed(f"{nd} <-> {port.name}", expected=f"one RDMA port for {nd}",
                  found=f"{port.name} (from {port.sources.get('netdev', '?')})", device=port.device)


# ---- port state, rate, link layer -------------------------------------------------------------

def _state_fix(ctx: NodeContext, rail: Rail, port: RdmaPort) -> str:
    if ctx.profile.is_ib and port.phys_state == "LinkUp" and port.state in ("INIT", "ARMED"):
        return ("the link is up but no subnet manager has activated the port: start OpenSM/UFM on the "
                "fabric (see ib.sm); `sminfo` shows the master SM")
    link = ctx.facts.net.links.get(rail.netdev or "")
    if port.phys_state == "Disabled" and link is not None and link.admin_up:
        # RoCE reports Disabled both for an admin-down netdev and for no carrier: this one is up
        return (f"{rail.netdev} is administratively up but has no carrier: check the cable/transceiver "
                f"(`mlxlink -d {_bdf(ctx, port.device)}`) and that the switch port is enabled")
    if port.phys_state == "Disabled":
        return (f"the port is disabled: `ip link set dev {rail.netdev} up`; then check the cable/transceiver "
                f"(`mlxlink -d {_bdf(ctx, port.device)}`) and that the switch port is enabled")
    if port.phys_state == "Polling":
        return ("no link partner: check the cable/transceiver and the switch port "
                f"(`mlxlink -d {_bdf(ctx, port.device)}`)")
    return (f"`ip link set dev {rail.netdev} up`; check the cable and switch port "
            f"(`mlxlink -d {_bdf(ctx, port.device)}`), then `rdma link`")


@check("rdma.port_state", "RDMA port ACTIVE with physical state LinkUp")
def port_state(ctx: NodeContext, rail: Rail) -> Result:
    """Every RDMA port of the rail reads ``state ACTIVE`` and ``physical_state LinkUp``
    (sysfs ``4: ACTIVE`` / ``5: LinkUp``; ``rdma link``, ``ibstat`` and ``ibv_devinfo`` when sysfs
    is not readable). rdma-tools treats any other line as inactive."""
    def one(p: RdmaPort) -> Result:
        if p.active:
            return passed(f"{p.name} ACTIVE/LinkUp", expected="ACTIVE, LinkUp", found=p.describe_state())
        found = p.describe_state()
        if p.state is None:
            why = ctx.facts.rdma.tool_problem("rdma_link", "rdma_link_json", "ibstat", "ibv_devinfo")
            found += f"; {why}" if why else ""
        return failed(f"{p.name} is not active", "state ACTIVE, physical state LinkUp", found,
                      fix=_state_fix(ctx, rail, p), port=p.name, state=p.state, phys_state=p.phys_state)
    return _per_port(ctx, rail, one)


def _rate_applies(profile) -> str | None:
    return None if profile.rdma.rate_gbps else "the profile sets no rdma.rate_gbps"


@check("rdma.rate", "Port rate at least the profile's nominal rate", applies=_rate_applies)
def rate(ctx: NodeContext, rail: Rail) -> Result:
    """The port's rate (sysfs ``rate``, else ``ibstat``) is at least ``rdma.rate_gbps``. A port
    that trained down (a bad cable or transceiver) is a failure, never a lower bar. Skipped
    while the port is not ACTIVE (rdma.port_state reports that)."""
    want = ctx.profile.rdma.rate_gbps or 0

    def one(p: RdmaPort) -> Result:
        if not p.active:
            return skipped(f"{p.name} is not active: rate not meaningful (see rdma.port_state)")
        shown = p.rate_text or (f"{p.rate_gbps:g} Gb/sec" if p.rate_gbps is not None else "unknown")
        found = f"{p.name}: {shown} (from {p.sources.get('rate_gbps', 'nowhere')})"
        if p.rate_gbps is None:
            return failed(f"{p.name} rate unknown", f">= {want:g} Gb/sec", found + "; "
                          + (ctx.facts.rdma.tool_problem("ibstat") or "no sysfs rate, no ibstat"),
                          fix="re-run with sysfs readable or infiniband-diags (ibstat) installed")
        if p.rate_gbps < want:
            return failed(f"{p.name} trained down to {p.rate_gbps:g} Gb/sec (nominal {want:g})",
                          f">= {want:g} Gb/sec", found,
                          fix=(f"a port below its nominal rate is a link fault: check/reseat/replace the cable "
                               f"or transceiver and the switch port (`mlxlink -d {_bdf(ctx, p.device)} -m`, "
                               f"`ethtool {rail.netdev}`), then re-check"),
                          rate_gbps=p.rate_gbps)
        return passed(f"{p.name} {p.rate_gbps:g} Gb/sec", expected=f">= {want:g} Gb/sec", found=found,
                      rate_gbps=p.rate_gbps)
    return _per_port(ctx, rail, one)


@check("rdma.link_layer", "Link layer Ethernet (RoCE) or InfiniBand (IB), now and at next boot",
       remediation="plan-only")
def link_layer(ctx: NodeContext, rail: Rail) -> Result:
    """The running link layer (sysfs ``link_layer``, else ``ibstat``/``ibv_devinfo``) matches the
    fabric. ``mlxconfig q`` shows the *next boot* firmware value, not the running one: a
    ``LINK_TYPE_P<n>`` next-boot value that differs is a warning (it takes effect at the next
    power cycle; sriov-network-operator's ``linkType`` can rewrite it)."""
    want = "Ethernet" if ctx.profile.is_roce else "InfiniBand"
    want_fw = "ETH" if ctx.profile.is_roce else "IB"

    def one(p: RdmaPort) -> Result:
        fw = ctx.facts.rdma.firmware_link_type(p.device)
        bdf = _bdf(ctx, p.device)
        param = f"LINK_TYPE_P{ctx.facts.rdma.firmware_port(p.device)}"
        set_cmd = f"mlxconfig -d {bdf} -y set {param}={want_fw}"
        fw_text = (f"; firmware {param}: next boot {fw.next_boot or '?'}"
                   + (f", current {fw.current}" if fw.current else "")) if fw else ""
        found = f"{p.name}: {p.link_layer or 'unknown'} (from {p.sources.get('link_layer', 'nowhere')}){fw_text}"
        ev = {"port": p.name, "link_layer": p.link_layer, "bdf": bdf, "param": param, "want_fw": want_fw}
        if p.link_layer != want:
            if fw and fw.next_boot == want_fw:
                fix = (f"the firmware is already {want_fw} for the next boot: power cycle the node (a cold "
                       "reboot; a warm reboot or mlxfwreset may not apply it)")
            else:
                fix = f"{set_cmd}, then power cycle the node (a normal reboot may not apply it)"
            return failed(f"{p.name} link layer is {p.link_layer or 'unknown'}", want, found, fix=fix, **ev)
        if fw and fw.next_boot and fw.next_boot != want_fw:
            return warned(f"{p.name} firmware will switch to {fw.next_boot} at the next power cycle",
                          f"{want} now and {param}={want_fw} at next boot", found,
                          fix=f"{set_cmd} (or fix the SriovNetworkNodePolicy linkType that set it)", **ev)
        note = "" if fw else (f"; mlxconfig shows no {param}" if bdf in ctx.facts.rdma.firmware else
                              "; firmware next-boot value not collected (collector option mlxconfig)")
        return passed(f"{p.name} {want}", expected=want, found=found + note)
    return _per_port(ctx, rail, one)


# ---- netns mode ---------------------------------------------------------------------------------

def _persist_cmd(mode: str) -> str:
    return f"echo 'options ib_core netns_mode={NETNS_VALUE[mode]}' > {IB_CORE_CONF}"


@check("rdma.netns_mode", "RDMA netns mode: shared (Macvlan) or exclusive (SR-IOV), live",
       scope="node", remediation="apply")
def netns_mode(ctx: NodeContext) -> Result:
    """The running RDMA subsystem netns mode is ``shared`` for Macvlan and ``exclusive`` for
    SR-IOV: the token after ``netns`` in ``rdma system`` (any iproute2 version), else
    /sys/module/ib_core/parameters/netns_mode (Y/N, which mirrors the running value)."""
    rdma = ctx.facts.rdma
    want = ctx.profile.rdma.netns_mode or "shared"
    live = rdma.netns_mode
    param = f"; ib_core parameter netns_mode={rdma.netns_mode_param}" if rdma.netns_mode_param else ""
    found = f"{live or 'unknown'} (from {rdma.netns_mode_source or 'nowhere'}){param}"
    if live is None:
        why = rdma.tool_problem("rdma_system", "rdma_system_json") or (
            "rdma (iproute2) not installed" if "rdma" in ctx.facts.tools_missing else "no `rdma system` output")
        return failed("RDMA netns mode unknown", want, f"{found}; {why}",
                      fix="install iproute2's `rdma` tool and load ib_core (`modprobe ib_core`), then re-run")
    if live == want:
        return passed(f"netns {live}", expected=want, found=found)
    persisted = [s for s in netns_mode_settings(ctx.facts.system.modprobe_files, ctx.facts.system.cmdline)
                 if s.effective]
    if persisted and all(s.mode == want for s in persisted):
        fix = (f"{want} is already persisted ({persisted[-1].describe()}): the node has not rebooted since, or "
               "ib_core is loaded from the initramfs with an older copy of modprobe.d: `update-initramfs -u` "
               f"(dracut -f on RHEL) and reboot; or now: `rdma system set netns {want}` ({RESTART_NOTE})")
    else:
        fix = f"rdma system set netns {want} ({RESTART_NOTE}); persist it: {_persist_cmd(want)}"
    return failed(f"RDMA netns mode is {live}, the {ctx.profile.design.scheme} design needs {want}", want, found,
                  fix=fix, live=live, want=want)


@check("rdma.netns_mode_persistent", "The netns mode survives a reboot (modprobe.d, cmdline)",
       scope="node", remediation="apply")
def netns_mode_persistent(ctx: NodeContext) -> Result:
    """The wanted mode is what ib_core will load with: ``options ib_core netns_mode=0|1`` in
    modprobe.d (incl. sriov-network-operator's sriov_network_operator_modules_config.conf) or
    ``ib_core.netns_mode=`` on the kernel cmdline. Conflicting values are a failure naming both
    places. The sysfs parameter mirrors the running value and proves nothing here. modprobe.d
    is read when ib_core loads: if the initramfs loads it early, its own copy applies."""
    want = ctx.profile.rdma.netns_mode or "shared"
    all_settings = netns_mode_settings(ctx.facts.system.modprobe_files, ctx.facts.system.cmdline)
    settings = [s for s in all_settings if s.effective]
    hidden = [s.describe() for s in all_settings if not s.effective]
    listing = "; ".join(s.describe() for s in settings) or "no ib_core netns_mode setting in modprobe.d or cmdline"
    if hidden:
        listing += "; ignored: " + "; ".join(hidden)
    mirror = ctx.facts.rdma.netns_mode_param
    found = listing + (f" (the sysfs parameter reads {mirror}: that is the running value, not a persisted one)"
                       if mirror else "")
    modes = {s.mode for s in settings}
    if len(modes) > 1:
        return failed("conflicting persisted netns_mode settings: the result depends on load order",
                      f"one value: netns_mode={NETNS_VALUE[want]} ({want})", found,
                      fix=f"keep one place and remove the others ({' vs '.join(s.source for s in settings)}); "
                          "if sriov-network-operator manages the node, set SriovNetworkPoolConfig "
                          "spec.rdmaMode instead of editing its file", sources=[s.source for s in settings])
    if not settings:
        if want == "shared":
            return passed("shared is the kernel default; nothing persisted", expected="shared after reboot",
                          found=found)
        return failed("exclusive mode is not persisted: ib_core loads shared after a reboot",
                      f"netns_mode=0 in modprobe.d or ib_core.netns_mode=0 on the cmdline", found,
                      fix=f"{_persist_cmd(want)} && update-initramfs -u (dracut -f on RHEL)")
    have = modes.pop()
    if have != want:
        where = settings[-1]
        return failed(f"persisted netns mode is {have or 'unreadable'}, the design needs {want}",
                      f"netns_mode={NETNS_VALUE[want]} ({want})", found,
                      fix=(f"edit {where.source} to netns_mode={NETNS_VALUE[want]}" if where.source != "/proc/cmdline"
                           else f"change the kernel argument to ib_core.netns_mode={NETNS_VALUE[want]}")
                          + " && update-initramfs -u (dracut -f on RHEL)")
    live = ctx.facts.rdma.netns_mode
    initramfs = ("" if all(s.source == "/proc/cmdline" for s in settings) else
                 "; modprobe.d applies when ib_core loads: if the initramfs loads it, regenerate it "
                 "(`update-initramfs -u`) after any change")
    if live and live != want:
        return passed(f"{want} persisted, but {live} is running: reboot pending, or the initramfs loads "
                      "ib_core early with an older copy", expected=f"{want} after reboot", found=found + initramfs)
    return passed(f"{want} persisted", expected=f"{want} after reboot", found=found + initramfs)


# ---- RoCE GID, active MTU ---------------------------------------------------------------------

def _rail_ipv4(ctx: NodeContext, rail: Rail) -> list[str]:
    spec = rail.spec
    addrs = [a.address for a in ctx.facts.net.ipv4(rail.netdev or "")]
    if spec.address is not None:
        return [str(spec.address.ip)] if str(spec.address.ip) in addrs else []
    net = spec.subnet or spec.pool
    inside = [a for a in addrs if net is None or ipaddress.ip_address(a) in net]
    return inside or addrs


def _gid_table(ports: list[RdmaPort]) -> str:
    rows = [f"{g.index} {g.gid} {g.type or '?'} {g.ndev or '-'}" for p in ports for g in p.gids]
    return "; ".join(rows[:8]) + (f"; ... ({len(rows)} GIDs)" if len(rows) > 8 else "") if rows else "empty GID table"


@check("rdma.roce_gid", "RoCE v2 GID for each rail IPv4 (and the workload's GID index / TC)",
       applies=roce_only, designs="RoCE")
def roce_gid(ctx: NodeContext, rail: Rail) -> Result:
    """The rail's RDMA port has a GID of type ``RoCE v2`` whose IPv4-mapped value is the rail
    IPv4 and whose ndev is the rail netdev (what rdma-tools' show_gids selects for perftest
    ``-x``). When the profile sets ``workload_gid_index`` (NCCL_IB_GID_INDEX) it must be that
    index on every rail, and ``workload_traffic_class`` (NCCL_IB_TC) must equal the device's
    rdma_cm default ToS / the lossless ToS: otherwise perftest passes while NCCL fails."""
    ports, problem = rail_ports(ctx, rail)
    if problem:
        return problem
    ips = _rail_ipv4(ctx, rail)
    if not ips:
        return skipped(f"{rail.netdev} has no IPv4 for this rail (see the net address checks)")
    results = []
    for ip in ips:
        idx = roce_v2_gid_index(ctx.facts, rail.netdev, ip)
        if idx is None and not any(p.active for p in ports):
            # a port that is down may show an empty GID table: the root cause is the port
            results.append(skipped(f"{rail.netdev}: no RoCE v2 GID while the port is not active; "
                                   "fix rdma.port_state first"))
            continue
        if idx is None:
            results.append(failed(
                f"no RoCE v2 GID for {ip} on {rail.netdev}", f"a 'RoCE v2' GID ::ffff:{ip} with ndev {rail.netdev}",
                f"{', '.join(p.name for p in ports)}: {_gid_table(ports)}",
                fix=(f"check `ip -4 addr show dev {rail.netdev}` holds {ip} and `rdma link` binds the device to "
                     f"{rail.netdev}; GIDs follow the addresses: re-add it (`ip addr del {ip}/N dev {rail.netdev}; "
                     f"ip addr add ...`) and list them with show_gids"), ip=ip))
            continue
        results.append(_workload_gid(ctx, rail, ip, idx, ports))
    return worst(results)


def _workload_gid(ctx: NodeContext, rail: Rail, ip: str, idx: int, ports: list[RdmaPort]) -> Result:
    r = ctx.profile.rdma
    found = f"RoCE v2 GID index {idx} for {ip} on {ports[0].name}"
    if r.workload_gid_index is not None and r.workload_gid_index != idx:
        other = next((g for p in ports for g in p.gids if g.index == r.workload_gid_index), None)
        what = f"{other.type or '?'} {other.gid}" if other else "no GID at all"
        return failed(f"workload GID index {r.workload_gid_index} is not the RoCE v2 IPv4 GID on {rail.netdev}",
                      f"NCCL_IB_GID_INDEX={idx} (RoCE v2, {ip})", f"{found}; index {r.workload_gid_index} is {what}",
                      fix=(f"set NCCL_IB_GID_INDEX={idx} (and rdma.workload_gid_index) — it must be the same on "
                           "every node and rail — or leave it unset so NCCL picks the RoCE v2 IPv4 GID itself"),
                      gid_index=idx, workload_gid_index=r.workload_gid_index)
    tc = r.workload_traffic_class
    if tc is not None:
        tos = {p.name: ctx.facts.rdma.devices[p.device].roce_tos.get(p.port) for p in ports}
        known = {k: v for k, v in tos.items() if v is not None}
        want = next(iter(known.values()), None) if known else (ctx.profile.lossless.roce_tos
                                                               if ctx.profile.lossless.enabled else None)
        src = (f"rdma_cm default_roce_tos on {next(iter(known))}" if known else "lossless.roce_tos")
        if want is not None and tc != want:
            return failed(f"workload traffic class {tc} differs from the RoCE ToS {want}",
                          f"NCCL_IB_TC={want} ({src}; ToS = DSCP x 4)", f"NCCL_IB_TC={tc}; {found}",
                          fix=f"set NCCL_IB_TC={want} (perftest -R uses the rdma_cm ToS, NCCL uses NCCL_IB_TC)",
                          gid_index=idx)
    return passed(f"GID index {idx} (RoCE v2, {ip})", expected=f"RoCE v2 GID for {ip}", found=found, gid_index=idx)


def _mtu_applies(profile) -> str | None:
    return None if profile.rdma.active_mtu else "the profile sets no rdma.active_mtu"


@check("rdma.active_mtu", "Active RDMA MTU is the profile's", applies=_mtu_applies)
def active_mtu(ctx: NodeContext, rail: Rail) -> Result:
    """``ibv_devinfo`` ``active_mtu`` equals ``rdma.active_mtu``. On RoCE it follows the netdev
    MTU minus 96 bytes of RoCE headers, rounded down to an IB MTU: 4096 needs a netdev MTU of
    at least 4192 (4200 gives 4096, 1500 gives 1024). Without ibv_devinfo, RoCE derives it
    from the netdev MTU; on InfiniBand it is negotiated with the switch and SM."""
    want = ctx.profile.rdma.active_mtu or 0
    link = ctx.facts.net.links.get(rail.netdev or "")
    nd_mtu = link.mtu if link else None

    def one(p: RdmaPort) -> Result:
        if not p.active:
            return skipped(f"{p.name} is not active: active MTU not meaningful (see rdma.port_state)")
        have, src = p.active_mtu, "ibv_devinfo"
        if have is None and ctx.profile.is_roce and nd_mtu:
            have, src = roce_active_mtu(nd_mtu), f"derived from netdev MTU {nd_mtu} (no ibv_devinfo)"
        found = f"{p.name}: active_mtu {have or 'unknown'} ({src})" + (f"; netdev {rail.netdev} MTU {nd_mtu}"
                                                                        if nd_mtu and ctx.profile.is_roce else "")
        if have is None:
            why = ctx.facts.rdma.tool_problem("ibv_devinfo") or "ibv_devinfo not collected"
            return failed(f"{p.name} active MTU unknown", str(want), f"{found}; {why}",
                          fix="install ibverbs-utils (ibv_devinfo) and re-run")
        if have == want:
            return passed(f"{p.name} active MTU {have}", expected=str(want), found=found, active_mtu=have)
        if ctx.profile.is_roce:
            suggest = 4200 if want == 4096 else want + ROCE_HEADER_BYTES
            fix = (f"RoCE active MTU = netdev MTU - {ROCE_HEADER_BYTES} rounded down to an IB MTU"
                   f"{f' ({nd_mtu} gives {roce_active_mtu(nd_mtu)})' if nd_mtu else ''}: "
                   f"`ip link set dev {rail.netdev} mtu {suggest}` and persist it "
                   "(setNicAddr.sh MTU=4200 / netplan); the switch ports must carry it too")
        else:
            fix = ("the IB MTU is set by the subnet manager's partition (OpenSM partitions.conf mtu=5 for 4096) "
                   "and the switch: check `ibv_devinfo` max_mtu and the SM configuration")
        return failed(f"{p.name} active MTU {have}, the profile wants {want}", str(want), found, fix=fix,
                      active_mtu=have)
    return _per_port(ctx, rail, one)


# ---- SR-IOV ---------------------------------------------------------------------------------------

def _sriov_applies(profile) -> str | None:
    reason = sriov_only(profile)
    if reason:
        return reason
    return None if profile.sriov.num_vfs is not None else "the profile sets no sriov.num_vfs"


@check("rdma.sriov_vfs", "SR-IOV VF count on the rail PF, VFs with RDMA devices",
       applies=_sriov_applies, designs="SR-IOV", remediation="apply")
def sriov_vfs(ctx: NodeContext, rail: Rail) -> Result:
    """``/sys/class/net/<pf>/device/sriov_numvfs`` equals ``sriov.num_vfs``, and every VF still
    in the host namespace has an RDMA device (VFs handed to pods move with their RDMA device
    in exclusive mode, so they are not counted missing)."""
    want = ctx.profile.sriov.num_vfs or 0
    nd = ctx.facts.netdevs.get(rail.netdev or "")
    if nd is None or nd.sriov_numvfs is None:
        return failed(f"{rail.netdev} exposes no sriov_numvfs", f"{want} VFs",
                      "no /sys/class/net/<pf>/device/sriov_numvfs (not a PF, or SR-IOV disabled in firmware)",
                      fix=f"enable SR-IOV in firmware: mlxconfig -d {nd.pci if nd and nd.pci else '<bdf>'} -y set "
                          f"SRIOV_EN=1 NUM_OF_VFS={want}, then power cycle")
    total = f" (sriov_totalvfs {nd.sriov_totalvfs})" if nd.sriov_totalvfs is not None else ""
    if nd.sriov_numvfs != want:
        if nd.sriov_totalvfs is not None and want > nd.sriov_totalvfs:
            fix = (f"firmware allows only {nd.sriov_totalvfs}: mlxconfig -d {nd.pci} -y set NUM_OF_VFS={want}, "
                   "power cycle, then set the count")
        else:
            fix = (f"echo 0 > /sys/class/net/{rail.netdev}/device/sriov_numvfs; echo {want} > "
                   f"/sys/class/net/{rail.netdev}/device/sriov_numvfs (if sriov-network-operator manages the node, "
                   "fix the SriovNetworkNodePolicy numVfs instead: it reverts manual writes)")
        return failed(f"{rail.netdev} has {nd.sriov_numvfs} VFs, the profile wants {want}", f"{want} VFs",
                      f"sriov_numvfs {nd.sriov_numvfs}{total}", fix=fix, numvfs=nd.sriov_numvfs)
    vfs = sorted(v.name for v in ctx.facts.netdevs.values() if v.physfn and v.physfn == nd.pci)
    rdma = ctx.facts.rdma
    by_pci = {d.pci for d in rdma.devices.values() if d.pci}
    bare = [v for v in vfs if not rdma.device_for_netdev(v) and ctx.facts.netdevs[v].pci not in by_pci]
    if bare:
        return failed(f"{len(bare)} VF(s) of {rail.netdev} have no RDMA device", "an RDMA device per VF",
                      f"VFs without one: {', '.join(bare)}",
                      fix="load mlx5_ib (`modprobe mlx5_ib`); with sriov-network-operator set isRdma: true in "
                          "the SriovNetworkNodePolicy", vfs=bare)
    away = want - len(vfs)
    here = (f"{len(vfs)} in the host namespace, all with RDMA devices" if vfs else
            "none in the host namespace, so their RDMA devices cannot be checked here")
    note = f"; {away} not in the host namespace (assigned to pods)" if away > 0 and vfs else ""
    return passed(f"{want} VFs", expected=f"{want} VFs with RDMA devices",
                  found=f"sriov_numvfs {nd.sriov_numvfs}{total}; {here}{note}", vfs=vfs)
